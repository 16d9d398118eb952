#include "mixer/mix_kernel.hpp"

#include <algorithm>
#include <cassert>

#include "mixer/participant.hpp"

namespace chorus::mixer {

void contribute(std::span<int32_t> out, std::span<const int16_t> in, int32_t gain_q12,
                const RampTable& table, RampState& ramp) {
  assert(in.size() >= out.size());
  const size_t n = out.size();
  const size_t length = table.length();
  size_t i = 0;
  // While the ramp moves, the gain changes per sample.
  while (i < n &&
         ((ramp.rising && ramp.position < length) || (!ramp.rising && ramp.position > 0))) {
    ramp.position += ramp.rising ? 1 : static_cast<size_t>(-1);
    const int32_t g =
        static_cast<int32_t>((static_cast<int64_t>(gain_q12) * table.at(ramp.position)) >> 15);
    out[i] = (static_cast<int32_t>(in[i]) * g) >> 12;
    ++i;
  }
  if (i == n) return;
  if (ramp.position == 0) {
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(i), out.end(), 0);
  } else if (gain_q12 == kUnityGainQ12) {
    for (; i < n; ++i) out[i] = in[i];
  } else {
    for (; i < n; ++i) out[i] = (static_cast<int32_t>(in[i]) * gain_q12) >> 12;
  }
}

void accumulate(std::span<int32_t> acc, std::span<const int32_t> v) {
  assert(v.size() >= acc.size());
  for (size_t i = 0; i < acc.size(); ++i) acc[i] += v[i];
}

void accumulate_scaled(std::span<int32_t> acc, std::span<const int16_t> in, int32_t gain_q12) {
  assert(in.size() >= acc.size());
  for (size_t i = 0; i < acc.size(); ++i) acc[i] += (static_cast<int32_t>(in[i]) * gain_q12) >> 12;
}

void subtract(std::span<int32_t> out, std::span<const int32_t> acc, std::span<const int32_t> own) {
  assert(acc.size() >= out.size() && own.size() >= out.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = acc[i] - own[i];
}

void mix_n_minus_1(std::span<const std::span<const int16_t>> inputs,
                   std::span<const std::span<int16_t>> outputs, std::span<Limiter> limiters,
                   std::span<int32_t> sum, std::span<int32_t> scratch) {
  assert(outputs.size() >= inputs.size() && limiters.size() >= inputs.size());
  const size_t n = sum.size();
  std::fill(sum.begin(), sum.end(), 0);
  for (const auto& in : inputs) {
    for (size_t i = 0; i < n; ++i) sum[i] += in[i];
  }
  for (size_t p = 0; p < inputs.size(); ++p) {
    const auto& own = inputs[p];
    for (size_t i = 0; i < n; ++i) scratch[i] = sum[i] - own[i];
    limiters[p].process(scratch.first(n), outputs[p].first(n));
  }
}

}  // namespace chorus::mixer
