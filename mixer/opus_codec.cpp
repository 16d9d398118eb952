#include "mixer/opus_codec.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace chorus::mixer {
namespace {

// Expected loss rate the encoder plans FEC for; libopus sends no LBRR data
// while this is 0 (RFC 6716 §2.1.7).
constexpr int kFecLossPercent = 10;

void check(int err, const char* what) {
  if (err != OPUS_OK) throw std::invalid_argument(std::string(what) + ": " + opus_strerror(err));
}

}  // namespace

bool opus_rate_supported(int rate) {
  return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

OpusDecoderImpl::OpusDecoderImpl(int sample_rate) : sample_rate_(sample_rate), dec_(nullptr) {
  if (!opus_rate_supported(sample_rate)) throw std::invalid_argument("opus: unsupported rate");
  int err = OPUS_OK;
  dec_ = opus_decoder_create(sample_rate, 1, &err);
  check(err, "opus_decoder_create");
}

OpusDecoderImpl::~OpusDecoderImpl() {
  opus_decoder_destroy(dec_);
}

bool OpusDecoderImpl::decode(std::span<const uint8_t> payload, Frame& out) {
  out.sample_rate = sample_rate_;
  out.channels = 1;
  if (payload.empty() || payload.size() > 0x7fffffff) {
    out.set_silence(sample_rate_);
    return false;
  }
  const int n = opus_decode(dec_, payload.data(), static_cast<opus_int32>(payload.size()),
                            out.data.data(), static_cast<int>(kMaxSamples), 0);
  if (n < 0) {
    out.set_silence(sample_rate_);
    return false;
  }
  out.samples = static_cast<size_t>(n);
  out.silent = is_dtx_payload(CodecId::kOpus, payload);
  return true;
}

void OpusDecoderImpl::conceal(Frame& out) {
  out.sample_rate = sample_rate_;
  out.channels = 1;
  out.silent = false;
  const int want = static_cast<int>(samples_per_tick(sample_rate_));
  const int n = opus_decode(dec_, nullptr, 0, out.data.data(), want, 0);
  if (n < 0) {
    out.set_silence(sample_rate_);
    return;
  }
  out.samples = static_cast<size_t>(n);
}

bool OpusDecoderImpl::decode_fec(std::span<const uint8_t> next_payload, Frame& out) {
  if (next_payload.size() < 3 || next_payload.size() > 0x7fffffff) {
    conceal(out);
    return false;
  }
  // RFC 6716 §3.1: TOC configurations 0-15 are SILK-only or hybrid, the only
  // modes that carry LBRR (FEC) frames.
  const bool may_have_fec = (next_payload[0] >> 3) < 16;
  out.sample_rate = sample_rate_;
  out.channels = 1;
  out.silent = false;
  const int want = static_cast<int>(samples_per_tick(sample_rate_));
  const int n = opus_decode(dec_, next_payload.data(), static_cast<opus_int32>(next_payload.size()),
                            out.data.data(), want, 1);
  if (n < 0) {
    conceal(out);
    return false;
  }
  out.samples = static_cast<size_t>(n);
  return may_have_fec;
}

OpusEncoderImpl::OpusEncoderImpl(const CodecParams& params) : params_(params), enc_(nullptr) {
  if (!opus_rate_supported(params.sample_rate))
    throw std::invalid_argument("opus: unsupported rate");
  if (params.channels != 1 && params.channels != 2)
    throw std::invalid_argument("opus: channels must be 1 or 2");
  if (params.complexity < 0 || params.complexity > 10)
    throw std::invalid_argument("opus: complexity must be 0..10");
  if (params.bitrate != 0 && (params.bitrate < 500 || params.bitrate > 512000))
    throw std::invalid_argument("opus: bitrate must be 500..512000 bit/s");
  int err = OPUS_OK;
  enc_ = opus_encoder_create(params.sample_rate, params.channels, OPUS_APPLICATION_VOIP, &err);
  check(err, "opus_encoder_create");
  apply_settings();
}

OpusEncoderImpl::~OpusEncoderImpl() {
  opus_encoder_destroy(enc_);
}

void OpusEncoderImpl::apply_settings() {
  opus_encoder_ctl(enc_, OPUS_SET_COMPLEXITY(params_.complexity));
  opus_encoder_ctl(enc_, OPUS_SET_BITRATE(params_.bitrate == 0 ? OPUS_AUTO : params_.bitrate));
  opus_encoder_ctl(enc_, OPUS_SET_INBAND_FEC(params_.fec ? 1 : 0));
  opus_encoder_ctl(enc_, OPUS_SET_PACKET_LOSS_PERC(params_.fec ? kFecLossPercent : 0));
  opus_encoder_ctl(enc_, OPUS_SET_DTX(params_.dtx ? 1 : 0));
  opus_encoder_ctl(enc_, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
}

size_t OpusEncoderImpl::encode(const Frame& in, std::span<uint8_t> out) {
  if (in.sample_rate != params_.sample_rate || out.empty()) return 0;
  const opus_int32 capacity = static_cast<opus_int32>(std::min<size_t>(out.size(), 1275 * 3));
  const int frame = static_cast<int>(in.samples);
  const int16_t* pcm = in.data.data();
  if (in.channels != params_.channels) {
    if (in.channels != 1 || params_.channels != 2 || in.samples * 2 > stereo_.size()) return 0;
    for (size_t i = 0; i < in.samples; ++i) stereo_[2 * i] = stereo_[2 * i + 1] = in.data[i];
    pcm = stereo_.data();
  }
  const int n = opus_encode(enc_, pcm, frame, out.data(), capacity);
  return n < 0 ? 0 : static_cast<size_t>(n);
}

void OpusEncoderImpl::reset() {
  opus_encoder_ctl(enc_, OPUS_RESET_STATE);
}

}  // namespace chorus::mixer
