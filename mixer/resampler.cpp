#include "mixer/resampler.hpp"

#include <algorithm>
#include <cassert>
#include <new>
#include <stdexcept>

#include <speex/speex_resampler.h>

namespace chorus::mixer {

Resampler::Resampler(int from_rate, int to_rate, int quality, int channels)
    : from_rate_(from_rate), to_rate_(to_rate), channels_(channels) {
  if (from_rate <= 0 || to_rate <= 0 || from_rate > kMaxRate || to_rate > kMaxRate)
    throw std::invalid_argument("resampler: rates must be 1..48000");
  if (channels != 1 && channels != 2) throw std::invalid_argument("resampler: 1 or 2 channels");
  if (quality < SPEEX_RESAMPLER_QUALITY_MIN || quality > SPEEX_RESAMPLER_QUALITY_MAX)
    throw std::invalid_argument("resampler: quality must be 0..10");
  if (from_rate == to_rate) return;
  int err = RESAMPLER_ERR_SUCCESS;
  state_ = speex_resampler_init(static_cast<spx_uint32_t>(channels),
                                static_cast<spx_uint32_t>(from_rate),
                                static_cast<spx_uint32_t>(to_rate), quality, &err);
  if (state_ == nullptr || err != RESAMPLER_ERR_SUCCESS) throw std::bad_alloc();
}

Resampler::~Resampler() {
  if (state_ != nullptr) speex_resampler_destroy(state_);
}

void Resampler::reset() {
  if (state_ != nullptr) speex_resampler_reset_mem(state_);
}

void Resampler::process(const Frame& in, Frame& out) {
  assert(in.sample_rate == from_rate_ && in.channels == channels_);
  out.sample_rate = to_rate_;
  out.channels = channels_;
  out.silent = in.silent;
  const size_t ch = static_cast<size_t>(channels_);
  const size_t in_samples = std::min(in.samples, kMaxSamples / ch);
  if (state_ == nullptr) {
    out.samples = in_samples;
    std::copy_n(in.data.begin(), in_samples * ch, out.data.begin());
    return;
  }
  // The output a whole input frame maps to, rounded; speexdsp keeps the
  // fractional phase between calls, so over time the count is exact.
  const size_t expected =
      std::min((in_samples * static_cast<size_t>(to_rate_) + static_cast<size_t>(from_rate_) / 2) /
                   static_cast<size_t>(from_rate_),
               kMaxSamples / ch);
  spx_uint32_t in_len = static_cast<spx_uint32_t>(in_samples);
  spx_uint32_t out_len = static_cast<spx_uint32_t>(expected);
  speex_resampler_process_interleaved_int(state_, in.data.data(), &in_len, out.data.data(),
                                          &out_len);
  // With rates whose ratio does not divide the frame (e.g. 44.1 → 48 kHz) a
  // call can come out a sample short; repeat the last one rather than leave
  // a gap (inaudible, and the frame keeps its fixed size).
  size_t produced = out_len;
  for (; produced < expected; ++produced) {
    for (size_t c = 0; c < ch; ++c) {
      out.data[produced * ch + c] = produced == 0 ? 0 : out.data[(produced - 1) * ch + c];
    }
  }
  out.samples = expected;
}

}  // namespace chorus::mixer
