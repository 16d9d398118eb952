// The shared Goertzel helper and tone generator that every layer's audio
// tests rely on: if these lie, every "A hears B" assertion lies.

#include <gtest/gtest.h>

#include <vector>

#include "mixer/goertzel.hpp"
#include "mixer/tone.hpp"

namespace chorus::mixer {
namespace {

TEST(Goertzel, MeasuresTheAmplitudeOfATone) {
  for (int rate : {8000, 16000, 48000}) {
    SCOPED_TRACE(rate);
    ToneGenerator tone(rate, {1000.0}, 6000.0);
    Frame f;
    tone.next_frame(f);
    EXPECT_NEAR(goertzel_amplitude(f.pcm(), 1000.0, rate), 6000.0, 60.0);
    EXPECT_NEAR(goertzel_power(f.pcm(), 1000.0, rate), 6000.0 * 6000.0, 6000.0 * 6000.0 * 0.02);
  }
}

TEST(Goertzel, IgnoresOtherFrequencies) {
  ToneGenerator tone(8000, {400.0}, 8000.0);
  Frame f;
  tone.next_frame(f);
  // 20 ms bins are 50 Hz apart: 400 and 600 Hz are four bins apart.
  EXPECT_LT(goertzel_amplitude(f.pcm(), 600.0, 8000), 80.0);
  EXPECT_LT(goertzel_amplitude(f.pcm(), 1000.0, 8000), 80.0);
}

TEST(Goertzel, SeparatesTheTonesOfAMix) {
  ToneGenerator tone(16000, {400.0, 600.0, 800.0}, 3000.0);
  Frame f;
  tone.next_frame(f);
  for (double hz : {400.0, 600.0, 800.0})
    EXPECT_NEAR(goertzel_amplitude(f.pcm(), hz, 16000), 3000.0, 60.0);
  EXPECT_LT(goertzel_amplitude(f.pcm(), 1000.0, 16000), 60.0);
}

TEST(Goertzel, EmptyAndSilentBlocksHaveNoEnergy) {
  EXPECT_EQ(goertzel_amplitude({}, 1000.0, 8000), 0.0);
  std::vector<int16_t> zeros(160, 0);
  EXPECT_EQ(goertzel_amplitude(zeros, 1000.0, 8000), 0.0);
  EXPECT_EQ(rms(zeros), 0.0);
  EXPECT_EQ(rms({}), 0.0);
}

TEST(ToneGenerator, IsPhaseContinuousAcrossFrames) {
  ToneGenerator tone(8000, {1000.0}, 10000.0);
  Frame a, b;
  tone.next_frame(a);
  tone.next_frame(b);
  // The step from the last sample of one frame to the first of the next is
  // no bigger than any step inside a frame.
  int max_inside = 0;
  for (size_t i = 1; i < a.samples; ++i)
    max_inside = std::max(max_inside, std::abs(a.data[i] - a.data[i - 1]));
  EXPECT_LE(std::abs(b.data[0] - a.data[a.samples - 1]), max_inside + 1);
  EXPECT_EQ(a.samples, 160u);
  EXPECT_FALSE(a.silent);
}

TEST(ToneGenerator, SaturatesInsteadOfWrapping) {
  ToneGenerator tone(8000, {500.0, 500.0}, 30000.0);  // peaks at 60000
  Frame f;
  tone.next_frame(f);
  int16_t peak = 0;
  for (int16_t s : f.pcm()) peak = std::max(peak, s);
  EXPECT_EQ(peak, 32767);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
