#include "mixer/g711_codec.hpp"

#include <algorithm>
#include <array>
#include <iterator>

namespace chorus::mixer {
namespace {

// SpanDSP's per-sample conversions, tabulated once: a table lookup per sample
// instead of SpanDSP's arithmetic and its per-call dispatch on the law (the
// G.711 conversion was the mixer tick's largest single user-space cost at
// 400 G.711 members). SpanDSP stays the definition: every entry comes from
// its ulaw_to_linear / linear_to_ulaw (and A-law) functions, and the tests
// compare all 2^16 inputs against them.
//
// Encoding needs no table of all 2^16 samples: SpanDSP's u-law code of a
// sample is that of its magnitude with the sign bit cleared for negatives, and
// depends only on the magnitude's top 14 bits (its bias, 132, is a multiple
// of 4); A-law codes ~x for negative x and depends on the top 12 bits. So the
// tables are 8 KiB and 2 KiB and stay in the L1 cache during a tick.
struct G711Tables {
  std::array<int16_t, 256> ulaw_to_linear{};
  std::array<int16_t, 256> alaw_to_linear{};
  std::array<uint8_t, 8193> ulaw_of_magnitude{};  // |x| >> 2, x >= -32768
  std::array<uint8_t, 2048> alaw_of_magnitude{};  // (x < 0 ? ~x : x) >> 4

  G711Tables() {
    for (int code = 0; code < 256; ++code) {
      ulaw_to_linear[code] = ::ulaw_to_linear(static_cast<uint8_t>(code));
      alaw_to_linear[code] = ::alaw_to_linear(static_cast<uint8_t>(code));
    }
    for (int m = 0; m < 8192; ++m) ulaw_of_magnitude[m] = ::linear_to_ulaw(m << 2);
    ulaw_of_magnitude[8192] = ::linear_to_ulaw(32768);  // -(-32768): in range of int
    for (int m = 0; m < 2048; ++m) alaw_of_magnitude[m] = ::linear_to_alaw(m << 4);
  }
};

const G711Tables& tables() {
  static const G711Tables t;
  return t;
}

}  // namespace

void g711_decode_samples(bool alaw, std::span<const uint8_t> in, int16_t* out) {
  const auto& table = alaw ? tables().alaw_to_linear : tables().ulaw_to_linear;
  for (size_t i = 0; i < in.size(); ++i) out[i] = table[in[i]];
}

void g711_encode_samples(bool alaw, std::span<const int16_t> in, uint8_t* out) {
  const G711Tables& t = tables();
  if (alaw) {
    for (size_t i = 0; i < in.size(); ++i) {
      const int x = in[i];
      const int negative = x >> 31;        // 0 or -1
      const int magnitude = x ^ negative;  // ~x for negatives
      out[i] = static_cast<uint8_t>(t.alaw_of_magnitude[magnitude >> 4] ^ (negative & 0x80));
    }
  } else {
    for (size_t i = 0; i < in.size(); ++i) {
      const int x = in[i];
      const int negative = x >> 31;
      const int magnitude = (x ^ negative) - negative;  // |x|, up to 32768
      out[i] = static_cast<uint8_t>(t.ulaw_of_magnitude[magnitude >> 2] ^ (negative & 0x80));
    }
  }
}

G711Decoder::G711Decoder(bool alaw) : alaw_(alaw) {
  tables();  // built here, not on the first packet
  plc_init(&plc_);
}

G711Decoder::~G711Decoder() = default;

bool G711Decoder::decode(std::span<const uint8_t> payload, Frame& out) {
  out.sample_rate = 8000;
  out.channels = 1;
  out.silent = false;
  if (payload.empty() || payload.size() > kMaxSamples) {
    out.set_silence(8000);
    return false;
  }
  const int n = static_cast<int>(payload.size());
  g711_decode_samples(alaw_, payload, out.data.data());
  out.samples = payload.size();
  // Feed the PLC's history so a later loss repeats this audio.
  plc_rx(&plc_, out.data.data(), n);
  return true;
}

void G711Decoder::conceal(Frame& out) {
  out.sample_rate = 8000;
  out.channels = 1;
  out.samples = samples_per_tick(8000);
  out.silent = false;
  if (plc_.missing_samples == 0 && plc_.buf_ptr != 0) {
    // SpanDSP 0.0.6 starts a loss by rotating its history ring with an
    // overlapping memcpy (undefined behaviour, and fatal under ASan). Rotate
    // it here first, so plc_fillin finds it already in order (buf_ptr 0).
    std::rotate(std::begin(plc_.history), std::begin(plc_.history) + plc_.buf_ptr,
                std::end(plc_.history));
    plc_.buf_ptr = 0;
  }
  plc_fillin(&plc_, out.data.data(), static_cast<int>(out.samples));
}

G711Encoder::G711Encoder(bool alaw) : alaw_(alaw) {
  tables();
}

G711Encoder::~G711Encoder() = default;

size_t G711Encoder::encode(const Frame& in, std::span<uint8_t> out) {
  if (in.sample_rate != 8000 || in.channels != 1 || in.samples > out.size()) return 0;
  g711_encode_samples(alaw_, std::span(in.data.data(), in.samples), out.data());
  return in.samples;
}

}  // namespace chorus::mixer
