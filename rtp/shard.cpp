#include "rtp/shard.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <stdexcept>
#include <string>

namespace chorus::rtp {

using boost::asio::ip::udp;

namespace {

// epoll tags: the two control descriptors, else a Stream* (aligned, so bit 0
// is free) with bit 0 set for its RTCP socket.
constexpr uint64_t kTagTimer = 0;
constexpr uint64_t kTagWake = 2;
constexpr uint64_t kTagRtcp = 1;
constexpr int kMaxEvents = 256;

int checked(int fd, const char* what) {
  if (fd < 0)
    throw std::runtime_error(std::string("rtp shard: ") + what + ": " + std::strerror(errno));
  return fd;
}

}  // namespace

Shard::Shard(const ShardConfig& config)
    : config_(config), buffers_(config.buffer_count), receive_batch_(buffers_) {
  config_.miss_budget = std::min(config_.miss_budget, config_.tick_interval);
  if (config_.io != IoBackend::kMmsg) {
    // The probe: io_uring with every operation the shard needs, or the
    // recvmmsg/sendmmsg path (the owner logs io_error()).
    if (config_.test_uring_unavailable)
      io_error_ = ENOSYS;
    else
      uring_ = UringIo::open(2 * config_.max_streams, buffers_.buffer_size(), io_error_);
  }
  streams_.reserve(config_.max_streams);
  graveyard_.reserve(config_.max_streams);
  epoll_fd_ = checked(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
  timer_fd_ = checked(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), "timerfd");
  sockets_fd_ = checked(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
  wake_fd_ = checked(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd");
  checked(watch(epoll_fd_, timer_fd_, kTagTimer) ? 0 : -1, "epoll_ctl");
  checked(watch(epoll_fd_, wake_fd_, kTagWake) ? 0 : -1, "epoll_ctl");
}

Shard::~Shard() {
  stop();
  graveyard_.clear();
  // Attached streams belong to their owners (who detach them before freeing).
  for (Stream* stream : streams_) detach_sockets(*stream);
  streams_.clear();
  uring_.reset();
  for (const int fd : {wake_fd_, timer_fd_, sockets_fd_, epoll_fd_})
    if (fd >= 0) ::close(fd);
}

bool Shard::watch(int epoll_fd, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a batch left in the queue is reported again
  ev.data.u64 = tag;
  return ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void Shard::start() {
  if (started_) return;
  started_ = true;
  running_.store(true, std::memory_order_release);
  std::promise<void> scheduled;
  std::future<void> ready = scheduled.get_future();
  thread_ = std::thread([this, &scheduled] {
    apply_scheduling();
    scheduled.set_value();  // `scheduled` is not touched after this
    loop();
    running_.store(false, std::memory_order_release);
  });
  ready.wait();  // the owner reads realtime_error() / pin_error() next
}

void Shard::apply_scheduling() {
  if (config_.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<size_t>(config_.cpu), &set);
    pin_error_ = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
  }
  if (config_.realtime_priority > 0) {
    sched_param param{};
    param.sched_priority = std::clamp(config_.realtime_priority, 1, 99);
    realtime_error_ = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param);
  }
}

void Shard::stop() {
  if (!thread_.joinable()) return;
  stop_requested_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void Shard::loop() {
  deadline_ = Clock::now() + config_.tick_interval;
  arm_tick();
  std::array<epoll_event, kMaxEvents> events;
  while (!stop_requested_.load(std::memory_order_acquire)) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    bool tick_due = false;
    for (int i = 0; i < n; ++i) {
      if (events[static_cast<size_t>(i)].data.u64 != kTagTimer)
        continue;  // wake: see the loop condition
      uint64_t expirations;
      if (::read(timer_fd_, &expirations, sizeof expirations) > 0) tick_due = true;
    }
    if (tick_due) on_tick_timer();
  }
}

void Shard::take_clock() {
  timespec wall{};
  ::clock_gettime(CLOCK_REALTIME, &wall);
  drain_now_ = Clock::now();
  wall_minus_steady_ = std::chrono::seconds(wall.tv_sec) + std::chrono::nanoseconds(wall.tv_nsec) -
                       drain_now_.time_since_epoch();
}

Shard::Clock::time_point Shard::arrival(const timespec* kernel_time) const {
  // The kernel's receive time, within [last tick's drain - 1 s, now]; the
  // drain time when the timestamp is missing or the wall clock stepped.
  if (kernel_time == nullptr) return drain_now_;
  const auto wall =
      std::chrono::seconds(kernel_time->tv_sec) + std::chrono::nanoseconds(kernel_time->tv_nsec);
  const Clock::time_point t{std::chrono::duration_cast<Clock::duration>(wall - wall_minus_steady_)};
  return t <= drain_now_ && t > drain_now_ - std::chrono::seconds(1) ? t : drain_now_;
}

void Shard::drain_ready() {
  take_clock();
  if (uring_) {
    uring_->reap(*this);
    uring_->arm_pending();  // new sockets, and receives the kernel ended
    uring_->submit();
    return;
  }
  std::array<epoll_event, kMaxEvents> ready;
  for (;;) {
    const int n = ::epoll_wait(sockets_fd_, ready.data(), kMaxEvents, 0);
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = ready[static_cast<size_t>(i)].data.u64;
      // Streams close only inside the tick, after this: the pointer is live.
      drain(reinterpret_cast<Stream*>(tag & ~kTagRtcp), (tag & kTagRtcp) != 0);
    }
    if (n < kMaxEvents) break;
  }
}

Stream* Shard::find_stream(StreamId id) {
  for (Stream* s : streams_)
    if (s->id() == id) return s;
  return nullptr;
}

void Shard::detach_sockets(Stream& stream) {
  if (uring_) uring_->remove_stream(stream);  // cancels its receives before the sockets close
  // Out of the epoll set before the descriptors close (closing would drop
  // them too, unless a descriptor was duplicated).
  if (stream.rtp_socket().is_open())
    ::epoll_ctl(sockets_fd_, EPOLL_CTL_DEL, stream.rtp_socket().native_handle(), nullptr);
  if (stream.rtcp_socket() != nullptr && stream.rtcp_socket()->is_open())
    ::epoll_ctl(sockets_fd_, EPOLL_CTL_DEL, stream.rtcp_socket()->native_handle(), nullptr);
  stream.close_sockets();
}

bool Shard::attach(Stream& stream) {
  if (streams_.size() >= config_.max_streams || find_stream(stream.id()) != nullptr ||
      !stream.rtp_socket().is_open()) {
    return false;
  }
  if (uring_) {
    // Slots for 2 * max_streams sockets: never short while the table has room.
    if (!uring_->add_socket(stream, stream.rtp_socket().native_handle(), false) ||
        (stream.rtcp_socket() != nullptr &&
         !uring_->add_socket(stream, stream.rtcp_socket()->native_handle(), true))) {
      uring_->remove_stream(stream);
      return false;
    }
    streams_.push_back(&stream);
    stream.on_attached(Clock::now());
    streams_attached_.store(streams_.size(), std::memory_order_relaxed);
    return true;
  }
  const auto tag = reinterpret_cast<uint64_t>(&stream);
  if (!watch(sockets_fd_, stream.rtp_socket().native_handle(), tag)) return false;
  if (stream.rtcp_socket() != nullptr &&
      !watch(sockets_fd_, stream.rtcp_socket()->native_handle(), tag | kTagRtcp)) {
    // The kernel refused the watch (epoll's max_user_watches, memory): the
    // attach fails like a full stream table instead of ending the thread.
    ::epoll_ctl(sockets_fd_, EPOLL_CTL_DEL, stream.rtp_socket().native_handle(), nullptr);
    return false;
  }
  streams_.push_back(&stream);
  stream.on_attached(Clock::now());
  streams_attached_.store(streams_.size(), std::memory_order_relaxed);
  return true;
}

void Shard::detach(Stream& stream) {
  const auto it = std::find(streams_.begin(), streams_.end(), &stream);
  if (it != streams_.end()) {
    *it = streams_.back();
    streams_.pop_back();
    streams_attached_.store(streams_.size(), std::memory_order_relaxed);
  }
  detach_sockets(stream);
}

void Shard::retire(std::unique_ptr<Stream> stream) {
  if (!stream) return;
  detach(*stream);
  graveyard_.push_back({std::move(stream), tick_number_});
}

void Shard::drain(Stream* stream, bool rtcp_socket) {
  udp::socket* socket = rtcp_socket ? stream->rtcp_socket() : &stream->rtp_socket();
  if (socket == nullptr || !socket->is_open()) return;  // closed since the wait completed
  const int fd = socket->native_handle();
  for (;;) {
    const size_t n = receive_batch_.receive(fd);
    datagrams_.store(datagrams_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i) {
      if (receive_batch_.truncated(i)) {
        stream->on_truncated();
        continue;
      }
      timespec ts{};
      const bool stamped = receive_batch_.kernel_time(i, ts);
      stream->on_datagram(receive_batch_.datagram(i),
                          endpoint_from_sockaddr(receive_batch_.source(i)), rtcp_socket,
                          arrival(stamped ? &ts : nullptr));
    }
    if (n < UdpReceiveBatch::kBatch) break;  // a short batch means the queue is empty
  }
}

void Shard::arm_tick() {
  // steady_clock is CLOCK_MONOTONIC: the deadline is an absolute timerfd time.
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline_.time_since_epoch()).count();
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void Shard::on_tick_timer() {
  const Clock::time_point start = Clock::now();
  if (start > deadline_ + config_.miss_budget) {
    // Late beyond the budget: count every deadline passed and run this tick
    // for the latest of them; never try to catch up with a burst of ticks.
    const auto late = start - deadline_;
    const auto passed = static_cast<uint64_t>(late / config_.tick_interval);
    misses_.store(misses_.load(std::memory_order_relaxed) + std::max<uint64_t>(passed, 1),
                  std::memory_order_relaxed);
    deadline_ += config_.tick_interval * static_cast<int64_t>(passed);
    // The skipped ticks' time still passes on every outgoing timeline.
    for (Stream* stream : streams_)
      stream->skip(static_cast<uint32_t>(passed) * stream->config().samples_per_tick);
  }
  run_tick(start);
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  tick_durations_.record(static_cast<uint64_t>(std::max<int64_t>(took.count(), 0)));
  ticks_.store(ticks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // Absolute deadlines: the next tick is due one interval after this one was
  // due, whenever this one actually ran (no drift).
  deadline_ += config_.tick_interval;
  arm_tick();
}

void Shard::run_tick(Clock::time_point now) {
  ++tick_number_;
  // Streams closed two ticks ago can no longer be referenced by a handler.
  std::erase_if(graveyard_, [this](const Closed& c) { return c.tick + 2 <= tick_number_; });
  drain_ready();  // everything received since the last tick, with its arrival time
  if (tick_handler_ != nullptr) tick_handler_->on_commands(tick_number_);
  for (Stream* stream : streams_) stream->on_tick(now);
  if (tick_handler_ != nullptr) tick_handler_->on_tick(tick_number_, deadline_);
  flush_all();
}

void Shard::send_now(std::span<Stream* const> streams) {
  if (!uring_) {
    for (Stream* stream : streams) stream->flush();
    return;
  }
  const size_t before = uring_->sends_in_flight();
  for (Stream* stream : streams) stream->flush(*uring_);
  if (uring_->sends_in_flight() != before) uring_->submit();
}

void Shard::flush_all() {
  if (!uring_) {
    for (Stream* stream : streams_) stream->flush();
    return;
  }
  // What no room sent early this tick, then every completion of the tick.
  const size_t before = uring_->sends_in_flight();
  for (Stream* stream : streams_) stream->flush(*uring_);
  if (uring_->sends_in_flight() == 0) return;
  if (uring_->sends_in_flight() != before) uring_->submit();
  // MSG_DONTWAIT sends complete within the submit (a full socket buffer is
  // -EAGAIN, not a wait); the buffers go back to the pool only after their
  // completions. Receives reaped on the way are delivered as at a drain.
  take_clock();
  for (int i = 0; i < 1000 && uring_->sends_in_flight() != 0; ++i) {
    uring_->reap(*this);
    if (uring_->sends_in_flight() != 0) uring_->wait(std::chrono::milliseconds(1));
  }
  if (uring_->sends_in_flight() != 0) std::abort();  // the kernel still owns pool buffers
  for (Stream* stream : streams_) stream->sent();
}

void Shard::on_received(Stream& stream, bool rtcp, std::span<uint8_t> datagram,
                        const sockaddr_storage& source, const timespec* kernel_time,
                        bool truncated) {
  datagrams_.store(datagrams_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (truncated) {
    stream.on_truncated();
    return;
  }
  stream.on_datagram(datagram, endpoint_from_sockaddr(source), rtcp, arrival(kernel_time));
}

void Shard::on_sent(Stream& stream, int result) {
  stream.on_sent(result);
}

}  // namespace chorus::rtp
