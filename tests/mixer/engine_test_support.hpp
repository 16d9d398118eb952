#pragma once
// Engine test support on 127.0.0.1: LoopbackMember (one member of a
// one-shard Engine and a UDP socket that plays its remote party, for tests
// that send the shard real RTP and read its counters), Caller (a PCMU tone
// talker that decodes what comes back) and EventLog (polls the engine and
// keeps every event, so tests can wait for a command's completion).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <numbers>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/engine.hpp"
#include "mixer/goertzel.hpp"
#include "rtp/packet.hpp"

namespace chorus::mixer::testing {

// A UDP socket bound to an ephemeral port of 127.0.0.1; its port in `port`.
inline int loopback_udp_socket(uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

class LoopbackMember {
 public:
  // `command` names the conference, participant, codec and payload type;
  // `port_base` keeps parallel test binaries' port ranges apart.
  LoopbackMember(Command command, uint16_t port_base) : engine_(config(port_base)) {
    engine_.start();
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in self{};
    self.sin_family = AF_INET;
    self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&self), sizeof self), 0);
    socklen_t len = sizeof self;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&self), &len);

    command.kind = Command::Kind::kAddParticipant;
    command.stream.id = command.participant;
    command.stream.clock_rate = static_cast<uint32_t>(command.codec.sample_rate);
    command.stream.samples_per_tick = static_cast<uint32_t>(command.codec.sample_rate / 50);
    command.has_remote = true;
    command.remote_rtp = {boost::asio::ip::make_address("127.0.0.1"), ntohs(self.sin_port)};
    const std::optional<CommandId> id = engine_.submit(std::move(command));
    EXPECT_TRUE(id.has_value());

    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (id && port_ == 0 && std::chrono::steady_clock::now() < give_up) {
      Event e;
      while (engine_.poll(e)) {
        if (e.id == *id && e.kind == Event::Kind::kDone) port_ = static_cast<uint16_t>(e.value);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_NE(port_, 0);
  }
  ~LoopbackMember() {
    engine_.stop();
    ::close(fd_);
  }
  LoopbackMember(const LoopbackMember&) = delete;
  LoopbackMember& operator=(const LoopbackMember&) = delete;

  // The member's port on the shard (0 when it never opened).
  uint16_t port() const { return port_; }
  // One datagram from the remote party to the member's port.
  void send(std::span<const uint8_t> datagram) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port_);
    ::sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  Engine& engine() { return engine_; }

 private:
  static EngineConfig config(uint16_t port_base) {
    EngineConfig config;
    config.shards = 1;
    config.shard.bind_address = boost::asio::ip::make_address("127.0.0.1");
    config.shard.port_first = static_cast<uint16_t>(port_base + (::getpid() % 200) * 10);
    config.shard.port_last = static_cast<uint16_t>(config.shard.port_first + 9);
    return config;
  }

  Engine engine_;
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A caller: a UDP socket on 127.0.0.1 sending one tone as PCMU.
class Caller {
 public:
  explicit Caller(double freq) : freq_(freq) {
    fd_ = loopback_udp_socket(port_);
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    encoder_ = make_encoder(default_params(CodecId::kPcmu));
    decoder_ = make_decoder(default_params(CodecId::kPcmu));
  }
  ~Caller() { ::close(fd_); }

  uint16_t port() const { return port_; }
  void set_mixer_port(uint16_t port) { mixer_port_ = port; }

  // One 20 ms frame of the tone (`silent`: of silence, the tone's phase
  // running on).
  void send_frame(bool silent = false) {
    if (mixer_port_ == 0) return;
    Frame f;
    f.sample_rate = 8000;
    f.samples = 160;
    for (size_t i = 0; i < 160; ++i) {
      f.data[i] = silent ? int16_t{0} : static_cast<int16_t>(6000.0 * std::sin(phase_));
      phase_ += 2.0 * std::numbers::pi * freq_ / 8000.0;
    }
    std::array<uint8_t, 200> payload{};
    const size_t size = encoder_->encode(f, payload);
    std::array<uint8_t, 300> packet{};
    const rtp::RtpHeader h{0, seq_ == 0, seq_, ts_, 0x1000u + port_};
    const size_t n = rtp::write_packet(packet, h, std::span<const uint8_t>(payload.data(), size));
    ++seq_;
    ts_ += 160;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(mixer_port_);
    ::sendto(fd_, packet.data(), n, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }

  void receive(bool keep) {
    std::array<uint8_t, 2048> buf{};
    for (;;) {
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) return;
      ++packets_;
      const auto view = rtp::PacketView::parse(std::span<const uint8_t>(buf.data(), size_t(n)));
      if (!view || view->payload_type() != 0) continue;
      if (packets_ > 1 && view->ssrc() != ssrc_) ++ssrc_changes_;
      if (packets_ > 1) {
        max_timestamp_step_ = std::max(max_timestamp_step_, view->timestamp() - timestamp_);
        max_sequence_step_ =
            std::max(max_sequence_step_, static_cast<uint16_t>(view->sequence() - sequence_));
      }
      ssrc_ = view->ssrc();
      timestamp_ = view->timestamp();
      sequence_ = view->sequence();
      Frame f;
      if (keep && decoder_->decode(view->payload(), f)) {
        heard_.insert(heard_.end(), f.pcm().begin(), f.pcm().end());
      }
    }
  }

  double heard(double freq) const { return goertzel_amplitude(heard_, freq, 8000); }
  double level() const { return rms(heard_); }
  void forget() { heard_.clear(); }
  size_t packets() const { return packets_; }
  size_t samples() const { return heard_.size(); }
  // The mixer's stream to this caller: SSRC changes seen, and the largest
  // RTP timestamp and sequence steps between consecutive packets (a tick
  // without a packet shows as a timestamp step of 320 at 8 kHz).
  size_t ssrc_changes() const { return ssrc_changes_; }
  uint32_t max_timestamp_step() const { return max_timestamp_step_; }
  uint16_t max_sequence_step() const { return max_sequence_step_; }
  void reset_steps() { max_timestamp_step_ = 0, max_sequence_step_ = 0; }

 private:
  double freq_;
  double phase_ = 0;
  int fd_ = -1;
  uint16_t port_ = 0;
  uint16_t mixer_port_ = 0;
  uint16_t seq_ = 0;
  uint32_t ts_ = 0;
  size_t packets_ = 0;
  uint32_t ssrc_ = 0;
  uint32_t timestamp_ = 0;
  uint16_t sequence_ = 0;
  size_t ssrc_changes_ = 0;
  uint32_t max_timestamp_step_ = 0;
  uint16_t max_sequence_step_ = 0;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<int16_t> heard_;
};

// Every event the engine delivered, in order (the test thread polls).
class EventLog {
 public:
  explicit EventLog(Engine& engine) : engine_(engine) {}
  // Takes everything there is now.
  void poll() {
    Event e;
    while (engine_.poll(e)) events_.push_back(e);
  }
  // Polls until `done` holds or `timeout` passes (5 ms steps).
  bool poll_until(const std::function<bool()>& done,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      poll();
      if (done()) return true;
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // Completions (kDone / kFailed) carrying `id`.
  size_t completions(CommandId id) const {
    size_t n = 0;
    for (const Event& e : events_) n += is_completion(e) && e.id == id ? 1 : 0;
    return n;
  }
  std::optional<Event> completion(CommandId id) const {
    for (const Event& e : events_)
      if (is_completion(e) && e.id == id) return e;
    return std::nullopt;
  }
  // Waits for the completion of `id`.
  std::optional<Event> wait(CommandId id,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    poll_until([&] { return completion(id).has_value(); }, timeout);
    return completion(id);
  }
  const std::vector<Event>& events() const { return events_; }
  static bool is_completion(const Event& e) {
    return e.kind == Event::Kind::kDone || e.kind == Event::Kind::kFailed;
  }

 private:
  Engine& engine_;
  std::vector<Event> events_;
};

// A loopback engine: `shards` shards over `ports` ports from `first`.
inline EngineConfig loopback_engine(uint16_t first, uint16_t ports, size_t shards = 1) {
  EngineConfig config;
  config.shards = shards;
  config.shard.bind_address = boost::asio::ip::make_address("127.0.0.1");
  config.shard.port_first = first;
  config.shard.port_last = static_cast<uint16_t>(first + ports - 1);
  return config;
}

// A PCMU add for `participant` of `conference`, media to 127.0.0.1:`remote_port`
// (0: no remote yet).
inline Command pcmu_add(ConferenceId conference, ParticipantId participant,
                        uint16_t remote_port = 0) {
  Command c;
  c.kind = Command::Kind::kAddParticipant;
  c.conference = conference;
  c.participant = participant;
  c.codec = default_params(CodecId::kPcmu);
  c.payload_type = 0;
  if (remote_port != 0) {
    c.has_remote = true;
    c.remote_rtp = {boost::asio::ip::make_address("127.0.0.1"), remote_port};
  }
  return c;
}

// A port range per test process, so parallel ctest runs do not collide.
inline uint16_t test_port_base(uint16_t base, uint16_t width) {
  return static_cast<uint16_t>(base + (::getpid() % 8) * width);
}

}  // namespace chorus::mixer::testing
