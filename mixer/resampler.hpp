#pragma once

#include "mixer/frame.hpp"
#include "mixer/huge_page_pool.hpp"

struct SpeexResamplerState_;

namespace chorus::mixer {

// Converts 20 ms frames between sample rates with speexdsp. Use one per
// stream direction and only where the rates differ; with equal rates
// process() is a copy. All state is allocated in the constructor; process()
// never allocates (hot path).
class Resampler {
 public:
  // quality: speexdsp 0 (fastest) .. 10 (best); 5 is its VoIP default.
  Resampler(int from_rate, int to_rate, int quality = 5, int channels = 1);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  // `in` must be at from_rate() with channels(); `out` receives exactly
  // samples_per_tick(to_rate()) samples per channel for a full 20 ms input
  // (the filter delay of a few samples stays inside the stream).
  void process(const Frame& in, Frame& out);
  // Clears the filter history (after a stream restarts).
  void reset();

  int from_rate() const { return from_rate_; }
  int to_rate() const { return to_rate_; }
  int channels() const { return channels_; }

 private:
  int from_rate_;
  int to_rate_;
  int channels_;
  SpeexResamplerState_* state_ = nullptr;  // null when the rates are equal
};

// A rate conversion and the frame it writes into, built only where two rates
// differ: a member whose codec runs at the conference rate carries neither
// (a Frame is ~3.9 KB; issue #16). Set-up time only, like the Resampler.
struct RateStage : HugePageAllocated<RateStage> {
  RateStage(int from_rate, int to_rate) : resampler(from_rate, to_rate) {
    out.set_silence(to_rate);
  }
  // Converts `in` into `out` and returns it.
  const Frame& process(const Frame& in) {
    resampler.process(in, out);
    return out;
  }
  Resampler resampler;
  Frame out;
};

}  // namespace chorus::mixer
