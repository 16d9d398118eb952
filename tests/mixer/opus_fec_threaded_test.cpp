// Opus in-band FEC on receive, through a real media shard on 127.0.0.1: a
// caller sends Opus over UDP with some packets left out; when the packet after
// a lost one is already buffered, the shard rebuilds the lost frame from that
// packet's LBRR data (RFC 7587 §3.2.1) instead of concealing it.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/engine.hpp"
#include "mixer/opus_codec.hpp"
#include "mixer/tone.hpp"
#include "rtp/packet.hpp"
#include "tests/mixer/engine_test_support.hpp"

namespace chorus::mixer {
namespace {

constexpr uint8_t kOpusPt = 111;
constexpr int kPackets = 45;
const std::set<int> kDropped = {12, 22, 32};

struct Outcome {
  uint64_t recovered = 0;
  uint64_t concealed = 0;
  int next_had_fec = 0;  // how many of the packets after a drop carry LBRR
};

// Sends kPackets Opus packets (20 ms, 48 kHz, paced in real time) to one
// participant of a one-shard engine, leaving out kDropped.
Outcome run(bool fec) {
  CodecParams codec = default_params(CodecId::kOpus);
  codec.bitrate = 24000;
  codec.fec = fec;
  Command c;
  c.conference = 5;
  c.participant = 1;
  c.codec = codec;
  c.payload_type = kOpusPt;
  // Room for scheduling noise on a shared machine: the packet after a loss
  // must be buffered by the time the lost frame is due.
  c.stream.jitter.min_delay_ms = 60;
  c.stream.jitter.initial_delay_ms = 80;
  testing::LoopbackMember member(std::move(c), 44000);
  Outcome outcome;
  if (member.port() == 0) return outcome;

  auto encoder = make_encoder(codec);
  ToneGenerator tone(48000, {330.0, 990.0}, 6000.0);
  auto next = std::chrono::steady_clock::now();
  for (int i = 0; i < kPackets; ++i) {
    Frame f;
    f.sample_rate = 48000;
    f.samples = 960;
    tone.fill(f.pcm());
    std::array<uint8_t, kMaxPayloadBytes> payload{};
    const size_t size = encoder->encode(f, payload);
    EXPECT_GT(size, 0u);
    const auto bytes = std::span<const uint8_t>(payload.data(), size);
    if (kDropped.contains(i - 1) && opus_packet_has_fec(bytes)) ++outcome.next_had_fec;
    if (!kDropped.contains(i)) {
      std::array<uint8_t, kMaxPayloadBytes + 12> packet{};
      const rtp::RtpHeader h{kOpusPt, i == 0, static_cast<uint16_t>(i),
                             static_cast<uint32_t>(i) * 960u, 0x5eed};
      const size_t n = rtp::write_packet(packet, h, bytes);
      member.send(std::span<const uint8_t>(packet.data(), n));
    }
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
  }
  // Let the jitter buffer play out what is left.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  outcome.recovered = member.engine().shard_status(0).frames_fec_recovered;
  outcome.concealed = member.engine().shard_status(0).frames_concealed;
  return outcome;
}

TEST(MediaShardFec, LostOpusFrameIsRebuiltFromTheNextPacketsFec) {
  const Outcome o = run(true);
  // The encoder did put LBRR data in the packets that follow the losses.
  ASSERT_EQ(o.next_had_fec, static_cast<int>(kDropped.size()));
  // Every loss is handled one way or the other; a late packet on a loaded
  // machine may turn one into plain concealment, so at least two must use FEC.
  EXPECT_GE(o.recovered, kDropped.size() - 1) << "concealed " << o.concealed;
  EXPECT_LE(o.recovered, kDropped.size());
}

TEST(MediaShardFec, WithoutFecInTheStreamLossIsConcealed) {
  const Outcome o = run(false);
  EXPECT_EQ(o.next_had_fec, 0);
  EXPECT_EQ(o.recovered, 0u);
  EXPECT_GE(o.concealed, kDropped.size());
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
