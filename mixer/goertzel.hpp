#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>

namespace chorus::mixer {

// Goertzel's algorithm: the energy of one frequency in a block of samples,
// for tests and tone checks at every layer (cheaper than an FFT for one bin).
// Returns the estimated amplitude (in sample units) of a sinusoid at `freq_hz`:
// a full block of A*sin(2*pi*f*t) yields about A when f sits near a bin
// centre. Frequencies more than a bin or two away yield near 0.
inline double goertzel_amplitude(std::span<const int16_t> x, double freq_hz, int sample_rate) {
  if (x.empty() || sample_rate <= 0) return 0.0;
  const double w = 2.0 * std::numbers::pi * freq_hz / sample_rate;
  const double coeff = 2.0 * std::cos(w);
  double s1 = 0.0;
  double s2 = 0.0;
  for (int16_t v : x) {
    const double s0 = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  // |X(f)|^2 for the non-integer-bin form; a sinusoid of amplitude A gives
  // |X| = A*N/2.
  const double re = s1 - s2 * std::cos(w);
  const double im = s2 * std::sin(w);
  return 2.0 * std::sqrt(re * re + im * im) / static_cast<double>(x.size());
}

// The same measure as a power (amplitude squared).
inline double goertzel_power(std::span<const int16_t> x, double freq_hz, int sample_rate) {
  const double a = goertzel_amplitude(x, freq_hz, sample_rate);
  return a * a;
}

// RMS of a block, for comparing levels.
inline double rms(std::span<const int16_t> x) {
  if (x.empty()) return 0.0;
  double sum = 0.0;
  for (int16_t v : x) sum += static_cast<double>(v) * v;
  return std::sqrt(sum / static_cast<double>(x.size()));
}

}  // namespace chorus::mixer
