#include "mixer/shared_encoder.hpp"

#include <algorithm>
#include <cassert>

namespace chorus::mixer {

EncodeChain::EncodeChain(const CodecParams& codec, int conference_rate)
    : codec_(codec), conference_rate_(conference_rate), encoder_(make_encoder(codec)) {
  set_conference_rate(conference_rate);
}

bool EncodeChain::retune(const CodecParams& codec) {
  if (codec == codec_) return true;
  if (!encoder_->retune(codec)) return false;
  codec_ = codec;
  return true;
}

void EncodeChain::set_conference_rate(int conference_rate) {
  std::unique_ptr<RateStage> resampler;
  if (codec_.sample_rate != conference_rate) {
    resampler = std::make_unique<RateStage>(conference_rate, codec_.sample_rate);
  }
  adopt_conference_rate(conference_rate, std::move(resampler));
}

void EncodeChain::adopt_conference_rate(int conference_rate, std::unique_ptr<RateStage> resampler) {
  assert((resampler != nullptr) == (codec_.sample_rate != conference_rate));
  conference_rate_ = conference_rate;
  resampler_ = std::move(resampler);
  for (Frame& f : ring_) f.set_silence(conference_rate);
  limiter_.reset();
}

Frame& EncodeChain::next_frame() {
  current_ = (current_ + 1) % kPrimeFrames;
  Frame& f = ring_[current_];
  f.sample_rate = conference_rate_;
  f.channels = 1;
  f.samples = samples_per_tick(conference_rate_);
  return f;
}

void EncodeChain::render_mix(std::span<const int32_t> mix, float gain) {
  Frame& f = next_frame();
  assert(mix.size() >= f.samples);
  limiter_.process(mix.first(f.samples), f.pcm(), gain);
  f.silent = false;
}

void EncodeChain::render_pcm(const Frame& at_conference_rate) {
  assert(at_conference_rate.sample_rate == conference_rate_);
  Frame& f = next_frame();
  std::copy_n(at_conference_rate.data.begin(), f.samples, f.data.begin());
  f.silent = at_conference_rate.silent;
}

std::span<const uint8_t> EncodeChain::encode_into(const Frame& at_conference_rate,
                                                  std::span<uint8_t> out) {
  const Frame* in = &at_conference_rate;
  if (resampler_) in = &resampler_->process(at_conference_rate);
  const size_t size = encoder_->encode(*in, out);
  return out.first(size);
}

std::span<const uint8_t> EncodeChain::encode() {
  payload_size_ = encode_into(ring_[current_], payload_).size();
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
    // Oldest first, ending with the source's latest frame.
    const Frame& f = source.ring_[(source.current_ + 1 + i) % kPrimeFrames];
    if (f.samples == 0) continue;
    encode_into(f, payload_);
  }
}

CodecParams sidebar_codec(const CodecParams& codec, const Listening& listening) {
  CodecParams out = codec;
  if (codec.id != CodecId::kOpus || listening.sidebar == 0) return out;
  out.max_bandwidth = std::min(out.max_bandwidth, listening.sidebar_opus_bandwidth);
  out.complexity = std::min(out.complexity, std::clamp(listening.sidebar_opus_complexity, 0, 10));
  return out;
}

size_t member_group_keys(const CodecParams& codec, const Listening& listening,
                         std::array<GroupKey, 5>& out) {
  using Source = SharedEncoder::Source;
  size_t n = 0;
  out[n++] = {Source::kBus, codec, listening.gain, 0};
  out[n++] = {Source::kSilence, codec, 1.0F, 0};
  out[n++] = {Source::kMusic, codec, 1.0F, 0};
  if (listening.sidebar != 0) {
    const CodecParams own = sidebar_codec(codec, listening);
    const GroupKey quiet{Source::kBus, own, listening.quiet_gain, 0};
    if (quiet != out[0]) out[n++] = quiet;
    out[n++] = {Source::kSidebar, own, listening.gain, listening.sidebar};
  }
  return n;
}

}  // namespace chorus::mixer
