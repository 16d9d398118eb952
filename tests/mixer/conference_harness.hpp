#pragma once
// Drives a Conference with one tone per participant and records what every
// listener hears, so tests can ask "does A hear B?" with Goertzel energies.

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <numbers>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/conference.hpp"
#include "mixer/goertzel.hpp"

namespace chorus::mixer::testing {

inline CodecParams pcmu() {
  return default_params(CodecId::kPcmu);
}

inline ConferenceConfig config(size_t top_k, int ramp_ms = 8) {
  ConferenceConfig c;
  c.top_k = top_k;
  c.ramp_ms = ramp_ms;
  return c;
}

class ConferenceHarness {
 public:
  explicit ConferenceHarness(ConferenceConfig config = {}) : conference(std::move(config)) {}

  // A member who says a tone at `freq_hz` when speaking.
  void add(ParticipantId id, double freq_hz, const ParticipantSettings& settings = {},
           CodecParams codec = pcmu(), double amplitude = 6000.0) {
    ASSERT_TRUE(conference.add(id, codec, settings));
    members_[id] = Member{freq_hz, codec.sample_rate, amplitude, amplitude};
  }
  void remove(ParticipantId id) {
    ASSERT_TRUE(conference.remove(id));
    members_.erase(id);
    heard_.erase(id);
  }
  void set_speaking(ParticipantId id, bool speaking) { members_.at(id).speaking = speaking; }
  // The tone glides to the new amplitude over one tick (phase-continuous, so
  // the input itself has no click).
  void set_amplitude(ParticipantId id, double amplitude) { members_.at(id).target = amplitude; }
  double freq(ParticipantId id) const { return members_.at(id).freq; }

  // Runs `ticks` ticks; the output of the last `record` of them is kept.
  void run(int ticks, int record = 10) {
    for (auto& [id, pcm] : heard_) pcm.clear();
    for (int t = 0; t < ticks; ++t) step(t >= ticks - record);
  }

  void step(bool record = true) {
    for (auto& [id, m] : members_) {
      const size_t i = *conference.index_of(id);
      Frame& f = conference.input_slot(i);
      m.next_frame(f);
    }
    conference.tick(tick_++);
    if (!record) return;
    for (size_t i = 0; i < conference.size(); ++i) {
      const auto pcm = conference.output(i).pcm();
      auto& out = heard_[conference.id_at(i)];
      out.insert(out.end(), pcm.begin(), pcm.end());
    }
  }

  // Amplitude of `freq_hz` in what `listener` heard during the recorded ticks.
  double heard(ParticipantId listener, double freq_hz) const {
    const auto& pcm = heard_.at(listener);
    return goertzel_amplitude(pcm, freq_hz, conference.rate());
  }
  // Amplitude of speaker's tone in listener's output.
  double hears(ParticipantId listener, ParticipantId speaker) const {
    return heard(listener, members_.at(speaker).freq);
  }
  const std::vector<int16_t>& recorded(ParticipantId listener) const { return heard_.at(listener); }
  uint64_t ticks() const { return tick_; }

  Conference conference;

 private:
  struct Member {
    double freq;
    int rate;
    double amplitude;
    double target;
    bool speaking = true;
    double phase = 0.0;

    void next_frame(Frame& f) {
      f.sample_rate = rate;
      f.channels = 1;
      f.samples = samples_per_tick(rate);
      f.silent = !speaking;
      const double step = 2.0 * std::numbers::pi * freq / rate;
      const double glide = (target - amplitude) / static_cast<double>(f.samples);
      for (size_t i = 0; i < f.samples; ++i) {
        amplitude += glide;
        f.data[i] = speaking ? static_cast<int16_t>(std::lround(amplitude * std::sin(phase))) : 0;
        phase += step;
      }
      amplitude = target;
      phase = std::fmod(phase, 2.0 * std::numbers::pi);
    }
  };
  std::map<ParticipantId, Member> members_;
  std::map<ParticipantId, std::vector<int16_t>> heard_;
  uint64_t tick_ = 0;
};

// "Heard" and "not heard" thresholds relative to a tone of amplitude 6000.
inline constexpr double kHeard = 2000.0;
inline constexpr double kNotHeard = 150.0;

}  // namespace chorus::mixer::testing
