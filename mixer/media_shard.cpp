#include "mixer/media_shard.hpp"

#include <algorithm>
#include <exception>

#include "mixer/prepared.hpp"
#include "rtp/stream.hpp"

namespace chorus::mixer {

namespace {

// Offers a command's off-shard resamplers to a conference for one call.
class RateOffer {
 public:
  RateOffer(Conference& conference, PreparedRates* rates) : conference_(conference) {
    conference_.offer_rates(rates);
  }
  RateOffer(const RateOffer&) = delete;
  RateOffer& operator=(const RateOffer&) = delete;
  ~RateOffer() { conference_.offer_rates(nullptr); }

 private:
  Conference& conference_;
};

}  // namespace

namespace {

bool inactive(const ParticipantSettings& s) {
  return s.hold == HoldMode::kInactive;
}

}  // namespace

MediaShard::MediaShard(rtp::Shard& shard, MediaShardConfig config)
    : shard_(shard),
      config_(std::move(config)),
      commands_(std::make_unique<rtp::SpscRing<Command, kCommandRingSize>>()),
      events_(std::make_unique<rtp::SpscRing<Event, kEventRingSize>>()),
      scratch_(std::make_unique<Command>()),
      pending_(config_.pending_capacity) {
  config_.commands_per_tick = std::max<size_t>(config_.commands_per_tick, 1);
  if (config_.event_ring_capacity != 0) events_->set_capacity(config_.event_ring_capacity);
  backlog_.reserve(config_.commands_per_tick + config_.pending_capacity + 1);
  room_streams_.reserve(shard_.config().max_streams);
  shard_.set_tick_handler(this);
  shard_.set_stream_observer(this);
}

MediaShard::~MediaShard() {
  // The shard thread has stopped (the engine stops shards first); members'
  // streams leave the shard before they are freed.
  for (auto& [id, room] : rooms_) {
    for (auto& [pid, m] : room->members) {
      if (m->stream) shard_.detach(*m->stream);
    }
  }
}

bool MediaShard::post(Command& command) {
  return commands_->try_push(std::move(command));
}

void MediaShard::take_leftovers(std::vector<Event>& completions, std::vector<Command>& unapplied) {
  for (Event& e : backlog_) completions.push_back(e);
  backlog_.clear();
  while (!pending_.empty()) {
    Command c;
    pending_.pop(c);
    unapplied.push_back(std::move(c));
  }
  pending_count_.store(0, std::memory_order_relaxed);
  Command c;
  while (commands_->try_pop(c)) unapplied.push_back(std::move(c));
}

void MediaShard::complete(const Command& c, Failure failure, uint64_t value,
                          const rtp::StreamStats* stats) {
  Event e;
  e.kind = failure == Failure::kNone ? Event::Kind::kDone : Event::Kind::kFailed;
  e.id = c.id;
  e.command = c.kind;
  e.failure = failure;
  e.conference = c.conference;
  e.participant = c.participant;
  e.value = value;
  if (stats != nullptr) e.stats = *stats;
  // Completions keep their order: behind any backlog, never dropped.
  if (backlog_.empty() && events_->try_push(e)) return;
  backlog_.push_back(e);
}

void MediaShard::notify(const Event& event) {
  if (backlog_.empty() && events_->try_push(event)) return;
  events_dropped_.store(events_dropped_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
}

bool MediaShard::offer(const Event& event) {
  return backlog_.empty() && events_->try_push(event);
}

void MediaShard::flush_backlog() {
  size_t sent = 0;
  while (sent < backlog_.size() && events_->try_push(backlog_[sent])) ++sent;
  if (sent != 0) backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<ptrdiff_t>(sent));
}

MediaShard::Room* MediaShard::room(ConferenceId id) {
  const auto it = rooms_.find(id);
  return it == rooms_.end() ? nullptr : it->second.get();
}

MediaShard::Member* MediaShard::member(ConferenceId conference, ParticipantId id) {
  Room* r = room(conference);
  if (r == nullptr) return nullptr;
  const auto it = r->members.find(id);
  return it == r->members.end() ? nullptr : it->second.get();
}

MediaShard::Room& MediaShard::room_or_create(ConferenceId id, const Command& command) {
  auto& slot = rooms_[id];
  if (!slot) {
    ConferenceConfig c;
    c.top_k = config_.top_k;
    c.ramp_ms = config_.ramp_ms;
    c.talker = config_.talker;
    // The engine resolved the conference's music off the shard.
    if (command.prepared) c.music = command.prepared->music;
    slot = std::make_unique<Room>(c);
  }
  return *slot;
}

void MediaShard::reindex(Room& room) {
  room.by_index.assign(room.conference.size(), nullptr);
  for (size_t i = 0; i < room.conference.size(); ++i) {
    room.by_index[i] = room.members.at(room.conference.id_at(i)).get();
  }
}

void MediaShard::add_participant(Command& c) {
  Room& r = room_or_create(c.conference, c);
  if (r.members.contains(c.participant)) return complete(c, Failure::kDuplicate);
  Prepared* pr = c.prepared.get();
  if (pr == nullptr || !pr->stream || !pr->decoder || !pr->slot) {
    return complete(c, Failure::kCodec);  // the engine always prepares; a bare add cannot run
  }
  rtp::Stream& stream = *pr->stream;
  if (c.has_srtp && !stream.set_srtp(c.srtp)) return complete(c, Failure::kBadKeys);
  if (c.has_remote) stream.set_remote(c.remote_rtp, c.remote_rtcp);
  // The stream table is full or the kernel refused the watch: the prepared
  // objects are freed with the command, the port returns on the kFailed.
  if (!shard_.attach(stream)) return complete(c, Failure::kNoPort);
  const uint64_t built = r.conference.stats().groups_built;
  const RateOffer offer(r.conference, &pr->rates);
  if (!r.conference.adopt(*pr->slot, c.settings, &pr->groups)) {
    shard_.detach(stream);
    return complete(c, Failure::kDuplicate);
  }
  count_groups_built(r.conference.stats().groups_built - built);
  auto m = std::make_unique<Member>();
  m->conference = c.conference;
  m->id = c.participant;
  m->payload_type = c.payload_type;
  m->codec = c.codec.id;
  m->timestamp_step = rtp_timestamp_step(c.codec);
  m->decoder = std::move(pr->decoder);
  m->inband_dtmf = std::move(pr->inband_dtmf);
  m->stream = std::move(pr->stream);
  m->stream->set_owner_tag(m.get());
  const uint16_t port = m->stream->local_port();
  r.members[c.participant] = std::move(m);
  reindex(r);
  participants_.fetch_add(1, std::memory_order_relaxed);
  complete(c, Failure::kNone, port);
}

void MediaShard::set_codec(Command& c) {
  Room* r = room(c.conference);
  if (r == nullptr) return complete(c, Failure::kUnknownConference);
  const auto it = r->members.find(c.participant);
  if (it == r->members.end()) return complete(c, Failure::kUnknownParticipant);
  Prepared* pr = c.prepared.get();
  if (pr == nullptr || !pr->decoder || !pr->slot) return complete(c, Failure::kCodec);
  Member& m = *it->second;
  // The new mix slot (its encoder, resampler and groups) was built off the
  // shard: swap it in. Nothing here can fail, so the old codec stays unless
  // the whole change applies.
  const uint64_t built = r->conference.stats().groups_built;
  {
    const RateOffer offer(r->conference, &pr->rates);
    r->conference.replace(*pr->slot, c.settings, &pr->groups);
  }
  count_groups_built(r->conference.stats().groups_built - built);
  m.decoder = std::move(pr->decoder);
  m.inband_dtmf = std::move(pr->inband_dtmf);
  m.payload_type = c.payload_type;
  m.codec = c.codec.id;
  m.timestamp_step = rtp_timestamp_step(c.codec);
  m.stream->set_format(c.stream, pr->jitter ? &*pr->jitter : nullptr);
  reindex(*r);
  complete(c, Failure::kNone);
}

void MediaShard::move_participant(Command& c) {
  Room* from = room(c.conference);
  if (from == nullptr) return complete(c, Failure::kUnknownConference);
  const auto it = from->members.find(c.participant);
  if (it == from->members.end()) return complete(c, Failure::kUnknownParticipant);
  Prepared* pr = c.prepared.get();
  if (pr == nullptr || !pr->slot) return complete(c, Failure::kCodec);  // the engine prepares
  if (c.target == c.conference) return complete(c, Failure::kDuplicate);
  Room& to = room_or_create(c.target, c);
  if (to.members.contains(c.participant)) return complete(c, Failure::kDuplicate);
  // Out of the source at this tick boundary, into the target before its
  // next mix: no tick without a room. The stream stays attached (same
  // socket, SSRC, sequence, SRTP); so do the decoder and jitter buffer.
  uint64_t built = from->conference.stats().groups_built;
  std::optional<Participant> slot;
  {
    const RateOffer offer(from->conference, &pr->leave_rates);
    slot = from->conference.extract(c.participant, &pr->leave_groups);
  }
  count_groups_built(from->conference.stats().groups_built - built);
  // The member's own slot keeps its encoder's state when the target mixes
  // at the rate it was built for; otherwise the one prepared at that rate.
  Participant& use = slot->conference_rate == to.conference.rate() ? *slot : *pr->slot;
  built = to.conference.stats().groups_built;
  {
    const RateOffer offer(to.conference, &pr->rates);
    to.conference.adopt(use, c.settings, &pr->groups);  // cannot fail: the id is free there
  }
  count_groups_built(to.conference.stats().groups_built - built);
  std::unique_ptr<Member> m = std::move(it->second);
  from->members.erase(it);
  m->conference = c.target;
  const uint16_t port = m->stream->local_port();
  to.members[c.participant] = std::move(m);
  reindex(*from);
  reindex(to);
  complete(c, Failure::kNone, port);
}

void MediaShard::remove_participant(Room& r, ParticipantId id, PreparedGroups* groups) {
  const auto it = r.members.find(id);
  if (it == r.members.end()) return;
  // The graveyard keeps the object two ticks; its sockets close now.
  shard_.retire(std::move(it->second->stream));
  r.conference.remove(id, groups);
  r.members.erase(it);
  reindex(r);
  participants_.fetch_sub(1, std::memory_order_relaxed);
}

bool MediaShard::waits_in_fifo(const Command& c) {
  for (size_t i = 0; i < pending_.size(); ++i) {
    const Command& p = pending_.at(i);
    if (p.participant != c.participant) continue;
    // A member's commands, and those for it in the room a pending move
    // takes it to.
    if (p.conference == c.conference) return true;
    if (p.kind == Command::Kind::kMoveParticipant && p.target == c.conference) return true;
  }
  return false;
}

template <class Match>
bool MediaShard::cancel_pending(Match match) {
  bool had_add = false;
  pending_.filter([&](const Command& p) { return !match(p); },
                  [&](Command& p) {
                    if (p.kind == Command::Kind::kAddParticipant) had_add = true;
                    // The prepared objects (an unattached stream, a decoder, a
                    // mix slot) are freed here, on the command path.
                    complete(p, Failure::kCancelled);
                  });
  pending_count_.store(pending_.size(), std::memory_order_relaxed);
  return had_add;
}

void MediaShard::route(Command& c) {
  switch (c.kind) {
    case Command::Kind::kAddParticipant:
      pending_.push(std::move(c));
      break;
    case Command::Kind::kRemoveParticipant: {
      // A move into this room still waiting: the member is in the room it
      // was to leave. Cancel the move and remove it from there (moves chain
      // back to the room it is in).
      for (bool found = true; found;) {
        found = false;
        for (size_t i = 0; i < pending_.size() && !found; ++i) {
          const Command& p = pending_.at(i);
          if (p.kind == Command::Kind::kMoveParticipant && p.participant == c.participant &&
              p.target == c.conference) {
            const ConferenceId source = p.conference;
            cancel_pending([&](const Command& q) {
              return q.kind == Command::Kind::kMoveParticipant && q.participant == c.participant &&
                     q.target == c.conference;
            });
            c.conference = source;
            found = true;
          }
        }
      }
      const bool add_was_pending = cancel_pending([&](const Command& p) {
        return p.conference == c.conference && p.participant == c.participant;
      });
      if (add_was_pending) {
        // Never added: nothing to remove, nothing received.
        const rtp::StreamStats none;
        complete(c, Failure::kNone, 0, &none);
      } else {
        apply(c);
      }
      break;
    }
    case Command::Kind::kRemoveConference: {
      // Members a waiting move brings here belong to this conference: the
      // move is cancelled and they leave the room they are still in.
      for (size_t i = 0; i < pending_.size(); ++i) {
        const Command& p = pending_.at(i);
        if (p.kind != Command::Kind::kMoveParticipant || p.target != c.conference) continue;
        if (Room* source = room(p.conference)) remove_participant(*source, p.participant);
      }
      cancel_pending([&](const Command& p) {
        return p.conference == c.conference ||
               (p.kind == Command::Kind::kMoveParticipant && p.target == c.conference);
      });
      apply(c);
      break;
    }
    case Command::Kind::kUpdateParticipant:
    case Command::Kind::kSetCodec:
    case Command::Kind::kSetRemote:
    case Command::Kind::kSetSrtp:
    case Command::Kind::kPlayPrompt:
    case Command::Kind::kSetWebRtc:
    case Command::Kind::kMoveParticipant:
      // Behind the participant's pending add (or a command already waiting
      // behind it), in order. (Engine::submit_move refuses a move until the
      // member's add has completed, so through the engine a move never waits
      // here; the FIFO still keeps the order should one arrive.)
      if (waits_in_fifo(c)) {
        pending_.push(std::move(c));
      } else {
        apply(c);
      }
      break;
    case Command::Kind::kReportStats:
    case Command::Kind::kSetMusic:
    case Command::Kind::kSetSpan:
    case Command::Kind::kStartRecording:
    case Command::Kind::kStopRecording:
    case Command::Kind::kPlayNotice:
      apply(c);
      break;
  }
  pending_count_.store(pending_.size(), std::memory_order_relaxed);
}

void MediaShard::apply(Command& c) {
  commands_applied_.store(commands_applied_.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
  switch (c.kind) {
    case Command::Kind::kAddParticipant:
      return add_participant(c);
    case Command::Kind::kRemoveParticipant: {
      Room* r = room(c.conference);
      if (r == nullptr) return complete(c, Failure::kUnknownConference);
      const auto it = r->members.find(c.participant);
      if (it == r->members.end()) return complete(c, Failure::kUnknownParticipant);
      const rtp::StreamStats stats = it->second->stream->snapshot(std::chrono::steady_clock::now());
      const uint64_t built = r->conference.stats().groups_built;
      // The rate may fall: the groups the others use come with the command.
      const RateOffer offer(r->conference, c.prepared ? &c.prepared->rates : nullptr);
      remove_participant(*r, c.participant, c.prepared ? &c.prepared->groups : nullptr);
      count_groups_built(r->conference.stats().groups_built - built);
      return complete(c, Failure::kNone, 0, &stats);
    }
    case Command::Kind::kSetCodec:
      return set_codec(c);
    case Command::Kind::kMoveParticipant:
      return move_participant(c);
    case Command::Kind::kUpdateParticipant: {
      Room* r = room(c.conference);
      if (r == nullptr) return complete(c, Failure::kUnknownConference);
      const uint64_t built = r->conference.stats().groups_built;
      if (!r->conference.update(c.participant, c.settings,
                                c.prepared ? &c.prepared->groups : nullptr)) {
        return complete(c, Failure::kUnknownParticipant);
      }
      count_groups_built(r->conference.stats().groups_built - built);  // a new output gain
      return complete(c, Failure::kNone);
    }
    case Command::Kind::kSetRemote:
    case Command::Kind::kSetSrtp:
    case Command::Kind::kSetWebRtc: {
      if (room(c.conference) == nullptr) return complete(c, Failure::kUnknownConference);
      Member* m = member(c.conference, c.participant);
      if (m == nullptr) return complete(c, Failure::kUnknownParticipant);
      if (c.kind == Command::Kind::kSetWebRtc) {
        if (!c.stream.webrtc || !m->stream->set_webrtc(*c.stream.webrtc))
          return complete(c, Failure::kInvalid);
      } else if (c.kind == Command::Kind::kSetRemote) {
        m->stream->set_signalled_ssrc(c.stream.signalled_ssrc);
        m->stream->set_remote(c.remote_rtp, c.remote_rtcp);
      } else if (!m->stream->set_srtp(c.srtp)) {
        return complete(c, Failure::kBadKeys);  // the old keys stay
      }
      return complete(c, Failure::kNone);
    }
    case Command::Kind::kReportStats: {
      const auto now = std::chrono::steady_clock::now();
      for (auto& [id, r] : rooms_) {
        for (auto& [pid, m] : r->members) {
          Event e;
          e.kind = Event::Kind::kStats;
          e.conference = id;
          e.participant = pid;
          e.stats = m->stream->snapshot(now);
          notify(e);
        }
      }
      return complete(c, Failure::kNone);
    }
    case Command::Kind::kSetMusic: {
      Room& r = room_or_create(c.conference, c);
      if (!c.prepared || !c.prepared->music) return complete(c, Failure::kNoMusic);
      r.conference.set_music(c.prepared->music);
      return complete(c, Failure::kNone);
    }
    case Command::Kind::kSetSpan: {
      Room& r = room_or_create(c.conference, c);
      r.conference.set_span_peers(c.span_ports.size(), c.span_rate);
      r.span = c.span_ports.empty() ? nullptr : std::make_unique<SpanEndpoint>(c.span_ports);
      return complete(c, Failure::kNone);
    }
    case Command::Kind::kStartRecording: {
      if (!c.recording) return complete(c, Failure::kInvalid);
      // Refused: the lane this part was given is closed, so the writer does
      // not wait for it.
      auto refuse = [&](Failure failure) {
        if (c.recording_lane < c.recording->lanes()) c.recording->lane(c.recording_lane).close();
        complete(c, failure);
      };
      Room* r = room(c.conference);
      if (r == nullptr) return refuse(Failure::kUnknownConference);
      if (r->recording.active()) return refuse(Failure::kDuplicate);
      r->recording.start(std::move(c.recording), c.recording_lane, shard_.config().tick_interval);
      if (c.notice.beeps > 0) r->conference.play_notice(c.notice);
      return complete(c, Failure::kNone);
    }
    case Command::Kind::kStopRecording: {
      Room* r = room(c.conference);
      if (r == nullptr) return complete(c, Failure::kUnknownConference);
      const bool stopped = r->recording.stop();
      if (stopped && c.notice.beeps > 0) r->conference.play_notice(c.notice);
      return complete(c, Failure::kNone, stopped ? 1 : 0);
    }
    case Command::Kind::kPlayNotice: {
      Room* r = room(c.conference);
      if (r == nullptr) return complete(c, Failure::kUnknownConference);
      if (c.notice.beeps > 0) r->conference.play_notice(c.notice);
      return complete(c, Failure::kNone);
    }
    case Command::Kind::kPlayPrompt: {
      Room* r = room(c.conference);
      if (r == nullptr) return complete(c, Failure::kUnknownConference);
      if (!c.prepared || !c.prepared->music) return complete(c, Failure::kNoMusic);
      if (!r->conference.play_prompt(c.participant, c.prepared->music)) {
        return complete(c, Failure::kUnknownParticipant);
      }
      return complete(c, Failure::kNone);
    }
    case Command::Kind::kRemoveConference: {
      // A part whose adds were all cancelled never made the room: already gone.
      Room* r = room(c.conference);
      if (r != nullptr) {
        r->recording.stop();  // the writer finishes the files
        while (!r->members.empty()) remove_participant(*r, r->members.begin()->first);
        rooms_.erase(c.conference);
      }
      return complete(c, Failure::kNone);
    }
  }
}

void MediaShard::apply_pending(size_t adds_budget) {
  while (!pending_.empty()) {
    Command& front = pending_.at(0);
    if (front.kind == Command::Kind::kAddParticipant) {
      if (adds_budget == 0) break;
      --adds_budget;
    }
    pending_.pop(*scratch_);
    apply(*scratch_);
    *scratch_ = Command{};  // frees what the shard did not adopt
  }
  pending_count_.store(pending_.size(), std::memory_order_relaxed);
}

void MediaShard::on_commands(uint64_t /*tick*/) {
  flush_backlog();
  // Completions first: while some still wait for room, take no new command
  // (the engine sees a full ring and holds back), so the backlog stays bounded.
  if (!backlog_.empty()) return;
  size_t taken = 0;
  while (taken < config_.commands_per_tick && !pending_.full() && commands_->try_pop(*scratch_)) {
    ++taken;
    route(*scratch_);
    *scratch_ = Command{};
  }
  // Removals and changes above; new members last, a bounded number per tick.
  apply_pending(config_.adds_per_tick);
}

bool MediaShard::on_rtp_timeout(rtp::Stream& stream) {
  const auto* m = static_cast<const Member*>(stream.owner_tag());
  if (m == nullptr) return true;
  Event e;
  e.kind = Event::Kind::kRtpTimeout;
  e.conference = m->conference;
  e.participant = m->id;
  // Not a droppable notification: the focus ends the call on it, and the
  // stream reports it only once. Refused while the ring (or the completion
  // backlog) is full, the stream offers it again next tick.
  return offer(e);
}

bool MediaShard::on_media_ended(rtp::Stream& stream, rtp::MediaEndReason reason) {
  const auto* m = static_cast<const Member*>(stream.owner_tag());
  if (m == nullptr) return true;
  Event e;
  e.kind = Event::Kind::kMediaEnded;
  e.conference = m->conference;
  e.participant = m->id;
  e.value = static_cast<uint64_t>(reason);
  // Not a droppable notification: refused while the ring (or the completion
  // backlog) is full, the stream offers it again next tick.
  return offer(e);
}

void MediaShard::on_dtmf(rtp::Stream& stream, char digit) {
  const auto* m = static_cast<const Member*>(stream.owner_tag());
  if (m == nullptr) return;
  Event e;
  e.kind = Event::Kind::kDtmf;
  e.conference = m->conference;
  e.participant = m->id;
  e.value = static_cast<uint64_t>(static_cast<unsigned char>(digit));
  notify(e);
}

void MediaShard::decode_input(Room& room, size_t index, ConferenceId id) {
  Member& m = *room.by_index[index];
  const rtp::Slot slot = m.stream->pull();
  Conference& conf = room.conference;
  switch (slot.kind) {
    case rtp::SlotKind::kPacket: {
      // Another payload type (e.g. RFC 3389 comfort noise) is not our codec's
      // audio: the participant is taken as silent this tick.
      if (slot.payload_type != m.payload_type) return;
      if (slot.audio_level && slot.audio_level->level_dbov >= kSilentLevelDbov) {
        // The sender measured silence (RFC 6464): no decode, no in-band DTMF
        // (a digit is far louder); the conference takes silence and the level.
        // Decoders pick up at the next loud packet as after DTX.
        conf.set_audio_level(index, slot.audio_level->level_dbov, slot.audio_level->voice);
        decodes_skipped_.store(decodes_skipped_.load(std::memory_order_relaxed) + 1,
                               std::memory_order_relaxed);
        return;
      }
      Frame& f = conf.input_slot(index);
      // A corrupt payload is concealed like a lost one.
      if (!m.decoder->decode(slot.payload, f)) m.decoder->conceal(f);
      if (slot.audio_level) {
        conf.set_audio_level(index, slot.audio_level->level_dbov, slot.audio_level->voice);
      }
      break;
    }
    case rtp::SlotKind::kLost: {
      Frame& f = conf.input_slot(index);
      // The next frame's packet is already here: a codec with in-band FEC
      // rebuilds this frame from its redundancy (RFC 7587 §3.2.1; libopus
      // wants decode_fec on the next packet, then that packet decoded as usual
      // next tick). decode_fec() conceals when the packet carries none.
      bool fec = false;
      if (!slot.next_payload.empty() && slot.next_payload_type == m.payload_type) {
        fec = m.decoder->decode_fec(slot.next_payload, f);
      } else {
        m.decoder->conceal(f);
      }
      // Owner-thread counters: a relaxed load and store, no read-modify-write.
      auto& counter = fec ? fec_recovered_ : concealed_;
      counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      break;
    }
    case rtp::SlotKind::kSilence:
    case rtp::SlotKind::kNotStarted:
      return;  // no input: the conference takes silence
  }
  if (m.inband_dtmf) {
    for (char digit : m.inband_dtmf->process(conf.input_slot(index))) {
      Event e;
      e.kind = Event::Kind::kDtmf;
      e.conference = id;
      e.participant = m.id;
      e.value = static_cast<uint64_t>(static_cast<unsigned char>(digit));
      notify(e);
    }
  }
}

void MediaShard::tick_room(ConferenceId id, Room& room, uint64_t tick,
                           std::chrono::steady_clock::time_point due) {
  Conference& conf = room.conference;
  if (room.span) room.span->receive(conf);
  for (size_t i = 0; i < conf.size(); ++i) decode_input(room, i, id);
  conf.tick(tick);
  if (room.recording.active()) room.recording.capture(conf, due);
  if (room.span) room.span->send(conf);
  const auto sent_at = std::chrono::steady_clock::now();  // one clock read for the room's sends
  for (size_t i = 0; i < conf.size(); ++i) {
    Member& m = *room.by_index[i];
    const auto payload = conf.payload(i);
    // RFC 3264 §5.1: nothing is sent to an inactive stream; an Opus DTX frame
    // (RFC 7587 §3.1.3) need not be sent either.
    if (payload.empty() || inactive(conf.settings(i)) || is_dtx_payload(m.codec, payload)) {
      m.sending = false;
      m.stream->skip(m.timestamp_step);
      continue;
    }
    // RFC 3551 §4.1: the marker bit flags the first packet after a gap.
    m.sending = m.stream->send(m.payload_type, payload, m.timestamp_step, !m.sending, sent_at);
  }
  // One send batch per room: this room's packets (and any RTCP its streams
  // queued this tick) leave now, not after every other room of the shard is
  // mixed, so a room's delay does not grow with its shard's load (issue #16).
  room_streams_.clear();
  for (size_t i = 0; i < conf.size(); ++i) room_streams_.push_back(room.by_index[i]->stream.get());
  shard_.send_now(room_streams_);
  if (config_.level_interval_ticks != 0 && tick % config_.level_interval_ticks == 0) {
    for (size_t i = 0; i < conf.size(); ++i) {
      if (!conf.talking(i)) continue;
      Event e;
      e.kind = Event::Kind::kLevel;
      e.conference = id;
      e.participant = conf.id_at(i);
      e.value = static_cast<uint64_t>(-conf.level_dbov(i));
      notify(e);
    }
  }
  for (const ConferenceEvent& e : conf.events()) {
    Event out;
    out.kind = e.kind == ConferenceEvent::Kind::kStartedTalking ? Event::Kind::kStartedTalking
                                                                : Event::Kind::kStoppedTalking;
    out.conference = id;
    out.participant = e.id;
    out.value = static_cast<uint64_t>(-e.level_dbov);
    notify(out);
  }
}

void MediaShard::on_tick(uint64_t tick, std::chrono::steady_clock::time_point deadline) {
  const auto start = std::chrono::steady_clock::now();
  for (auto& [id, room] : rooms_) tick_room(id, *room, tick, deadline);
  const auto took = std::chrono::steady_clock::now() - start;
  mix_durations_.record(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  mix_ticks_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace chorus::mixer
