// Browser offers (UDP/TLS/RTP/SAVPF, issue #18): ICE-lite (RFC 8445 §2.5,
// RFC 8839), DTLS-SRTP with us passive (RFC 5763), BUNDLE with the audio
// mid only (RFC 8843), rtcp-mux/rsize. The offers are real ones captured
// from headless Chromium and firefox-esr (testdata/webrtc/README.md).

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>

#include "signaling/sdp/offer_answer.hpp"
#include "signaling/sdp/sdp_webrtc.hpp"

namespace chorus::sdp {
namespace {

const std::string kDir = CHORUS_SOURCE_DIR "/tests/signaling/testdata/webrtc/";
const std::string kChromium = "chromium-156.0.8078.114.sdp";
const std::string kFirefox = "firefox-esr-153.8.0esr.sdp";
// The web page's own offer (audio only), saved by the web_join_page test.
const std::string kChromiumPage = "chromium-156.0.8078.114-page.sdp";
// Our certificate's fingerprint, as the focus passes it in.
const std::string kOurFingerprint =
    "sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
    "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF";
constexpr std::uint16_t kPort = 40000;

std::string read_offer(const std::string& name) {
  std::ifstream in(kDir + name, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Drops every line starting with `prefix`.
std::string drop_lines(const std::string& text, const std::string& prefix) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(prefix)) out += line + "\n";
  }
  return out;
}

LocalCapabilities caps() {
  LocalCapabilities c;
  c.address = "203.0.113.5";
  c.dtls_fingerprint = kOurFingerprint;
  c.ice_public_address = "198.51.100.7";
  return c;
}

OfferAnswerOutput answer_ok(OfferAnswer& oa, const std::string& offer) {
  auto out = oa.answer(offer, LocalMedia{kPort, 0});
  EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message);
  return out.ok() ? std::move(out).value() : OfferAnswerOutput{};
}

std::vector<std::string> names(const Media& m) {
  std::vector<std::string> out;
  for (const auto& a : m.attributes) out.push_back(a.name);
  return out;
}

std::string value(const Media& m, std::string_view name) {
  const Attribute* a = m.find_attribute(name);
  return a && a->value ? *a->value : std::string("<none>");
}

struct Browser {
  std::string file;
  std::vector<std::string> audio_formats;  // what our answer keeps
  std::vector<std::string> audio_attributes;
};

class BrowserOffer : public ::testing::TestWithParam<Browser> {};

TEST_P(BrowserOffer, IsAnsweredWithIceLiteDtlsPassiveAndAudioOnly) {
  const Browser& b = GetParam();
  const std::string text = read_offer(b.file);
  ASSERT_FALSE(text.empty()) << kDir + b.file;
  auto offer = Session::parse(text);
  ASSERT_TRUE(offer.ok()) << offer.error().message;
  auto remote = parse_webrtc_transport(offer.value(), 0);
  ASSERT_TRUE(remote.ok()) << remote.error().message;

  OfferAnswer oa(caps());
  const OfferAnswerOutput out = answer_ok(oa, text);
  const Negotiated& n = out.negotiated;
  ASSERT_TRUE(n.accepted) << n.reason;
  EXPECT_EQ(n.media_index, 0u);
  EXPECT_EQ(n.codec.encoding, "opus");
  EXPECT_EQ(n.codec.clock_rate, 48000u);
  EXPECT_EQ(n.codec.channels, 2u);
  EXPECT_TRUE(n.rtcp_mux);
  EXPECT_FALSE(n.srtp.has_value());
  // ICE decides where media goes; c= is only the default candidate, and
  // Firefox's c=IN IP4 0.0.0.0 is no hold.
  EXPECT_TRUE(n.remote_address.empty());
  EXPECT_EQ(n.remote_rtp_port, 0);
  EXPECT_FALSE(n.remote_hold);
  EXPECT_EQ(n.local_direction, Direction::kSendRecv);
  ASSERT_TRUE(n.audio_level_ext_id.has_value());
  EXPECT_EQ(*n.audio_level_ext_id, 1);
  ASSERT_TRUE(n.webrtc.has_value());
  const NegotiatedWebRtc& w = *n.webrtc;
  EXPECT_EQ(w.remote_ufrag, remote->ice_ufrag);
  EXPECT_EQ(w.remote_pwd, remote->ice_pwd);
  EXPECT_EQ(w.remote_fingerprint, remote->fingerprint);
  EXPECT_EQ(w.remote_setup, Setup::kActPass);
  EXPECT_EQ(w.mid, "0");
  EXPECT_EQ(w.local_ufrag.size(), 8u);
  EXPECT_EQ(w.local_pwd.size(), 24u);
  EXPECT_TRUE(is_ice_chars(w.local_ufrag));
  EXPECT_TRUE(is_ice_chars(w.local_pwd));
  EXPECT_FALSE(w.ice_restart);
  EXPECT_FALSE(w.fingerprint_changed);

  // What goes on the wire, read back.
  auto answer = Session::parse(out.sdp);
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  const Session& s = answer.value();
  std::vector<std::string> session_attributes;
  for (const auto& a : s.attributes) session_attributes.push_back(a.name);
  EXPECT_EQ(session_attributes, (std::vector<std::string>{"ice-lite", "group"}));
  ASSERT_NE(s.find_attribute("group"), nullptr);
  EXPECT_EQ(s.find_attribute("group")->value.value_or(""), "BUNDLE 0");
  // One answered m-line per offered one (RFC 3264 §6).
  const Session& o = offer.value();
  ASSERT_EQ(s.media.size(), o.media.size());

  const Media& audio = s.media[0];
  EXPECT_EQ(audio.port, kPort);
  EXPECT_EQ(audio.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(audio.formats, b.audio_formats);
  EXPECT_EQ(names(audio), b.audio_attributes);
  EXPECT_EQ(value(audio, "fmtp"), audio.formats[0] + " useinbandfec=1");
  EXPECT_EQ(value(audio, "mid"), "0");
  EXPECT_EQ(value(audio, "ice-ufrag"), w.local_ufrag);
  EXPECT_EQ(value(audio, "ice-pwd"), w.local_pwd);
  EXPECT_EQ(value(audio, "fingerprint"), kOurFingerprint);
  EXPECT_EQ(value(audio, "setup"), "passive");
  // RFC 8445 §5.1.2.1: (2^24)*126 + (2^8)*65535 + (256 - 1), then the
  // announced address with local preference 65534.
  const auto candidates = audio.attribute_values("candidate");
  ASSERT_EQ(candidates.size(), 2u);
  EXPECT_EQ(candidates[0], "1 1 udp 2130706431 203.0.113.5 40000 typ host");
  EXPECT_EQ(candidates[1], "2 1 udp 2130706175 198.51.100.7 40000 typ host");
  EXPECT_EQ(value(audio, "extmap"), "1 urn:ietf:params:rtp-hdrext:ssrc-audio-level");
  EXPECT_EQ(out.sdp.find("a=crypto"), std::string::npos);

  // Video and the data channel (the capture page offers both, the join
  // page neither): refused with port 0, proto and formats echoed (RFC 3264
  // §6), mids kept.
  for (size_t i = 1; i < o.media.size(); ++i) {
    SCOPED_TRACE(o.media[i].media);
    EXPECT_EQ(s.media[i].media, o.media[i].media);
    EXPECT_EQ(s.media[i].port, 0);
    EXPECT_EQ(s.media[i].proto, o.media[i].proto);
    EXPECT_EQ(s.media[i].formats, o.media[i].formats);
    EXPECT_EQ(names(s.media[i]), std::vector<std::string>{"mid"});
    EXPECT_EQ(value(s.media[i], "mid"), std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Captured, BrowserOffer,
    ::testing::Values(
        // Chromium offers telephone-event/48000 and rtcp-rsize.
        Browser{kChromium,
                {"111", "110"},
                {"rtpmap", "fmtp", "rtpmap", "fmtp", "ptime", "sendrecv", "rtcp-mux", "rtcp-rsize",
                 "mid", "ice-ufrag", "ice-pwd", "fingerprint", "setup", "candidate", "candidate",
                 "end-of-candidates", "extmap"}},
        // The join page's call: audio only; the same answered audio line.
        Browser{kChromiumPage,
                {"111", "110"},
                {"rtpmap", "fmtp", "rtpmap", "fmtp", "ptime", "sendrecv", "rtcp-mux", "rtcp-rsize",
                 "mid", "ice-ufrag", "ice-pwd", "fingerprint", "setup", "candidate", "candidate",
                 "end-of-candidates", "extmap"}},
        // Firefox: telephone-event at 8000 only (no match for Opus at 48000,
        // RFC 4733 §2.1), no rtcp-rsize on audio, fingerprint at session level.
        Browser{kFirefox,
                {"109"},
                {"rtpmap", "fmtp", "ptime", "sendrecv", "rtcp-mux", "mid", "ice-ufrag", "ice-pwd",
                 "fingerprint", "setup", "candidate", "candidate", "end-of-candidates", "extmap"}}),
    [](const ::testing::TestParamInfo<Browser>& info) {
      if (info.param.file == kChromiumPage) return std::string("ChromiumJoinPage");
      return info.param.file.starts_with("chromium") ? std::string("Chromium")
                                                     : std::string("FirefoxEsr");
    });

struct Refusal {
  const char* name;
  std::string (*mutate)(const std::string&);
  const char* reason;
};

class BrowserOfferRefused : public ::testing::TestWithParam<Refusal> {};

TEST_P(BrowserOfferRefused, WithEveryStreamAtPortZeroAndAReason) {
  const Refusal& r = GetParam();
  OfferAnswer oa(caps());
  const OfferAnswerOutput out = answer_ok(oa, r.mutate(read_offer(kChromium)));
  EXPECT_FALSE(out.negotiated.accepted);
  EXPECT_NE(out.negotiated.reason.find(r.reason), std::string::npos) << out.negotiated.reason;
  ASSERT_EQ(out.session.media.size(), 3u);
  for (const auto& m : out.session.media) EXPECT_EQ(m.port, 0);
  EXPECT_FALSE(out.session.has_attribute("ice-lite"));
  EXPECT_FALSE(out.session.has_attribute("group"));
}

INSTANTIATE_TEST_SUITE_P(
    Rfc8839Rfc5763, BrowserOfferRefused,
    ::testing::Values(
        Refusal{"no fingerprint",
                [](const std::string& o) { return drop_lines(o, "a=fingerprint:"); },
                "no a=fingerprint"},
        Refusal{"sha1 only",
                [](const std::string& o) {
                  return replace_all(
                      drop_lines(o, "a=fingerprint:"), "a=setup:actpass",
                      "a=fingerprint:sha-1 "
                      "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\r\n"
                      "a=setup:actpass");
                },
                "no sha-256 a=fingerprint (offered: sha-1)"},
        Refusal{"setup passive",
                [](const std::string& o) {
                  return replace_all(o, "a=setup:actpass", "a=setup:passive");
                },
                "a=setup:passive offered: we cannot be the DTLS client"},
        Refusal{"no rtcp mux", [](const std::string& o) { return drop_lines(o, "a=rtcp-mux"); },
                "a=rtcp-mux required"},
        Refusal{"ufrag too short",
                [](const std::string& o) {
                  return replace_all(o, "a=ice-ufrag:5yeS", "a=ice-ufrag:5ye");
                },
                "bad a=ice-ufrag"},
        Refusal{"pwd too short",
                [](const std::string& o) {
                  return replace_all(o, "a=ice-pwd:bdEW+IRhjR0rViYoH9UeOhO+",
                                     "a=ice-pwd:bdEW+IRhjR");
                },
                "bad a=ice-pwd"},
        Refusal{"no ice credentials", [](const std::string& o) { return drop_lines(o, "a=ice-"); },
                "ICE credentials missing"},
        Refusal{
            "bad fingerprint",
            [](const std::string& o) { return replace_all(o, "sha-256 65:95", "sha-256 6:595"); },
            "bad a=fingerprint"}),
    [](const ::testing::TestParamInfo<Refusal>& info) {
      std::string name;
      for (const char* p = info.param.name; *p; ++p)
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
      return name;
    });

TEST(WebRtcOfferAnswer, WithoutACertificateDtlsOffersAreRefused) {
  LocalCapabilities c = caps();
  c.dtls_fingerprint.clear();
  OfferAnswer oa(c);
  const OfferAnswerOutput out = answer_ok(oa, read_offer(kChromium));
  EXPECT_FALSE(out.negotiated.accepted);
  EXPECT_EQ(out.negotiated.reason, "DTLS-SRTP not configured");
}

TEST(WebRtcOfferAnswer, SetupActiveIsAnsweredPassive) {
  OfferAnswer oa(caps());
  const OfferAnswerOutput out =
      answer_ok(oa, replace_all(read_offer(kChromium), "a=setup:actpass", "a=setup:active"));
  ASSERT_TRUE(out.negotiated.accepted) << out.negotiated.reason;
  EXPECT_EQ(out.negotiated.webrtc->remote_setup, Setup::kActive);
  EXPECT_EQ(value(out.session.media[0], "setup"), "passive");
}

TEST(WebRtcOfferAnswer, WithoutAnnouncedAddressOneHostCandidate) {
  LocalCapabilities c = caps();
  c.ice_public_address.clear();
  OfferAnswer oa(c);
  const OfferAnswerOutput out = answer_ok(oa, read_offer(kChromium));
  ASSERT_TRUE(out.negotiated.accepted);
  EXPECT_EQ(out.session.media[0].attribute_values("candidate").size(), 1u);
}

TEST(WebRtcOfferAnswer, NoBundleOfferedMeansNoGroupAnswered) {
  OfferAnswer oa(caps());
  const OfferAnswerOutput out = answer_ok(oa, drop_lines(read_offer(kChromium), "a=group:"));
  ASSERT_TRUE(out.negotiated.accepted);
  EXPECT_TRUE(out.session.has_attribute("ice-lite"));
  EXPECT_FALSE(out.session.has_attribute("group"));
}

// RFC 8839 §4.4.1.1.2: same ufrag and pwd, no ICE restart: our credentials
// are repeated. §4.4.1.1.1: new ones restart ICE and we answer new ones too.
TEST(WebRtcOfferAnswer, ReOfferWithSameCredentialsKeepsOurs) {
  OfferAnswer oa(caps());
  const std::string offer = read_offer(kChromium);
  const OfferAnswerOutput first = answer_ok(oa, offer);
  const OfferAnswerOutput again =
      answer_ok(oa, replace_all(offer, "a=sendrecv", "a=sendonly"));  // a hold
  ASSERT_TRUE(again.negotiated.accepted);
  const NegotiatedWebRtc& w1 = *first.negotiated.webrtc;
  const NegotiatedWebRtc& w2 = *again.negotiated.webrtc;
  EXPECT_EQ(w2.local_ufrag, w1.local_ufrag);
  EXPECT_EQ(w2.local_pwd, w1.local_pwd);
  EXPECT_FALSE(w2.ice_restart);
  EXPECT_FALSE(w2.fingerprint_changed);
  EXPECT_EQ(value(again.session.media[0], "ice-ufrag"), w1.local_ufrag);
  EXPECT_TRUE(again.negotiated.remote_hold);
}

TEST(WebRtcOfferAnswer, ReOfferWithNewUfragRestartsIce) {
  OfferAnswer oa(caps());
  const std::string offer = read_offer(kChromium);
  const OfferAnswerOutput first = answer_ok(oa, offer);
  const OfferAnswerOutput again =
      answer_ok(oa, replace_all(offer, "a=ice-ufrag:5yeS", "a=ice-ufrag:Zq9x"));
  ASSERT_TRUE(again.negotiated.accepted);
  const NegotiatedWebRtc& w2 = *again.negotiated.webrtc;
  EXPECT_TRUE(w2.ice_restart);
  EXPECT_FALSE(w2.fingerprint_changed);
  EXPECT_EQ(w2.remote_ufrag, "Zq9x");
  EXPECT_NE(w2.local_ufrag, first.negotiated.webrtc->local_ufrag);
  EXPECT_NE(w2.local_pwd, first.negotiated.webrtc->local_pwd);
}

TEST(WebRtcOfferAnswer, ReOfferWithNewPwdRestartsIce) {
  OfferAnswer oa(caps());
  const std::string offer = read_offer(kChromium);
  answer_ok(oa, offer);
  const OfferAnswerOutput again =
      answer_ok(oa, replace_all(offer, "a=ice-pwd:bdEW+IRhjR0rViYoH9UeOhO+",
                                "a=ice-pwd:0000+IRhjR0rViYoH9UeOhO+"));
  EXPECT_TRUE(again.negotiated.webrtc->ice_restart);
}

TEST(WebRtcOfferAnswer, ReOfferWithNewFingerprintIsNotedAndKeepsIce) {
  OfferAnswer oa(caps());
  const std::string offer = read_offer(kChromium);
  const OfferAnswerOutput first = answer_ok(oa, offer);
  const OfferAnswerOutput again =
      answer_ok(oa, replace_all(offer, "sha-256 65:95", "sha-256 66:95"));
  ASSERT_TRUE(again.negotiated.accepted);
  EXPECT_TRUE(again.negotiated.webrtc->fingerprint_changed);
  EXPECT_FALSE(again.negotiated.webrtc->ice_restart);
  EXPECT_EQ(again.negotiated.webrtc->local_ufrag, first.negotiated.webrtc->local_ufrag);
  EXPECT_EQ(again.negotiated.webrtc->remote_fingerprint[0], 0x66);
}

TEST(WebRtcOfferAnswer, EveryDialogGetsItsOwnCredentials) {
  OfferAnswer a(caps());
  OfferAnswer b(caps());
  const std::string offer = read_offer(kChromium);
  EXPECT_NE(answer_ok(a, offer).negotiated.webrtc->local_ufrag,
            answer_ok(b, offer).negotiated.webrtc->local_ufrag);
}

TEST(WebRtcOfferAnswer, RandomFailureIsAnErrorNotWeakCredentials) {
  int calls = 0;
  // The session id draws first; the ICE credentials find no randomness.
  OfferAnswer oa(caps(), [&calls](std::span<std::uint8_t>) { return ++calls == 1; });
  EXPECT_FALSE(oa.answer(read_offer(kChromium), LocalMedia{kPort, 0}).ok());
}

TEST(SdpFingerprint, ParsesEitherCaseAndRefusesBadPairs) {
  auto upper = parse_fingerprint("SHA-256 AB:cd:01");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(upper->hash, "sha-256");
  EXPECT_EQ(upper->bytes, (std::vector<std::uint8_t>{0xAB, 0xCD, 0x01}));
  EXPECT_FALSE(parse_fingerprint("sha-256 AB:C").has_value());
  EXPECT_FALSE(parse_fingerprint("sha-256 AB-CD").has_value());
  EXPECT_FALSE(parse_fingerprint("sha-256").has_value());
  EXPECT_FALSE(parse_fingerprint("sha-256 AB:CD extra").has_value());
  Sha256 digest{};
  digest[0] = 0x0F;
  digest[31] = 0xA0;
  EXPECT_EQ(format_sha256_fingerprint(digest),
            "sha-256 0F:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:"
            "00:00:00:00:00:A0");
}

}  // namespace
}  // namespace chorus::sdp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
