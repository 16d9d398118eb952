#pragma once

#include <array>
#include <span>

#include <opus/opus.h>

#include "mixer/codec.hpp"

namespace chorus::mixer {

// Opus (RFC 6716, RTP payload RFC 7587) through libopus.
//
// The decoder always decodes to mono: libopus downmixes a stereo stream
// itself when the decoder has one channel, which is cheaper than decoding
// both channels and averaging. Accepts packets of up to kMaxSamples samples
// at the decoder rate (40 ms at 48 kHz).
class OpusDecoderImpl final : public Decoder {
 public:
  explicit OpusDecoderImpl(int sample_rate);
  ~OpusDecoderImpl() override;
  OpusDecoderImpl(const OpusDecoderImpl&) = delete;
  OpusDecoderImpl& operator=(const OpusDecoderImpl&) = delete;

  // A DTX payload (RFC 7587 §3.1.3; at most 2 bytes) yields libopus's comfort
  // continuation with out.silent set; an empty payload is corrupt.
  bool decode(std::span<const uint8_t> payload, Frame& out) override;
  void conceal(Frame& out) override;
  // RFC 7587 §3.2.1 / RFC 6716 §4.2.4 (LBRR frames): the next packet's LBRR data rebuilds the
  // lost 20 ms. Returns true when that packet carries FEC data; otherwise
  // conceals (libopus PLC) and returns false.
  bool decode_fec(std::span<const uint8_t> next_payload, Frame& out) override;
  int sample_rate() const override { return sample_rate_; }

 private:
  int sample_rate_;
  OpusDecoder* dec_;
};

class OpusEncoderImpl final : public Encoder {
 public:
  // params.sample_rate, channels, bitrate, complexity, fec, dtx as in CodecParams.
  explicit OpusEncoderImpl(const CodecParams& params);
  ~OpusEncoderImpl() override;
  OpusEncoderImpl(const OpusEncoderImpl&) = delete;
  OpusEncoderImpl& operator=(const OpusEncoderImpl&) = delete;

  size_t encode(const Frame& in, std::span<uint8_t> out) override;
  int sample_rate() const override { return params_.sample_rate; }
  void reset() override;
  bool retune(const CodecParams& params) override;

 private:
  void apply_settings();

  CodecParams params_;
  OpusEncoder* enc_;
  std::array<int16_t, kMaxSamples> stereo_{};  // mono input duplicated for a stereo encoder
};

// Whether the first Opus frame of `packet` carries LBRR (in-band FEC) data
// for the frame before it: RFC 6716 §4.2.3 header bits, read with the range
// decoder of §4.1. False for CELT-only packets, DTX and malformed input.
bool opus_packet_has_fec(std::span<const uint8_t> packet);

// Whether libopus accepts `rate` (RFC 6716 §2: 8, 12, 16, 24 or 48 kHz).
bool opus_rate_supported(int rate);

}  // namespace chorus::mixer
