// Offer/answer for audio (RFC 3264) with SDES (RFC 4568), RFC 4733 events,
// RFC 3605 rtcp, RFC 5761 rtcp-mux and RFC 6464 audio level.

#include <gtest/gtest.h>

#include <string>

#include "signaling/sdp/offer_answer.hpp"
#include "signaling/sdp/sdp_audio.hpp"
#include "signaling/sdp/sdp_base64.hpp"

namespace chorus::sdp {
namespace {

// Deterministic "random" bytes so keys can be asserted.
RandomSource counting_random() {
  auto next = std::make_shared<std::uint8_t>(0);
  return [next](std::span<std::uint8_t> out) {
    for (auto& b : out) b = (*next)++;
    return true;
  };
}

const std::string kKey80 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";  // 30 bytes
const std::string kKey32 = "d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj";  // 30 bytes

std::string sdp(std::string media) {
  return "v=0\r\no=peer 42 1 IN IP4 192.0.2.10\r\ns=call\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
         media;
}

const std::string kLinphone =
    sdp("m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n"
        "a=rtpmap:96 opus/48000/2\r\n"
        "a=fmtp:96 useinbandfec=1;maxplaybackrate=16000\r\n"
        "a=rtpmap:97 speex/16000\r\n"
        "a=rtpmap:98 speex/8000\r\n"
        "a=fmtp:18 annexb=yes\r\n"
        "a=rtpmap:101 telephone-event/48000\r\n"
        "a=rtpmap:99 telephone-event/16000\r\n"
        "a=rtpmap:100 telephone-event/8000\r\n"
        "a=rtcp-fb:* trr-int 1000\r\n");

const std::string kBaresip =
    sdp("m=audio 10000 RTP/AVP 0 8 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=sendrecv\r\n"
        "a=rtcp-mux\r\n"
        "a=label:1\r\n"
        "a=ssrc:1190553339 cname:b1b6a7c8-3ad2-49c0-bbd9-8a6bbeb8f1c2\r\n");

const std::string kPolycom =
    sdp("m=audio 2222 RTP/AVP 9 115 102 104 103 0 8 18 127\r\n"
        "a=rtpmap:115 G7221/32000\r\n"
        "a=fmtp:115 bitrate=48000\r\n"
        "a=rtpmap:102 G7221/16000\r\n"
        "a=fmtp:102 bitrate=32000\r\n"
        "a=rtpmap:104 G7221/16000\r\n"
        "a=fmtp:104 bitrate=24000\r\n"
        "a=rtpmap:103 SIREN14/16000\r\n"
        "a=rtpmap:9 G722/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:18 G729/8000\r\n"
        "a=fmtp:18 annexb=no\r\n"
        "a=rtpmap:127 telephone-event/8000\r\n"
        "a=sendrecv\r\n");

const std::string kWebRtcSdes =
    sdp("m=audio 50000 RTP/SAVPF 111 0 126\r\n"
        "c=IN IP4 198.51.100.3\r\n"
        "a=rtcp:9 IN IP4 0.0.0.0\r\n"
        "a=mid:0\r\n"
        "a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\r\n"
        "a=sendrecv\r\n"
        "a=rtcp-mux\r\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" +
        kKey80 +
        "\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1;maxaveragebitrate=40000\r\n"
        "a=rtpmap:126 telephone-event/8000\r\n"
        "a=ssrc:12345 cname:abc\r\n");

const std::string kSrtpTwoCryptos =
    sdp("m=audio 30000 RTP/SAVP 0 101\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" +
        kKey80 +
        "\r\n"
        "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" +
        kKey32 + "\r\n");

const std::string kVideoAndAudio =
    sdp("m=video 9000 RTP/AVP 96\r\n"
        "a=rtpmap:96 H264/90000\r\n"
        "m=audio 9002 RTP/AVP 8 0\r\n"
        "m=application 9004 UDP/BFCP *\r\n");

LocalCapabilities caps() {
  LocalCapabilities c;
  c.address = "203.0.113.1";
  return c;
}

OfferAnswerOutput answer_ok(OfferAnswer& oa, const std::string& offer,
                            LocalMedia media = LocalMedia{40000, 0},
                            Direction wanted = Direction::kSendRecv) {
  auto r = oa.answer(offer, media, wanted);
  EXPECT_TRUE(r.ok()) << r.error().message;
  if (!r.ok()) return {};
  // Every answer we produce must itself parse and type-check.
  auto again = Session::parse(r->sdp);
  EXPECT_TRUE(again.ok()) << r->sdp;
  return std::move(r).value();
}

TEST(OfferAnswer, LinphoneOfferGetsOpusAndTelephoneEventAt48k) {
  OfferAnswer oa(caps(), counting_random());
  auto out = answer_ok(oa, kLinphone);
  const Negotiated& n = out.negotiated;
  ASSERT_TRUE(n.accepted) << n.reason;
  EXPECT_EQ(n.codec.payload_type, 96);
  EXPECT_EQ(n.codec.encoding, "opus");
  EXPECT_EQ(n.codec.clock_rate, 48000u);
  EXPECT_EQ(n.codec.channels, 2u);
  ASSERT_EQ(n.codec.fmtp.size(), 2u);
  EXPECT_EQ(n.codec.fmtp[1], (std::pair<std::string, std::string>{"maxplaybackrate", "16000"}));
  EXPECT_EQ(n.telephone_event_pt, 101);  // the 48 kHz one, matching opus (RFC 4733 §2.5.1.2)
  EXPECT_EQ(n.telephone_event_rate, 48000u);
  EXPECT_EQ(n.remote_address, "192.0.2.10");
  EXPECT_EQ(n.remote_rtp_port, 7078);
  EXPECT_EQ(n.remote_rtcp_port, 7079);
  EXPECT_FALSE(n.rtcp_mux);
  EXPECT_FALSE(n.srtp.has_value());
  EXPECT_EQ(n.local_direction, Direction::kSendRecv);
  EXPECT_FALSE(n.audio_level_ext_id.has_value());
  const std::string& text = out.sdp;
  EXPECT_NE(text.find("m=audio 40000 RTP/AVP 96 101\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=rtpmap:96 opus/48000/2\r\n"), std::string::npos);
  EXPECT_NE(text.find("a=fmtp:96 useinbandfec=1\r\n"), std::string::npos);
  EXPECT_NE(text.find("a=rtpmap:101 telephone-event/48000\r\na=fmtp:101 0-15\r\n"),
            std::string::npos);
  EXPECT_NE(text.find("a=ptime:20\r\na=sendrecv\r\na=rtcp:40001\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("c=IN IP4 203.0.113.1\r\n"), std::string::npos);
  EXPECT_EQ(text.find("speex"), std::string::npos);  // only formats we accept
}

TEST(OfferAnswer, BaresipOfferWithNarrowbandPreference) {
  LocalCapabilities c = caps();
  c.codecs = {CodecSpec{"PCMA", 8000, 1, 8, ""}, CodecSpec{"PCMU", 8000, 1, 0, ""}};
  OfferAnswer oa(c, counting_random());
  auto out = answer_ok(oa, kBaresip);
  const Negotiated& n = out.negotiated;
  ASSERT_TRUE(n.accepted) << n.reason;
  EXPECT_EQ(n.codec.encoding, "PCMA");  // our order beats the offerer's
  EXPECT_EQ(n.telephone_event_pt, 101);
  EXPECT_TRUE(n.rtcp_mux);
  EXPECT_EQ(n.remote_rtcp_port, 10000);
  EXPECT_NE(out.sdp.find("m=audio 40000 RTP/AVP 8 101\r\n"), std::string::npos) << out.sdp;
  EXPECT_NE(out.sdp.find("a=rtcp-mux\r\n"), std::string::npos);
  EXPECT_EQ(out.sdp.find("a=rtcp:"), std::string::npos);

  c.honour_offerer_order = true;
  OfferAnswer offerer_order(c, counting_random());
  EXPECT_EQ(answer_ok(offerer_order, kBaresip).negotiated.codec.encoding, "PCMU");
}

TEST(OfferAnswer, PolycomOfferWithManyCodecsPicksG722) {
  OfferAnswer oa(caps(), counting_random());
  auto out = answer_ok(oa, kPolycom);
  const Negotiated& n = out.negotiated;
  ASSERT_TRUE(n.accepted) << n.reason;
  EXPECT_EQ(n.codec.encoding, "G722");
  EXPECT_EQ(n.codec.payload_type, 9);
  EXPECT_EQ(n.codec.clock_rate, 8000u);  // RFC 3551 §4.5.2: G.722's RTP clock is 8 kHz
  EXPECT_EQ(n.telephone_event_pt, 127);
  EXPECT_EQ(n.telephone_event_rate, 8000u);
  EXPECT_NE(out.sdp.find("m=audio 40000 RTP/AVP 9 127\r\n"), std::string::npos) << out.sdp;
}

TEST(OfferAnswer, WebRtcSdesOfferGetsSrtpMuxAndAudioLevel) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kOffer;
  OfferAnswer oa(c, counting_random());
  auto out = answer_ok(oa, kWebRtcSdes);
  const Negotiated& n = out.negotiated;
  ASSERT_TRUE(n.accepted) << n.reason;
  EXPECT_EQ(n.codec.encoding, "opus");
  EXPECT_FALSE(n.telephone_event_pt.has_value());  // only 8 kHz events offered, codec is 48 kHz
  EXPECT_TRUE(n.rtcp_mux);
  EXPECT_EQ(n.remote_address, "198.51.100.3");  // media-level c= beats session-level
  EXPECT_EQ(n.remote_rtcp_port, 50000);
  EXPECT_EQ(n.audio_level_ext_id, 3);
  ASSERT_TRUE(n.srtp.has_value());
  EXPECT_EQ(n.srtp->suite, CryptoSuite::kAesCm128HmacSha1_80);
  EXPECT_EQ(n.srtp->tag, 1u);
  EXPECT_EQ(base64_encode(n.srtp->remote_key_salt), kKey80);
  ASSERT_EQ(n.srtp->local_key_salt.size(), 30u);
  EXPECT_NE(n.srtp->local_key_salt, n.srtp->remote_key_salt);
  EXPECT_NE(out.sdp.find("m=audio 40000 RTP/SAVPF 111\r\n"), std::string::npos) << out.sdp;
  EXPECT_NE(out.sdp.find("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" +
                         base64_encode(n.srtp->local_key_salt) + "\r\n"),
            std::string::npos);
  EXPECT_NE(out.sdp.find("a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\r\n"),
            std::string::npos);
  ASSERT_EQ(n.codec.fmtp.size(), 5u);
  EXPECT_EQ(n.codec.fmtp[2].first, "stereo");
}

TEST(OfferAnswer, SrtpOfferWithTwoCryptoLinesFollowsOurSuitePreference) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kRequired;
  c.crypto_suites = {CryptoSuite::kAesCm128HmacSha1_32, CryptoSuite::kAesCm128HmacSha1_80};
  OfferAnswer oa(c, counting_random());
  auto out = answer_ok(oa, kSrtpTwoCryptos);
  ASSERT_TRUE(out.negotiated.accepted) << out.negotiated.reason;
  ASSERT_TRUE(out.negotiated.srtp);
  EXPECT_EQ(out.negotiated.srtp->tag, 2u);
  EXPECT_EQ(out.negotiated.srtp->suite, CryptoSuite::kAesCm128HmacSha1_32);
  EXPECT_EQ(base64_encode(out.negotiated.srtp->remote_key_salt), kKey32);
  // Exactly one crypto line in the answer (RFC 4568 §7.1.2).
  const std::string& t = out.sdp;
  EXPECT_EQ(t.find("a=crypto:"), t.rfind("a=crypto:"));
  EXPECT_NE(t.find("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"), std::string::npos);
}

TEST(OfferAnswer, AesGcmIsPreferredWhenOfferedAfterAesCm) {
  // RFC 7714 SDES: the peer lists AES-CM first, GCM second; by default we
  // take GCM (cheaper per packet) and answer its tag alone.
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kOffer;
  OfferAnswer oa(c, counting_random());
  const std::string gcm_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA==";  // 16 + 12 bytes
  auto out =
      answer_ok(oa, sdp("m=audio 30000 RTP/SAVP 0\r\n"
                        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" +
                        kKey80 + "\r\na=crypto:2 AEAD_AES_128_GCM inline:" + gcm_key + "\r\n"));
  ASSERT_TRUE(out.negotiated.accepted) << out.negotiated.reason;
  ASSERT_TRUE(out.negotiated.srtp);
  EXPECT_EQ(out.negotiated.srtp->suite, CryptoSuite::kAeadAes128Gcm);
  EXPECT_EQ(out.negotiated.srtp->tag, 2u);
  EXPECT_EQ(base64_encode(out.negotiated.srtp->remote_key_salt), gcm_key);
  EXPECT_EQ(out.negotiated.srtp->local_key_salt.size(), 28u);
  const std::string& t = out.sdp;
  EXPECT_EQ(t.find("a=crypto:"), t.rfind("a=crypto:"));
  EXPECT_NE(t.find("a=crypto:2 AEAD_AES_128_GCM inline:"), std::string::npos) << t;
  // A peer without GCM still gets AES-CM.
  OfferAnswer plain(c, counting_random());
  auto cm = answer_ok(plain, kSrtpTwoCryptos);
  ASSERT_TRUE(cm.negotiated.srtp);
  EXPECT_EQ(cm.negotiated.srtp->suite, CryptoSuite::kAesCm128HmacSha1_80);
}

TEST(OfferAnswer, CryptoLinesWeCannotHonourAreSkipped) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kRequired;
  OfferAnswer oa(c, counting_random());
  const std::string offer =
      sdp("m=audio 30000 RTP/SAVP 0\r\n"
          "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" +
          kKey80 +
          " UNENCRYPTED_SRTCP\r\n"
          "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" +
          kKey80 +
          "|1:4\r\n"
          "a=crypto:3 F8_128_HMAC_SHA1_80 inline:" +
          kKey80 + "\r\n");
  auto out = answer_ok(oa, offer);
  EXPECT_FALSE(out.negotiated.accepted);
  EXPECT_EQ(out.negotiated.reason, "no acceptable crypto suite");
  EXPECT_NE(out.sdp.find("m=audio 0 RTP/SAVP 0\r\n"), std::string::npos);
}

TEST(OfferAnswer, VideoAndOtherStreamsAreRefusedKeepingCountAndOrder) {
  OfferAnswer oa(caps(), counting_random());
  auto out = answer_ok(oa, kVideoAndAudio);
  ASSERT_TRUE(out.negotiated.accepted);
  EXPECT_EQ(out.negotiated.media_index, 1u);
  EXPECT_EQ(out.negotiated.codec.encoding, "PCMU");
  ASSERT_EQ(out.session.media.size(), 3u);
  EXPECT_EQ(out.session.media[0].media, "video");
  EXPECT_EQ(out.session.media[0].port, 0);
  EXPECT_EQ(out.session.media[0].formats, (std::vector<std::string>{"96"}));
  EXPECT_EQ(out.session.media[1].port, 40000);
  EXPECT_EQ(out.session.media[2].port, 0);
  EXPECT_EQ(out.session.media[2].proto, "UDP/BFCP");
  EXPECT_NE(out.sdp.find("m=application 0 UDP/BFCP *\r\n"), std::string::npos);
}

TEST(OfferAnswer, SecondAudioStreamIsRefused) {
  OfferAnswer oa(caps(), counting_random());
  auto out = answer_ok(oa, sdp("m=audio 1000 RTP/AVP 0\r\nm=audio 1002 RTP/AVP 8\r\n"));
  ASSERT_TRUE(out.negotiated.accepted);
  EXPECT_EQ(out.session.media[0].port, 40000);
  EXPECT_EQ(out.session.media[1].port, 0);
}

struct Refusal {
  const char* name;
  SrtpPolicy policy;
  std::string media;
  const char* reason;
};

class OfferAnswerRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(OfferAnswerRefuses, WithPortZeroAndAReason) {
  const Refusal& r = GetParam();
  LocalCapabilities c = caps();
  c.srtp = r.policy;
  OfferAnswer oa(c, counting_random());
  auto out = answer_ok(oa, sdp(r.media));
  EXPECT_FALSE(out.negotiated.accepted) << r.name;
  EXPECT_NE(out.negotiated.reason.find(r.reason), std::string::npos)
      << r.name << ": " << out.negotiated.reason;
  ASSERT_EQ(out.session.media.size(), 1u);
  EXPECT_EQ(out.session.media[0].port, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3264, OfferAnswerRefuses,
    ::testing::Values(
        // Browser offers with a certificate: webrtc_offer_answer_test.cpp.
        Refusal{"dtls without a certificate", SrtpPolicy::kOffer,
                "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
                "a=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\n",
                "DTLS-SRTP not configured"},
        Refusal{"savp when off", SrtpPolicy::kOff,
                "m=audio 30000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + kKey80 +
                    "\r\n",
                "SRTP offered but disabled"},
        Refusal{"avp when required", SrtpPolicy::kRequired, "m=audio 30000 RTP/AVP 0\r\n",
                "plain RTP offered but SRTP required"},
        Refusal{"savp without crypto", SrtpPolicy::kOffer, "m=audio 30000 RTP/SAVP 0\r\n",
                "no acceptable crypto suite"},
        Refusal{"no common codec", SrtpPolicy::kOff,
                "m=audio 30000 RTP/AVP 18 98\r\na=rtpmap:98 iLBC/8000\r\n", "no common codec"},
        Refusal{"opus mono is not opus", SrtpPolicy::kOff,
                "m=audio 30000 RTP/AVP 96\r\na=rtpmap:96 opus/48000\r\n", "no common codec"},
        Refusal{"bad crypto key", SrtpPolicy::kOffer,
                "m=audio 30000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:@@@@\r\n",
                "bad base64 key"},
        Refusal{"disabled stream", SrtpPolicy::kOff, "m=audio 0 RTP/AVP 0\r\n",
                "stream disabled by the offerer"},
        Refusal{"only video", SrtpPolicy::kOff, "m=video 30000 RTP/AVP 96\r\n", "no audio stream"},
        Refusal{"raw udp", SrtpPolicy::kOff, "m=audio 30000 udp 0\r\n", "unsupported transport"},
        Refusal{"atm address", SrtpPolicy::kOff,
                "m=audio 30000 RTP/AVP 0\r\nc=ATM NSAP 47.0091\r\n", "no usable c= line"}),
    [](const ::testing::TestParamInfo<Refusal>& info) {
      std::string name;
      for (const char* p = info.param.name; *p; ++p)
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
      return name;
    });

TEST(OfferAnswer, PlainOfferWithCryptoUnderBestEffortPolicyUsesSrtp) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kOffer;
  OfferAnswer oa(c, counting_random());
  const std::string offer = sdp(
      "m=audio 30000 RTP/AVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + kKey80 + "\r\n");
  auto out = answer_ok(oa, offer);
  ASSERT_TRUE(out.negotiated.accepted);
  EXPECT_TRUE(out.negotiated.srtp.has_value());
  // With SRTP off the same offer is plain RTP and the crypto line is ignored.
  OfferAnswer plain(caps(), counting_random());
  auto p = answer_ok(plain, offer);
  ASSERT_TRUE(p.negotiated.accepted);
  EXPECT_FALSE(p.negotiated.srtp.has_value());
  EXPECT_EQ(p.sdp.find("a=crypto"), std::string::npos);
}

TEST(OfferAnswer, DirectionIsMirroredPerRfc3264Section6_1) {
  const std::pair<const char*, Direction> cases[] = {
      {"sendonly", Direction::kRecvOnly},
      {"recvonly", Direction::kSendOnly},
      {"inactive", Direction::kInactive},
      {"sendrecv", Direction::kSendRecv},
  };
  for (const auto& [offered, expected] : cases) {
    OfferAnswer oa(caps(), counting_random());
    auto out = answer_ok(oa, sdp(std::string("m=audio 30000 RTP/AVP 0\r\na=") + offered + "\r\n"));
    EXPECT_EQ(out.negotiated.local_direction, expected) << offered;
    EXPECT_NE(out.sdp.find("a=" + std::string(direction_name(expected)) + "\r\n"),
              std::string::npos);
    EXPECT_EQ(out.negotiated.remote_hold,
              std::string(offered) == "sendonly" || std::string(offered) == "inactive");
  }
  // Our own wish narrows it further: a muted-by-policy monitor only receives.
  OfferAnswer oa(caps(), counting_random());
  auto out =
      answer_ok(oa, sdp("m=audio 30000 RTP/AVP 0\r\n"), LocalMedia{40000, 0}, Direction::kRecvOnly);
  EXPECT_EQ(out.negotiated.local_direction, Direction::kRecvOnly);
}

TEST(OfferAnswer, OldStyleHoldWithNullConnectionIsRecognised) {
  OfferAnswer oa(caps(), counting_random());
  auto out = answer_ok(oa,
                       "v=0\r\no=peer 42 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
                       "t=0 0\r\nm=audio 7078 RTP/AVP 0\r\n");
  ASSERT_TRUE(out.negotiated.accepted);
  EXPECT_TRUE(out.negotiated.remote_hold);
  EXPECT_EQ(out.negotiated.remote_address, "0.0.0.0");
  EXPECT_EQ(out.negotiated.local_direction, Direction::kRecvOnly);
}

TEST(OfferAnswer, OriginVersionIncrementsOnlyWhenTheAnswerChanges) {
  OfferAnswer oa(caps(), counting_random());
  auto first = answer_ok(oa, kBaresip);
  auto same = answer_ok(oa, kBaresip);
  EXPECT_EQ(first.session.origin.session_version, same.session.origin.session_version);
  EXPECT_EQ(first.sdp, same.sdp);
  auto hold = answer_ok(oa, sdp("m=audio 10000 RTP/AVP 0\r\na=sendonly\r\n"));
  EXPECT_EQ(hold.session.origin.session_version, first.session.origin.session_version + 1);
  EXPECT_EQ(hold.session.origin.session_id, first.session.origin.session_id);
  auto offer = oa.create_offer(LocalMedia{40000, 0});
  ASSERT_TRUE(offer.ok());
  EXPECT_EQ(offer->session.origin.session_version, first.session.origin.session_version + 2);
}

TEST(OfferAnswer, Ipv6LocalAddress) {
  LocalCapabilities c = caps();
  c.address = "2001:db8::5";
  OfferAnswer oa(c, counting_random());
  auto out = answer_ok(oa, kBaresip);
  EXPECT_NE(out.sdp.find("c=IN IP6 2001:db8::5\r\n"), std::string::npos);
  EXPECT_NE(out.sdp.find(" IN IP6 2001:db8::5\r\n"), out.sdp.find("c=IN IP6"));
}

TEST(OfferAnswer, StreamWithoutAnyConnectionLineIsRefused) {
  OfferAnswer oa(caps(), counting_random());
  auto out = answer_ok(oa,
                       "v=0\r\no=peer 42 1 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\n"
                       "m=audio 7078 RTP/AVP 0\r\n");
  EXPECT_FALSE(out.negotiated.accepted);
  EXPECT_NE(out.negotiated.reason.find("no usable c= line"), std::string::npos);
}

TEST(OfferAnswer, UnparsableOfferIsAnError) {
  OfferAnswer oa(caps(), counting_random());
  auto r = oa.answer("this is not sdp", LocalMedia{40000, 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("line 1"), std::string::npos);
}

TEST(OfferAnswer, GivenLocalKeyIsKeptSoRefreshesDoNotRekey) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kRequired;
  OfferAnswer oa(c, counting_random());
  auto first = answer_ok(oa, kSrtpTwoCryptos);
  ASSERT_TRUE(first.negotiated.srtp);
  LocalMedia media{40000, 0};
  media.srtp_keys.push_back(
      LocalKey{first.negotiated.srtp->suite, first.negotiated.srtp->local_key_salt});
  auto refresh = answer_ok(oa, kSrtpTwoCryptos, media);
  ASSERT_TRUE(refresh.negotiated.srtp);
  EXPECT_EQ(refresh.negotiated.srtp->local_key_salt, first.negotiated.srtp->local_key_salt);
  EXPECT_EQ(refresh.sdp, first.sdp);  // unchanged description keeps its o= version
  // A key of the wrong size is not used.
  media.srtp_keys[0].key_salt.resize(5);
  auto fresh = answer_ok(oa, kSrtpTwoCryptos, media);
  EXPECT_EQ(fresh.negotiated.srtp->local_key_salt.size(), 30u);
  EXPECT_NE(fresh.negotiated.srtp->local_key_salt, first.negotiated.srtp->local_key_salt);
  EXPECT_EQ(fresh.session.origin.session_version, first.session.origin.session_version + 1);
}

TEST(OfferAnswer, RandomFailureIsAnErrorNotAWeakKey) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kRequired;
  int calls = 0;
  OfferAnswer oa(c, [&calls](std::span<std::uint8_t>) { return ++calls == 1; });
  EXPECT_FALSE(oa.answer(kSrtpTwoCryptos, LocalMedia{40000, 0}).ok());
  EXPECT_FALSE(oa.create_offer(LocalMedia{40000, 0}).ok());
}

// --- offerer role -----------------------------------------------------------

TEST(OfferAnswer, OfferListsOurCodecsEventsAndCrypto) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kOffer;
  OfferAnswer oa(c, counting_random());
  auto offer = oa.create_offer(LocalMedia{40000, 40010});
  ASSERT_TRUE(offer.ok()) << offer.error().message;
  EXPECT_TRUE(oa.has_pending_offer());
  auto parsed = Session::parse(offer->sdp);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  auto a = parse_audio(parsed.value(), 0);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->proto, Proto::kRtpAvp);  // best effort SDES rides on RTP/AVP
  EXPECT_EQ(a->payload_types, (std::vector<int>{111, 9, 0, 8, 101, 110}));
  EXPECT_EQ(a->rtpmap(110)->clock_rate, 48000u);
  EXPECT_EQ(a->rtpmap(101)->clock_rate, 8000u);
  EXPECT_EQ(a->cryptos.size(), 4u);
  EXPECT_EQ(a->cryptos[0].known_suite(), CryptoSuite::kAeadAes128Gcm);  // preferred first
  EXPECT_EQ(a->cryptos[0].keys[0].key_salt.size(), 28u);
  EXPECT_EQ(a->cryptos[3].keys[0].key_salt.size(), 44u);
  EXPECT_TRUE(a->rtcp_mux);
  EXPECT_EQ(a->rtcp->port, 40010);
  EXPECT_EQ(a->extmap(kAudioLevelUri)->id, 1);
  EXPECT_EQ(*a->ptime, 20u);

  LocalCapabilities required = caps();
  required.srtp = SrtpPolicy::kRequired;
  OfferAnswer oa2(required, counting_random());
  EXPECT_NE(oa2.create_offer(LocalMedia{40000, 0})->sdp.find("m=audio 40000 RTP/SAVP "),
            std::string::npos);
}

TEST(OfferAnswer, AnswerToOurOfferIsNegotiated) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kOffer;
  OfferAnswer oa(c, counting_random());
  auto offer = oa.create_offer(LocalMedia{40000, 0}, Direction::kSendRecv);
  ASSERT_TRUE(offer.ok());
  auto a = parse_audio(offer->session, 0);
  // Our lines in our order of preference: 1 AEAD_AES_128_GCM, 2
  // AES_CM_128_HMAC_SHA1_80, 3 AES_CM_128_HMAC_SHA1_32, 4 AEAD_AES_256_GCM.
  ASSERT_EQ(a->cryptos.size(), 4u);
  EXPECT_EQ(a->cryptos[0].suite, "AEAD_AES_128_GCM");
  ASSERT_EQ(a->cryptos[2].suite, "AES_CM_128_HMAC_SHA1_32");
  const auto& our_tag3_key = a->cryptos[2].keys[0].key_salt;
  const std::string answer =
      sdp("m=audio 6000 RTP/AVP 9 101\r\n"
          "a=rtpmap:9 G722/8000\r\n"
          "a=rtpmap:101 telephone-event/8000\r\n"
          "a=fmtp:101 0-15\r\n"
          "a=recvonly\r\n"
          "a=rtcp:6005\r\n"
          "a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:" +
          kKey32 +
          "\r\n"
          "a=extmap:4 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n");
  auto n = oa.process_answer(answer);
  ASSERT_TRUE(n.ok()) << n.error().message;
  ASSERT_TRUE(n->accepted) << n->reason;
  EXPECT_FALSE(oa.has_pending_offer());
  EXPECT_EQ(n->codec.encoding, "G722");
  EXPECT_EQ(n->telephone_event_pt, 101);
  EXPECT_EQ(n->remote_address, "192.0.2.10");
  EXPECT_EQ(n->remote_rtp_port, 6000);
  EXPECT_EQ(n->remote_rtcp_port, 6005);
  EXPECT_FALSE(n->rtcp_mux);
  EXPECT_EQ(n->remote_direction, Direction::kRecvOnly);
  EXPECT_EQ(n->local_direction, Direction::kSendOnly);
  ASSERT_TRUE(n->srtp);
  EXPECT_EQ(n->srtp->suite, CryptoSuite::kAesCm128HmacSha1_32);
  EXPECT_EQ(n->srtp->local_key_salt, our_tag3_key);
  EXPECT_EQ(base64_encode(n->srtp->remote_key_salt), kKey32);
  EXPECT_EQ(n->audio_level_ext_id, 4);
}

TEST(OfferAnswer, PlainAnswerToBestEffortOfferIsPlainRtp) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kOffer;
  OfferAnswer oa(c, counting_random());
  ASSERT_TRUE(oa.create_offer(LocalMedia{40000, 0}).ok());
  auto n = oa.process_answer(sdp("m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n"));
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_TRUE(n->accepted);
  EXPECT_FALSE(n->srtp.has_value());
  EXPECT_TRUE(n->rtcp_mux);
  EXPECT_EQ(n->remote_rtcp_port, 6000);
}

TEST(OfferAnswer, BrokenAnswersAreErrors) {
  OfferAnswer oa(caps(), counting_random());
  EXPECT_FALSE(oa.process_answer(kBaresip).ok());  // nothing pending

  ASSERT_TRUE(oa.create_offer(LocalMedia{40000, 0}).ok());
  EXPECT_FALSE(oa.process_answer(sdp("m=audio 6000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n")).ok());

  ASSERT_TRUE(oa.create_offer(LocalMedia{40000, 0}).ok());
  EXPECT_FALSE(oa.process_answer(sdp("m=audio 6000 RTP/AVP 18\r\n")).ok());  // never offered

  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kRequired;
  OfferAnswer srtp(c, counting_random());
  ASSERT_TRUE(srtp.create_offer(LocalMedia{40000, 0}).ok());
  EXPECT_FALSE(srtp.process_answer(
                       sdp("m=audio 6000 RTP/SAVP 0\r\na=crypto:9 AES_CM_128_HMAC_SHA1_80 inline:" +
                           kKey80 + "\r\n"))
                   .ok());
  ASSERT_TRUE(srtp.create_offer(LocalMedia{40000, 0}).ok());
  auto no_crypto = srtp.process_answer(sdp("m=audio 6000 RTP/SAVP 0\r\n"));
  ASSERT_TRUE(no_crypto.ok());
  EXPECT_FALSE(no_crypto->accepted);
}

TEST(OfferAnswer, RejectedStreamInAnswer) {
  OfferAnswer oa(caps(), counting_random());
  ASSERT_TRUE(oa.create_offer(LocalMedia{40000, 0}).ok());
  auto n = oa.process_answer(sdp("m=audio 0 RTP/AVP 0\r\n"));
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->accepted);
  EXPECT_EQ(n->reason, "stream rejected by the peer");
}

TEST(OfferAnswer, OurOfferAnsweredByOurselvesRoundTrips) {
  LocalCapabilities c = caps();
  c.srtp = SrtpPolicy::kRequired;
  OfferAnswer alice(c, counting_random());
  OfferAnswer bob(c, openssl_random());
  auto offer = alice.create_offer(LocalMedia{40000, 0});
  ASSERT_TRUE(offer.ok());
  auto answer = bob.answer(offer->sdp, LocalMedia{50000, 0});
  ASSERT_TRUE(answer.ok());
  ASSERT_TRUE(answer->negotiated.accepted) << answer->negotiated.reason;
  auto n = alice.process_answer(answer->sdp);
  ASSERT_TRUE(n.ok()) << n.error().message;
  ASSERT_TRUE(n->accepted);
  EXPECT_EQ(n->codec.encoding, "opus");
  EXPECT_EQ(n->telephone_event_pt, 110);
  EXPECT_TRUE(n->rtcp_mux);
  EXPECT_EQ(n->audio_level_ext_id, 1);
  ASSERT_TRUE(n->srtp && answer->negotiated.srtp);
  // Each side's send key is the other side's receive key.
  EXPECT_EQ(n->srtp->local_key_salt, answer->negotiated.srtp->remote_key_salt);
  EXPECT_EQ(n->srtp->remote_key_salt, answer->negotiated.srtp->local_key_salt);
}

}  // namespace
}  // namespace chorus::sdp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
