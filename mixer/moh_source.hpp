#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mixer/frame.hpp"

namespace chorus::mixer {

// One loop of music on hold rendered at one rate: immutable once built, so
// every listener on every shard can share it without locks.
// Built-in prompt tones, named "tone:<name>" wherever a sound file may be
// given (MohRegistry): "first" (you are the first participant: three
// rising notes), "muted" (two falling notes), "unmuted" (two rising notes).
inline constexpr std::string_view kPromptTonePrefix = "tone:";

class MohClip {
 public:
  MohClip(int sample_rate, std::vector<int16_t> pcm);

  // The built-in tune (mixer/tune.hpp), synthesised at `sample_rate`.
  static std::shared_ptr<const MohClip> tune(int sample_rate);
  // A prompt tone of our own making, by name (kPromptTones): a short figure
  // of sine notes, played once. Throws std::invalid_argument for another name.
  static std::shared_ptr<const MohClip> prompt_tone(std::string_view name, int sample_rate);
  // A WAV (or any libsndfile format) file, mixed to mono and resampled to
  // `sample_rate`. Throws std::runtime_error when the file cannot be read.
  static std::shared_ptr<const MohClip> from_file(const std::string& path, int sample_rate);

  // Copies one 20 ms frame starting at loop position `position` (wrapping).
  void read(uint64_t position, Frame& out) const;
  int sample_rate() const { return sample_rate_; }
  size_t length() const { return pcm_.size(); }
  std::span<const int16_t> pcm() const { return pcm_; }

 private:
  int sample_rate_;
  std::vector<int16_t> pcm_;
};

// A playhead over a shared clip. The mixer keeps one per (conference, MOH
// file, rate), calls next_frame() once per tick and encodes that frame once
// for every listener on hold (ARCHITECTURE.md: "encoded once").
class MohSource {
 public:
  explicit MohSource(std::shared_ptr<const MohClip> clip) : clip_(std::move(clip)) {}
  // Another clip (the same music at a new rate), from its start.
  void set_clip(std::shared_ptr<const MohClip> clip) {
    clip_ = std::move(clip);
    position_ = 0;
  }

  // The next 20 ms of the loop. Never allocates.
  void next_frame(Frame& out);
  // Contract form: `rate` must equal sample_rate() (sources are per rate).
  void next_frame(Frame& out, int rate);
  // The frame for absolute tick `tick` (stateless: equal ticks, equal frames).
  void frame_at(uint64_t tick, Frame& out) const;

  int sample_rate() const { return clip_->sample_rate(); }
  const std::shared_ptr<const MohClip>& clip() const { return clip_; }

 private:
  std::shared_ptr<const MohClip> clip_;
  uint64_t position_ = 0;
};

// One conference's music resolved off the shard thread: the file and its
// clip at every rate the conference may run at (Engine resolves it on the
// signalling thread and hands it over in the command), so a conference that
// changes rate on its shard finds its clip here instead of asking the
// registry (a mutex, maybe a WAV decode) on the tick.
struct MusicClips {
  // Conference rates the engine resolves every music for.
  static constexpr int kRates[] = {8000, 12000, 16000, 24000, 48000};
  std::string file;  // "" = the built-in tune
  std::vector<std::pair<int, std::shared_ptr<const MohClip>>> by_rate;
  // nullptr when `rate` was not resolved.
  std::shared_ptr<const MohClip> at(int rate) const {
    for (const auto& [r, clip] : by_rate)
      if (r == rate) return clip;
    return nullptr;
  }
};

// Decoded clips keyed by (file, rate): a file is read and resampled once
// however many listeners play it, and kept for the life of the registry. An
// empty file name means the built-in tune.
// Thread-safe (set-up path; the mutex is never taken on the tick).
class MohRegistry {
 public:
  // Rendering or decoding takes tens of milliseconds: call this on the
  // signalling thread (or preload()), never from a shard's tick.
  std::shared_ptr<const MohClip> clip(const std::string& file, int sample_rate);
  // Renders/decodes `file` at each rate now (e.g. the built-in tune at 8, 16
  // and 48 kHz at start-up), so later clip() calls are map look-ups.
  void preload(const std::string& file, std::initializer_list<int> rates) {
    for (int rate : rates) (void)clip(file, rate);
  }
  // `file` at every MusicClips::kRates rate (and `extra_rate` when not 0).
  // Throws std::runtime_error when the file cannot be read.
  std::shared_ptr<const MusicClips> clips(const std::string& file, int extra_rate = 0);
  // A fresh playhead over the shared clip.
  MohSource source(const std::string& file, int sample_rate) {
    return MohSource(clip(file, sample_rate));
  }
  size_t size() const;

  // The process-wide registry.
  static MohRegistry& global();

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::shared_ptr<const MohClip>> clips_;
};

}  // namespace chorus::mixer
