// Typed audio media (sdp_audio.hpp) and attribute parsers (sdp_attributes.hpp):
// RFC 4566 §6, RFC 3551, RFC 4568, RFC 3605, RFC 8285, RFC 4733, RFC 7587.

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "signaling/sdp/sdp_audio.hpp"
#include "signaling/sdp/sdp_base64.hpp"

namespace chorus::sdp {
namespace {

Session parse_ok(const std::string& text) {
  auto parsed = Session::parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.ok() ? parsed.value() : Session{};
}

// WebRTC-ish: UDP/TLS is rejected later by offer/answer, but the typed view
// must still read it; here RTP/SAVPF with SDES as older browsers sent.
constexpr const char* kWebRtcOffer =
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=msid-semantic: WMS stream\r\n"
    "m=audio 9 RTP/SAVPF 111 103 9 0 8 110 126\r\n"
    "c=IN IP4 203.0.113.7\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:EsAw\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\r\n"
    "a=extmap:2/recvonly http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
    "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31|1:1\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1; stereo=1;sprop-stereo=1;maxaveragebitrate=64000\r\n"
    "a=rtpmap:103 ISAC/16000\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=fmtp:126 0-15\r\n"
    "a=ptime:20\r\n"
    "a=maxptime:60\r\n"
    "a=ssrc:3735928559 cname:4TOk42mSjXCkVIa6\r\n"
    "a=ssrc:3735928559 msid:stream track\r\n";

TEST(SdpAudio, ReadsAWebRtcLikeOffer) {
  Session s = parse_ok(kWebRtcOffer);
  auto audio = parse_audio(s, 0);
  ASSERT_TRUE(audio.ok()) << audio.error().message;
  const AudioMedia& a = audio.value();
  EXPECT_EQ(a.port, 9);
  EXPECT_EQ(a.proto, Proto::kRtpSavpf);
  EXPECT_EQ(a.payload_types, (std::vector<int>{111, 103, 9, 0, 8, 110, 126}));
  ASSERT_NE(a.rtpmap(111), nullptr);
  EXPECT_EQ(a.rtpmap(111)->encoding, "opus");
  EXPECT_EQ(a.rtpmap(111)->clock_rate, 48000u);
  EXPECT_EQ(a.rtpmap(111)->channels, 2u);
  ASSERT_NE(a.rtpmap(0), nullptr);  // static, no rtpmap line
  EXPECT_EQ(a.rtpmap(0)->encoding, "PCMU");
  EXPECT_EQ(a.rtpmap(8)->encoding, "PCMA");
  ASSERT_NE(a.fmtp(111), nullptr);
  EXPECT_EQ(a.fmtp(111)->get("useinbandfec"), "1");
  EXPECT_EQ(a.fmtp(111)->get("stereo"), "1");
  EXPECT_EQ(a.fmtp(111)->get("SPROP-STEREO"), "1");
  EXPECT_EQ(a.fmtp(111)->get("maxaveragebitrate"), "64000");
  EXPECT_FALSE(a.fmtp(111)->get("usedtx").has_value());
  ASSERT_NE(a.fmtp(126), nullptr);
  auto events = parse_event_list(a.fmtp(126)->params[0].first);
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ(events->count(), 16u);
  EXPECT_EQ(*a.ptime, 20u);
  EXPECT_EQ(*a.maxptime, 60u);
  EXPECT_TRUE(a.rtcp_mux);
  ASSERT_TRUE(a.rtcp.has_value());
  EXPECT_EQ(a.rtcp->port, 9);
  EXPECT_EQ(*a.rtcp->address, "0.0.0.0");
  ASSERT_EQ(a.cryptos.size(), 1u);
  EXPECT_EQ(a.cryptos[0].tag, 1u);
  EXPECT_EQ(a.cryptos[0].known_suite(), CryptoSuite::kAesCm128HmacSha1_80);
  ASSERT_EQ(a.cryptos[0].keys.size(), 1u);
  EXPECT_EQ(a.cryptos[0].keys[0].key_salt.size(), 30u);
  EXPECT_EQ(*a.cryptos[0].keys[0].lifetime, std::uint64_t{1} << 31);
  EXPECT_EQ(*a.cryptos[0].keys[0].mki_value, 1u);
  EXPECT_EQ(*a.cryptos[0].keys[0].mki_length, 1u);
  ASSERT_NE(a.extmap(kAudioLevelUri), nullptr);
  EXPECT_EQ(a.extmap(kAudioLevelUri)->id, 1);
  EXPECT_EQ(a.extmap(kAudioLevelUri)->attributes, "vad=on");
  EXPECT_EQ(a.extmaps[1].direction, Direction::kRecvOnly);
  ASSERT_EQ(a.ssrcs.size(), 2u);
  EXPECT_EQ(a.ssrcs[0].ssrc, 0xDEADBEEFu);
  EXPECT_EQ(a.ssrcs[0].attribute, "cname");
  EXPECT_EQ(*a.ssrcs[1].value, "stream track");
  EXPECT_EQ(a.connection->address, "203.0.113.7");
  EXPECT_EQ(a.direction, Direction::kSendRecv);
}

TEST(SdpAudio, MediaDirectionOverridesSessionDirection) {
  const std::string head =
      "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\na=sendonly\r\n";
  Session inherits = parse_ok(head + "m=audio 4000 RTP/AVP 0\r\n");
  EXPECT_EQ(parse_audio(inherits, 0)->direction, Direction::kSendOnly);
  Session overrides = parse_ok(head + "m=audio 4000 RTP/AVP 0\r\na=inactive\r\n");
  EXPECT_EQ(parse_audio(overrides, 0)->direction, Direction::kInactive);
}

TEST(SdpAudio, RecognisesOldStyleHoldAndIpv6) {
  Session hold = parse_ok(
      "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP "
      "0\r\n");
  EXPECT_TRUE(parse_audio(hold, 0)->null_connection());
  Session v6 = parse_ok(
      "v=0\r\no=- 1 2 IN IP6 ::1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP6 "
      "2001:db8::1\r\n");
  auto a = parse_audio(v6, 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->connection->addr_type, "IP6");
  EXPECT_EQ(a->connection->address, "2001:db8::1");
  EXPECT_FALSE(a->null_connection());
}

TEST(SdpAudio, RejectsMalformedAttributesNamingThem) {
  const std::string head =
      "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 96\r\n";
  struct Case {
    const char* line;
    const char* error;
  } cases[] = {
      {"a=rtpmap:96 opus\r\n", "bad a=rtpmap"},
      {"a=rtpmap:128 opus/48000\r\n", "bad a=rtpmap"},
      {"a=rtpmap:96 opus/0\r\n", "bad a=rtpmap"},
      {"a=rtpmap:96 opus/48000/2\r\na=rtpmap:96 PCMU/8000\r\n", "duplicate payload type"},
      {"a=fmtp:96\r\n", "bad a=fmtp"},
      {"a=ptime:abc\r\n", "bad a=ptime"},
      {"a=ptime:0\r\n", "bad a=ptime"},
      {"a=rtcp:99999\r\n", "bad a=rtcp"},
      {"a=rtcp:5000 IN IP4\r\n", "bad a=rtcp"},
      {"a=extmap:15 urn:x\r\n", "bad a=extmap"},
      {"a=extmap:1/sideways urn:x\r\n", "bad a=extmap"},
      {"a=sendonly:yes\r\n", "takes no value"},
      {"a=sendonly\r\na=recvonly\r\n", "more than one"},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64!!!\r\n", "bad base64 key"},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=\r\n", "key is 5 bytes"},
      {"a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=\r\n", "bad crypto tag"},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n", "needs <tag> <suite> <key-params>"},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:http://x\r\n", "unsupported key method"},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
       "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^99\r\n",
       "bad lifetime"},
      {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|1:0\r\n",
       "bad MKI"},
      {"a=ssrc:4294967296 cname:x\r\n", "bad a=ssrc"},
  };
  for (const auto& c : cases) {
    Session s = parse_ok(head + c.line);
    auto a = parse_audio(s, 0);
    ASSERT_FALSE(a.ok()) << c.line;
    EXPECT_NE(a.error().message.find(c.error), std::string::npos)
        << c.line << " -> " << a.error().message;
  }
}

TEST(SdpAudio, RejectsNonNumericFormatsOnRtpAndNonAudioSections) {
  Session s = parse_ok(
      "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP x\r\nm=video 5000 "
      "RTP/AVP 96\r\n");
  EXPECT_FALSE(parse_audio(s, 0).ok());
  EXPECT_FALSE(parse_audio(s, 1).ok());
  EXPECT_FALSE(parse_audio(s, 7).ok());
}

TEST(SdpAttributes, CryptoRoundTripsWithSessionParamsAndTwoKeys) {
  const std::string key1 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
  const std::string value = "7 AES_CM_128_HMAC_SHA1_32 inline:" + key1 +
                            "|2^20|1:4;inline:" + key1 + "|2:4 UNENCRYPTED_SRTCP KDR=1";
  auto c = parse_crypto(value);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tag, 7u);
  ASSERT_EQ(c->keys.size(), 2u);
  EXPECT_FALSE(c->keys[1].lifetime.has_value());
  EXPECT_EQ(*c->keys[1].mki_value, 2u);
  EXPECT_EQ(c->session_params, (std::vector<std::string>{"UNENCRYPTED_SRTCP", "KDR=1"}));
  EXPECT_EQ(format_crypto(c.value()), value);
}

TEST(SdpAttributes, CryptoKeyLengthsFollowTheSuite) {
  std::vector<std::uint8_t> k28(28, 1), k44(44, 2), k30(30, 3);
  EXPECT_TRUE(parse_crypto("1 AEAD_AES_128_GCM inline:" + base64_encode(k28)).ok());
  EXPECT_TRUE(parse_crypto("1 AEAD_AES_256_GCM inline:" + base64_encode(k44)).ok());
  EXPECT_FALSE(parse_crypto("1 AEAD_AES_256_GCM inline:" + base64_encode(k30)).ok());
  // An unknown suite is legal syntax (RFC 4568 §9.1): kept, never chosen.
  auto unknown = parse_crypto("1 F8_128_HMAC_SHA1_80 inline:" + base64_encode(k30));
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->known_suite().has_value());
}

TEST(SdpAttributes, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    std::vector<std::uint8_t> bytes(plain, plain + std::strlen(plain));
    EXPECT_EQ(base64_encode(bytes), encoded);
    EXPECT_EQ(base64_decode(encoded), bytes);
  }
  EXPECT_EQ(base64_decode("Zm8"), (std::vector<std::uint8_t>{'f', 'o'}));  // padding dropped
  EXPECT_FALSE(base64_decode("Z").has_value());
  EXPECT_FALSE(base64_decode("Zm=8").has_value());
  EXPECT_FALSE(base64_decode("Zm9v\n").has_value());
  EXPECT_FALSE(base64_decode("Zg===").has_value());
}

TEST(SdpAttributes, RtpmapAndFmtpFormatting) {
  auto map = parse_rtpmap("111 opus/48000/2");
  ASSERT_TRUE(map.has_value());
  EXPECT_EQ(format_rtpmap(*map), "111 opus/48000/2");
  EXPECT_EQ(format_rtpmap(*parse_rtpmap("0 PCMU/8000/1")), "0 PCMU/8000");
  auto fmtp = parse_fmtp("101 0-11,16");
  ASSERT_TRUE(fmtp.has_value());
  EXPECT_EQ(format_fmtp(*fmtp), "101 0-11,16");
  auto events = parse_event_list("0-11,16");
  EXPECT_EQ(format_event_list(*events), "0-11,16");
  EXPECT_FALSE(parse_event_list("5-2").has_value());
  EXPECT_FALSE(parse_event_list("0-256").has_value());
  EXPECT_FALSE(parse_event_list("").has_value());
}

TEST(SdpAttributes, DirectionsMirrorPerRfc3264Section6_1) {
  EXPECT_EQ(mirror(Direction::kSendOnly), Direction::kRecvOnly);
  EXPECT_EQ(mirror(Direction::kRecvOnly), Direction::kSendOnly);
  EXPECT_EQ(mirror(Direction::kInactive), Direction::kInactive);
  EXPECT_EQ(mirror(Direction::kSendRecv), Direction::kSendRecv);
  EXPECT_EQ(restrict_to(Direction::kSendRecv, Direction::kRecvOnly), Direction::kRecvOnly);
  EXPECT_EQ(restrict_to(Direction::kSendOnly, Direction::kRecvOnly), Direction::kInactive);
}

TEST(SdpAttributes, ProtoNames) {
  EXPECT_EQ(proto_from_name("RTP/AVP"), Proto::kRtpAvp);
  EXPECT_EQ(proto_from_name("RTP/SAVP"), Proto::kRtpSavp);
  EXPECT_EQ(proto_from_name("RTP/AVPF"), Proto::kRtpAvpf);
  EXPECT_EQ(proto_from_name("RTP/SAVPF"), Proto::kRtpSavpf);
  EXPECT_EQ(proto_from_name("UDP/TLS/RTP/SAVP"), Proto::kUdpTlsRtpSavp);
  EXPECT_EQ(proto_from_name("UDP/TLS/RTP/SAVPF"), Proto::kUdpTlsRtpSavpf);
  EXPECT_EQ(proto_from_name("udp"), Proto::kOther);
  EXPECT_TRUE(is_dtls(Proto::kUdpTlsRtpSavpf));
  EXPECT_EQ(proto_name(Proto::kRtpSavpf), "RTP/SAVPF");
}

}  // namespace
}  // namespace chorus::sdp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
