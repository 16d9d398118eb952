#include "mixer/tune.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

namespace chorus::mixer {
namespace {

// Equal temperament, A4 = 440 Hz; `note` is a MIDI note number (60 = C4).
double note_hz(int note) {
  return 440.0 * std::pow(2.0, (note - 69) / 12.0);
}

// The loop: four bars of four seconds, Cmaj7 – Am7 – Fmaj7 – G6 (I–vi–IV–V),
// each a soft pad, a bass note and a slow arpeggio an octave or two above.
struct Chord {
  int bass;
  std::array<int, 4> pad;
};
constexpr std::array<Chord, 4> kChords{{
    {36, {48, 52, 55, 59}},  // Cmaj7: C2 | C3 E3 G3 B3
    {33, {48, 52, 55, 57}},  // Am7:   A1 | C3 E3 G3 A3
    {29, {48, 53, 57, 60}},  // Fmaj7: F1 | C3 F3 A3 C4 (with E in the arpeggio)
    {31, {47, 50, 55, 57}},  // G6:    G1 | B2 D3 G3 A3
}};
constexpr std::array<std::array<int, 8>, 4> kArpeggio{{
    {72, 76, 79, 83, 84, 83, 79, 76},
    {69, 72, 76, 79, 81, 79, 76, 72},
    {69, 72, 76, 77, 81, 77, 76, 72},
    {67, 71, 74, 79, 81, 79, 74, 71},
}};
constexpr double kBarSeconds = static_cast<double>(kTuneSeconds) / kChords.size();

// Adds a voice into the circular loop buffer: partials of a band-limited
// triangle (odd harmonics at 1/k², only those below 0.45 × the rate, so
// 8 kHz renders do not alias) shaped by `envelope(t)`. A sine recurrence per
// partial replaces a sin() call per sample.
template <class Envelope>
void add_voice(std::vector<float>& loop, int rate, double start_s, double length_s, double hz,
               double level, int max_harmonic, Envelope envelope) {
  struct Partial {
    double coeff, s1, s2, gain;
  };
  std::array<Partial, 8> partials{};
  size_t count = 0;
  for (int k = 1; k <= max_harmonic && count < partials.size(); k += 2) {
    const double f = hz * k;
    if (f >= 0.45 * rate) break;
    const double w = 2.0 * std::numbers::pi * f / rate;
    // s1, s2 are the two samples "before" t = 0, so the first output is sin(0).
    partials[count++] = {2.0 * std::cos(w), std::sin(-w), std::sin(-2.0 * w),
                         level / (k * k) * ((k / 2) % 2 == 0 ? 1.0 : -1.0)};
  }
  const size_t n = loop.size();
  size_t at = static_cast<size_t>(start_s * rate) % n;
  const size_t samples = static_cast<size_t>(length_s * rate);
  // Envelopes are smooth: evaluate them every kEnvBlock samples and
  // interpolate linearly in between.
  constexpr size_t kEnvBlock = 32;
  double env_from = envelope(0.0);
  double env_to = env_from;
  for (size_t i = 0; i < samples; ++i) {
    if (i % kEnvBlock == 0) {
      env_from = env_to;
      env_to = envelope(static_cast<double>(i + kEnvBlock) / rate);
    }
    const double env =
        env_from + (env_to - env_from) * static_cast<double>(i % kEnvBlock) / kEnvBlock;
    double v = 0.0;
    for (size_t p = 0; p < count; ++p) {
      Partial& q = partials[p];
      const double s0 = q.coeff * q.s1 - q.s2;
      q.s2 = q.s1;
      q.s1 = s0;
      v += q.gain * s0;
    }
    loop[at] += static_cast<float>(v * env);
    if (++at == n) at = 0;
  }
}

// Smooth attack/release pad envelope (raised-cosine edges).
double pad_envelope(double t, double attack, double hold, double release) {
  if (t < attack) return 0.5 - 0.5 * std::cos(std::numbers::pi * t / attack);
  if (t < attack + hold) return 1.0;
  const double r = t - attack - hold;
  return r >= release ? 0.0 : 0.5 + 0.5 * std::cos(std::numbers::pi * r / release);
}

}  // namespace

std::vector<int16_t> render_tune(int sample_rate) {
  std::vector<float> loop(static_cast<size_t>(kTuneSeconds) * static_cast<size_t>(sample_rate));
  for (size_t bar = 0; bar < kChords.size(); ++bar) {
    const Chord& chord = kChords[bar];
    const double bar_start = kBarSeconds * static_cast<double>(bar);
    // Pad: slow swell, held through the bar, released into the next one.
    constexpr double kAttack = 0.8, kRelease = 1.6;
    const double hold = kBarSeconds - kAttack;
    for (int note : chord.pad) {
      // Two slightly detuned copies make the pad gently beat, like a chorus.
      for (double detune : {0.9985, 1.0015}) {
        add_voice(loop, sample_rate, bar_start, kAttack + hold + kRelease, note_hz(note) * detune,
                  0.06, 3, [&](double t) { return pad_envelope(t, kAttack, hold, kRelease); });
      }
    }
    // Bass: a round sine under the chord.
    add_voice(loop, sample_rate, bar_start, kBarSeconds + 1.0, note_hz(chord.bass + 12), 0.16, 1,
              [&](double t) { return pad_envelope(t, 0.05, kBarSeconds - 0.6, 1.5); });
    // Arpeggio: soft bell-like plucks every half second.
    const auto& arp = kArpeggio[bar];
    for (size_t i = 0; i < arp.size(); ++i) {
      const double start = bar_start + kBarSeconds * static_cast<double>(i) / arp.size();
      add_voice(loop, sample_rate, start, 2.0, note_hz(arp[i]), 0.11, 5, [](double t) {
        const double attack = std::min(1.0, t / 0.012);
        const double tail = t > 1.8 ? (2.0 - t) / 0.2 : 1.0;  // no click at the cut
        return attack * std::exp(-t / 0.45) * tail;
      });
    }
  }
  // Peak at -6 dBFS: loud enough to be heard, headroom for any mixing.
  float peak = 0.0f;
  for (float v : loop) peak = std::max(peak, std::abs(v));
  const float scale = peak > 0.0f ? 16384.0f / peak : 0.0f;
  std::vector<int16_t> pcm(loop.size());
  std::transform(loop.begin(), loop.end(), pcm.begin(),
                 [scale](float v) { return static_cast<int16_t>(std::lround(v * scale)); });
  return pcm;
}

}  // namespace chorus::mixer
