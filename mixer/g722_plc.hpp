#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace chorus::mixer {

// Packet-loss concealment by pitch repetition with a fade, in the manner of
// ITU-T G.711 Appendix I, for codecs without their own (SpanDSP's G.722 has
// none and SpanDSP's plc_* assumes 8 kHz). On the first lost sample it finds
// the pitch period of the recent history by normalised cross-correlation,
// then repeats that period (smoothed at the loop joint); the output stays at
// full level for 10 ms and then fades 20 % per 10 ms, reaching silence after
// 60 ms. The first good audio after a loss is cross-faded in.
// Fixed capacity for rates up to 16 kHz; never allocates.
class PitchPlc {
 public:
  static constexpr int kMaxRate = 16000;

  explicit PitchPlc(int sample_rate);

  // Good audio: records history; after a loss also cross-fades its start.
  void on_good(std::span<int16_t> pcm);
  // Writes concealment for lost audio.
  void conceal(std::span<int16_t> out);
  void reset();

 private:
  static constexpr size_t kMaxPitch = kMaxRate * 15 / 1000;  // 15 ms: 66 Hz voices
  static constexpr size_t kMaxCorr = kMaxRate * 20 / 1000;   // 20 ms window
  static constexpr size_t kMaxHistory = kMaxCorr + kMaxPitch;

  void start_loss();
  float next_synthetic();

  size_t min_pitch_;
  size_t max_pitch_;
  size_t corr_len_;
  size_t history_len_;
  size_t fade_start_;  // samples at full level (10 ms)
  size_t fade_len_;    // samples from full level to silence (50 ms)
  size_t resume_len_;  // cross-fade into good audio (4 ms)
  std::array<int16_t, kMaxHistory> history_{};
  std::array<float, kMaxPitch> period_{};
  size_t pitch_ = 0;
  size_t pos_ = 0;
  size_t lost_ = 0;  // samples concealed in the current loss; 0 = not in a loss
};

}  // namespace chorus::mixer
