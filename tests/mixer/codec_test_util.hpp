#pragma once
// Signal helpers shared by the codec, resampler and MOH tests: run a signal
// through a codec, line it up with the original (codecs delay audio), and
// measure SNR; render speech with espeak-ng when it is installed.

#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/frame.hpp"
#include "mixer/tone.hpp"

namespace chorus::mixer::testing {

// `seconds` of a tone mix at `rate`.
inline std::vector<int16_t> tone_signal(int rate, std::initializer_list<double> freqs,
                                        double amplitude, double seconds) {
  ToneGenerator gen(rate, freqs, amplitude);
  std::vector<int16_t> pcm(static_cast<size_t>(seconds * rate));
  gen.fill(pcm);
  return pcm;
}

// Encodes then decodes `in` 20 ms at a time (incomplete last frame dropped).
inline std::vector<int16_t> round_trip(const CodecParams& params, std::span<const int16_t> in) {
  auto enc = make_encoder(params);
  auto dec = make_decoder(params);
  const size_t n = samples_per_tick(params.sample_rate);
  std::vector<int16_t> out;
  Frame frame;
  Frame decoded;
  std::array<uint8_t, kMaxPayloadBytes> payload{};
  for (size_t at = 0; at + n <= in.size(); at += n) {
    frame.sample_rate = params.sample_rate;
    frame.channels = 1;
    frame.samples = n;
    std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(at), n, frame.data.begin());
    const size_t bytes = enc->encode(frame, payload);
    EXPECT_GT(bytes, 0u);
    EXPECT_TRUE(dec->decode(std::span(payload.data(), bytes), decoded));
    EXPECT_EQ(decoded.sample_rate, params.sample_rate);
    out.insert(out.end(), decoded.pcm().begin(), decoded.pcm().end());
  }
  return out;
}

// The delay (0..max_delay samples) at which `out` best matches `ref`.
inline size_t best_delay(std::span<const int16_t> ref, std::span<const int16_t> out,
                         size_t max_delay, size_t skip) {
  double best = -1e300;
  size_t best_d = 0;
  for (size_t d = 0; d <= max_delay; ++d) {
    double c = 0.0;
    for (size_t i = skip; i + d < out.size() && i < ref.size(); ++i)
      c += static_cast<double>(ref[i]) * out[i + d];
    if (c > best) {
      best = c;
      best_d = d;
    }
  }
  return best_d;
}

// SNR in dB of `out` against `ref`, after aligning by the codec's delay and
// skipping the first `skip` samples (codec start-up).
inline double aligned_snr_db(std::span<const int16_t> ref, std::span<const int16_t> out,
                             size_t max_delay, size_t skip) {
  const size_t d = best_delay(ref, out, max_delay, skip);
  double sig = 0.0, err = 0.0;
  for (size_t i = skip; i + d < out.size() && i < ref.size(); ++i) {
    const double r = ref[i];
    const double e = r - out[i + d];
    sig += r * r;
    err += e * e;
  }
  return 10.0 * std::log10(sig / std::max(err, 1.0));
}

inline std::vector<int16_t> read_wav(const std::string& path, int* rate = nullptr) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (f == nullptr) return {};
  std::vector<int16_t> pcm(static_cast<size_t>(info.frames * info.channels));
  sf_readf_short(f, pcm.data(), info.frames);
  sf_close(f);
  if (rate != nullptr) *rate = info.samplerate;
  return pcm;
}

inline void write_wav(const std::string& path, int rate, int channels,
                      std::span<const int16_t> pcm) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  sf_writef_short(f, pcm.data(), static_cast<sf_count_t>(pcm.size() / channels));
  sf_close(f);
}

// A spoken sentence at `rate` (espeak-ng, resampled by sox), or nothing when
// either tool is missing.
inline std::optional<std::vector<int16_t>> speech(int rate) {
  if (std::system("command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1") != 0)
    return std::nullopt;
  const auto dir = std::filesystem::temp_directory_path();
  const std::string raw = (dir / ("chorus_speech_" + std::to_string(::getpid()) + ".wav")).string();
  const std::string out =
      (dir / ("chorus_speech_" + std::to_string(::getpid()) + "_" + std::to_string(rate) + ".wav"))
          .string();
  const std::string cmd = "espeak-ng -w " + raw +
                          " \"The quick brown fox jumps over the lazy dog, twice.\" && sox " + raw +
                          " -r " + std::to_string(rate) + " -c 1 -b 16 " + out + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return std::nullopt;
  auto pcm = read_wav(out);
  std::filesystem::remove(raw);
  std::filesystem::remove(out);
  if (pcm.empty()) return std::nullopt;
  return pcm;
}

}  // namespace chorus::mixer::testing
