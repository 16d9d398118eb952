#pragma once

#include <cstdint>
#include <optional>

#include "mixer/command.hpp"
#include "rtp/event.hpp"

namespace chorus::mixer {

// What a media shard reports about its conferences. Travels through the
// shard's own bounded event ring (rtp::Shard::post_event, kind kUser), so the
// signalling thread polls one ring per shard for stream and mixer events
// alike. RTP timeouts and RFC 4733 digits come from rtp as their own kinds,
// named by stream id; kParticipantAdded says which stream is whose.
struct Event {
  enum class Kind : uint8_t {
    kParticipantAdded = 1,  // value: the stream's local RTP port
    kAddFailed,             // value: 0 unknown, 1 duplicate id, 2 codec, 3 no port/stream
    kParticipantRemoved,
    kStartedTalking,  // value: level in -dBov (0..127)
    kStoppedTalking,
    kInbandDtmf,     // value: the digit (ASCII), heard in the audio itself
    kCommandFailed,  // value: the Command::Kind (unknown conference/participant)
    kLevel,          // value: smoothed level in -dBov (0..127), once a second per talker
  };

  Kind kind = Kind::kParticipantAdded;
  ConferenceId conference = 0;
  ParticipantId participant = 0;
  uint64_t value = 0;

  rtp::Event to_rtp() const {
    rtp::Event e;
    e.kind = rtp::EventKind::kUser;
    e.user_code = static_cast<uint32_t>(kind);
    e.user_args = {conference, participant, value, 0};
    return e;
  }
  // A shard event that carries a mixer event; nullopt for rtp's own kinds.
  static std::optional<Event> from_rtp(const rtp::Event& e) {
    if (e.kind != rtp::EventKind::kUser || e.user_code < 1 ||
        e.user_code > static_cast<uint32_t>(Kind::kLevel)) {
      return std::nullopt;
    }
    return Event{static_cast<Kind>(e.user_code), e.user_args[0], e.user_args[1], e.user_args[2]};
  }
};

}  // namespace chorus::mixer
