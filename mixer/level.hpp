#pragma once

#include <cstdint>
#include <span>

#include "mixer/frame.hpp"

namespace chorus::mixer {

// RMS level of `pcm` in dBov, clamped to -127..0 (RFC 6464 §3: decibels
// relative to the overload point; 0 dBov is a full-scale square wave).
int rms_dbov(std::span<const int16_t> pcm);

// The sum of the samples' squares, exact (eight at a time with SSE2).
uint64_t sum_of_squares(std::span<const int16_t> pcm);

struct TalkerConfig {
  int threshold_dbov = -42;  // a frame louder than this (and than the floor) is speech
  int noise_margin_db = 12;  // ... and this far above the tracked noise floor
  int attack_frames = 2;     // consecutive speech frames before talking (40 ms)
  int hangover_frames = 25;  // quiet frames before not talking (500 ms)
};

// Talker detection for one participant: the level of each 20 ms frame with
// an attack and a hangover, so a speaker does not flap on and off between
// syllables. When the client sends RFC 6464 client-to-mixer audio levels the
// caller may feed those instead and skip decoding frames it says are silent.
class TalkerDetector {
 public:
  explicit TalkerDetector(TalkerConfig config = {});

  // Measures a decoded frame; returns talking() afterwards.
  bool update(const Frame& f);
  // RFC 6464 §3: `level_dbov` is the header extension's 0..127 (-dBov; 127 is
  // silence), `voice` its V bit (speech only above the threshold too). When
  // the session negotiated `vad=off` the V bit means nothing (RFC 6464 §4):
  // pass voice = true.
  // Returns talking() afterwards.
  bool update_from_rfc6464(uint8_t level_dbov, bool voice);

  bool talking() const { return talking_; }
  // Whether the last update flipped talking() (the mixer emits talker-changed).
  bool changed() const { return changed_; }
  // Smoothed level of recent frames in dBov, -127 (silence) .. 0.
  int level_dbov() const { return level_dbov_; }
  // Sort key for choosing the loudest talkers: larger is louder; anyone
  // talking outranks anyone who is not.
  int energy_rank_key() const { return (talking_ ? 1000 : 0) + 128 + level_dbov_; }
  void reset();

 private:
  bool apply(int frame_dbov, bool speech_hint);

  TalkerConfig config_;
  bool talking_ = false;
  bool changed_ = false;
  int level_dbov_ = -127;
  static constexpr float kInitialFloor = -70.0f;  // a quiet room
  float noise_floor_dbov_ = kInitialFloor;
  int speech_run_ = 0;
  int quiet_run_ = 0;
};

// Whether an RFC 6464 level says the frame carries nothing worth decoding
// (the mixer may then skip the decoder for a participant who is not talking).
bool rfc6464_is_silent(uint8_t level_dbov, bool voice, const TalkerConfig& config = {});

}  // namespace chorus::mixer
