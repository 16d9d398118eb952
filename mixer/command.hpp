#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/participant.hpp"
#include "mixer/span.hpp"
#include "rtp/command.hpp"
#include "rtp/stream_config.hpp"

namespace chorus::mixer {

// Names a conference on a shard; chosen by the focus (opaque here).
using ConferenceId = uint64_t;

// What the signalling thread asks a media shard to do. Carried by value over
// the shard's bounded SPSC mixer ring and applied on the shard thread at the
// next tick boundary (before the mix), so a tick never sees half a change.
// Handling a command may allocate; the tick may not.
struct Command {
  enum class Kind : uint8_t {
    kAddParticipant,     // conference, participant, codec, payload_type, stream, settings
                         // (+ remote/SRTP when known) → event kParticipantAdded/kAddFailed
    kRemoveParticipant,  // conference, participant → event kParticipantRemoved
    kUpdateParticipant,  // conference, participant, settings (role, mute, deaf, hold,
                         // gains, whisper targets)
    kSetMusic,           // conference, music_file ("" = the built-in tune)
    kSetSpan,            // conference, span_ports, span_rate: this shard holds one part
    kRemoveConference,   // conference (and all its participants)
    kSetCodec,           // conference, participant, codec, payload_type, stream format,
                         // settings: a re-offer changed the codec (same port and stream)
  };

  Kind kind = Kind::kAddParticipant;
  ConferenceId conference = 0;
  ParticipantId participant = 0;
  // kAddParticipant
  CodecParams codec;
  uint8_t payload_type = 0;  // negotiated PT for `codec` (both directions)
  rtp::StreamConfig stream;
  bool has_remote = false;
  boost::asio::ip::udp::endpoint remote_rtp;
  boost::asio::ip::udp::endpoint remote_rtcp;
  bool has_srtp = false;
  rtp::SrtpKeys srtp;
  // kAddParticipant / kUpdateParticipant
  ParticipantSettings settings;
  // kSetMusic
  std::string music_file;
  // kSetSpan: the conference's top-K and the links to every other part.
  size_t top_k = 3;
  int span_rate = 48000;
  std::vector<SpanEndpoint::Port> span_ports;
};

}  // namespace chorus::mixer
