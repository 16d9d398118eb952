// libFuzzer target for everything rtp/ parses off the network: RTP packets
// (header, CSRCs, RFC 8285 extensions, RFC 6464 level, padding), RTCP
// compound packets (SR, RR, SDES, BYE), RFC 4733 payloads, the RFC 3550
// statistics fed from parsed headers, and SRTP/SRTCP unprotect.
//
// The first input byte picks the path; the rest is the datagram.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "rtp/dtmf.hpp"
#include "rtp/packet.hpp"
#include "rtp/receive_stats.hpp"
#include "rtp/rtcp.hpp"
#include "rtp/srtp.hpp"

namespace {

using namespace chorus::rtp;

// Touch every byte a view claims to cover so ASan sees any overrun.
volatile uint32_t g_sink = 0;
void consume(std::span<const uint8_t> s) {
  uint32_t acc = 0;
  for (uint8_t b : s) acc += b;
  g_sink = g_sink + acc;
}

void fuzz_rtp(std::span<const uint8_t> data) {
  if (const auto h = PacketView::parse_header(data)) consume(h->payload());
  const auto p = PacketView::parse(data);
  if (!p) return;
  g_sink = g_sink + p->payload_type() + p->marker() + p->sequence() + p->timestamp() + p->ssrc();
  for (size_t i = 0; i < p->csrc_count(); ++i) g_sink = g_sink + p->csrc(i);
  consume(p->payload());
  consume(p->extension_block());
  ExtensionIterator it(p->extension_profile(), p->extension_block());
  while (auto e = it.next()) consume(e->data);
  for (uint8_t id = 0; id < 16; ++id) {
    if (auto e = p->extension(id)) consume(*e);
    if (auto level = p->audio_level(id)) g_sink = g_sink + level->level_dbov;
  }
  // Re-serialize what was parsed; it must parse again with the same payload.
  std::array<uint8_t, 2048> out;
  const size_t n = write_packet(
      out, RtpHeader{p->payload_type(), p->marker(), p->sequence(), p->timestamp(), p->ssrc()},
      p->payload());
  if (n != 0) {
    const auto again = PacketView::parse(std::span(out).first(n));
    if (!again || again->payload().size() != p->payload().size()) __builtin_trap();
  }
  // A stream of such headers through the statistics and the DTMF receiver.
  static ReceiveStats stats(8000);
  static DtmfReceiver dtmf;
  static auto t = std::chrono::steady_clock::time_point{};
  t += std::chrono::milliseconds(p->sequence() % 64);
  stats.on_packet(p->sequence(), p->timestamp(), t, p->payload().size());
  const ReportBlock rb = stats.make_report_block(p->ssrc(), t);
  g_sink = g_sink + rb.fraction_lost + rb.jitter;
  if (auto digit = dtmf.on_packet(p->timestamp(), p->payload())) g_sink = g_sink + *digit;
}

void fuzz_rtcp(std::span<const uint8_t> data) {
  (void)is_rtcp(data);
  const auto compound = RtcpCompoundView::parse(data);
  if (!compound) return;
  g_sink = g_sink + compound->starts_with_report();
  for (const RtcpPacketView packet : *compound) {
    consume(packet.bytes());
    consume(packet.body());
    if (auto ssrc = packet.sender_ssrc()) g_sink = g_sink + *ssrc;
    if (auto sr = parse_sender_report(packet)) {
      for (size_t i = 0; i < sr->blocks.size(); ++i) g_sink = g_sink + sr->blocks[i].jitter;
    }
    if (auto rr = parse_receiver_report(packet)) {
      for (size_t i = 0; i < rr->blocks.size(); ++i) {
        g_sink = g_sink + static_cast<uint32_t>(rr->blocks[i].cumulative_lost);
      }
    }
    for_each_sdes_item(packet, [](uint32_t ssrc, uint8_t type, std::string_view value) {
      g_sink = g_sink + ssrc + type;
      consume(std::span(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
    });
    if (auto cname = sdes_cname(packet)) g_sink = g_sink + static_cast<uint32_t>(cname->size());
    if (auto bye = parse_bye(packet)) {
      for (size_t i = 0; i < bye->size(); ++i) g_sink = g_sink + bye->ssrc(i);
      g_sink = g_sink + static_cast<uint32_t>(bye->reason.size());
    }
  }
}

void fuzz_dtmf(std::span<const uint8_t> data) {
  // Each 8-byte record: 4-byte RTP timestamp + 4-byte telephone-event payload.
  static DtmfReceiver receiver;
  for (size_t pos = 0; pos + 8 <= data.size(); pos += 8) {
    uint32_t ts;
    std::memcpy(&ts, data.data() + pos, 4);
    if (auto d = receiver.on_packet(ts, data.subspan(pos + 4, 4))) g_sink = g_sink + *d;
  }
  if (auto e = parse_dtmf_event(data)) g_sink = g_sink + e->duration;
}

void fuzz_srtp(std::span<const uint8_t> data, bool rtcp) {
  static const std::array<uint8_t, 30> key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  static auto session =
      SrtpSession::create(SrtpSuite::kAesCm128HmacSha1_80, key, SrtpSession::Direction::kInbound);
  if (!session || data.size() > 1500) return;
  std::array<uint8_t, 1500> buf;
  std::memcpy(buf.data(), data.data(), data.size());
  size_t len = data.size();
  const bool ok =
      rtcp ? session->unprotect_rtcp(buf.data(), len) : session->unprotect_rtp(buf.data(), len);
  if (ok && len > data.size()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> input(data + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      fuzz_rtp(input);
      break;
    case 1:
      fuzz_rtcp(input);
      break;
    case 2:
      fuzz_dtmf(input);
      break;
    case 3:
      fuzz_srtp(input, false);
      break;
    case 4:
      fuzz_srtp(input, true);
      break;
  }
  return 0;
}
