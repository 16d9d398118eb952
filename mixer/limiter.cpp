#include "mixer/limiter.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace chorus::mixer {

namespace {

// The common case in one pass: saturate every sample to int16 and watch the
// peak of the saturated values. Saturation keeps order against a threshold
// below 32767, so "no saturated sample beyond ±kThreshold" is exactly "no
// sample needs limiting". False when one does (`out` is then rewritten).
bool convert_if_unlimited(std::span<const int32_t> mix, std::span<int16_t> out) {
  const size_t n = mix.size();
  size_t i = 0;
  int16_t hi = 0;
  int16_t lo = 0;
#if defined(__SSE2__)
  // packssdw saturates and pmaxsw/pminsw compare 16-bit lanes in one
  // instruction each; baseline x86-64 (SSE2) lacks 32-bit max/min, which the
  // compiler otherwise emulates with compare-and-blend.
  __m128i vhi = _mm_setzero_si128();
  __m128i vlo = _mm_setzero_si128();
  for (; i + 8 <= n; i += 8) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(mix.data() + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(mix.data() + i + 4));
    const __m128i packed = _mm_packs_epi32(a, b);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out.data() + i), packed);
    vhi = _mm_max_epi16(vhi, packed);
    vlo = _mm_min_epi16(vlo, packed);
  }
  alignas(16) std::array<int16_t, 8> lanes_hi{};
  alignas(16) std::array<int16_t, 8> lanes_lo{};
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes_hi.data()), vhi);
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes_lo.data()), vlo);
  for (size_t l = 0; l < 8; ++l) {
    hi = std::max(hi, lanes_hi[l]);
    lo = std::min(lo, lanes_lo[l]);
  }
#endif
  for (; i < n; ++i) {
    out[i] = saturate16(mix[i]);
    hi = std::max(hi, out[i]);
    lo = std::min(lo, out[i]);
  }
  constexpr auto kLimit = static_cast<int16_t>(Limiter::kThreshold);
  static_assert(static_cast<float>(kLimit) == Limiter::kThreshold);
  return hi <= kLimit && lo >= -kLimit;
}

}  // namespace

Limiter::Limiter(float release_ms) {
  // One 20 ms tick is kSubBlocks sub-blocks.
  const float block_ms = 20.0F / static_cast<float>(kSubBlocks);
  release_per_block_ = 1.0F - std::exp(-block_ms / std::max(release_ms, 1.0F));
}

float Limiter::process(std::span<const int32_t> mix, std::span<int16_t> out, float pre_gain) {
  assert(out.size() >= mix.size());
  const size_t n = mix.size();
  if (n == 0) return gain_;

  if (pre_gain == 1.0F && gain_ >= 0.9999F && convert_if_unlimited(mix, out)) {
    gain_ = 1.0F;
    return gain_;
  }

  // One scan of the whole frame first: most frames need no limiting, and a
  // single long max/min loop vectorises where eight short ones do not.
  const auto frame_peak = [&](size_t begin, size_t end) {
    // Max and min separately (vectorises); |INT32_MIN| is taken in 64 bits.
    int32_t hi = 0;
    int32_t lo = 0;
    for (size_t i = begin; i < end; ++i) {
      hi = std::max(hi, mix[i]);
      lo = std::min(lo, mix[i]);
    }
    return static_cast<float>(std::max<int64_t>(hi, -static_cast<int64_t>(lo))) * pre_gain;
  };
  if (frame_peak(0, n) <= kThreshold && gain_ >= 0.9999F) {
    // Fast path: nothing to limit and no release in progress.
    gain_ = 1.0F;
    if (pre_gain == 1.0F) {
      for (size_t i = 0; i < n; ++i) out[i] = saturate16(mix[i]);
    } else {
      for (size_t i = 0; i < n; ++i) {
        const float v = static_cast<float>(mix[i]) * pre_gain;
        out[i] = saturate16(static_cast<int32_t>(v + (v >= 0.0F ? 0.5F : -0.5F)));
      }
    }
    return gain_;
  }

  // Gain each sub-block needs so that its peak stays at or below kThreshold.
  std::array<float, kSubBlocks> need{};
  std::array<size_t, kSubBlocks + 1> edge{};
  for (int b = 0; b <= kSubBlocks; ++b) edge[b] = n * static_cast<size_t>(b) / kSubBlocks;
  for (int b = 0; b < kSubBlocks; ++b) {
    const float scaled = frame_peak(edge[b], edge[b + 1]);
    need[b] = scaled > kThreshold ? kThreshold / scaled : 1.0F;
  }

  // Gain at each sub-block boundary: release towards unity from the left, but
  // never above what either neighbouring sub-block allows.
  std::array<float, kSubBlocks + 1> g{};
  g[0] = std::min(gain_, need[0]);
  for (int b = 1; b <= kSubBlocks; ++b) {
    const float released = g[b - 1] + (1.0F - g[b - 1]) * release_per_block_;
    float limit = need[b - 1];
    if (b < kSubBlocks) limit = std::min(limit, need[b]);
    g[b] = std::min(released, limit);
  }
  // Segment b runs from g[b] to g[b+1]; both ends are <= need[b] by
  // construction, and a linear segment never exceeds its larger end.

  for (int b = 0; b < kSubBlocks; ++b) {
    const size_t begin = edge[b];
    const size_t len = edge[b + 1] - begin;
    if (len == 0) continue;
    const float step = (g[b + 1] - g[b]) * pre_gain / static_cast<float>(len);
    float gain = g[b] * pre_gain;
    for (size_t i = 0; i < len; ++i) {
      const float v = static_cast<float>(mix[begin + i]) * gain;
      out[begin + i] = saturate16(static_cast<int32_t>(v + (v >= 0.0F ? 0.5F : -0.5F)));
      gain += step;
    }
  }
  gain_ = g[kSubBlocks];
  return gain_;
}

}  // namespace chorus::mixer
