// Talker detection: levels in dBov, attack and hangover on a tone burst,
// background noise, and RFC 6464 client-to-mixer levels.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <span>
#include <vector>

#include "mixer/level.hpp"
#include "mixer/tone.hpp"

namespace chorus::mixer {
namespace {

TEST(RmsDbov, FullScaleSquareIsZeroAndSilenceIsMinus127) {
  std::vector<int16_t> square(160);
  for (size_t i = 0; i < square.size(); ++i) square[i] = (i / 4) % 2 ? 32767 : -32768;
  EXPECT_EQ(rms_dbov(square), 0);
  std::vector<int16_t> zeros(160, 0);
  EXPECT_EQ(rms_dbov(zeros), -127);
  EXPECT_EQ(rms_dbov({}), -127);
  // A full-scale sine is 3 dB below the square; each halving of amplitude -6 dB.
  ToneGenerator full(8000, {1000.0}, 32767.0), half(8000, {1000.0}, 16384.0);
  Frame f;
  full.next_frame(f);
  EXPECT_EQ(rms_dbov(f.pcm()), -3);
  half.next_frame(f);
  EXPECT_EQ(rms_dbov(f.pcm()), -9);
}

// rms_dbov compares the mean square against precomputed edges instead of
// taking a logarithm; it must agree with the formula it replaces for every
// constant level and for arbitrary frames.
int reference_dbov(std::span<const int16_t> pcm) {
  if (pcm.empty()) return -127;
  double sum = 0.0;
  for (int16_t v : pcm) sum += static_cast<double>(v) * v;
  const double mean = sum / static_cast<double>(pcm.size());
  if (mean <= 0.0) return -127;
  const double db = 10.0 * std::log10(mean / (32768.0 * 32768.0));
  return static_cast<int>(std::clamp(std::lround(db), -127L, 0L));
}

TEST(RmsDbov, AgreesWithTheLogarithmForEveryConstantLevelAndRandomFrames) {
  std::vector<int16_t> pcm(160);
  for (int v = -32768; v <= 32767; ++v) {
    std::fill(pcm.begin(), pcm.end(), static_cast<int16_t>(v));
    ASSERT_EQ(rms_dbov(pcm), reference_dbov(pcm)) << v;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    // Amplitudes spread over the whole dB range.
    const double amplitude =
        std::pow(10.0, std::uniform_real_distribution<double>(-0.5, 4.52)(rng));
    std::normal_distribution<double> noise(0.0, amplitude);
    for (auto& s : pcm) s = static_cast<int16_t>(std::clamp(noise(rng), -32768.0, 32767.0));
    ASSERT_EQ(rms_dbov(pcm), reference_dbov(pcm)) << i;
  }
}

// Feeds `frames` 20 ms frames of a 300 Hz tone (amplitude 0 = silence) and
// returns how many of them the detector called talking.
int feed(TalkerDetector& d, double amplitude, int frames, int* flips = nullptr) {
  ToneGenerator tone(16000, {300.0}, amplitude);
  Frame f;
  int talking = 0;
  for (int i = 0; i < frames; ++i) {
    tone.next_frame(f);
    if (d.update(f)) ++talking;
    if (flips != nullptr && d.changed()) ++*flips;
  }
  return talking;
}

TEST(TalkerDetector, ToneBurstStartsAfterAttackAndEndsAfterHangover) {
  TalkerConfig config;
  config.attack_frames = 2;
  config.hangover_frames = 25;
  TalkerDetector d(config);
  EXPECT_EQ(feed(d, 0.0, 50), 0);
  EXPECT_FALSE(d.talking());
  // A 1 s burst at about -16 dBov: talking from its second frame on.
  int flips = 0;
  EXPECT_EQ(feed(d, 6000.0, 50, &flips), 49);
  EXPECT_EQ(flips, 1);
  EXPECT_TRUE(d.talking());
  EXPECT_GT(d.level_dbov(), -20);
  // Silence: still talking through the hangover (25 frames), then not.
  EXPECT_EQ(feed(d, 0.0, 25), 25);
  EXPECT_TRUE(d.talking());
  flips = 0;
  EXPECT_EQ(feed(d, 0.0, 10, &flips), 0);
  EXPECT_EQ(flips, 1);
  EXPECT_FALSE(d.talking());
  EXPECT_LT(d.level_dbov(), -100);
}

TEST(TalkerDetector, ShortGapsBetweenSyllablesDoNotFlap) {
  TalkerDetector d;
  int flips = 0;
  for (int word = 0; word < 10; ++word) {
    feed(d, 5000.0, 12, &flips);  // 240 ms of voice
    feed(d, 0.0, 8, &flips);      // 160 ms pause
  }
  EXPECT_EQ(flips, 1) << "one talk spurt, no flapping";
  EXPECT_TRUE(d.talking());
}

TEST(TalkerDetector, SingleClickIsNotSpeech) {
  TalkerDetector d;
  feed(d, 0.0, 10);
  EXPECT_EQ(feed(d, 20000.0, 1), 0);  // shorter than the attack
  EXPECT_EQ(feed(d, 0.0, 10), 0);
}

TEST(TalkerDetector, QuietSignalBelowThresholdIsNotSpeech) {
  TalkerDetector d;
  EXPECT_EQ(feed(d, 100.0, 50), 0);  // about -53 dBov
  EXPECT_LT(d.level_dbov(), -45);
}

TEST(TalkerDetector, SteadyBackgroundNoiseStopsCountingAsSpeech) {
  TalkerConfig config;
  TalkerDetector d(config);
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 800.0);  // about -32 dBov hiss
  Frame f;
  f.sample_rate = 8000;
  f.samples = 160;
  int talking_late = 0;
  for (int i = 0; i < 3000; ++i) {  // one minute
    for (auto& s : f.pcm()) s = static_cast<int16_t>(noise(rng));
    if (d.update(f) && i > 2500) ++talking_late;
  }
  EXPECT_EQ(talking_late, 0) << "the noise floor rose to meet the hiss";
  // A voice well above the hiss is still heard.
  EXPECT_GT(feed(d, 12000.0, 10), 5);
}

TEST(TalkerDetector, SilentFrameHintCountsAsSilence) {
  TalkerDetector d;
  Frame f;
  f.set_silence(8000);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(d.update(f));
  EXPECT_EQ(d.level_dbov(), -127);
}

TEST(TalkerDetector, LouderTalkerRanksHigherAndTalkersOutrankListeners) {
  TalkerDetector loud, soft, silent;
  feed(loud, 16000.0, 10);
  feed(soft, 2000.0, 10);
  feed(silent, 0.0, 10);
  EXPECT_TRUE(loud.talking());
  EXPECT_TRUE(soft.talking());
  EXPECT_GT(loud.energy_rank_key(), soft.energy_rank_key());
  EXPECT_GT(soft.energy_rank_key(), silent.energy_rank_key());
}

// RFC 6464 §3: level 0..127 is -dBov; V marks voice activity.
TEST(TalkerDetector, Rfc6464LevelsDriveDetectionWithoutDecoding) {
  TalkerDetector d;
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(d.update_from_rfc6464(127, false));
  EXPECT_FALSE(d.update_from_rfc6464(20, true));  // attack: first frame
  EXPECT_TRUE(d.update_from_rfc6464(20, true));
  EXPECT_TRUE(d.changed());
  EXPECT_EQ(d.level_dbov(), -20);
  // Loud but V=0: not voice (e.g. music or noise the client classified).
  TalkerDetector music;
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(music.update_from_rfc6464(10, false));
  // Voice flag with a level under the threshold is not a talker either.
  TalkerDetector whisper;
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(whisper.update_from_rfc6464(90, true));
  // Out-of-range levels (the field is 7 bits) are clamped, not trusted.
  TalkerDetector odd;
  odd.update_from_rfc6464(255, true);
  EXPECT_EQ(odd.level_dbov(), -127);
  EXPECT_TRUE(rfc6464_is_silent(127, false));
  EXPECT_TRUE(rfc6464_is_silent(80, false));
  EXPECT_FALSE(rfc6464_is_silent(80, true));
  EXPECT_FALSE(rfc6464_is_silent(10, false));
}

TEST(TalkerDetector, ResetForgetsEverything) {
  TalkerDetector d;
  feed(d, 8000.0, 10);
  ASSERT_TRUE(d.talking());
  d.reset();
  EXPECT_FALSE(d.talking());
  EXPECT_EQ(d.level_dbov(), -127);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
