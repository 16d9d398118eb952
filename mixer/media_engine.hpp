#pragma once
// The media side as the focus sees it: one acknowledged command interface.
//
// The contract (ARCHITECTURE.md "Media commands"):
// - Commands name a conference and a participant, never a stream or socket.
// - submit() either accepts a command (and returns its id) or refuses it
//   (nullopt: back-pressure, nothing changed). An accepted command ends in
//   exactly one completion event, kDone or kFailed with a Failure, carrying
//   the same id. Lifecycle commands (add, remove, codec, keys, remote) are
//   not dropped once accepted: when a shard's ring is full they wait, in
//   order, in the engine's bounded retry queue and go out on a later poll().
//   Once that queue is at its limit every command for the shard is refused
//   (nullopt) like an add; the caller keeps what must not be lost and submits
//   it again (the focus: focus/rooms/media_session.cpp).
// - An add is refused (nullopt) when its shard is backed up, so the focus
//   answers the new call 503 + Retry-After instead of queueing without bound.
// - Only notifications (talker changes, levels, statistics) may be dropped,
//   and those drops are counted.
// - Heavy set-up (codec state, music clips, sockets) is done by the engine
//   on the calling thread and handed to the shard inside the command.
// Everything here runs on the signalling thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "mixer/command.hpp"
#include "mixer/event.hpp"

namespace chorus::mixer {

// One shard as /metrics and the churn checks see it (relaxed reads).
struct ShardStatus {
  static constexpr size_t kHistogramBuckets = 24;
  uint32_t index = 0;
  uint64_t ticks = 0;
  uint64_t deadline_misses = 0;
  // Scheduling asked for (ShardConfig) and the errno that refused it (0: applied).
  int cpu = -1;
  int realtime_priority = 0;
  int realtime_error = 0;
  int pin_error = 0;
  // The socket I/O in use ("uring" or "mmsg"), and why io_uring is not when
  // it was asked for (an errno; 0 otherwise).
  std::string_view io_backend = "mmsg";
  int io_error = 0;
  // "per-member" or "shared" (ShardConfig::port_mode); shared: its one port,
  // the socket buffers the kernel granted, datagrams from sources no member
  // claims and claims refused because another member holds the address/SSRC.
  std::string_view port_mode = "per-member";
  uint16_t shared_port = 0;
  int shared_receive_buffer = 0;
  int shared_send_buffer = 0;
  size_t max_streams = 0;
  uint64_t unknown_source_drops = 0;
  uint64_t route_conflicts = 0;
  uint64_t datagrams_received = 0;
  uint64_t events_dropped = 0;       // notifications only (talker, level, stats)
  uint64_t commands_deferred = 0;    // waited in the retry queue because the ring was full
  uint64_t commands_refused = 0;     // adds refused for back-pressure (answered 503), and
                                     // other commands refused at the retry queue's limit
  size_t retry_queue = 0;            // commands waiting now
  size_t members = 0;                // participants the shard holds
  size_t streams = 0;                // rtp streams open on the shard
  size_t ports_free = 0;             // RTP ports left in the shard's pool
  std::array<uint64_t, kHistogramBuckets> tick_duration_us{};  // log2 buckets
  uint64_t tick_duration_max_us = 0;
  std::array<uint64_t, kHistogramBuckets> tick_lateness_us{};  // start after the deadline
  uint64_t tick_lateness_max_us = 0;
  uint64_t miss_preceding_tick_max_us = 0;  // longest tick just before a miss
  // Added by the media side:
  size_t pending_adds = 0;            // adds (and commands behind them) waiting on the shard
  uint64_t commands_applied = 0;      // commands the shard applied (fan-out parts counted each)
  uint64_t mix_ticks = 0;             // ticks the mixer ran
  uint64_t decodes_skipped = 0;       // RFC 6464 silent packets not decoded
  uint64_t groups_built_on_tick = 0;  // shared encoders the tick had to build itself
  uint64_t frames_fec_recovered = 0;  // lost frames rebuilt from Opus in-band FEC
  uint64_t frames_concealed = 0;      // lost frames concealed by the decoder
  // WebRTC members (issue #18), every stream of the shard summed: STUN
  // checks by outcome, DTLS/SRTP from an address no check latched and plain
  // RTP before keys (dropped), members ended by consent expiry and by a DTLS
  // failure or close seen on the shard, handshakes keyed.
  uint64_t stun_success = 0;
  uint64_t stun_bad_integrity = 0;     // answered 401
  uint64_t stun_unknown_username = 0;  // answered 401
  uint64_t stun_bad_request = 0;       // answered 400
  uint64_t stun_other = 0;             // 420, 487, ignored, malformed
  uint64_t webrtc_unlatched_drops = 0;
  uint64_t webrtc_plain_rtp_drops = 0;
  uint64_t webrtc_stun_unanswered = 0;    // error answers not sent (one per flush)
  uint64_t webrtc_dtls_send_dropped = 0;  // handshake datagrams with no address or no room
  uint64_t webrtc_consent_expired = 0;
  uint64_t webrtc_dtls_failed = 0;
  uint64_t webrtc_dtls_closed = 0;
  uint64_t webrtc_dtls_connected = 0;
  // Return routability (RFC 7675): our own Binding checks to a candidate
  // address before media goes there, by outcome (rtp::WebRtcCounter).
  uint64_t webrtc_checks_started = 0;
  uint64_t webrtc_checks_verified = 0;
  uint64_t webrtc_checks_gave_up = 0;
  uint64_t webrtc_checks_unmatched = 0;     // a success answering none of our checks
  uint64_t webrtc_candidates_refused = 0;   // an address we never check
  uint64_t webrtc_candidates_deferred = 0;  // within the spacing of the last candidate
};

// The DTLS worker's handshake counters (webrtc::DtlsWorker::Stats).
struct DtlsStats {
  uint64_t started = 0;
  uint64_t connected = 0;
  uint64_t failed = 0;
  uint64_t fingerprint_mismatch = 0;  // part of failed
  uint64_t timeouts = 0;              // part of failed
  uint64_t closed = 0;
};

class MediaEngine {
 public:
  virtual ~MediaEngine() = default;

  virtual void start() = 0;
  // Stops the shards; commands still queued complete as kFailed/kShuttingDown.
  virtual void stop() = 0;

  // Accepts `command` (its id is assigned here and returned) or refuses it.
  virtual std::optional<CommandId> submit(Command command) = 0;
  // The next event from any shard; false when there is none right now. Also
  // flushes the retry queue into rings that have room.
  virtual bool poll(Event& event) = 0;

  virtual size_t shard_count() const = 0;
  virtual ShardStatus shard_status(size_t index) const = 0;
  // Handshake counters of the DTLS worker; nullopt without WebRTC.
  virtual std::optional<DtlsStats> dtls_stats() const { return std::nullopt; }
};

}  // namespace chorus::mixer
