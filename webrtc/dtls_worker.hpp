#pragma once
// The thread that runs DTLS handshakes, so their crypto (ECDHE, ECDSA,
// certificate digests) never runs on a shard's tick (issue #18).
//
//   shard thread                               DTLS worker thread
//   DtlsChannel::start(id, fingerprint) ─┐
//   DtlsChannel::datagram(id, bytes)   ──┼─ requests ring ─▶ DtlsHandshake per (channel, id)
//   DtlsChannel::stop(id)              ──┘                   timers (DTLSv1_get_timeout /
//   DtlsChannel::poll(event)  ◀── events ring ──            DTLSv1_handle_timeout)
//     kSend: a datagram for the member's address
//     kConnected: SrtpKeys for rtp::SrtpSession (then wipe them)
//     kFailed: DtlsFailure (fingerprint mismatch, timeout, ...)  kClosed: close_notify
//
// One DtlsChannel per shard (a pair of bounded SPSC rings, rtp/spsc_ring.hpp):
// the shard is the only producer of its requests and the only consumer of
// its events. The shard-side calls copy into a ring slot: no allocation, no
// lock; a push also writes the worker's eventfd (one syscall; DTLS datagrams
// come only during a member's handshake). A full ring refuses (counted), the
// caller drops the datagram: DTLS retransmits.
//
// Every start ends in exactly one kConnected or kFailed (or kClosed after
// kConnected); a stop ends it silently. Events the worker cannot push yet
// wait on the worker, in order, never on the shard, in a backlog capped per
// channel at kBacklogCap: beyond it kSend events are dropped (counted
// sends_dropped; DTLS retransmits), kConnected/kFailed/kClosed never are,
// and the worker takes no more of that channel's requests until the shard
// has drained the backlog below the cap (its ring then refuses, counted).
// A shard that stops polling cannot grow the worker's memory without bound.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "rtp/spsc_ring.hpp"
#include "webrtc/dtls_transport.hpp"

namespace chorus::webrtc {

// Larger DTLS datagrams are refused (counted): browsers stay below the path MTU.
inline constexpr size_t kMaxDtlsDatagram = 1500;

struct DtlsRequest {
  enum class Kind : uint8_t { kNone, kStart, kDatagram, kStop, kAlive };
  Kind kind = Kind::kNone;
  uint64_t id = 0;     // the caller's name for the member (unique per channel)
  Fingerprint remote;  // kStart: from the peer's a=fingerprint
  uint16_t size = 0;   // kDatagram
  std::array<uint8_t, kMaxDtlsDatagram> data;
  std::span<const uint8_t> bytes() const { return {data.data(), size}; }
};

struct DtlsEvent {
  enum class Kind : uint8_t { kNone, kSend, kConnected, kFailed, kClosed };
  Kind kind = Kind::kNone;
  uint64_t id = 0;
  DtlsFailure failure = DtlsFailure::kNone;  // kFailed
  uint16_t size = 0;                         // kSend
  std::array<uint8_t, kMaxDtlsDatagram> data;
  SrtpKeys keys;  // kConnected: wipe() once the SRTP sessions are created

  std::span<const uint8_t> bytes() const { return {data.data(), size}; }

  DtlsEvent() = default;
  // Moving wipes the source's keys, so no copy stays behind in a ring slot.
  DtlsEvent(DtlsEvent&& other) noexcept { *this = std::move(other); }
  DtlsEvent& operator=(DtlsEvent&& other) noexcept;
  DtlsEvent(const DtlsEvent&) = delete;
  DtlsEvent& operator=(const DtlsEvent&) = delete;
  ~DtlsEvent() { keys.wipe(); }
};

class DtlsWorker;

// A shard's end of the worker. Every method is for that shard's thread only.
class DtlsChannel {
 public:
  static constexpr size_t kRing = 64;

  // Begin (or restart, for a changed fingerprint or ICE restart) the handshake
  // of member `id`.
  bool start(uint64_t id, const Fingerprint& remote);
  // A datagram the demux classified as DTLS, from member `id`'s address.
  bool datagram(uint64_t id, std::span<const uint8_t> bytes);
  // The member is gone: drop its handshake and keys, no event follows.
  bool stop(uint64_t id);
  // Member `id` is still attached (its stream sends this every
  // ShardConfig::dtls_alive_interval): its connected handshake is not idle,
  // whatever time passed without a DTLS datagram (Config::connected_idle).
  bool alive(uint64_t id);
  // The next event, if any.
  bool poll(DtlsEvent& out) { return events_.try_pop(out); }

  // Requests refused because the ring was full or the datagram too large.
  uint64_t refused() const { return refused_; }
  // Tests: shrink the request ring to force back-pressure.
  void set_request_capacity(size_t n) { requests_.set_capacity(n); }

 private:
  friend class DtlsWorker;
  explicit DtlsChannel(DtlsWorker& worker) : worker_(worker) {}
  bool push(DtlsRequest& request);

  DtlsWorker& worker_;
  rtp::SpscRing<DtlsRequest, kRing> requests_;
  rtp::SpscRing<DtlsEvent, kRing> events_;
  uint64_t refused_ = 0;
  DtlsRequest scratch_;  // built here, moved into the ring: no 1.5 KB on the shard's stack
};

class DtlsWorker {
 public:
  using Clock = std::chrono::steady_clock;

  struct Config {
    // A handshake not connected this long after its start fails (kTimeout),
    // whatever OpenSSL's retransmissions are doing.
    Clock::duration handshake_deadline = std::chrono::seconds(30);
    // Live handshakes per channel; a start beyond it fails at once.
    size_t max_handshakes_per_channel = 4096;
    // A connected handshake only answers a retransmitted client Finished and
    // notices close_notify; one that has heard neither a datagram nor its
    // stream's alive() this long is dropped silently (counted `expired`).
    // A live call's stream says alive() every minute (ShardConfig::
    // dtls_alive_interval), so its entry stays to honour a close_notify
    // however long the call; a stream stopping normally drops its entry at
    // once. This bounds the entries a stop never reached (a stop the shard
    // lost with its pending list full, kDtlsStopLost: the stream is gone,
    // nothing says alive), which would otherwise stay for the life of the
    // process. Well above the alive interval.
    Clock::duration connected_idle = std::chrono::minutes(10);
  };

  struct Stats {
    uint64_t started = 0;
    uint64_t connected = 0;
    uint64_t failed = 0;
    uint64_t fingerprint_mismatch = 0;  // part of failed
    uint64_t timeouts = 0;              // part of failed
    uint64_t closed = 0;
    uint64_t stopped = 0;        // stops that found their handshake (and dropped it)
    uint64_t unknown_id = 0;     // datagrams for no handshake (no start yet, or stopped)
    uint64_t expired = 0;        // connected handshakes dropped after connected_idle
    uint64_t sends_dropped = 0;  // kSend events dropped with the backlog at its cap
    uint64_t backlog_high = 0;   // the largest backlog of any channel
  };
  // Events waiting per channel beyond its full event ring.
  static constexpr size_t kBacklogCap = 4 * DtlsChannel::kRing;

  // `channels`: one per shard. `context` must outlive the worker.
  DtlsWorker(const DtlsContext& context, size_t channels, Config config);
  DtlsWorker(const DtlsContext& context, size_t channels)
      : DtlsWorker(context, channels, Config{}) {}
  ~DtlsWorker();
  DtlsWorker(const DtlsWorker&) = delete;
  DtlsWorker& operator=(const DtlsWorker&) = delete;

  DtlsChannel& channel(size_t i) { return *channels_[i]; }
  size_t channels() const { return channels_.size(); }

  void start();
  void stop();  // joins; handshakes still open are dropped

  // Any thread (relaxed counters).
  Stats stats() const;

 private:
  friend class DtlsChannel;
  struct Entry {
    std::unique_ptr<DtlsHandshake> handshake;
    Clock::time_point started;
    Clock::time_point last_heard;  // the start, then each datagram or alive() of the member
    DtlsState reported = DtlsState::kHandshaking;
  };
  struct Lane {  // the worker's side of one channel
    std::map<uint64_t, Entry> handshakes;
    std::deque<DtlsEvent> backlog;  // events waiting for room in the ring
  };

  void wake();
  void run();
  void handle(size_t channel, DtlsRequest& request);
  void collect(size_t channel, uint64_t id, Entry& entry);  // outputs and state changes
  void emit(size_t channel, DtlsEvent&& event);
  bool over_cap(size_t channel) const { return lanes_[channel].backlog.size() >= kBacklogCap; }
  void flush_backlogs();
  Clock::duration service_timers();

  const DtlsContext& context_;
  Config config_;
  std::vector<std::unique_ptr<DtlsChannel>> channels_;
  std::vector<Lane> lanes_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  DtlsRequest request_;  // the worker's pop target
  struct AtomicStats {
    std::atomic<uint64_t> started{0}, connected{0}, failed{0}, fingerprint_mismatch{0}, timeouts{0},
        closed{0}, stopped{0}, unknown_id{0}, expired{0}, sends_dropped{0}, backlog_high{0};
  } stats_;
};

}  // namespace chorus::webrtc
