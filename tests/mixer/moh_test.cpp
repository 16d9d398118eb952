// Music on hold: the built-in tune and WAV files loop seamlessly, are neither
// silent nor clipped, and one decoded clip is shared by every listener.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "mixer/goertzel.hpp"
#include "mixer/moh_source.hpp"
#include "mixer/tune.hpp"
#include "tests/mixer/codec_test_util.hpp"

namespace chorus::mixer {
namespace {

int peak(std::span<const int16_t> pcm) {
  int p = 0;
  for (int16_t s : pcm) p = std::max(p, std::abs(static_cast<int>(s)));
  return p;
}

// Largest sample-to-sample step in `pcm` (treated as a loop when `wrap`).
int max_step(std::span<const int16_t> pcm, bool wrap) {
  int m = 0;
  for (size_t i = 1; i < pcm.size(); ++i) m = std::max(m, std::abs(pcm[i] - pcm[i - 1]));
  if (wrap) m = std::max(m, std::abs(pcm.front() - pcm.back()));
  return m;
}

class MohTune : public ::testing::TestWithParam<int> {};

TEST_P(MohTune, IsAudibleUnclippedAndLoopsSeamlessly) {
  const int rate = GetParam();
  MohRegistry registry;
  auto clip = registry.clip("", rate);
  ASSERT_EQ(clip->sample_rate(), rate);
  ASSERT_EQ(clip->length(), static_cast<size_t>(kTuneSeconds * rate));
  const auto pcm = clip->pcm();
  // Peak at -6 dBFS, never near clipping; and clearly audible over time.
  EXPECT_NEAR(peak(pcm), 16384, 2);
  EXPECT_GT(rms(pcm), 1500.0);
  // Every second holds music (no dead gaps in the loop).
  for (size_t s = 0; s < static_cast<size_t>(kTuneSeconds); ++s) {
    EXPECT_GT(rms(pcm.subspan(s * rate, rate)), 500.0) << "second " << s;
  }
  // Seamless: the joint from the end back to the start is no rougher than
  // the music itself.
  const int inside = max_step(pcm, false);
  EXPECT_LE(std::abs(pcm.front() - pcm.back()), inside);
  const std::span tail = pcm.subspan(pcm.size() - rate / 10);
  const std::span head = pcm.subspan(0, rate / 10);
  EXPECT_NEAR(rms(tail), rms(head), 0.5 * std::max(rms(tail), rms(head)))
      << "no level jump at the loop point";
}

TEST_P(MohTune, FollowsItsChordsAndStaysBelowNyquist) {
  const int rate = GetParam();
  auto clip = MohClip::tune(rate);
  const auto pcm = clip->pcm();
  const size_t bar = static_cast<size_t>(kTuneSeconds * rate / 4);
  // Bass roots of the four bars (C3, A2, F2, G2 at MIDI 48, 45, 41, 43).
  const double roots[] = {130.81, 110.0, 87.31, 98.0};
  for (size_t b = 0; b < 4; ++b) {
    const auto middle = pcm.subspan(b * bar + bar / 4, bar / 2);
    const double own = goertzel_amplitude(middle, roots[b], rate);
    for (size_t o = 0; o < 4; ++o) {
      if (o == b) continue;
      EXPECT_GT(own, 2.0 * goertzel_amplitude(middle, roots[o], rate)) << b << " vs " << o;
    }
  }
  // Nothing rendered near Nyquist (band-limited voices do not alias).
  EXPECT_LT(goertzel_amplitude(pcm.subspan(0, rate), rate * 0.48, rate), 20.0);
}

INSTANTIATE_TEST_SUITE_P(Rates, MohTune, ::testing::Values(8000, 16000, 48000));

TEST(MohSource, TwoListenersAtOneRateHearTheSameFrames) {
  MohRegistry registry;
  auto a = registry.source("", 16000);
  auto b = registry.source("", 16000);
  EXPECT_EQ(a.clip().get(), b.clip().get()) << "one decoded clip, shared";
  EXPECT_EQ(registry.size(), 1u);
  Frame fa, fb;
  for (int i = 0; i < 20; ++i) {
    a.next_frame(fa);
    b.next_frame(fb, 16000);
    ASSERT_EQ(fa.samples, 320u);
    ASSERT_TRUE(std::equal(fa.pcm().begin(), fa.pcm().end(), fb.pcm().begin()));
  }
  // Stateless access by tick number agrees with the playhead.
  Frame at;
  a.frame_at(20, at);
  a.next_frame(fa);
  EXPECT_TRUE(std::equal(fa.pcm().begin(), fa.pcm().end(), at.pcm().begin()));
  // Another rate is another clip of the same tune.
  registry.preload("", {8000, 16000});
  EXPECT_EQ(registry.size(), 2u);
  auto c = registry.source("", 8000);
  EXPECT_NE(c.clip().get(), a.clip().get());
  EXPECT_EQ(c.sample_rate(), 8000);
  EXPECT_EQ(registry.size(), 2u);
}

TEST(MohSource, PlayheadWrapsAroundTheLoop) {
  auto clip = MohClip::tune(8000);
  MohSource src(clip);
  Frame f, first;
  src.next_frame(first);
  const size_t frames = clip->length() / 160;  // 16 s / 20 ms = 800
  for (size_t i = 1; i < frames; ++i) src.next_frame(f);
  src.next_frame(f);  // the loop again
  EXPECT_TRUE(std::equal(f.pcm().begin(), f.pcm().end(), first.pcm().begin()));
}

class MohWav : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("chorus_moh_" + std::to_string(::getpid()) + ".wav"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

TEST_F(MohWav, StereoFileAtAnotherRateLoopsAtTheRequestedRate) {
  // 0.5 s at 44.1 kHz, stereo: left 500 Hz, right 500 Hz (same), so the
  // mono mix keeps the tone; 500 Hz fits the 0.5 s loop an integer number of times.
  const auto mono = testing::tone_signal(44100, {500.0}, 8000.0, 0.5);
  std::vector<int16_t> stereo;
  for (int16_t s : mono) {
    stereo.push_back(s);
    stereo.push_back(s);
  }
  testing::write_wav(path_, 44100, 2, stereo);
  MohRegistry registry;
  auto clip = registry.clip(path_, 16000);
  ASSERT_EQ(clip->length(), 8000u);  // 0.5 s at 16 kHz
  MohSource src(clip);
  std::vector<int16_t> played;
  Frame f;
  for (int i = 0; i < 75; ++i) {  // 1.5 s: three times round the loop
    src.next_frame(f);
    ASSERT_EQ(f.sample_rate, 16000);
    played.insert(played.end(), f.pcm().begin(), f.pcm().end());
  }
  // The tone is there at its frequency and level, across the loop points too.
  for (size_t at : {size_t{4000}, size_t{7600}, size_t{15600}}) {
    const std::span window(played.data() + at, 800);
    EXPECT_NEAR(goertzel_amplitude(window, 500.0, 16000), 8000.0, 8000.0 * 0.1) << at;
  }
  EXPECT_LE(max_step(std::span(played).subspan(7000, 2000), false),
            max_step(clip->pcm(), false) + 50)
      << "no click at the loop point";
  // Asking again reuses the decoded clip.
  EXPECT_EQ(registry.clip(path_, 16000).get(), clip.get());
}

TEST_F(MohWav, MissingOrBrokenFileThrowsAtSetUp) {
  MohRegistry registry;
  EXPECT_THROW(registry.clip("/nonexistent/chorus.wav", 8000), std::runtime_error);
  {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    std::fputs("RIFF garbage that is not a wave file", f);
    std::fclose(f);
  }
  EXPECT_THROW(registry.clip(path_, 8000), std::runtime_error);
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_THROW(MohClip::tune(0), std::invalid_argument);
  EXPECT_THROW(MohClip(8000, {}), std::invalid_argument);
}

TEST(MohClip, ClipShorterThanAFrameStillFillsFrames) {
  MohClip clip(8000, {1, 2, 3});
  Frame f;
  clip.read(2, f);
  ASSERT_EQ(f.samples, 160u);
  EXPECT_EQ(f.data[0], 3);
  EXPECT_EQ(f.data[1], 1);
  EXPECT_EQ(f.data[159], static_cast<int16_t>(1 + (2 + 159) % 3));
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
