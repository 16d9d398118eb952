#pragma once
// RTP data packets (RFC 3550 §5.1) as views over buffers someone else owns.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "rtp/header_extension.hpp"

namespace chorus::rtp {

inline constexpr size_t kRtpFixedHeaderSize = 12;
inline constexpr uint8_t kRtpVersion = 2;

// RFC 6464 client-to-mixer audio level: V flag + level in -dBov (0 = loudest,
// 127 = silence).
struct AudioLevel {
  bool voice;
  uint8_t level_dbov;
  friend bool operator==(const AudioLevel&, const AudioLevel&) = default;
};

// A validated RTP packet. Holds a span into the caller's buffer; it is valid
// only as long as that buffer is alive and unchanged.
//
// RFC 3550 §5.1:
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                           timestamp                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           synchronization source (SSRC) identifier            |
//  +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//  |            contributing source (CSRC) identifiers             |
//  |                             ....                              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |      defined by profile       |           length              |  (X=1, RFC 3550 §5.3.1:
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   length in 32-bit words)
//  |                        header extension                       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  payload ... | padding | padding count (P=1)  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
class PacketView {
 public:
  // nullopt unless: V=2, the CSRC list and extension fit, and the padding count
  // (P=1) is non-zero and fits after the header (RFC 3550 §5.1, A.1 checks).
  // The payload type is not checked against RTCP's range; see is_rtcp().
  static std::optional<PacketView> parse(std::span<const uint8_t> datagram);
  // The same header checks, but the padding count is not interpreted:
  // payload() is everything after the header. For SRTP packets before
  // unprotect, whose padding (and auth tag at the end) are not plain RTP
  // (RFC 3711 §3.1), so a P bit cannot be checked yet.
  static std::optional<PacketView> parse_header(std::span<const uint8_t> datagram);

  uint8_t version() const { return bytes_[0] >> 6; }
  bool has_padding() const { return (bytes_[0] & 0x20) != 0; }
  bool has_extension() const { return (bytes_[0] & 0x10) != 0; }
  uint8_t csrc_count() const { return bytes_[0] & 0x0F; }
  bool marker() const { return (bytes_[1] & 0x80) != 0; }
  uint8_t payload_type() const { return bytes_[1] & 0x7F; }
  uint16_t sequence() const;
  uint32_t timestamp() const;
  uint32_t ssrc() const;
  uint32_t csrc(size_t i) const;  // i < csrc_count() (asserted)

  // The "defined by profile" field and the extension block (without its 4-byte
  // header); 0 / empty when X=0.
  uint16_t extension_profile() const { return extension_profile_; }
  std::span<const uint8_t> extension_block() const { return extension_block_; }
  // RFC 8285 one- and two-byte forms; nullopt when absent or X=0.
  std::optional<std::span<const uint8_t>> extension(uint8_t id) const;
  // RFC 6464 §3: one byte, V in the top bit, level in the low 7 bits.
  std::optional<AudioLevel> audio_level(uint8_t ext_id) const;

  size_t header_size() const { return header_size_; }
  std::span<const uint8_t> payload() const;  // without padding
  uint8_t padding_size() const { return padding_size_; }
  std::span<const uint8_t> bytes() const { return bytes_; }  // the whole datagram
  size_t size() const { return bytes_.size(); }

 private:
  PacketView() = default;
  static std::optional<PacketView> parse(std::span<const uint8_t> datagram, bool padding);
  std::span<const uint8_t> bytes_;
  std::span<const uint8_t> extension_block_;
  size_t header_size_ = 0;
  uint16_t extension_profile_ = 0;
  uint8_t padding_size_ = 0;
};

struct RtpHeader {
  uint8_t payload_type;
  bool marker;
  uint16_t sequence;
  uint32_t timestamp;
  uint32_t ssrc;
};

// Writes a 12-byte header (+ optional one-byte-form audio-level extension, RFC
// 6464) then the payload; returns the total size, or 0 if it doesn't fit.
size_t write_packet(std::span<uint8_t> out, const RtpHeader& header,
                    std::span<const uint8_t> payload,
                    std::optional<std::pair<uint8_t /*ext id*/, AudioLevel>> level = std::nullopt);

// The general form: CSRCs, arbitrary RFC 8285 extensions, padding to a
// multiple of `pad_to` bytes (0 or 1 = none; RFC 3550 §5.1 P bit).
struct PacketOptions {
  std::span<const uint32_t> csrcs;  // at most 15
  std::span<const ExtensionElement> extensions;
  uint8_t pad_to = 0;
};
size_t write_packet(std::span<uint8_t> out, const RtpHeader& header,
                    std::span<const uint8_t> payload, const PacketOptions& options);

// RFC 5761 §4: with RTP and RTCP multiplexed on one port, the second byte of
// an RTCP packet is its packet type 192-223 (RTP payload types 64-95 with the
// marker bit set or not), which RTP payload types avoid.
bool is_rtcp(std::span<const uint8_t> datagram);

}  // namespace chorus::rtp
