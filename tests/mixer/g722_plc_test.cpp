// The pitch-repetition concealment used for G.722 (SpanDSP has none): it
// must continue a voiced sound at its own pitch, fade out over a long loss,
// and hand back to real audio without a click.

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "mixer/g722_plc.hpp"
#include "mixer/goertzel.hpp"
#include "mixer/tone.hpp"

namespace chorus::mixer {
namespace {

constexpr int kRate = 16000;
constexpr size_t kFrame = 320;

// A voiced-like signal: a 125 Hz fundamental (period 128 samples) with harmonics.
ToneGenerator voice() {
  return ToneGenerator(kRate, {125.0, 250.0, 375.0, 625.0}, 3000.0);
}

TEST(PitchPlc, ContinuesAVoicedSoundAtItsPitch) {
  PitchPlc plc(kRate);
  ToneGenerator gen = voice();
  std::vector<int16_t> frame(kFrame);
  for (int i = 0; i < 10; ++i) {
    gen.fill(frame);
    plc.on_good(frame);
  }
  // What the talker really said next, and what the PLC guessed.
  std::vector<int16_t> truth(kFrame), guess(kFrame);
  gen.fill(truth);
  plc.conceal(guess);
  for (double hz : {125.0, 250.0, 375.0, 625.0}) {
    EXPECT_NEAR(goertzel_amplitude(guess, hz, kRate), 3000.0, 3000.0 * 0.3) << hz;
  }
  // The first 10 ms (full level) track the true continuation closely.
  double sig = 0.0, err = 0.0;
  for (size_t i = 0; i < kFrame / 2; ++i) {
    sig += static_cast<double>(truth[i]) * truth[i];
    err += std::pow(static_cast<double>(truth[i]) - guess[i], 2.0);
  }
  EXPECT_GT(10.0 * std::log10(sig / err), 15.0);
}

TEST(PitchPlc, FadesToSilenceWithin60Ms) {
  PitchPlc plc(kRate);
  ToneGenerator gen = voice();
  std::vector<int16_t> frame(kFrame);
  for (int i = 0; i < 5; ++i) {
    gen.fill(frame);
    plc.on_good(frame);
  }
  std::vector<double> levels;
  for (int i = 0; i < 5; ++i) {
    plc.conceal(frame);
    levels.push_back(rms(frame));
  }
  EXPECT_GT(levels[0], 2000.0);
  EXPECT_LT(levels[1], levels[0]);
  EXPECT_LT(levels[2], levels[1]);
  EXPECT_EQ(levels[3], 0.0);  // 60..80 ms
  EXPECT_EQ(levels[4], 0.0);
}

TEST(PitchPlc, ResumesWithoutAClick) {
  PitchPlc plc(kRate);
  ToneGenerator gen = voice();
  std::vector<int16_t> frame(kFrame), lost(kFrame);
  for (int i = 0; i < 5; ++i) {
    gen.fill(frame);
    plc.on_good(frame);
  }
  plc.conceal(lost);
  gen.fill(frame);  // the lost frame's real audio, never received
  gen.fill(frame);
  std::vector<int16_t> raw = frame;
  plc.on_good(frame);
  // The step from the concealed tail into the resumed frame is no larger than
  // the signal's own steps; without the cross-fade it would jump.
  int max_inside = 0;
  for (size_t i = 1; i < raw.size(); ++i)
    max_inside = std::max(max_inside, std::abs(raw[i] - raw[i - 1]));
  EXPECT_LE(std::abs(frame[0] - lost.back()), max_inside * 2);
  // After the fade-in window, the audio is the real audio untouched.
  for (size_t i = 64; i < kFrame; ++i) ASSERT_EQ(frame[i], raw[i]);
}

TEST(PitchPlc, ConcealingBeforeAnyAudioIsSilent) {
  PitchPlc plc(kRate);
  std::vector<int16_t> out(kFrame, 123);
  plc.conceal(out);
  EXPECT_EQ(rms(out), 0.0);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
