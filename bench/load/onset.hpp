#pragma once
// Mouth-to-ear onsets for chorus-load (bench/LOAD.md): where, to the sample,
// a watched tone comes back in what a listener decodes.
//
// Frame-level detection alone (the first 20 ms frame whose Goertzel
// amplitude reaches kOnsetOn) is exact only when the onset sits at sample 0
// of a received frame (G.711). A codec with look-ahead (Opus: 6.5 ms in the
// generator's encoder, 6.5 ms more in chorus's) moves the onset inside a
// frame, and the frame-level figure is then off by up to 20 ms either way.
// The tracker arms on the frame-level rule, waits one more frame (wholly
// tone, so its Goertzel amplitude is the tone's full amplitude), then slides
// a Hann-windowed Goertzel across the frame before the armed one, the armed
// one and that last one, and takes the onset where the sliding amplitude
// first reaches half the full amplitude: for a step onset that is where the
// (symmetric) window is centred on it.

#include <array>
#include <chrono>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "mixer/frame.hpp"

namespace chorus::load {

using Clock = std::chrono::steady_clock;

// Goertzel amplitude thresholds on one 20 ms frame: a tone of the load's
// amplitude through a codec and a mixer reads well above kOnsetOn; another
// tone or silence well below kOnsetOff.
inline constexpr double kOnsetOn = 1000.0;
inline constexpr double kOnsetOff = 300.0;
// Frames below kOnsetOff, before the frame preceding the onset frame, for an
// onset to count (the frame just before may hold the onset's first ms).
inline constexpr int kQuietBeforeOnset = 3;
// Watched tones are 150 Hz apart (participant.cpp's tone_for).
inline constexpr double kToneSpacingHz = 150.0;

// The sliding estimate: a Hann window of 2 / kToneSpacingHz (13.3 ms) puts
// the first null past its main lobe on the next tone of the mix and keeps
// every further tone (and the 2f image, >= 700 Hz away) in its sidelobes
// (> 40 dB down). A rectangular 10 ms block would let a tone 150 Hz away
// through at about a fifth of its amplitude.
class OnsetEstimator {
 public:
  static constexpr size_t kMaxSignal = 3 * mixer::samples_per_tick(mixer::kMaxRate);
  static constexpr size_t kMaxWindow = 2 * mixer::kMaxRate / 150 + 1;

  // Where the tone `freq_hz` starts in `signal` (mono PCM at `sample_rate`),
  // in samples from its first sample (fractional), given its steady
  // amplitude `full_amplitude`. Samples before `signal` count as silence
  // (the caller knows they were quiet in this tone). Nullopt when the tone
  // never reaches half of `full_amplitude`, is already there at sample 0,
  // or the input does not fit. Never allocates.
  std::optional<double> onset_sample(std::span<const int16_t> signal, int sample_rate,
                                     double freq_hz, double full_amplitude);

 private:
  double windowed_amplitude(std::ptrdiff_t start, size_t n, size_t len) const;

  std::array<std::complex<float>, kMaxSignal> demod_{};
  std::array<float, kMaxWindow> window_{};
};

// One listener's onsets of its watched tones, from its decoded frames.
class OnsetTracker {
 public:
  struct Onset {
    size_t watched = 0;    // index into the watched frequencies
    Clock::time_point at;  // when the onset sample arrived (see below)
    bool sample_accurate = false;
  };

  OnsetTracker();
  // Set-up (allocates): the frequencies whose onsets are tracked.
  void watch(std::vector<double> freqs);
  const std::vector<double>& freqs() const { return freqs_; }

  // One decoded frame (`seq`: its RTP sequence number, to see losses).
  // Returns the onsets it completes (at most one per watched frequency):
  // `at` = arrival of the received frame holding the onset sample + the
  // sample's offset in that frame. When a frame around the onset is
  // missing (or the estimate fails), the frame-level figure instead: the
  // arrival of the frame that armed it, sample_accurate = false.
  // Never allocates.
  std::span<const Onset> on_frame(const mixer::Frame& frame, uint16_t seq,
                                  Clock::time_point arrival);
  // The last frame's Goertzel amplitude of watched frequency `j`.
  double amplitude(size_t j) const { return tones_[j].amplitude; }

 private:
  struct Slot {
    int sample_rate = 0;
    size_t samples = 0;
    uint16_t seq = 0;
    Clock::time_point arrival;
    std::array<int16_t, mixer::samples_per_tick(mixer::kMaxRate)> pcm{};
  };
  struct Tone {
    double amplitude = 0;
    int quiet = 0;              // consecutive frames below kOnsetOff, up to the last
    int quiet_before_last = 0;  // the same, up to the frame before the last
    double last_amplitude = 0;  // of the frame before this one
    bool pending = false;       // armed by the frame before this one
  };

  const Slot& slot(size_t back) const { return ring_[(head_ + 3 - back) % 3]; }
  Onset resolve(size_t j);

  std::vector<double> freqs_;
  std::vector<Tone> tones_;
  std::vector<Onset> out_;
  std::array<Slot, 3> ring_{};  // the last three frames; head_ is the newest
  size_t head_ = 0;
  size_t filled_ = 0;
  OnsetEstimator estimator_;
  std::array<int16_t, OnsetEstimator::kMaxSignal> signal_{};
};

}  // namespace chorus::load
