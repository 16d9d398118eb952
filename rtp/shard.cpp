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
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "rtp/packet.hpp"
#include "webrtc/demux.hpp"

namespace chorus::rtp {

using boost::asio::ip::udp;

namespace {

// epoll tags: the two control descriptors, else a Stream* (aligned, so bit 0
// is free) with bit 0 set for its RTCP socket.
constexpr uint64_t kTagTimer = 0;
constexpr uint64_t kTagWake = 2;
constexpr uint64_t kTagRtcp = 1;
constexpr int kMaxEvents = 256;
// recvmmsg batches one socket gets per drain (per-member ports).
constexpr size_t kMaxBatchesPerDrain = 4;

int checked(int fd, const char* what) {
  if (fd < 0)
    throw std::runtime_error(std::string("rtp shard: ") + what + ": " + std::strerror(errno));
  return fd;
}

}  // namespace

Shard::Shard(const ShardConfig& config)
    : config_(config),
      buffers_(config.buffer_count),
      receive_batch_(buffers_),
      // Up to four sources per stream (SDP and latched, RTP and RTCP).
      source_routes_(config.port_mode == PortMode::kShared ? 4 * config.max_streams : 0),
      ssrc_routes_(config.port_mode == PortMode::kShared ? config.max_streams : 0),
      ufrag_routes_(config.port_mode == PortMode::kShared ? config.max_streams : 0),
      check_routes_(config.port_mode == PortMode::kShared ? config.max_streams : 0),
      check_tag_mask_(std::random_device{}()) {
  config_.miss_budget = std::min(config_.miss_budget, config_.tick_interval);
  if (config_.port_mode == PortMode::kShared) {
    open_shared_socket();
  } else if (config_.io != IoBackend::kMmsg) {
    // The probe: io_uring with every operation the shard needs, or the
    // recvmmsg/sendmmsg path (the owner logs io_error()).
    if (config_.test_uring_unavailable)
      io_error_ = ENOSYS;
    else
      uring_ = UringIo::open(2 * config_.max_streams, buffers_.buffer_size(), io_error_);
  }
  streams_.reserve(config_.max_streams);
  graveyard_.reserve(config_.max_streams);
  pending_stops_.reserve(2 * config_.max_streams);
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
  for (const int fd : {wake_fd_, timer_fd_, sockets_fd_, epoll_fd_, shared_fd_})
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
  if (shared_fd_ >= 0) {
    drain_shared();
    return;
  }
  if (uring_) {
    uring_->reap(*this);
    uring_->arm_pending();  // new sockets, and receives the kernel ended
    uring_->submit();
    return;
  }
  std::array<epoll_event, kMaxEvents> ready;
  // Level-triggered: a socket still holding data (its drain is capped) is
  // ready again, so the rounds are bounded too: enough for every socket
  // once, and a flood of ports waits for the next tick.
  const size_t rounds = 2 * config_.max_streams / kMaxEvents + 2;
  for (size_t round = 0; round < rounds; ++round) {
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
  if (stream.shared()) {
    remove_routes(stream);
    if (stream.webrtc()) check_routes_.erase(stream.id(), &stream);
    return;
  }
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
  if (streams_.size() >= config_.max_streams || find_stream(stream.id()) != nullptr) return false;
  // WebRTC needs the DTLS worker (on a shared port its checks find it by
  // ufrag, drain_shared).
  if (stream.webrtc() && config_.dtls == nullptr) return false;
  if (shared_fd_ >= 0) {
    if (!stream.shared()) return false;
    streams_.push_back(&stream);
    stream.routes().attached = true;
    if (stream.webrtc()) check_routes_.insert(stream.id(), &stream);  // ids are unique here
    update_routes(stream);
    stream.on_attached(Clock::now());
    streams_attached_.store(streams_.size(), std::memory_order_relaxed);
    return true;
  }
  if (stream.shared() || !stream.rtp_socket().is_open()) return false;
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
    stream.stop_dtls();
  }
  const bool shared = stream.shared() && stream.routes().attached;
  detach_sockets(stream);
  if (shared) claim_pending(&stream);  // what it held may be what another waits for
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
  // A member's port carries one packet per frame; a flood toward one port
  // gets a few batches per drain, the rest waits in (or overflows) the
  // socket's buffer, so it cannot hold the tick of every other member.
  for (size_t batch = 0; batch < kMaxBatchesPerDrain; ++batch) {
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
  const auto lateness = std::chrono::duration_cast<std::chrono::microseconds>(start - deadline_);
  tick_lateness_.record(static_cast<uint64_t>(std::max<int64_t>(lateness.count(), 0)));
  if (start > deadline_ + config_.miss_budget) {
    if (last_tick_us_ > miss_preceding_tick_max_us_.load(std::memory_order_relaxed))
      miss_preceding_tick_max_us_.store(last_tick_us_, std::memory_order_relaxed);
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
  last_tick_us_ = static_cast<uint64_t>(std::max<int64_t>(took.count(), 0));
  tick_durations_.record(last_tick_us_);
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
  poll_dtls();
  if (tick_handler_ != nullptr) tick_handler_->on_commands(tick_number_);
  for (Stream* stream : streams_) stream->on_tick(now);
  if (tick_handler_ != nullptr) tick_handler_->on_tick(tick_number_, deadline_);
  flush_all();
}

void Shard::send_now(std::span<Stream* const> streams) {
  if (shared_fd_ >= 0) {
    send_shared(streams);
    return;
  }
  if (!uring_) {
    for (Stream* stream : streams) stream->flush();
    return;
  }
  const size_t before = uring_->sends_in_flight();
  for (Stream* stream : streams) stream->flush(*uring_);
  if (uring_->sends_in_flight() != before) uring_->submit();
}

void Shard::flush_all() {
  if (shared_fd_ >= 0) {
    send_shared(streams_);
    return;
  }
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

// ---- WebRTC

void Shard::count_stun(webrtc::StunOutcome outcome) {
  using webrtc::StunOutcome;
  switch (outcome) {
    case StunOutcome::kSuccess:
      return count(WebRtcCounter::kStunSuccess);
    case StunOutcome::kBadIntegrity:
      return count(WebRtcCounter::kStunBadIntegrity);
    case StunOutcome::kUnknownUsername:
      return count(WebRtcCounter::kStunUnknownUsername);
    case StunOutcome::kBadRequest:
      return count(WebRtcCounter::kStunBadRequest);
    case StunOutcome::kUnknownAttribute:
    case StunOutcome::kRoleConflict:
    case StunOutcome::kIgnored:
    case StunOutcome::kMalformed:
      return count(WebRtcCounter::kStunOther);
  }
}

void Shard::stop_dtls(uint64_t id) {
  if (config_.dtls == nullptr) return;
  // Behind the stops already waiting, so the worker sees them in order.
  if (pending_stops_.empty() && config_.dtls->stop(id)) return;
  if (pending_stops_.size() < pending_stops_.capacity()) {
    pending_stops_.push_back(id);  // within the reservation: no allocation
    count(WebRtcCounter::kDtlsStopDeferred);
  } else {
    count(WebRtcCounter::kDtlsStopLost);  // the worker's deadline ends the handshake
  }
}

void Shard::poll_dtls() {
  if (config_.dtls == nullptr) return;
  if (!pending_stops_.empty()) {
    size_t taken = 0;
    while (taken < pending_stops_.size() && config_.dtls->stop(pending_stops_[taken])) ++taken;
    pending_stops_.erase(pending_stops_.begin(),
                         pending_stops_.begin() + static_cast<std::ptrdiff_t>(taken));
  }
  // Bounded per tick; events only flow during handshakes.
  for (size_t i = 0; i < webrtc::DtlsChannel::kRing; ++i) {
    const bool retry = dtls_held_;
    if (!dtls_held_ && !config_.dtls->poll(dtls_event_)) return;
    dtls_held_ = false;
    Stream* stream = find_stream(static_cast<StreamId>(dtls_event_.id & 0xFFFFFFFFu));
    if (stream == nullptr || stream->dtls_id() != dtls_event_.id) {
      dtls_event_.keys.wipe();  // a stopped member, or a handshake a restart replaced
      continue;
    }
    if (!stream->on_dtls_event(dtls_event_)) {
      if (retry) {
        // Still no room after a flush: the queue refills as fast as it
        // empties (a flood toward this member). Drop the datagram, which the
        // handshake retransmits, rather than hold every other member's
        // events behind it.
        count(WebRtcCounter::kDtlsSendDropped);
        continue;
      }
      dtls_held_ = true;  // its send queue is full: the tick's flush empties it
      return;
    }
  }
}

// ---- shared-port mode

void Shard::open_shared_socket() {
  const bool v6 = config_.bind_address.is_v6();
  shared_fd_ = checked(
      ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket");
  sockaddr_storage local{};
  const socklen_t size =
      sockaddr_from_endpoint(udp::endpoint(config_.bind_address, config_.port_first), local);
  if (::bind(shared_fd_, reinterpret_cast<const sockaddr*>(&local), size) != 0) {
    const int error = errno;
    ::close(shared_fd_);
    shared_fd_ = -1;
    throw std::runtime_error("rtp shard " + std::to_string(config_.index) + ": shared port " +
                             config_.bind_address.to_string() + ":" +
                             std::to_string(config_.port_first) + ": " + std::strerror(error));
  }
  shared_port_ = config_.port_first;
  const int on = 1;
  ::setsockopt(shared_fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  // Every member's datagrams of a tick or two queue here: ask for room for
  // 8 KiB of kernel memory per stream and at least 4 MiB, forced past
  // net.core.rmem_max/wmem_max where the process may (CAP_NET_ADMIN), else
  // whatever those limits allow (the owner warns when it is short).
  const int want = static_cast<int>(std::max<size_t>(4u << 20, config_.max_streams * 8192));
  for (const auto& [force, plain] :
       {std::pair{SO_RCVBUFFORCE, SO_RCVBUF}, std::pair{SO_SNDBUFFORCE, SO_SNDBUF}}) {
    if (::setsockopt(shared_fd_, SOL_SOCKET, force, &want, sizeof want) != 0)
      ::setsockopt(shared_fd_, SOL_SOCKET, plain, &want, sizeof want);
  }
  socklen_t len = sizeof shared_rcvbuf_;
  ::getsockopt(shared_fd_, SOL_SOCKET, SO_RCVBUF, &shared_rcvbuf_, &len);
  len = sizeof shared_sndbuf_;
  ::getsockopt(shared_fd_, SOL_SOCKET, SO_SNDBUF, &shared_sndbuf_, &len);
}

namespace {

// The SSRC a datagram names: RTCP's sender (RFC 5761 §4 tells them apart),
// else RTP's. None for what is neither.
std::optional<uint32_t> peek_ssrc(std::span<const uint8_t> d) {
  if (d.size() < 8 || (d[0] >> 6) != 2) return std::nullopt;
  size_t at = 8;
  if (is_rtcp(d))
    at = 4;
  else if (d.size() < 12)
    return std::nullopt;
  return uint32_t{d[at]} << 24 | uint32_t{d[at + 1]} << 16 | uint32_t{d[at + 2]} << 8 | d[at + 3];
}

}  // namespace

void Shard::drain_shared() {
  // Bounded per tick, so a flood cannot hold the tick: what is left waits
  // in the socket (and the kernel drops beyond its buffer, counted as the
  // socket's drops, never by us).
  const size_t max_calls = std::max<size_t>(16, 4 * config_.max_streams / UdpReceiveBatch::kBatch);
  uint64_t unknown = 0;
  for (size_t call = 0; call < max_calls; ++call) {
    const size_t n = receive_batch_.receive(shared_fd_);
    receive_calls_.store(receive_calls_.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
    datagrams_.store(datagrams_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i) {
      const sockaddr_storage& source = receive_batch_.source(i);
      const std::span<uint8_t> datagram = receive_batch_.datagram(i);
      Stream* stream = nullptr;
      const webrtc::PacketKind kind = webrtc::classify(datagram);
      const bool stun = kind == webrtc::PacketKind::kStun;
      if (stun) {
        // A browser's check goes to the member whose local ufrag the
        // USERNAME names (RFC 8445 §7.2.2), whatever its source: a member
        // verifying an address (its routes name it while our check waits
        // for the answer) must not catch another member's checks from
        // there. Its responder checks MESSAGE-INTEGRITY.
        const std::string_view ufrag = webrtc::stun_local_ufrag(datagram);
        if (!ufrag.empty()) stream = ufrag_routes_.find(ufrag_key(ufrag)).value_or(nullptr);
        // An answer to one of our checks names no ufrag: it goes to the
        // stream whose check it answers, by the tag in our transaction id
        // (never by its source, which another member may have claimed by
        // spoofing checks from there); that stream checks the rest.
        if (webrtc::is_binding_success(datagram)) {
          stream = check_routes_.find(check_tag_mask_ ^ webrtc::transaction_tag(datagram))
                       .value_or(nullptr);
          if (stream == nullptr) {
            ++unknown;
            continue;
          }
        }
      }
      // A source only some SDP names is no proof: an authenticated SSRC from
      // it still finds its member (who then proves the address and takes
      // the route, update_routes).
      bool only_named = false;
      if (stream == nullptr) {
        const std::optional<Route> by_source = source_routes_.find(SourceKey::from(source));
        // A WebRTC member's candidate is unproven and chosen by that member,
        // who may name another member's address: it catches only its DTLS
        // (which the member hands to the DTLS worker while our check waits).
        // Anything else from there is routed as if it claimed nothing, so
        // RTP from a member routed by SSRC still reaches it; a member that
        // names or latched the address holds the route itself (it outranks
        // the candidate, claim_routes).
        if (by_source && (!by_source->candidate || kind == webrtc::PacketKind::kDtls)) {
          stream = by_source->stream;
          only_named = !by_source->proven;
        }
      }
      if ((stream == nullptr || only_named) && !stun) {
        // An unknown source reaches a stream only through an SSRC that stream
        // may claim (signalled, or authenticated by SRTP, which the stream
        // checks again before it accepts anything); a named one only through
        // an authenticated SSRC.
        if (const std::optional<uint32_t> ssrc = peek_ssrc(datagram)) {
          const std::optional<Route> by_ssrc = ssrc_routes_.find(*ssrc);
          if (by_ssrc && (stream == nullptr || by_ssrc->proven)) stream = by_ssrc->stream;
        }
      }
      if (stream == nullptr) {
        ++unknown;
        continue;
      }
      if (receive_batch_.truncated(i)) {
        stream->on_truncated();
        continue;
      }
      timespec ts{};
      const bool stamped = receive_batch_.kernel_time(i, ts);
      stream->on_datagram(datagram, endpoint_from_sockaddr(source), false,
                          arrival(stamped ? &ts : nullptr));
    }
    if (n < UdpReceiveBatch::kBatch) break;
  }
  if (unknown != 0)
    unknown_source_.store(unknown_source_.load(std::memory_order_relaxed) + unknown,
                          std::memory_order_relaxed);
}

void Shard::update_routes(Stream& stream) {
  Stream::Routes& have = stream.routes();
  if (!have.attached) return;
  const Stream::Routes want = stream.wanted_routes();
  const auto owned = [&stream](const Route& r) { return r.stream == &stream; };
  // A route released, or one that lost rank (its proof), may be what
  // another stream's claim waits for.
  bool freed = false;
  for (size_t i = 0; i < have.count;) {
    const auto end = want.sources.begin() + static_cast<std::ptrdiff_t>(want.count);
    const auto it = std::find(want.sources.begin(), end, have.sources[i]);
    if (it == end) {
      freed = source_routes_.erase_if(have.sources[i], owned) || freed;
      --have.count;
      have.sources[i] = have.sources[have.count];
      have.proven[i] = have.proven[have.count];
      have.candidate[i] = have.candidate[have.count];
      continue;
    }
    const auto w = static_cast<size_t>(it - want.sources.begin());
    const Route wanted{&stream, want.proven[w], want.candidate[w]};
    const Route held{&stream, have.proven[i], have.candidate[i]};
    if (wanted.rank() != held.rank()) {
      // A candidate that answered our check is proven where it stands.
      if (Route* r = source_routes_.get(have.sources[i]); r != nullptr && r->stream == &stream)
        *r = wanted;
      have.proven[i] = wanted.proven;
      have.candidate[i] = wanted.candidate;
      freed = freed || wanted.rank() < held.rank();
    }
    ++i;
  }
  if (have.ssrc && have.ssrc != want.ssrc) {
    freed = ssrc_routes_.erase_if(*have.ssrc, owned) || freed;
    have.ssrc.reset();
  } else if (have.ssrc && have.ssrc_proven != want.ssrc_proven) {
    if (Route* r = ssrc_routes_.get(*have.ssrc); r != nullptr && r->stream == &stream)
      r->proven = want.ssrc_proven;
    freed = freed || !want.ssrc_proven;
  }
  have.ssrc_proven = have.ssrc && want.ssrc_proven;
  if (have.ufrag != want.ufrag) {
    if (have.ufrag) freed = ufrag_routes_.erase(*have.ufrag, &stream) || freed;
    have.ufrag.reset();
  }
  const uint64_t conflicts = claim_routes(stream, want);
  if (conflicts != 0)
    route_conflicts_.store(route_conflicts_.load(std::memory_order_relaxed) + conflicts,
                           std::memory_order_relaxed);
  if (freed) claim_pending(&stream);
}

uint64_t Shard::claim_routes(Stream& stream, const Stream::Routes& want) {
  Stream::Routes& have = stream.routes();
  // A claim takes a key another stream holds with a lower rank (a proven
  // one an address only named; either one a WebRTC candidate's, unproven):
  // that stream forgets the key and waits for it (claim_pending).
  const auto takes = [&stream](const Route& held, const Route& claim) {
    return claim.rank() > held.rank() && held.stream != &stream;
  };
  uint64_t refused = 0;
  for (size_t i = 0; i < want.count; ++i) {
    const SourceKey& key = want.sources[i];
    const auto end = have.sources.begin() + static_cast<std::ptrdiff_t>(have.count);
    if (std::find(have.sources.begin(), end, key) != end) continue;
    if (have.count == have.sources.size()) {
      ++refused;
      continue;
    }
    const Route claim{&stream, want.proven[i], want.candidate[i]};
    bool got = source_routes_.insert(key, claim);
    if (!got) {
      Route* held = source_routes_.get(key);
      if (held != nullptr && takes(*held, claim)) {
        Stream::Routes& l = held->stream->routes();
        *held = claim;
        for (size_t j = 0; j < l.count; ++j) {
          if (l.sources[j] == key) {
            --l.count;
            l.sources[j] = l.sources[l.count];
            l.proven[j] = l.proven[l.count];
            l.candidate[j] = l.candidate[l.count];
            break;
          }
        }
        l.pending = true;
        any_pending_ = true;
        got = true;
      }
    }
    if (got) {
      have.sources[have.count] = key;
      have.candidate[have.count] = want.candidate[i];
      have.proven[have.count++] = want.proven[i];
    } else {
      ++refused;
    }
  }
  if (want.ssrc && !have.ssrc) {
    const Route claim{&stream, want.ssrc_proven};
    bool got = ssrc_routes_.insert(*want.ssrc, claim);
    if (!got) {
      Route* held = ssrc_routes_.get(*want.ssrc);
      if (held != nullptr && takes(*held, claim)) {
        Stream::Routes& l = held->stream->routes();
        *held = claim;
        l.ssrc.reset();
        l.ssrc_proven = false;
        l.pending = true;
        any_pending_ = true;
        got = true;
      }
    }
    if (got) {
      have.ssrc = want.ssrc;
      have.ssrc_proven = want.ssrc_proven;
    } else {
      ++refused;
    }
  }
  if (want.ufrag && !have.ufrag) {
    if (ufrag_routes_.insert(*want.ufrag, &stream))
      have.ufrag = want.ufrag;
    else
      ++refused;
  }
  have.pending = refused != 0;
  if (have.pending) any_pending_ = true;
  return refused;
}

void Shard::claim_pending(const Stream* except) {
  // Nearly always no claim waits, and then this costs nothing. Otherwise a
  // walk over the shard's streams, allocating nothing: route changes come
  // with a latch, a re-offer or a detach, but an SRTP peer whose packets
  // alternate between two addresses (a multi-homed SBC) re-latches per
  // packet, so the walk is kept to shards where a conflict exists.
  if (!any_pending_) return;
  any_pending_ = false;  // set again by claim_routes for any claim still waiting
  for (Stream* s : streams_) {
    Stream::Routes& r = s->routes();
    if (!r.pending || !r.attached) continue;
    if (s == except) {
      any_pending_ = true;
      continue;
    }
    claim_routes(*s, s->wanted_routes());
  }
}

void Shard::remove_routes(Stream& stream) {
  Stream::Routes& have = stream.routes();
  const auto owned = [&stream](const Route& r) { return r.stream == &stream; };
  for (size_t i = 0; i < have.count; ++i) source_routes_.erase_if(have.sources[i], owned);
  if (have.ssrc) ssrc_routes_.erase_if(*have.ssrc, owned);
  if (have.ufrag) ufrag_routes_.erase(*have.ufrag, &stream);
  have = Stream::Routes{};
}

void Shard::send_shared(std::span<Stream* const> streams) {
  // Every stream's queued datagrams in sendmmsg calls of up to kBatch,
  // whatever stream they belong to; the buffers go back once all are sent.
  size_t n = 0;
  bool any = false;
  for (Stream* stream : streams) {
    for (const mmsghdr& m : stream->send_queue().unsubmitted()) {
      out_msgs_[n] = m;
      out_owners_[n] = stream;
      any = true;
      if (++n == out_msgs_.size()) {
        send_shared_batch(n);
        n = 0;
      }
    }
    stream->send_queue().mark_submitted();  // sent() releases exactly these
  }
  if (n != 0) send_shared_batch(n);
  if (!any) return;
  for (Stream* stream : streams) stream->sent();
}

void Shard::send_shared_batch(size_t count) {
  size_t sent = 0;
  uint64_t calls = 0;
  while (sent < count) {
    ++calls;
    const int n = ::sendmmsg(shared_fd_, out_msgs_.data() + sent,
                             static_cast<unsigned>(count - sent), MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      // EAGAIN (buffer full) or this destination's error: skip it, keep the rest.
      out_owners_[sent]->on_send_refused();
      ++sent;
    }
  }
  send_calls_.store(send_calls_.load(std::memory_order_relaxed) + calls, std::memory_order_relaxed);
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
