#include "mixer/g722_codec.hpp"

#include <new>

namespace chorus::mixer {
namespace {

constexpr int kBitRate = 64000;

}  // namespace

G722Decoder::G722Decoder() : g722_(g722_decode_init(nullptr, kBitRate, 0)) {
  if (g722_ == nullptr) throw std::bad_alloc();
}

G722Decoder::~G722Decoder() {
  g722_decode_free(g722_);
}

bool G722Decoder::decode(std::span<const uint8_t> payload, Frame& out) {
  out.sample_rate = 16000;
  out.channels = 1;
  out.silent = false;
  if (payload.empty() || payload.size() > kMaxSamples / 2) {
    out.set_silence(16000);
    return false;
  }
  const int n =
      g722_decode(g722_, out.data.data(), payload.data(), static_cast<int>(payload.size()));
  out.samples = static_cast<size_t>(n);
  plc_.on_good(out.pcm());
  return true;
}

void G722Decoder::conceal(Frame& out) {
  out.sample_rate = 16000;
  out.channels = 1;
  out.samples = samples_per_tick(16000);
  out.silent = false;
  plc_.conceal(out.pcm());
}

G722Encoder::G722Encoder() : g722_(g722_encode_init(nullptr, kBitRate, 0)) {
  if (g722_ == nullptr) throw std::bad_alloc();
}

G722Encoder::~G722Encoder() {
  g722_encode_free(g722_);
}

size_t G722Encoder::encode(const Frame& in, std::span<uint8_t> out) {
  if (in.sample_rate != 16000 || in.channels != 1 || (in.samples + 1) / 2 > out.size()) return 0;
  return static_cast<size_t>(
      g722_encode(g722_, out.data(), in.data.data(), static_cast<int>(in.samples)));
}

// Re-initialising in place reuses the state's memory: no allocation.
void G722Encoder::reset() {
  g722_encode_init(g722_, kBitRate, 0);
}

}  // namespace chorus::mixer
