#include "mixer/g711_codec.hpp"

#include <algorithm>
#include <array>
#include <iterator>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

namespace {

#if defined(__SSE2__)
// Eight samples at a time, by arithmetic that gives exactly the tables'
// codes (the tests compare every sample). A G.711 code is a segment (the
// position of the top bit) and the four bits below it, which is what a
// float's exponent and first mantissa bits hold: converting the biased
// magnitude to float (exact below 2^24) and shifting its bits right by 19
// leaves (exponent + 127) << 4 | the four bits.

// u-law: the code of 33 + (|x| >> 2) (SpanDSP's bias 132, scaled like the
// table), segment = top bit - 5; at or past segment 8 it saturates to 0x7F.
__m128i ulaw_codes(__m128i magnitude_words) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i biased = _mm_add_epi16(_mm_srli_epi16(magnitude_words, 2), _mm_set1_epi16(33));
  const auto code = [&](__m128i words32) {
    const __m128i bits = _mm_castps_si128(_mm_cvtepi32_ps(words32));
    return _mm_sub_epi32(_mm_srli_epi32(bits, 19), _mm_set1_epi32((127 + 5) << 4));
  };
  const __m128i lo = code(_mm_unpacklo_epi16(biased, zero));
  const __m128i hi = code(_mm_unpackhi_epi16(biased, zero));
  return _mm_min_epi16(_mm_packs_epi32(lo, hi), _mm_set1_epi16(0x7F));
}

// A-law: below 256 the code is the magnitude >> 4 (segment 0); above, the
// segment is top bit - 7. The magnitude is ~x for negatives, at most 32767,
// so it never saturates.
__m128i alaw_codes(__m128i magnitude_words) {
  const __m128i zero = _mm_setzero_si128();
  const auto code = [&](__m128i words32) {
    const __m128i bits = _mm_castps_si128(_mm_cvtepi32_ps(words32));
    return _mm_sub_epi32(_mm_srli_epi32(bits, 19), _mm_set1_epi32((127 + 7) << 4));
  };
  const __m128i lo = code(_mm_unpacklo_epi16(magnitude_words, zero));
  const __m128i hi = code(_mm_unpackhi_epi16(magnitude_words, zero));
  const __m128i segmented = _mm_packs_epi32(lo, hi);
  const __m128i small = _mm_cmplt_epi16(magnitude_words, _mm_set1_epi16(256));
  return _mm_or_si128(_mm_and_si128(small, _mm_srli_epi16(magnitude_words, 4)),
                      _mm_andnot_si128(small, segmented));
}
#endif

}  // namespace

void g711_encode_samples(bool alaw, std::span<const int16_t> in, uint8_t* out) {
  size_t i = 0;
#if defined(__SSE2__)
  // The code of a positive sample is its segment code XOR 0xFF (u-law) or
  // 0xD5 (A-law); a negative one has the sign bit, 0x80, flipped as well.
  const __m128i positive_mask = _mm_set1_epi16(alaw ? 0xD5 : 0xFF);
  const __m128i sign_bit = _mm_set1_epi16(0x80);
  for (; i + 16 <= in.size(); i += 16) {
    __m128i words[2];
    for (size_t h = 0; h < 2; ++h) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.data() + i + 8 * h));
      const __m128i negative = _mm_srai_epi16(x, 15);      // 0 or -1
      const __m128i flipped = _mm_xor_si128(x, negative);  // ~x for negatives
      // u-law takes |x| (-32768 gives 0x8000, read unsigned); A-law ~x.
      const __m128i codes =
          alaw ? alaw_codes(flipped) : ulaw_codes(_mm_sub_epi16(flipped, negative));
      words[h] =
          _mm_xor_si128(_mm_xor_si128(codes, positive_mask), _mm_and_si128(negative, sign_bit));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(words[0], words[1]));
  }
#endif
  const G711Tables& t = tables();
  if (alaw) {
    for (; i < in.size(); ++i) {
      const int x = in[i];
      const int negative = x >> 31;        // 0 or -1
      const int magnitude = x ^ negative;  // ~x for negatives
      out[i] = static_cast<uint8_t>(t.alaw_of_magnitude[magnitude >> 4] ^ (negative & 0x80));
    }
  } else {
    for (; i < in.size(); ++i) {
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
