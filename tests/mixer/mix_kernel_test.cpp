// The N-1 kernel's inner loops: ramps, gains, sum-once/subtract-own.
#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <vector>

#include "mixer/mix_kernel.hpp"
#include "mixer/participant.hpp"

namespace chorus::mixer {
namespace {

TEST(MixKernel, RampRisesMonotonicallyToUnityThenCopies) {
  const RampTable table(64);
  RampState ramp;
  ramp.rising = true;
  std::vector<int16_t> in(160, 10000);
  std::vector<int32_t> out(160);
  contribute(out, in, kUnityGainQ12, table, ramp);
  for (size_t i = 1; i < 64; ++i) EXPECT_GE(out[i], out[i - 1]);
  EXPECT_LT(out[0], 100);
  for (size_t i = 64; i < 160; ++i) EXPECT_EQ(out[i], 10000);
  EXPECT_TRUE(ramp.full(table));
  // And falls back to silence, staying there.
  ramp.rising = false;
  contribute(out, in, kUnityGainQ12, table, ramp);
  for (size_t i = 1; i < 64; ++i) EXPECT_LE(out[i], out[i - 1]);
  for (size_t i = 64; i < 160; ++i) EXPECT_EQ(out[i], 0);
  EXPECT_FALSE(ramp.active());
}

TEST(MixKernel, RampSpanningFramesIsContinuous) {
  const RampTable table(384);  // 8 ms at 48 kHz, longer than... one 2 ms chunk
  RampState ramp;
  ramp.rising = true;
  std::vector<int16_t> in(96, 20000);
  std::vector<int32_t> out(96);
  int32_t last = 0;
  for (int chunk = 0; chunk < 5; ++chunk) {
    contribute(out, in, kUnityGainQ12, table, ramp);
    EXPECT_GE(out[0], last);
    EXPECT_LT(out[0] - last, 200);
    last = out.back();
  }
  EXPECT_GT(last, 19000);
}

TEST(MixKernel, GainsAreQ12AndClamped) {
  EXPECT_EQ(gain_to_q12(1.0F), kUnityGainQ12);
  EXPECT_EQ(gain_to_q12(0.5F), kUnityGainQ12 / 2);
  EXPECT_EQ(gain_to_q12(100.0F), kMaxGainQ12);
  EXPECT_EQ(gain_to_q12(-1.0F), 0);
  EXPECT_EQ(gain_to_q12(std::nanf("")), 0);
  const RampTable table(8);
  RampState full{8, true};
  std::vector<int16_t> in = {32767, -32768, 100, -100};
  std::vector<int32_t> out(4);
  contribute(out, in, kMaxGainQ12, table, full);
  EXPECT_EQ(out[0], 32767 * 8);
  EXPECT_EQ(out[1], -32768 * 8);
}

TEST(MixKernel, NMinusOneMatchesTheNaiveMixForQuietInputs) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> sample(-2000, 2000);
  constexpr size_t kInputs = 12;
  constexpr size_t kN = 160;
  std::vector<std::vector<int16_t>> in(kInputs, std::vector<int16_t>(kN));
  for (auto& v : in) {
    for (auto& s : v) s = static_cast<int16_t>(sample(rng));
  }
  std::vector<std::vector<int16_t>> out(kInputs, std::vector<int16_t>(kN));
  std::vector<std::span<const int16_t>> ins(in.begin(), in.end());
  std::vector<std::span<int16_t>> outs(out.begin(), out.end());
  std::vector<Limiter> limiters(kInputs);
  std::vector<int32_t> sum(kN), scratch(kN);
  mix_n_minus_1(ins, outs, limiters, sum, scratch);
  for (size_t l = 0; l < kInputs; ++l) {
    for (size_t i = 0; i < kN; ++i) {
      int32_t expect = 0;
      for (size_t s = 0; s < kInputs; ++s) {
        if (s != l) expect += in[s][i];
      }
      ASSERT_EQ(out[l][i], expect) << l << " " << i;
    }
  }
}

TEST(MixKernel, SubtractAndAccumulate) {
  std::vector<int32_t> acc = {10, 20, 30};
  const std::vector<int32_t> own = {1, 2, 3};
  std::vector<int32_t> out(3);
  subtract(out, acc, own);
  EXPECT_EQ(out, (std::vector<int32_t>{9, 18, 27}));
  accumulate(acc, own);
  EXPECT_EQ(acc, (std::vector<int32_t>{11, 22, 33}));
  const std::vector<int16_t> in = {4096, -4096, 2};
  accumulate_scaled(acc, in, kUnityGainQ12 / 2);
  EXPECT_EQ(acc, (std::vector<int32_t>{11 + 2048, 22 - 2048, 34}));
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
