#include "mixer/g711_codec.hpp"

#include <algorithm>
#include <iterator>
#include <new>

namespace chorus::mixer {
namespace {

g711_state_t* make_g711(bool alaw) {
  g711_state_t* s = g711_init(nullptr, alaw ? G711_ALAW : G711_ULAW);
  if (s == nullptr) throw std::bad_alloc();
  return s;
}

}  // namespace

G711Decoder::G711Decoder(bool alaw) : g711_(make_g711(alaw)) {
  plc_init(&plc_);
}

G711Decoder::~G711Decoder() {
  g711_free(g711_);
}

bool G711Decoder::decode(std::span<const uint8_t> payload, Frame& out) {
  out.sample_rate = 8000;
  out.channels = 1;
  out.silent = false;
  if (payload.empty() || payload.size() > kMaxSamples) {
    out.set_silence(8000);
    return false;
  }
  const int n = static_cast<int>(payload.size());
  out.samples = static_cast<size_t>(g711_decode(g711_, out.data.data(), payload.data(), n));
  // Feed the PLC's history so a later loss repeats this audio.
  plc_rx(&plc_, out.data.data(), n);
  return true;
}

void G711Decoder::conceal(Frame& out) {
  out.sample_rate = 8000;
  out.channels = 1;
  out.samples = samples_per_tick(8000);
  out.silent = false;
  if (plc_.missing_samples == 0 && plc_.buf_ptr != 0) {
    // SpanDSP 0.0.6 starts a loss by rotating its history ring with an
    // overlapping memcpy (undefined behaviour, and fatal under ASan). Rotate
    // it here first, so plc_fillin finds it already in order (buf_ptr 0).
    std::rotate(std::begin(plc_.history), std::begin(plc_.history) + plc_.buf_ptr,
                std::end(plc_.history));
    plc_.buf_ptr = 0;
  }
  plc_fillin(&plc_, out.data.data(), static_cast<int>(out.samples));
}

G711Encoder::G711Encoder(bool alaw) : g711_(make_g711(alaw)) {}

G711Encoder::~G711Encoder() {
  g711_free(g711_);
}

size_t G711Encoder::encode(const Frame& in, std::span<uint8_t> out) {
  if (in.sample_rate != 8000 || in.channels != 1 || in.samples > out.size()) return 0;
  return static_cast<size_t>(
      g711_encode(g711_, out.data(), in.data.data(), static_cast<int>(in.samples)));
}

}  // namespace chorus::mixer
