// speexdsp resampling between the conference rates keeps a tone's frequency
// and amplitude, frame after frame, without changing the frame size.

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "mixer/goertzel.hpp"
#include "mixer/resampler.hpp"
#include "mixer/tone.hpp"

namespace chorus::mixer {
namespace {

struct RatePair {
  int from;
  int to;
};

TEST(Resampler, KeepsToneFrequencyAndAmplitudeBetween8k16kAnd48k) {
  for (RatePair r : {RatePair{8000, 16000}, RatePair{16000, 8000}, RatePair{8000, 48000},
                     RatePair{48000, 8000}, RatePair{16000, 48000}, RatePair{48000, 16000}}) {
    SCOPED_TRACE(std::to_string(r.from) + " -> " + std::to_string(r.to));
    Resampler rs(r.from, r.to);
    ToneGenerator tone(r.from, {1000.0}, 10000.0);
    Frame in, out;
    std::vector<int16_t> all;
    for (int i = 0; i < 25; ++i) {
      tone.next_frame(in);
      rs.process(in, out);
      ASSERT_EQ(out.sample_rate, r.to);
      ASSERT_EQ(out.samples, samples_per_tick(r.to)) << "frame " << i;
      all.insert(all.end(), out.pcm().begin(), out.pcm().end());
    }
    const std::span tail(all.data() + all.size() / 2, all.size() / 2);
    EXPECT_NEAR(goertzel_amplitude(tail, 1000.0, r.to), 10000.0, 10000.0 * 0.05);
    // The energy is at 1 kHz, not at a neighbour or an image.
    EXPECT_LT(goertzel_amplitude(tail, 1300.0, r.to), 200.0);
    if (r.to > r.from) {
      EXPECT_LT(goertzel_amplitude(tail, r.from - 1000.0, r.to), 200.0) << "spectral image";
    }
    EXPECT_NEAR(rms(tail), 10000.0 / std::sqrt(2.0), 10000.0 * 0.05);
  }
}

TEST(Resampler, DownsamplingRemovesWhatTheLowerRateCannotCarry) {
  // 6 kHz exists at 48 kHz but is above 8 kHz's Nyquist: it must not alias to 2 kHz.
  Resampler rs(48000, 8000);
  ToneGenerator tone(48000, {6000.0}, 10000.0);
  Frame in, out;
  std::vector<int16_t> all;
  for (int i = 0; i < 10; ++i) {
    tone.next_frame(in);
    rs.process(in, out);
    all.insert(all.end(), out.pcm().begin(), out.pcm().end());
  }
  EXPECT_LT(rms(std::span(all).subspan(all.size() / 2)), 300.0);
}

TEST(Resampler, EqualRatesCopy) {
  Resampler rs(16000, 16000);
  ToneGenerator tone(16000, {440.0}, 5000.0);
  Frame in, out;
  tone.next_frame(in);
  rs.process(in, out);
  EXPECT_EQ(out.samples, in.samples);
  EXPECT_TRUE(std::equal(in.pcm().begin(), in.pcm().end(), out.pcm().begin()));
}

TEST(Resampler, FractionalRatioKeepsFixedFrameSize) {
  // 44.1 kHz (a WAV file's rate) to 48 kHz: 882 samples in, 960 out, every time.
  Resampler rs(44100, 48000);
  ToneGenerator tone(44100, {1000.0}, 8000.0);
  Frame in, out;
  for (int i = 0; i < 50; ++i) {
    tone.next_frame(in);
    ASSERT_EQ(in.samples, 882u);
    rs.process(in, out);
    ASSERT_EQ(out.samples, 960u);
  }
  EXPECT_NEAR(goertzel_amplitude(out.pcm(), 1000.0, 48000), 8000.0, 8000.0 * 0.05);
}

TEST(Resampler, StereoChannelsStaySeparate) {
  Resampler rs(16000, 48000, 5, 2);
  ToneGenerator left(16000, {500.0}, 8000.0), right(16000, {1500.0}, 8000.0);
  Frame in, out;
  std::array<int16_t, 320> l{}, r{};
  for (int i = 0; i < 10; ++i) {
    left.fill(l);
    right.fill(r);
    in.sample_rate = 16000;
    in.channels = 2;
    in.samples = 320;
    for (size_t k = 0; k < 320; ++k) {
      in.data[2 * k] = l[k];
      in.data[2 * k + 1] = r[k];
    }
    rs.process(in, out);
  }
  ASSERT_EQ(out.samples, 960u);
  std::vector<int16_t> ol, orr;
  for (size_t k = 0; k < out.samples; ++k) {
    ol.push_back(out.data[2 * k]);
    orr.push_back(out.data[2 * k + 1]);
  }
  EXPECT_NEAR(goertzel_amplitude(ol, 500.0, 48000), 8000.0, 500.0);
  EXPECT_LT(goertzel_amplitude(ol, 1500.0, 48000), 200.0);
  EXPECT_NEAR(goertzel_amplitude(orr, 1500.0, 48000), 8000.0, 500.0);
  EXPECT_LT(goertzel_amplitude(orr, 500.0, 48000), 200.0);
}

TEST(Resampler, RejectsImpossibleConfiguration) {
  EXPECT_THROW(Resampler(0, 8000), std::invalid_argument);
  EXPECT_THROW(Resampler(8000, 96000), std::invalid_argument);
  EXPECT_THROW(Resampler(8000, 16000, 11), std::invalid_argument);
  EXPECT_THROW(Resampler(8000, 16000, 5, 3), std::invalid_argument);
}

TEST(Resampler, ResetForgetsHistory) {
  Resampler rs(8000, 16000);
  ToneGenerator tone(8000, {1000.0}, 10000.0);
  Frame in, out;
  tone.next_frame(in);
  rs.process(in, out);
  rs.reset();
  in.set_silence(8000);
  rs.process(in, out);
  EXPECT_EQ(rms(out.pcm()), 0.0) << "no tail of the tone after reset";
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
