#include "bench/load/onset.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "mixer/goertzel.hpp"

namespace chorus::load {
namespace {

// An estimate this close before a frame boundary is that boundary: G.711's
// onsets sit at sample 0 of a frame, and a hair of estimation error must not
// move them to the previous frame's arrival + 20 ms.
constexpr double kSnapSeconds = 0.0005;

}  // namespace

std::optional<double> OnsetEstimator::onset_sample(std::span<const int16_t> signal, int sample_rate,
                                                   double freq_hz, double full_amplitude) {
  if (sample_rate <= 0 || full_amplitude <= 0) return std::nullopt;
  const size_t n = signal.size();
  const auto len = static_cast<size_t>(std::lround(2.0 * sample_rate / kToneSpacingHz));
  if (len < 8 || len > kMaxWindow || n > kMaxSignal || n < len) return std::nullopt;

  // The signal shifted down by freq_hz: the tone becomes a slowly varying
  // complex value, every other tone a rotation the window averages away.
  const double w = 2.0 * std::numbers::pi * freq_hz / sample_rate;
  for (size_t i = 0; i < n; ++i) {
    const double phase = w * static_cast<double>(i);
    const double x = signal[i];
    demod_[i] = {static_cast<float>(x * std::cos(phase)), static_cast<float>(-x * std::sin(phase))};
  }
  double weight_sum = 0;
  for (size_t k = 0; k < len; ++k) {
    const double s = std::sin(std::numbers::pi * (static_cast<double>(k) + 0.5) / len);
    window_[k] = static_cast<float>(s * s);
    weight_sum += s * s;
  }

  // A sinusoid of amplitude A demodulates to A/2: amplitude = 2|sum| / sum(w).
  const double target = 0.5 * full_amplitude * weight_sum / 2.0;
  const auto hop = static_cast<std::ptrdiff_t>(std::max(1, sample_rate / 4000));  // 0.25 ms
  const auto half = static_cast<std::ptrdiff_t>(len / 2);
  double previous = -1;
  double previous_centre = 0;
  // A window starting at `start` is centred on the boundary before sample
  // start + len/2: a step there fills half its weight.
  for (std::ptrdiff_t start = -half;
       start + static_cast<std::ptrdiff_t>(len) <= static_cast<std::ptrdiff_t>(n); start += hop) {
    const double level = windowed_amplitude(start, n, len);
    const double centre = static_cast<double>(start) + static_cast<double>(len) / 2.0;
    if (level >= target) {
      if (previous < 0) return std::nullopt;  // already there at the start
      return previous_centre +
             (centre - previous_centre) * (target - previous) / (level - previous);
    }
    previous = level;
    previous_centre = centre;
  }
  return std::nullopt;
}

double OnsetEstimator::windowed_amplitude(std::ptrdiff_t start, size_t n, size_t len) const {
  std::complex<double> sum{};
  const std::ptrdiff_t first = std::max<std::ptrdiff_t>(0, -start);  // before the signal: silence
  for (auto k = static_cast<size_t>(first); k < len; ++k) {
    const auto i = static_cast<size_t>(start + static_cast<std::ptrdiff_t>(k));
    if (i >= n) break;
    sum += std::complex<double>(demod_[i]) * static_cast<double>(window_[k]);
  }
  return std::abs(sum);
}

OnsetTracker::OnsetTracker() = default;

void OnsetTracker::watch(std::vector<double> freqs) {
  freqs_ = std::move(freqs);
  tones_.assign(freqs_.size(), Tone{});
  out_.assign(freqs_.size(), Onset{});
}

std::span<const OnsetTracker::Onset> OnsetTracker::on_frame(const mixer::Frame& frame, uint16_t seq,
                                                            Clock::time_point arrival) {
  head_ = (head_ + 1) % ring_.size();
  Slot& newest = ring_[head_];
  newest.seq = seq;
  newest.arrival = arrival;
  newest.sample_rate = frame.sample_rate;
  // Decoders give mono; anything else is kept out of the sample estimate.
  newest.samples = frame.channels == 1 ? std::min(frame.samples, newest.pcm.size()) : 0;
  std::copy_n(frame.data.begin(), newest.samples, newest.pcm.begin());
  filled_ = std::min(filled_ + 1, ring_.size());

  size_t count = 0;
  for (size_t j = 0; j < freqs_.size(); ++j) {
    Tone& t = tones_[j];
    const double a = mixer::goertzel_amplitude(frame.pcm(), freqs_[j], frame.sample_rate);
    t.amplitude = a;
    if (t.pending) {
      out_[count++] = resolve(j);
      t.pending = false;
    }
    // Armed: this frame has the tone; the one before is below kOnsetOn (it
    // may hold the onset's first milliseconds) and those before it were
    // quiet.
    if (a >= kOnsetOn && t.last_amplitude < kOnsetOn && t.quiet_before_last >= kQuietBeforeOnset) {
      t.pending = true;
    }
    t.quiet_before_last = t.quiet;
    t.quiet = a < kOnsetOff ? t.quiet + 1 : 0;
    t.last_amplitude = a;
  }
  return {out_.data(), count};
}

OnsetTracker::Onset OnsetTracker::resolve(size_t j) {
  const Slot& after = slot(0);
  const Slot& armed = slot(1);
  const Slot& before = slot(2);
  Onset onset{j, armed.arrival, false};
  const bool contiguous = filled_ == ring_.size() &&
                          armed.seq == static_cast<uint16_t>(before.seq + 1) &&
                          after.seq == static_cast<uint16_t>(armed.seq + 1);
  const size_t frame = armed.samples;
  const int rate = armed.sample_rate;
  if (!contiguous || frame == 0 || before.samples != frame || after.samples != frame ||
      before.sample_rate != rate || after.sample_rate != rate) {
    return onset;
  }
  // The frame after the armed one is wholly tone: its amplitude is the full one.
  const double full = mixer::goertzel_amplitude({after.pcm.data(), frame}, freqs_[j], rate);
  if (full < kOnsetOn) return onset;
  std::copy_n(before.pcm.begin(), frame, signal_.begin());
  std::copy_n(armed.pcm.begin(), frame, signal_.begin() + static_cast<std::ptrdiff_t>(frame));
  std::copy_n(after.pcm.begin(), frame, signal_.begin() + static_cast<std::ptrdiff_t>(2 * frame));
  const auto at = estimator_.onset_sample({signal_.data(), 3 * frame}, rate, freqs_[j], full);
  if (!at) return onset;

  const double frame_d = static_cast<double>(frame);
  auto holder = static_cast<size_t>(std::floor(*at / frame_d));
  double offset = *at - static_cast<double>(holder) * frame_d;
  if (frame_d - offset <= kSnapSeconds * rate) {
    ++holder;
    offset = 0;
  }
  if (holder > 1) return onset;  // not in the frames that armed it: keep the frame figure
  const Slot& held = holder == 0 ? before : armed;
  onset.at = held.arrival + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(offset / rate));
  onset.sample_accurate = true;
  return onset;
}

}  // namespace chorus::load
