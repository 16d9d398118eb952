// Jitter buffer cost per packet: one insert (copy into the ring, transit
// bookkeeping, periodic percentile) and one pull per 20 ms frame.
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>

#include "rtp/jitter_buffer.hpp"

namespace {

using chorus::rtp::JitterBuffer;
using chorus::rtp::JitterConfig;
using chorus::rtp::JitterPacket;
using Clock = std::chrono::steady_clock;

// In order, steady: the common case.
void BM_JitterBufferInsertPullInOrder(benchmark::State& state) {
  JitterBuffer jb(JitterConfig{}, 8000, 160);
  std::array<uint8_t, 160> payload{};
  JitterPacket p;
  p.ssrc = 1;
  p.payload = payload;
  auto now = Clock::time_point() + std::chrono::hours(1);
  uint32_t n = 0;
  for (auto _ : state) {
    p.sequence = static_cast<uint16_t>(n);
    p.timestamp = n * 160;
    benchmark::DoNotOptimize(jb.insert(p, now));
    now += std::chrono::milliseconds(20);
    benchmark::DoNotOptimize(jb.pull(now));
    ++n;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_JitterBufferInsertPullInOrder);

// Every pair swapped and arrival jitter of 0-60 ms: reordering and adaptation.
void BM_JitterBufferInsertPullJittery(benchmark::State& state) {
  JitterBuffer jb(JitterConfig{}, 8000, 160);
  std::array<uint8_t, 160> payload{};
  JitterPacket p;
  p.ssrc = 1;
  p.payload = payload;
  const auto start = Clock::time_point() + std::chrono::hours(1);
  uint32_t n = 0;
  uint32_t lcg = 12345;
  for (auto _ : state) {
    const uint32_t i = n ^ 1u;  // swap pairs
    lcg = lcg * 1664525u + 1013904223u;
    p.sequence = static_cast<uint16_t>(i);
    p.timestamp = i * 160;
    const auto arrival = start + std::chrono::milliseconds(20 * n + (lcg >> 26));
    benchmark::DoNotOptimize(jb.insert(p, arrival));
    benchmark::DoNotOptimize(jb.pull(start + std::chrono::milliseconds(20 * n + 10)));
    ++n;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_JitterBufferInsertPullJittery);

}  // namespace

BENCHMARK_MAIN();
