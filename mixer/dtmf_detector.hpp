#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "mixer/frame.hpp"
#include "mixer/resampler.hpp"

struct dtmf_rx_state_s;

namespace chorus::mixer {

// In-band DTMF detection (ITU-T Q.23/Q.24 via SpanDSP dtmf_rx) for clients
// that send tones instead of RFC 4733 events. Each key press is reported
// once, when it is recognised. Audio at other rates is first resampled to
// 8 kHz with a resampler owned here. State is allocated in the constructor;
// process() never allocates.
//
// A quiet gate spares the detector (and the resampler) on frames that cannot
// hold a digit: a frame whose mean power is below kGateDbm0 (19 dB under the
// weakest tone Q.24 asks a receiver to accept, -26 dBm0 per tone) is skipped,
// except the first quiet frame after an analysed one, which still goes in so
// that the detector sees a digit end. Silent members of a large room cost one
// sum of squares per frame.
class DtmfDetector {
 public:
  explicit DtmfDetector(int sample_rate = 8000);
  ~DtmfDetector();
  DtmfDetector(const DtmfDetector&) = delete;
  DtmfDetector& operator=(const DtmfDetector&) = delete;

  // Feeds one frame at sample_rate(); returns the digits ("0"-"9", "*", "#",
  // "A"-"D") whose tones began in it, usually empty. The view is valid until
  // the next call.
  std::string_view process(const Frame& f);
  // A lost frame: lets the detector's timing advance without audio.
  void fill_in(size_t samples_8k);
  int sample_rate() const { return sample_rate_; }
  // Frames given to the detector itself (not skipped by the gate).
  uint64_t frames_analysed() const { return frames_analysed_; }

  static constexpr double kGateDbm0 = -45.0;

 private:
  static void on_digits(void* user, const char* digits, int len);

  int sample_rate_;
  dtmf_rx_state_s* rx_ = nullptr;
  std::unique_ptr<RateStage> to_8k_;  // when sample_rate_ != 8000
  std::array<char, 16> digits_{};
  size_t digit_count_ = 0;
  bool was_loud_ = true;
  uint64_t frames_analysed_ = 0;
};

}  // namespace chorus::mixer
