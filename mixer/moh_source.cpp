#include "mixer/moh_source.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include <sndfile.h>
#include <speex/speex_resampler.h>

#include "mixer/tune.hpp"

namespace chorus::mixer {
namespace {

// Reads a whole sound file as mono 16-bit PCM at its own rate.
std::vector<int16_t> read_mono(const std::string& path, int& rate) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (file == nullptr)
    throw std::runtime_error("MOH: cannot open " + path + ": " + sf_strerror(nullptr));
  struct Closer {
    SNDFILE* f;
    ~Closer() { sf_close(f); }
  } closer{file};
  if (info.channels < 1 || info.samplerate < 1 || info.frames < 1)
    throw std::runtime_error("MOH: " + path + " holds no audio");
  constexpr sf_count_t kMaxFrames = sf_count_t{48000} * 60 * 30;  // 30 minutes
  if (info.frames > kMaxFrames) throw std::runtime_error("MOH: " + path + " is too long");
  const auto channels = static_cast<size_t>(info.channels);
  std::vector<int16_t> interleaved(static_cast<size_t>(info.frames) * channels);
  const sf_count_t got = sf_readf_short(file, interleaved.data(), info.frames);
  if (got < 1) throw std::runtime_error("MOH: cannot read " + path);
  std::vector<int16_t> mono(static_cast<size_t>(got));
  for (size_t i = 0; i < mono.size(); ++i) {
    int sum = 0;
    for (size_t c = 0; c < channels; ++c) sum += interleaved[i * channels + c];
    mono[i] = static_cast<int16_t>(sum / static_cast<int>(channels));
  }
  rate = info.samplerate;
  return mono;
}

// Resamples a whole clip as the loop it is: the filter sees the clip's end
// before its start and its start after its end (circular padding), so the
// resampled loop joins as smoothly as the original; the filter delay is
// removed so the result starts where the source starts.
std::vector<int16_t> resample_loop(const std::vector<int16_t>& in, int from, int to) {
  if (from == to) return in;
  int err = RESAMPLER_ERR_SUCCESS;
  SpeexResamplerState* st = speex_resampler_init(1, static_cast<spx_uint32_t>(from),
                                                 static_cast<spx_uint32_t>(to), 8, &err);
  if (st == nullptr) throw std::runtime_error("MOH: cannot resample");
  const size_t pad = static_cast<size_t>(speex_resampler_get_input_latency(st)) * 2 + 64;
  std::vector<int16_t> padded;
  padded.reserve(in.size() + 2 * pad);
  for (size_t i = 0; i < pad; ++i)
    padded.push_back(in[(in.size() - pad % in.size() + i) % in.size()]);
  padded.insert(padded.end(), in.begin(), in.end());
  for (size_t i = 0; i < pad; ++i) padded.push_back(in[i % in.size()]);

  const auto scale = [&](size_t n) {
    return static_cast<size_t>(
        (static_cast<uint64_t>(n) * static_cast<uint64_t>(to) + static_cast<uint64_t>(from) / 2) /
        static_cast<uint64_t>(from));
  };
  const size_t want = scale(in.size());
  const size_t skip = scale(pad) + static_cast<size_t>(speex_resampler_get_output_latency(st));
  std::vector<int16_t> out(scale(padded.size()) + 64);
  spx_uint32_t in_len = static_cast<spx_uint32_t>(padded.size());
  spx_uint32_t out_len = static_cast<spx_uint32_t>(out.size());
  speex_resampler_process_int(st, 0, padded.data(), &in_len, out.data(), &out_len);
  speex_resampler_destroy(st);
  std::vector<int16_t> result(want, 0);
  for (size_t i = 0; i < want && skip + i < out_len; ++i) result[i] = out[skip + i];
  return result;
}

}  // namespace

MohClip::MohClip(int sample_rate, std::vector<int16_t> pcm)
    : sample_rate_(sample_rate), pcm_(std::move(pcm)) {
  if (sample_rate <= 0 || sample_rate > kMaxRate) throw std::invalid_argument("MOH: bad rate");
  if (pcm_.empty()) throw std::invalid_argument("MOH: empty clip");
}

std::shared_ptr<const MohClip> MohClip::tune(int sample_rate) {
  if (sample_rate <= 0 || sample_rate > kMaxRate) throw std::invalid_argument("MOH: bad rate");
  return std::make_shared<const MohClip>(sample_rate, render_tune(sample_rate));
}

std::shared_ptr<const MohClip> MohClip::prompt_tone(std::string_view name, int sample_rate) {
  if (sample_rate <= 0 || sample_rate > kMaxRate) throw std::invalid_argument("prompt: bad rate");
  // Notes (Hz) of each figure: C5 E5 G5 up for "first", G5 C5 down for
  // "muted", C5 G5 up for "unmuted".
  std::vector<double> notes;
  if (name == "first") {
    notes = {523.25, 659.25, 783.99};
  } else if (name == "muted") {
    notes = {783.99, 523.25};
  } else if (name == "unmuted") {
    notes = {523.25, 783.99};
  } else {
    throw std::invalid_argument("unknown prompt tone \"" + std::string(name) +
                                "\" (known: first, muted, unmuted)");
  }
  const auto rate = static_cast<size_t>(sample_rate);
  const size_t note = rate * 160 / 1000;
  const size_t gap = rate * 40 / 1000;
  const size_t edge = std::max<size_t>(1, rate * 5 / 1000);  // raised-cosine ends: no click
  constexpr double kAmplitude = 3277.0;                      // -20 dBFS
  std::vector<int16_t> pcm;
  pcm.reserve(notes.size() * (note + gap) + rate / 10);
  for (double f : notes) {
    const double step = 2.0 * std::numbers::pi * f / sample_rate;
    for (size_t i = 0; i < note; ++i) {
      const size_t from_edge = std::min(i, note - 1 - i);
      const double shape = from_edge >= edge ? 1.0
                                             : 0.5 - 0.5 * std::cos(std::numbers::pi *
                                                                    static_cast<double>(from_edge) /
                                                                    static_cast<double>(edge));
      pcm.push_back(static_cast<int16_t>(
          std::lround(kAmplitude * shape * std::sin(step * static_cast<double>(i)))));
    }
    pcm.insert(pcm.end(), gap, 0);
  }
  pcm.insert(pcm.end(), rate / 10, 0);  // a breath after the figure
  return std::make_shared<const MohClip>(sample_rate, std::move(pcm));
}

std::shared_ptr<const MohClip> MohClip::from_file(const std::string& path, int sample_rate) {
  if (sample_rate <= 0 || sample_rate > kMaxRate) throw std::invalid_argument("MOH: bad rate");
  int file_rate = 0;
  std::vector<int16_t> mono = read_mono(path, file_rate);
  return std::make_shared<const MohClip>(sample_rate, resample_loop(mono, file_rate, sample_rate));
}

void MohClip::read(uint64_t position, Frame& out) const {
  out.sample_rate = sample_rate_;
  out.channels = 1;
  out.samples = samples_per_tick(sample_rate_);
  out.silent = false;
  size_t at = static_cast<size_t>(position % pcm_.size());
  size_t done = 0;
  while (done < out.samples) {
    const size_t n = std::min(out.samples - done, pcm_.size() - at);
    std::copy_n(pcm_.begin() + static_cast<std::ptrdiff_t>(at), n,
                out.data.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
    at = 0;
  }
}

void MohSource::next_frame(Frame& out) {
  clip_->read(position_, out);
  position_ = (position_ + out.samples) % clip_->length();
}

void MohSource::next_frame(Frame& out, int rate) {
  assert(rate == clip_->sample_rate());
  (void)rate;
  next_frame(out);
}

void MohSource::frame_at(uint64_t tick, Frame& out) const {
  clip_->read(tick * samples_per_tick(clip_->sample_rate()), out);
}

std::shared_ptr<const MohClip> MohRegistry::clip(const std::string& file, int sample_rate) {
  const std::lock_guard lock(mutex_);
  auto key = std::make_pair(file, sample_rate);
  if (auto it = clips_.find(key); it != clips_.end()) return it->second;
  const std::string_view name(file);
  auto made = file.empty() ? MohClip::tune(sample_rate)
              : name.starts_with(kPromptTonePrefix)
                  ? MohClip::prompt_tone(name.substr(kPromptTonePrefix.size()), sample_rate)
                  : MohClip::from_file(file, sample_rate);
  clips_.emplace(std::move(key), made);
  return made;
}

std::shared_ptr<const MusicClips> MohRegistry::clips(const std::string& file, int extra_rate) {
  auto out = std::make_shared<MusicClips>();
  out->file = file;
  for (int rate : MusicClips::kRates) out->by_rate.emplace_back(rate, clip(file, rate));
  if (extra_rate > 0 && !out->at(extra_rate))
    out->by_rate.emplace_back(extra_rate, clip(file, extra_rate));
  return out;
}

size_t MohRegistry::size() const {
  const std::lock_guard lock(mutex_);
  return clips_.size();
}

MohRegistry& MohRegistry::global() {
  static MohRegistry registry;
  return registry;
}

}  // namespace chorus::mixer
