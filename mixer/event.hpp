#pragma once

#include <cstdint>
#include <string_view>

#include "mixer/command.hpp"
#include "rtp/event.hpp"

namespace chorus::mixer {

// Why a command failed. Nothing changed on the shard when a command fails
// (a failed kSetCodec keeps the old codec; a failed add holds no port).
enum class Failure : uint8_t {
  kNone,
  kUnknownConference,
  kUnknownParticipant,
  kDuplicate,     // an add for a participant the conference already has
  kCodec,         // the codec could not be built
  kNoPort,        // the shard's port pool or stream table is exhausted
  kBadKeys,       // SRTP keys refused
  kCancelled,     // a remove arrived before the add it names was applied
  kShuttingDown,  // the engine stopped before the command was applied
  // Added by the media side (after the lead's list, values unchanged):
  kNoMusic,  // kSetMusic / kPlayPrompt: the file could not be read (the previous music stays)
  kInvalid,  // a command the caller may not submit (kSetSpan is the engine's own)
  // A WebRTC member (stream.webrtc) the engine cannot carry: no DTLS context
  // configured (EngineConfig::dtls_context).
  kNoWebRtc,
};
std::string_view failure_name(Failure failure);

// What the media side reports, always addressed by conference and
// participant. Completions (kDone, kFailed) answer one command each and are
// never dropped; notifications may be, counted in ShardStatus::events_dropped.
struct Event {
  enum class Kind : uint8_t {
    kDone,    // command `id` applied. kAddParticipant: value = local RTP port;
              // kRemoveParticipant: stats = the stream's final counters
    kFailed,  // command `id` not applied: `failure` says why
    // Notifications (id 0).
    kStartedTalking,  // value: level in -dBov (0..127)
    kStoppedTalking,
    kLevel,       // value: smoothed level in -dBov, once a second per talker
    kDtmf,        // value: the digit (ASCII), RFC 4733 or heard in-band
    kRtpTimeout,  // nothing received for the configured time
    kStats,       // stats: RFC 3550 figures and drop counters (after kReportStats)
    // A WebRTC member's media ended (value: rtp::MediaEndReason: consent
    // expired, DTLS failed, DTLS closed); the focus ends the call. Once per
    // member (until a kSetWebRtc restarts DTLS, or ICE after a consent
    // expiry); never dropped: it waits on the stream while the ring is full.
    kMediaEnded,
  };

  Kind kind = Kind::kDone;
  CommandId id = 0;
  Command::Kind command = Command::Kind::kAddParticipant;  // completions: what `id` was
  Failure failure = Failure::kNone;
  ConferenceId conference = 0;
  ParticipantId participant = 0;
  uint64_t value = 0;
  rtp::StreamStats stats;
};

}  // namespace chorus::mixer
