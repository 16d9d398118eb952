#include "mixer/level.hpp"

#include <algorithm>
#include <cmath>

namespace chorus::mixer {
namespace {

constexpr float kFloorRisePerFrame = 1.0f * kTickMs / 1000;  // 1 dB per second

}  // namespace

int rms_dbov(std::span<const int16_t> pcm) {
  if (pcm.empty()) return -127;
  int64_t sum = 0;
  for (int16_t v : pcm) sum += static_cast<int64_t>(v) * v;
  const double mean = static_cast<double>(sum) / static_cast<double>(pcm.size());
  if (mean <= 0.0) return -127;
  // 0 dBov: the RMS of a full-scale square wave, 32768 (RFC 6464 §3, ITU-T G.100.1).
  const double db = 10.0 * std::log10(mean / (32768.0 * 32768.0));
  return static_cast<int>(std::clamp(std::lround(db), -127L, 0L));
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
