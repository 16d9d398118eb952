// libFuzzer target for every payload the mixer decodes off the network:
// PCMU, PCMA, G.722 and Opus (48 kHz, and 16 kHz; mono or stereo streams, both
// decoded to mono) through decode / conceal / in-band FEC in any order, the
// Opus LBRR and DTX probes, and RFC 4733 telephone-events (parser and the
// digit receiver). Decoded audio also runs through the in-band DTMF detector.
//
// Input: byte 0 picks the decoder; then a script of steps, each one op byte,
// a 2-byte big-endian length and that many payload bytes (the last step takes
// what is left). Every step must leave a well-formed 20 ms frame.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "mixer/codec.hpp"
#include "mixer/dtmf_detector.hpp"
#include "mixer/frame.hpp"
#include "mixer/opus_codec.hpp"
#include "rtp/dtmf.hpp"

namespace {

using namespace chorus::mixer;

volatile uint32_t g_sink = 0;

CodecParams params_for(uint8_t pick) {
  switch (pick % 5) {
    case 0:
      return default_params(CodecId::kPcmu);
    case 1:
      return default_params(CodecId::kPcma);
    case 2:
      return default_params(CodecId::kG722);
    case 3:
      return default_params(CodecId::kOpus);  // 48 kHz
    default: {
      CodecParams p = default_params(CodecId::kOpus);
      p.sample_rate = 16000;
      return p;
    }
  }
}

// A decoder's output must be one tick of mono audio at its own rate (Opus may
// return a shorter frame for a short packet, never a longer one than fits).
void check_frame(const Frame& f, int rate) {
  if (f.sample_rate != rate || f.channels != 1 || f.samples > kMaxSamples) __builtin_trap();
  int32_t acc = 0;
  for (int16_t s : f.pcm()) acc += s;  // ASan/UBSan see every sample
  g_sink = g_sink + static_cast<uint32_t>(acc);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const CodecParams params = params_for(data[0]);
  // A stereo stream's packets reach the same mono decoder (libopus downmixes):
  // for Opus, odd picks force the TOC stereo bit on every payload.
  const bool force_stereo = params.id == CodecId::kOpus && (data[0] & 0x80) != 0;
  std::unique_ptr<Decoder> decoder = make_decoder(params);
  DtmfDetector inband(params.sample_rate);
  chorus::rtp::DtmfReceiver receiver;
  Frame frame;
  static std::array<uint8_t, 70000> stereo_copy;
  uint32_t timestamp = 0;

  std::span<const uint8_t> rest(data + 1, size - 1);
  while (!rest.empty()) {
    const uint8_t op = rest[0];
    size_t len = rest.size() - 1;
    size_t header = 1;
    if (rest.size() >= 3) {
      len = std::min<size_t>(static_cast<size_t>(rest[1]) << 8 | rest[2], rest.size() - 3);
      header = 3;
    }
    std::span<const uint8_t> payload = rest.subspan(header, len);
    rest = rest.subspan(header + len);
    if (force_stereo && !payload.empty() && payload.size() <= stereo_copy.size()) {
      std::copy(payload.begin(), payload.end(), stereo_copy.begin());
      stereo_copy[0] |= 0x04;  // RFC 6716 §3.1: the TOC's s bit
      payload = std::span<const uint8_t>(stereo_copy.data(), payload.size());
    }

    switch (op % 4) {
      case 0:
        if (!decoder->decode(payload, frame)) decoder->conceal(frame);
        break;
      case 1:
        decoder->conceal(frame);
        break;
      case 2:
        (void)decoder->decode_fec(payload, frame);
        break;
      case 3: {
        // RFC 4733 payloads go to signalling, not the decoder.
        if (const auto e = chorus::rtp::parse_dtmf_event(payload)) {
          g_sink = g_sink + e->event + e->duration + e->volume + e->end;
          (void)chorus::rtp::dtmf_digit(e->event);
        }
        if (const auto digit = receiver.on_packet(timestamp, payload)) g_sink = g_sink + *digit;
        timestamp += (op >> 2) & 1 ? 160 : 0;  // the same event continues, or a new one
        continue;
      }
    }
    check_frame(frame, params.sample_rate);
    g_sink = g_sink + opus_packet_has_fec(payload) + is_dtx_payload(params.id, payload);
    // The in-band detector wants whole ticks at its rate.
    if (frame.samples == samples_per_tick(params.sample_rate)) {
      for (char digit : inband.process(frame)) g_sink = g_sink + static_cast<uint32_t>(digit);
    }
  }
  return 0;
}
