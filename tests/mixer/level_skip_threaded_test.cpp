// RFC 6464 levels let the mixer skip decoding silent members: through a real
// media shard on 127.0.0.1, packets whose client-to-mixer audio level says
// -60 dBov or quieter are not decoded (counted), louder ones are, and a
// stream without the extension is always decoded.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "mixer/codec.hpp"
#include "mixer/engine.hpp"
#include "mixer/tone.hpp"
#include "rtp/packet.hpp"

namespace chorus::mixer {
namespace {

constexpr uint8_t kOpusPt = 111;
constexpr uint8_t kLevelExtId = 1;
constexpr int kQuietPackets = 25;
constexpr int kLoudPackets = 25;

struct Outcome {
  uint64_t skipped = 0;
  uint64_t ticks = 0;
};

// Sends kQuietPackets packets marked silent (level 127, though they carry a
// tone: the level is what the mixer trusts) then kLoudPackets at -21 dBov,
// 20 ms apart, to one participant of a one-shard engine. `levels` = false
// sends no extension at all.
Outcome run(bool levels) {
  EngineConfig config;
  config.shards = 1;
  config.shard.bind_address = boost::asio::ip::make_address("127.0.0.1");
  config.shard.port_first = static_cast<uint16_t>(46000 + (::getpid() % 200) * 10);
  config.shard.port_last = static_cast<uint16_t>(config.shard.port_first + 9);
  Engine engine(config);
  engine.start();

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self), 0);
  socklen_t len = sizeof self;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len);

  const CodecParams codec = default_params(CodecId::kOpus);
  Command c;
  c.kind = Command::Kind::kAddParticipant;
  c.conference = 9;
  c.participant = 1;
  c.codec = codec;
  c.payload_type = kOpusPt;
  c.stream.id = 1;
  c.stream.clock_rate = 48000;
  c.stream.samples_per_tick = 960;
  c.stream.audio_level_ext_id = kLevelExtId;
  c.has_remote = true;
  c.remote_rtp = {boost::asio::ip::make_address("127.0.0.1"), ntohs(self.sin_port)};
  EXPECT_TRUE(engine.add_participant(c).has_value());

  uint16_t port = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (port == 0 && std::chrono::steady_clock::now() < give_up) {
    rtp::Event raw;
    std::optional<Event> e;
    while (engine.poll_event(0, raw, e)) {
      if (e && e->kind == Event::Kind::kParticipantAdded) port = static_cast<uint16_t>(e->value);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_NE(port, 0);
  Outcome outcome;
  if (port == 0) {
    ::close(fd);
    return outcome;
  }

  auto encoder = make_encoder(codec);
  ToneGenerator tone(48000, {440.0}, 6000.0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(port);
  auto next = std::chrono::steady_clock::now();
  for (int i = 0; i < kQuietPackets + kLoudPackets; ++i) {
    Frame f;
    f.sample_rate = 48000;
    f.samples = 960;
    tone.fill(f.pcm());
    std::array<uint8_t, kMaxPayloadBytes> payload{};
    const size_t size = encoder->encode(f, payload);
    std::optional<std::pair<uint8_t, rtp::AudioLevel>> level;
    const bool quiet = i < kQuietPackets;
    if (levels) level.emplace(kLevelExtId, rtp::AudioLevel{!quiet, quiet ? uint8_t{127} : uint8_t{21}});
    std::array<uint8_t, kMaxPayloadBytes + 32> packet{};
    const rtp::RtpHeader h{kOpusPt, i == 0, static_cast<uint16_t>(i), static_cast<uint32_t>(i) * 960u,
                           0x1e7e1};
    const size_t n = rtp::write_packet(packet, h, std::span<const uint8_t>(payload.data(), size), level);
    ::sendto(fd, packet.data(), n, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // play out the buffer
  outcome.skipped = engine.media(0).decodes_skipped();
  outcome.ticks = engine.media(0).mix_ticks();
  engine.stop();
  ::close(fd);
  return outcome;
}

TEST(MediaShardLevels, SilentLevelSkipsTheDecodeLoudLevelDoesNot) {
  const Outcome o = run(true);
  // Every quiet packet that played was skipped (a late one on a loaded machine
  // may be dropped instead); no loud one was.
  EXPECT_GE(o.skipped, static_cast<uint64_t>(kQuietPackets - 3));
  EXPECT_LE(o.skipped, static_cast<uint64_t>(kQuietPackets));
  EXPECT_GT(o.ticks, static_cast<uint64_t>(kQuietPackets + kLoudPackets));
}

TEST(MediaShardLevels, WithoutTheExtensionEveryPacketIsDecoded) {
  const Outcome o = run(false);
  EXPECT_EQ(o.skipped, 0u);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
