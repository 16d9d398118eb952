#pragma once

#include <array>
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

 private:
  static void on_digits(void* user, const char* digits, int len);

  int sample_rate_;
  dtmf_rx_state_s* rx_ = nullptr;
  std::unique_ptr<Resampler> to_8k_;  // when sample_rate_ != 8000
  Frame scratch_;
  std::array<char, 16> digits_{};
  size_t digit_count_ = 0;
};

}  // namespace chorus::mixer
