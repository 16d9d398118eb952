// End to end through real rtp::Shard streams on 127.0.0.1: three callers send
// PCMU tones over UDP, the engine mixes, each caller decodes what comes back
// and hears the other two but not itself.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <numbers>
#include <thread>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/engine.hpp"
#include "mixer/goertzel.hpp"
#include "rtp/packet.hpp"

namespace chorus::mixer {
namespace {

// A caller: a UDP socket on 127.0.0.1 sending one tone as PCMU.
class Caller {
 public:
  explicit Caller(double freq) : freq_(freq) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    encoder_ = make_encoder(default_params(CodecId::kPcmu));
    decoder_ = make_decoder(default_params(CodecId::kPcmu));
  }
  ~Caller() { ::close(fd_); }

  uint16_t port() const { return port_; }
  void set_mixer_port(uint16_t port) { mixer_port_ = port; }

  void send_frame() {
    if (mixer_port_ == 0) return;
    Frame f;
    f.sample_rate = 8000;
    f.samples = 160;
    for (size_t i = 0; i < 160; ++i) {
      f.data[i] = static_cast<int16_t>(6000.0 * std::sin(phase_));
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

 private:
  double freq_;
  double phase_ = 0;
  int fd_ = -1;
  uint16_t port_ = 0;
  uint16_t mixer_port_ = 0;
  uint16_t seq_ = 0;
  uint32_t ts_ = 0;
  size_t packets_ = 0;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<int16_t> heard_;
};

TEST(Engine, ThreeCallersOverLoopbackHearEachOtherButNotThemselves) {
  EngineConfig config;
  config.shards = 1;
  config.shard.bind_address = boost::asio::ip::make_address("127.0.0.1");
  config.shard.port_first = 42000;
  config.shard.port_last = 42999;
  Engine engine(config);
  engine.start();

  const double freqs[] = {500, 700, 900};
  std::vector<std::unique_ptr<Caller>> callers;
  for (size_t i = 0; i < 3; ++i) {
    callers.push_back(std::make_unique<Caller>(freqs[i]));
    Command c;
    c.kind = Command::Kind::kAddParticipant;
    c.conference = 77;
    c.participant = 100 + i;
    c.codec = default_params(CodecId::kPcmu);
    c.payload_type = 0;
    c.stream.id = static_cast<rtp::StreamId>(100 + i);
    c.has_remote = true;
    c.remote_rtp = {boost::asio::ip::make_address("127.0.0.1"), callers.back()->port()};
    ASSERT_EQ(engine.add_participant(c), 0u);
  }
  // Learn each participant's mixer port from the events.
  size_t added = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (added < 3 && std::chrono::steady_clock::now() < give_up) {
    rtp::Event raw;
    std::optional<Event> e;
    while (engine.poll_event(0, raw, e)) {
      if (e && e->kind == Event::Kind::kParticipantAdded) {
        callers[e->participant - 100]->set_mixer_port(static_cast<uint16_t>(e->value));
        ++added;
      }
      ASSERT_FALSE(e && e->kind == Event::Kind::kAddFailed);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(added, 3u);

  // 1.2 s of audio at 20 ms; keep the last 0.6 s.
  auto next = std::chrono::steady_clock::now();
  for (int t = 0; t < 60; ++t) {
    for (auto& c : callers) c->send_frame();
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
    for (auto& c : callers) c->receive(t >= 30);
  }
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const Caller& c = *callers[i];
    EXPECT_GT(c.packets(), 30u);
    ASSERT_GT(c.samples(), 160u * 10);
    for (size_t j = 0; j < 3; ++j) {
      if (i == j) {
        EXPECT_LT(c.heard(freqs[j]), 300.0);
      } else {
        EXPECT_GT(c.heard(freqs[j]), 1500.0);
      }
    }
  }
  // Talker and level events came back for every caller.
  std::array<bool, 3> talking{};
  std::array<bool, 3> level{};
  rtp::Event raw;
  std::optional<Event> e;
  while (engine.poll_event(0, raw, e)) {
    if (!e || e->participant < 100 || e->participant > 102) continue;
    if (e->kind == Event::Kind::kStartedTalking) talking[e->participant - 100] = true;
    if (e->kind == Event::Kind::kLevel) {
      level[e->participant - 100] = true;
      EXPECT_LT(e->value, 40u);  // a 6000-amplitude tone is about -17 dBov
    }
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(talking[i]) << i;
    EXPECT_TRUE(level[i]) << i;
  }
  // Caller 1 (700 Hz) goes on hold through the command ring: the others stop
  // hearing it, and it hears music instead of them.
  ParticipantSettings hold;
  hold.hold = HoldMode::kMusic;
  ASSERT_TRUE(engine.update_participant(77, 101, hold));
  for (auto& c : callers) c->forget();
  for (int t = 0; t < 40; ++t) {
    for (auto& c : callers) c->send_frame();
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
    for (auto& c : callers) c->receive(t >= 15);
  }
  EXPECT_LT(callers[0]->heard(700), 300.0);
  EXPECT_GT(callers[0]->heard(900), 1500.0);
  EXPECT_LT(callers[1]->heard(500), 300.0);
  EXPECT_LT(callers[1]->heard(900), 300.0);
  EXPECT_GT(callers[1]->level(), 300.0);  // the music

  EXPECT_GT(engine.media(0).mix_ticks(), 30u);
  EXPECT_EQ(engine.media(0).commands_dropped(), 0u);
  EXPECT_GT(engine.media(0).mix_durations_us().count(), 0u);
  engine.stop();
}

TEST(Engine, MixerEventsRoundTripThroughShardEvents) {
  const Event e{Event::Kind::kStartedTalking, 9, 1234567890123ULL, 17};
  const auto back = Event::from_rtp(e.to_rtp());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->kind, e.kind);
  EXPECT_EQ(back->conference, 9u);
  EXPECT_EQ(back->participant, 1234567890123ULL);
  EXPECT_EQ(back->value, 17u);
  // Stream events and unknown user codes are not mixer events.
  rtp::Event timeout;
  timeout.kind = rtp::EventKind::kRtpTimeout;
  EXPECT_FALSE(Event::from_rtp(timeout).has_value());
  rtp::Event odd;
  odd.kind = rtp::EventKind::kUser;
  for (uint32_t code : {0u, 99u, 0xFFFFFFFFu}) {
    odd.user_code = code;
    EXPECT_FALSE(Event::from_rtp(odd).has_value()) << code;
  }
}

TEST(Engine, ConferenceOutgrowingAPartSpansAnotherShard) {
  EngineConfig config;
  config.shards = 2;
  config.max_per_part = 2;
  config.shard.bind_address = boost::asio::ip::make_address("127.0.0.1");
  config.shard.port_first = 43000;
  config.shard.port_last = 43999;
  Engine engine(config);
  for (ParticipantId p = 1; p <= 4; ++p) {
    Command c;
    c.kind = Command::Kind::kAddParticipant;
    c.conference = 5;
    c.participant = p;
    c.codec = default_params(CodecId::kPcmu);
    c.stream.id = static_cast<rtp::StreamId>(p);
    ASSERT_TRUE(engine.add_participant(c).has_value());
  }
  EXPECT_EQ(engine.parts(5), 2u);
  EXPECT_NE(engine.shard_of(5, 1), engine.shard_of(5, 3));
  EXPECT_TRUE(engine.remove_participant(5, 3));
  EXPECT_FALSE(engine.remove_participant(5, 3));
  EXPECT_FALSE(engine.shard_of(5, 3).has_value());
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
