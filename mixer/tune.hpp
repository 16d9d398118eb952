#pragma once

#include <cstdint>
#include <vector>

namespace chorus::mixer {

// Chorus's own hold music: a slow four-chord progression of soft sine and
// band-limited triangle voices with smooth envelopes plus a gentle arpeggio,
// synthesised at runtime (no recording shipped). The result is one seamless
// loop of kTuneSeconds: notes that ring past the end wrap to the start.
inline constexpr int kTuneSeconds = 16;

// Renders the loop at `sample_rate`, mono, peak about -6 dBFS.
std::vector<int16_t> render_tune(int sample_rate);

}  // namespace chorus::mixer
