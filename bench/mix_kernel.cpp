// The N-1 mix kernel: sum once and subtract own, O(N), against the naive
// O(N²) mix (each listener sums everyone else), in the same run. 20 ms at
// 8 kHz (160 samples); the limiter runs in both.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "mixer/limiter.hpp"
#include "mixer/mix_kernel.hpp"

namespace {

using chorus::mixer::Limiter;

constexpr size_t kSamples = 160;

struct Room {
  explicit Room(size_t n)
      : pcm(n, std::vector<int16_t>(kSamples)),
        out(n, std::vector<int16_t>(kSamples)),
        limiters(n),
        sum(kSamples),
        scratch(kSamples) {
    for (size_t p = 0; p < n; ++p) {
      for (size_t i = 0; i < kSamples; ++i) {
        pcm[p][i] =
            static_cast<int16_t>(3000.0 * std::sin(0.05 * static_cast<double>(i * (p + 1))));
      }
      in.emplace_back(pcm[p]);
      outs.emplace_back(out[p]);
    }
  }
  std::vector<std::vector<int16_t>> pcm;
  std::vector<std::vector<int16_t>> out;
  std::vector<std::span<const int16_t>> in;
  std::vector<std::span<int16_t>> outs;
  std::vector<Limiter> limiters;
  std::vector<int32_t> sum;
  std::vector<int32_t> scratch;
};

void report(benchmark::State& state, size_t n) {
  state.counters["per_participant"] =
      benchmark::Counter(static_cast<double>(state.iterations() * n),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_MixSumOnceSubtractOwn(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  Room room(n);
  for (auto _ : state) {
    chorus::mixer::mix_n_minus_1(room.in, room.outs, room.limiters, room.sum, room.scratch);
    benchmark::DoNotOptimize(room.out[0].data());
  }
  report(state, n);
}

void BM_MixNaiveQuadratic(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  Room room(n);
  for (auto _ : state) {
    for (size_t l = 0; l < n; ++l) {
      std::fill(room.scratch.begin(), room.scratch.end(), 0);
      for (size_t s = 0; s < n; ++s) {
        if (s == l) continue;
        for (size_t i = 0; i < kSamples; ++i) room.scratch[i] += room.pcm[s][i];
      }
      room.limiters[l].process(room.scratch, room.out[l]);
    }
    benchmark::DoNotOptimize(room.out[0].data());
  }
  report(state, n);
}

BENCHMARK(BM_MixSumOnceSubtractOwn)->Arg(3)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_MixNaiveQuadratic)->Arg(3)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
