#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <numbers>
#include <span>

#include "mixer/frame.hpp"

namespace chorus::mixer {

// A phase-continuous sum of up to four sine tones, for tests, benchmarks and
// signalling tones. Each tone has `amplitude` (sample units) so a two-tone
// signal peaks at twice that.
class ToneGenerator {
 public:
  static constexpr size_t kMaxTones = 4;

  ToneGenerator(int sample_rate, std::initializer_list<double> freqs_hz, double amplitude)
      : sample_rate_(sample_rate), amplitude_(amplitude) {
    for (double f : freqs_hz) {
      if (count_ == kMaxTones) break;
      step_[count_++] = 2.0 * std::numbers::pi * f / sample_rate;
    }
  }

  // Writes the next samples (mono).
  void fill(std::span<int16_t> out) {
    for (int16_t& s : out) {
      double v = 0.0;
      for (size_t i = 0; i < count_; ++i) {
        v += std::sin(phase_[i]);
        phase_[i] += step_[i];
        if (phase_[i] > 2.0 * std::numbers::pi) phase_[i] -= 2.0 * std::numbers::pi;
      }
      s = static_cast<int16_t>(std::clamp(std::lround(v * amplitude_), -32768L, 32767L));
    }
  }

  // The next 20 ms as a mono frame at sample_rate().
  void next_frame(Frame& out) {
    out.sample_rate = sample_rate_;
    out.channels = 1;
    out.samples = samples_per_tick(sample_rate_);
    out.silent = amplitude_ == 0.0 || count_ == 0;
    fill(out.pcm());
  }

  int sample_rate() const { return sample_rate_; }

 private:
  int sample_rate_;
  double amplitude_;
  size_t count_ = 0;
  std::array<double, kMaxTones> step_{};
  std::array<double, kMaxTones> phase_{};
};

}  // namespace chorus::mixer
