#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mixer/limiter.hpp"
#include "mixer/ramp.hpp"

namespace chorus::mixer {

// The inner loops of the N-1 mix (STYLE.md §3: sum once into an int32
// accumulator, subtract each listener's own contribution). None allocates.

// out[i] = in[i] * gain_q12 / 4096, the ramp applied on top while it moves.
// Advances `ramp` by out.size() samples. `gain_q12` <= 8 * 4096 keeps every
// product inside int32.
void contribute(std::span<int32_t> out, std::span<const int16_t> in, int32_t gain_q12,
                const RampTable& table, RampState& ramp);

// acc[i] += v[i]
void accumulate(std::span<int32_t> acc, std::span<const int32_t> v);
// acc[i] += in[i] * gain_q12 / 4096 (a whisper or an ungated source)
void accumulate_scaled(std::span<int32_t> acc, std::span<const int16_t> in, int32_t gain_q12);
// out[i] = acc[i] - own[i]
void subtract(std::span<int32_t> out, std::span<const int32_t> acc, std::span<const int32_t> own);

// A whole N-1 mix of equal-weight inputs, in O(N): what the conference does
// per tick, without its roles and selection (the benchmark kernel and a
// reference for tests). `sum` and `scratch` hold one frame each; `limiters`
// and `outputs` one per input.
void mix_n_minus_1(std::span<const std::span<const int16_t>> inputs,
                   std::span<const std::span<int16_t>> outputs, std::span<Limiter> limiters,
                   std::span<int32_t> sum, std::span<int32_t> scratch);

}  // namespace chorus::mixer
