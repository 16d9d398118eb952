#pragma once
// Events from a shard to the signalling thread, through a bounded SPSC ring. A
// full ring drops the event and counts it; the shard never waits.

#include <array>
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
  uint64_t no_buffer = 0;    // receive pool exhausted
  uint64_t send_failed = 0;  // sendmmsg refused or queue full
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

enum class EventKind : uint8_t {
  kStreamOpened,      // local_port
  kStreamOpenFailed,  // no free port, bind failed, or duplicate id
  kStreamClosed,
  kRtpTimeout,  // nothing received for the configured time
  kDtmf,        // digit
  kSsrcChange,  // previous_ssrc → ssrc
  kStats,
  kCommandFailed,  // user_code = the CommandKind that failed (unknown stream, bad keys)
  kUser,           // posted by the mixer through Shard::post_event
};

struct Event {
  EventKind kind = EventKind::kUser;
  StreamId stream = 0;
  uint16_t local_port = 0;
  char digit = 0;
  uint32_t ssrc = 0;
  uint32_t previous_ssrc = 0;
  StreamStats stats;
  uint32_t user_code = 0;
  std::array<uint64_t, 4> user_args{};
};

}  // namespace chorus::rtp
