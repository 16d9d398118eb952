// RFC 6464 levels let the mixer skip decoding silent members: through a real
// media shard on 127.0.0.1, packets whose client-to-mixer audio level says
// -60 dBov or quieter are not decoded (counted), louder ones are, and a
// stream without the extension is always decoded.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "mixer/codec.hpp"
#include "mixer/engine.hpp"
#include "mixer/tone.hpp"
#include "rtp/packet.hpp"
#include "tests/mixer/engine_test_support.hpp"

namespace chorus::mixer {
namespace {

constexpr uint8_t kOpusPt = 111;
constexpr uint8_t kLevelExtId = 1;
constexpr int kQuietPackets = 25;
constexpr int kLoudPackets = 25;

struct Outcome {
  uint64_t skipped = 0;
  uint64_t ticks = 0;
  uint64_t misses = 0;  // the shard's deadline misses
};

// Sends kQuietPackets packets marked silent (level 127, though they carry a
// tone: the level is what the mixer trusts) then kLoudPackets at -21 dBov,
// 20 ms apart, to one participant of a one-shard engine. `levels` = false
// sends no extension at all.
Outcome run(bool levels) {
  const CodecParams codec = default_params(CodecId::kOpus);
  Command c;
  c.conference = 9;
  c.participant = 1;
  c.codec = codec;
  c.payload_type = kOpusPt;
  c.stream.audio_level_ext_id = kLevelExtId;
  testing::LoopbackMember member(std::move(c), 46000);
  Outcome outcome;
  if (member.port() == 0) return outcome;

  auto encoder = make_encoder(codec);
  ToneGenerator tone(48000, {440.0}, 6000.0);
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
    if (levels)
      level.emplace(kLevelExtId, rtp::AudioLevel{!quiet, quiet ? uint8_t{127} : uint8_t{21}});
    std::array<uint8_t, kMaxPayloadBytes + 32> packet{};
    const rtp::RtpHeader h{kOpusPt, i == 0, static_cast<uint16_t>(i),
                           static_cast<uint32_t>(i) * 960u, 0x1e7e1};
    const size_t n =
        rtp::write_packet(packet, h, std::span<const uint8_t>(payload.data(), size), level);
    member.send(std::span<const uint8_t>(packet.data(), n));
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
  }
  // Play out the buffer, then wait (bounded) for the mix ticks that cover
  // every packet: a loaded machine may have run the shard late.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (member.engine().shard_status(0).mix_ticks <=
             static_cast<uint64_t>(kQuietPackets + kLoudPackets) &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto status = member.engine().shard_status(0);
  outcome.skipped = status.decodes_skipped;
  outcome.ticks = status.mix_ticks;
  outcome.misses = status.deadline_misses;
  return outcome;
}

TEST(MediaShardLevels, SilentLevelSkipsTheDecodeLoudLevelDoesNot) {
  const Outcome o = run(true);
  // Every quiet packet that played was skipped (a late one on a loaded machine
  // may be dropped instead, and a tick the shard missed can drop one: allowed
  // for up to half of them); no loud one was.
  const uint64_t missed = std::min<uint64_t>(o.misses, kQuietPackets / 2);
  EXPECT_GE(o.skipped, static_cast<uint64_t>(kQuietPackets - 3) - missed) << o.misses;
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
