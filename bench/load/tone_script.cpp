#include "bench/load/tone_script.hpp"

#include <cmath>
#include <numbers>

#include "mixer/frame.hpp"

namespace chorus::load {
namespace {

Payload encode(mixer::Encoder& encoder, const mixer::Frame& frame) {
  Payload out(mixer::kMaxPayloadBytes);
  out.resize(encoder.encode(frame, out));
  return out;
}

}  // namespace

ToneScripts::ToneScripts(const mixer::CodecParams& params) : params_(params) {
  mixer::Frame quiet;
  quiet.set_silence(params_.sample_rate);
  auto encoder = mixer::make_encoder(params_);
  // A few frames first: ADPCM (G.722) and Opus settle on silence.
  for (int i = 0; i < 10; ++i) silence_ = encode(*encoder, quiet);
  if (params_.id == mixer::CodecId::kOpus) {
    mixer::CodecParams dtx_params = params_;
    dtx_params.dtx = true;
    auto dtx_encoder = mixer::make_encoder(dtx_params);
    for (int i = 0; i < 30; ++i) {
      Payload p = encode(*dtx_encoder, quiet);
      if (mixer::is_dtx_payload(params_.id, p)) {
        dtx_ = std::move(p);
        break;
      }
    }
    if (dtx_.empty()) dtx_ = silence_;
  } else {
    dtx_ = silence_;
  }
}

std::span<const uint8_t> ToneScripts::tone_frame(double freq_hz, int i) {
  const std::vector<Payload>& frames = cycle(freq_hz);
  const int at = ((i % kCycleFrames) + kCycleFrames) % kCycleFrames;
  return frames[static_cast<size_t>(at)];
}

const std::vector<Payload>& ToneScripts::cycle(double freq_hz) {
  const int key = static_cast<int>(std::lround(freq_hz));
  auto found = cycles_.find(key);
  if (found != cycles_.end()) return found->second;

  mixer::Frame tone;
  tone.set_silence(params_.sample_rate);
  const double step = 2.0 * std::numbers::pi * freq_hz / params_.sample_rate;
  for (size_t n = 0; n < tone.samples; ++n) {
    tone.data[n] = static_cast<int16_t>(kToneAmplitude * std::sin(step * static_cast<double>(n)));
  }
  tone.silent = false;
  mixer::Frame quiet;
  quiet.set_silence(params_.sample_rate);

  auto encoder = mixer::make_encoder(params_);
  std::vector<Payload> frames(kCycleFrames);
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < kCycleFrames; ++i) {
      frames[static_cast<size_t>(i)] = encode(*encoder, i < kGapFrames ? quiet : tone);
    }
  }
  return cycles_.emplace(key, std::move(frames)).first->second;
}

}  // namespace chorus::load
