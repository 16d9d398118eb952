#include "rtp/rtcp.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "rtp/rtcp_time.hpp"

namespace chorus::rtp {
namespace {

ReportBlock block(uint32_t ssrc, int32_t lost) {
  return ReportBlock{ssrc, 51, lost, 0x0001FFFF, 123, 0xABCD1234, 0x00018000};
}

// SR with two report blocks + SDES CNAME + BYE with reason.
std::vector<uint8_t> build_compound() {
  std::vector<uint8_t> buf(512);
  RtcpWriter w(buf);
  const std::array blocks{block(0x11111111, 7), block(0x22222222, -3)};
  EXPECT_TRUE(w.add_sender_report(
      0xCAFEBABE, SenderInfo{0xE1234567'89ABCDEFULL, 160000, 1000, 160000}, blocks));
  EXPECT_TRUE(w.add_sdes_cname(0xCAFEBABE, "chorus@example.org"));
  const std::array<uint32_t, 1> bye{0xCAFEBABE};
  EXPECT_TRUE(w.add_bye(bye, "conference ended"));
  EXPECT_TRUE(w.ok());
  buf.resize(w.size());
  return buf;
}

void expect_compound(std::span<const uint8_t> bytes) {
  const auto compound = RtcpCompoundView::parse(bytes);
  ASSERT_TRUE(compound);
  EXPECT_EQ(compound->packet_count(), 3u);
  EXPECT_TRUE(compound->starts_with_report());
  auto it = compound->begin();

  const auto sr = parse_sender_report(*it);
  ASSERT_TRUE(sr);
  EXPECT_EQ(sr->ssrc, 0xCAFEBABEu);
  EXPECT_EQ(sr->info, (SenderInfo{0xE1234567'89ABCDEFULL, 160000, 1000, 160000}));
  ASSERT_EQ(sr->blocks.size(), 2u);
  EXPECT_EQ(sr->blocks[0], block(0x11111111, 7));
  EXPECT_EQ(sr->blocks[1], block(0x22222222, -3));  // 24-bit sign extension
  EXPECT_FALSE(parse_receiver_report(*it));

  ++it;
  EXPECT_EQ((*it).packet_type(), kRtcpSdes);
  EXPECT_EQ(sdes_cname(*it), "chorus@example.org");
  EXPECT_EQ(sdes_cname(*it, 0xCAFEBABE), "chorus@example.org");
  EXPECT_FALSE(sdes_cname(*it, 0x12345678));

  ++it;
  const auto bye = parse_bye(*it);
  ASSERT_TRUE(bye);
  ASSERT_EQ(bye->size(), 1u);
  EXPECT_EQ(bye->ssrc(0), 0xCAFEBABEu);
  EXPECT_EQ(bye->reason, "conference ended");
  ++it;
  EXPECT_TRUE(it == compound->end());
}

TEST(Rtcp, CompoundRoundTripRfc3550Section6_1) {
  const auto buf = build_compound();
  EXPECT_EQ(buf.size() % 4, 0u);
  expect_compound(buf);
}

TEST(Rtcp, CloneSurvivesOverwritingTheOriginal) {
  auto original = build_compound();
  std::vector<uint8_t> clone(original.begin(), original.end());
  std::memset(original.data(), 0xAA, original.size());
  expect_compound(clone);
  EXPECT_FALSE(RtcpCompoundView::parse(original));  // V=2 check fails on 0xAA
}

TEST(Rtcp, ReceiverReportWithoutBlocks) {
  std::array<uint8_t, 8> buf{};
  RtcpWriter w(buf);
  ASSERT_TRUE(w.add_receiver_report(0x01020304));
  EXPECT_EQ(w.size(), 8u);
  const auto c = RtcpCompoundView::parse(w.bytes());
  ASSERT_TRUE(c);
  const auto rr = parse_receiver_report(*c->begin());
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->ssrc, 0x01020304u);
  EXPECT_EQ(rr->blocks.size(), 0u);
}

TEST(Rtcp, CumulativeLossIsClampedTo24BitsOnTheWire) {
  std::array<uint8_t, 64> buf{};
  RtcpWriter w(buf);
  const std::array blocks{block(1, 50'000'000), block(2, -50'000'000)};
  ASSERT_TRUE(w.add_receiver_report(9, blocks));
  const auto rr = parse_receiver_report(*RtcpCompoundView::parse(w.bytes())->begin());
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->blocks[0].cumulative_lost, 0x7FFFFF);
  EXPECT_EQ(rr->blocks[1].cumulative_lost, -0x800000);
}

TEST(Rtcp, WriterStopsCleanlyWhenOutOfRoom) {
  std::array<uint8_t, 40> buf{};
  RtcpWriter w(buf);
  EXPECT_TRUE(w.add_receiver_report(1));  // 8 bytes
  const std::array one{block(2, 0)};
  EXPECT_FALSE(w.add_sender_report(1, SenderInfo{}, one));  // 52 more bytes: no room
  EXPECT_FALSE(w.ok());
  // Nothing after a failure, and what was written is still a valid compound.
  EXPECT_EQ(w.size(), 8u);
  EXPECT_TRUE(RtcpCompoundView::parse(w.bytes()));
  RtcpWriter w2(buf);
  EXPECT_FALSE(w2.add_sdes_cname(1, ""));
  EXPECT_FALSE(w2.add_sdes_cname(1, std::string(256, 'x')));
}

TEST(Rtcp, SdesWithSeveralChunksAndItems) {
  // Two chunks: (ssrc 1: NAME "ab", CNAME "c", END + pad), (ssrc 2: CNAME "zz", END + pad).
  const std::vector<uint8_t> buf = {0x82, 202, 0x00, 0x06,                                //
                                    0,    0,   0,    1,    2, 2, 'a', 'b', 1, 1, 'c', 0,  //
                                    0,    0,   0,    2,    1, 2, 'z', 'z', 0, 0, 0,   0};
  const auto c = RtcpCompoundView::parse(buf);
  ASSERT_TRUE(c);
  const auto sdes = *c->begin();
  EXPECT_EQ(sdes_cname(sdes), "c");
  EXPECT_EQ(sdes_cname(sdes, 2), "zz");
  int items = 0;
  EXPECT_TRUE(for_each_sdes_item(sdes, [&](uint32_t, uint8_t, std::string_view) { ++items; }));
  EXPECT_EQ(items, 3);
}

TEST(Rtcp, RejectsMalformedCompounds) {
  const auto good = build_compound();
  EXPECT_FALSE(RtcpCompoundView::parse({}));
  // Every truncation that cuts a packet short fails.
  for (size_t n = 1; n < good.size(); ++n) {
    const auto c = RtcpCompoundView::parse(std::span(good).first(n));
    if (c) {
      // Only prefixes ending exactly after the SR (76) or the SDES (76 + 32) parse.
      EXPECT_TRUE(n == 76 || n == 108) << n;
    }
  }
  auto bad_version = good;
  bad_version[0] = 0x40 | (bad_version[0] & 0x3F);
  EXPECT_FALSE(RtcpCompoundView::parse(bad_version));
  auto too_long = good;
  too_long[3] = 0xFF;  // first packet claims 1 KiB
  EXPECT_FALSE(RtcpCompoundView::parse(too_long));
  auto padded_first = good;
  padded_first[0] |= 0x20;  // padding on a packet that is not the last
  EXPECT_FALSE(RtcpCompoundView::parse(padded_first));
}

TEST(Rtcp, ReportCountMustMatchLength) {
  std::array<uint8_t, 8> buf{};
  RtcpWriter w(buf);
  ASSERT_TRUE(w.add_receiver_report(5));
  buf[0] = 0x80 | 3;  // claims three blocks in an 8-byte packet
  const auto c = RtcpCompoundView::parse(buf);
  ASSERT_TRUE(c);  // the compound framing is fine
  EXPECT_FALSE(parse_receiver_report(*c->begin()));
}

TEST(Rtcp, PaddingOnTheLastPacketIsStrippedFromTheBody) {
  // BYE for one SSRC, padded with 4 bytes (count 4).
  const std::vector<uint8_t> buf = {0xA1, 203, 0x00, 0x02, 0, 0, 0, 9, 0, 0, 0, 4};
  const auto c = RtcpCompoundView::parse(buf);
  ASSERT_TRUE(c);
  const auto bye = parse_bye(*c->begin());
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->ssrc(0), 9u);
  EXPECT_TRUE(bye->reason.empty());
  auto bad = buf;
  bad.back() = 9;  // more padding than body
  EXPECT_FALSE(RtcpCompoundView::parse(bad));
  bad.back() = 0;
  EXPECT_FALSE(RtcpCompoundView::parse(bad));
}

TEST(Rtcp, ByeReasonMustFit) {
  const std::vector<uint8_t> buf = {0x81, 203, 0x00, 0x02, 0, 0, 0, 9, 10, 'a', 'b', 'c'};
  const auto c = RtcpCompoundView::parse(buf);
  ASSERT_TRUE(c);
  EXPECT_FALSE(parse_bye(*c->begin()));
}

TEST(Rtcp, TruncatedSdesIsRejected) {
  // Item length 9 overruns the chunk.
  const std::vector<uint8_t> buf = {0x81, 202, 0x00, 0x02, 0, 0, 0, 1, 1, 9, 'a', 'b'};
  const auto c = RtcpCompoundView::parse(buf);
  ASSERT_TRUE(c);
  EXPECT_FALSE(sdes_cname(*c->begin()));
  EXPECT_FALSE(for_each_sdes_item(*c->begin(), [](uint32_t, uint8_t, std::string_view) {}));
}

// ---- NTP helpers (RFC 3550 §4, §6.4.1)
TEST(RtcpTime, NtpConversionOfAKnownInstant) {
  using namespace std::chrono;
  // 2000-01-01T00:00:00.5Z is 946684800.5 s after the Unix epoch.
  const system_clock::time_point t{seconds(946684800) + milliseconds(500)};
  const uint64_t ntp = to_ntp(t);
  EXPECT_EQ(ntp >> 32, 946684800u + kNtpUnixEpochOffset);
  EXPECT_EQ(static_cast<uint32_t>(ntp), 0x80000000u);
  EXPECT_EQ(ntp_middle32(ntp),
            static_cast<uint32_t>(((946684800u + kNtpUnixEpochOffset) << 16) | 0x8000u));
}

TEST(RtcpTime, CompactNtpRoundTrip) {
  using namespace std::chrono;
  EXPECT_EQ(to_compact_ntp(seconds(1)), 65536u);
  EXPECT_EQ(to_compact_ntp(milliseconds(500)), 32768u);
  EXPECT_EQ(to_compact_ntp(nanoseconds(-5)), 0u);
  EXPECT_EQ(to_compact_ntp(hours(100'000)), 0xFFFFFFFFu);
  EXPECT_EQ(from_compact_ntp(65536 * 3), seconds(3));
}

// RFC 3550 §6.4.1's own example: A = 0xb710:8000 (46864.500 s), LSR =
// 0xb705:2000 (46853.125 s), DLSR = 0x0005:4000 (5.250 s) → RTT 6.125 s.
TEST(RtcpTime, RoundTripTimeMatchesRfc3550Example) {
  const auto rtt = round_trip_time(0xB7108000u, 0xB7052000u, 0x00054000u);
  ASSERT_TRUE(rtt);
  EXPECT_EQ(*rtt, std::chrono::milliseconds(6125));
  EXPECT_FALSE(round_trip_time(0xB7108000u, 0, 0));                      // no SR yet
  EXPECT_FALSE(round_trip_time(0xB7052000u, 0xB7108000u, 0x00054000u));  // negative
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
