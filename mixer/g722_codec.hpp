#pragma once

#include <span>

#include <spandsp.h>

#include "mixer/codec.hpp"
#include "mixer/g722_plc.hpp"

namespace chorus::mixer {

// G.722 at 64 kbit/s through SpanDSP: 16 kHz audio, although RTP counts time
// at 8000 Hz (RFC 3551 §4.5.2). 20 ms = 320 samples = 160 bytes. SpanDSP has
// no G.722 concealment, so losses use PitchPlc.
class G722Decoder final : public Decoder {
 public:
  G722Decoder();
  ~G722Decoder() override;
  G722Decoder(const G722Decoder&) = delete;
  G722Decoder& operator=(const G722Decoder&) = delete;

  // Any payload up to kMaxSamples / 2 bytes (two samples per byte).
  bool decode(std::span<const uint8_t> payload, Frame& out) override;
  void conceal(Frame& out) override;
  int sample_rate() const override { return 16000; }

 private:
  g722_decode_state_t* g722_;
  PitchPlc plc_{16000};
};

class G722Encoder final : public Encoder {
 public:
  G722Encoder();
  ~G722Encoder() override;
  G722Encoder(const G722Encoder&) = delete;
  G722Encoder& operator=(const G722Encoder&) = delete;

  size_t encode(const Frame& in, std::span<uint8_t> out) override;
  int sample_rate() const override { return 16000; }
  void reset() override;

 private:
  g722_encode_state_t* g722_;
};

}  // namespace chorus::mixer
