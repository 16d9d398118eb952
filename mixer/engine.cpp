#include "mixer/engine.hpp"

#include <sched.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <thread>

#include "mixer/prepared.hpp"

namespace chorus::mixer {

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
  }
  if (cpus.empty()) {
    for (unsigned cpu = 0; cpu < std::max(std::thread::hardware_concurrency(), 1u); ++cpu)
      cpus.push_back(static_cast<int>(cpu));
  }
  return cpus;
}

namespace {

constexpr size_t kNone = std::numeric_limits<size_t>::max();

size_t shard_total(size_t configured) {
  if (configured != 0) return configured;
  return std::max<size_t>(allowed_cpus().size(), 1);
}

}  // namespace

Engine::Engine(EngineConfig config) : config_(std::move(config)) {
  const size_t n = shard_total(config_.shards);
  const uint32_t first = config_.shard.port_first;
  const uint32_t last = config_.shard.port_last;
  const uint32_t span = (last - first + 1) / static_cast<uint32_t>(n);
  shards_.resize(n);
  if (config_.dtls_context != nullptr)
    dtls_worker_ =
        std::make_unique<webrtc::DtlsWorker>(*config_.dtls_context, n, config_.dtls_worker);
  const std::vector<int> cpus = allowed_cpus();
  for (size_t i = 0; i < n; ++i) {
    rtp::ShardConfig c = config_.shard;
    c.index = static_cast<uint32_t>(i);
    if (config_.pin_shards) c.cpu = cpus[i % cpus.size()];
    c.port_first = static_cast<uint16_t>(first + span * i);
    c.port_last = static_cast<uint16_t>(i + 1 == n ? last : first + span * (i + 1) - 1);
    c.dtls = dtls_worker_ ? &dtls_worker_->channel(i) : nullptr;
    ShardSlot& slot = shards_[i];
    slot.shard = std::make_unique<rtp::Shard>(c);
    slot.factory = std::make_unique<rtp::StreamFactory>(*slot.shard);
    slot.media = std::make_unique<MediaShard>(*slot.shard, config_.mixer);
    if (config_.command_ring_slots != 0)
      slot.media->set_command_ring_capacity(config_.command_ring_slots);
  }
  // The default music at every conference rate, now, on this thread: no
  // shard renders or decodes music on its tick, even for adds submitted
  // before start(). An unreadable file is a configuration error: it throws.
  default_music_ = music_for(config_.music_file, 0);
}

Engine::~Engine() {
  stop();
}

void Engine::start() {
  if (started_) return;
  started_ = true;
  if (dtls_worker_) dtls_worker_->start();
  for (auto& s : shards_) s.shard->start();
}

bool Engine::set_default_music(const std::string& file) {
  try {
    default_music_ = music_for(file, 0);
  } catch (const std::exception&) {
    return false;
  }
  config_.music_file = file;
  return true;
}

std::shared_ptr<const MusicClips> Engine::music_for(const std::string& file, int extra_rate) {
  // MohRegistry keeps each clip: only the first call per file and rate decodes.
  return MohRegistry::global().clips(file, extra_rate);
}

void Engine::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& s : shards_) s.shard->stop();
  if (dtls_worker_) dtls_worker_->stop();
  drain_after_stop();
}

void Engine::drain_after_stop() {
  // The shard threads are joined: this thread is now the only one touching
  // the rings. Completions already made are delivered as they are; what was
  // never applied fails as kShuttingDown, in per-shard order.
  for (size_t s = 0; s < shards_.size(); ++s) {
    ShardSlot& slot = shards_[s];
    Event e;
    std::vector<Event> made;
    while (slot.media->poll(e)) made.push_back(e);
    std::vector<Command> unapplied;
    slot.media->take_leftovers(made, unapplied);
    for (Command& c : slot.retry) unapplied.push_back(std::move(c));
    slot.retry.clear();
    for (Event& m : made) {
      if (m.kind != Event::Kind::kDone && m.kind != Event::Kind::kFailed) {
        local_.push_back(m);
      } else if (on_completion(s, m)) {
        local_.push_back(m);
      }
    }
    for (Command& c : unapplied) {
      // A part that never started recording: its lane is closed so the
      // writer does not wait for it.
      if (c.kind == Command::Kind::kStartRecording && c.recording &&
          c.recording_lane < c.recording->lanes()) {
        c.recording->lane(c.recording_lane).close();
      }
      Event f;
      f.kind = Event::Kind::kFailed;
      f.id = c.id;
      f.command = c.kind;
      f.failure = Failure::kShuttingDown;
      f.conference = c.conference;
      f.participant = c.participant;
      c = Command{};  // prepared objects (bound sockets) freed before the port goes back
      if (on_completion(s, f)) local_.push_back(f);
    }
  }
}

size_t Engine::least_loaded_shard(const Placement& placement) const {
  size_t best = kNone;
  for (size_t s = 0; s < shards_.size(); ++s) {
    const bool used = std::any_of(placement.parts.begin(), placement.parts.end(),
                                  [s](const Part& p) { return p.shard == s; });
    if (used) continue;
    if (best == kNone || shards_[s].load < shards_[best].load) best = s;
  }
  return best;
}

std::optional<size_t> Engine::choose_part(const Placement& placement) const {
  // The part with the fewest participants that still has room.
  size_t chosen = kNone;
  for (size_t p = 0; p < placement.parts.size(); ++p) {
    if (placement.parts[p].participants >= config_.max_per_part) continue;
    if (chosen == kNone || placement.parts[p].participants < placement.parts[chosen].participants) {
      chosen = p;
    }
  }
  if (chosen == kNone) return std::nullopt;
  return chosen;
}

void Engine::relink(ConferenceId id, Placement& placement) {
  // A full mesh of links between the parts; each part's ports are ordered by
  // peer. Re-sent whole whenever a part is added or the rate rises.
  const size_t n = placement.parts.size();
  std::vector<std::vector<SpanEndpoint::Port>> ports(n);
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = a + 1; b < n; ++b) {
      auto link = std::make_shared<SpanLink>();
      ports[a].push_back({link, true});
      ports[b].push_back({link, false});
    }
  }
  for (size_t p = 0; p < n; ++p) {
    Command c;
    c.kind = Command::Kind::kSetSpan;
    c.conference = id;
    c.top_k = placement.top_k;
    c.span_rate = placement.max_rate;
    c.span_ports = std::move(ports[p]);
    c.prepared = make_prepared();
    c.prepared->music = placement.music;
    // Engine-internal: always queued (it may pass the retry limit by the
    // few parts of one conference), its completion swallowed.
    c.id = accept(c.kind, 1, id, 0, true);
    enqueue(placement.parts[p].shard, std::move(c));
  }
}

bool Engine::can_take(size_t s) const {
  const ShardSlot& slot = shards_[s];
  return slot.retry.size() < config_.retry_queue_limit;
}

bool Engine::can_take_add(size_t s) {
  ShardSlot& slot = shards_[s];
  return slot.retry.empty() && !slot.media->ring_full();
}

void Engine::enqueue(size_t s, Command command) {
  ShardSlot& slot = shards_[s];
  if (slot.retry.empty() && slot.media->post(command)) return;
  // Behind whatever already waits: order per shard is kept.
  ++slot.deferred;
  slot.retry.push_back(std::move(command));
}

void Engine::flush_retry() {
  for (ShardSlot& slot : shards_) {
    while (!slot.retry.empty() && slot.media->post(slot.retry.front())) slot.retry.pop_front();
  }
}

CommandId Engine::accept(Command::Kind kind, size_t shards, ConferenceId conference,
                         ParticipantId participant, bool internal) {
  const CommandId id = next_id_++;
  Pending p;
  p.kind = kind;
  p.remaining = shards;
  p.internal = internal;
  p.conference = conference;
  p.participant = participant;
  pending_.emplace(id, p);
  return id;
}

void Engine::fail_now(const Command& command, Failure failure) {
  Event e;
  e.kind = Event::Kind::kFailed;
  e.id = command.id;
  e.command = command.kind;
  e.failure = failure;
  e.conference = command.conference;
  e.participant = command.participant;
  local_.push_back(e);
}

std::optional<CommandId> Engine::submit(Command command) {
  flush_retry();
  command.prepared.reset();  // only the engine prepares
  if (stopped_) {
    command.id = next_id_++;
    fail_now(command, Failure::kShuttingDown);
    return command.id;
  }
  using Kind = Command::Kind;
  if (command.kind == Kind::kAddParticipant) return submit_add(command);
  if (command.kind == Kind::kMoveParticipant) return submit_move(command);
  if (command.kind == Kind::kSetSpan) {
    command.id = next_id_++;
    fail_now(command, Failure::kInvalid);
    return command.id;
  }
  if (command.kind == Kind::kReportStats) {
    for (size_t s = 0; s < shards_.size(); ++s) {
      if (!can_take(s)) {
        ++shards_[s].refused;
        return std::nullopt;
      }
    }
    command.id = accept(command.kind, shards_.size(), 0, 0);
    for (size_t s = 0; s < shards_.size(); ++s) {
      Command copy;
      copy.kind = command.kind;
      copy.id = command.id;
      enqueue(s, std::move(copy));
    }
    return command.id;
  }
  const auto it = placements_.find(command.conference);
  if (it == placements_.end()) {
    command.id = next_id_++;
    fail_now(command, Failure::kUnknownConference);
    return command.id;
  }
  Placement& placement = it->second;
  if (command.kind == Kind::kSetMusic || command.kind == Kind::kRemoveConference ||
      command.kind == Kind::kPlayNotice) {
    for (const Part& part : placement.parts) {
      if (!can_take(part.shard)) {
        ++shards_[part.shard].refused;
        return std::nullopt;
      }
    }
    std::shared_ptr<const MusicClips> music;
    if (command.kind == Kind::kSetMusic) {
      try {
        music = music_for(command.music_file, placement.max_rate);
      } catch (const std::exception&) {
        command.id = next_id_++;
        fail_now(command, Failure::kNoMusic);  // the previous music stays
        return command.id;
      }
      placement.music = music;
    }
    command.id = accept(command.kind, placement.parts.size(), command.conference, 0);
    const std::vector<Part> parts = placement.parts;
    if (command.kind == Kind::kRemoveConference) {
      for (const Part& part : parts) shards_[part.shard].load -= part.participants;
      placements_.erase(it);
    }
    if (parts.empty()) {
      // Nothing on any shard yet.
      pending_.erase(command.id);
      Event done;
      done.kind = Event::Kind::kDone;
      done.id = command.id;
      done.command = command.kind;
      done.conference = command.conference;
      local_.push_back(done);
      return command.id;
    }
    for (const Part& part : parts) {
      Command c;
      c.kind = command.kind;
      c.id = command.id;
      c.conference = command.conference;
      c.music_file = command.music_file;
      c.notice = command.notice;
      if (music) {
        c.prepared = make_prepared();
        c.prepared->music = music;
      }
      enqueue(part.shard, std::move(c));
    }
    return command.id;
  }
  if (command.kind == Kind::kStartRecording || command.kind == Kind::kStopRecording) {
    return submit_recording(command, placement);
  }
  // One participant: kRemoveParticipant, kUpdateParticipant, kSetCodec,
  // kSetRemote, kSetSrtp.
  const auto w = placement.where.find(command.participant);
  if (w == placement.where.end()) {
    command.id = next_id_++;
    fail_now(command, Failure::kUnknownParticipant);
    return command.id;
  }
  const size_t part_index = w->second.part;
  const size_t s = placement.parts[part_index].shard;
  if (!can_take(s)) {
    ++shards_[s].refused;  // the retry queue is at its limit
    return std::nullopt;
  }
  if (command.kind == Kind::kPlayPrompt) {
    // Decoded and resampled here (once per file and rate: MohRegistry keeps
    // them), so the shard only swaps a pointer.
    try {
      command.prepared = make_prepared();
      command.prepared->music = music_for(command.music_file, placement.max_rate);
    } catch (const std::exception&) {
      command.id = next_id_++;
      fail_now(command, Failure::kNoMusic);
      return command.id;
    }
  }
  if (command.kind == Kind::kSetCodec) {
    // Built here: a codec that cannot be built fails now and the member
    // keeps the old one.
    PreparedPtr prepared = make_prepared();
    const bool spanning = placement.parts.size() > 1;
    const int rate =
        rate_after(placement, part_index, command.participant, &command.codec, spanning);
    std::vector<GroupKey> group_keys;
    try {
      prepared->decoder = make_decoder(command.codec);
      if (command.stream.telephone_event_pt == 0) {
        prepared->inband_dtmf = std::make_unique<DtmfDetector>(command.codec.sample_rate);
      }
      prepared->slot.emplace(Conference::prepare_member(command.participant, command.codec, rate));
      prepared->groups = prepare_groups(placement, part_index, command.participant, &command.codec,
                                        Conference::listening(command.settings), rate, group_keys);
      prepared->rates = prepare_rates(placement, part_index, command.participant, rate);
    } catch (const std::exception&) {
      command.id = next_id_++;
      fail_now(command, Failure::kCodec);
      return command.id;
    }
    prepared->music = placement.music;
    command.prepared = std::move(prepared);
    // The stream's jitter buffer is rebuilt with slots for the new codec.
    command.stream.max_payload = static_cast<uint16_t>(max_payload_bytes(command.codec));
    command.stream.frame_budget = static_cast<uint16_t>(jitter_frame_budget(command.codec));
    const rtp::StreamConfig& f = command.stream;
    command.prepared->jitter.emplace(f.jitter, f.clock_rate, f.samples_per_tick, f.max_payload,
                                     f.frame_budget);
    record_groups(placement.parts[part_index], rate, group_keys);
    w->second.codec = command.codec;
    w->second.listening = Conference::listening(command.settings);
    if (command.codec.sample_rate > placement.max_rate) {
      placement.max_rate = command.codec.sample_rate;
      if (placement.parts.size() > 1) relink(command.conference, placement);
    }
  }
  if (command.kind == Kind::kRemoveParticipant || command.kind == Kind::kUpdateParticipant) {
    // What the conference would otherwise build on its tick: once this
    // member has left, at a lower rate, the groups the others use; for a new
    // output gain, its bus group.
    const bool leaving = command.kind == Kind::kRemoveParticipant;
    const CodecParams codec = w->second.codec;
    const Listening listening = leaving ? Listening{} : Conference::listening(command.settings);
    const CodecParams* staying = leaving ? nullptr : &codec;
    const int rate = rate_after(placement, part_index, command.participant, staying,
                                placement.parts.size() > 1);
    std::vector<GroupKey> keys;
    PreparedGroups groups =
        prepare_groups(placement, part_index, command.participant, staying, listening, rate, keys);
    PreparedRates rates = prepare_rates(placement, part_index, command.participant, rate);
    if (!groups.empty() || !rates.empty()) {
      command.prepared = make_prepared();
      command.prepared->groups = std::move(groups);
      command.prepared->rates = std::move(rates);
    }
    record_groups(placement.parts[part_index], rate, keys);
    if (!leaving) w->second.listening = listening;
  }
  command.id = accept(command.kind, 1, command.conference, command.participant);
  if (command.kind == Kind::kRemoveParticipant) {
    pending_[command.id].add = w->second.add;
    Part& part = placement.parts[part_index];
    --part.participants;
    --shards_[s].load;
    placement.where.erase(w);
  }
  const CommandId id = command.id;
  enqueue(s, std::move(command));
  return id;
}

std::optional<CommandId> Engine::submit_recording(Command& command, Placement& placement) {
  // Every part records (ARCHITECTURE.md "Recording tap"): the first part the
  // mix and its members' tracks (lane 0), each other part its own members'
  // tracks in a lane of its own; every part plays the tone to its members.
  const bool start = command.kind == Command::Kind::kStartRecording;
  if (placement.parts.empty()) {
    command.id = next_id_++;
    fail_now(command, Failure::kUnknownConference);
    return command.id;
  }
  if (start && (!command.recording || placement.recording)) {
    command.id = next_id_++;
    fail_now(command, !command.recording ? Failure::kInvalid : Failure::kDuplicate);
    return command.id;
  }
  for (const Part& part : placement.parts) {
    if (!can_take(part.shard)) {
      ++shards_[part.shard].refused;
      return std::nullopt;
    }
  }
  command.id = accept(command.kind, placement.parts.size(), command.conference, 0);
  if (start) {
    placement.recording = command.recording;
    placement.recording_start = command.id;
  } else {
    placement.recording.reset();
    placement.recording_start = 0;
  }
  for (size_t p = 0; p < placement.parts.size(); ++p) {
    Command c;
    c.kind = command.kind;
    c.id = command.id;
    c.conference = command.conference;
    c.notice = command.notice;
    if (start) {
      c.recording = command.recording;
      c.recording_lane = p == 0 ? 0 : lane_for_part(*command.recording);
    }
    enqueue(placement.parts[p].shard, std::move(c));
  }
  return command.id;
}

size_t Engine::lane_for_part(RecordingBuffer& buffer) {
  // Without member tracks another part has nothing to record (the mix holds
  // its talkers through the span partials); it only plays the tone.
  if (!buffer.options().member_tracks) return RecordingBuffer::kNoLane;
  return buffer.add_lane();
}

void Engine::stop_recording_parts(ConferenceId id, CommandId start) {
  const auto pl = placements_.find(id);
  if (pl == placements_.end() || pl->second.recording_start != start) return;
  Placement& placement = pl->second;
  placement.recording.reset();
  placement.recording_start = 0;
  if (stopped_) return;  // the shards are joined: their rooms are gone
  for (const Part& part : placement.parts) {
    Command stop;
    stop.kind = Command::Kind::kStopRecording;
    stop.conference = id;
    stop.id = accept(stop.kind, 1, id, 0, true);
    enqueue(part.shard, std::move(stop));
  }
}

void Engine::record_new_part(ConferenceId id, Placement& placement, size_t part) {
  // A part created while the room records records too, from its first tick
  // (queued behind its kSetSpan, ahead of the command that fills it). No
  // tone: the room heard it at the start.
  if (!placement.recording || part == 0) return;
  Command c;
  c.kind = Command::Kind::kStartRecording;
  c.conference = id;
  c.recording = placement.recording;
  c.recording_lane = lane_for_part(*placement.recording);
  c.id = accept(c.kind, 1, id, 0, true);
  enqueue(placement.parts[part].shard, std::move(c));
}

std::optional<CommandId> Engine::submit_add(Command& command) {
  Placement& placement = placements_[command.conference];
  const bool fresh = placement.parts.empty() && placement.where.empty();
  if (fresh) {
    placement.top_k = config_.mixer.top_k;
    placement.music = default_music_;
  }
  auto forget_if_fresh = [&] {
    if (fresh) placements_.erase(command.conference);
  };
  if (placement.where.contains(command.participant)) {
    command.id = next_id_++;
    fail_now(command, Failure::kDuplicate);
    return command.id;
  }
  // A browser member needs the DTLS worker (the shard would refuse the
  // stream; say why here).
  if (command.stream.webrtc && !dtls_worker_) {
    forget_if_fresh();
    command.id = next_id_++;
    fail_now(command, Failure::kNoWebRtc);
    return command.id;
  }
  // Where it would go (nothing committed yet).
  std::optional<size_t> chosen = choose_part(placement);
  size_t new_shard = kNone;
  if (!chosen) {
    new_shard = least_loaded_shard(placement);
    if (new_shard == kNone) {
      // Every shard already holds a part: overfill the smallest part.
      size_t smallest = 0;
      for (size_t p = 1; p < placement.parts.size(); ++p) {
        if (placement.parts[p].participants < placement.parts[smallest].participants) smallest = p;
      }
      chosen = smallest;
    }
  }
  const size_t s = chosen ? placement.parts[*chosen].shard : new_shard;
  // Back-pressure: a new call is refused (503) rather than queued.
  if (!can_take_add(s)) {
    ++shards_[s].refused;
    forget_if_fresh();
    return std::nullopt;
  }
  // Built here, off the shard: decoder, in-band DTMF, the mix slot and its
  // shared encoders, music, and the stream with its sockets bound.
  const bool spanning = placement.parts.size() + (chosen ? 0 : 1) > 1;
  const int rate = rate_after(placement, chosen, command.participant, &command.codec, spanning);
  PreparedPtr prepared = make_prepared();
  std::vector<GroupKey> group_keys;
  try {
    prepared->decoder = make_decoder(command.codec);
    if (command.stream.telephone_event_pt == 0) {
      prepared->inband_dtmf = std::make_unique<DtmfDetector>(command.codec.sample_rate);
    }
    prepared->slot.emplace(Conference::prepare_member(command.participant, command.codec, rate));
    prepared->groups = prepare_groups(placement, chosen, command.participant, &command.codec,
                                      Conference::listening(command.settings), rate, group_keys);
    prepared->rates = prepare_rates(placement, chosen, command.participant, rate);
  } catch (const std::exception&) {
    forget_if_fresh();
    command.id = next_id_++;
    fail_now(command, Failure::kCodec);
    return command.id;
  }
  prepared->music = placement.music;
  rtp::StreamConfig stream_config = command.stream;
  stream_config.max_payload = static_cast<uint16_t>(max_payload_bytes(command.codec));
  stream_config.frame_budget = static_cast<uint16_t>(jitter_frame_budget(command.codec));
  stream_config.id = next_stream_id_++;
  if (next_stream_id_ == 0) next_stream_id_ = 1;
  command.stream.id = stream_config.id;
  prepared->stream = shards_[s].factory->open(stream_config);
  if (!prepared->stream) {
    forget_if_fresh();
    command.id = next_id_++;
    fail_now(command, Failure::kNoPort);
    return command.id;
  }
  const uint16_t port = prepared->stream->local_port();
  command.prepared = std::move(prepared);

  // Committed.
  bool relink_needed = false;
  const bool chosen_existed = chosen.has_value();
  if (!chosen) {
    placement.parts.push_back({s, 0, {}, 0});
    chosen = placement.parts.size() - 1;
    relink_needed = placement.parts.size() > 1;
  }
  if (command.codec.sample_rate > placement.max_rate) {
    placement.max_rate = command.codec.sample_rate;
    relink_needed = relink_needed || placement.parts.size() > 1;
  }
  if (relink_needed) relink(command.conference, placement);
  if (!chosen_existed) record_new_part(command.conference, placement, *chosen);
  command.id = accept(command.kind, 1, command.conference, command.participant);
  Part& part = placement.parts[*chosen];
  record_groups(part, rate, group_keys);
  ++part.participants;
  ++shards_[s].load;
  placement.where[command.participant] = {*chosen, command.id, command.codec,
                                          Conference::listening(command.settings)};
  streams_[command.id] = {s, port, command.conference, command.participant, false};
  const CommandId id = command.id;
  enqueue(s, std::move(command));
  return id;
}

std::optional<CommandId> Engine::submit_move(Command& command) {
  auto fail = [&](Failure failure) -> std::optional<CommandId> {
    command.id = next_id_++;
    fail_now(command, failure);
    return command.id;
  };
  const auto from_it = placements_.find(command.conference);
  if (from_it == placements_.end()) return fail(Failure::kUnknownConference);
  if (command.target == command.conference) return fail(Failure::kDuplicate);
  Placement& from = from_it->second;
  const auto w = from.where.find(command.participant);
  if (w == from.where.end()) return fail(Failure::kUnknownParticipant);
  // Only a member whose add has completed moves: a pending add has no room
  // on the shard yet to leave.
  const auto record = streams_.find(w->second.add);
  if (record == streams_.end() || !record->second.live) return fail(Failure::kInvalid);
  const size_t from_part = w->second.part;
  const size_t s = from.parts[from_part].shard;
  if (!can_take(s)) {
    ++shards_[s].refused;
    return std::nullopt;
  }
  Placement& to = placements_[command.target];
  const bool fresh = to.parts.empty() && to.where.empty();
  if (fresh) {
    to.top_k = config_.mixer.top_k;
    to.music = default_music_;
  }
  if (to.where.contains(command.participant)) return fail(Failure::kDuplicate);
  // The member stays on its shard (its stream, port and keys with it): the
  // target's part there, or a new part there (the target then spans).
  std::optional<size_t> to_part;
  for (size_t p = 0; p < to.parts.size(); ++p) {
    if (to.parts[p].shard == s) to_part = p;
  }
  const CodecParams codec = w->second.codec;
  const Listening listening = Conference::listening(command.settings);
  const bool to_spanning = to.parts.size() + (to_part ? 0 : 1) > 1;
  const int to_rate = rate_after(to, to_part, command.participant, &codec, to_spanning);
  const int from_rate =
      rate_after(from, from_part, command.participant, nullptr, from.parts.size() > 1);
  PreparedPtr prepared = make_prepared();
  std::vector<GroupKey> to_keys;
  std::vector<GroupKey> from_keys;
  try {
    prepared->slot.emplace(Conference::prepare_member(command.participant, codec, to_rate));
    prepared->groups =
        prepare_groups(to, to_part, command.participant, &codec, listening, to_rate, to_keys);
    prepared->leave_groups = prepare_groups(from, from_part, command.participant, nullptr,
                                            Listening{}, from_rate, from_keys);
    prepared->rates = prepare_rates(to, to_part, command.participant, to_rate);
    prepared->leave_rates = prepare_rates(from, from_part, command.participant, from_rate);
  } catch (const std::exception&) {
    if (fresh) placements_.erase(command.target);
    return fail(Failure::kCodec);
  }
  prepared->music = to.music;
  command.prepared = std::move(prepared);

  // Committed.
  const CommandId add = w->second.add;
  record_groups(from.parts[from_part], from_rate, from_keys);
  --from.parts[from_part].participants;
  from.where.erase(w);
  bool relink_needed = false;
  const bool to_part_existed = to_part.has_value();
  if (!to_part) {
    to.parts.push_back({s, 0, {}, 0});
    to_part = to.parts.size() - 1;
    relink_needed = to.parts.size() > 1;
  }
  if (codec.sample_rate > to.max_rate) {
    to.max_rate = codec.sample_rate;
    relink_needed = relink_needed || to.parts.size() > 1;
  }
  if (relink_needed) relink(command.target, to);  // queued ahead of the move on shard s
  if (!to_part_existed) record_new_part(command.target, to, *to_part);
  record_groups(to.parts[*to_part], to_rate, to_keys);
  ++to.parts[*to_part].participants;
  to.where[command.participant] = {*to_part, add, codec, listening};
  record->second.conference = command.target;
  command.id = accept(command.kind, 1, command.conference, command.participant);
  Pending& pending = pending_[command.id];
  pending.add = add;
  pending.target = command.target;
  pending.from_part = from_part;
  const CommandId id = command.id;
  enqueue(s, std::move(command));
  return id;
}

int Engine::rate_after(const Placement& placement, std::optional<size_t> part,
                       ParticipantId member, const CodecParams* codec, bool spanning) const {
  if (spanning) return std::max(placement.max_rate, codec != nullptr ? codec->sample_rate : 0);
  int rate = 8000;  // Conference::reconfigure's floor
  if (part) {
    for (const auto& [id, w] : placement.where) {
      if (w.part == *part && id != member) rate = std::max(rate, w.codec.sample_rate);
    }
  }
  if (codec != nullptr) rate = std::max(rate, codec->sample_rate);
  return rate;
}

PreparedGroups Engine::prepare_groups(const Placement& placement, std::optional<size_t> part,
                                      ParticipantId member, const CodecParams* codec,
                                      const Listening& listening, int rate,
                                      std::vector<GroupKey>& keys) const {
  auto contains = [](const std::vector<GroupKey>& in, const GroupKey& key) {
    return std::find(in.begin(), in.end(), key) != in.end();
  };
  std::array<GroupKey, 5> member_keys{};
  const Part* held = part ? &placement.parts[*part] : nullptr;
  const bool same_rate = held != nullptr && held->groups_rate == rate;
  std::vector<GroupKey> wanted;
  if (codec != nullptr) {
    const size_t n = member_group_keys(*codec, listening, member_keys);
    wanted.insert(wanted.end(), member_keys.begin(), member_keys.begin() + n);
  }
  if (!same_rate && part) {
    // A new rate: the conference drops its groups and rebuilds those its
    // members use.
    for (const auto& [id, w] : placement.where) {
      if (w.part != *part || id == member) continue;
      const size_t n = member_group_keys(w.codec, w.listening, member_keys);
      wanted.insert(wanted.end(), member_keys.begin(), member_keys.begin() + n);
    }
  }
  if (same_rate) {
    keys = held->groups;
    // As Conference::drop_sidebar_groups: a sidebar's group goes with the
    // last member in it.
    std::erase_if(keys, [&](const GroupKey& key) {
      if (key.source != SharedEncoder::Source::kSidebar) return false;
      if (codec != nullptr && listening.sidebar == key.sidebar) return false;
      return std::none_of(placement.where.begin(), placement.where.end(), [&](const auto& entry) {
        return entry.second.part == *part && entry.first != member &&
               entry.second.listening.sidebar == key.sidebar;
      });
    });
  }
  PreparedGroups groups;
  for (const GroupKey& key : wanted) {
    if (contains(keys, key)) continue;
    groups.push_back(
        std::make_unique<SharedEncoder>(key.source, key.codec, key.gain, rate, key.sidebar));
    keys.push_back(key);
  }
  return groups;
}

PreparedRates Engine::prepare_rates(const Placement& placement, std::optional<size_t> part,
                                    ParticipantId member, int rate) const {
  // The part's conference runs at groups_rate (0: nobody there yet).
  PreparedRates rates;
  if (!part) return rates;
  const int now = placement.parts[*part].groups_rate;
  if (now == 0 || now == rate) return rates;
  for (const auto& [id, w] : placement.where) {
    if (w.part != *part || id == member) continue;
    rates.push_back(RateKit::make(id, w.codec.sample_rate, rate));
  }
  std::sort(rates.begin(), rates.end(),
            [](const RateKit& a, const RateKit& b) { return a.id < b.id; });
  return rates;
}

void Engine::record_groups(Part& part, int rate, std::vector<GroupKey>& keys) {
  part.groups = std::move(keys);
  part.groups_rate = rate;
}

void Engine::close_stream_record(CommandId add) {
  const auto it = streams_.find(add);
  if (it == streams_.end()) return;
  shards_[it->second.shard].factory->release(it->second.port);
  streams_.erase(it);
}

bool Engine::on_completion(size_t s, Event& event) {
  const auto it = pending_.find(event.id);
  if (it == pending_.end()) return true;  // not ours to count (should not happen)
  Pending& p = it->second;
  const bool failed = event.kind == Event::Kind::kFailed;
  bool undo_recording = false;
  switch (p.kind) {
    case Command::Kind::kAddParticipant: {
      if (!failed) {
        if (auto r = streams_.find(event.id); r != streams_.end()) r->second.live = true;
        break;
      }
      // The stream never became a member (its sockets are closed): its port
      // is free again, and the placement forgets the participant unless a
      // remove already did.
      close_stream_record(event.id);
      const auto pl = placements_.find(p.conference);
      if (pl != placements_.end()) {
        const auto w = pl->second.where.find(p.participant);
        if (w != pl->second.where.end() && w->second.add == event.id) {
          --pl->second.parts[w->second.part].participants;
          --shards_[pl->second.parts[w->second.part].shard].load;
          pl->second.where.erase(w);
        }
      }
      break;
    }
    case Command::Kind::kMoveParticipant: {
      if (!failed || event.failure == Failure::kCancelled) break;  // cancelled: a remove took it
      // Refused on the shard: the member is where it was (kDuplicate) or
      // gone (unknown there). Undo the placement in the target; put it back
      // in the source unless it is gone.
      const auto to = placements_.find(p.target);
      if (to == placements_.end()) break;
      const auto w = to->second.where.find(p.participant);
      if (w == to->second.where.end() || w->second.add != p.add) break;
      const Where where = w->second;
      --to->second.parts[where.part].participants;
      to->second.where.erase(w);
      const auto from = placements_.find(p.conference);
      const auto record = streams_.find(p.add);
      if (from != placements_.end() && event.failure != Failure::kUnknownParticipant &&
          event.failure != Failure::kUnknownConference && record != streams_.end() &&
          p.from_part < from->second.parts.size()) {
        ++from->second.parts[p.from_part].participants;
        from->second.where[p.participant] = {p.from_part, p.add, where.codec, where.listening};
        record->second.conference = p.conference;
      }
      break;
    }
    case Command::Kind::kStartRecording:
      // A part refused (a first part whose room is not made yet): the room
      // does not record. Once every part has answered, the parts that did
      // start are stopped.
      undo_recording = p.remaining == 1 && !p.internal && (failed || p.failure != Failure::kNone);
      break;
    case Command::Kind::kRemoveParticipant:
      // Done or not, the stream is closed now (a failed remove means the
      // member was already gone, its stream with it).
      close_stream_record(p.add);
      break;
    case Command::Kind::kRemoveConference:
      // Every member of the conference on this shard was removed; the adds
      // submitted before this command have all completed by now.
      for (auto r = streams_.begin(); r != streams_.end() && r->first < event.id;) {
        if (r->second.shard == s && r->second.conference == p.conference && r->second.live) {
          shards_[s].factory->release(r->second.port);
          r = streams_.erase(r);
        } else {
          ++r;
        }
      }
      break;
    default:
      break;
  }
  if (failed && p.failure == Failure::kNone) p.failure = event.failure;
  if (p.remaining > 1) {
    --p.remaining;
    return false;
  }
  const bool deliver = !p.internal;
  if (deliver && p.failure != Failure::kNone && !failed) {
    // A fan-out whose other part failed.
    event.kind = Event::Kind::kFailed;
    event.failure = p.failure;
  }
  if (deliver) {
    event.conference = p.conference;
    event.participant = p.participant;
  }
  const ConferenceId conference = p.conference;
  pending_.erase(it);
  if (undo_recording) stop_recording_parts(conference, event.id);
  return deliver;
}

bool Engine::poll(Event& event) {
  flush_retry();
  if (!local_.empty()) {
    event = local_.front();
    local_.pop_front();
    return true;
  }
  if (stopped_) return false;
  // Round robin over the shards, one event at a time, so a busy shard does
  // not starve the others.
  for (size_t tried = 0; tried < shards_.size(); ++tried) {
    const size_t s = next_shard_to_poll_;
    next_shard_to_poll_ = (s + 1) % shards_.size();
    MediaShard& media = *shards_[s].media;
    while (media.poll(event)) {
      if (event.kind != Event::Kind::kDone && event.kind != Event::Kind::kFailed) return true;
      if (on_completion(s, event)) {
        flush_retry();  // the ring has room now
        return true;
      }
    }
  }
  flush_retry();
  return false;
}

ShardStatus Engine::shard_status(size_t index) const {
  ShardStatus st;
  const ShardSlot& slot = shards_.at(index);
  const rtp::Shard& shard = *slot.shard;
  const MediaShard& media = *slot.media;
  st.index = static_cast<uint32_t>(index);
  st.ticks = shard.ticks();
  st.deadline_misses = shard.deadline_misses();
  st.cpu = shard.config().cpu;
  st.realtime_priority = shard.config().realtime_priority;
  st.realtime_error = shard.realtime_error();
  st.pin_error = shard.pin_error();
  st.io_backend = rtp::io_backend_name(shard.io_backend());
  st.port_mode = rtp::port_mode_name(shard.config().port_mode);
  st.shared_port = shard.shared_port();
  st.shared_receive_buffer = shard.shared_receive_buffer();
  st.shared_send_buffer = shard.shared_send_buffer();
  st.max_streams = shard.config().max_streams;
  st.unknown_source_drops = shard.unknown_source_drops();
  st.route_conflicts = shard.route_conflicts();
  st.io_error = shard.io_error();
  st.datagrams_received = shard.datagrams_received();
  st.events_dropped = media.events_dropped();
  st.commands_deferred = slot.deferred;
  st.commands_refused = slot.refused;
  st.retry_queue = slot.retry.size();
  st.members = media.participant_count();
  st.streams = shard.streams_attached();
  st.ports_free = slot.factory->ports_free();
  st.tick_duration_us = shard.tick_durations_us().snapshot();
  st.tick_duration_max_us = shard.tick_durations_us().max();
  st.tick_lateness_us = shard.tick_lateness_us().snapshot();
  st.tick_lateness_max_us = shard.tick_lateness_us().max();
  st.miss_preceding_tick_max_us = shard.miss_preceding_tick_max_us();
  st.pending_adds = media.pending_adds();
  st.commands_applied = media.commands_applied();
  st.mix_ticks = media.mix_ticks();
  st.decodes_skipped = media.decodes_skipped();
  st.groups_built_on_tick = media.groups_built_on_tick();
  st.frames_fec_recovered = media.frames_fec_recovered();
  st.frames_concealed = media.frames_concealed();
  using C = rtp::WebRtcCounter;
  st.stun_success = shard.webrtc_count(C::kStunSuccess);
  st.stun_bad_integrity = shard.webrtc_count(C::kStunBadIntegrity);
  st.stun_unknown_username = shard.webrtc_count(C::kStunUnknownUsername);
  st.stun_bad_request = shard.webrtc_count(C::kStunBadRequest);
  st.stun_other = shard.webrtc_count(C::kStunOther);
  st.webrtc_unlatched_drops = shard.webrtc_count(C::kDtlsUnlatched);
  st.webrtc_plain_rtp_drops = shard.webrtc_count(C::kPlainRtp);
  st.webrtc_stun_unanswered = shard.webrtc_count(C::kStunUnanswered);
  st.webrtc_dtls_send_dropped = shard.webrtc_count(C::kDtlsSendDropped);
  st.webrtc_consent_expired = shard.webrtc_count(C::kConsentExpired);
  st.webrtc_dtls_failed = shard.webrtc_count(C::kDtlsFailed);
  st.webrtc_dtls_closed = shard.webrtc_count(C::kDtlsClosed);
  st.webrtc_dtls_connected = shard.webrtc_count(C::kDtlsConnected);
  st.webrtc_checks_started = shard.webrtc_count(C::kCheckStarted);
  st.webrtc_checks_verified = shard.webrtc_count(C::kCheckVerified);
  st.webrtc_checks_gave_up = shard.webrtc_count(C::kCheckGaveUp);
  st.webrtc_checks_unmatched = shard.webrtc_count(C::kCheckUnmatched);
  st.webrtc_candidates_refused = shard.webrtc_count(C::kCandidateRefused);
  st.webrtc_candidates_deferred = shard.webrtc_count(C::kCandidateDeferred);
  return st;
}

std::optional<DtlsStats> Engine::dtls_stats() const {
  if (!dtls_worker_) return std::nullopt;
  const webrtc::DtlsWorker::Stats w = dtls_worker_->stats();
  DtlsStats s;
  s.started = w.started;
  s.connected = w.connected;
  s.failed = w.failed;
  s.fingerprint_mismatch = w.fingerprint_mismatch;
  s.timeouts = w.timeouts;
  s.closed = w.closed;
  return s;
}

std::optional<size_t> Engine::shard_of(ConferenceId conference, ParticipantId participant) const {
  const auto it = placements_.find(conference);
  if (it == placements_.end()) return std::nullopt;
  const auto w = it->second.where.find(participant);
  if (w == it->second.where.end()) return std::nullopt;
  return it->second.parts[w->second.part].shard;
}

size_t Engine::parts(ConferenceId conference) const {
  const auto it = placements_.find(conference);
  return it == placements_.end() ? 0 : it->second.parts.size();
}

void Engine::set_command_ring_capacity_for_test(size_t index, size_t slots) {
  shards_.at(index).media->set_command_ring_capacity(slots);
}

}  // namespace chorus::mixer
