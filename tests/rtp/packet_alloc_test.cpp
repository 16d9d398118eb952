// The per-packet work of rtp/ packets, RTCP, statistics, scheduling and
// RFC 4733 allocates nothing (ARCHITECTURE.md "The hot path"). SRTP is left
// out on purpose: libsrtp allocates with malloc inside its crypto backend (see
// bench/RESULTS.md), which operator-new counting cannot see anyway.
#include <gtest/gtest.h>

#include <array>
#include <chrono>

#include "rtp/alloc_counter.hpp"
#include "rtp/dtmf.hpp"
#include "rtp/packet.hpp"
#include "rtp/receive_stats.hpp"
#include "rtp/rtcp.hpp"
#include "rtp/rtcp_scheduler.hpp"
#include "rtp/rtcp_time.hpp"
#include "rtp/send_stats.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::rtp {
namespace {

using namespace std::chrono;

TEST(PacketAlloc, SteadyStatePacketWorkAllocatesNothing) {
  ReceiveStats rx_stats(8000);
  SendStats tx_stats(8000);
  DtmfReceiver dtmf_rx;
  DtmfSender dtmf_tx(160);
  const auto t0 = steady_clock::time_point{} + hours(1);
  RtcpScheduler scheduler(RtcpScheduler::Config{}, t0);
  std::array<uint8_t, 256> packet{};
  std::array<uint8_t, 256> rtcp{};
  std::array<uint8_t, 160> payload{};
  std::array<uint8_t, 4> event{};
  uint64_t sink = 0;

  // Warm-up outside the measured window (first-use statics, if any).
  write_packet(packet, RtpHeader{0, false, 0, 0, 1}, payload);
  (void)PacketView::parse(packet);

  const uint64_t before = alloc::count();
  auto t = t0;
  for (uint16_t seq = 1; seq <= 500; ++seq) {
    t += milliseconds(20);
    const size_t n = write_packet(packet, RtpHeader{0, seq == 1, seq, seq * 160u, 0x1234}, payload,
                                  std::pair<uint8_t, AudioLevel>{1, AudioLevel{true, 40}});
    const auto view = PacketView::parse(std::span(packet).first(n));
    ASSERT_TRUE(view);
    sink += view->audio_level(1)->level_dbov + view->payload().size();
    rx_stats.on_packet(view->sequence(), view->timestamp(), t, view->payload().size());
    tx_stats.on_packet_sent(view->timestamp(), view->payload().size(), t);

    if (seq % 50 == 1) {
      ASSERT_TRUE(dtmf_tx.start('5', seq * 160u, 640));
    }
    if (auto p = dtmf_tx.next()) {
      event = p->payload;
      if (auto d = dtmf_rx.on_packet(p->timestamp, event)) sink += static_cast<uint64_t>(*d);
    }

    if (scheduler.due(t)) {
      RtcpWriter w(rtcp);
      const std::array blocks{rx_stats.make_report_block(0x1234, t)};
      w.add_sender_report(0x9999, tx_stats.make_sender_info(to_ntp(system_clock::now()), t),
                          blocks);
      w.add_sdes_cname(0x9999, "chorus@example.org");
      ASSERT_TRUE(w.ok());
      const auto compound = RtcpCompoundView::parse(w.bytes());
      ASSERT_TRUE(compound);
      for (const RtcpPacketView p : *compound) {
        if (auto sr = parse_sender_report(p)) {
          rx_stats.on_sender_report(sr->info.ntp_timestamp, t);
          tx_stats.on_report_block(sr->blocks[0], to_ntp(system_clock::now()));
        }
        if (auto cname = sdes_cname(p)) sink += cname->size();
      }
      scheduler.on_sent(t, w.size() + 28);
    }
  }
  EXPECT_EQ(alloc::count() - before, 0u);
  EXPECT_GT(sink, 0u);
  EXPECT_GT(rx_stats.received(), 400u);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
