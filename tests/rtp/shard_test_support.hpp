#pragma once
// Test support for shard/stream tests on 127.0.0.1: a plain-socket peer
// playing the remote party, RTP packet building, and event waiting.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "rtp/packet.hpp"
#include "rtp/shard.hpp"

namespace chorus::rtp::testing {

using namespace std::chrono_literals;

// A UDP socket bound to 127.0.0.1:<ephemeral>.
class Peer {
 public:
  Peer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Peer() { ::close(fd_); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  uint16_t port() const { return port_; }
  boost::asio::ip::udp::endpoint endpoint() const {
    return {boost::asio::ip::address_v4::loopback(), port_};
  }

  void send_to(uint16_t port, std::span<const uint8_t> bytes) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  }

  // One datagram, or nullopt after `timeout`.
  std::optional<std::vector<uint8_t>> receive(std::chrono::milliseconds timeout) const {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::vector<uint8_t> buf(2048);
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  // Everything that arrives within `window`.
  std::vector<std::vector<uint8_t>> receive_all(std::chrono::milliseconds window) const {
    std::vector<std::vector<uint8_t>> out;
    const auto until = std::chrono::steady_clock::now() + window;
    while (std::chrono::steady_clock::now() < until) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      auto d = receive(std::max(left, std::chrono::milliseconds(1)));
      if (d) out.push_back(std::move(*d));
    }
    return out;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

inline std::vector<uint8_t> make_rtp(uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
                                     std::span<const uint8_t> payload, bool marker = false) {
  std::vector<uint8_t> out(12 + payload.size() + 200);
  const size_t n = write_packet(out, RtpHeader{pt, marker, seq, ts, ssrc}, payload);
  out.resize(n);
  return out;
}

// A port range per test process, so parallel ctest runs do not collide (the
// shard also skips ports it cannot bind).
inline uint16_t test_port_base() {
  return static_cast<uint16_t>(31000 + (::getpid() % 800) * 40);
}

inline ShardConfig loopback_config(uint16_t ports = 20) {
  ShardConfig c;
  c.bind_address = boost::asio::ip::address_v4::loopback();
  c.port_first = test_port_base();
  c.port_last = static_cast<uint16_t>(c.port_first + ports - 1);
  c.buffer_count = 512;
  c.max_streams = 16;
  return c;
}

// Polls the shard's event ring (the test thread is the signalling thread)
// until `match` accepts an event or `timeout` passes.
inline std::optional<Event> wait_event(Shard& shard, const std::function<bool(const Event&)>& match,
                                       std::chrono::milliseconds timeout = 2000ms) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  Event e;
  while (std::chrono::steady_clock::now() < until) {
    while (shard.poll_event(e))
      if (match(e)) return e;
    std::this_thread::sleep_for(2ms);
  }
  return std::nullopt;
}

inline std::optional<Event> wait_kind(Shard& shard, EventKind kind, StreamId id,
                                      std::chrono::milliseconds timeout = 2000ms) {
  return wait_event(
      shard, [&](const Event& e) { return e.kind == kind && e.stream == id; }, timeout);
}

// Opens a stream through the command ring; returns its port (0 on failure).
inline uint16_t open_via_command(Shard& shard, StreamId id, StreamConfig config = {}) {
  Command c;
  c.kind = CommandKind::kOpenStream;
  c.stream = id;
  c.config = config;
  if (!shard.post(c)) return 0;
  auto e = wait_event(shard, [&](const Event& ev) {
    return ev.stream == id &&
           (ev.kind == EventKind::kStreamOpened || ev.kind == EventKind::kStreamOpenFailed);
  });
  return e && e->kind == EventKind::kStreamOpened ? e->local_port : 0;
}

inline void set_remote(Shard& shard, StreamId id, const boost::asio::ip::udp::endpoint& rtp) {
  Command c;
  c.kind = CommandKind::kSetRemote;
  c.stream = id;
  c.remote_rtp = rtp;
  shard.post(c);
}

// Stats through the rings (never touching the stream from this thread).
inline std::optional<StreamStats> request_stats(Shard& shard, StreamId id) {
  Command c;
  c.kind = CommandKind::kRequestStats;
  c.stream = id;
  if (!shard.post(c)) return std::nullopt;
  auto e = wait_kind(shard, EventKind::kStats, id);
  if (!e) return std::nullopt;
  return e->stats;
}

// Polls stats until `done` holds (or times out); returns the last stats seen.
inline StreamStats stats_until(Shard& shard, StreamId id,
                               const std::function<bool(const StreamStats&)>& done,
                               std::chrono::milliseconds timeout = 2000ms) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  StreamStats last;
  while (std::chrono::steady_clock::now() < until) {
    if (auto s = request_stats(shard, id)) {
      last = *s;
      if (done(last)) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  return last;
}

// Runs on the shard thread every tick: pulls one slot from a stream, counts
// the kinds, and optionally echoes packets back or sends one packet per tick.
class Recorder : public TickHandler {
 public:
  enum class Mode { kPullOnly, kEcho, kSendEveryTick, kSendEveryOtherTick };
  Recorder(Shard& shard, StreamId id, Mode mode) : shard_(shard), id_(id), mode_(mode) {}
  // Declared after the shard, so destroyed first: the shard thread must stop
  // calling on_tick before this object goes away.
  ~Recorder() override { shard_.stop(); }

  void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
    Stream* s = shard_.find_stream(id_);
    if (s == nullptr) return;
    const Slot slot = s->pull();
    switch (slot.kind) {
      case SlotKind::kPacket:
        packets.fetch_add(1, std::memory_order_relaxed);
        if (mode_ == Mode::kEcho) s->send(slot.payload_type, slot.payload, 160, false);
        break;
      case SlotKind::kLost:
        lost.fetch_add(1, std::memory_order_relaxed);
        break;
      case SlotKind::kSilence:
        silence.fetch_add(1, std::memory_order_relaxed);
        break;
      case SlotKind::kNotStarted:
        not_started.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    static constexpr uint8_t kPayload[160] = {};
    if (mode_ == Mode::kSendEveryTick) s->send(0, kPayload, 160, false);
    if (mode_ == Mode::kSendEveryOtherTick) {
      // Every other frame is not sent (as in DTX): its time is skipped.
      if (++ticks_ % 2 == 0) {
        s->send(0, kPayload, 160, false);
      } else {
        s->skip(160);
      }
    }
  }

  std::atomic<uint64_t> packets{0}, lost{0}, silence{0}, not_started{0};

 private:
  Shard& shard_;
  StreamId id_;
  Mode mode_;
  uint64_t ticks_ = 0;
};

}  // namespace chorus::rtp::testing
