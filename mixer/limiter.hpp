#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace chorus::mixer {

// Soft limiter for the int32 mix accumulator (STYLE.md §3: WebRTC's
// FrameCombiner limits then converts with saturation; Janus's truncating
// `out = sum` is what we must not do).
//
// Without lookahead: the frame is cut into kSubBlocks sub-blocks, each gets
// the gain that keeps its peak under the threshold, and the gain envelope is
// interpolated linearly between sub-block boundaries whose value is the
// minimum of the neighbouring sub-blocks' needs. A linear segment never rises
// above its larger end, so no sample exceeds the threshold; releases are slow
// (exponential towards unity) so a crowd does not pump. The saturating
// conversion afterwards is only a safety net.
class Limiter {
 public:
  static constexpr int kSubBlocks = 8;
  // -0.5 dBFS: the ceiling the limiter aims below.
  static constexpr float kThreshold = 30934.0F;

  // Release time constant for a frame of `samples` per tick (20 ms).
  explicit Limiter(float release_ms = 60.0F);

  // Scales `mix` by `pre_gain` (the listener's output gain) and limits it
  // into `out` (same length). Never allocates. Returns the limiter gain at
  // the end of the frame (1 = not limiting).
  float process(std::span<const int32_t> mix, std::span<int16_t> out, float pre_gain = 1.0F);

  float gain() const { return gain_; }
  // Taking over another limiter's state keeps the gain envelope continuous
  // when a listener moves from the shared mix to its own (and back).
  void copy_state_from(const Limiter& other) { gain_ = other.gain_; }
  void reset() { gain_ = 1.0F; }

 private:
  float release_per_block_;  // fraction of the distance to unity recovered per sub-block
  float gain_ = 1.0F;
};

// Saturating int32 → int16 conversion of one sample.
constexpr int16_t saturate16(int32_t v) {
  return static_cast<int16_t>(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

}  // namespace chorus::mixer
