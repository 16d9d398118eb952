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
  conference_rate = rate;
  in_resampler.reset();
  if (codec.sample_rate != rate) {
    in_resampler = std::make_unique<RateStage>(codec.sample_rate, rate);
  }
  buffers->private_chain.set_conference_rate(rate);
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
