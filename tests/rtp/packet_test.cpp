#include "rtp/packet.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace chorus::rtp {
namespace {

std::vector<uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<uint8_t> v;
  for (int b : list) v.push_back(static_cast<uint8_t>(b));
  return v;
}

// A hand-assembled packet: V=2, X=1, CC=2, M=1, PT=0, seq 0x1234,
// ts 0xDEADBEEF, SSRC 0x01020304, two CSRCs, one-byte extension with
// audio level (id 1) and a 2-byte element (id 3), payload "abc".
std::vector<uint8_t> sample_packet() {
  return bytes({0x92, 0x80, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02,
                0x03, 0x04, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,  // CSRCs
                0xBE, 0xDE, 0x00, 0x02,                                      // profile, 2 words
                0x10, 0x85,        // id 1 len 1: V=1, 5 dBov
                0x31, 0xAA, 0xBB,  // id 3 len 2
                0x00, 0x00, 0x00,  // padding bytes
                'a',  'b',  'c'});
}

TEST(RtpPacket, ParsesEveryHeaderField) {
  const auto buf = sample_packet();
  const auto p = PacketView::parse(buf);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version(), 2);
  EXPECT_TRUE(p->marker());
  EXPECT_EQ(p->payload_type(), 0);
  EXPECT_EQ(p->sequence(), 0x1234);
  EXPECT_EQ(p->timestamp(), 0xDEADBEEFu);
  EXPECT_EQ(p->ssrc(), 0x01020304u);
  ASSERT_EQ(p->csrc_count(), 2);
  EXPECT_EQ(p->csrc(0), 0x11111111u);
  EXPECT_EQ(p->csrc(1), 0x22222222u);
  EXPECT_EQ(p->extension_profile(), kOneByteExtensionProfile);
  EXPECT_EQ(p->header_size(), 32u);
  ASSERT_EQ(p->payload().size(), 3u);
  EXPECT_EQ(p->payload()[0], 'a');
}

TEST(RtpPacket, FindsOneByteExtensionsAndAudioLevelRfc6464) {
  const auto buf = sample_packet();
  const auto p = PacketView::parse(buf);
  ASSERT_TRUE(p);
  const auto level = p->audio_level(1);
  ASSERT_TRUE(level);
  EXPECT_TRUE(level->voice);
  EXPECT_EQ(level->level_dbov, 5);
  const auto ext3 = p->extension(3);
  ASSERT_TRUE(ext3);
  ASSERT_EQ(ext3->size(), 2u);
  EXPECT_EQ((*ext3)[1], 0xBB);
  EXPECT_FALSE(p->extension(2));
  EXPECT_FALSE(p->extension(0));  // id 0 is padding, never an element
}

TEST(RtpPacket, OneByteIdFifteenStopsParsingRfc8285Section4_2) {
  auto buf =
      bytes({0x90, 0, 0,    1,    0,    0,    0,    1,    0,    0,
             0,    1, 0xBE, 0xDE, 0x00, 0x01, 0xF0, 0x21, 0x00, 0x00});  // id 15 first, then
                                                                         // what looks like id 2
  const auto p = PacketView::parse(buf);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->extension(2));
}

TEST(RtpPacket, OneByteIdZeroIsASinglePaddingByteWhateverItsLength) {
  // 0x05 (ID 0, "length" 6) then id 2 with one byte.
  auto buf = bytes(
      {0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0x00, 0x01, 0x05, 0x20, 0x77, 0x00});
  const auto p = PacketView::parse(buf);
  ASSERT_TRUE(p);
  const auto e = p->extension(2);
  ASSERT_TRUE(e);
  ASSERT_EQ(e->size(), 1u);
  EXPECT_EQ((*e)[0], 0x77);
}

TEST(RtpPacket, TwoByteExtensionFormRfc8285Section4_3) {
  std::array<uint8_t, 20> data{};
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  const uint8_t level = 0x7F;  // no voice, silence
  const std::array elements{ExtensionElement{200, data},
                            ExtensionElement{1, std::span<const uint8_t>(&level, 1)}};
  PacketOptions options;
  options.extensions = elements;
  std::array<uint8_t, 128> out{};
  const uint8_t payload[] = {1, 2, 3};
  const size_t n = write_packet(out, RtpHeader{9, false, 7, 8, 9}, payload, options);
  ASSERT_GT(n, 0u);
  const auto p = PacketView::parse(std::span(out).first(n));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->extension_profile() & kTwoByteExtensionProfileMask, kTwoByteExtensionProfile);
  const auto e = p->extension(200);
  ASSERT_TRUE(e);
  EXPECT_TRUE(std::equal(e->begin(), e->end(), data.begin(), data.end()));
  EXPECT_EQ(p->audio_level(1), (AudioLevel{false, 127}));
  ASSERT_EQ(p->payload().size(), 3u);
  EXPECT_EQ(p->payload()[2], 3);
}

TEST(RtpPacket, PaddingIsExcludedFromPayload) {
  std::array<uint8_t, 64> out{};
  const uint8_t payload[] = {9, 9, 9, 9, 9};
  PacketOptions options;
  options.pad_to = 8;
  const size_t n = write_packet(out, RtpHeader{0, false, 1, 2, 3}, payload, options);
  ASSERT_EQ(n % 8, 0u);
  const auto p = PacketView::parse(std::span(out).first(n));
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has_padding());
  EXPECT_EQ(p->padding_size(), n - 12 - 5);
  EXPECT_EQ(p->payload().size(), 5u);
}

// STYLE.md §4: parse, serialize, clone, then overwrite the original buffer to
// catch any view that still points into it.
TEST(RtpPacket, ParseSerializeCloneSurvivesOverwritingTheOriginal) {
  auto original = sample_packet();
  const auto parsed = PacketView::parse(original);
  ASSERT_TRUE(parsed);

  // Serialize from the parsed fields into a fresh buffer.
  std::vector<uint32_t> csrcs;
  for (size_t i = 0; i < parsed->csrc_count(); ++i) csrcs.push_back(parsed->csrc(i));
  std::vector<uint8_t> ext3(parsed->extension(3)->begin(), parsed->extension(3)->end());
  const auto lvl = *parsed->audio_level(1);
  const uint8_t lvl_byte = static_cast<uint8_t>((lvl.voice ? 0x80 : 0) | lvl.level_dbov);
  const std::array elements{ExtensionElement{1, std::span<const uint8_t>(&lvl_byte, 1)},
                            ExtensionElement{3, ext3}};
  PacketOptions options;
  options.csrcs = csrcs;
  options.extensions = elements;
  std::vector<uint8_t> serialized(256);
  const size_t n = write_packet(serialized,
                                RtpHeader{parsed->payload_type(), parsed->marker(),
                                          parsed->sequence(), parsed->timestamp(), parsed->ssrc()},
                                parsed->payload(), options);
  ASSERT_GT(n, 0u);
  serialized.resize(n);

  // Clone the original bytes, then destroy the original.
  std::vector<uint8_t> clone(original.begin(), original.end());
  std::memset(original.data(), 0xAA, original.size());

  for (const auto* buf : {&serialized, &clone}) {
    const auto p = PacketView::parse(*buf);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->sequence(), 0x1234);
    EXPECT_EQ(p->timestamp(), 0xDEADBEEFu);
    EXPECT_EQ(p->ssrc(), 0x01020304u);
    EXPECT_EQ(p->csrc(1), 0x22222222u);
    EXPECT_EQ(p->audio_level(1), (AudioLevel{true, 5}));
    ASSERT_EQ(p->payload().size(), 3u);
    EXPECT_EQ(std::memcmp(p->payload().data(), "abc", 3), 0);
  }
  // The serialized form is byte-identical to the original layout.
  EXPECT_EQ(serialized, clone);
}

TEST(RtpPacket, WritePacketWithAudioLevelRoundTrips) {
  std::array<uint8_t, 200> out{};
  std::array<uint8_t, 160> pcmu{};
  pcmu.fill(0xFF);
  const size_t n = write_packet(out, RtpHeader{0, true, 65535, 4294967295u, 42}, pcmu,
                                std::pair<uint8_t, AudioLevel>{4, AudioLevel{true, 30}});
  ASSERT_EQ(n, 12u + 8u + 160u);
  const auto p = PacketView::parse(std::span(out).first(n));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->sequence(), 65535);
  EXPECT_EQ(p->timestamp(), 4294967295u);
  EXPECT_EQ(p->audio_level(4), (AudioLevel{true, 30}));
  EXPECT_EQ(p->payload().size(), 160u);
}

TEST(RtpPacket, WritePacketReturnsZeroWhenItDoesNotFit) {
  std::array<uint8_t, 180> out{};
  std::array<uint8_t, 160> payload{};
  const RtpHeader h{0, false, 1, 1, 1};
  EXPECT_EQ(write_packet(std::span(out).first(172), h, payload), 172u);
  EXPECT_EQ(write_packet(std::span(out).first(171), h, payload), 0u);
  // The audio-level extension needs 8 more bytes.
  EXPECT_EQ(write_packet(std::span(out).first(179), h, payload,
                         std::pair<uint8_t, AudioLevel>{1, AudioLevel{false, 0}}),
            0u);
  EXPECT_EQ(write_packet(std::span(out).first(11), h, {}), 0u);
  EXPECT_EQ(write_packet(out, RtpHeader{128, false, 1, 1, 1}, {}), 0u);  // PT is 7 bits
  // An extension id the one-byte form can't carry (15) and data the two-byte
  // form can't carry (256 bytes) are refused, not truncated.
  std::array<uint8_t, 256> big{};
  const std::array bad{ExtensionElement{1, big}};
  PacketOptions options;
  options.extensions = bad;
  std::array<uint8_t, 600> large{};
  EXPECT_EQ(write_packet(large, h, {}, options), 0u);
}

TEST(RtpPacket, RejectsMalformedInput) {
  const auto good = sample_packet();
  EXPECT_FALSE(PacketView::parse({}));
  EXPECT_FALSE(PacketView::parse(std::span(good).first(11)));
  // Truncations through the CSRC list and the extension.
  for (size_t n = 12; n < 32; ++n) {
    EXPECT_FALSE(PacketView::parse(std::span(good).first(n))) << n;
  }
  auto v1 = good;
  v1[0] = static_cast<uint8_t>((v1[0] & 0x3F) | 0x40);  // version 1
  EXPECT_FALSE(PacketView::parse(v1));
  auto huge_ext = good;
  huge_ext[23] = 0xFF;  // extension length 255 words
  EXPECT_FALSE(PacketView::parse(huge_ext));
  auto pad_zero = good;
  pad_zero[0] |= 0x20;
  pad_zero.back() = 0;
  EXPECT_FALSE(PacketView::parse(pad_zero));
  auto pad_too_big = good;
  pad_too_big[0] |= 0x20;
  pad_too_big.back() = 4;  // only 3 payload bytes after the header
  EXPECT_FALSE(PacketView::parse(pad_too_big));
  auto cc15 = bytes({0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});  // 15 CSRCs promised, none there
  EXPECT_FALSE(PacketView::parse(cc15));
}

// Under SRTP the padding count sits in the encrypted payload and the auth tag
// ends the datagram, so the last byte means nothing before unprotect.
TEST(RtpPacket, ParseHeaderIgnoresThePaddingCount) {
  auto buf = bytes({0xA0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 0xFF});
  EXPECT_FALSE(PacketView::parse(buf));  // 255 bytes of padding don't fit
  const auto p = PacketView::parse_header(buf);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has_padding());
  EXPECT_EQ(p->padding_size(), 0);
  EXPECT_EQ(p->payload().size(), 4u);
  // Header checks still apply.
  EXPECT_FALSE(PacketView::parse_header(std::span(buf).first(11)));
  buf[0] = 0xA3;  // three CSRCs promised, one word there
  EXPECT_FALSE(PacketView::parse_header(buf));
}

TEST(RtpPacket, PaddingMayConsumeTheWholePayload) {
  auto buf = bytes({0xA0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 4});
  const auto p = PacketView::parse(buf);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->payload().empty());
}

TEST(RtpPacket, MalformedExtensionElementsAreNotFound) {
  // One-byte element claims 16 bytes in a 4-byte block.
  auto buf = bytes(
      {0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0x00, 0x01, 0x1F, 0x00, 0x00, 0x00});
  const auto p = PacketView::parse(buf);
  ASSERT_TRUE(p);  // the RTP header itself is fine
  EXPECT_FALSE(p->extension(1));
  EXPECT_FALSE(p->audio_level(1));
  EXPECT_FALSE(extension_block_valid(p->extension_profile(), p->extension_block()));
  // Unknown profile: no RFC 8285 elements at all.
  buf[12] = 0x12;
  buf[13] = 0x34;
  buf[16] = 0x10;
  const auto q = PacketView::parse(buf);
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->extension(1));
}

TEST(RtpPacket, DemultiplexesRtcpRfc5761Section4) {
  EXPECT_TRUE(is_rtcp(bytes({0x80, 200, 0, 6})));          // SR
  EXPECT_TRUE(is_rtcp(bytes({0x81, 201, 0, 7})));          // RR
  EXPECT_TRUE(is_rtcp(bytes({0x80, 206, 0, 2})));          // PSFB
  EXPECT_FALSE(is_rtcp(bytes({0x80, 0x00, 0, 1})));        // PCMU
  EXPECT_FALSE(is_rtcp(bytes({0x80, 0x80 | 111, 0, 1})));  // Opus with marker
  EXPECT_FALSE(is_rtcp(bytes({0x80, 101, 0, 1})));         // telephone-event
  EXPECT_FALSE(is_rtcp(bytes({0x80})));
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
