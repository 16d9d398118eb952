#include "mixer/shared_encoder.hpp"

#include <algorithm>
#include <cassert>

namespace chorus::mixer {

EncodeChain::EncodeChain(const CodecParams& codec, int conference_rate)
    : codec_(codec), conference_rate_(conference_rate), encoder_(make_encoder(codec)) {
  set_conference_rate(conference_rate);
}

void EncodeChain::set_conference_rate(int conference_rate) {
  conference_rate_ = conference_rate;
  resampler_.reset();
  if (codec_.sample_rate != conference_rate) {
    resampler_ = std::make_unique<Resampler>(conference_rate, codec_.sample_rate);
  }
  pcm_.set_silence(conference_rate);
  for (Frame& f : history_) f.set_silence(conference_rate);
  at_codec_.set_silence(codec_.sample_rate);
  limiter_.reset();
}

void EncodeChain::render_mix(std::span<const int32_t> mix, float gain) {
  const size_t n = samples_per_tick(conference_rate_);
  assert(mix.size() >= n);
  pcm_.sample_rate = conference_rate_;
  pcm_.channels = 1;
  pcm_.samples = n;
  limiter_.process(mix.first(n), pcm_.pcm(), gain);
  pcm_.silent = false;
}

void EncodeChain::render_pcm(const Frame& at_conference_rate) {
  assert(at_conference_rate.sample_rate == conference_rate_);
  pcm_.sample_rate = conference_rate_;
  pcm_.channels = 1;
  pcm_.samples = samples_per_tick(conference_rate_);
  std::copy_n(at_conference_rate.data.begin(), pcm_.samples, pcm_.data.begin());
  pcm_.silent = at_conference_rate.silent;
}

std::span<const uint8_t> EncodeChain::encode_into(const Frame& at_conference_rate,
                                                  std::span<uint8_t> out) {
  const Frame* in = &at_conference_rate;
  if (resampler_) {
    resampler_->process(at_conference_rate, at_codec_);
    in = &at_codec_;
  }
  const size_t size = encoder_->encode(*in, out);
  return out.first(size);
}

std::span<const uint8_t> EncodeChain::encode() {
  history_[next_] = pcm_;
  next_ = (next_ + 1) % kPrimeFrames;
  payload_size_ = encode_into(pcm_, payload_).size();
  ++encodes_;
  return payload();
}

void EncodeChain::prime_from(const EncodeChain& source) {
  limiter_.copy_state_from(source.limiter_);
  // No reset: a reset encoder starts with an intra frame and fresh
  // predictors that disagree with the far end's decoder for ~100 ms (+3 dB
  // measured with Opus/SILK). Feeding the stale encoder the last 40 ms the
  // listener heard instead brings its predictors where the decoder's are
  // (measured within 0.3 dB).
  for (size_t i = 0; i < kPrimeFrames; ++i) {
    const Frame& f = source.history_[(source.next_ + i) % kPrimeFrames];
    if (f.samples == 0) continue;
    encode_into(f, payload_);
  }
}

}  // namespace chorus::mixer
