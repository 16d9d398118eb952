#include "rtp/rtcp.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace chorus::rtp {
namespace {

using detail::load_be32;

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

// The length field counts 32-bit words minus one (§6.4.1), so a packet is
// never shorter than its 4-byte header.
size_t packet_length(const uint8_t* p) {
  return ((size_t{p[2]} << 8 | p[3]) + 1) * 4;
}

// Common header: V=2, P=0, count, PT, length in 32-bit words minus one.
void write_header(uint8_t* p, uint8_t count, uint8_t type, size_t total_bytes) {
  p[0] = static_cast<uint8_t>(0x80 | count);
  p[1] = type;
  store16(p + 2, static_cast<uint16_t>(total_bytes / 4 - 1));
}

void write_report_block(uint8_t* p, const ReportBlock& b) {
  store32(p, b.ssrc);
  // 24-bit two's complement, clamped (RFC 3550 §6.4.1, A.3).
  const int32_t lost = std::clamp<int32_t>(b.cumulative_lost, -0x800000, 0x7FFFFF);
  const uint32_t lost24 = static_cast<uint32_t>(lost) & 0xFFFFFF;
  store32(p + 4, (uint32_t{b.fraction_lost} << 24) | lost24);
  store32(p + 8, b.extended_highest_sequence);
  store32(p + 12, b.jitter);
  store32(p + 16, b.lsr);
  store32(p + 20, b.dlsr);
}

}  // namespace

ReportBlock ReportBlocks::operator[](size_t i) const {
  assert(i < size());
  const uint8_t* p = bytes_.data() + i * kReportBlockSize;
  ReportBlock b;
  b.ssrc = load_be32(p);
  const uint32_t word = load_be32(p + 4);
  b.fraction_lost = static_cast<uint8_t>(word >> 24);
  // Sign-extend the 24-bit cumulative loss.
  const uint32_t lost24 = word & 0xFFFFFF;
  b.cumulative_lost =
      (lost24 & 0x800000) ? static_cast<int32_t>(lost24) - 0x1000000 : static_cast<int32_t>(lost24);
  b.extended_highest_sequence = load_be32(p + 8);
  b.jitter = load_be32(p + 12);
  b.lsr = load_be32(p + 16);
  b.dlsr = load_be32(p + 20);
  return b;
}

std::optional<uint32_t> RtcpPacketView::sender_ssrc() const {
  if (body_.size() < 4) return std::nullopt;
  return load_be32(body_.data());
}

std::optional<SenderReport> parse_sender_report(const RtcpPacketView& p) {
  // SSRC (4) + sender info (20) + RC report blocks (§6.4.1). Trailing
  // profile-specific extensions are allowed after the blocks.
  const auto body = p.body();
  if (p.packet_type() != kRtcpSr || body.size() < 24) return std::nullopt;
  const size_t blocks = p.count() * kReportBlockSize;
  if (body.size() - 24 < blocks) return std::nullopt;
  SenderReport sr;
  sr.ssrc = load_be32(body.data());
  sr.info.ntp_timestamp = (uint64_t{load_be32(body.data() + 4)} << 32) | load_be32(body.data() + 8);
  sr.info.rtp_timestamp = load_be32(body.data() + 12);
  sr.info.packet_count = load_be32(body.data() + 16);
  sr.info.octet_count = load_be32(body.data() + 20);
  sr.blocks = ReportBlocks(body.subspan(24, blocks));
  return sr;
}

std::optional<ReceiverReport> parse_receiver_report(const RtcpPacketView& p) {
  const auto body = p.body();
  if (p.packet_type() != kRtcpRr || body.size() < 4) return std::nullopt;
  const size_t blocks = p.count() * kReportBlockSize;
  if (body.size() - 4 < blocks) return std::nullopt;
  return ReceiverReport{load_be32(body.data()), ReportBlocks(body.subspan(4, blocks))};
}

std::optional<std::string_view> sdes_cname(const RtcpPacketView& p, uint32_t ssrc) {
  std::optional<std::string_view> found;
  bool first_chunk_only = ssrc == 0;
  std::optional<uint32_t> first_ssrc;
  for_each_sdes_item(p, [&](uint32_t item_ssrc, uint8_t type, std::string_view value) {
    if (!first_ssrc) first_ssrc = item_ssrc;
    if (found || type != kSdesCname) return;
    if (first_chunk_only ? item_ssrc == *first_ssrc : item_ssrc == ssrc) found = value;
  });
  return found;
}

uint32_t Bye::ssrc(size_t i) const {
  assert(i < size());
  return load_be32(ssrc_bytes.data() + 4 * i);
}

std::optional<Bye> parse_bye(const RtcpPacketView& p) {
  if (p.packet_type() != kRtcpBye) return std::nullopt;
  const auto body = p.body();
  const size_t ssrc_bytes = 4 * size_t{p.count()};
  if (body.size() < ssrc_bytes) return std::nullopt;
  Bye bye;
  bye.ssrc_bytes = body.first(ssrc_bytes);
  // §6.6: optional length-prefixed reason after the SSRC list.
  if (body.size() > ssrc_bytes) {
    const size_t len = body[ssrc_bytes];
    if (body.size() - ssrc_bytes - 1 < len) return std::nullopt;
    bye.reason = std::string_view(reinterpret_cast<const char*>(body.data() + ssrc_bytes + 1), len);
  }
  return bye;
}

std::optional<RtcpCompoundView> RtcpCompoundView::parse(std::span<const uint8_t> datagram) {
  if (datagram.size() < kRtcpHeaderSize) return std::nullopt;
  RtcpCompoundView view;
  view.bytes_ = datagram;
  size_t pos = 0;
  while (pos < datagram.size()) {
    if (datagram.size() - pos < kRtcpHeaderSize) return std::nullopt;
    const uint8_t* p = datagram.data() + pos;
    if ((p[0] >> 6) != 2) return std::nullopt;
    const size_t len = packet_length(p);
    if (datagram.size() - pos < len) return std::nullopt;
    const bool padding = (p[0] & 0x20) != 0;
    if (padding) {
      // Padding only on the last packet of a compound (A.2); the count covers
      // itself and must leave the header intact.
      if (pos + len != datagram.size()) return std::nullopt;
      const uint8_t pad = p[len - 1];
      if (pad == 0 || pad > len - kRtcpHeaderSize) return std::nullopt;
    }
    pos += len;
    ++view.packet_count_;
  }
  return view;
}

bool RtcpCompoundView::starts_with_report() const {
  return bytes_[1] == kRtcpSr || bytes_[1] == kRtcpRr;
}

RtcpPacketView RtcpCompoundView::Iterator::operator*() const {
  // parse() validated every length, so this stays in bounds.
  const uint8_t* p = bytes_.data() + pos_;
  const size_t len = packet_length(p);
  RtcpPacketView v;
  v.bytes_ = bytes_.subspan(pos_, len);
  const size_t pad = (p[0] & 0x20) ? p[len - 1] : 0;
  v.body_ = v.bytes_.subspan(kRtcpHeaderSize, len - kRtcpHeaderSize - pad);
  return v;
}

RtcpCompoundView::Iterator& RtcpCompoundView::Iterator::operator++() {
  const uint8_t* p = bytes_.data() + pos_;
  pos_ += packet_length(p);
  return *this;
}

uint8_t* RtcpWriter::reserve(size_t n) {
  if (!ok_ || out_.size() - size_ < n) {
    ok_ = false;
    return nullptr;
  }
  uint8_t* p = out_.data() + size_;
  size_ += n;
  return p;
}

bool RtcpWriter::add_sender_report(uint32_t ssrc, const SenderInfo& info,
                                   std::span<const ReportBlock> blocks) {
  if (blocks.size() > kMaxReportBlocks) return ok_ = false;
  const size_t total = kRtcpHeaderSize + 24 + blocks.size() * kReportBlockSize;
  uint8_t* p = reserve(total);
  if (!p) return false;
  write_header(p, static_cast<uint8_t>(blocks.size()), kRtcpSr, total);
  store32(p + 4, ssrc);
  store32(p + 8, static_cast<uint32_t>(info.ntp_timestamp >> 32));
  store32(p + 12, static_cast<uint32_t>(info.ntp_timestamp));
  store32(p + 16, info.rtp_timestamp);
  store32(p + 20, info.packet_count);
  store32(p + 24, info.octet_count);
  for (size_t i = 0; i < blocks.size(); ++i)
    write_report_block(p + 28 + i * kReportBlockSize, blocks[i]);
  return true;
}

bool RtcpWriter::add_receiver_report(uint32_t ssrc, std::span<const ReportBlock> blocks) {
  if (blocks.size() > kMaxReportBlocks) return ok_ = false;
  const size_t total = kRtcpHeaderSize + 4 + blocks.size() * kReportBlockSize;
  uint8_t* p = reserve(total);
  if (!p) return false;
  write_header(p, static_cast<uint8_t>(blocks.size()), kRtcpRr, total);
  store32(p + 4, ssrc);
  for (size_t i = 0; i < blocks.size(); ++i)
    write_report_block(p + 8 + i * kReportBlockSize, blocks[i]);
  return true;
}

bool RtcpWriter::add_sdes_cname(uint32_t ssrc, std::string_view cname) {
  if (cname.empty() || cname.size() > 255) return ok_ = false;
  // Header, SSRC, CNAME item (type, length, text), END, pad to 32 bits (§6.5).
  const size_t chunk = 4 + 2 + cname.size() + 1;
  const size_t total = kRtcpHeaderSize + ((chunk + 3) & ~size_t{3});
  uint8_t* p = reserve(total);
  if (!p) return false;
  std::memset(p, 0, total);
  write_header(p, 1, kRtcpSdes, total);
  store32(p + 4, ssrc);
  p[8] = kSdesCname;
  p[9] = static_cast<uint8_t>(cname.size());
  std::memcpy(p + 10, cname.data(), cname.size());
  return true;
}

bool RtcpWriter::add_bye(std::span<const uint32_t> ssrcs, std::string_view reason) {
  if (ssrcs.size() > kMaxReportBlocks || reason.size() > 255) return ok_ = false;
  size_t body = 4 * ssrcs.size();
  if (!reason.empty()) body += 1 + reason.size();
  const size_t total = kRtcpHeaderSize + ((body + 3) & ~size_t{3});
  uint8_t* p = reserve(total);
  if (!p) return false;
  std::memset(p, 0, total);
  write_header(p, static_cast<uint8_t>(ssrcs.size()), kRtcpBye, total);
  for (size_t i = 0; i < ssrcs.size(); ++i) store32(p + 4 + 4 * i, ssrcs[i]);
  if (!reason.empty()) {
    uint8_t* r = p + 4 + 4 * ssrcs.size();
    r[0] = static_cast<uint8_t>(reason.size());
    std::memcpy(r + 1, reason.data(), reason.size());
  }
  return true;
}

}  // namespace chorus::rtp
