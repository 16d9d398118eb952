// The "codec floor": what one 20 ms frame costs to encode and to decode for
// each codec the mixer speaks, mono. The capacity benchmarks compare a full
// mixer tick against these figures.

#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <random>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/resampler.hpp"
#include "mixer/tone.hpp"

namespace chorus::mixer {
namespace {

constexpr int kFrames = 50;  // one second of input, cycled

// A second of voice-like input: a few harmonics of a 150 Hz voice plus
// noise, so codecs do real work (pure silence would be unfairly cheap).
std::vector<Frame> input(int rate) {
  ToneGenerator voice(rate, {150.0, 450.0, 900.0, 2100.0}, 2500.0);
  std::mt19937 rng(1);
  std::normal_distribution<double> noise(0.0, 300.0);
  std::vector<Frame> frames(kFrames);
  for (Frame& f : frames) {
    voice.next_frame(f);
    for (int16_t& s : f.pcm()) s = static_cast<int16_t>(s + noise(rng));
  }
  return frames;
}

CodecParams params(CodecId id, int rate, int complexity) {
  CodecParams p = default_params(id);
  if (id == CodecId::kOpus) {
    p.sample_rate = rate;
    p.complexity = complexity;
  }
  return p;
}

void encode(benchmark::State& state, CodecId id, int rate, int complexity) {
  const CodecParams p = params(id, rate, complexity);
  auto enc = make_encoder(p);
  const auto frames = input(p.sample_rate);
  std::array<uint8_t, kMaxPayloadBytes> out{};
  size_t i = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    bytes += enc->encode(frames[i], out);
    benchmark::DoNotOptimize(out.data());
    if (++i == frames.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes/frame"] =
      static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}

void decode(benchmark::State& state, CodecId id, int rate, int complexity) {
  const CodecParams p = params(id, rate, complexity);
  auto enc = make_encoder(p);
  auto dec = make_decoder(p);
  std::vector<std::vector<uint8_t>> packets;
  std::array<uint8_t, kMaxPayloadBytes> buf{};
  for (const Frame& f : input(p.sample_rate)) {
    const size_t n = enc->encode(f, buf);
    packets.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  Frame out;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(dec->decode(packets[i], out));
    benchmark::DoNotOptimize(out.data.data());
    if (++i == packets.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void conceal(benchmark::State& state, CodecId id, int rate) {
  const CodecParams p = params(id, rate, 5);
  auto enc = make_encoder(p);
  auto dec = make_decoder(p);
  std::array<uint8_t, kMaxPayloadBytes> buf{};
  const auto frames = input(p.sample_rate);
  Frame out;
  size_t i = 0;
  for (auto _ : state) {
    // One loss after every good frame: the PLC restarts each time (its worst case).
    const size_t n = enc->encode(frames[i], buf);
    dec->decode(std::span(buf.data(), n), out);
    dec->conceal(out);
    benchmark::DoNotOptimize(out.data.data());
    if (++i == frames.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void resample(benchmark::State& state, int from, int to) {
  Resampler rs(from, to);
  const auto frames = input(from);
  Frame out;
  size_t i = 0;
  for (auto _ : state) {
    rs.process(frames[i], out);
    benchmark::DoNotOptimize(out.data.data());
    if (++i == frames.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(encode, pcmu, CodecId::kPcmu, 8000, 0);
BENCHMARK_CAPTURE(encode, pcma, CodecId::kPcma, 8000, 0);
BENCHMARK_CAPTURE(encode, g722, CodecId::kG722, 16000, 0);
BENCHMARK_CAPTURE(encode, opus_8k_c5, CodecId::kOpus, 8000, 5);
BENCHMARK_CAPTURE(encode, opus_8k_c10, CodecId::kOpus, 8000, 10);
BENCHMARK_CAPTURE(encode, opus_16k_c5, CodecId::kOpus, 16000, 5);
BENCHMARK_CAPTURE(encode, opus_16k_c10, CodecId::kOpus, 16000, 10);
BENCHMARK_CAPTURE(encode, opus_48k_c5, CodecId::kOpus, 48000, 5);
BENCHMARK_CAPTURE(encode, opus_48k_c10, CodecId::kOpus, 48000, 10);

BENCHMARK_CAPTURE(decode, pcmu, CodecId::kPcmu, 8000, 0);
BENCHMARK_CAPTURE(decode, pcma, CodecId::kPcma, 8000, 0);
BENCHMARK_CAPTURE(decode, g722, CodecId::kG722, 16000, 0);
BENCHMARK_CAPTURE(decode, opus_8k_c5, CodecId::kOpus, 8000, 5);
BENCHMARK_CAPTURE(decode, opus_8k_c10, CodecId::kOpus, 8000, 10);
BENCHMARK_CAPTURE(decode, opus_16k_c5, CodecId::kOpus, 16000, 5);
BENCHMARK_CAPTURE(decode, opus_16k_c10, CodecId::kOpus, 16000, 10);
BENCHMARK_CAPTURE(decode, opus_48k_c5, CodecId::kOpus, 48000, 5);
BENCHMARK_CAPTURE(decode, opus_48k_c10, CodecId::kOpus, 48000, 10);

BENCHMARK_CAPTURE(conceal, pcmu, CodecId::kPcmu, 8000);
BENCHMARK_CAPTURE(conceal, g722, CodecId::kG722, 16000);
BENCHMARK_CAPTURE(conceal, opus_48k, CodecId::kOpus, 48000);

BENCHMARK_CAPTURE(resample, 8k_to_48k, 8000, 48000);
BENCHMARK_CAPTURE(resample, 48k_to_8k, 48000, 8000);
BENCHMARK_CAPTURE(resample, 16k_to_48k, 16000, 48000);

}  // namespace
}  // namespace chorus::mixer

BENCHMARK_MAIN();
