#include "webrtc/dtls_worker.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace chorus::webrtc {

namespace {

void bump(std::atomic<uint64_t>& c) {
  c.fetch_add(1, std::memory_order_relaxed);
}

// Longest sleep with nothing due: stop() wakes the thread anyway.
constexpr auto kIdleWait = std::chrono::milliseconds(200);
// Retry interval while an events ring is full.
constexpr auto kBacklogWait = std::chrono::milliseconds(2);

}  // namespace

DtlsEvent& DtlsEvent::operator=(DtlsEvent&& other) noexcept {
  if (this == &other) return *this;
  kind = other.kind;
  id = other.id;
  failure = other.failure;
  size = other.size;
  std::memcpy(data.data(), other.data.data(), other.size);
  keys = other.keys;
  other.keys.wipe();
  other.kind = Kind::kNone;
  return *this;
}

bool DtlsChannel::push(DtlsRequest& request) {
  if (!requests_.try_push(std::move(request))) {
    ++refused_;
    return false;
  }
  worker_.wake();
  return true;
}

bool DtlsChannel::start(uint64_t id, const Fingerprint& remote) {
  scratch_.kind = DtlsRequest::Kind::kStart;
  scratch_.id = id;
  scratch_.remote = remote;
  scratch_.size = 0;
  return push(scratch_);
}

bool DtlsChannel::datagram(uint64_t id, std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxDtlsDatagram) {
    ++refused_;
    return false;
  }
  scratch_.kind = DtlsRequest::Kind::kDatagram;
  scratch_.id = id;
  scratch_.size = static_cast<uint16_t>(bytes.size());
  std::memcpy(scratch_.data.data(), bytes.data(), bytes.size());
  return push(scratch_);
}

bool DtlsChannel::stop(uint64_t id) {
  scratch_.kind = DtlsRequest::Kind::kStop;
  scratch_.id = id;
  scratch_.size = 0;
  return push(scratch_);
}

bool DtlsChannel::alive(uint64_t id) {
  scratch_.kind = DtlsRequest::Kind::kAlive;
  scratch_.id = id;
  scratch_.size = 0;
  return push(scratch_);
}

DtlsWorker::DtlsWorker(const DtlsContext& context, size_t channels, Config config)
    : context_(context), config_(config), lanes_(channels) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("DTLS worker: eventfd failed");
  channels_.reserve(channels);
  for (size_t i = 0; i < channels; ++i) {
    channels_.push_back(std::unique_ptr<DtlsChannel>(new DtlsChannel(*this)));
  }
}

DtlsWorker::~DtlsWorker() {
  stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void DtlsWorker::start() {
  if (thread_.joinable()) return;
  stopping_.store(false);
  thread_ = std::thread([this] { run(); });
}

void DtlsWorker::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  wake();
  thread_.join();
  for (Lane& lane : lanes_) {
    lane.handshakes.clear();
    lane.backlog.clear();
  }
}

void DtlsWorker::wake() {
  const uint64_t one = 1;
  // A full counter (never in practice) already means "awake".
  [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof(one));
}

DtlsWorker::Stats DtlsWorker::stats() const {
  Stats s;
  s.started = stats_.started.load(std::memory_order_relaxed);
  s.connected = stats_.connected.load(std::memory_order_relaxed);
  s.failed = stats_.failed.load(std::memory_order_relaxed);
  s.fingerprint_mismatch = stats_.fingerprint_mismatch.load(std::memory_order_relaxed);
  s.timeouts = stats_.timeouts.load(std::memory_order_relaxed);
  s.closed = stats_.closed.load(std::memory_order_relaxed);
  s.stopped = stats_.stopped.load(std::memory_order_relaxed);
  s.unknown_id = stats_.unknown_id.load(std::memory_order_relaxed);
  s.expired = stats_.expired.load(std::memory_order_relaxed);
  s.sends_dropped = stats_.sends_dropped.load(std::memory_order_relaxed);
  s.backlog_high = stats_.backlog_high.load(std::memory_order_relaxed);
  return s;
}

void DtlsWorker::run() {
  while (!stopping_.load(std::memory_order_relaxed)) {
    // Bounded per pass so one busy shard cannot starve the timers.
    // Bounded per pass so one busy shard cannot starve the timers; a channel
    // whose backlog is at its cap is not read (its shard is not polling).
    for (size_t c = 0; c < channels_.size(); ++c) {
      for (size_t i = 0;
           i < DtlsChannel::kRing && !over_cap(c) && channels_[c]->requests_.try_pop(request_);
           ++i) {
        handle(c, request_);
      }
    }
    Clock::duration wait = service_timers();
    flush_backlogs();
    for (const Lane& lane : lanes_) {
      if (!lane.backlog.empty()) wait = std::min<Clock::duration>(wait, kBacklogWait);
    }
    bool pending = false;
    for (size_t c = 0; c < channels_.size(); ++c)
      pending = pending || (!over_cap(c) && !channels_[c]->requests_.empty_approx());
    if (pending) continue;
    pollfd p{wake_fd_, POLLIN, 0};
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(0, ms))) > 0) {
      uint64_t drained = 0;
      [[maybe_unused]] const ssize_t n = read(wake_fd_, &drained, sizeof(drained));
    }
  }
}

void DtlsWorker::handle(size_t c, DtlsRequest& request) {
  Lane& lane = lanes_[c];
  switch (request.kind) {
    case DtlsRequest::Kind::kStart: {
      lane.handshakes.erase(request.id);  // a restart replaces the old one
      bump(stats_.started);
      if (lane.handshakes.size() >= config_.max_handshakes_per_channel) {
        bump(stats_.failed);
        DtlsEvent e;
        e.kind = DtlsEvent::Kind::kFailed;
        e.id = request.id;
        e.failure = DtlsFailure::kProtocol;
        emit(c, std::move(e));
        break;
      }
      Entry entry;
      entry.handshake = std::make_unique<DtlsHandshake>(context_, request.remote);
      entry.started = Clock::now();
      entry.last_heard = entry.started;
      auto [it, inserted] = lane.handshakes.emplace(request.id, std::move(entry));
      collect(c, request.id, it->second);  // a handshake that could not even start
      break;
    }
    case DtlsRequest::Kind::kDatagram: {
      const auto it = lane.handshakes.find(request.id);
      if (it == lane.handshakes.end()) {
        bump(stats_.unknown_id);
        break;
      }
      it->second.last_heard = Clock::now();
      it->second.handshake->on_datagram(request.bytes());
      collect(c, request.id, it->second);
      break;
    }
    case DtlsRequest::Kind::kStop:
      if (lane.handshakes.erase(request.id) != 0) bump(stats_.stopped);
      break;
    case DtlsRequest::Kind::kAlive: {
      // A stopped member's (the stop went first) finds nothing: ignored.
      const auto it = lane.handshakes.find(request.id);
      if (it != lane.handshakes.end()) it->second.last_heard = Clock::now();
      break;
    }
    case DtlsRequest::Kind::kNone:
      break;
  }
  request.kind = DtlsRequest::Kind::kNone;
}

void DtlsWorker::collect(size_t c, uint64_t id, Entry& entry) {
  DtlsHandshake& h = *entry.handshake;
  for (int i = 0; i < 64; ++i) {
    DtlsEvent e;
    const size_t n = h.next_datagram(e.data);
    if (n == 0) break;
    e.kind = DtlsEvent::Kind::kSend;
    e.id = id;
    e.size = static_cast<uint16_t>(n);
    emit(c, std::move(e));
  }
  if (h.state() == entry.reported) return;
  DtlsEvent e;
  e.id = id;
  switch (h.state()) {
    case DtlsState::kConnected:
      e.kind = DtlsEvent::Kind::kConnected;
      e.keys = h.keys();
      h.keys().wipe();  // the only copy left is the event's
      bump(stats_.connected);
      break;
    case DtlsState::kFailed:
      e.kind = DtlsEvent::Kind::kFailed;
      e.failure = h.failure();
      bump(stats_.failed);
      if (h.failure() == DtlsFailure::kFingerprintMismatch) bump(stats_.fingerprint_mismatch);
      if (h.failure() == DtlsFailure::kTimeout) bump(stats_.timeouts);
      break;
    case DtlsState::kClosed:
      e.kind = DtlsEvent::Kind::kClosed;
      bump(stats_.closed);
      break;
    case DtlsState::kHandshaking:
      return;
  }
  entry.reported = h.state();
  emit(c, std::move(e));
}

void DtlsWorker::emit(size_t c, DtlsEvent&& event) {
  Lane& lane = lanes_[c];
  if (lane.backlog.empty() && channels_[c]->events_.try_push(std::move(event))) return;
  // A handshake datagram can be lost like any other (the peer or our timer
  // retransmits); an outcome cannot: the shard would wait for it forever.
  if (event.kind == DtlsEvent::Kind::kSend && lane.backlog.size() >= kBacklogCap) {
    bump(stats_.sends_dropped);
    return;
  }
  lane.backlog.push_back(std::move(event));
  if (lane.backlog.size() > stats_.backlog_high.load(std::memory_order_relaxed))
    stats_.backlog_high.store(lane.backlog.size(), std::memory_order_relaxed);
}

void DtlsWorker::flush_backlogs() {
  for (size_t c = 0; c < lanes_.size(); ++c) {
    auto& backlog = lanes_[c].backlog;
    while (!backlog.empty() && channels_[c]->events_.try_push(std::move(backlog.front()))) {
      backlog.pop_front();
    }
  }
}

// Retransmits due flights, fails handshakes past their deadline, drops the
// finished failures; returns how long until the next timer.
DtlsWorker::Clock::duration DtlsWorker::service_timers() {
  const auto now = Clock::now();
  Clock::duration wait = kIdleWait;
  for (size_t c = 0; c < lanes_.size(); ++c) {
    auto& handshakes = lanes_[c].handshakes;
    for (auto it = handshakes.begin(); it != handshakes.end();) {
      Entry& entry = it->second;
      DtlsHandshake& h = *entry.handshake;
      if (h.state() == DtlsState::kHandshaking) {
        if (now - entry.started >= config_.handshake_deadline) {
          h.fail(DtlsFailure::kTimeout);
        } else if (const auto t = h.timeout()) {
          if (*t <= Clock::duration::zero()) {
            h.on_timeout();
          } else {
            wait = std::min(wait, *t);
          }
        }
        if (h.state() == DtlsState::kHandshaking) {
          wait = std::min(wait, entry.started + config_.handshake_deadline - now);
        }
        collect(c, it->first, entry);
      }
      // Failed and closed handshakes have said all they will (their alert
      // is in the events); connected ones stay to answer retransmissions
      // and notice close_notify, until nothing (datagram or alive) was heard
      // for long: a stop that never came must not keep them forever.
      if (entry.reported == DtlsState::kFailed || entry.reported == DtlsState::kClosed) {
        it = handshakes.erase(it);
      } else if (entry.reported == DtlsState::kConnected &&
                 now - entry.last_heard >= config_.connected_idle) {
        bump(stats_.expired);
        it = handshakes.erase(it);
      } else {
        if (entry.reported == DtlsState::kConnected)
          wait = std::min(wait, entry.last_heard + config_.connected_idle - now);
        ++it;
      }
    }
  }
  return std::max(wait, Clock::duration::zero());
}

}  // namespace chorus::webrtc
