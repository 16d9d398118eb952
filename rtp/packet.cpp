#include "rtp/packet.hpp"

#include <cassert>
#include <cstring>

namespace chorus::rtp {
namespace {

uint16_t load16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace

std::optional<PacketView> PacketView::parse(std::span<const uint8_t> datagram) {
  return parse(datagram, true);
}

std::optional<PacketView> PacketView::parse_header(std::span<const uint8_t> datagram) {
  return parse(datagram, false);
}

std::optional<PacketView> PacketView::parse(std::span<const uint8_t> datagram, bool padding) {
  if (datagram.size() < kRtpFixedHeaderSize) return std::nullopt;
  if ((datagram[0] >> 6) != kRtpVersion) return std::nullopt;

  PacketView view;
  view.bytes_ = datagram;
  size_t header = kRtpFixedHeaderSize + 4 * size_t{view.csrc_count()};
  if (datagram.size() < header) return std::nullopt;

  if (view.has_extension()) {
    // RFC 3550 §5.3.1: 16-bit profile field, 16-bit length in 32-bit words.
    if (datagram.size() - header < 4) return std::nullopt;
    view.extension_profile_ = load16(datagram.data() + header);
    const size_t ext_len = size_t{load16(datagram.data() + header + 2)} * 4;
    header += 4;
    if (datagram.size() - header < ext_len) return std::nullopt;
    view.extension_block_ = datagram.subspan(header, ext_len);
    header += ext_len;
  }

  if (padding && view.has_padding()) {
    // RFC 3550 §5.1: the last octet counts the padding, itself included, so
    // it cannot be zero and must fit after the header.
    const uint8_t padding = datagram.back();
    if (padding == 0 || datagram.size() - header < padding) return std::nullopt;
    view.padding_size_ = padding;
  }
  view.header_size_ = header;
  return view;
}

uint16_t PacketView::sequence() const {
  return load16(bytes_.data() + 2);
}
uint32_t PacketView::timestamp() const {
  return load32(bytes_.data() + 4);
}
uint32_t PacketView::ssrc() const {
  return load32(bytes_.data() + 8);
}

uint32_t PacketView::csrc(size_t i) const {
  assert(i < csrc_count());
  return load32(bytes_.data() + kRtpFixedHeaderSize + 4 * i);
}

std::span<const uint8_t> PacketView::payload() const {
  return bytes_.subspan(header_size_, bytes_.size() - header_size_ - padding_size_);
}

std::optional<std::span<const uint8_t>> PacketView::extension(uint8_t id) const {
  if (!has_extension()) return std::nullopt;
  return find_extension(extension_profile_, extension_block_, id);
}

std::optional<AudioLevel> PacketView::audio_level(uint8_t ext_id) const {
  const auto data = extension(ext_id);
  // RFC 6464 §3: the one-byte form carries exactly one byte (len field 0);
  // the two-byte form may add padding, so only require at least one byte.
  if (!data || data->empty()) return std::nullopt;
  const uint8_t b = (*data)[0];
  return AudioLevel{(b & 0x80) != 0, static_cast<uint8_t>(b & 0x7F)};
}

size_t write_packet(std::span<uint8_t> out, const RtpHeader& header,
                    std::span<const uint8_t> payload, const PacketOptions& options) {
  if (options.csrcs.size() > 15 || header.payload_type > 127) return 0;
  const size_t csrc_bytes = 4 * options.csrcs.size();
  if (out.size() < kRtpFixedHeaderSize + csrc_bytes) return 0;

  size_t pos = kRtpFixedHeaderSize + csrc_bytes;
  size_t ext_size = 0;
  if (!options.extensions.empty()) {
    ext_size = write_extension_block(out.subspan(pos), options.extensions);
    if (ext_size == 0) return 0;
    pos += ext_size;
  }
  if (out.size() - pos < payload.size()) return 0;
  if (!payload.empty()) std::memmove(out.data() + pos, payload.data(), payload.size());
  pos += payload.size();

  size_t padding = 0;
  if (options.pad_to > 1) {
    padding = options.pad_to - (pos % options.pad_to);
    // The count octet must be 1-255; pad_to <= 255 guarantees it.
    if (out.size() - pos < padding) return 0;
    std::memset(out.data() + pos, 0, padding);
    pos += padding;
    out[pos - 1] = static_cast<uint8_t>(padding);
  }

  out[0] = static_cast<uint8_t>((kRtpVersion << 6) | (padding ? 0x20 : 0) | (ext_size ? 0x10 : 0) |
                                options.csrcs.size());
  out[1] = static_cast<uint8_t>((header.marker ? 0x80 : 0) | header.payload_type);
  store16(out.data() + 2, header.sequence);
  store32(out.data() + 4, header.timestamp);
  store32(out.data() + 8, header.ssrc);
  for (size_t i = 0; i < options.csrcs.size(); ++i) {
    store32(out.data() + kRtpFixedHeaderSize + 4 * i, options.csrcs[i]);
  }
  return pos;
}

size_t write_packet(std::span<uint8_t> out, const RtpHeader& header,
                    std::span<const uint8_t> payload,
                    std::optional<std::pair<uint8_t, AudioLevel>> level) {
  if (!level) return write_packet(out, header, payload, PacketOptions{});
  const uint8_t byte =
      static_cast<uint8_t>((level->second.voice ? 0x80 : 0) | (level->second.level_dbov & 0x7F));
  const ExtensionElement element{level->first, std::span<const uint8_t>(&byte, 1)};
  PacketOptions options;
  options.extensions = std::span<const ExtensionElement>(&element, 1);
  return write_packet(out, header, payload, options);
}

bool is_rtcp(std::span<const uint8_t> datagram) {
  return datagram.size() >= 2 && datagram[1] >= 192 && datagram[1] <= 223;
}

}  // namespace chorus::rtp
