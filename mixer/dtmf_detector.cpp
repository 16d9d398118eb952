#include "mixer/dtmf_detector.hpp"

#include <new>

#include <spandsp.h>

namespace chorus::mixer {

DtmfDetector::DtmfDetector(int sample_rate) : sample_rate_(sample_rate) {
  rx_ = dtmf_rx_init(nullptr, &DtmfDetector::on_digits, this);
  if (rx_ == nullptr) throw std::bad_alloc();
  if (sample_rate != 8000) to_8k_ = std::make_unique<Resampler>(sample_rate, 8000);
}

DtmfDetector::~DtmfDetector() {
  dtmf_rx_free(rx_);
}

void DtmfDetector::on_digits(void* user, const char* digits, int len) {
  auto* self = static_cast<DtmfDetector*>(user);
  for (int i = 0; i < len && self->digit_count_ < self->digits_.size(); ++i) {
    self->digits_[self->digit_count_++] = digits[i];
  }
}

std::string_view DtmfDetector::process(const Frame& f) {
  digit_count_ = 0;
  const Frame* in = &f;
  if (to_8k_ != nullptr) {
    if (f.sample_rate != sample_rate_ || f.channels != 1) return {};
    to_8k_->process(f, scratch_);
    in = &scratch_;
  } else if (f.sample_rate != 8000 || f.channels != 1) {
    return {};
  }
  dtmf_rx(rx_, in->data.data(), static_cast<int>(in->samples));
  return {digits_.data(), digit_count_};
}

void DtmfDetector::fill_in(size_t samples_8k) {
  dtmf_rx_fillin(rx_, static_cast<int>(samples_8k));
}

}  // namespace chorus::mixer
