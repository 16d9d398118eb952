#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <vector>

namespace chorus::mixer {

// Raised-cosine gain ramp for a source entering or leaving the mix (STYLE.md
// §3: WebRTC ramps a source in and out of its top-3 set so there is no
// click). The table is built once per conference rate (set-up time); a
// RampState walks it by one step per sample, so the hot path only indexes.
class RampTable {
 public:
  RampTable() = default;
  // `length` samples from silence to full gain (e.g. 8 ms: 64 @ 8 kHz).
  // A length of 0 or 1 switches at once (no ramp).
  explicit RampTable(size_t length) { build(length); }
  // Room for a table of `length` without allocating in build().
  void reserve(size_t length) { gain_q15_.reserve(std::max<size_t>(length, 1) + 1); }
  // Rebuilds the table for `length` (allocates only beyond the capacity).
  void build(size_t length) {
    length = std::max<size_t>(length, 1);
    gain_q15_.resize(length + 1);
    for (size_t i = 0; i <= length; ++i) {
      const double x = static_cast<double>(i) / static_cast<double>(length);
      const double g = 0.5 - 0.5 * std::cos(std::numbers::pi * x);
      gain_q15_[i] = static_cast<int32_t>(std::lround(g * 32768.0));
    }
  }
  size_t length() const { return gain_q15_.empty() ? 0 : gain_q15_.size() - 1; }
  // Q15 gain at `position` (0 = silent, length() = unity, 32768).
  int32_t at(size_t position) const { return gain_q15_[position]; }

 private:
  std::vector<int32_t> gain_q15_;
};

// Where one source is on its ramp. `position` runs 0..length.
struct RampState {
  size_t position = 0;
  bool rising = false;

  bool silent() const { return position == 0 && !rising; }
  bool full(const RampTable& t) const { return position == t.length() && rising; }
  // The source's gain is changing or non-zero: it still contributes.
  bool active() const { return position > 0 || rising; }
};

}  // namespace chorus::mixer
