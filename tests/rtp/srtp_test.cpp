// SRTP / SRTCP through libsrtp2 (RFC 3711, RFC 7714): known-answer vectors,
// round trips per supported suite, tamper, replay and plain-RTP rejection.
#include "rtp/srtp.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "rtp/packet.hpp"
#include "rtp/rtcp.hpp"

namespace chorus::rtp {
namespace {

using Direction = SrtpSession::Direction;

// RFC 3711 Appendix B.3 master key and salt; the packets below are the
// reference SRTP/SRTCP packets libsrtp validates itself against
// (srtp_validate), made with AES_CM_128_HMAC_SHA1_80 and SSRC 0xcafebabe.
constexpr std::array<uint8_t, 30> kVectorKeySalt = {
    0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41,
    0x39, 0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};
constexpr std::array<uint8_t, 28> kVectorRtp = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
constexpr std::array<uint8_t, 38> kVectorSrtp = {
    0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e,
    0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d,
    0x24, 0x02, 0xb7, 0x8d, 0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb};
constexpr std::array<uint8_t, 24> kVectorRtcp = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
                                                 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                                 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
constexpr std::array<uint8_t, 38> kVectorSrtcp = {
    0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28, 0x03, 0x5b, 0xe4,
    0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00,
    0x00, 0x01, 0x99, 0x3e, 0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98};

constexpr std::array kAllSuites = {SrtpSuite::kAesCm128HmacSha1_80, SrtpSuite::kAesCm128HmacSha1_32,
                                   SrtpSuite::kAeadAes128Gcm, SrtpSuite::kAeadAes256Gcm};

std::vector<uint8_t> key_for(SrtpSuite suite, uint8_t seed) {
  std::vector<uint8_t> key(srtp_key_salt_size(suite));
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed + 7 * i);
  return key;
}

struct Buffer {
  std::array<uint8_t, 1500> data{};
  size_t len = 0;
};

Buffer rtp_packet(uint16_t seq, uint32_t ssrc = 0x11223344, size_t payload_size = 160) {
  Buffer b;
  std::vector<uint8_t> payload(payload_size);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(seq + i);
  b.len = write_packet(b.data, RtpHeader{0, false, seq, seq * 160u, ssrc}, payload);
  return b;
}

Buffer rtcp_packet(uint32_t ssrc, uint32_t rtp_ts) {
  Buffer b;
  RtcpWriter w(b.data);
  w.add_sender_report(ssrc, SenderInfo{0x1111222233334444ULL, rtp_ts, 10, 1600});
  w.add_sdes_cname(ssrc, "srtp@test");
  b.len = w.size();
  return b;
}

TEST(Srtp, SuiteNamesAndKeySizesRfc4568AndRfc7714) {
  EXPECT_EQ(srtp_suite_from_name("AES_CM_128_HMAC_SHA1_80"), SrtpSuite::kAesCm128HmacSha1_80);
  EXPECT_EQ(srtp_suite_from_name("AES_CM_128_HMAC_SHA1_32"), SrtpSuite::kAesCm128HmacSha1_32);
  EXPECT_EQ(srtp_suite_from_name("AEAD_AES_128_GCM"), SrtpSuite::kAeadAes128Gcm);
  EXPECT_EQ(srtp_suite_from_name("AEAD_AES_256_GCM"), SrtpSuite::kAeadAes256Gcm);
  EXPECT_FALSE(srtp_suite_from_name("F8_128_HMAC_SHA1_80"));
  EXPECT_FALSE(srtp_suite_from_name("aes_cm_128_hmac_sha1_80"));
  for (SrtpSuite s : kAllSuites) EXPECT_EQ(srtp_suite_from_name(srtp_suite_name(s)), s);
  EXPECT_EQ(srtp_key_salt_size(SrtpSuite::kAesCm128HmacSha1_80), 30u);
  EXPECT_EQ(srtp_key_salt_size(SrtpSuite::kAesCm128HmacSha1_32), 30u);
  EXPECT_EQ(srtp_key_salt_size(SrtpSuite::kAeadAes128Gcm), 28u);
  EXPECT_EQ(srtp_key_salt_size(SrtpSuite::kAeadAes256Gcm), 44u);
}

TEST(Srtp, ReportsLibraryAndSupportedSuites) {
  std::string supported;
  for (SrtpSuite s : kAllSuites) {
    if (srtp_suite_supported(s)) supported += std::string(srtp_suite_name(s)) + " ";
  }
  std::printf("libsrtp: %s (%s); supported suites: %s\n",
              std::string(srtp_library_version()).c_str(), std::string(srtp_backend()).c_str(),
              supported.c_str());
  ::testing::Test::RecordProperty("libsrtp", std::string(srtp_library_version()));
  ::testing::Test::RecordProperty("srtp_backend", std::string(srtp_backend()));
  ::testing::Test::RecordProperty("srtp_suites", supported);
  EXPECT_FALSE(srtp_library_version().empty());
  // AES-CM is in every libsrtp build.
  EXPECT_TRUE(srtp_suite_supported(SrtpSuite::kAesCm128HmacSha1_80));
  EXPECT_TRUE(srtp_suite_supported(SrtpSuite::kAesCm128HmacSha1_32));
}

// The OpenSSL build is linked statically: the system's NSS-backed libsrtp2
// must not be mapped beside it (its symbols would shadow or be shadowed by
// ours), and GCM, which needs a crypto backend, must work.
TEST(Srtp, OpenSslBuildIsTheOnlyLibsrtpInTheProcess) {
  const std::string backend(srtp_backend());
  if (backend.find("OpenSSL") == std::string::npos) {
    GTEST_SKIP() << "system libsrtp2 in use: " << backend;
  }
  std::ifstream maps("/proc/self/maps");
  ASSERT_TRUE(maps.good());
  std::string line;
  while (std::getline(maps, line)) {
    EXPECT_EQ(line.find("libsrtp2.so"), std::string::npos) << line;
    EXPECT_EQ(line.find("libnss3.so"), std::string::npos) << line;
  }
  EXPECT_TRUE(srtp_suite_supported(SrtpSuite::kAeadAes128Gcm));
  EXPECT_TRUE(srtp_suite_supported(SrtpSuite::kAeadAes256Gcm));
}

TEST(Srtp, KnownAnswerRtpAesCm128HmacSha1_80) {
  auto tx =
      SrtpSession::create(SrtpSuite::kAesCm128HmacSha1_80, kVectorKeySalt, Direction::kOutbound);
  ASSERT_TRUE(tx);
  Buffer b;
  std::memcpy(b.data.data(), kVectorRtp.data(), kVectorRtp.size());
  b.len = kVectorRtp.size();
  ASSERT_TRUE(tx->protect_rtp(b.data.data(), b.len, b.data.size()));
  ASSERT_EQ(b.len, kVectorSrtp.size());
  EXPECT_EQ(std::memcmp(b.data.data(), kVectorSrtp.data(), b.len), 0);

  auto rx =
      SrtpSession::create(SrtpSuite::kAesCm128HmacSha1_80, kVectorKeySalt, Direction::kInbound);
  ASSERT_TRUE(rx);
  std::memcpy(b.data.data(), kVectorSrtp.data(), kVectorSrtp.size());
  b.len = kVectorSrtp.size();
  ASSERT_TRUE(rx->unprotect_rtp(b.data.data(), b.len));
  ASSERT_EQ(b.len, kVectorRtp.size());
  EXPECT_EQ(std::memcmp(b.data.data(), kVectorRtp.data(), b.len), 0);
}

TEST(Srtp, KnownAnswerRtpAesCm128HmacSha1_32IsTheTruncatedTag) {
  auto tx =
      SrtpSession::create(SrtpSuite::kAesCm128HmacSha1_32, kVectorKeySalt, Direction::kOutbound);
  ASSERT_TRUE(tx);
  Buffer b;
  std::memcpy(b.data.data(), kVectorRtp.data(), kVectorRtp.size());
  b.len = kVectorRtp.size();
  ASSERT_TRUE(tx->protect_rtp(b.data.data(), b.len, b.data.size()));
  ASSERT_EQ(b.len, 32u);  // 4-byte tag
  EXPECT_EQ(std::memcmp(b.data.data(), kVectorSrtp.data(), 32), 0);
}

TEST(Srtp, KnownAnswerSrtcpAesCm128HmacSha1_80) {
  auto tx =
      SrtpSession::create(SrtpSuite::kAesCm128HmacSha1_80, kVectorKeySalt, Direction::kOutbound);
  ASSERT_TRUE(tx);
  Buffer b;
  std::memcpy(b.data.data(), kVectorRtcp.data(), kVectorRtcp.size());
  b.len = kVectorRtcp.size();
  ASSERT_TRUE(tx->protect_rtcp(b.data.data(), b.len, b.data.size()));
  ASSERT_EQ(b.len, kVectorSrtcp.size());  // + E|index (4) + tag (10)
  EXPECT_EQ(std::memcmp(b.data.data(), kVectorSrtcp.data(), b.len), 0);

  auto rx =
      SrtpSession::create(SrtpSuite::kAesCm128HmacSha1_80, kVectorKeySalt, Direction::kInbound);
  ASSERT_TRUE(rx);
  ASSERT_TRUE(rx->unprotect_rtcp(b.data.data(), b.len));
  ASSERT_EQ(b.len, kVectorRtcp.size());
  EXPECT_EQ(std::memcmp(b.data.data(), kVectorRtcp.data(), b.len), 0);
}

class SrtpSuiteTest : public ::testing::TestWithParam<SrtpSuite> {
 protected:
  void SetUp() override {
    if (!srtp_suite_supported(GetParam())) {
      GTEST_SKIP() << srtp_suite_name(GetParam()) << " is not supported by "
                   << srtp_library_version();
    }
    const auto key = key_for(GetParam(), 3);
    auto tx = SrtpSession::create(GetParam(), key, Direction::kOutbound);
    auto rx = SrtpSession::create(GetParam(), key, Direction::kInbound);
    ASSERT_TRUE(tx && rx);
    tx_.emplace(std::move(*tx));
    rx_.emplace(std::move(*rx));
  }
  std::optional<SrtpSession> tx_;
  std::optional<SrtpSession> rx_;
};

TEST_P(SrtpSuiteTest, RtpRoundTrip) {
  for (uint16_t seq = 65500; seq != 30; ++seq) {  // across the sequence wrap (ROC)
    const Buffer plain = rtp_packet(seq);
    Buffer b = plain;
    ASSERT_TRUE(tx_->protect_rtp(b.data.data(), b.len, b.data.size())) << seq;
    EXPECT_GT(b.len, plain.len);
    // The payload is encrypted, the header is not.
    EXPECT_EQ(std::memcmp(b.data.data(), plain.data.data(), 12), 0);
    EXPECT_NE(std::memcmp(b.data.data() + 12, plain.data.data() + 12, 160), 0);
    ASSERT_TRUE(rx_->unprotect_rtp(b.data.data(), b.len)) << seq;
    ASSERT_EQ(b.len, plain.len);
    EXPECT_EQ(std::memcmp(b.data.data(), plain.data.data(), b.len), 0);
  }
}

// RFC 3711 §3.1: padding is inside the encrypted portion; the receiver can
// only check it after unprotect (PacketView::parse_header before).
TEST_P(SrtpSuiteTest, PaddedPacketRoundTripsAndIsParsedAfterUnprotect) {
  for (uint16_t seq = 100; seq < 164; ++seq) {
    Buffer b;
    std::array<uint8_t, 161> payload{};
    payload.fill(static_cast<uint8_t>(seq));
    PacketOptions options;
    options.pad_to = 16;
    b.len = write_packet(b.data, RtpHeader{0, false, seq, seq * 160u, 0x5555}, payload, options);
    ASSERT_TRUE(tx_->protect_rtp(b.data.data(), b.len, b.data.size()));
    const auto before = PacketView::parse_header(std::span(b.data).first(b.len));
    ASSERT_TRUE(before);
    EXPECT_EQ(before->sequence(), seq);
    ASSERT_TRUE(rx_->unprotect_rtp(b.data.data(), b.len));
    const auto after = PacketView::parse(std::span(b.data).first(b.len));
    ASSERT_TRUE(after);
    EXPECT_EQ(after->payload().size(), 161u);
    EXPECT_EQ(after->payload()[160], static_cast<uint8_t>(seq));
  }
}

TEST_P(SrtpSuiteTest, TamperedByteIsRejected) {
  Buffer b = rtp_packet(1);
  ASSERT_TRUE(tx_->protect_rtp(b.data.data(), b.len, b.data.size()));
  // Flip one byte in the header, the payload and the tag in turn.
  for (size_t pos : {size_t{3}, size_t{40}, b.len - 1}) {
    Buffer t = b;
    t.data[pos] ^= 0x01;
    EXPECT_FALSE(rx_->unprotect_rtp(t.data.data(), t.len)) << pos;
    EXPECT_EQ(rx_->last_error(), SrtpError::kAuthFailed) << pos;
  }
  // The untampered packet still authenticates (failures did not poison state).
  EXPECT_TRUE(rx_->unprotect_rtp(b.data.data(), b.len));
}

TEST_P(SrtpSuiteTest, ReplayedPacketIsRejected) {
  Buffer b = rtp_packet(7);
  ASSERT_TRUE(tx_->protect_rtp(b.data.data(), b.len, b.data.size()));
  Buffer replay = b;
  ASSERT_TRUE(rx_->unprotect_rtp(b.data.data(), b.len));
  EXPECT_FALSE(rx_->unprotect_rtp(replay.data.data(), replay.len));
  EXPECT_EQ(rx_->last_error(), SrtpError::kReplay);
}

// A peer (it holds the key) cycling SSRCs: libsrtp would keep a stream per
// SSRC for the session's life and walk them all on every packet. At most
// kMaxInboundSsrcs are kept; the others are dropped, least recently used
// first (and refused from then on: see the next test).
TEST_P(SrtpSuiteTest, AnInboundSessionKeepsStateForAFewSsrcsOnly) {
  constexpr uint32_t kSsrcs = 1000;
  for (uint32_t ssrc = 1; ssrc <= kSsrcs; ++ssrc) {
    Buffer b = rtp_packet(static_cast<uint16_t>(ssrc), 0x5000 + ssrc);
    ASSERT_TRUE(tx_->protect_rtp(b.data.data(), b.len, b.data.size()));
    ASSERT_TRUE(rx_->unprotect_rtp(b.data.data(), b.len)) << ssrc;
  }
  EXPECT_EQ(rx_->inbound_ssrcs(), SrtpSession::kMaxInboundSsrcs);
  EXPECT_EQ(rx_->ssrcs_evicted(), kSsrcs - SrtpSession::kMaxInboundSsrcs);
  // The current SSRC keeps its replay window; RTCP's SSRC counts as well.
  Buffer last = rtp_packet(2000, 0x5000 + kSsrcs);
  ASSERT_TRUE(tx_->protect_rtp(last.data.data(), last.len, last.data.size()));
  Buffer replay = last;
  ASSERT_TRUE(rx_->unprotect_rtp(last.data.data(), last.len));
  EXPECT_FALSE(rx_->unprotect_rtp(replay.data.data(), replay.len));
  EXPECT_EQ(rx_->last_error(), SrtpError::kReplay);
  Buffer report = rtcp_packet(0x9999, 1);
  ASSERT_TRUE(tx_->protect_rtcp(report.data.data(), report.len, report.data.size()));
  ASSERT_TRUE(rx_->unprotect_rtcp(report.data.data(), report.len));
  EXPECT_EQ(rx_->inbound_ssrcs(), SrtpSession::kMaxInboundSsrcs);
  EXPECT_EQ(rx_->ssrcs_evicted(), kSsrcs - SrtpSession::kMaxInboundSsrcs + 1);
  // A session moved keeps what it tracks.
  SrtpSession moved = std::move(*rx_);
  EXPECT_EQ(moved.inbound_ssrcs(), SrtpSession::kMaxInboundSsrcs);
}

// A dropped SSRC's replay window goes with it, so a recorded packet of it
// would authenticate again in a fresh window: RTP behind the last one taken
// is refused as a replay (also once the SSRC is back), RTCP until its RTP
// is back; RTP ahead brings it back (a source an SBC spliced away
// returning), and the SSRCs kept work on.
TEST_P(SrtpSuiteTest, PacketsOfAnSsrcWhoseStateWasDroppedAreRefusedAsReplays) {
  std::vector<Buffer> recorded;
  for (uint16_t seq = 1; seq <= 3; ++seq) {
    Buffer b = rtp_packet(seq, 0x1001);
    ASSERT_TRUE(tx_->protect_rtp(b.data.data(), b.len, b.data.size()));
    recorded.push_back(b);
    ASSERT_TRUE(rx_->unprotect_rtp(b.data.data(), b.len));
  }
  Buffer report = rtcp_packet(0x1001, 1);
  ASSERT_TRUE(tx_->protect_rtcp(report.data.data(), report.len, report.data.size()));
  const Buffer recorded_report = report;
  ASSERT_TRUE(rx_->unprotect_rtcp(report.data.data(), report.len));
  for (uint32_t ssrc = 0x2001; ssrc < 0x2001 + SrtpSession::kMaxInboundSsrcs; ++ssrc) {
    Buffer b = rtp_packet(1, ssrc);
    ASSERT_TRUE(tx_->protect_rtp(b.data.data(), b.len, b.data.size()));
    ASSERT_TRUE(rx_->unprotect_rtp(b.data.data(), b.len)) << ssrc;
  }
  ASSERT_EQ(rx_->ssrcs_evicted(), 1u);

  const auto refused = [](SrtpSession& session, const Buffer& packet) {
    Buffer copy = packet;
    return !session.unprotect_rtp(copy.data.data(), copy.len) &&
           session.last_error() == SrtpError::kReplay;
  };
  for (const Buffer& old : recorded) EXPECT_TRUE(refused(*rx_, old));
  Buffer replayed_report = recorded_report;
  EXPECT_FALSE(rx_->unprotect_rtcp(replayed_report.data.data(), replayed_report.len));
  EXPECT_EQ(rx_->last_error(), SrtpError::kReplay);
  EXPECT_EQ(rx_->ssrcs_evicted(), 1u);

  // The source comes back ahead of where it was: taken, and what was
  // recorded before stays refused, though libsrtp's new window is fresh.
  Buffer back = rtp_packet(5, 0x1001);
  ASSERT_TRUE(tx_->protect_rtp(back.data.data(), back.len, back.data.size()));
  EXPECT_TRUE(rx_->unprotect_rtp(back.data.data(), back.len));
  for (const Buffer& old : recorded) EXPECT_TRUE(refused(*rx_, old));
  Buffer late = rtp_packet(4, 0x1001);
  ASSERT_TRUE(tx_->protect_rtp(late.data.data(), late.len, late.data.size()));
  EXPECT_TRUE(rx_->unprotect_rtp(late.data.data(), late.len)) << "never taken before";

  // It cost the oldest other SSRC its state; the SSRCs kept work on.
  EXPECT_EQ(rx_->ssrcs_evicted(), 2u);
  Buffer kept = rtp_packet(2, 0x2004);
  ASSERT_TRUE(tx_->protect_rtp(kept.data.data(), kept.len, kept.data.size()));
  EXPECT_TRUE(rx_->unprotect_rtp(kept.data.data(), kept.len));
  // What is remembered moves with the session.
  SrtpSession moved = std::move(*rx_);
  EXPECT_TRUE(refused(moved, recorded.front()));
}

TEST_P(SrtpSuiteTest, PlainRtpOnAnSrtpSessionIsRejected) {
  for (uint16_t seq = 1; seq < 20; ++seq) {
    Buffer b = rtp_packet(seq);
    const size_t len_before = b.len;
    EXPECT_FALSE(rx_->unprotect_rtp(b.data.data(), b.len));
    EXPECT_EQ(b.len, len_before);
  }
}

TEST_P(SrtpSuiteTest, WrongKeyIsRejected) {
  auto other = SrtpSession::create(GetParam(), key_for(GetParam(), 99), Direction::kInbound);
  ASSERT_TRUE(other);
  Buffer b = rtp_packet(1);
  ASSERT_TRUE(tx_->protect_rtp(b.data.data(), b.len, b.data.size()));
  EXPECT_FALSE(other->unprotect_rtp(b.data.data(), b.len));
}

TEST_P(SrtpSuiteTest, RtcpRoundTripTamperReplayAndPlain) {
  for (uint32_t i = 0; i < 20; ++i) {
    const Buffer plain = rtcp_packet(0x11223344, i * 8000);
    Buffer b = plain;
    ASSERT_TRUE(tx_->protect_rtcp(b.data.data(), b.len, b.data.size()));
    Buffer replay = b;
    Buffer tampered = b;
    tampered.data[10] ^= 0x80;
    EXPECT_FALSE(rx_->unprotect_rtcp(tampered.data.data(), tampered.len));
    EXPECT_EQ(rx_->last_error(), SrtpError::kAuthFailed);
    ASSERT_TRUE(rx_->unprotect_rtcp(b.data.data(), b.len));
    ASSERT_EQ(b.len, plain.len);
    EXPECT_EQ(std::memcmp(b.data.data(), plain.data.data(), b.len), 0);
    EXPECT_TRUE(RtcpCompoundView::parse(std::span(b.data).first(b.len)));
    EXPECT_FALSE(rx_->unprotect_rtcp(replay.data.data(), replay.len));
    EXPECT_EQ(rx_->last_error(), SrtpError::kReplay);
  }
  Buffer plain = rtcp_packet(0x11223344, 0);
  EXPECT_FALSE(rx_->unprotect_rtcp(plain.data.data(), plain.len));
}

TEST_P(SrtpSuiteTest, NotEnoughRoomForTheTagIsRefusedUpFront) {
  Buffer b = rtp_packet(1);
  EXPECT_FALSE(tx_->protect_rtp(b.data.data(), b.len, b.len + 4));
  EXPECT_EQ(tx_->last_error(), SrtpError::kNoSpace);
  EXPECT_FALSE(tx_->protect_rtcp(b.data.data(), b.len, b.len));
  EXPECT_EQ(tx_->last_error(), SrtpError::kNoSpace);
}

TEST_P(SrtpSuiteTest, MalformedInputIsRejectedNotCrashed) {
  Buffer b;
  b.len = 11;
  b.data.fill(0x80);
  EXPECT_FALSE(rx_->unprotect_rtp(b.data.data(), b.len));
  EXPECT_EQ(rx_->last_error(), SrtpError::kMalformed);
  b.len = 4;
  EXPECT_FALSE(rx_->unprotect_rtcp(b.data.data(), b.len));
  // A header whose CSRC count and extension claim more than the datagram.
  b.data.fill(0);
  b.data[0] = 0x9F;  // V=2, X=1, CC=15
  b.len = 40;
  EXPECT_FALSE(rx_->unprotect_rtp(b.data.data(), b.len));
  // Random bytes of every small length.
  uint32_t x = 12345;
  for (size_t len = 0; len < 120; ++len) {
    for (size_t i = 0; i < len; ++i)
      b.data[i] = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
    b.data[0] = static_cast<uint8_t>(0x80 | (b.data[0] & 0x3F));
    size_t n = len;
    EXPECT_FALSE(rx_->unprotect_rtp(b.data.data(), n));
    n = len;
    EXPECT_FALSE(rx_->unprotect_rtcp(b.data.data(), n));
  }
}

TEST_P(SrtpSuiteTest, SessionsAreMovable) {
  SrtpSession moved = std::move(*tx_);
  tx_.reset();
  Buffer b = rtp_packet(5);
  ASSERT_TRUE(moved.protect_rtp(b.data.data(), b.len, b.data.size()));
  SrtpSession target = std::move(*rx_);
  rx_.reset();
  EXPECT_TRUE(target.unprotect_rtp(b.data.data(), b.len));
  EXPECT_EQ(target.suite(), GetParam());
  EXPECT_EQ(target.direction(), Direction::kInbound);
}

INSTANTIATE_TEST_SUITE_P(AllSuites, SrtpSuiteTest, ::testing::ValuesIn(kAllSuites),
                         [](const auto& info) { return std::string(srtp_suite_name(info.param)); });

TEST(Srtp, WrongKeySizeIsRefused) {
  const std::vector<uint8_t> short_key(29, 1);
  EXPECT_FALSE(
      SrtpSession::create(SrtpSuite::kAesCm128HmacSha1_80, short_key, Direction::kInbound));
  const std::vector<uint8_t> gcm_key(30, 1);
  EXPECT_FALSE(SrtpSession::create(SrtpSuite::kAeadAes128Gcm, gcm_key, Direction::kInbound));
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
