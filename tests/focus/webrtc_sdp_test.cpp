// A browser's offer to a room (issue #18), against a fake media engine: the
// captured Chromium offer (tests/signaling/testdata/webrtc) in an INVITE
// gets a 200 whose SDP is an ICE-lite, DTLS-passive answer carrying the
// fingerprint of the process's certificate (configured or generated), and
// the stream's WebRtcConfig carries both sides' credentials.

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "signaling/sdp/sdp_session.hpp"
#include "signaling/sdp/sdp_webrtc.hpp"
#include "tests/focus/e2e_support.hpp"
#include "tests/focus/fake_media_engine.hpp"
#include "webrtc/dtls_certificate.hpp"

namespace chorus::focus::e2e {
namespace {

using Fake = focus::testing::FakeMediaEngine;
using Kind = mixer::Command::Kind;

std::string chromium_offer() {
  std::ifstream in(CHORUS_SOURCE_DIR "/tests/signaling/testdata/webrtc/chromium-156.0.8078.114.sdp",
                   std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string attribute(const std::string& sdp, const std::string& name) {
  const std::string key = "a=" + name + ":";
  const size_t at = sdp.find(key);
  if (at == std::string::npos) return "<none>";
  return sdp.substr(at + key.size(), sdp.find("\r\n", at) - at - key.size());
}

// A certificate and key in PEM files, removed at scope exit.
class PemFiles {
 public:
  PemFiles() : certificate_(webrtc::DtlsCertificate::generate("chorus-test")) {
    const std::string base = ::testing::TempDir() + "chorus-dtls-" + std::to_string(::getpid());
    cert_path_ = base + "-cert.pem";
    key_path_ = base + "-key.pem";
    FILE* cert = std::fopen(cert_path_.c_str(), "w");
    FILE* key = std::fopen(key_path_.c_str(), "w");
    EXPECT_TRUE(cert && key);
    if (cert) {
      EXPECT_EQ(PEM_write_X509(cert, certificate_.x509()), 1);
      std::fclose(cert);
    }
    if (key) {
      EXPECT_EQ(
          PEM_write_PrivateKey(key, certificate_.key(), nullptr, nullptr, 0, nullptr, nullptr), 1);
      std::fclose(key);
    }
  }
  ~PemFiles() {
    std::remove(cert_path_.c_str());
    std::remove(key_path_.c_str());
  }
  const std::string& cert() const { return cert_path_; }
  const std::string& key() const { return key_path_; }
  std::string fingerprint() const { return certificate_.fingerprint().to_sdp(); }

 private:
  webrtc::DtlsCertificate certificate_;
  std::string cert_path_;
  std::string key_path_;
};

class WebRtcSdp : public FocusE2e {
 protected:
  void start(const std::function<void(Options&)>& tweak = {}) {
    auto engine = std::make_unique<Fake>();
    fake_ = engine.get();
    start_server_with_engine(std::move(engine), tweak);
  }

  // INVITE (or re-INVITE) with a browser's offer; the final response, ACKed.
  std::optional<Message> invite_with(Caller& caller, const std::string& offer,
                                     std::string_view room) {
    Message m = request(caller, Method::kInvite, room);
    m.set_body("application/sdp", offer);
    std::optional<Message> final = exchange(std::move(m));
    if (final && final->status() == 200) {
      if (caller.to_tag.empty()) {
        caller.to_tag = std::string(final->to().tag());
        caller.remote_target = final->contacts().front().uri_text;
      }
      ack(caller, *final, room);
    }
    return final;
  }

  Fake* fake_ = nullptr;
};

TEST_F(WebRtcSdp, ChromiumOfferGetsIceLiteAnswerWithTheConfiguredCertificatesFingerprint) {
  PemFiles pem;
  start([&](Options& o) {
    o.dtls_certificate = pem.cert();
    o.dtls_private_key = pem.key();
    o.media_address = "127.0.0.1";
    o.media_public_address = "198.51.100.7";
  });
  EXPECT_EQ(server_->dtls_certificate().fingerprint().to_sdp(), pem.fingerprint());
  EXPECT_EQ(server_->dtls_context().local_fingerprint().to_sdp(), pem.fingerprint());

  Caller browser(440, "browser");
  const std::optional<Message> ok = invite_with(browser, chromium_offer(), "webrtc");
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200) << ok->reason_phrase() << ok->header("Warning").value_or("");
  const std::string answer(ok->body());
  auto parsed = sdp::Session::parse(answer);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_TRUE(parsed.value().has_attribute("ice-lite"));
  EXPECT_EQ(attribute(answer, "group"), "BUNDLE 0");
  EXPECT_EQ(attribute(answer, "fingerprint"), pem.fingerprint());
  EXPECT_EQ(attribute(answer, "setup"), "passive");
  ASSERT_EQ(parsed.value().media.size(), 3u);
  const uint16_t port = parsed.value().media[0].port;
  EXPECT_EQ(port, 40000);  // the fake engine's first port
  EXPECT_EQ(parsed.value().media[1].port, 0);
  EXPECT_EQ(parsed.value().media[2].port, 0);
  // The candidates carry the port the shard bound, not the placeholder.
  const auto candidates = parsed.value().media[0].attribute_values("candidate");
  ASSERT_EQ(candidates.size(), 2u);
  EXPECT_EQ(candidates[0], "1 1 udp 2130706431 127.0.0.1 40000 typ host");
  EXPECT_EQ(candidates[1], "2 1 udp 2130706175 198.51.100.7 40000 typ host");

  // The stream: Opus, both sides' ICE credentials, the browser's
  // fingerprint; no peer address until ICE finds one.
  ASSERT_EQ(fake_->count(Kind::kAddParticipant), 1u);
  const Fake::Submitted add = *fake_->last(Kind::kAddParticipant);
  EXPECT_EQ(add.codec.id, mixer::CodecId::kOpus);
  EXPECT_FALSE(add.has_remote);
  EXPECT_FALSE(add.has_srtp);
  ASSERT_TRUE(add.webrtc.has_value());
  EXPECT_EQ(add.webrtc->local_ufrag.view(), attribute(answer, "ice-ufrag"));
  EXPECT_EQ(add.webrtc->local_pwd.view(), attribute(answer, "ice-pwd"));
  EXPECT_EQ(add.webrtc->remote_ufrag.view(), "5yeS");
  // The browser's ice-pwd keys the stream's own checks (return routability).
  EXPECT_EQ(add.webrtc->remote_pwd.view(), attribute(chromium_offer(), "ice-pwd"));
  auto offered = sdp::parse_fingerprint(attribute(chromium_offer(), "fingerprint"));
  ASSERT_TRUE(offered.has_value());
  EXPECT_TRUE(std::equal(offered->bytes.begin(), offered->bytes.end(),
                         add.webrtc->remote_fingerprint.begin(),
                         add.webrtc->remote_fingerprint.end()));

  // A re-INVITE with the same credentials: same answer credentials, no
  // second stream.
  const std::optional<Message> again = invite_with(browser, chromium_offer(), "webrtc");
  ASSERT_TRUE(again.has_value());
  ASSERT_EQ(again->status(), 200);
  EXPECT_EQ(attribute(std::string(again->body()), "ice-ufrag"), attribute(answer, "ice-ufrag"));
  EXPECT_EQ(fake_->count(Kind::kAddParticipant), 1u);
  EXPECT_EQ(bye(browser, "webrtc"), 200);
}

// An ICE restart's answer already carries new credentials of ours: the
// engine refusing the stream's change then (its retry queue full) must not
// leave the stream answering the old ones, so the change is kept and sent
// once the engine takes commands again.
TEST_F(WebRtcSdp, ARefusedIceRestartReachesTheEngineOnceItTakesIt) {
  start();
  Caller browser(440, "browser");
  const std::optional<Message> ok = invite_with(browser, chromium_offer(), "restart");
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200);
  const std::string first_ufrag = attribute(std::string(ok->body()), "ice-ufrag");
  fake_->refuse_all = true;
  std::string restart = chromium_offer();
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"a=ice-ufrag:5yeS", "a=ice-ufrag:Rs7q"},
        {"a=ice-pwd:bdEW+IRhjR0rViYoH9UeOhO+", "a=ice-pwd:Q2fNc8LpXw0aZk4TtYhVbM1r"}}) {
    for (size_t at = restart.find(from); at != std::string::npos; at = restart.find(from, at)) {
      restart.replace(at, from.size(), to);
    }
  }
  const std::optional<Message> again = invite_with(browser, restart, "restart");
  ASSERT_TRUE(again.has_value());
  ASSERT_EQ(again->status(), 200);
  const std::string new_ufrag = attribute(std::string(again->body()), "ice-ufrag");
  EXPECT_NE(new_ufrag, first_ufrag);  // RFC 8839 §4.4.1.1.1: ours change too
  const size_t before = fake_->count(Kind::kSetWebRtc);
  const auto pump = [&](std::chrono::milliseconds time) {
    for (const auto end = std::chrono::steady_clock::now() + time;
         std::chrono::steady_clock::now() < end;) {
      io_.run_for(5ms);
      server_->poll_media();
    }
  };
  pump(50ms);
  EXPECT_EQ(server_->gauges().unsent_changes, 1u);
  EXPECT_EQ(fake_->count(Kind::kSetWebRtc), before);
  fake_->refuse_all = false;
  pump(50ms);
  ASSERT_EQ(fake_->count(Kind::kSetWebRtc), before + 1);
  const Fake::Submitted set = *fake_->last(Kind::kSetWebRtc);
  ASSERT_TRUE(set.webrtc.has_value());
  EXPECT_EQ(set.webrtc->local_ufrag.view(), new_ufrag);
  EXPECT_EQ(set.webrtc->remote_ufrag.view(), "Rs7q");
  EXPECT_EQ(server_->gauges().unsent_changes, 0u);
  pump(50ms);
  EXPECT_EQ(fake_->count(Kind::kSetWebRtc), before + 1);  // once
  EXPECT_EQ(bye(browser, "restart"), 200);
}

TEST_F(WebRtcSdp, WithoutAConfiguredCertificateOneIsGeneratedAndAnswered) {
  start();
  const std::string ours = server_->dtls_certificate().fingerprint().to_sdp();
  EXPECT_EQ(ours.rfind("sha-256 ", 0), 0u);
  Caller browser(440, "browser");
  const std::optional<Message> ok = invite_with(browser, chromium_offer(), "webrtc");
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200) << ok->reason_phrase() << ok->header("Warning").value_or("");
  EXPECT_EQ(attribute(std::string(ok->body()), "fingerprint"), ours);
  EXPECT_EQ(bye(browser, "webrtc"), 200);
}

TEST_F(WebRtcSdp, OfferWithSetupPassiveIs488WithTheReason) {
  start();
  std::string offer = chromium_offer();
  for (size_t at = offer.find("a=setup:actpass"); at != std::string::npos;
       at = offer.find("a=setup:actpass", at)) {
    offer.replace(at, 15, "a=setup:passive");
  }
  Caller browser(440, "browser");
  Message m = request(browser, Method::kInvite, "webrtc");
  m.set_body("application/sdp", offer);
  const std::optional<Message> refused = exchange(std::move(m));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status(), 488);
  const auto warning = refused->header("Warning");
  EXPECT_NE(std::string(warning.value_or("")).find("cannot be the DTLS client"), std::string::npos);
  EXPECT_EQ(fake_->count(Kind::kAddParticipant), 0u);
}

// media.port_mode = "shared" (issues #16, #18): a browser is answered with
// its shard's one port as the ICE candidate (the shard finds its checks by
// the ufrag in their USERNAME), two browsers get their own credentials on
// that one port, and a SIP phone still gets in. The real media engine.
TEST_F(WebRtcSdp, OnASharedMediaPortBrowsersAreAnsweredWithTheSharedPortAsTheirCandidate) {
  start_server(45700, 45709, 30s, [](Options& o) {
    o.media_port_mode = "shared";
    o.media_shards = 1;
    o.media_address = "127.0.0.1";
  });
  Caller first(440, "browser1");
  Caller second(550, "browser2");
  std::vector<std::string> ufrags;
  for (Caller* browser : {&first, &second}) {
    SCOPED_TRACE(browser->name());
    const std::optional<Message> ok = invite_with(*browser, chromium_offer(), "webrtc");
    ASSERT_TRUE(ok.has_value());
    ASSERT_EQ(ok->status(), 200) << ok->reason_phrase() << ok->header("Warning").value_or("");
    const std::string answer(ok->body());
    auto parsed = sdp::Session::parse(answer);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_TRUE(parsed.value().has_attribute("ice-lite"));
    ASSERT_FALSE(parsed.value().media.empty());
    EXPECT_EQ(parsed.value().media[0].port, 45700);
    const auto candidates = parsed.value().media[0].attribute_values("candidate");
    ASSERT_EQ(candidates.size(), 1u);
    EXPECT_EQ(candidates[0], "1 1 udp 2130706431 127.0.0.1 45700 typ host");
    ufrags.push_back(attribute(answer, "ice-ufrag"));
  }
  ASSERT_EQ(ufrags.size(), 2u);
  EXPECT_NE(ufrags[0], ufrags[1]);  // the shard tells them apart by it
  Caller phone(700, "phone");
  EXPECT_EQ(invite(phone, "sendrecv", "webrtc"), 200);
  EXPECT_EQ(phone.mixer_port, 45700);
  EXPECT_EQ(server_->call_count(), 3u);
  EXPECT_EQ(bye(first, "webrtc"), 200);
  EXPECT_EQ(bye(second, "webrtc"), 200);
  EXPECT_EQ(bye(phone, "webrtc"), 200);
}

}  // namespace
}  // namespace chorus::focus::e2e

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
