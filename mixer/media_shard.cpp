#include "mixer/media_shard.hpp"

#include <exception>

#include "rtp/stream.hpp"

namespace chorus::mixer {

namespace {

bool inactive(const ParticipantSettings& s) {
  return s.hold == HoldMode::kInactive;
}

}  // namespace

MediaShard::MediaShard(rtp::Shard& shard, MediaShardConfig config)
    : shard_(shard),
      config_(std::move(config)),
      commands_(std::make_unique<rtp::SpscRing<Command, kCommandRingSize>>()),
      scratch_(std::make_unique<Command>()) {
  shard_.set_tick_handler(this);
}

MediaShard::~MediaShard() = default;

bool MediaShard::post(const Command& command) {
  if (commands_->try_push(command)) return true;
  commands_dropped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void MediaShard::emit(const Event& event) {
  if (!shard_.post_event(event.to_rtp())) events_dropped_.fetch_add(1, std::memory_order_relaxed);
}

MediaShard::Room* MediaShard::room(ConferenceId id) {
  const auto it = rooms_.find(id);
  return it == rooms_.end() ? nullptr : it->second.get();
}

MediaShard::Room& MediaShard::room_or_create(ConferenceId id) {
  auto& slot = rooms_[id];
  if (!slot) {
    ConferenceConfig c;
    c.top_k = config_.top_k;
    c.ramp_ms = config_.ramp_ms;
    c.talker = config_.talker;
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

void MediaShard::add_participant(const Command& c) {
  Room& r = room_or_create(c.conference);
  auto fail = [&](uint64_t why) {
    emit({Event::Kind::kAddFailed, c.conference, c.participant, why});
  };
  if (r.members.contains(c.participant)) return fail(1);
  auto member = std::make_unique<Member>();
  member->id = c.participant;
  member->payload_type = c.payload_type;
  member->codec = c.codec.id;
  member->timestamp_step = rtp_timestamp_step(c.codec);
  try {
    member->decoder = make_decoder(c.codec);
    if (c.stream.telephone_event_pt == 0) {
      member->inband_dtmf = std::make_unique<DtmfDetector>(c.codec.sample_rate);
    }
  } catch (const std::exception&) {
    return fail(2);
  }
  if (!r.conference.add(c.participant, c.codec, c.settings)) return fail(2);
  member->stream = shard_.open_stream(c.stream);
  if (member->stream == nullptr) {
    r.conference.remove(c.participant);
    return fail(3);
  }
  if (c.has_remote) member->stream->set_remote(c.remote_rtp, c.remote_rtcp);
  if (c.has_srtp) member->stream->set_srtp(c.srtp);
  const uint16_t port = member->stream->local_port();
  r.members[c.participant] = std::move(member);
  reindex(r);
  participants_.fetch_add(1, std::memory_order_relaxed);
  emit({Event::Kind::kParticipantAdded, c.conference, c.participant, port});
}

bool MediaShard::set_codec(const Command& c) {
  Room* r = room(c.conference);
  if (r == nullptr) return false;
  const auto it = r->members.find(c.participant);
  if (it == r->members.end()) return false;
  Member& member = *it->second;
  std::unique_ptr<Decoder> decoder;
  std::unique_ptr<DtmfDetector> inband;
  try {
    decoder = make_decoder(c.codec);
    if (c.stream.telephone_event_pt == 0)
      inband = std::make_unique<DtmfDetector>(c.codec.sample_rate);
  } catch (const std::exception&) {
    return false;
  }
  // A fresh mix slot at the new rate (its encoder, resampler and groups).
  r->conference.remove(c.participant);
  if (!r->conference.add(c.participant, c.codec, c.settings)) {
    remove_participant(*r, c.participant);
    return false;
  }
  member.decoder = std::move(decoder);
  member.inband_dtmf = std::move(inband);
  member.payload_type = c.payload_type;
  member.codec = c.codec.id;
  member.timestamp_step = rtp_timestamp_step(c.codec);
  member.stream->set_format(c.stream);
  reindex(*r);
  return true;
}

void MediaShard::remove_participant(Room& r, ParticipantId id) {
  const auto it = r.members.find(id);
  if (it == r.members.end()) return;
  shard_.close_stream(it->second->stream);
  r.conference.remove(id);
  r.members.erase(it);
  reindex(r);
  participants_.fetch_sub(1, std::memory_order_relaxed);
}

void MediaShard::apply(const Command& c) {
  auto failed = [&] {
    emit({Event::Kind::kCommandFailed, c.conference, c.participant, static_cast<uint64_t>(c.kind)});
  };
  switch (c.kind) {
    case Command::Kind::kAddParticipant:
      add_participant(c);
      return;
    case Command::Kind::kRemoveParticipant: {
      Room* r = room(c.conference);
      if (r == nullptr || !r->members.contains(c.participant)) return failed();
      remove_participant(*r, c.participant);
      emit({Event::Kind::kParticipantRemoved, c.conference, c.participant, 0});
      return;
    }
    case Command::Kind::kSetCodec:
      if (!set_codec(c)) failed();
      return;
    case Command::Kind::kUpdateParticipant: {
      Room* r = room(c.conference);
      if (r == nullptr || !r->conference.update(c.participant, c.settings)) return failed();
      return;
    }
    case Command::Kind::kSetMusic: {
      Room& r = room_or_create(c.conference);
      try {
        r.conference.set_music(c.music_file);
      } catch (const std::exception&) {
        failed();  // unreadable file: the previous music stays
      }
      return;
    }
    case Command::Kind::kSetSpan: {
      Room& r = room_or_create(c.conference);
      r.conference.set_span_peers(c.span_ports.size(), c.span_rate);
      r.span = c.span_ports.empty() ? nullptr : std::make_unique<SpanEndpoint>(c.span_ports);
      return;
    }
    case Command::Kind::kRemoveConference: {
      Room* r = room(c.conference);
      if (r == nullptr) return failed();
      while (!r->members.empty()) remove_participant(*r, r->members.begin()->first);
      rooms_.erase(c.conference);
      return;
    }
  }
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
      emit({Event::Kind::kInbandDtmf, id, m.id, static_cast<uint64_t>(digit)});
    }
  }
}

void MediaShard::tick_room(ConferenceId id, Room& room, uint64_t tick) {
  Conference& conf = room.conference;
  if (room.span) room.span->receive(conf);
  for (size_t i = 0; i < conf.size(); ++i) decode_input(room, i, id);
  conf.tick(tick);
  if (room.span) room.span->send(conf);
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
    m.sending = m.stream->send(m.payload_type, payload, m.timestamp_step, !m.sending);
  }
  if (config_.level_interval_ticks != 0 && tick % config_.level_interval_ticks == 0) {
    for (size_t i = 0; i < conf.size(); ++i) {
      if (!conf.talking(i)) continue;
      emit({Event::Kind::kLevel, id, conf.id_at(i), static_cast<uint64_t>(-conf.level_dbov(i))});
    }
  }
  for (const ConferenceEvent& e : conf.events()) {
    emit({e.kind == ConferenceEvent::Kind::kStartedTalking ? Event::Kind::kStartedTalking
                                                           : Event::Kind::kStoppedTalking,
          id, e.id, static_cast<uint64_t>(-e.level_dbov)});
  }
}

void MediaShard::on_tick(uint64_t tick, std::chrono::steady_clock::time_point /*deadline*/) {
  while (commands_->try_pop(*scratch_)) apply(*scratch_);
  const auto start = std::chrono::steady_clock::now();
  for (auto& [id, room] : rooms_) tick_room(id, *room, tick);
  const auto took = std::chrono::steady_clock::now() - start;
  mix_durations_.record(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  mix_ticks_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace chorus::mixer
