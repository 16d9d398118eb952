#pragma once
// Test support for shard/stream tests on 127.0.0.1: a plain-socket peer
// playing the remote party, RTP packet building, and a Driver that plays the
// mixer's part for rtp tests (the shard has no rings of its own): it owns the
// streams, takes test commands through its own SPSC ring, applies them at the
// tick boundary and reports through its own event ring.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "rtp/command.hpp"
#include "rtp/event.hpp"
#include "rtp/packet.hpp"
#include "rtp/shard.hpp"
#include "rtp/spsc_ring.hpp"
#include "rtp/stream_factory.hpp"
#include "tests/webrtc/browser_stand_in.hpp"

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

  // From now on Binding requests are answered as a browser's ICE agent
  // does, below whatever reads this peer (receive() never returns them):
  // `browser_ufrag`/`browser_pwd` are this peer's credentials, the stream's
  // remote ones. Without it the peer answers nothing (a spoofed address).
  void answer_checks(std::string_view browser_ufrag, std::string_view browser_pwd,
                     std::string_view server_ufrag) {
    answerer_ =
        std::make_unique<webrtc::testing::CheckAnswerer>(browser_ufrag, browser_pwd, server_ufrag);
  }
  bool answers_checks() const { return answerer_ != nullptr; }
  uint64_t checks_answered() const { return answerer_ ? answerer_->answered() : 0; }

  // One datagram, or nullopt after `timeout`.
  std::optional<std::vector<uint8_t>> receive(std::chrono::milliseconds timeout) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::max(std::chrono::duration_cast<std::chrono::microseconds>(
                                     until - std::chrono::steady_clock::now()),
                                 std::chrono::microseconds(1000));
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(left.count() / 1'000'000);
      tv.tv_usec = static_cast<suseconds_t>(left.count() % 1'000'000);
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::vector<uint8_t> buf(2048);
      sockaddr_storage from{};
      socklen_t from_len = sizeof(from);
      const ssize_t n =
          ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) return std::nullopt;
      buf.resize(static_cast<size_t>(n));
      if (answerer_ && webrtc::testing::CheckAnswerer::is_request(buf)) {
        const std::vector<uint8_t> answer = answerer_->answer(buf, from, from_len);
        if (!answer.empty())
          ::sendto(fd_, answer.data(), answer.size(), 0, reinterpret_cast<const sockaddr*>(&from),
                   from_len);
        if (std::chrono::steady_clock::now() >= until) return std::nullopt;
        continue;
      }
      return buf;
    }
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
  std::unique_ptr<webrtc::testing::CheckAnswerer> answerer_;
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

inline ShardConfig loopback_config(uint16_t ports = 20, IoBackend io = IoBackend::kMmsg) {
  ShardConfig c;
  c.io = io;
  c.bind_address = boost::asio::ip::address_v4::loopback();
  c.port_first = test_port_base();
  c.port_last = static_cast<uint16_t>(c.port_first + ports - 1);
  c.buffer_count = 512;
  c.max_streams = 16;
  return c;
}

// Whether a shard here gets io_uring when it asks (the probe passes).
inline bool uring_available() {
  ShardConfig c;
  c.io = IoBackend::kUring;
  c.max_streams = 1;
  c.buffer_count = 64;
  return Shard(c).io_backend() == IoBackend::kUring;
}

// Names a test parameterised over the socket I/O path: ".../mmsg", ".../uring".
struct IoBackendParamName {
  template <class ParamInfo>
  std::string operator()(const ParamInfo& info) const {
    return std::string(io_backend_name(info.param));
  }
};

enum class CommandKind : uint8_t {
  kOpenStream,    // stream (built by the driver's factory) → kStreamOpened / kStreamOpenFailed
  kCloseStream,   // → final kStats then kStreamClosed
  kSetRemote,     // remote_rtp, remote_rtcp
  kSetSrtp,       // keys
  kRequestStats,  // → kStats
  kSetWebRtc,     // webrtc (a re-offer) → kCommandFailed if refused
  kSetSignalledSsrc,  // config.signalled_ssrc (a re-offer's a=ssrc)
};

struct Command {
  CommandKind kind = CommandKind::kRequestStats;
  StreamId stream = 0;
  StreamConfig config;
  boost::asio::ip::udp::endpoint remote_rtp;
  boost::asio::ip::udp::endpoint remote_rtcp;
  SrtpKeys keys;
  WebRtcConfig webrtc;
  std::unique_ptr<Stream> opened;  // kOpenStream: filled by Driver::post
};

enum class EventKind : uint8_t {
  kStreamOpened,
  kStreamOpenFailed,
  kStreamClosed,
  kRtpTimeout,
  kDtmf,
  kSsrcChange,
  kStats,
  kCommandFailed,
  kMediaEnded,  // reason
};

struct Event {
  EventKind kind = EventKind::kStats;
  StreamId stream = 0;
  uint16_t local_port = 0;
  char digit = 0;
  uint32_t ssrc = 0;
  uint32_t previous_ssrc = 0;
  MediaEndReason reason = MediaEndReason::kConsentExpired;
  StreamStats stats;
};

// The stream owner of rtp tests. Streams are opened by the driver's factory
// on the test (signalling) thread, attached and owned on the shard thread,
// retired when closed; ports go back to the factory when the test thread sees
// the close (or the failed open) in poll_event.
class Driver : public TickHandler, public StreamObserver {
 public:
  static constexpr size_t kRingSize = 1024;

  // Installs itself as `shard`'s tick handler and stream observer (before
  // start()); `inner` (optional) runs after the driver's commands each tick.
  explicit Driver(Shard& shard, TickHandler* inner = nullptr)
      : shard_(shard),
        inner_(inner),
        factory_(shard),
        commands_(std::make_unique<SpscRing<Command, kRingSize>>()),
        events_(std::make_unique<SpscRing<Event, 4096>>()) {
    owned_.reserve(shard.config().max_streams);
    shard.set_tick_handler(this);
    shard.set_stream_observer(this);
  }
  // Declared after the shard (and any inner handler): destroyed first, so it
  // stops the shard thread before anything it calls goes away.
  ~Driver() override {
    shard_.stop();
    for (auto& s : owned_) shard_.detach(*s);
  }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  Shard& shard() { return shard_; }
  const PortPool& ports() const { return factory_.ports(); }

  // ---- test thread
  // False when the ring is full (counted). kOpenStream builds the stream here.
  bool post(Command command) {
    if (command.kind == CommandKind::kOpenStream) {
      StreamConfig config = command.config;
      config.id = command.stream;
      command.opened = factory_.open(config);
      if (!command.opened) {
        Event e;
        e.kind = EventKind::kStreamOpenFailed;
        e.stream = command.stream;
        local_.push_back(e);
        return true;
      }
    }
    if (commands_->try_push(std::move(command))) return true;
    if (command.opened) factory_.release(command.opened->local_port());
    ++commands_dropped_;
    return false;
  }
  bool poll_event(Event& event) {
    if (!local_.empty()) {
      event = local_.front();
      local_.erase(local_.begin());
      return true;
    }
    if (!events_->try_pop(event)) return false;
    // The shard closed the stream: its port may be handed out again.
    if ((event.kind == EventKind::kStreamClosed || event.kind == EventKind::kStreamOpenFailed) &&
        event.local_port != 0) {
      factory_.release(event.local_port);
    }
    return true;
  }
  uint64_t commands_dropped() const { return commands_dropped_; }
  uint64_t events_dropped() const { return events_dropped_.load(std::memory_order_relaxed); }

  // ---- shard thread (before start(), the test thread is the shard thread)
  Stream* open_now(const StreamConfig& config) {
    auto stream = factory_.open(config);
    if (!stream) return nullptr;
    if (!shard_.attach(*stream)) {
      const uint16_t port = stream->local_port();
      stream.reset();
      factory_.release(port);
      return nullptr;
    }
    owned_.push_back(std::move(stream));
    return owned_.back().get();
  }
  void close_now(Stream* stream) {
    const uint16_t port = stream->local_port();
    if (take(stream)) factory_.release(port);
  }

  // ---- TickHandler / StreamObserver (shard thread)
  void on_commands(uint64_t) override {
    while (commands_->try_pop(scratch_)) apply(scratch_);
  }
  void on_tick(uint64_t tick, std::chrono::steady_clock::time_point deadline) override {
    if (inner_ != nullptr) inner_->on_tick(tick, deadline);
  }
  bool on_rtp_timeout(Stream& stream) override {
    Event e;
    e.kind = EventKind::kRtpTimeout;
    e.stream = stream.id();
    e.ssrc = stream.remote_ssrc();
    return post_event(e);
  }
  void on_dtmf(Stream& stream, char digit) override {
    Event e;
    e.kind = EventKind::kDtmf;
    e.stream = stream.id();
    e.ssrc = stream.remote_ssrc();
    e.digit = digit;
    post_event(e);
  }
  void on_ssrc_change(Stream& stream, uint32_t previous, uint32_t ssrc) override {
    Event e;
    e.kind = EventKind::kSsrcChange;
    e.stream = stream.id();
    e.previous_ssrc = previous;
    e.ssrc = ssrc;
    post_event(e);
  }
  bool on_media_ended(Stream& stream, MediaEndReason reason) override {
    Event e;
    e.kind = EventKind::kMediaEnded;
    e.stream = stream.id();
    e.reason = reason;
    return post_event(e);
  }
  bool post_event(const Event& e) {
    if (events_->try_push(e)) return true;
    events_dropped_.store(events_dropped_.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    return false;
  }

 private:
  bool take(Stream* stream) {
    for (auto& s : owned_) {
      if (s.get() != stream) continue;
      std::unique_ptr<Stream> mine = std::move(s);
      s = std::move(owned_.back());
      owned_.pop_back();
      shard_.retire(std::move(mine));
      return true;
    }
    return false;
  }
  void apply(Command& c) {
    Stream* stream = c.kind == CommandKind::kOpenStream ? nullptr : shard_.find_stream(c.stream);
    Event e;
    e.stream = c.stream;
    if (c.kind != CommandKind::kOpenStream && stream == nullptr) {
      e.kind = EventKind::kCommandFailed;
      post_event(e);
      return;
    }
    switch (c.kind) {
      case CommandKind::kOpenStream:
        if (shard_.attach(*c.opened)) {
          e.kind = EventKind::kStreamOpened;
          e.local_port = c.opened->local_port();
          owned_.push_back(std::move(c.opened));
        } else {
          e.kind = EventKind::kStreamOpenFailed;
          e.local_port = c.opened->local_port();
          c.opened.reset();  // never attached: sockets close here
        }
        post_event(e);
        return;
      case CommandKind::kCloseStream:
        e.kind = EventKind::kStats;
        e.stats = stream->snapshot(Stream::Clock::now());
        post_event(e);
        e.local_port = stream->local_port();
        take(stream);
        e.kind = EventKind::kStreamClosed;
        post_event(e);
        return;
      case CommandKind::kSetRemote:
        stream->set_remote(c.remote_rtp, c.remote_rtcp);
        return;
      case CommandKind::kSetSignalledSsrc:
        stream->set_signalled_ssrc(c.config.signalled_ssrc);
        return;
      case CommandKind::kSetSrtp:
        if (!stream->set_srtp(c.keys)) {
          e.kind = EventKind::kCommandFailed;
          post_event(e);
        }
        return;
      case CommandKind::kSetWebRtc:
        if (!stream->set_webrtc(c.webrtc)) {
          e.kind = EventKind::kCommandFailed;
          post_event(e);
        }
        return;
      case CommandKind::kRequestStats:
        e.kind = EventKind::kStats;
        e.stats = stream->snapshot(Stream::Clock::now());
        post_event(e);
        return;
    }
  }

  Shard& shard_;
  TickHandler* inner_;
  StreamFactory factory_;  // test-thread side
  std::unique_ptr<SpscRing<Command, kRingSize>> commands_;
  std::unique_ptr<SpscRing<Event, 4096>> events_;
  std::vector<Event> local_;  // test thread: failures known before the ring
  uint64_t commands_dropped_ = 0;
  std::atomic<uint64_t> events_dropped_{0};
  std::vector<std::unique_ptr<Stream>> owned_;  // shard thread
  Command scratch_;
};

// Polls the driver's event ring (the test thread is the signalling thread)
// until `match` accepts an event or `timeout` passes.
inline std::optional<Event> wait_event(Driver& shard,
                                       const std::function<bool(const Event&)>& match,
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

inline std::optional<Event> wait_kind(Driver& shard, EventKind kind, StreamId id,
                                      std::chrono::milliseconds timeout = 2000ms) {
  return wait_event(
      shard, [&](const Event& e) { return e.kind == kind && e.stream == id; }, timeout);
}

// Opens a stream through the command ring; returns its port (0 on failure).
inline uint16_t open_via_command(Driver& shard, StreamId id, StreamConfig config = {}) {
  Command c;
  c.kind = CommandKind::kOpenStream;
  c.stream = id;
  c.config = config;
  if (!shard.post(std::move(c))) return 0;
  auto e = wait_event(shard, [&](const Event& ev) {
    return ev.stream == id &&
           (ev.kind == EventKind::kStreamOpened || ev.kind == EventKind::kStreamOpenFailed);
  });
  return e && e->kind == EventKind::kStreamOpened ? e->local_port : 0;
}

// Posts a kCloseStream for `id`; false when the command ring is full.
inline bool post_close(Driver& shard, StreamId id) {
  Command c;
  c.kind = CommandKind::kCloseStream;
  c.stream = id;
  return shard.post(std::move(c));
}

inline void set_remote(Driver& shard, StreamId id, const boost::asio::ip::udp::endpoint& rtp) {
  Command c;
  c.kind = CommandKind::kSetRemote;
  c.stream = id;
  c.remote_rtp = rtp;
  shard.post(std::move(c));
}

// Stats through the rings (never touching the stream from this thread).
inline std::optional<StreamStats> request_stats(Driver& shard, StreamId id) {
  Command c;
  c.kind = CommandKind::kRequestStats;
  c.stream = id;
  if (!shard.post(std::move(c))) return std::nullopt;
  auto e = wait_kind(shard, EventKind::kStats, id);
  if (!e) return std::nullopt;
  return e->stats;
}

// Polls stats until `done` holds (or times out); returns the last stats seen.
inline StreamStats stats_until(Driver& shard, StreamId id,
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

namespace chorus::rtp {
// The rtp tests speak the driver's command and event types.
using testing::Command;
using testing::CommandKind;
using testing::Event;
using testing::EventKind;
}  // namespace chorus::rtp
