// The soft limiter and saturating conversion (STYLE.md §3): fifty people
// shouting at once neither wrap nor crackle.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <random>
#include <vector>

#include "mixer/limiter.hpp"
#include "mixer/mix_kernel.hpp"
#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

std::vector<int16_t> tone(size_t n, double freq, double amplitude, double phase, int rate) {
  std::vector<int16_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<int16_t>(
        std::lround(amplitude * std::sin(phase + 2.0 * std::numbers::pi * freq * i / rate)));
  }
  return out;
}

TEST(Limiter, QuietMixPassesUnchanged) {
  Limiter limiter;
  std::vector<int32_t> mix(160);
  for (size_t i = 0; i < mix.size(); ++i) mix[i] = static_cast<int32_t>(i * 97 % 20000) - 10000;
  std::vector<int16_t> out(160);
  EXPECT_FLOAT_EQ(limiter.process(mix, out), 1.0F);
  for (size_t i = 0; i < mix.size(); ++i) EXPECT_EQ(out[i], mix[i]);
}

TEST(Limiter, SaturatesInsteadOfWrapping) {
  EXPECT_EQ(saturate16(40000), 32767);
  EXPECT_EQ(saturate16(-40000), -32768);
  EXPECT_EQ(saturate16(32767), 32767);
  EXPECT_EQ(saturate16(-123), -123);
}

// Fifty full-scale talkers in phase, through the O(N) N-1 kernel: every
// listener's output keeps the true sum's sign, stays under the ceiling and
// never jumps (a wrap would jump by ~65536).
TEST(Limiter, FiftyFullScaleTalkersNeitherWrapNorJump) {
  constexpr size_t kTalkers = 50;
  constexpr size_t kN = 160;
  std::vector<std::vector<int16_t>> pcm;
  for (size_t t = 0; t < kTalkers; ++t) pcm.push_back(tone(kN * 10, 400, 32767, 0.01 * t, 8000));
  std::vector<Limiter> limiters(kTalkers);
  std::vector<std::vector<int16_t>> heard(kTalkers);
  std::vector<int32_t> sum(kN), scratch(kN);
  std::vector<std::vector<int16_t>> out(kTalkers, std::vector<int16_t>(kN));
  for (size_t frame = 0; frame < 10; ++frame) {
    std::vector<std::span<const int16_t>> in;
    std::vector<std::span<int16_t>> outs;
    for (size_t t = 0; t < kTalkers; ++t) {
      in.emplace_back(pcm[t].data() + frame * kN, kN);
      outs.emplace_back(out[t]);
    }
    mix_n_minus_1(in, outs, limiters, sum, scratch);
    for (size_t t = 0; t < kTalkers; ++t) {
      for (size_t i = 0; i < kN; ++i) {
        const int32_t truth = sum[i] - pcm[t][frame * kN + i];
        const int16_t got = out[t][i];
        // Same sign wherever the truth is clearly non-zero.
        if (std::abs(truth) > 50000) {
          ASSERT_EQ(truth > 0, got > 0) << frame << " " << i;
        }
        ASSERT_LE(std::abs(got), static_cast<int>(Limiter::kThreshold) + 1);
      }
      heard[t].insert(heard[t].end(), out[t].begin(), out[t].end());
    }
  }
  for (size_t t = 0; t < kTalkers; ++t) {
    int max_step = 0;
    int peak = 0;
    for (size_t i = 1; i < heard[t].size(); ++i) {
      max_step = std::max(max_step, std::abs(heard[t][i] - heard[t][i - 1]));
      peak = std::max(peak, std::abs(static_cast<int>(heard[t][i])));
    }
    // A full-scale 400 Hz sine moves at most 2*pi*400/8000*32767 ≈ 10300
    // per sample; the limited mix must not move faster than that.
    EXPECT_LT(max_step, 10300) << t;
    EXPECT_GT(peak, 25000) << t;  // limited, not crushed
  }
}

TEST(Limiter, RandomCrowdNeverFlipsSign) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> sample(-32768, 32767);
  Limiter limiter;
  std::vector<int32_t> mix(960);
  std::vector<int16_t> out(960);
  for (int frame = 0; frame < 200; ++frame) {
    for (auto& m : mix) {
      int32_t v = 0;
      for (int t = 0; t < 16; ++t) v += sample(rng);
      m = v;
    }
    limiter.process(mix, out);
    for (size_t i = 0; i < mix.size(); ++i) {
      if (mix[i] > 0) {
        ASSERT_GE(out[i], 0);
      } else if (mix[i] < 0) {
        ASSERT_LE(out[i], 0);
      }
      ASSERT_LE(std::abs(out[i]), static_cast<int>(Limiter::kThreshold) + 1);
    }
  }
}

TEST(Limiter, ExtremeAccumulatorValuesAreSafe) {
  Limiter limiter;
  std::vector<int32_t> mix = {INT32_MIN, INT32_MAX, 0, -1, 1, INT32_MIN + 1};
  std::vector<int16_t> out(mix.size());
  limiter.process(mix, out);
  EXPECT_LE(out[0], 0);
  EXPECT_GE(out[1], 0);
}

TEST(Limiter, RecoversSmoothlyAfterABurst) {
  // Loud for 10 frames, then a quiet tone: the gain releases without steps.
  Limiter limiter;
  std::vector<int16_t> heard;
  std::vector<int16_t> out(160);
  std::vector<int32_t> mix(160);
  for (int frame = 0; frame < 40; ++frame) {
    for (size_t i = 0; i < 160; ++i) {
      const auto v = static_cast<int32_t>(
          120000.0 * std::sin(2.0 * std::numbers::pi * 300.0 * (frame * 160.0 + i) / 8000.0));
      mix[i] = frame < 10 ? v : v / 8;  // 120000 then 15000
    }
    limiter.process(mix, out);
    if (frame >= 10) heard.insert(heard.end(), out.begin(), out.end());
  }
  int max_step = 0;
  for (size_t i = 1; i < heard.size(); ++i) {
    max_step = std::max(max_step, std::abs(heard[i] - heard[i - 1]));
  }
  // 300 Hz at 15000: natural slope ≈ 3534 per sample.
  EXPECT_LT(max_step, 3700);
  EXPECT_NEAR(limiter.gain(), 1.0F, 0.01F);  // released after 600 ms
}

TEST(Limiter, ConferenceOfFiftyShoutersStaysClean) {
  // Through the whole conference (top-K capped at 16 mixed) at G.711.
  testing::ConferenceHarness h(testing::config(16));
  for (ParticipantId id = 1; id <= 50; ++id) h.add(id, 400, {}, testing::pcmu(), 32000);
  h.add(100, 3000);
  h.set_speaking(100, false);
  h.run(15, 10);
  for (ParticipantId l : {ParticipantId{1}, ParticipantId{100}}) {
    const auto& pcm = h.recorded(l);
    int max_step = 0;
    for (size_t i = 1; i < pcm.size(); ++i)
      max_step = std::max(max_step, std::abs(pcm[i] - pcm[i - 1]));
    EXPECT_LT(max_step, 10300) << l;
    EXPECT_GT(h.heard(l, 400), 20000.0) << l;
  }
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
