#include "mixer/dtmf_detector.hpp"

#include <cmath>
#include <new>

#include <spandsp.h>

#include "mixer/level.hpp"

namespace chorus::mixer {

namespace {

// SpanDSP's dBm0 scale: a full-scale 16-bit square wave is +6.16 dBm0.
const double kGateMeanSquare = 32767.0 * 32767.0 * std::pow(10.0, (DtmfDetector::kGateDbm0 - 6.16) / 10.0);

bool quiet(const Frame& f) {
  const size_t n = f.samples * f.channels;
  if (n == 0) return true;
  const uint64_t sum = sum_of_squares(std::span<const int16_t>(f.data.data(), n));
  return static_cast<double>(sum) < kGateMeanSquare * static_cast<double>(n);
}

}  // namespace

DtmfDetector::DtmfDetector(int sample_rate) : sample_rate_(sample_rate) {
  rx_ = dtmf_rx_init(nullptr, &DtmfDetector::on_digits, this);
  if (rx_ == nullptr) throw std::bad_alloc();
  if (sample_rate != 8000) to_8k_ = std::make_unique<RateStage>(sample_rate, 8000);
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
  const bool loud = !quiet(f);
  if (!loud && !was_loud_) return {};
  was_loud_ = loud;
  const Frame* in = &f;
  if (to_8k_ != nullptr) {
    if (f.sample_rate != sample_rate_ || f.channels != 1) return {};
    in = &to_8k_->process(f);
  } else if (f.sample_rate != 8000 || f.channels != 1) {
    return {};
  }
  ++frames_analysed_;
  dtmf_rx(rx_, in->data.data(), static_cast<int>(in->samples));
  return {digits_.data(), digit_count_};
}

void DtmfDetector::fill_in(size_t samples_8k) {
  dtmf_rx_fillin(rx_, static_cast<int>(samples_8k));
}

}  // namespace chorus::mixer
