// In-band DTMF (ITU-T Q.23/Q.24) for clients that send tones instead of
// RFC 4733 events: every key press is reported exactly once.

#include <gtest/gtest.h>

#include <spandsp.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/dtmf_detector.hpp"
#include "mixer/resampler.hpp"
#include "mixer/tone.hpp"
#include "mixer/tune.hpp"
#include "tests/mixer/codec_test_util.hpp"

namespace chorus::mixer {
namespace {

// 8 kHz audio of `digits` from SpanDSP's generator (default: -10 dBm0 per
// tone, 50 ms on, 55 ms off), followed by 200 ms of silence.
std::vector<int16_t> dtmf_audio(const std::string& digits, int on_ms = 50, int off_ms = 55) {
  dtmf_tx_state_t* tx = dtmf_tx_init(nullptr);
  dtmf_tx_set_timing(tx, on_ms, off_ms);
  dtmf_tx_put(tx, digits.c_str(), static_cast<int>(digits.size()));
  std::vector<int16_t> pcm;
  std::array<int16_t, 160> block{};
  for (;;) {
    const int n = dtmf_tx(tx, block.data(), static_cast<int>(block.size()));
    if (n <= 0) break;
    pcm.insert(pcm.end(), block.begin(), block.begin() + n);
  }
  dtmf_tx_free(tx);
  pcm.resize(pcm.size() + 1600, 0);
  return pcm;
}

// Runs 8 kHz `pcm` through a detector (resampled to `rate` first) and
// returns everything it reported.
std::string detect(const std::vector<int16_t>& pcm, int rate = 8000) {
  DtmfDetector det(rate);
  Resampler up(8000, rate);
  std::string found;
  Frame f, g;
  for (size_t at = 0; at + 160 <= pcm.size(); at += 160) {
    f.sample_rate = 8000;
    f.channels = 1;
    f.samples = 160;
    std::copy_n(pcm.begin() + static_cast<std::ptrdiff_t>(at), 160, f.data.begin());
    up.process(f, g);
    found += det.process(g);
  }
  return found;
}

TEST(DtmfDetector, ReportsEveryDigitExactlyOnce) {
  const std::string all = "0123456789*#ABCD";
  EXPECT_EQ(detect(dtmf_audio(all)), all);
}

TEST(DtmfDetector, RepeatedDigitsAreSeparatePresses) {
  EXPECT_EQ(detect(dtmf_audio("1155")), "1155");
}

TEST(DtmfDetector, LongPressIsOneDigit) {
  EXPECT_EQ(detect(dtmf_audio("7", 600, 100)), "7");
}

TEST(DtmfDetector, WorksOnWidebandAudio) {
  EXPECT_EQ(detect(dtmf_audio("159#"), 16000), "159#");
  EXPECT_EQ(detect(dtmf_audio("*260"), 48000), "*260");
}

TEST(DtmfDetector, SurvivesG711) {
  const auto audio = dtmf_audio("3141592");
  for (CodecId id : {CodecId::kPcmu, CodecId::kPcma}) {
    const auto coded = testing::round_trip(default_params(id), audio);
    EXPECT_EQ(detect(coded), "3141592");
  }
}

TEST(DtmfDetector, SingleTonesAndMusicAreNotDigits) {
  // One DTMF row frequency alone, a 1 kHz test tone, and our hold music.
  EXPECT_EQ(detect(testing::tone_signal(8000, {697.0}, 8000.0, 1.0)), "");
  EXPECT_EQ(detect(testing::tone_signal(8000, {1000.0}, 8000.0, 1.0)), "");
  auto tune = render_tune(8000);
  tune.resize(8000 * 8);
  EXPECT_EQ(detect(tune), "");
}

TEST(DtmfDetector, SpeechIsNotDigits) {
  const auto speech = testing::speech(8000);
  if (!speech) GTEST_SKIP() << "espeak-ng or sox not installed";
  EXPECT_EQ(detect(*speech), "");
}

TEST(DtmfDetector, TooShortToneIsIgnored) {
  // Q.24: tones shorter than ~23 ms need not be recognised; 10 ms must not be.
  EXPECT_EQ(detect(dtmf_audio("5", 10, 100)), "");
}

// Digits at the weakest level Q.24 asks a receiver to accept (-26 dBm0 per
// tone) pass the quiet gate; silence and low noise between presses do not
// reach the detector.
TEST(DtmfDetector, WeakDigitsPassTheQuietGate) {
  std::vector<int16_t> pcm(4000, 0);  // 0.5 s of silence first
  dtmf_tx_state_t* tx = dtmf_tx_init(nullptr);
  dtmf_tx_set_level(tx, -26, 0);
  dtmf_tx_set_timing(tx, 50, 55);
  dtmf_tx_put(tx, "9A0", 3);
  std::array<int16_t, 160> block{};
  for (int n; (n = dtmf_tx(tx, block.data(), static_cast<int>(block.size()))) > 0;)
    pcm.insert(pcm.end(), block.begin(), block.begin() + n);
  dtmf_tx_free(tx);
  pcm.resize(pcm.size() + 1600, 0);
  EXPECT_EQ(detect(pcm), "9A0");
}

TEST(DtmfDetector, QuietFramesSkipTheDetector) {
  DtmfDetector det(8000);
  Frame f;
  f.set_silence(8000);
  f.samples = 160;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(det.process(f), "");
  EXPECT_LE(det.frames_analysed(), 1u);  // only the first, to end a digit in progress
  // Low noise at about -50 dBm0 (amplitude +-80) is still under the gate.
  for (size_t i = 0; i < f.samples; ++i) f.data[i] = static_cast<int16_t>(i % 2 == 0 ? 80 : -80);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(det.process(f), "");
  EXPECT_LE(det.frames_analysed(), 1u);
  // A tone at -20 dBm0 is analysed, and the first quiet frame after it too.
  // Sine amplitude for -20 dBm0 on SpanDSP's scale (full-scale square = +6.16 dBm0).
  const double amplitude = 32767.0 * std::sqrt(2.0) * std::pow(10.0, (-20.0 - 6.16) / 20.0);
  const auto tone = testing::tone_signal(8000, {1000.0}, amplitude, 0.1);
  for (size_t at = 0; at + 160 <= tone.size(); at += 160) {
    std::copy_n(tone.begin() + static_cast<std::ptrdiff_t>(at), 160, f.data.begin());
    det.process(f);
  }
  const uint64_t loud = det.frames_analysed();
  EXPECT_GE(loud, 5u);
  f.set_silence(8000);
  for (int i = 0; i < 10; ++i) det.process(f);
  EXPECT_EQ(det.frames_analysed(), loud + 1);
}

TEST(DtmfDetector, WrongRateFrameIsIgnoredNotMisread) {
  DtmfDetector det(8000);
  Frame f;
  f.set_silence(16000);
  EXPECT_EQ(det.process(f), "");
  det.fill_in(160);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
