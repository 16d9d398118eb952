#include "mixer/level.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace chorus::mixer {
namespace {

constexpr float kFloorRisePerFrame = 1.0f * kTickMs / 1000;  // 1 dB per second

// kLevelEdges[j]: the mean square at which the rounded level goes from -j
// to -(j+1) dBov, i.e. 32768² · 10^(-(j + 0.5) / 10). Comparing against the
// table gives exactly lround(10·log10(mean / 32768²)) without a logarithm per
// frame (one per participant per tick showed in the mix profile).
const std::array<double, 127> kLevelEdges = [] {
  std::array<double, 127> edges{};
  for (size_t j = 0; j < edges.size(); ++j) {
    edges[j] = 32768.0 * 32768.0 * std::pow(10.0, -(static_cast<double>(j) + 0.5) / 10.0);
  }
  return edges;
}();

}  // namespace

uint64_t sum_of_squares(std::span<const int16_t> pcm) {
  uint64_t sum = 0;
  size_t i = 0;
#if defined(__SSE2__)
  // pmaddwd squares eight samples and adds them in pairs; a pair sum is at
  // most 2·32768² = 2³¹, exact as an unsigned 32-bit lane, which is then
  // widened into 64-bit accumulators.
  const __m128i zero = _mm_setzero_si128();
  __m128i acc = zero;
  for (; i + 8 <= pcm.size(); i += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pcm.data() + i));
    const __m128i pairs = _mm_madd_epi16(v, v);
    acc = _mm_add_epi64(acc, _mm_unpacklo_epi32(pairs, zero));
    acc = _mm_add_epi64(acc, _mm_unpackhi_epi32(pairs, zero));
  }
  alignas(16) std::array<uint64_t, 2> lanes{};
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes.data()), acc);
  sum = lanes[0] + lanes[1];
#endif
  for (; i < pcm.size(); ++i) {
    const int32_t x = pcm[i];
    sum += static_cast<uint32_t>(x * x);  // a square fits 31 bits
  }
  return sum;
}

int rms_dbov(std::span<const int16_t> pcm) {
  if (pcm.empty()) return -127;
  const uint64_t sum = sum_of_squares(pcm);
  const double mean = static_cast<double>(sum) / static_cast<double>(pcm.size());
  // 0 dBov: the RMS of a full-scale square wave, 32768 (RFC 6464 §3, ITU-T
  // G.100.1). The edges fall, so "mean is below the edge" holds for a prefix.
  const auto below = std::partition_point(kLevelEdges.begin(), kLevelEdges.end(),
                                          [mean](double edge) { return mean < edge; });
  return -static_cast<int>(below - kLevelEdges.begin());
}

TalkerDetector::TalkerDetector(TalkerConfig config) : config_(config) {}

void TalkerDetector::reset() {
  talking_ = false;
  changed_ = false;
  level_dbov_ = -127;
  noise_floor_dbov_ = kInitialFloor;
  speech_run_ = 0;
  quiet_run_ = 0;
}

bool TalkerDetector::update(const Frame& f) {
  if (f.silent) return apply(-127, false);
  return apply(rms_dbov(f.pcm()), true);
}

bool TalkerDetector::update_from_rfc6464(uint8_t level_dbov, bool voice) {
  const int level = -static_cast<int>(std::min<uint8_t>(level_dbov, 127));
  return apply(level, voice);
}

bool TalkerDetector::apply(int frame_dbov, bool speech_hint) {
  // Smoothed level for ranking: fast attack, slow release (about 100 ms).
  level_dbov_ = frame_dbov > level_dbov_ ? frame_dbov : (level_dbov_ * 4 + frame_dbov) / 5;

  // The noise floor drops at once to a quieter frame and creeps up by
  // 1 dB/s otherwise: steady background noise stops counting as speech after
  // a while, and the pauses in real speech keep pulling the floor back down.
  if (frame_dbov < noise_floor_dbov_) {
    noise_floor_dbov_ = static_cast<float>(frame_dbov);
  } else {
    noise_floor_dbov_ += kFloorRisePerFrame;
  }

  const bool speech = speech_hint && frame_dbov > config_.threshold_dbov &&
                      frame_dbov >= noise_floor_dbov_ + static_cast<float>(config_.noise_margin_db);
  const bool was = talking_;
  if (speech) {
    ++speech_run_;
    quiet_run_ = 0;
    if (speech_run_ >= config_.attack_frames) talking_ = true;
  } else {
    speech_run_ = 0;
    if (talking_ && ++quiet_run_ > config_.hangover_frames) {
      talking_ = false;
      quiet_run_ = 0;
    }
  }
  changed_ = talking_ != was;
  return talking_;
}

bool rfc6464_is_silent(uint8_t level_dbov, bool voice, const TalkerConfig& config) {
  return !voice && -static_cast<int>(std::min<uint8_t>(level_dbov, 127)) <= config.threshold_dbov;
}

}  // namespace chorus::mixer
