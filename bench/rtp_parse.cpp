// RTP/RTCP parsing cost per packet: a 172-byte PCMU packet (12-byte header +
// 160 bytes of G.711) with and without an RFC 6464 audio-level extension,
// plus writing one and parsing a typical SR+SDES compound.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>

#include "rtp/packet.hpp"
#include "rtp/receive_stats.hpp"
#include "rtp/rtcp.hpp"

namespace {

using namespace chorus::rtp;

struct Packet {
  std::array<uint8_t, 256> data{};
  size_t size = 0;
};

Packet make_pcmu(bool with_level) {
  Packet p;
  std::array<uint8_t, 160> payload{};
  payload.fill(0xFF);
  const RtpHeader h{0, false, 4242, 679520, 0x11223344};
  p.size = with_level ? write_packet(p.data, h, payload,
                                     std::pair<uint8_t, AudioLevel>{1, AudioLevel{true, 42}})
                      : write_packet(p.data, h, payload);
  return p;
}

void BM_ParsePcmu(benchmark::State& state) {
  const Packet p = make_pcmu(false);
  const std::span<const uint8_t> bytes(p.data.data(), p.size);
  for (auto _ : state) {
    benchmark::DoNotOptimize(bytes.data());
    auto view = PacketView::parse(bytes);
    benchmark::DoNotOptimize(view->payload().data());
    benchmark::DoNotOptimize(view->sequence() + view->timestamp() + view->ssrc());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * p.size));
}
BENCHMARK(BM_ParsePcmu);

void BM_ParsePcmuWithAudioLevel(benchmark::State& state) {
  const Packet p = make_pcmu(true);
  const std::span<const uint8_t> bytes(p.data.data(), p.size);
  for (auto _ : state) {
    benchmark::DoNotOptimize(bytes.data());
    auto view = PacketView::parse(bytes);
    auto level = view->audio_level(1);
    benchmark::DoNotOptimize(level);
    benchmark::DoNotOptimize(view->payload().data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * p.size));
}
BENCHMARK(BM_ParsePcmuWithAudioLevel);

void BM_WritePcmuWithAudioLevel(benchmark::State& state) {
  std::array<uint8_t, 256> out{};
  std::array<uint8_t, 160> payload{};
  uint16_t seq = 0;
  for (auto _ : state) {
    const size_t n = write_packet(out, RtpHeader{0, false, ++seq, seq * 160u, 1}, payload,
                                  std::pair<uint8_t, AudioLevel>{1, AudioLevel{false, 60}});
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_WritePcmuWithAudioLevel);

void BM_ReceiveStatsOnPacket(benchmark::State& state) {
  ReceiveStats stats(8000);
  auto t = std::chrono::steady_clock::time_point{};
  uint16_t seq = 0;
  for (auto _ : state) {
    ++seq;
    t += std::chrono::milliseconds(20);
    benchmark::DoNotOptimize(stats.on_packet(seq, seq * 160u, t, 160));
  }
}
BENCHMARK(BM_ReceiveStatsOnPacket);

void BM_ParseRtcpSrSdes(benchmark::State& state) {
  std::array<uint8_t, 256> buf{};
  RtcpWriter w(buf);
  const std::array blocks{ReportBlock{1, 2, 3, 4, 5, 6, 7}};
  w.add_sender_report(0xCAFEBABE, SenderInfo{1, 2, 3, 4}, blocks);
  w.add_sdes_cname(0xCAFEBABE, "chorus@example.org");
  const auto bytes = w.bytes();
  for (auto _ : state) {
    benchmark::DoNotOptimize(bytes.data());
    const auto compound = RtcpCompoundView::parse(bytes);
    uint32_t acc = 0;
    for (const RtcpPacketView p : *compound) {
      if (auto sr = parse_sender_report(p)) acc += sr->blocks[0].jitter;
      if (auto cname = sdes_cname(p)) acc += static_cast<uint32_t>(cname->size());
    }
    benchmark::DoNotOptimize(acc);
  }
}
BENCHMARK(BM_ParseRtcpSrSdes);

}  // namespace

BENCHMARK_MAIN();
