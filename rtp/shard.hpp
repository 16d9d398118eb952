#pragma once
// A media shard: one thread with its own io_context and buffer pool, the
// streams attached to it, and the periodic tick on ABSOLUTE deadlines (steady
// clock, deadline += interval, never sleep-and-poll, so no drift), which
// counts deadline misses and keeps a histogram of tick durations.
//
// The shard owns no stream and no ring: streams are built off the shard
// thread (StreamFactory, which owns the port pool) and owned by whoever
// attached them (the mixer's member); the owner detaches a stream and hands
// it to retire() to be freed two ticks later. The tick handler (the mixer)
// owns the command and event rings. The shard never frees a stream on its own
// initiative: an RTP timeout is only reported (StreamObserver).
//
// Per tick, on the shard thread: free streams retired two ticks ago, drain
// the sockets, the handler's commands (TickHandler::on_commands), per-stream
// housekeeping (RTCP, inactivity), the handler's tick (the mixer: pull,
// decode, mix, encode, send), then one sendmmsg per socket.
// Receiving is batched on the tick: the thread sleeps on a timerfd armed at
// the absolute tick deadline (and an eventfd that stop() writes), and each
// tick first drains every socket that a second, never-waited-on epoll set
// (level-triggered, each socket added once when its stream opens) reports
// readable, with recvmmsg until a short batch. One wake-up per tick instead of
// one per datagram; each datagram keeps its own arrival time from the
// kernel's receive timestamp (SO_TIMESTAMPNS), so jitter and latching see the
// real arrival, not the tick. Nothing is lost by waiting: the mixer pulls only
// on the tick. The io_context only owns the sockets; it never runs.
//
// With io_uring (ShardConfig::io, issue #16; rtp/uring_io.hpp) the same tick
// does the same work in a few system calls for the whole shard: each socket
// has a multishot recvmsg armed, so datagrams land in a shared buffer ring
// between ticks without waking the thread, and the drain reaps their
// completions (with the SO_TIMESTAMPNS arrival time, in arrival order per
// socket); after the mixer tick every stream's queued datagrams go out as
// sendmsg SQEs in one io_uring_enter. The probe in the constructor decides:
// when io_uring is refused (seccomp, io_uring_disabled, an old kernel) the
// shard keeps recvmmsg/sendmmsg and io_error() says why.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "rtp/asio.hpp"
#include "rtp/buffer_pool.hpp"
#include "rtp/event.hpp"
#include "rtp/histogram.hpp"
#include "rtp/io_backend.hpp"
#include "rtp/route_table.hpp"
#include "rtp/rtcp_scheduler.hpp"
#include "rtp/spsc_ring.hpp"
#include "rtp/stream.hpp"
#include "rtp/stream_config.hpp"
#include "rtp/tick_handler.hpp"
#include "rtp/udp_batch.hpp"
#include "rtp/uring_io.hpp"
#include "webrtc/dtls_worker.hpp"
#include "webrtc/stun_responder.hpp"

namespace chorus::rtp {

struct ShardConfig {
  uint32_t index = 0;
  boost::asio::ip::address bind_address = boost::asio::ip::address_v4::any();
  uint16_t port_first = 20000;  // even RTP ports in [port_first, port_last] (StreamFactory)
  uint16_t port_last = 29999;
  std::chrono::microseconds tick_interval{20'000};
  // A tick that starts later than deadline + budget is a miss: counted, and the
  // schedule skips forward to the next deadline still ahead. At most one
  // tick_interval (the Shard clamps it), so a tick that starts more than one
  // period late is always counted (chorus_shard_deadline_misses_total).
  std::chrono::microseconds miss_budget{10'000};
  std::chrono::milliseconds rtp_timeout{30'000};
  size_t max_streams = 1024;
  // Packet buffers allocated at start-up: the receive batch plus, per stream,
  // what its send queues may hold within a tick.
  size_t buffer_count = 4096;
  RtcpScheduler::Config rtcp;
  // Scheduling of the shard thread, each off by default: SCHED_FIFO at this
  // priority (1..99; 0: the normal scheduler), and pinned to this CPU (-1:
  // anywhere). Refused without the capability (CAP_SYS_NICE, or a cgroup
  // that forbids it): the thread runs on as it was and the refusal shows in
  // realtime_error() / pin_error().
  int realtime_priority = 0;
  int cpu = -1;
  // Socket I/O: io_uring when the start-up probe passes (kAuto, kUring), or
  // recvmmsg/sendmmsg per socket (kMmsg, and wherever the probe fails).
  // kAuto: io_uring cost 0.65-0.82 of the CPU per participant (bench/RESULTS.md,
  // issue #16).
  IoBackend io = IoBackend::kAuto;
  // Per-member ports (the default) or one socket per shard
  // (PortMode::kShared): bound to port_first at construction, members told
  // apart by source address (rtp/route_table.hpp), recvmmsg and sendmmsg of
  // up to UdpReceiveBatch::kBatch datagrams per call for the whole shard.
  // The shared mode always uses recvmmsg/sendmmsg (io_backend() says kMmsg).
  PortMode port_mode = PortMode::kPerMember;
  // Tests: the io_uring probe fails as where the kernel refuses io_uring.
  bool test_uring_unavailable = false;
  // WebRTC members (issue #18): this shard's end of the DTLS worker (not
  // owned; null = no WebRTC, such a stream does not attach), and how long a
  // member may go without a valid STUN check or authenticated SRTP
  // (RFC 7675 §5.1: 30 s; tests shorten it).
  webrtc::DtlsChannel* dtls = nullptr;
  std::chrono::milliseconds consent_timeout{30'000};
  // The initial retransmission timeout of our check to a candidate address
  // (RFC 5389 §7.2.1, RFC 8445 §14.3: 500 ms), doubled after each send,
  // Stream::kCandidateSends sends, given up Stream::kCandidateLastWait RTOs
  // after the last: 39.5 s at 500 ms. Tests shorten it.
  std::chrono::milliseconds candidate_rto{500};
  // How often a WebRTC stream tells the DTLS worker it is still attached
  // (DtlsChannel::alive), so a long call's connected handshake is not taken
  // for one a lost stop left behind (DtlsWorker::Config::connected_idle,
  // 10 min: keep this well below it). Tests shorten both.
  std::chrono::milliseconds dtls_alive_interval{60'000};
};

// WebRTC counters of one shard (every stream's, summed as they happen).
enum class WebRtcCounter : uint8_t {
  kStunSuccess,
  kStunBadIntegrity,     // 401
  kStunUnknownUsername,  // 401
  kStunBadRequest,       // 400
  kStunOther,            // 420, 487, ignored, malformed, no room for the answer
  kDtlsUnlatched,        // DTLS/SRTP from neither the latched address nor (DTLS, before a
                         // latch) the candidate being checked: dropped
  kPlainRtp,             // RTP/RTCP before DTLS-SRTP keys: dropped
  kDtlsRefused,          // the channel's request ring was full: datagram dropped
  kDtlsSendDropped,      // a handshake datagram with no latched address (nor room to hold it
                         // for the candidate), held for an address that did not latch, or no
                         // room twice
  kDtlsConnected,        // keys installed
  kConsentExpired,
  kDtlsFailed,
  kDtlsClosed,
  kDtlsStopDeferred,  // a stop the channel refused, kept for a later tick
  kDtlsStopLost,      // a stop refused with the pending list full (never in practice)
  kStunUnanswered,    // an error answer not sent: the stream's queue already held one
  // Return routability (RFC 7675): our own checks to an address before media goes there.
  kCheckStarted,    // a candidate address to verify (a first check, or a new nomination)
  kCheckSent,       // one of our Binding requests queued (a candidate's or a consent check)
  kCheckVerified,   // a candidate answered: media moved there
  kCheckGaveUp,     // a candidate never answered: the latch stayed where it was
  kCheckUnmatched,  // a Binding success that answers none of our open checks: dropped
  // A valid check's source not made a candidate: an address we never check
  // (unspecified, multicast, broadcast, port 0, our own socket, loopback
  // for a member that is not on loopback)...
  kCandidateRefused,
  // ...or a new candidate within Stream::kCandidateSpacing of the last one
  // (kept as the one deferred nomination, started when the spacing allows).
  kCandidateDeferred,
  kCount,
};

class Shard final : private UringSink {
 public:
  using Clock = std::chrono::steady_clock;
  using DurationHistogram = Log2Histogram<24>;  // microseconds

  explicit Shard(const ShardConfig& config);
  ~Shard();  // stop()s, then frees the retired streams (attached ones are their owners')
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // start spawns the thread; stop asks it to finish and joins. Not restartable.
  void start();
  void stop();
  boost::asio::io_context& io() { return io_; }
  const ShardConfig& config() const { return config_; }

  // Before start(); runs on the shard thread every tick. Not owned: it must
  // outlive the thread (stop() first). The observer hears what streams
  // notice (timeouts, RFC 4733 digits, SSRC changes), also on the shard thread.
  void set_tick_handler(TickHandler* handler) { tick_handler_ = handler; }
  void set_stream_observer(StreamObserver* observer) { observer_ = observer; }
  StreamObserver* stream_observer() const { return observer_; }

  // ---- shard thread (before start(): the caller is the shard thread)
  // Registers a stream its owner built for this shard (StreamFactory): its
  // sockets are drained every tick, it gets housekeeping and its sends are
  // flushed. False (nothing registered) when max_streams is reached, the id
  // is taken or the kernel refuses to watch a socket.
  bool attach(Stream& stream);
  // Unregisters and closes the stream's sockets now (its port is free for the
  // factory once the owner reports it closed). Idempotent.
  void detach(Stream& stream);
  // Takes a stream its owner is done with: detaches it and frees it two
  // ticks later, so nothing still holding the pointer within the tick that
  // retired it touches freed memory. Never fails, never allocates (the
  // graveyard is reserved to max_streams).
  void retire(std::unique_ptr<Stream> stream);
  Stream* find_stream(StreamId id);
  // Shared-port mode: the tag a WebRTC stream puts in its checks'
  // transaction ids (CheckSender::next_id(tag)), so the answers find it.
  uint32_t check_tag(StreamId id) const { return id ^ check_tag_mask_; }
  size_t stream_count() const { return streams_.size(); }
  // Sends what `streams` (attached ones) queued so far this tick, now rather
  // than at the tick's end: a room's packets leave as soon as it is mixed.
  // recvmmsg/sendmmsg: one sendmmsg per socket; io_uring: their sendmsg SQEs
  // in one submission, completions reaped at the tick's end. Never blocks.
  void send_now(std::span<Stream* const> streams);
  BufferPool& buffers() { return buffers_; }
  // Shared-port mode: the port every stream of the shard uses, and the
  // route tables brought in line with what `stream` claims now (the stream
  // calls it when its SDP address, latch, SRTP or SSRC changes).
  uint16_t shared_port() const { return shared_port_; }
  void update_routes(Stream& stream);
  webrtc::DtlsChannel* dtls_channel() const { return config_.dtls; }
  // Tells the DTLS worker a handshake ended (DtlsChannel::stop). A stop the
  // channel refuses (its request ring full) is kept and offered again, in
  // order, at the start of every tick until the worker takes it, so the
  // worker always learns of it; no start goes out while one waits
  // (dtls_stops_pending), so a stop never overtakes a later start of the
  // same id. Never allocates: the list is reserved at construction.
  void stop_dtls(uint64_t id);
  bool dtls_stops_pending() const { return !pending_stops_.empty(); }
  void count(WebRtcCounter c, uint64_t n = 1) {
    auto& a = webrtc_counters_[static_cast<size_t>(c)];
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void count_stun(webrtc::StunOutcome outcome);

  // ---- any thread (relaxed counters)
  uint64_t ticks() const { return ticks_.load(std::memory_order_relaxed); }
  uint64_t deadline_misses() const { return misses_.load(std::memory_order_relaxed); }
  // Streams attached now (a relaxed copy of stream_count()).
  size_t streams_attached() const { return streams_attached_.load(std::memory_order_relaxed); }
  uint64_t datagrams_received() const { return datagrams_.load(std::memory_order_relaxed); }
  // Shared-port mode: datagrams from a source no stream claims (dropped
  // before any stream sees them), claims refused because another stream holds
  // the address or SSRC, and the recvmmsg/sendmmsg calls made on the socket.
  // A STUN request from an unknown source reaches the WebRTC member whose
  // local ufrag its USERNAME names (nothing else from such a source does).
  uint64_t unknown_source_drops() const { return unknown_source_.load(std::memory_order_relaxed); }
  uint64_t route_conflicts() const { return route_conflicts_.load(std::memory_order_relaxed); }
  uint64_t shared_receive_calls() const { return receive_calls_.load(std::memory_order_relaxed); }
  uint64_t shared_send_calls() const { return send_calls_.load(std::memory_order_relaxed); }
  uint64_t webrtc_count(WebRtcCounter c) const {
    return webrtc_counters_[static_cast<size_t>(c)].load(std::memory_order_relaxed);
  }
  // The shared socket's receive and send buffers as the kernel granted them.
  int shared_receive_buffer() const { return shared_rcvbuf_; }
  int shared_send_buffer() const { return shared_sndbuf_; }
  const DurationHistogram& tick_durations_us() const { return tick_durations_; }
  // How late each tick started after its deadline (timer wake-up, or the
  // previous tick overrunning), and for the ticks counted as misses, the
  // longest duration of the tick just before one: a miss after a short tick
  // was a late wake-up (the kernel's own work on the CPU, preemption), a miss
  // after a long one was the shard's own work.
  const DurationHistogram& tick_lateness_us() const { return tick_lateness_; }
  uint64_t miss_preceding_tick_max_us() const {
    return miss_preceding_tick_max_us_.load(std::memory_order_relaxed);
  }
  bool running() const { return running_.load(std::memory_order_acquire); }
  // After start(): 0 when the requested scheduling was applied (or none was
  // requested), else the errno that refused it.
  int realtime_error() const { return realtime_error_; }
  int pin_error() const { return pin_error_; }
  // The socket I/O in use (kUring or kMmsg; never kAuto), and why io_uring
  // is not when it was asked for (an errno; 0 otherwise).
  IoBackend io_backend() const { return uring_ ? IoBackend::kUring : IoBackend::kMmsg; }
  int io_error() const { return io_error_; }
  // Sockets io_uring uses through its fixed-file table (0 on recvmmsg).
  size_t io_fixed_sockets() const { return uring_ ? uring_->fixed_sockets() : 0; }

 private:
  // Applies ShardConfig::realtime_priority and cpu to the calling thread.
  void apply_scheduling();
  void loop();
  void arm_tick();
  void on_tick_timer();
  bool watch(int epoll_fd, int fd, uint64_t tag);  // false when epoll_ctl refuses
  void detach_sockets(Stream& stream);
  void run_tick(Clock::time_point now);
  void drain_ready();
  void drain(Stream* stream, bool rtcp_socket);
  void take_clock();
  Clock::time_point arrival(const timespec* kernel_time) const;
  void flush_all();
  // WebRTC: this tick's events from the DTLS worker.
  void poll_dtls();
  // Shared-port mode.
  void open_shared_socket();
  void drain_shared();
  void send_shared(std::span<Stream* const> streams);
  void send_shared_batch(size_t count);
  void remove_routes(Stream& stream);
  // Registers what `want` names and `stream` does not hold yet: a free key,
  // or one another stream holds with a lower rank (proven over named over a
  // WebRTC candidate; that stream's claim then waits). Returns the claims
  // refused.
  uint64_t claim_routes(Stream& stream, const Stream::Routes& want);
  // Gives the streams whose claims wait (Routes::pending) another try, after
  // a route was released or lost its proof.
  void claim_pending(const Stream* except);
  // UringSink
  void on_received(Stream& stream, bool rtcp, std::span<uint8_t> datagram,
                   const sockaddr_storage& source, const timespec* kernel_time,
                   bool truncated) override;
  void on_sent(Stream& stream, int result) override;

  ShardConfig config_;
  boost::asio::io_context io_{1};  // owns the sockets; never run
  int epoll_fd_ = -1;              // the timerfd and the eventfd: the thread blocks here
  int sockets_fd_ = -1;            // every stream socket: polled once per tick, never waited on
  int timer_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop() wakes the loop
  TickHandler* tick_handler_ = nullptr;
  StreamObserver* observer_ = nullptr;
  std::thread thread_;
  std::atomic<bool> running_{false};
  // Written by the shard thread before start() returns (start waits for it).
  int realtime_error_ = 0;
  int pin_error_ = 0;
  std::atomic<bool> stop_requested_{false};
  bool started_ = false;

  BufferPool buffers_;
  UdpReceiveBatch receive_batch_;
  std::unique_ptr<UringIo> uring_;  // null: recvmmsg/sendmmsg
  int io_error_ = 0;
  std::vector<Stream*> streams_;  // attached (owned elsewhere); reserved to max_streams
  // Shared-port mode: the socket, its routes and the outgoing batch.
  int shared_fd_ = -1;
  uint16_t shared_port_ = 0;
  int shared_rcvbuf_ = 0;
  int shared_sndbuf_ = 0;
  FixedMap<SourceKey, Route, SourceKeyHash> source_routes_;
  // Some attached stream's claim may wait (Routes::pending); false only
  // when none does, so claim_pending can skip its walk.
  bool any_pending_ = false;
  FixedMap<uint32_t, Route, SsrcHash> ssrc_routes_;
  FixedMap<uint64_t, Stream*, UfragKeyHash> ufrag_routes_;  // WebRTC members' local ufrags
  // WebRTC members by the tag of their checks' transaction ids (check_tag):
  // a Binding success goes to the stream whose check it answers, whatever
  // its source claims.
  FixedMap<uint32_t, Stream*, SsrcHash> check_routes_;
  uint32_t check_tag_mask_ = 0;  // random: the tags do not show stream ids
  std::array<mmsghdr, UdpReceiveBatch::kBatch> out_msgs_{};
  std::array<Stream*, UdpReceiveBatch::kBatch> out_owners_{};
  // Retired streams, freed two ticks later, so that nothing still holding the
  // pointer within the tick that retired it (the mixer, a drain) touches freed
  // memory; drain() sees the closed socket and stops.
  struct Closed {
    std::unique_ptr<Stream> stream;
    uint64_t tick;
  };
  std::vector<Closed> graveyard_;

  // The DTLS event being handled; held over to the next tick when its
  // stream's send queue is full (the channel's order is kept).
  webrtc::DtlsEvent dtls_event_;
  bool dtls_held_ = false;
  // DTLS stops the channel refused, oldest first (stop_dtls); reserved to
  // two per stream (a detach and a fingerprint restart).
  std::vector<uint64_t> pending_stops_;

  Clock::time_point deadline_{};
  // CLOCK_REALTIME - steady clock, taken once per drain, turns the kernel's
  // receive timestamps into steady time points.
  std::chrono::nanoseconds wall_minus_steady_{0};
  Clock::time_point drain_now_{};
  uint64_t tick_number_ = 0;

  alignas(kCacheLine) std::atomic<uint64_t> ticks_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> datagrams_{0};
  std::atomic<size_t> streams_attached_{0};
  std::atomic<uint64_t> unknown_source_{0};
  std::atomic<uint64_t> route_conflicts_{0};
  std::atomic<uint64_t> receive_calls_{0};
  std::atomic<uint64_t> send_calls_{0};
  DurationHistogram tick_durations_;
  DurationHistogram tick_lateness_;
  uint64_t last_tick_us_ = 0;  // shard thread: the previous tick's duration
  std::atomic<uint64_t> miss_preceding_tick_max_us_{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(WebRtcCounter::kCount)> webrtc_counters_{};
};

}  // namespace chorus::rtp
