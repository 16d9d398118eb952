#pragma once
// A media shard: one thread with its own io_context, port pool, buffer pool and
// streams; a command ring in from the signalling thread and an event ring out
// to it; and the periodic tick on ABSOLUTE deadlines (steady clock, deadline +=
// interval, never sleep-and-poll, so no drift), which counts deadline misses
// and keeps a histogram of tick durations.
//
// Per tick, on the shard thread: free streams closed last tick, apply queued
// commands, per-stream housekeeping (RTCP, inactivity), the tick handler (the
// mixer: pull, decode, mix, encode, send), then one sendmmsg per socket.
// Receiving is batched on the tick: the thread sleeps on a timerfd armed at
// the absolute tick deadline (and an eventfd that stop() writes), and each
// tick first drains every socket that a second, never-waited-on epoll set
// (level-triggered, each socket added once when its stream opens) reports
// readable, with recvmmsg until a short batch. One wake-up per tick instead of
// one per datagram; each datagram keeps its own arrival time from the
// kernel's receive timestamp (SO_TIMESTAMPNS), so jitter and latching see the
// real arrival, not the tick. Nothing is lost by waiting: the mixer pulls only
// on the tick. The io_context only owns the sockets; it never runs.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "rtp/asio.hpp"
#include "rtp/buffer_pool.hpp"
#include "rtp/command.hpp"
#include "rtp/event.hpp"
#include "rtp/histogram.hpp"
#include "rtp/port_pool.hpp"
#include "rtp/rtcp_scheduler.hpp"
#include "rtp/spsc_ring.hpp"
#include "rtp/stream.hpp"
#include "rtp/stream_config.hpp"
#include "rtp/tick_handler.hpp"
#include "rtp/udp_batch.hpp"

namespace chorus::rtp {

struct ShardConfig {
  uint32_t index = 0;
  boost::asio::ip::address bind_address = boost::asio::ip::address_v4::any();
  uint16_t port_first = 20000;  // even RTP ports in [port_first, port_last]
  uint16_t port_last = 29999;
  std::chrono::microseconds tick_interval{20'000};
  // A tick that starts later than deadline + budget is a miss: counted, and the
  // schedule skips forward to the next deadline still ahead.
  std::chrono::microseconds miss_budget{10'000};
  std::chrono::milliseconds rtp_timeout{30'000};
  size_t max_streams = 1024;
  // Packet buffers allocated at start-up: the receive batch plus, per stream,
  // what its send queues may hold within a tick.
  size_t buffer_count = 4096;
  RtcpScheduler::Config rtcp;
};

class Shard {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kCommandRingSize = 1024;
  static constexpr size_t kEventRingSize = 4096;
  using DurationHistogram = Log2Histogram<24>;  // microseconds

  explicit Shard(const ShardConfig& config);
  ~Shard();  // stop()s, then closes every stream
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // start spawns the thread; stop asks it to finish and joins. Not restartable.
  void start();
  void stop();
  boost::asio::io_context& io() { return io_; }
  const ShardConfig& config() const { return config_; }

  // Before start(); on_tick runs on the shard thread after the shard applied
  // its commands. Not owned: it must outlive the thread (stop() first).
  void set_tick_handler(TickHandler* handler) { tick_handler_ = handler; }

  // ---- signalling thread (the single producer / consumer of the rings)
  // False when the ring is full (counted in commands_dropped()).
  bool post(const Command& command);
  bool poll_event(Event& event);

  // ---- shard thread (the mixer, from on_tick / on_command)
  // Allocates an even port (+1 for RTCP unless rtcp-mux) and binds; nullptr
  // when the pool is exhausted, the id is taken or max_streams is reached.
  Stream* open_stream(const StreamConfig& config);
  // Closes the sockets now; the object is freed at the next tick boundary.
  void close_stream(Stream* stream);
  Stream* find_stream(StreamId id);
  size_t stream_count() const { return streams_.size(); }
  // Shard → signalling; false when the event ring is full (counted).
  bool post_event(const Event& event);
  BufferPool& buffers() { return buffers_; }
  const PortPool& ports() const { return ports_; }

  // ---- any thread (relaxed counters)
  uint64_t ticks() const { return ticks_.load(std::memory_order_relaxed); }
  uint64_t deadline_misses() const { return misses_.load(std::memory_order_relaxed); }
  uint64_t commands_dropped() const { return commands_dropped_.load(std::memory_order_relaxed); }
  uint64_t events_dropped() const { return events_dropped_.load(std::memory_order_relaxed); }
  uint64_t datagrams_received() const { return datagrams_.load(std::memory_order_relaxed); }
  const DurationHistogram& tick_durations_us() const { return tick_durations_; }
  bool running() const { return running_.load(std::memory_order_acquire); }

 private:
  void loop();
  void arm_tick();
  void on_tick_timer();
  bool watch(int epoll_fd, int fd, uint64_t tag);  // false when epoll_ctl refuses
  void run_tick(Clock::time_point now);
  void apply(const Command& command);
  void fail(const Command& command);
  void drain_ready();
  void drain(Stream* stream, bool rtcp_socket);
  uint32_t next_ssrc();

  ShardConfig config_;
  boost::asio::io_context io_{1};  // owns the sockets; never run
  int epoll_fd_ = -1;   // the timerfd and the eventfd: the thread blocks here
  int sockets_fd_ = -1;  // every stream socket: polled once per tick, never waited on
  int timer_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop() wakes the loop
  TickHandler* tick_handler_ = nullptr;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_requested_{false};
  bool started_ = false;

  BufferPool buffers_;
  PortPool ports_;
  UdpReceiveBatch receive_batch_;
  std::vector<std::unique_ptr<Stream>> streams_;  // reserved to max_streams
  // Closed streams, freed two ticks later, so that nothing still holding the
  // pointer within the tick that closed it (the mixer, a drain) touches freed
  // memory; drain() sees the closed socket and stops.
  struct Closed {
    std::unique_ptr<Stream> stream;
    uint64_t tick;
  };
  std::vector<Closed> graveyard_;
  uint64_t rng_state_;

  Clock::time_point deadline_{};
  // CLOCK_REALTIME - steady clock, taken once per drain, turns the kernel's
  // receive timestamps into steady time points.
  std::chrono::nanoseconds wall_minus_steady_{0};
  Clock::time_point drain_now_{};
  uint64_t tick_number_ = 0;

  // Rings: commands (signalling → shard), events (shard → signalling).
  std::unique_ptr<SpscRing<Command, kCommandRingSize>> commands_;
  std::unique_ptr<SpscRing<Event, kEventRingSize>> events_;

  alignas(kCacheLine) std::atomic<uint64_t> ticks_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> events_dropped_{0};
  std::atomic<uint64_t> datagrams_{0};
  alignas(kCacheLine) std::atomic<uint64_t> commands_dropped_{0};  // written by the producer
  DurationHistogram tick_durations_;
};

}  // namespace chorus::rtp
