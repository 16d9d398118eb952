// RFC 3550 reception statistics (A.1, A.3, A.8), sender statistics and RTT
// (§6.4.1), and the RTCP transmission interval (§6.3, A.7).
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <vector>

#include "rtp/receive_stats.hpp"
#include "rtp/rtcp.hpp"
#include "rtp/rtcp_scheduler.hpp"
#include "rtp/rtcp_time.hpp"
#include "rtp/send_stats.hpp"

namespace chorus::rtp {
namespace {

using namespace std::chrono;
using Verdict = ReceiveStats::Verdict;
const steady_clock::time_point kT0 = steady_clock::time_point{} + hours(1000);

TEST(ReceiveStats, NewSourceIsOnProbationUntilTwoInSequenceRfc3550A1) {
  ReceiveStats s(8000);
  EXPECT_EQ(s.on_packet(100, 0, kT0, 160), Verdict::kProbation);
  EXPECT_FALSE(s.valid());
  EXPECT_EQ(s.expected(), 0u);
  EXPECT_EQ(s.on_packet(101, 160, kT0 + milliseconds(20), 160), Verdict::kValid);
  EXPECT_TRUE(s.valid());
  EXPECT_EQ(s.received(), 1u);  // A.1 restarts counting at the packet that ends probation
  EXPECT_EQ(s.extended_highest_sequence(), 101u);
  EXPECT_EQ(s.expected(), 1u);
}

TEST(ReceiveStats, OutOfSequenceDuringProbationRestartsIt) {
  ReceiveStats s(8000);
  EXPECT_EQ(s.on_packet(100, 0, kT0, 0), Verdict::kProbation);
  EXPECT_EQ(s.on_packet(500, 0, kT0, 0), Verdict::kProbation);
  EXPECT_EQ(s.on_packet(501, 0, kT0, 0), Verdict::kValid);
  EXPECT_EQ(s.extended_highest_sequence(), 501u);
}

TEST(ReceiveStats, SequenceWrapExtendsTheHighestSequence) {
  ReceiveStats s(8000);
  uint16_t seq = 65530;
  for (int i = 0; i < 20; ++i, ++seq) {
    s.on_packet(seq, static_cast<uint32_t>(i * 160), kT0 + milliseconds(20 * i), 160);
  }
  // Last sequence sent: 65530 + 19 = 65549 = 1 cycle + 13.
  EXPECT_EQ(s.cycles(), 1u);
  EXPECT_EQ(s.extended_highest_sequence(), 65536u + 13u);
  EXPECT_EQ(s.expected(), 19u);  // base is 65531, the packet that ended probation
  EXPECT_EQ(s.received(), 19u);
  EXPECT_EQ(s.cumulative_lost(), 0);
  EXPECT_EQ(s.jitter(), 0u);  // perfectly paced
}

TEST(ReceiveStats, TimestampWrapDoesNotDisturbJitter) {
  ReceiveStats s(48000);
  uint32_t ts = 0xFFFFFFFFu - 960 * 5;
  for (int i = 0; i < 12; ++i, ts += 960) {
    s.on_packet(static_cast<uint16_t>(i), ts, kT0 + milliseconds(20 * i), 100);
  }
  EXPECT_EQ(s.jitter(), 0u);
}

// A sender whose timestamps jump by half the 32-bit space every packet: the
// estimate must grow towards the jump, never wrap back to a small value.
TEST(ReceiveStats, HugeTimestampJumpsSaturateRatherThanWrapJitter) {
  ReceiveStats s(8000);
  uint32_t previous = 0;
  for (int i = 0; i < 200; ++i) {
    s.on_packet(static_cast<uint16_t>(i), i % 2 ? 0x80000000u : 0u, kT0, 0);
    EXPECT_GE(s.jitter(), previous) << i;
    previous = s.jitter();
  }
  EXPECT_GT(s.jitter(), 0x70000000u);
}

// RFC 3550 A.8 by hand: 8 kHz, 20 ms packets (160 timestamp units), arrivals
// at 0, 20, 50, 60, 80, 100 ms. Transit (arrival - timestamp, in units):
// 0, 0, 80, 0, 0, 0; |D| = 0, 80, 80, 0, 0.
// J: 0 → 5 → 9.6875 → 9.08 → 8.51 (J += (|D| - J) / 16).
TEST(ReceiveStats, JitterOnAScriptedArrivalPatternMatchesHandComputationA8) {
  ReceiveStats s(8000);
  const std::array<int, 6> arrival_ms{0, 20, 50, 60, 80, 100};
  double expected = 0;
  double last_transit = 0;
  for (size_t i = 0; i < arrival_ms.size(); ++i) {
    const uint32_t ts = static_cast<uint32_t>(160 * i);
    s.on_packet(static_cast<uint16_t>(1000 + i), ts, kT0 + milliseconds(arrival_ms[i]), 160);
    const double transit = arrival_ms[i] * 8.0 - ts;
    if (i > 0) expected += (std::abs(transit - last_transit) - expected) / 16.0;
    last_transit = transit;
  }
  EXPECT_NEAR(expected, 8.514, 0.001);
  // The integer form of A.8 (J scaled by 16) truncates to 8.
  EXPECT_EQ(s.jitter(), 8u);
  EXPECT_NEAR(s.jitter_seconds(), 8.0 / 8000, 1e-12);
}

// RFC 3550 A.3: fraction lost is per reporting interval, cumulative is total.
TEST(ReceiveStats, FractionalLossOnAScriptedLossPatternA3) {
  ReceiveStats s(8000);
  auto t = kT0;
  for (uint16_t seq = 1; seq <= 50; ++seq) {
    if (seq >= 11 && seq <= 20) continue;  // a burst of 10 lost
    s.on_packet(seq, seq * 160u, t += milliseconds(20), 160);
  }
  ReportBlock rb = s.make_report_block(0xABCD, t);
  // Base 2 (probation), highest 50: expected 49, received 39.
  EXPECT_EQ(rb.ssrc, 0xABCDu);
  EXPECT_EQ(rb.extended_highest_sequence, 50u);
  EXPECT_EQ(rb.cumulative_lost, 10);
  EXPECT_EQ(rb.fraction_lost, (10 << 8) / 49);  // 52

  for (uint16_t seq = 51; seq <= 100; ++seq) {
    if (seq % 10 == 0 && seq < 100) continue;  // 60, 70, 80, 90 lost
    s.on_packet(seq, seq * 160u, t += milliseconds(20), 160);
  }
  rb = s.make_report_block(0xABCD, t);
  EXPECT_EQ(rb.cumulative_lost, 14);
  EXPECT_EQ(rb.fraction_lost, (4 << 8) / 50);  // 20

  // An interval with no loss reports zero even though cumulative stays.
  for (uint16_t seq = 101; seq <= 110; ++seq)
    s.on_packet(seq, seq * 160u, t += milliseconds(20), 0);
  rb = s.make_report_block(0xABCD, t);
  EXPECT_EQ(rb.fraction_lost, 0);
  EXPECT_EQ(rb.cumulative_lost, 14);
}

TEST(ReceiveStats, DuplicatesMakeLossNegativeButFractionZero) {
  ReceiveStats s(8000);
  auto t = kT0;
  for (uint16_t seq = 1; seq <= 10; ++seq) s.on_packet(seq, seq * 160u, t += milliseconds(20), 0);
  EXPECT_EQ(s.on_packet(5, 5 * 160u, t, 0), Verdict::kReordered);
  EXPECT_EQ(s.on_packet(5, 5 * 160u, t, 0), Verdict::kReordered);
  EXPECT_EQ(s.reordered(), 2u);
  const ReportBlock rb = s.make_report_block(1, t);
  EXPECT_EQ(rb.cumulative_lost, -2);
  EXPECT_EQ(rb.fraction_lost, 0);
}

TEST(ReceiveStats, LargeJumpNeedsTwoSequentialPacketsToRestartA1) {
  ReceiveStats s(8000);
  auto t = kT0;
  for (uint16_t seq = 1; seq <= 10; ++seq) s.on_packet(seq, seq * 160u, t += milliseconds(20), 0);
  EXPECT_EQ(s.on_packet(40000, 0, t, 0), Verdict::kBadSequence);
  EXPECT_EQ(s.extended_highest_sequence(), 10u);              // not believed yet
  EXPECT_EQ(s.on_packet(40001, 160, t, 0), Verdict::kValid);  // sender restarted
  EXPECT_EQ(s.extended_highest_sequence(), 40001u);
  EXPECT_EQ(s.received(), 1u);
  EXPECT_EQ(s.cumulative_lost(), 0);
  // A single stray packet far away is not counted and changes nothing.
  EXPECT_EQ(s.on_packet(7, 0, t, 0), Verdict::kBadSequence);
  EXPECT_EQ(s.on_packet(40002, 320, t, 0), Verdict::kValid);
  EXPECT_EQ(s.received(), 2u);
}

TEST(ReceiveStats, RestartedSenderWithNewTimestampBaseDoesNotSpikeJitter) {
  ReceiveStats s(8000);
  auto t = kT0;
  for (uint16_t seq = 1; seq <= 10; ++seq) s.on_packet(seq, seq * 160u, t += milliseconds(20), 0);
  uint32_t ts = 0x70000000;
  for (uint16_t seq = 30000; seq < 30010; ++seq, ts += 160) {
    s.on_packet(seq, ts, t += milliseconds(20), 0);
  }
  EXPECT_EQ(s.extended_highest_sequence(), 30009u);
  EXPECT_EQ(s.jitter(), 0u);
}

TEST(ReceiveStats, ResetForgetsTheSource) {
  ReceiveStats s(8000);
  s.on_packet(1, 0, kT0, 10);
  s.on_packet(2, 160, kT0, 10);
  s.reset();
  EXPECT_EQ(s.received(), 0u);
  EXPECT_EQ(s.bytes_received(), 0u);
  EXPECT_EQ(s.on_packet(900, 0, kT0, 0), Verdict::kProbation);
}

TEST(ReceiveStats, ReportBlockCarriesLsrAndDlsr) {
  ReceiveStats s(8000);
  s.on_packet(1, 0, kT0, 0);
  s.on_packet(2, 160, kT0, 0);
  const uint64_t sr_ntp = 0x12345678'9ABCDEF0ULL;
  s.on_sender_report(sr_ntp, kT0);
  const ReportBlock rb = s.make_report_block(7, kT0 + milliseconds(1500));
  EXPECT_EQ(rb.lsr, 0x56789ABCu);
  EXPECT_EQ(rb.dlsr, 98304u);  // 1.5 s in 1/65536 s
}

TEST(ReceiveStats, NoSenderReportMeansZeroLsrAndDlsr) {
  ReceiveStats s(8000);
  const ReportBlock rb = s.make_report_block(7, kT0);
  EXPECT_EQ(rb.lsr, 0u);
  EXPECT_EQ(rb.dlsr, 0u);
  EXPECT_EQ(rb.extended_highest_sequence, 0u);
}

// A full SR → RR exchange over the wire with known clocks: A sends an SR at
// wall time T, B receives it, holds it 250 ms, sends an RR; A receives the RR
// at T + 400 ms. One-way delays of 75 ms each way → RTT 150 ms.
TEST(RoundTripTime, SrToRrExchangeWithKnownTimesRfc3550Section6_4_1) {
  const system_clock::time_point wall_t{seconds(1'700'000'000) + milliseconds(123)};
  SendStats a(8000);
  a.on_packet_sent(1600, 160, kT0);
  std::array<uint8_t, 256> wire{};
  RtcpWriter sr_writer(wire);
  ASSERT_TRUE(sr_writer.add_sender_report(0xA, a.make_sender_info(to_ntp(wall_t), kT0)));

  // B receives the SR 75 ms later on its own steady clock.
  ReceiveStats b(8000);
  const auto b_clock = steady_clock::time_point{} + hours(5);
  b.on_packet(1, 0, b_clock, 160);
  b.on_packet(2, 160, b_clock, 160);
  const auto sr = parse_sender_report(*RtcpCompoundView::parse(sr_writer.bytes())->begin());
  ASSERT_TRUE(sr);
  b.on_sender_report(sr->info.ntp_timestamp, b_clock + milliseconds(75));
  const std::array blocks{b.make_report_block(0xA, b_clock + milliseconds(325))};
  std::array<uint8_t, 256> wire2{};
  RtcpWriter rr_writer(wire2);
  ASSERT_TRUE(rr_writer.add_receiver_report(0xB, blocks));

  const auto rr = parse_receiver_report(*RtcpCompoundView::parse(rr_writer.bytes())->begin());
  ASSERT_TRUE(rr);
  ASSERT_EQ(rr->blocks.size(), 1u);
  a.on_report_block(rr->blocks[0], to_ntp(wall_t + milliseconds(400)));
  ASSERT_TRUE(a.round_trip_time());
  // Compact NTP has 15 µs resolution; three roundings at most.
  const double rtt_ms = duration<double, std::milli>(*a.round_trip_time()).count();
  EXPECT_NEAR(rtt_ms, 150.0, 0.05);
  EXPECT_TRUE(a.has_remote_report());
  EXPECT_EQ(a.last_remote_report().ssrc, 0xAu);
}

TEST(SendStats, SenderInfoExtrapolatesTheRtpTimestamp) {
  SendStats s(8000);
  s.on_packet_sent(1000, 160, kT0);
  s.on_packet_sent(1160, 160, kT0 + milliseconds(20));
  const SenderInfo info = s.make_sender_info(42, kT0 + milliseconds(30));
  EXPECT_EQ(info.packet_count, 2u);
  EXPECT_EQ(info.octet_count, 320u);
  EXPECT_EQ(info.ntp_timestamp, 42u);
  EXPECT_EQ(info.rtp_timestamp, 1160u + 80u);  // 10 ms later at 8 kHz
  EXPECT_TRUE(s.sent_since(kT0 + milliseconds(10)));
  EXPECT_FALSE(s.sent_since(kT0 + milliseconds(25)));
}

// ---- RTCP transmission interval (RFC 3550 §6.3, A.7)
TEST(RtcpInterval, DeterministicIntervalFollowsA7) {
  RtcpIntervalInput in;
  in.members = 2;
  in.senders = 1;
  in.rtcp_bandwidth = 500;  // 5% of 80 kbit/s in octets/s
  in.avg_rtcp_size = 104;
  in.initial = true;
  EXPECT_DOUBLE_EQ(rtcp_deterministic_interval(in), 2.5);  // minimum, halved
  in.initial = false;
  EXPECT_DOUBLE_EQ(rtcp_deterministic_interval(in), 5.0);

  // 1000 members, 10 senders: receivers share 75% of the bandwidth.
  in.members = 1000;
  in.senders = 10;
  in.avg_rtcp_size = 100;
  EXPECT_DOUBLE_EQ(rtcp_deterministic_interval(in), 100.0 * 990 / 375.0);
  in.we_sent = true;                                                      // senders share 25%
  EXPECT_DOUBLE_EQ(rtcp_deterministic_interval(in), 100.0 * 10 / 125.0);  // 8 s
}

TEST(RtcpInterval, RandomisationSpansHalfToOneAndAHalfOverCompensation) {
  RtcpIntervalInput in;
  in.initial = false;
  in.rtcp_bandwidth = 500;
  in.avg_rtcp_size = 100;
  EXPECT_NEAR(rtcp_interval(in, 0.0), 5.0 * 0.5 / (2.71828 - 1.5), 1e-9);
  EXPECT_NEAR(rtcp_interval(in, 0.999999), 5.0 * 1.5 / (2.71828 - 1.5), 1e-4);
}

TEST(RtcpScheduler, FirstReportWithinHalfTheMinimumThenRegularIntervals) {
  RtcpScheduler::Config config;
  config.seed = 12345;
  const auto start = kT0;
  RtcpScheduler sched(config, start);
  const double lo = 0.5 / (2.71828 - 1.5), hi = 1.5 / (2.71828 - 1.5);
  auto t = start;
  auto last = start;
  int reports = 0;
  double total = 0;
  for (int tick = 0; tick < 50 * 600; ++tick, t += milliseconds(20)) {  // 10 minutes of ticks
    if (!sched.due(t)) continue;
    EXPECT_FALSE(sched.initial() && reports > 0);
    const double gap = duration<double>(t - last).count();
    const double min = reports == 0 ? 2.5 : 5.0;
    EXPECT_GE(gap, min * lo - 0.021) << reports;
    EXPECT_LE(gap, min * hi + 0.021) << reports;
    if (reports > 0) total += gap;
    sched.on_sent(t, 100);
    EXPECT_FALSE(sched.due(t));  // never twice at one instant
    last = t;
    ++reports;
  }
  ASSERT_GT(reports, 80);
  const double mean = total / (reports - 1);
  EXPECT_GT(mean, 3.5);
  EXPECT_LT(mean, 6.5);
}

TEST(RtcpScheduler, SameSeedSameScheduleDifferentSeedDifferent) {
  RtcpScheduler::Config c1;
  c1.seed = 1;
  RtcpScheduler a(c1, kT0), b(c1, kT0);
  c1.seed = 2;
  RtcpScheduler c(c1, kT0);
  EXPECT_EQ(a.next_send(), b.next_send());
  EXPECT_NE(a.next_send(), c.next_send());
}

TEST(RtcpScheduler, ReverseReconsiderationPullsTheTimerInRfc3550Section6_3_4) {
  RtcpScheduler::Config config;
  config.session_bandwidth_bps = 8000;  // tiny: the interval is driven by membership
  RtcpScheduler sched(config, kT0);
  sched.set_members(200, 2, kT0);
  auto t = kT0;
  while (!sched.due(t)) t += milliseconds(20);
  sched.on_sent(t, 100);
  const auto before = sched.next_send() - t;
  EXPECT_GT(before, seconds(10));  // 200 members share 50 octets/s
  const auto now = t + seconds(1);
  sched.set_members(20, 2, now);
  const auto after = sched.next_send() - now;
  // tn - tc scaled by members/pmembers = 20/200.
  EXPECT_NEAR(duration<double>(after).count(), duration<double>(before - seconds(1)).count() / 10,
              1e-3);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
