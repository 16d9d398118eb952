#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/participant.hpp"
#include "mixer/recording.hpp"
#include "mixer/span.hpp"
#include "rtp/command.hpp"
#include "rtp/stream_config.hpp"

namespace chorus::mixer {

// Names a conference on a shard; chosen by the focus (opaque here).
using ConferenceId = uint64_t;
// Names one submitted command; assigned by MediaEngine::submit, echoed by its
// completion event.
using CommandId = uint64_t;

// What the engine builds off the shard thread for an add or a codec change
// (decoder, in-band DTMF detector, the member's mix slot, the stream with
// its bound sockets, the music clip) and hands over inside the command. The
// focus never fills it; it is defined in mixer/prepared.hpp.
struct Prepared;
struct PreparedDeleter {
  void operator()(Prepared* prepared) const;
};
using PreparedPtr = std::unique_ptr<Prepared, PreparedDeleter>;

// What the signalling thread asks the media side to do (MediaEngine::submit).
// Applied on the participant's shard at a tick boundary (before the mix), so
// a tick never sees half a change; every command ends in one completion
// event (mixer/event.hpp). Commands are moved, never copied, through the ring.
struct Command {
  enum class Kind : uint8_t {
    kAddParticipant,     // conference, participant, codec, payload_type, stream, settings
                         // (+ remote/SRTP when known) → kDone with the local RTP port
    kRemoveParticipant,  // conference, participant → kDone with the final statistics
    kUpdateParticipant,  // settings (role, mute, deaf, hold, gains, whisper targets)
    kSetCodec,           // codec, payload_type, stream format, settings: a re-offer changed
                         // the codec (same port, SSRC, SRTP); kFailed keeps the old codec
    kSetRemote,          // remote_rtp / remote_rtcp: where the participant's media goes;
                         // stream.signalled_ssrc: its SSRC as the same SDP signals it
    kSetSrtp,            // srtp (sizes 0 = plain RTP)
    kReportStats,        // → one kStats notification per participant of the shard
                         // (conference/participant ignored), then kDone
    kSetMusic,           // conference, music_file ("" = the built-in tune)
    kSetSpan,            // conference, span_ports, span_rate (engine-internal)
    kRemoveConference,   // conference (and every participant in it)
    kStartRecording,     // conference, recording (built by the caller), notice → kDone once
                         // every part records; kFailed/kDuplicate when the room records already
    kStopRecording,      // conference, notice → kDone once every part stopped (value 1: a
                         // recording stopped, 0: none ran)
    kPlayNotice,         // conference, notice: a tone the whole room hears (join/leave) → kDone
    kPlayPrompt,         // participant, music_file (a prompt: "tone:<name>" or a sound
                         // file): played once to that member only → kDone; kNoMusic
                         // when the file cannot be read
    kSetWebRtc,          // stream.webrtc: a browser's re-offer (same ufrag and fingerprint:
                         // nothing changes; new ufrag: a new check latches, DTLS stays; new
                         // fingerprint: DTLS restarts; either restart gives consent a fresh
                         // period). kFailed/kInvalid for a member that is not WebRTC
    kMoveParticipant,    // conference, participant, target, settings (in the target): the
                         // member leaves `conference` and joins `target` at one tick
                         // boundary, keeping its stream (port, SSRC, sequence, SRTP),
                         // decoder and, at an unchanged rate, its encoder. It stays on its
                         // shard: a target living elsewhere gains a part there (spans).
                         // → kDone with the local RTP port; kDuplicate when the target has
                         // that participant id (the member stays where it was)
  };

  Kind kind = Kind::kAddParticipant;
  CommandId id = 0;  // set by MediaEngine::submit
  ConferenceId conference = 0;
  ParticipantId participant = 0;
  // kAddParticipant / kSetCodec
  CodecParams codec;
  uint8_t payload_type = 0;  // negotiated PT for `codec` (both directions)
  rtp::StreamConfig stream;  // stream.id is assigned by the engine
  // kAddParticipant / kSetRemote
  bool has_remote = false;
  boost::asio::ip::udp::endpoint remote_rtp;
  boost::asio::ip::udp::endpoint remote_rtcp;  // port 0 = rtp port + 1
  // kAddParticipant / kSetSrtp
  bool has_srtp = false;
  rtp::SrtpKeys srtp;
  // kAddParticipant / kUpdateParticipant / kSetCodec / kMoveParticipant (in the target)
  ParticipantSettings settings;
  // kMoveParticipant: the conference the member moves to.
  ConferenceId target = 0;
  // kSetMusic, kPlayPrompt
  std::string music_file;
  // kSetSpan: the conference's top-K and the links to every other part.
  size_t top_k = 3;
  int span_rate = 48000;
  std::vector<SpanEndpoint::Port> span_ports;
  // kStartRecording: the buffer the room's taps fill (the caller gives the
  // same buffer to a record::Writer); kStart/kStopRecording, kPlayNotice:
  // the tone the room hears (beeps = 0: none).
  std::shared_ptr<RecordingBuffer> recording;
  // kStartRecording, set by the engine per part: the buffer's lane this
  // part fills (0: the first part, which records the mix).
  size_t recording_lane = 0;
  NoticeTone notice;
  // Built by the engine (never by the caller); owned by the command.
  PreparedPtr prepared;
};

}  // namespace chorus::mixer
