// chorus-load's mouth-to-ear onsets (bench/load/onset.hpp): the onset of one
// tone in a mix of the load's tones, located to the sample wherever it falls
// in a frame, at every rate chorus-load decodes, and through Opus by exactly
// the codec's delay.

#include "bench/load/onset.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <vector>

#include "bench/load/tone_script.hpp"
#include "mixer/codec.hpp"
#include "mixer/frame.hpp"

namespace chorus::load {
namespace {

using Ms = std::chrono::duration<double, std::milli>;

// A listener's mix: `others` play throughout, `watched` starts at sample
// `onset` (its phase 0 there, as a generator's tone frame starts), all at
// chorus-load's amplitude.
std::vector<int16_t> mix(int rate, size_t total, double watched, size_t onset,
                         const std::vector<double>& others) {
  std::vector<int16_t> pcm(total);
  for (size_t n = 0; n < total; ++n) {
    double v = 0;
    const double t = static_cast<double>(n) / rate;
    for (double f : others) v += kToneAmplitude * std::sin(2 * std::numbers::pi * f * t + f);
    if (n >= onset) {
      v += kToneAmplitude *
           std::sin(2 * std::numbers::pi * watched * static_cast<double>(n - onset) / rate);
    }
    pcm[n] = static_cast<int16_t>(std::lround(v));
  }
  return pcm;
}

mixer::Frame frame_of(const std::vector<int16_t>& pcm, int rate, size_t index) {
  mixer::Frame f;
  f.set_silence(rate);
  std::copy_n(pcm.begin() + static_cast<std::ptrdiff_t>(index * f.samples), f.samples,
              f.data.begin());
  f.silent = false;
  return f;
}

// Arrivals 20 ms apart with a little jitter, so "the arrival of the frame
// that holds the onset" is checked, not just a 20 ms grid.
Clock::time_point arrival_of(Clock::time_point t0, size_t index) {
  return t0 + std::chrono::duration_cast<Clock::duration>(
                  Ms(20.0 * static_cast<double>(index) + 0.7 * static_cast<double>(index % 3)));
}

// Feeds frames [0, frames) of `pcm` (skipping `lost`) to a tracker watching
// `freqs`; returns the onsets it reports.
std::vector<OnsetTracker::Onset> feed(const std::vector<int16_t>& pcm, int rate, size_t frames,
                                      const std::vector<double>& freqs, Clock::time_point t0,
                                      size_t lost = SIZE_MAX) {
  OnsetTracker tracker;
  tracker.watch(freqs);
  std::vector<OnsetTracker::Onset> out;
  for (size_t i = 0; i < frames; ++i) {
    if (i == lost) continue;
    const mixer::Frame f = frame_of(pcm, rate, i);
    for (const auto& o : tracker.on_frame(f, static_cast<uint16_t>(65530 + i), arrival_of(t0, i)))
      out.push_back(o);
  }
  return out;
}

constexpr size_t kOnsetFrame = 8;  // 8 frames of the others alone first
constexpr size_t kFrames = 14;

TEST(OnsetTracker, LocatesAToneOnsetInAMixToWithinAMillisecondAnywhereInAFrame) {
  const double watched = 500.0;
  const std::vector<double> others = {350.0, 650.0};
  const Clock::time_point t0{};
  for (int rate : {8000, 16000, 48000}) {
    // 16 ms: that frame reads between kOnsetOff and kOnsetOn (the frame
    // level rule skipped such onsets); 19 ms: the next frame arms it.
    for (double offset_ms : {0.0, 1.0, 6.5, 13.0, 16.0, 19.0}) {
      SCOPED_TRACE(testing::Message() << rate << " Hz, onset " << offset_ms << " ms into a frame");
      const size_t per_frame = mixer::samples_per_tick(rate);
      const auto offset = static_cast<size_t>(std::lround(offset_ms * rate / 1000.0));
      const auto pcm =
          mix(rate, kFrames * per_frame, watched, kOnsetFrame * per_frame + offset, others);
      const auto onsets = feed(pcm, rate, kFrames, {350.0, watched, 650.0}, t0);
      ASSERT_EQ(onsets.size(), 1u);
      EXPECT_EQ(onsets[0].watched, 1u);
      EXPECT_TRUE(onsets[0].sample_accurate);
      const Clock::time_point expected =
          arrival_of(t0, kOnsetFrame) +
          std::chrono::duration_cast<Clock::duration>(Ms(1000.0 * offset / rate));
      EXPECT_NEAR(Ms(onsets[0].at - expected).count(), 0.0, 1.0);
    }
  }
}

TEST(OnsetTracker, AnOnsetAtTheStartOfAFrameKeepsThatFramesArrival) {
  // G.711's case: the figure must be the frame-level one, to the microsecond
  // scale (not the previous frame's arrival + 20 ms).
  const Clock::time_point t0{};
  const auto pcm = mix(8000, kFrames * 160, 800.0, kOnsetFrame * 160, {350.0, 500.0});
  const auto onsets = feed(pcm, 8000, kFrames, {800.0}, t0);
  ASSERT_EQ(onsets.size(), 1u);
  EXPECT_TRUE(onsets[0].sample_accurate);
  EXPECT_NEAR(Ms(onsets[0].at - arrival_of(t0, kOnsetFrame)).count(), 0.0, 0.3);
}

TEST(OnsetTracker, ALostFrameBeforeTheOnsetFallsBackToTheFrameFigure) {
  const Clock::time_point t0{};
  const auto pcm = mix(8000, kFrames * 160, 500.0, kOnsetFrame * 160 + 80, {350.0});
  const auto onsets = feed(pcm, 8000, kFrames, {500.0}, t0, kOnsetFrame - 1);
  ASSERT_EQ(onsets.size(), 1u);
  EXPECT_FALSE(onsets[0].sample_accurate);
  EXPECT_EQ(onsets[0].at, arrival_of(t0, kOnsetFrame));
}

TEST(OnsetTracker, ALostFrameAfterTheOnsetFallsBackToTheFrameFigure) {
  const Clock::time_point t0{};
  const auto pcm = mix(8000, kFrames * 160, 500.0, kOnsetFrame * 160 + 80, {350.0});
  const auto onsets = feed(pcm, 8000, kFrames, {500.0}, t0, kOnsetFrame + 1);
  ASSERT_EQ(onsets.size(), 1u);
  EXPECT_FALSE(onsets[0].sample_accurate);
  EXPECT_EQ(onsets[0].at, arrival_of(t0, kOnsetFrame));
}

TEST(OnsetTracker, AToneThatNeverStopsHasNoOnset) {
  const auto pcm = mix(48000, kFrames * 960, 500.0, 0, {350.0, 650.0});
  EXPECT_TRUE(feed(pcm, 48000, kFrames, {350.0, 500.0, 650.0}, Clock::time_point{}).empty());
}

// The generator's encoder and chorus's re-encode each delay the tone by
// libopus's look-ahead at 48 kHz (VOIP: 2.5 ms + 4 ms delay compensation =
// 312 samples): one pass shifts the onset 6.5 ms into a frame, two 13 ms.
TEST(OnsetTracker, ThroughOpusTheOnsetMovesByExactlyTheCodecsDelay) {
  const mixer::CodecParams params = mixer::default_params(mixer::CodecId::kOpus);
  ASSERT_EQ(params.sample_rate, 48000);
  constexpr double kLookaheadMs = 312.0 / 48.0;
  const Clock::time_point t0{};
  const size_t frames = 30;
  const size_t onset_frame = 20;  // the encoders settle on the others first
  auto pcm = mix(48000, frames * 960, 500.0, onset_frame * 960, {350.0, 650.0});
  for (int passes = 1; passes <= 2; ++passes) {
    SCOPED_TRACE(testing::Message() << passes << " Opus pass(es)");
    auto encoder = mixer::make_encoder(params);
    auto decoder = mixer::make_decoder(params);
    std::vector<uint8_t> payload(mixer::kMaxPayloadBytes);
    std::vector<int16_t> decoded(pcm.size());
    for (size_t i = 0; i < frames; ++i) {
      const mixer::Frame in = frame_of(pcm, 48000, i);
      const size_t size = encoder->encode(in, payload);
      ASSERT_GT(size, 0u);
      mixer::Frame out;
      ASSERT_TRUE(decoder->decode({payload.data(), size}, out));
      ASSERT_EQ(out.samples, 960u);
      std::copy_n(out.data.begin(), 960, decoded.begin() + static_cast<std::ptrdiff_t>(i * 960));
    }
    pcm = decoded;
    const auto onsets = feed(pcm, 48000, frames, {500.0}, t0);
    ASSERT_EQ(onsets.size(), 1u);
    EXPECT_TRUE(onsets[0].sample_accurate);
    const double measured = Ms(onsets[0].at - arrival_of(t0, onset_frame)).count();
    // arrival_of adds up to 1.4 ms of jitter per frame: compare against the
    // arrival of the frame that holds the expected onset.
    const double expected_in = passes * kLookaheadMs;
    const auto holder = onset_frame + static_cast<size_t>(expected_in / 20.0);
    const double expected = Ms(arrival_of(t0, holder) - arrival_of(t0, onset_frame)).count() +
                            std::fmod(expected_in, 20.0);
    EXPECT_NEAR(measured, expected, 1.5);
  }
}

}  // namespace
}  // namespace chorus::load

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
