#pragma once
// RTCP packets (RFC 3550 §6.4–6.6): SR, RR, SDES, BYE inside compound packets,
// parsed as views and built into caller-provided buffers without allocating.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace chorus::rtp {

// RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1).
inline constexpr uint8_t kRtcpSr = 200;
inline constexpr uint8_t kRtcpRr = 201;
inline constexpr uint8_t kRtcpSdes = 202;
inline constexpr uint8_t kRtcpBye = 203;
inline constexpr uint8_t kRtcpApp = 204;
inline constexpr uint8_t kRtcpRtpfb = 205;
inline constexpr uint8_t kRtcpPsfb = 206;

// SDES item types (RFC 3550 §6.5).
inline constexpr uint8_t kSdesEnd = 0;
inline constexpr uint8_t kSdesCname = 1;

inline constexpr size_t kRtcpHeaderSize = 4;
inline constexpr size_t kReportBlockSize = 24;
inline constexpr size_t kMaxReportBlocks = 31;  // RC is 5 bits

// RFC 3550 §6.4.1 report block:
//  +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//  |                 SSRC_1 (SSRC of first source)                 |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | fraction lost |       cumulative number of packets lost       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           extended highest sequence number received           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                      interarrival jitter                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         last SR (LSR)                         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                   delay since last SR (DLSR)                  |
//  +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
struct ReportBlock {
  uint32_t ssrc = 0;
  uint8_t fraction_lost = 0;    // fixed point, /256
  int32_t cumulative_lost = 0;  // 24-bit signed on the wire (clamped when written)
  uint32_t extended_highest_sequence = 0;
  uint32_t jitter = 0;  // timestamp units
  uint32_t lsr = 0;     // middle 32 bits of the last SR's NTP timestamp
  uint32_t dlsr = 0;    // 1/65536 s since that SR arrived
  friend bool operator==(const ReportBlock&, const ReportBlock&) = default;
};

// RFC 3550 §6.4.1 sender info.
struct SenderInfo {
  uint64_t ntp_timestamp = 0;
  uint32_t rtp_timestamp = 0;
  uint32_t packet_count = 0;
  uint32_t octet_count = 0;
  friend bool operator==(const SenderInfo&, const SenderInfo&) = default;
};

// The report blocks of an SR or RR, decoded on access.
class ReportBlocks {
 public:
  ReportBlocks() = default;
  explicit ReportBlocks(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  size_t size() const { return bytes_.size() / kReportBlockSize; }
  ReportBlock operator[](size_t i) const;  // i < size() (asserted)

 private:
  std::span<const uint8_t> bytes_;
};

// One RTCP packet inside a compound packet (RFC 3550 §6.4.1 common header):
//  |V=2|P|  RC/SC  |      PT       |             length            |
class RtcpPacketView {
 public:
  uint8_t count() const { return bytes_[0] & 0x1F; }  // RC, SC or FMT
  uint8_t packet_type() const { return bytes_[1]; }
  bool has_padding() const { return (bytes_[0] & 0x20) != 0; }
  std::span<const uint8_t> bytes() const { return bytes_; }  // header included, padding included
  // Bytes after the 4-byte header, padding removed.
  std::span<const uint8_t> body() const { return body_; }
  // The SSRC of the sender / first SSRC field, when the body has one.
  std::optional<uint32_t> sender_ssrc() const;

 private:
  friend class RtcpCompoundView;
  std::span<const uint8_t> bytes_;
  std::span<const uint8_t> body_;
};

struct SenderReport {
  uint32_t ssrc;
  SenderInfo info;
  ReportBlocks blocks;
};
struct ReceiverReport {
  uint32_t ssrc;
  ReportBlocks blocks;
};
// nullopt when the packet is not of that type or its RC doesn't match its length.
std::optional<SenderReport> parse_sender_report(const RtcpPacketView& p);
std::optional<ReceiverReport> parse_receiver_report(const RtcpPacketView& p);

// SDES (RFC 3550 §6.5): chunks of (SSRC, items..., END, pad to 32 bits).
// Calls visit(ssrc, item_type, value) for every item; returns false (having
// visited only a prefix) when the packet is malformed.
template <class Visit>
bool for_each_sdes_item(const RtcpPacketView& p, Visit&& visit);
// The CNAME of `ssrc` in an SDES packet (or of the first chunk when ssrc is 0).
std::optional<std::string_view> sdes_cname(const RtcpPacketView& p, uint32_t ssrc = 0);

// BYE (RFC 3550 §6.6): SC SSRC/CSRCs and an optional reason.
struct Bye {
  std::span<const uint8_t> ssrc_bytes;  // 4 bytes per SSRC
  std::string_view reason;
  size_t size() const { return ssrc_bytes.size() / 4; }
  uint32_t ssrc(size_t i) const;
};
std::optional<Bye> parse_bye(const RtcpPacketView& p);

// A validated compound packet (RFC 3550 §6.1, A.2 checks): every packet V=2,
// lengths add up exactly to the datagram, padding only on the last packet.
// The first packet's type is NOT required to be SR/RR (RFC 5506 reduced-size
// RTCP); starts_with_report() tells.
class RtcpCompoundView {
 public:
  static std::optional<RtcpCompoundView> parse(std::span<const uint8_t> datagram);

  class Iterator {
   public:
    using value_type = RtcpPacketView;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    RtcpPacketView operator*() const;
    Iterator& operator++();
    Iterator operator++(int) {
      Iterator copy = *this;
      ++*this;
      return copy;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.pos_ == b.pos_; }

   private:
    friend class RtcpCompoundView;
    Iterator(std::span<const uint8_t> bytes, size_t pos) : bytes_(bytes), pos_(pos) {}
    std::span<const uint8_t> bytes_;
    size_t pos_ = 0;
  };
  Iterator begin() const { return Iterator(bytes_, 0); }
  Iterator end() const { return Iterator(bytes_, bytes_.size()); }

  size_t packet_count() const { return packet_count_; }
  bool starts_with_report() const;
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t packet_count_ = 0;
};

// Builds a compound packet into `out`. Every add_* either appends a whole
// packet or, when it doesn't fit or the arguments can't be encoded, appends
// nothing and makes ok() false; size() is then still a valid compound prefix.
class RtcpWriter {
 public:
  explicit RtcpWriter(std::span<uint8_t> out) : out_(out) {}

  bool add_sender_report(uint32_t ssrc, const SenderInfo& info,
                         std::span<const ReportBlock> blocks = {});
  bool add_receiver_report(uint32_t ssrc, std::span<const ReportBlock> blocks = {});
  // One chunk with a CNAME item (1-255 bytes).
  bool add_sdes_cname(uint32_t ssrc, std::string_view cname);
  // Reason at most 255 bytes; at most 31 SSRCs.
  bool add_bye(std::span<const uint32_t> ssrcs, std::string_view reason = {});

  size_t size() const { return size_; }
  bool ok() const { return ok_; }
  std::span<const uint8_t> bytes() const { return out_.first(size_); }

 private:
  uint8_t* reserve(size_t n);
  std::span<uint8_t> out_;
  size_t size_ = 0;
  bool ok_ = true;
};

// ---- implementation of the template above
namespace detail {
inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
}  // namespace detail

template <class Visit>
bool for_each_sdes_item(const RtcpPacketView& p, Visit&& visit) {
  if (p.packet_type() != kRtcpSdes) return false;
  const std::span<const uint8_t> body = p.body();
  size_t pos = 0;
  for (uint8_t chunk = 0; chunk < p.count(); ++chunk) {
    if (body.size() - pos < 4) return false;
    const uint32_t ssrc = detail::load_be32(body.data() + pos);
    pos += 4;
    // Items until a zero type octet; then pad to the next 32-bit boundary.
    for (;;) {
      if (pos >= body.size()) return false;
      const uint8_t type = body[pos];
      if (type == kSdesEnd) break;
      if (body.size() - pos < 2) return false;
      const uint8_t len = body[pos + 1];
      if (body.size() - pos - 2 < len) return false;
      visit(ssrc, type,
            std::string_view(reinterpret_cast<const char*>(body.data() + pos + 2), len));
      pos += 2 + size_t{len};
    }
    pos = (pos + 4) & ~size_t{3};  // the END octet plus padding to 32 bits
    if (pos > body.size()) return false;
  }
  return true;
}

}  // namespace chorus::rtp
