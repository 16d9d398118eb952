#include "mixer/participant.hpp"

#include <algorithm>
#include <cmath>

namespace chorus::mixer {

int32_t gain_to_q12(float linear) {
  if (!(linear > 0.0F)) return 0;  // also NaN
  const float q = std::round(linear * static_cast<float>(kUnityGainQ12));
  return static_cast<int32_t>(std::min(q, static_cast<float>(kMaxGainQ12)));
}

Participant::Participant(ParticipantId id_, const CodecParams& codec_, int conference_rate)
    : buffers(std::make_unique<ParticipantBuffers>(codec_, conference_rate)),
      id(id_),
      codec(codec_) {
  set_conference_rate(conference_rate);
}

void Participant::set_conference_rate(int rate) {
  RateKit kit = RateKit::make(id, codec.sample_rate, rate);
  set_conference_rate(kit);
}

void Participant::set_conference_rate(RateKit& kit) {
  const int rate = kit.rate;
  conference_rate = rate;
  in_resampler = std::move(kit.in);
  buffers->private_chain.adopt_conference_rate(rate, std::move(kit.out));
  buffers->input.set_silence(codec.sample_rate);
  input_zeroed = true;
  mix_input = in_resampler ? &in_resampler->out : &buffers->input;
  ramp = {};
  selected = false;
  contributing = false;
  group = -1;
  last_group = -2;
  payload = {};
  output = &buffers->private_chain.output();
}

}  // namespace chorus::mixer
