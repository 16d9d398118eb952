#pragma once
// Pre-encoded audio for the load generator. A talker's signal repeats every
// kCycleFrames: a tone of a frequency that is a multiple of 50 Hz (a whole
// number of periods per 20 ms frame, so every frame's PCM is the same), with
// a kGapFrames silent gap whose end is the onset used to measure
// mouth-to-ear delay. Encoding one cycle per frequency up front (the second
// cycle of a continuous run, so the loop joins the encoder's steady state)
// makes sending a memcpy: the generator's CPU goes on pacing, not codecs.

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "mixer/codec.hpp"

namespace chorus::load {

inline constexpr int kCycleFrames = 100;  // 2 s
inline constexpr int kGapFrames = 10;     // 200 ms of silence per cycle
inline constexpr double kToneAmplitude = 4000.0;

using Payload = std::vector<uint8_t>;

class ToneScripts {
 public:
  explicit ToneScripts(const mixer::CodecParams& params);

  // Encodes the cycle for `freq_hz` now (set-up time). Call it for every
  // talker's frequency before the first tick: a cycle encoded lazily by the
  // first tone_frame() (200 Opus frames, tens of ms) sends that tick's
  // packets late, and a jitter buffer placed on a late first packet keeps
  // the extra delay for seconds (it read as ~45 ms of Opus mouth-to-ear).
  void prepare(double freq_hz) { (void)cycle(freq_hz); }
  // Frame `i` (mod kCycleFrames) of the cycle for `freq_hz`; frames
  // [0, kGapFrames) are the gap, frame kGapFrames is the onset.
  std::span<const uint8_t> tone_frame(double freq_hz, int i);
  // What a quiet participant sends: encoded silence; with `dtx`, the Opus
  // DTX frame (1-2 bytes).
  std::span<const uint8_t> silence() const { return silence_; }
  std::span<const uint8_t> dtx() const { return dtx_; }

 private:
  const std::vector<Payload>& cycle(double freq_hz);

  mixer::CodecParams params_;
  std::map<int, std::vector<Payload>> cycles_;  // by frequency in Hz
  Payload silence_;
  Payload dtx_;
};

}  // namespace chorus::load
