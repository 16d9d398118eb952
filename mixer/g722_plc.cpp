#include "mixer/g722_plc.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace chorus::mixer {

PitchPlc::PitchPlc(int sample_rate)
    : min_pitch_(static_cast<size_t>(sample_rate) * 25 / 10000),  // 2.5 ms: 400 Hz
      max_pitch_(static_cast<size_t>(sample_rate) * 15 / 1000),
      corr_len_(static_cast<size_t>(sample_rate) * 20 / 1000),
      history_len_(corr_len_ + max_pitch_),
      fade_start_(static_cast<size_t>(sample_rate) / 100),
      fade_len_(static_cast<size_t>(sample_rate) / 20),
      resume_len_(static_cast<size_t>(sample_rate) / 250) {
  assert(sample_rate > 0 && sample_rate <= kMaxRate);
}

void PitchPlc::reset() {
  history_.fill(0);
  pitch_ = 0;
  pos_ = 0;
  lost_ = 0;
}

void PitchPlc::start_loss() {
  const int16_t* h = history_.data();
  const size_t n = history_len_;
  const int16_t* window = h + n - corr_len_;
  // Normalised cross-correlation of the newest window against the history one
  // lag earlier; the best lag is the pitch period. A coarse pass over every
  // other lag on every other sample, then a fine pass around its winner,
  // costs a quarter of the exhaustive search.
  const auto score = [&](size_t lag, size_t step) {
    const int16_t* lagged = window - lag;
    double cross = 0.0;
    double energy = 1.0;
    for (size_t i = 0; i < corr_len_; i += step) {
      cross += static_cast<double>(window[i]) * lagged[i];
      energy += static_cast<double>(lagged[i]) * lagged[i];
    }
    return cross / std::sqrt(energy);
  };
  double best = -1e300;
  size_t best_lag = max_pitch_;
  for (size_t lag = min_pitch_; lag <= max_pitch_; lag += 2) {
    if (const double v = score(lag, 2); v > best) {
      best = v;
      best_lag = lag;
    }
  }
  const size_t coarse = best_lag;
  best = -1e300;
  for (size_t lag = std::max(min_pitch_, coarse - 1); lag <= std::min(max_pitch_, coarse + 1);
       ++lag) {
    if (const double v = score(lag, 1); v > best) {
      best = v;
      best_lag = lag;
    }
  }
  pitch_ = best_lag;
  // One period of the newest audio; its last quarter is blended into the
  // audio that preceded the period, so the loop joint is continuous.
  const size_t overlap = pitch_ / 4;
  for (size_t i = 0; i < pitch_; ++i) period_[i] = h[n - pitch_ + i];
  for (size_t i = 0; i < overlap; ++i) {
    const float w = static_cast<float>(i + 1) / static_cast<float>(overlap + 1);
    const size_t k = pitch_ - overlap + i;
    period_[k] = (1.0f - w) * period_[k] + w * h[n - pitch_ - overlap + i];
  }
  pos_ = 0;
}

float PitchPlc::next_synthetic() {
  float gain = 1.0f;
  if (lost_ > fade_start_) {
    const size_t into = lost_ - fade_start_;
    gain = into >= fade_len_ ? 0.0f : 1.0f - static_cast<float>(into) / fade_len_;
  }
  const float v = period_[pos_] * gain;
  if (++pos_ == pitch_) pos_ = 0;
  ++lost_;
  return v;
}

void PitchPlc::conceal(std::span<int16_t> out) {
  if (lost_ == 0) start_loss();
  for (int16_t& s : out) s = static_cast<int16_t>(std::lround(next_synthetic()));
  // Concealed audio becomes history too, so a long loss followed by another
  // loss keeps repeating (faded) rather than restarting at full level.
  const size_t keep = std::min(out.size(), history_len_);
  std::copy(history_.begin() + static_cast<std::ptrdiff_t>(keep),
            history_.begin() + static_cast<std::ptrdiff_t>(history_len_), history_.begin());
  std::copy(out.end() - static_cast<std::ptrdiff_t>(keep), out.end(),
            history_.begin() + static_cast<std::ptrdiff_t>(history_len_ - keep));
}

void PitchPlc::on_good(std::span<int16_t> pcm) {
  if (lost_ != 0) {
    // Fade from the synthetic continuation into the new audio.
    const size_t len = std::min(resume_len_, pcm.size());
    for (size_t i = 0; i < len; ++i) {
      const float w = static_cast<float>(i + 1) / static_cast<float>(len + 1);
      const float v = (1.0f - w) * next_synthetic() + w * pcm[i];
      pcm[i] = static_cast<int16_t>(std::clamp(std::lround(v), -32768L, 32767L));
    }
    lost_ = 0;
  }
  const size_t keep = std::min(pcm.size(), history_len_);
  std::copy(history_.begin() + static_cast<std::ptrdiff_t>(keep),
            history_.begin() + static_cast<std::ptrdiff_t>(history_len_), history_.begin());
  std::copy(pcm.end() - static_cast<std::ptrdiff_t>(keep), pcm.end(),
            history_.begin() + static_cast<std::ptrdiff_t>(history_len_ - keep));
}

}  // namespace chorus::mixer
