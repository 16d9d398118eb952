#pragma once

#include <span>

#include <spandsp.h>

#include "mixer/codec.hpp"

namespace chorus::mixer {

// G.711 conversions as SpanDSP defines them (its g711.h), through tables:
// `out` holds in.size() samples / bytes.
void g711_decode_samples(bool alaw, std::span<const uint8_t> in, int16_t* out);
void g711_encode_samples(bool alaw, std::span<const int16_t> in, uint8_t* out);

// PCMU / PCMA (ITU-T G.711, RFC 3551 §4.5.14) through SpanDSP, with SpanDSP's
// G.711 Appendix I style concealment (plc_rx records history, plc_fillin
// repeats the last pitch period with a fade).
class G711Decoder final : public Decoder {
 public:
  explicit G711Decoder(bool alaw);
  ~G711Decoder() override;
  G711Decoder(const G711Decoder&) = delete;
  G711Decoder& operator=(const G711Decoder&) = delete;

  // Any payload up to kMaxSamples bytes (one byte per sample); empty is corrupt.
  bool decode(std::span<const uint8_t> payload, Frame& out) override;
  void conceal(Frame& out) override;
  int sample_rate() const override { return 8000; }

 private:
  bool alaw_;
  plc_state_t plc_{};
};

class G711Encoder final : public Encoder {
 public:
  explicit G711Encoder(bool alaw);
  ~G711Encoder() override;
  G711Encoder(const G711Encoder&) = delete;
  G711Encoder& operator=(const G711Encoder&) = delete;

  size_t encode(const Frame& in, std::span<uint8_t> out) override;
  int sample_rate() const override { return 8000; }
  void reset() override {}  // G.711 is memoryless

 private:
  bool alaw_;
};

}  // namespace chorus::mixer
