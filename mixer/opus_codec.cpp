#include "mixer/opus_codec.hpp"

#include <algorithm>
#include <array>
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

// What an encoder cannot be set to, or nullptr: the constructor throws it,
// a retune refuses it.
const char* invalid_encoder_params(const CodecParams& params) {
  if (!opus_rate_supported(params.sample_rate)) return "opus: unsupported rate";
  if (params.channels != 1 && params.channels != 2) return "opus: channels must be 1 or 2";
  if (params.complexity < 0 || params.complexity > 10) return "opus: complexity must be 0..10";
  if (params.bitrate != 0 && (params.bitrate < 500 || params.bitrate > 512000))
    return "opus: bitrate must be 500..512000 bit/s";
  return nullptr;
}

// The range decoder of RFC 6716 §4.1, just far enough to read the
// equiprobable header bits at the start of a SILK layer.
class RangeBits {
 public:
  explicit RangeBits(std::span<const uint8_t> frame) : data_(frame) {
    // §4.1.1: rng = 128, val = 127 - (b0 >> 1), then normalise.
    rem_ = next();
    val_ = 127 - (rem_ >> 1);
    normalize();
  }

  // §4.1.3.1 ec_dec_bit_logp() with logp = 1: a symbol of probability 1/2.
  bool bit() {
    const uint32_t s = rng_ >> 1;
    const bool one = val_ < s;
    if (one) {
      rng_ = s;
    } else {
      val_ -= s;
      rng_ -= s;
    }
    normalize();
    return one;
  }

 private:
  uint32_t next() { return pos_ < data_.size() ? data_[pos_++] : 0; }

  // §4.1.2.1: keep rng above 2^23, shifting in one byte at a time.
  void normalize() {
    while (rng_ <= (1u << 23)) {
      rng_ <<= 8;
      const uint32_t b = next();
      const uint32_t sym = ((rem_ << 8) | b) >> 1;
      rem_ = b;
      val_ = ((val_ << 8) + (255 - (sym & 255))) & 0x7FFFFFFF;
    }
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  uint32_t rng_ = 128;
  uint32_t val_ = 0;
  uint32_t rem_ = 0;
};

}  // namespace

bool opus_packet_has_fec(std::span<const uint8_t> packet) {
  if (packet.size() < 2 || packet.size() > 1275 * 48) return false;
  const unsigned config = packet[0] >> 3;
  if (config >= 16) return false;  // RFC 6716 §3.1: CELT-only has no LBRR
  unsigned char toc = 0;
  const unsigned char* frames[48] = {};
  opus_int16 sizes[48] = {};
  const int count = opus_packet_parse(packet.data(), static_cast<opus_int32>(packet.size()), &toc,
                                      frames, sizes, nullptr);
  if (count < 1 || sizes[0] < 1) return false;
  // SILK frames (20 ms each, or one 10 ms) per Opus frame: SILK-only
  // configurations cycle 10/20/40/60 ms, hybrid ones 10/20 ms.
  const unsigned ms_index = config < 12 ? config % 4 : config % 2;
  const int silk_frames = ms_index <= 1 ? 1 : static_cast<int>(ms_index);
  // §4.2.3: one VAD flag per SILK frame, then the LBRR flag (mid channel
  // first when stereo; its flag is enough to say FEC is present).
  RangeBits bits(std::span(frames[0], static_cast<size_t>(sizes[0])));
  for (int i = 0; i < silk_frames; ++i) (void)bits.bit();
  return bits.bit();
}

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
  if (!opus_packet_has_fec(next_payload)) {
    conceal(out);
    return false;
  }
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
  return true;
}

OpusEncoderImpl::OpusEncoderImpl(const CodecParams& params) : params_(params), enc_(nullptr) {
  if (const char* fault = invalid_encoder_params(params)) throw std::invalid_argument(fault);
  int err = OPUS_OK;
  enc_ = opus_encoder_create(params.sample_rate, params.channels, OPUS_APPLICATION_VOIP, &err);
  check(err, "opus_encoder_create");
  apply_settings();
}

OpusEncoderImpl::~OpusEncoderImpl() {
  opus_encoder_destroy(enc_);
}

void OpusEncoderImpl::apply_settings() {
  // The rate of each band (RFC 6716 §2), and libopus's own automatic
  // bitrate at that rate (60 bits a 20 ms frame + 1 bit a sample).
  constexpr std::array<int, 5> kBandRates = {8000, 12000, 16000, 24000, 48000};
  const size_t band = std::min<size_t>(static_cast<size_t>(params_.max_bandwidth), 4);
  const int band_rate = kBandRates[band];
  opus_int32 bitrate = params_.bitrate;
  if (bitrate == 0) bitrate = band_rate < params_.sample_rate ? 3000 + band_rate : OPUS_AUTO;
  opus_encoder_ctl(enc_, OPUS_SET_COMPLEXITY(params_.complexity));
  opus_encoder_ctl(enc_, OPUS_SET_BITRATE(bitrate));
  opus_encoder_ctl(enc_, OPUS_SET_INBAND_FEC(params_.fec ? 1 : 0));
  opus_encoder_ctl(enc_, OPUS_SET_PACKET_LOSS_PERC(params_.fec ? kFecLossPercent : 0));
  opus_encoder_ctl(enc_, OPUS_SET_DTX(params_.dtx ? 1 : 0));
  opus_encoder_ctl(enc_, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  constexpr std::array<int, 5> kBandwidths = {OPUS_BANDWIDTH_NARROWBAND, OPUS_BANDWIDTH_MEDIUMBAND,
                                              OPUS_BANDWIDTH_WIDEBAND, OPUS_BANDWIDTH_SUPERWIDEBAND,
                                              OPUS_BANDWIDTH_FULLBAND};
  opus_encoder_ctl(enc_, OPUS_SET_MAX_BANDWIDTH(kBandwidths[band]));
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

bool OpusEncoderImpl::retune(const CodecParams& params) {
  CodecParams same = params;
  same.max_bandwidth = params_.max_bandwidth;
  same.complexity = params_.complexity;
  same.bitrate = params_.bitrate;
  if (same != params_ || invalid_encoder_params(params) != nullptr) return false;
  if (params == params_) return true;
  params_ = params;
  apply_settings();
  return true;
}

void OpusEncoderImpl::reset() {
  opus_encoder_ctl(enc_, OPUS_RESET_STATE);
}

}  // namespace chorus::mixer
