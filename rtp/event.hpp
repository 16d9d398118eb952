#pragma once
// A stream's statistics, and what a stream reports about itself (to the
// shard's StreamObserver, on the shard thread). The shard has no event ring
// of its own: the mixer's ring carries everything (mixer/event.hpp).

#include <cstdint>

#include "rtp/stream_config.hpp"

namespace chorus::rtp {

// Why received datagrams did not reach the jitter buffer.
struct DropCounters {
  uint64_t malformed = 0;    // not parseable RTP/RTCP
  uint64_t auth_failed = 0;  // SRTP/SRTCP unprotect failed (auth, replay, plain RTP)
  uint64_t stranger = 0;     // from an address other than the latched one
  uint64_t unknown_pt = 0;   // a payload type the stream does not expect
  uint64_t too_late = 0;     // jitter buffer: playout time passed
  uint64_t duplicate = 0;    // jitter buffer: already held
  uint64_t too_large = 0;    // does not fit a jitter buffer slot
  uint64_t too_early = 0;    // beyond the jitter buffer's reach
  uint64_t send_failed = 0;  // sendmmsg refused or queue full
  // A new SSRC's packets while on probation (RFC 3550 A.1): a source that
  // replaces the current one is followed only from its second packet in
  // sequence, so a stray or spoofed packet resets nothing.
  uint64_t ssrc_probation = 0;
  // WebRTC streams (issue #18): DTLS or SRTP from an address no valid STUN
  // check latched, and RTP/RTCP before DTLS-SRTP keys exist (never accepted).
  uint64_t webrtc_unlatched = 0;
  uint64_t webrtc_plain = 0;
};

struct StreamStats {
  uint64_t packets_received = 0;  // RTP accepted (after SRTP and latching)
  uint64_t bytes_received = 0;
  uint64_t rtcp_received = 0;
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t rtcp_sent = 0;
  int64_t cumulative_lost = 0;  // RFC 3550 A.3
  uint8_t fraction_lost = 0;    // RFC 3550 A.3, /256, last interval
  double jitter_ms = 0;         // RFC 3550 A.8
  double rtt_ms = -1;           // from RTCP LSR/DLSR; -1 = unknown
  double jitter_buffer_ms = 0;  // current depth
  double jitter_buffer_average_ms = 0;
  uint32_t remote_ssrc = 0;
  DropCounters drops;
};

// What a stream notices on its own (on the shard thread, inside the tick):
// told to the shard's observer (the mixer), which addresses it to a
// participant. Streams never free themselves; a timeout is only news.
class Stream;

// Why a WebRTC member's media ended on its own (issue #18).
enum class MediaEndReason : uint8_t {
  kConsentExpired,  // no valid STUN check and no authenticated SRTP (RFC 7675 §5.1)
  kDtlsFailed,      // the handshake failed (fingerprint mismatch, timeout, ...)
  kDtlsClosed,      // the browser sent close_notify
};
const char* media_end_reason_name(MediaEndReason reason);

class StreamObserver {
 public:
  virtual ~StreamObserver() = default;
  // Nothing received for the configured time (once, until media returns).
  // False: not taken now (a full event ring); the stream tells it again next
  // tick, since a lost timeout would leave a dead call up for ever.
  virtual bool on_rtp_timeout(Stream& /*stream*/) { return true; }
  // RFC 4733: one digit per key press.
  virtual void on_dtmf(Stream& /*stream*/, char /*digit*/) {}
  // RFC 3550 §8.2: the remote changed SSRC.
  virtual void on_ssrc_change(Stream& /*stream*/, uint32_t /*previous*/, uint32_t /*ssrc*/) {}
  // A WebRTC stream's media ended; the owner ends the member. False: not
  // taken now (a full event ring); the stream tells it again next tick.
  virtual bool on_media_ended(Stream& /*stream*/, MediaEndReason /*reason*/) { return true; }
};

}  // namespace chorus::rtp
