#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "mixer/frame.hpp"

namespace chorus::mixer {

enum class CodecId : uint8_t { kPcmu, kPcma, kG722, kOpus };

// The audio bandwidths an Opus encoder may be held to (RFC 6716 §2: 4, 6,
// 8, 12 and 20 kHz passband), narrowest first.
enum class OpusBandwidth : uint8_t { kNarrow, kMedium, kWide, kSuperWide, kFull };
// "narrowband", "mediumband", "wideband", "superwideband", "fullband".
std::optional<OpusBandwidth> opus_bandwidth_from_name(std::string_view name);

// Largest payload an Encoder writes for one 20 ms frame (RFC 6716 §3.4 R2
// caps an Opus frame at 1275 bytes; G.711/G.722 need 160 at 64 kbit/s).
inline constexpr size_t kMaxPayloadBytes = 1500;

struct CodecParams {
  CodecId id = CodecId::kPcmu;
  // The codec's audio rate: 8000 (G.711), 16000 (G.722), 8000/12000/16000/24000/48000 (Opus).
  int sample_rate = 8000;
  // RTP timestamp clock: 8000 for G.722 (RFC 3551 §4.5.2), 48000 for Opus (RFC 7587 §4.1).
  int rtp_clock_rate = 8000;
  int channels = 1;    // Opus only: 2 = the peer sends/receives stereo
  int bitrate = 0;     // Opus send bitrate in bit/s; 0 = libopus default for the rate
  int complexity = 5;  // Opus send complexity 0..10
  // Opus: the widest audio band sent (OPUS_SET_MAX_BANDWIDTH). Narrower
  // than the rate allows, the encoder keeps its rate and timing and codes
  // less of the spectrum: wideband is SILK alone, about a third of the work
  // at complexity 0. With bitrate 0 it then spends what libopus would choose
  // at that band's own rate (wideband: 16 kHz, 19 kbit/s), not the 51
  // kbit/s it would at 48 kHz.
  OpusBandwidth max_bandwidth = OpusBandwidth::kFull;
  bool fec = true;     // Opus: send in-band FEC (RFC 7587 §3.2.1); receive always honours it
  bool dtx = false;    // Opus: send DTX (RFC 7587 §3.1.3)
  int ptime_ms = 20;
  bool operator==(const CodecParams&) const = default;
};

// Sensible parameters for `id` at its natural rate (Opus: 48 kHz mono).
CodecParams default_params(CodecId id);
// SDP encoding name (RFC 3551 §6; RFC 7587 registers "opus"): "PCMU", "PCMA", "G722", "opus".
std::string_view codec_name(CodecId id);
std::optional<CodecId> codec_from_name(std::string_view encoding_name);  // case-insensitive
// RTP timestamp advance for one `ptime_ms` packet of `p` (160 for G.722 at 20 ms).
uint32_t rtp_timestamp_step(const CodecParams& p);
// The largest legitimate RTP payload of one `ptime_ms` packet of `p`, what a
// jitter buffer slot holds: G.711 one byte per sample and G.722 64 kbit/s
// (160 at 20 ms); Opus a TOC byte and one frame of at most 1275 bytes
// (RFC 6716 §3.2.1, §3.4 R2), 1276 — libopus's own cap.
size_t max_payload_bytes(const CodecParams& p);
// Payload bytes per 20 ms frame a jitter buffer budgets for: the maximum for
// G.711/G.722 (constant bit rate); for Opus 128 kbit/s, twice what WebRTC
// sends for voice, so larger packets still fit while the buffer is not deep.
size_t jitter_frame_budget(const CodecParams& p);

// Decodes one participant's stream. All state is allocated at construction;
// decode/conceal/decode_fec never allocate (hot path).
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes one 20 ms payload into `out` at sample_rate(), mono (stereo Opus
  // is downmixed). Returns false on a corrupt payload; `out` then holds
  // silence and the caller should conceal() instead.
  virtual bool decode(std::span<const uint8_t> payload, Frame& out) = 0;
  // Packet-loss concealment for one lost 20 ms frame: SpanDSP PLC for G.711,
  // a fading pitch repetition for G.722, libopus PLC for Opus.
  virtual void conceal(Frame& out) = 0;
  // Opus in-band FEC (RFC 7587 §3.2.1): rebuilds the lost frame from the NEXT
  // packet's redundancy. Returns false (after concealing) when it has none.
  virtual bool decode_fec(std::span<const uint8_t> next_payload, Frame& out) {
    (void)next_payload;
    conceal(out);
    return false;
  }
  virtual int sample_rate() const = 0;
};

// Encodes one listener's (or a shared) stream; same allocation rules.
class Encoder {
 public:
  virtual ~Encoder() = default;
  // Encodes one 20 ms frame at sample_rate() (mono, or stereo for a stereo
  // Opus encoder; a mono frame is duplicated to both channels). Returns the
  // payload size, 0 if `in` has the wrong rate or `out` is too small.
  // An Opus DTX encoder returns a payload of at most 2 bytes for silence,
  // which need not be sent (see is_dtx_payload).
  virtual size_t encode(const Frame& in, std::span<uint8_t> out) = 0;
  virtual int sample_rate() const = 0;
  // Forgets all history (e.g. before a listener moves to a private encoder).
  virtual void reset() = 0;
  // Takes `params` in place, keeping its history, when they differ from its
  // own in the Opus band, complexity or bitrate only (encoder controls, no
  // allocation). False, settings unchanged, for anything else.
  virtual bool retune(const CodecParams& params) {
    (void)params;
    return false;
  }
};

// Whether `payload` is an Opus DTX frame (RFC 7587 §3.1.3): libopus emits
// 1–2 byte packets with no audio that need not be sent.
bool is_dtx_payload(CodecId id, std::span<const uint8_t> payload);

// Set-up time only (they allocate). Throw std::invalid_argument on params the
// codec cannot honour (e.g. Opus at 44100 Hz, G.722 not at 16 kHz).
std::unique_ptr<Decoder> make_decoder(const CodecParams& params);
std::unique_ptr<Encoder> make_encoder(const CodecParams& params);

}  // namespace chorus::mixer
