#pragma once
// One member of a one-shard Engine on 127.0.0.1 and a UDP socket that plays
// its remote party: for tests that send the shard real RTP and read its
// counters. The command's stream and remote fields are filled in here.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <span>
#include <thread>

#include "mixer/engine.hpp"

namespace chorus::mixer::testing {

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
    EXPECT_TRUE(engine_.add_participant(command).has_value());

    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (port_ == 0 && std::chrono::steady_clock::now() < give_up) {
      rtp::Event raw;
      std::optional<Event> e;
      while (engine_.poll_event(0, raw, e)) {
        if (e && e->kind == Event::Kind::kParticipantAdded) port_ = static_cast<uint16_t>(e->value);
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

}  // namespace chorus::mixer::testing
