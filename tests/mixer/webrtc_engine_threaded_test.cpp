// A browser member in a conference of the media engine (issue #18): a SIP
// member sends a 700 Hz tone as plain PCMU, a browser stand-in (libnice STUN
// checks, an OpenSSL DTLS client, SRTP from the exported keys) sends 1100 Hz.
// Each hears the other's tone (Goertzel) and not its own. Then the browser
// goes silent and consent expiry ends it with kMediaEnded; an engine without
// a DTLS context refuses a browser member with kNoWebRtc.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mixer/engine.hpp"
#include "rtp/srtp.hpp"
#include "tests/mixer/engine_test_support.hpp"
#include "tests/webrtc/browser_stand_in.hpp"
#include "tests/webrtc/dtls_test_support.hpp"
#include "webrtc/demux.hpp"
#include "webrtc/dtls_certificate.hpp"
#include "webrtc/dtls_transport.hpp"

namespace chorus::mixer {
namespace {

using namespace std::chrono_literals;
using testing::Caller;
using webrtc::testing::Datagram;
using webrtc::testing::DtlsTestClient;

constexpr ConferenceId kRoom = 1;
constexpr ParticipantId kSip = 10;
constexpr ParticipantId kBrowser = 11;
const char kUfrag[] = "ChRs";
const char kPwd[] = "chorus-local-password-0123";
const char kRemoteUfrag[] = "BrWs";
const char kRemotePwd[] = "browser-remote-password-0123";

EngineConfig engine_config(const webrtc::DtlsContext* dtls,
                           rtp::IoBackend io = rtp::IoBackend::kAuto) {
  EngineConfig c;
  c.shards = 1;
  c.shard.bind_address = boost::asio::ip::make_address("127.0.0.1");
  c.shard.port_first = static_cast<uint16_t>(36000 + (::getpid() % 200) * 10);
  c.shard.port_last = static_cast<uint16_t>(c.shard.port_first + 9);
  c.shard.consent_timeout = 800ms;
  c.shard.io = io;
  c.dtls_context = dtls;
  return c;
}

Command add(ParticipantId id) {
  Command c;
  c.kind = Command::Kind::kAddParticipant;
  c.conference = kRoom;
  c.participant = id;
  c.codec = default_params(CodecId::kPcmu);
  c.payload_type = 0;
  c.stream.clock_rate = 8000;
  c.stream.samples_per_tick = 160;
  return c;
}

// Submits and waits for the completion; the event.
std::optional<Event> run(Engine& engine, Command c, std::vector<Event>& notices) {
  const std::optional<CommandId> id = engine.submit(std::move(c));
  if (!id) return std::nullopt;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    Event e;
    while (engine.poll(e)) {
      if (e.id == *id) return e;
      if (e.id == 0) notices.push_back(e);
    }
    std::this_thread::sleep_for(5ms);
  }
  return std::nullopt;
}

// The browser: one UDP socket for STUN, DTLS and SRTP (BUNDLE, rtcp-mux).
class Browser {
 public:
  explicit Browser(double freq) : freq_(freq) {
    fd_ = testing::loopback_udp_socket(port_);
    encoder_ = make_encoder(default_params(CodecId::kPcmu));
    decoder_ = make_decoder(default_params(CodecId::kPcmu));
  }
  ~Browser() { ::close(fd_); }
  void set_target(uint16_t port) { target_ = port; }
  void send(std::span<const uint8_t> d) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(target_);
    ::sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  // Binding requests (the stream's own checks, RFC 7675) are answered here,
  // below the caller, as a browser's ICE agent does.
  std::optional<std::vector<uint8_t>> receive(std::chrono::milliseconds timeout) {
    timeval tv{0, static_cast<suseconds_t>(timeout.count() * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
      std::vector<uint8_t> buf(2048);
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n <= 0) return std::nullopt;
      buf.resize(static_cast<size_t>(n));
      if (!answered_check(buf, from, from_len)) return buf;
    }
  }

  bool connect(const std::vector<uint8_t>& check) {
    send(check);
    bool answered = false;
    for (int i = 0; i < 20 && !answered; ++i) {
      auto d = receive(100ms);
      answered = d && webrtc::testing::stun_type(*d) == 0x0101;
    }
    if (!answered) {
      ADD_FAILURE() << "no STUN answer";
      return false;
    }
    // The stream's own check follows its answer: answered (in receive())
    // before DTLS starts, so the ClientHello finds the address verified.
    for (int i = 0; i < 10 && answerer_.answered() == 0; ++i) receive(20ms);
    for (const Datagram& d : dtls.step()) send(d);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!dtls.connected() && !dtls.failed() && std::chrono::steady_clock::now() < until) {
      auto d = receive(50ms);
      if (d && webrtc::classify(*d) == webrtc::PacketKind::kDtls) {
        dtls.receive(*d);
        for (const Datagram& out : dtls.step()) send(out);
      } else if (!d && dtls.timer_expired()) {
        for (const Datagram& out : dtls.retransmit()) send(out);
      }
    }
    if (!dtls.connected()) {
      ADD_FAILURE() << "DTLS did not connect (failed: " << dtls.failed() << ")";
      return false;
    }
    const webrtc::SrtpKeys keys = dtls.keys();
    out_ = rtp::SrtpSession::create(keys.suite, keys.outbound(),
                                    rtp::SrtpSession::Direction::kOutbound);
    in_ =
        rtp::SrtpSession::create(keys.suite, keys.inbound(), rtp::SrtpSession::Direction::kInbound);
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    return out_ && in_;
  }

  void send_frame() {
    Frame f;
    f.sample_rate = 8000;
    f.samples = 160;
    for (size_t i = 0; i < 160; ++i) {
      f.data[i] = static_cast<int16_t>(6000.0 * std::sin(phase_));
      phase_ += 2.0 * std::numbers::pi * freq_ / 8000.0;
    }
    std::array<uint8_t, 200> payload{};
    const size_t size = encoder_->encode(f, payload);
    std::array<uint8_t, 400> packet{};
    const rtp::RtpHeader h{0, seq_ == 0, seq_, ts_, 0xB0B0B0B0};
    size_t n = rtp::write_packet(packet, h, std::span<const uint8_t>(payload.data(), size));
    ++seq_;
    ts_ += 160;
    if (out_->protect_rtp(packet.data(), n, packet.size())) send({packet.data(), n});
  }

  void receive_media(bool keep) {
    std::array<uint8_t, 2048> buf{};
    for (;;) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const ssize_t got =
          ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (got <= 0) return;
      size_t n = static_cast<size_t>(got);
      if (answered_check({buf.data(), n}, from, from_len)) continue;
      if (webrtc::classify({buf.data(), n}) != webrtc::PacketKind::kRtp) continue;
      if (!in_->unprotect_rtp(buf.data(), n)) continue;
      const auto view = rtp::PacketView::parse(std::span<const uint8_t>(buf.data(), n));
      if (!view || view->payload_type() != 0) continue;
      Frame f;
      if (keep && decoder_->decode(view->payload(), f))
        heard_.insert(heard_.end(), f.pcm().begin(), f.pcm().end());
    }
  }
  double heard(double freq) const { return goertzel_amplitude(heard_, freq, 8000); }
  size_t samples() const { return heard_.size(); }

  DtlsTestClient dtls;

 private:
  bool answered_check(std::span<const uint8_t> d, const sockaddr_storage& from, socklen_t len) {
    if (!webrtc::testing::CheckAnswerer::is_request(d)) return false;
    const std::vector<uint8_t> answer = answerer_.answer(d, from, len);
    if (!answer.empty())
      ::sendto(fd_, answer.data(), answer.size(), 0, reinterpret_cast<const sockaddr*>(&from), len);
    return true;
  }

  webrtc::testing::CheckAnswerer answerer_{kRemoteUfrag, kRemotePwd, kUfrag};
  double freq_;
  double phase_ = 0;
  int fd_ = -1;
  uint16_t port_ = 0;
  uint16_t target_ = 0;
  uint16_t seq_ = 0;
  uint32_t ts_ = 0;
  std::optional<rtp::SrtpSession> out_;
  std::optional<rtp::SrtpSession> in_;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<int16_t> heard_;
};

// On both socket paths: on io_uring a STUN check is often reaped while the
// tick's sends complete, and its answer must survive that tick's release.
class WebRtcEngine : public ::testing::TestWithParam<rtp::IoBackend> {};

TEST_P(WebRtcEngine, ABrowserAndASipMemberHearEachOtherAndConsentExpiryEndsTheBrowser) {
  const webrtc::DtlsCertificate certificate = webrtc::DtlsCertificate::generate("chorus");
  const webrtc::DtlsContext context(certificate);
  Engine engine(engine_config(&context, GetParam()));
  engine.start();
  std::vector<Event> notices;

  Caller sip(700.0);
  Command a = add(kSip);
  a.has_remote = true;
  a.remote_rtp = {boost::asio::ip::make_address("127.0.0.1"), sip.port()};
  const auto added_sip = run(engine, std::move(a), notices);
  ASSERT_TRUE(added_sip && added_sip->kind == Event::Kind::kDone);
  sip.set_mixer_port(static_cast<uint16_t>(added_sip->value));

  Browser browser(1100.0);
  Command b = add(kBrowser);
  rtp::WebRtcConfig w;
  w.local_ufrag.assign(kUfrag);
  w.local_pwd.assign(kPwd);
  w.remote_ufrag.assign(kRemoteUfrag);
  w.remote_pwd.assign(kRemotePwd);
  w.remote_fingerprint = browser.dtls.fingerprint().sha256;
  b.stream.webrtc = w;
  const auto added_browser = run(engine, std::move(b), notices);
  ASSERT_TRUE(added_browser && added_browser->kind == Event::Kind::kDone);
  browser.set_target(static_cast<uint16_t>(added_browser->value));

  webrtc::testing::StunClient ice;
  ASSERT_TRUE(browser.connect(ice.check(kUfrag, kRemoteUfrag, kPwd)));

  // 1.5 s of both tones, paced at 20 ms; the last second is measured.
  auto next = std::chrono::steady_clock::now();
  for (int i = 0; i < 75; ++i) {
    sip.send_frame();
    browser.send_frame();
    next += 20ms;
    std::this_thread::sleep_until(next);
    sip.receive(i >= 25);
    browser.receive_media(i >= 25);
  }
  ASSERT_GT(browser.samples(), 4000u) << "the browser received SRTP it could decrypt";
  ASSERT_GT(sip.samples(), 4000u);
  EXPECT_GT(browser.heard(700.0), 1500.0) << "the browser hears the SIP member";
  EXPECT_LT(browser.heard(1100.0), 300.0) << "and not itself";
  EXPECT_GT(sip.heard(1100.0), 1500.0) << "the SIP member hears the browser";
  EXPECT_LT(sip.heard(700.0), 300.0);

  const ShardStatus st = engine.shard_status(0);
  EXPECT_TRUE(st.io_backend == rtp::io_backend_name(GetParam()) || st.io_error != 0);
  EXPECT_GE(st.stun_success, 1u);
  EXPECT_EQ(st.webrtc_dtls_connected, 1u);
  const auto dtls = engine.dtls_stats();
  ASSERT_TRUE(dtls);
  EXPECT_EQ(dtls->connected, 1u);

  // The browser vanishes: it answers no more consent checks → kMediaEnded(consent).
  std::optional<Event> ended;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (!ended && std::chrono::steady_clock::now() < until) {
    sip.send_frame();  // the SIP member stays alive
    Event e;
    while (engine.poll(e))
      if (e.kind == Event::Kind::kMediaEnded) ended = e;
    for (const Event& n : notices)
      if (n.kind == Event::Kind::kMediaEnded) ended = n;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(ended) << "consent expiry ends the browser";
  EXPECT_EQ(ended->participant, kBrowser);
  EXPECT_EQ(ended->conference, kRoom);
  EXPECT_EQ(ended->value, static_cast<uint64_t>(rtp::MediaEndReason::kConsentExpired));
  EXPECT_EQ(engine.shard_status(0).webrtc_consent_expired, 1u);
  engine.stop();
}

INSTANTIATE_TEST_SUITE_P(Io, WebRtcEngine,
                         ::testing::Values(rtp::IoBackend::kMmsg, rtp::IoBackend::kUring),
                         [](const auto& info) {
                           return std::string(rtp::io_backend_name(info.param));
                         });

TEST(WebRtcEngineConfig, WithoutADtlsContextABrowserMemberFailsNoWebRtc) {
  Engine engine(engine_config(nullptr));
  engine.start();
  std::vector<Event> notices;
  Command b = add(kBrowser);
  b.stream.webrtc = rtp::WebRtcConfig{};
  const auto done = run(engine, std::move(b), notices);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->kind, Event::Kind::kFailed);
  EXPECT_EQ(done->failure, Failure::kNoWebRtc);
  engine.stop();
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
