// RFC 7983 §7 first-byte demultiplexing and the RFC 5761 §4 RTP/RTCP split.
#include "webrtc/demux.hpp"

#include <gtest/gtest.h>

#include <array>

namespace chorus::webrtc {
namespace {

PacketKind kind_of(uint8_t first, uint8_t second, size_t size = 64) {
  std::array<uint8_t, 64> d{};
  d[0] = first;
  d[1] = second;
  return classify(std::span(d).first(size));
}

TEST(Demux, FirstByteRangesOfRfc7983) {
  for (int b = 0; b < 256; ++b) {
    SCOPED_TRACE(b);
    const PacketKind k = kind_of(static_cast<uint8_t>(b), 96);
    if (b <= 3) {
      EXPECT_EQ(k, PacketKind::kStun);
    } else if (b >= 20 && b <= 63) {
      EXPECT_EQ(k, PacketKind::kDtls);
    } else if (b >= 128 && b <= 191) {
      EXPECT_EQ(k, PacketKind::kRtp);
    } else {
      EXPECT_EQ(k, PacketKind::kDrop);  // ZRTP 16–19, TURN channels 64–79, the rest
    }
  }
}

TEST(Demux, RtcpPacketTypes192To223UnderRtcpMux) {
  EXPECT_EQ(kind_of(0x80, 200), PacketKind::kRtcp);  // SR
  EXPECT_EQ(kind_of(0x81, 201), PacketKind::kRtcp);  // RR
  EXPECT_EQ(kind_of(0x81, 205), PacketKind::kRtcp);  // RTPFB
  EXPECT_EQ(kind_of(0x80, 192), PacketKind::kRtcp);
  EXPECT_EQ(kind_of(0x80, 223), PacketKind::kRtcp);
  EXPECT_EQ(kind_of(0x80, 191), PacketKind::kRtp);         // PT 63 with marker
  EXPECT_EQ(kind_of(0x80, 224), PacketKind::kRtp);         // PT 96 with marker
  EXPECT_EQ(kind_of(0x80, 111), PacketKind::kRtp);         // Opus without marker
  EXPECT_EQ(kind_of(0x80, 0x80 | 111), PacketKind::kRtp);  // Opus with marker
}

TEST(Demux, TooShortForItsKindIsDropped) {
  EXPECT_EQ(classify({}), PacketKind::kDrop);
  EXPECT_EQ(kind_of(0x00, 0x01, kMinStun - 1), PacketKind::kDrop);
  EXPECT_EQ(kind_of(0x00, 0x01, kMinStun), PacketKind::kStun);
  EXPECT_EQ(kind_of(22, 0xFE, kMinDtls - 1), PacketKind::kDrop);
  EXPECT_EQ(kind_of(22, 0xFE, kMinDtls), PacketKind::kDtls);
  EXPECT_EQ(kind_of(0x80, 111, kMinRtp - 1), PacketKind::kDrop);
  EXPECT_EQ(kind_of(0x80, 200, kMinRtcp - 1), PacketKind::kDrop);
  EXPECT_EQ(kind_of(0x80, 200, kMinRtcp), PacketKind::kRtcp);
  EXPECT_EQ(kind_of(0x80, 111, 1), PacketKind::kDrop);
}

static_assert(classify(std::array<uint8_t, 20>{0x00, 0x01}) == PacketKind::kStun);

}  // namespace
}  // namespace chorus::webrtc

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
