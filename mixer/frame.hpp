#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace chorus::mixer {

// The mixer works in 20 ms ticks (STYLE.md §2: WebRTC's AudioFrame). A Frame
// holds one tick of PCM inline, so a participant reuses the same Frame every
// tick and nothing on the hot path allocates.
inline constexpr int kMaxRate = 48000;
inline constexpr int kTickMs = 20;
inline constexpr size_t kMaxSamples = 960 * 2;  // 20 ms @ 48 kHz, stereo

// Samples per channel in one tick at `rate` (160 @ 8 kHz, 320 @ 16 kHz, 960 @ 48 kHz).
constexpr size_t samples_per_tick(int rate) {
  return static_cast<size_t>(rate) * kTickMs / 1000;
}

struct Frame {
  int sample_rate = 8000;
  int channels = 1;
  size_t samples = 0;   // per channel
  bool silent = false;  // hint: all zero or comfort noise
  // Last: at 8 kHz a tick touches the header and the first 320 bytes only,
  // one page instead of the two a trailing field would add.
  std::array<int16_t, kMaxSamples> data{};  // interleaved if stereo

  // The valid samples (all channels, interleaved).
  std::span<int16_t> pcm() { return {data.data(), samples * static_cast<size_t>(channels)}; }
  std::span<const int16_t> pcm() const {
    return {data.data(), samples * static_cast<size_t>(channels)};
  }

  // One tick of digital silence at `rate`.
  void set_silence(int rate, int channel_count = 1) {
    sample_rate = rate;
    channels = channel_count;
    samples = samples_per_tick(rate);
    std::fill_n(data.begin(), samples * static_cast<size_t>(channels), int16_t{0});
    silent = true;
  }
};

}  // namespace chorus::mixer
