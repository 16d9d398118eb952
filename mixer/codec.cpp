#include "mixer/codec.hpp"

#include <array>
#include <stdexcept>

#include "mixer/g711_codec.hpp"
#include "mixer/g722_codec.hpp"
#include "mixer/opus_codec.hpp"

namespace chorus::mixer {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void check_common(const CodecParams& p) {
  if (p.ptime_ms != 20) throw std::invalid_argument("codec: only 20 ms frames are mixed");
  switch (p.id) {
    case CodecId::kPcmu:
    case CodecId::kPcma:
      if (p.sample_rate != 8000 || p.channels != 1)
        throw std::invalid_argument("G.711 is 8000 Hz mono");
      break;
    case CodecId::kG722:
      if (p.sample_rate != 16000 || p.channels != 1)
        throw std::invalid_argument("G.722 audio is 16000 Hz mono");
      break;
    case CodecId::kOpus:
      if (!opus_rate_supported(p.sample_rate))
        throw std::invalid_argument("Opus rate must be 8, 12, 16, 24 or 48 kHz");
      break;
  }
}

}  // namespace

CodecParams default_params(CodecId id) {
  CodecParams p;
  p.id = id;
  switch (id) {
    case CodecId::kPcmu:
    case CodecId::kPcma:
      break;
    case CodecId::kG722:
      p.sample_rate = 16000;
      p.rtp_clock_rate = 8000;
      break;
    case CodecId::kOpus:
      p.sample_rate = 48000;
      p.rtp_clock_rate = 48000;
      break;
  }
  return p;
}

std::string_view codec_name(CodecId id) {
  switch (id) {
    case CodecId::kPcmu:
      return "PCMU";
    case CodecId::kPcma:
      return "PCMA";
    case CodecId::kG722:
      return "G722";
    case CodecId::kOpus:
      return "opus";
  }
  return "";
}

std::optional<CodecId> codec_from_name(std::string_view name) {
  for (CodecId id : {CodecId::kPcmu, CodecId::kPcma, CodecId::kG722, CodecId::kOpus}) {
    if (iequals(name, codec_name(id))) return id;
  }
  return std::nullopt;
}

std::optional<OpusBandwidth> opus_bandwidth_from_name(std::string_view name) {
  constexpr std::array<std::string_view, 5> kNames = {"narrowband", "mediumband", "wideband",
                                                      "superwideband", "fullband"};
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<OpusBandwidth>(i);
  }
  return std::nullopt;
}

uint32_t rtp_timestamp_step(const CodecParams& p) {
  return static_cast<uint32_t>(p.rtp_clock_rate) * static_cast<uint32_t>(p.ptime_ms) / 1000;
}

size_t max_payload_bytes(const CodecParams& p) {
  switch (p.id) {
    case CodecId::kPcmu:
    case CodecId::kPcma:
    case CodecId::kG722:
      return static_cast<size_t>(p.ptime_ms) * 8;  // 64 kbit/s = 8 bytes a millisecond
    case CodecId::kOpus:
      return 1276;
  }
  return kMaxPayloadBytes;
}

size_t jitter_frame_budget(const CodecParams& p) {
  if (p.id == CodecId::kOpus) return static_cast<size_t>(p.ptime_ms) * 128'000 / 8 / 1000;
  return max_payload_bytes(p);
}

bool is_dtx_payload(CodecId id, std::span<const uint8_t> payload) {
  return id == CodecId::kOpus && !payload.empty() && payload.size() <= 2;
}

std::unique_ptr<Decoder> make_decoder(const CodecParams& p) {
  check_common(p);
  switch (p.id) {
    case CodecId::kPcmu:
      return std::make_unique<G711Decoder>(false);
    case CodecId::kPcma:
      return std::make_unique<G711Decoder>(true);
    case CodecId::kG722:
      return std::make_unique<G722Decoder>();
    case CodecId::kOpus:
      return std::make_unique<OpusDecoderImpl>(p.sample_rate);
  }
  throw std::invalid_argument("unknown codec");
}

std::unique_ptr<Encoder> make_encoder(const CodecParams& p) {
  check_common(p);
  switch (p.id) {
    case CodecId::kPcmu:
      return std::make_unique<G711Encoder>(false);
    case CodecId::kPcma:
      return std::make_unique<G711Encoder>(true);
    case CodecId::kG722:
      return std::make_unique<G722Encoder>();
    case CodecId::kOpus:
      return std::make_unique<OpusEncoderImpl>(p);
  }
  throw std::invalid_argument("unknown codec");
}

}  // namespace chorus::mixer
