// A WebRTC stream on a running shard (issue #18), against a browser stand-in
// on loopback: libnice's STUN agent sends the connectivity checks (RFC 8445
// §7.2.2, controlling, USE-CANDIDATE), an OpenSSL DTLS 1.2 client with its
// own certificate runs the handshake (RFC 5763/5764), and SRTP with the
// exported keys flows both ways through the shard's DtlsWorker channel.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "rtp/srtp.hpp"
#include "rtp/udp_batch.hpp"
#include "tests/rtp/shard_test_support.hpp"
#include "tests/webrtc/browser_stand_in.hpp"
#include "tests/webrtc/dtls_test_support.hpp"
#include "webrtc/demux.hpp"
#include "webrtc/dtls_certificate.hpp"
#include "webrtc/dtls_transport.hpp"
#include "webrtc/dtls_worker.hpp"

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;
using testing::Driver;
using testing::Event;
using testing::EventKind;
using testing::Peer;
using webrtc::testing::Datagram;
using webrtc::testing::DtlsTestClient;
using webrtc::testing::stun_error_code;
using webrtc::testing::stun_type;

const char kLocalUfrag[] = "ChRs";
const char kLocalPwd[] = "chorus-local-password-0123";
const char kRemoteUfrag[] = "BrWs";
const char kRemotePwd[] = "browser-remote-password-0123";

// A browser's address: its ICE agent answers the stream's own checks
// (return routability, RFC 7675) with the browser's credentials.
class Browser : public Peer {
 public:
  explicit Browser(const char* ufrag = kRemoteUfrag, const char* server_ufrag = kLocalUfrag) {
    answer_checks(ufrag, kRemotePwd, server_ufrag);
  }
};

// The browser's ICE agent, for our credentials.
class StunClient {
 public:
  std::vector<uint8_t> check(const std::string& pwd, bool use_candidate = true) {
    return client_.check(kLocalUfrag, kRemoteUfrag, pwd, use_candidate);
  }

 private:
  webrtc::testing::StunClient client_;
};

WebRtcConfig webrtc_config(const webrtc::Fingerprint& remote) {
  WebRtcConfig w;
  w.local_ufrag.assign(kLocalUfrag);
  w.local_pwd.assign(kLocalPwd);
  w.remote_ufrag.assign(kRemoteUfrag);
  w.remote_pwd.assign(kRemotePwd);
  w.remote_fingerprint = remote.sha256;
  return w;
}

// Sends one RTP packet on the stream every tick (the mixer's part), payload
// 0x5A..., so the browser stand-in can check what it decrypts.
class SendEveryTick : public TickHandler {
 public:
  SendEveryTick(Shard& shard, StreamId id) : shard_(shard), id_(id) {}
  ~SendEveryTick() override { shard_.stop(); }
  void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
    if (Stream* s = shard_.find_stream(id_)) {
      const std::array<uint8_t, 160> payload = [] {
        std::array<uint8_t, 160> p;
        p.fill(0x5A);
        return p;
      }();
      if (s->send(0, payload, 160, false)) sent.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::atomic<uint64_t> sent{0};

 private:
  Shard& shard_;
  StreamId id_;
};

// What a test may change on a Bench; a test names only what differs.
struct BenchOptions {
  std::chrono::milliseconds consent_timeout = 30'000ms;
  // The first wait of our check to a candidate (RFC 5389 §7.2.1); 10 ms
  // gives an unanswered candidate up within ~0.8 s.
  std::chrono::milliseconds candidate_rto = 500ms;
  bool bind_any = false;
  std::chrono::milliseconds connected_idle = 600'000ms;
};

// A worker, a shard with its channel, the driver, and one WebRTC stream.
struct Bench {
  explicit Bench(const webrtc::Fingerprint& remote, const BenchOptions& options = {})
      : certificate(webrtc::DtlsCertificate::generate("chorus")),
        context(certificate),
        worker(context, 1,
               [&] {
                 webrtc::DtlsWorker::Config w;
                 w.connected_idle = options.connected_idle;
                 return w;
               }()),
        shard([&] {
          ShardConfig c = testing::loopback_config();
          c.dtls = &worker.channel(0);
          c.consent_timeout = options.consent_timeout;
          c.candidate_rto = options.candidate_rto;
          c.dtls_alive_interval =
              std::min<std::chrono::milliseconds>(60s, options.connected_idle / 4);
          if (options.bind_any) c.bind_address = boost::asio::ip::address_v4::any();
          return c;
        }()),
        sender(shard, kId),
        driver(shard, &sender) {
    worker.start();
    shard.start();
    StreamConfig config;
    config.webrtc = webrtc_config(remote);
    port = testing::open_via_command(driver, kId, config);
  }
  ~Bench() {
    shard.stop();
    worker.stop();
  }

  // Sends a check and returns the stream's answer. A peer that answers the
  // stream's own checks (a Browser) is then given the time to answer the
  // check this one started, as a browser's ICE agent would, so media and
  // DTLS find the address verified.
  std::vector<uint8_t> stun(Peer& from, const std::vector<uint8_t>& request) {
    const uint64_t started_before = shard.webrtc_count(WebRtcCounter::kCheckStarted);
    const uint64_t deferred_before = shard.webrtc_count(WebRtcCounter::kCandidateDeferred);
    from.send_to(port, request);
    std::vector<uint8_t> answer;
    for (int i = 0; i < 50 && answer.empty(); ++i) {
      auto d = from.receive(100ms);
      if (d && webrtc::classify(*d) == webrtc::PacketKind::kStun) answer = *d;
    }
    // A candidate deferred by the spacing of new ones (Stream::
    // kCandidateSpacing) starts within a second.
    const auto pending = [&] {
      const uint64_t started = shard.webrtc_count(WebRtcCounter::kCheckStarted);
      return started > shard.webrtc_count(WebRtcCounter::kCheckVerified) +
                           shard.webrtc_count(WebRtcCounter::kCheckGaveUp) ||
             (shard.webrtc_count(WebRtcCounter::kCandidateDeferred) > deferred_before &&
              started == started_before);
    };
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (from.answers_checks() && pending() && std::chrono::steady_clock::now() < until)
      from.receive(10ms);
    return answer;
  }

  // Runs the client's handshake through the shard until it connects or fails.
  bool handshake(Peer& from, DtlsTestClient& client, std::chrono::milliseconds limit = 5000ms) {
    for (const Datagram& d : client.step()) from.send_to(port, d);
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!client.connected() && !client.failed() && std::chrono::steady_clock::now() < until) {
      auto d = from.receive(50ms);
      if (d && webrtc::classify(*d) == webrtc::PacketKind::kDtls) {
        client.receive(*d);
        for (const Datagram& out : client.step()) from.send_to(port, out);
      } else if (!d && client.timer_expired()) {
        for (const Datagram& out : client.retransmit()) from.send_to(port, out);
      }
    }
    return client.connected();
  }

  std::optional<Event> ended(std::chrono::milliseconds timeout = 3000ms) {
    return testing::wait_kind(driver, EventKind::kMediaEnded, kId, timeout);
  }

  static constexpr StreamId kId = 7;
  webrtc::DtlsCertificate certificate;
  webrtc::DtlsContext context;
  webrtc::DtlsWorker worker;
  Shard shard;
  SendEveryTick sender;
  Driver driver;
  uint16_t port = 0;
};

// The browser's SRTP, keyed from its end of the handshake.
struct BrowserSrtp {
  explicit BrowserSrtp(const DtlsTestClient& client) {
    const webrtc::SrtpKeys keys = client.keys();
    out = SrtpSession::create(keys.suite, keys.outbound(), SrtpSession::Direction::kOutbound);
    in = SrtpSession::create(keys.suite, keys.inbound(), SrtpSession::Direction::kInbound);
  }
  std::vector<uint8_t> protect(uint16_t seq) {
    const std::array<uint8_t, 160> payload{};
    std::vector<uint8_t> p = testing::make_rtp(0, seq, seq * 160u, 0xB0B0B0B0, payload);
    size_t size = p.size();
    p.resize(size + SrtpSession::kProtectOverhead);
    EXPECT_TRUE(out->protect_rtp(p.data(), size, p.size()));
    p.resize(size);
    return p;
  }
  std::optional<SrtpSession> out;
  std::optional<SrtpSession> in;
};

// Counts SRTP packets from the stream that the browser can decrypt and whose
// payload is the stream's (0x5A...), within `window`.
int received_srtp(Peer& browser, BrowserSrtp& srtp, std::chrono::milliseconds window) {
  int ok = 0;
  for (auto& d : browser.receive_all(window)) {
    if (webrtc::classify(d) != webrtc::PacketKind::kRtp) continue;
    size_t size = d.size();
    if (!srtp.in->unprotect_rtp(d.data(), size)) continue;
    if (size == 12 + 160 && d[12] == 0x5A && d[12 + 159] == 0x5A) ++ok;
  }
  return ok;
}

// Waits for the shard's counter `c` to reach `n` (bounded).
bool counted(Shard& shard, WebRtcCounter c, uint64_t n, std::chrono::milliseconds limit = 3000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (shard.webrtc_count(c) < n && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  return shard.webrtc_count(c) >= n;
}

// The opening most tests share: the browser's DTLS client, its address
// (answering our checks), its ICE agent and the stream it calls. Each test
// opens the stream (with what it changes) and goes as far as it needs.
struct WebRtcStream : ::testing::Test {
  // Opens the stream for the browser's certificate.
  void open(const BenchOptions& options = {}) { open_for(client.fingerprint(), options); }
  // Opens the stream for the certificate `remote` (the SDP's fingerprint).
  void open_for(const webrtc::Fingerprint& remote, const BenchOptions& options = {}) {
    bench.emplace(remote, options);
    ASSERT_NE(bench->port, 0);
  }
  // RFC 8445 §7.3: a valid check from `from` is answered with a success.
  void check_from(Peer& from) {
    ASSERT_EQ(stun_type(bench->stun(from, ice.check(kLocalPwd))), 0x0101);
  }
  // Opens the stream, and the browser's first check succeeds.
  void open_and_check(const BenchOptions& options = {}) {
    ASSERT_NO_FATAL_FAILURE(open(options));
    ASSERT_NO_FATAL_FAILURE(check_from(browser));
  }
  // ...and the browser's DTLS handshake connects through the shard.
  void connect(const BenchOptions& options = {}) {
    ASSERT_NO_FATAL_FAILURE(open_and_check(options));
    ASSERT_TRUE(bench->handshake(browser, client));
  }
  // Connects, keys the browser's SRTP (`srtp`) and sees the stream's media
  // reach the browser.
  void connect_with_media(const BenchOptions& options = {}) {
    ASSERT_NO_FATAL_FAILURE(connect(options));
    srtp.emplace(client);
    ASSERT_TRUE(counted(bench->shard, WebRtcCounter::kDtlsConnected, 1));
    ASSERT_GE(received_srtp(browser, *srtp, 200ms), 3);
  }

  DtlsTestClient client;
  std::optional<Bench> bench;
  Browser browser;
  StunClient ice;
  std::optional<BrowserSrtp> srtp;
};

TEST_F(WebRtcStream, BrowserStandInChecksHandshakesAndExchangesSrtpBothWays) {
  ASSERT_NO_FATAL_FAILURE(open());

  // Before any check: plain RTP is never accepted (counted), nothing is sent.
  const std::array<uint8_t, 160> payload{};
  browser.send_to(bench->port, testing::make_rtp(0, 1, 160, 0xB0B0B0B0, payload));

  // RFC 8445 §7.3: a valid check is answered with a success and latches the source.
  const auto answer = bench->stun(browser, ice.check(kLocalPwd));
  EXPECT_EQ(stun_type(answer), 0x0101);

  ASSERT_TRUE(bench->handshake(browser, client)) << "DTLS handshake through the shard";
  EXPECT_EQ(client.peer_fingerprint(), bench->certificate.fingerprint());

  srtp.emplace(client);
  ASSERT_TRUE(srtp->out && srtp->in);
  // The stream's keys arrive on a tick after the worker's kConnected.
  counted(bench->shard, WebRtcCounter::kDtlsConnected, 1);
  ASSERT_EQ(bench->shard.webrtc_count(WebRtcCounter::kDtlsConnected), 1u);

  // Browser → stream: SRTP accepted.
  for (uint16_t seq = 100; seq < 110; ++seq) {
    browser.send_to(bench->port, srtp->protect(seq));
    std::this_thread::sleep_for(20ms);
  }
  const StreamStats stats = testing::stats_until(
      bench->driver, Bench::kId, [](const StreamStats& s) { return s.packets_received >= 10; });
  EXPECT_EQ(stats.packets_received, 10u);
  EXPECT_EQ(stats.drops.auth_failed, 0u);
  EXPECT_EQ(stats.drops.webrtc_plain, 1u);  // the plain packet before the check

  // Stream → browser: SRTP the browser decrypts, to its latched address.
  EXPECT_GE(received_srtp(browser, *srtp, 300ms), 5);

  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kStunSuccess), 1u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kPlainRtp), 1u);
  EXPECT_EQ(bench->worker.stats().connected, 1u);
  EXPECT_FALSE(bench->ended(50ms));
}

// A browser's re-offer (hold, resume, a refresh) reaches the stream as a new
// remote address from its c= line: ICE, not the SDP, says where a browser
// is, so the latch and the media both ways stay.
TEST_F(WebRtcStream, ASdpAddressFromAReofferLeavesTheIceLatchAlone) {
  ASSERT_NO_FATAL_FAILURE(connect());
  srtp.emplace(client);
  ASSERT_TRUE(srtp->out && srtp->in);
  counted(bench->shard, WebRtcCounter::kDtlsConnected, 1);
  ASSERT_EQ(bench->shard.webrtc_count(WebRtcCounter::kDtlsConnected), 1u);
  ASSERT_GE(received_srtp(browser, *srtp, 200ms), 3);

  // The re-offer's default candidate: some other address of the browser's.
  testing::set_remote(
      bench->driver, Bench::kId,
      boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 9));
  ASSERT_TRUE(testing::request_stats(bench->driver, Bench::kId).has_value());  // applied
  for (uint16_t seq = 200; seq < 210; ++seq) {
    browser.send_to(bench->port, srtp->protect(seq));
    std::this_thread::sleep_for(20ms);
  }
  const StreamStats stats = testing::stats_until(
      bench->driver, Bench::kId, [](const StreamStats& s) { return s.packets_received >= 10; });
  EXPECT_EQ(stats.packets_received, 10u);
  EXPECT_EQ(stats.drops.webrtc_unlatched, 0u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kDtlsUnlatched), 0u);
  EXPECT_GE(received_srtp(browser, *srtp, 300ms), 5);
  EXPECT_FALSE(bench->ended(50ms));
}

TEST_F(WebRtcStream, DtlsAndRtpFromAnAddressThatPassedNoCheckAreDroppedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(open_and_check());

  // Another address sends a ClientHello without a check: no answer, counted.
  Peer intruder;
  DtlsTestClient other;
  for (const Datagram& d : other.step()) intruder.send_to(bench->port, d);
  EXPECT_FALSE(intruder.receive(300ms));
  const StreamStats stats =
      testing::stats_until(bench->driver, Bench::kId,
                           [](const StreamStats& s) { return s.drops.webrtc_unlatched >= 1; });
  EXPECT_GE(stats.drops.webrtc_unlatched, 1u);
  EXPECT_GE(bench->shard.webrtc_count(WebRtcCounter::kDtlsUnlatched), 1u);
  EXPECT_EQ(bench->worker.stats().unknown_id, 0u);  // nothing reached the worker
}

TEST_F(WebRtcStream, BadMessageIntegrityIsAnswered401AndCounted) {
  ASSERT_NO_FATAL_FAILURE(open());
  // RFC 5389 §10.1.2: wrong key → 401 Unauthorized.
  const auto answer = bench->stun(browser, ice.check("not-the-local-password-xyz"));
  EXPECT_EQ(stun_type(answer), 0x0111);
  EXPECT_EQ(stun_error_code(answer), 401);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kStunBadIntegrity), 1u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kStunSuccess), 0u);

  // Nothing latched: DTLS from the same address is still dropped.
  for (const Datagram& d : client.step()) browser.send_to(bench->port, d);
  EXPECT_FALSE(browser.receive(300ms));
}

// Bad checks from anywhere (spoofed sources included) get at most one error
// answer per send of the member's queue: they neither crowd out the
// browser's real check nor reflect at the flood's rate.
TEST_F(WebRtcStream, AFloodOfBadChecksNeitherCrowdsOutTheRealCheckNorIsAnsweredInFull) {
  ASSERT_NO_FATAL_FAILURE(open());
  Peer attacker;
  StunClient bad;
  const auto start = std::chrono::steady_clock::now();
  constexpr int kFlood = 100;  // all of it fits the socket's buffer (read once per tick)
  for (int i = 0; i < kFlood; ++i)
    attacker.send_to(bench->port, bad.check("not-the-local-pwd-xyz"));
  browser.send_to(bench->port, ice.check(kLocalPwd));
  for (int i = 0; i < kFlood; ++i)
    attacker.send_to(bench->port, bad.check("not-the-local-pwd-xyz"));
  std::optional<Datagram> answer;
  for (int i = 0; i < 30 && !answer; ++i) {
    auto d = browser.receive(100ms);
    if (d && webrtc::classify(*d) == webrtc::PacketKind::kStun) answer = d;
  }
  ASSERT_TRUE(answer.has_value()) << "the real check went unanswered";
  EXPECT_EQ(stun_type(*answer), 0x0101);
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (bench->shard.webrtc_count(WebRtcCounter::kStunBadIntegrity) < 2u * kFlood &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(bench->shard.webrtc_count(WebRtcCounter::kStunBadIntegrity), 2u * kFlood);
  const auto ticks = (std::chrono::steady_clock::now() - start) / 20ms;
  const size_t answered = attacker.receive_all(200ms).size();
  EXPECT_GE(answered, 1u);
  EXPECT_LE(answered, static_cast<size_t>(ticks) + 2) << "more than one error answer per tick";
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kStunUnanswered), 2u * kFlood - answered);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kStunSuccess), 1u);
}

TEST_F(WebRtcStream, WrongFingerprintEndsTheMemberAsDtlsFailed) {
  DtlsTestClient someone_else;
  // The SDP named another certificate.
  ASSERT_NO_FATAL_FAILURE(open_for(someone_else.fingerprint()));
  ASSERT_NO_FATAL_FAILURE(check_from(browser));
  EXPECT_FALSE(bench->handshake(browser, client, 2000ms));
  const auto e = bench->ended();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->reason, MediaEndReason::kDtlsFailed);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kDtlsFailed), 1u);
  EXPECT_EQ(bench->worker.stats().fingerprint_mismatch, 1u);
}

// RFC 7675 §5.1: consent is the answers to OUR checks. The stream checks
// the latched address several times per consent timeout; while the browser
// answers, the member stays; once it stops, the member ends a timeout after
// the last answer, though its own checks go on (the member knows our
// ice-pwd, so a check proves nothing about the address it names).
TEST_F(WebRtcStream, AMemberWhoseAddressStopsAnsweringOurChecksEndsAfterTheConsentTimeout) {
  ASSERT_NO_FATAL_FAILURE(open_and_check({.consent_timeout = 400ms}));
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckVerified), 1u);
  // Answering for well past the timeout keeps it.
  browser.receive_all(1000ms);
  EXPECT_GE(browser.checks_answered(), 6u) << "consent checks every ~timeout/6";
  EXPECT_FALSE(bench->ended(10ms)) << "kept by answered consent checks";
  // Now the address answers nothing, yet valid checks keep coming from it.
  const auto stopped = std::chrono::steady_clock::now();
  std::optional<Event> e;
  for (int i = 0; i < 20 && !e; ++i) {
    browser.send_to(bench->port, ice.check(kLocalPwd));
    e = bench->ended(100ms);
  }
  ASSERT_TRUE(e) << "checks from the latched address kept consent alive";
  EXPECT_EQ(e->reason, MediaEndReason::kConsentExpired);
  EXPECT_GE(std::chrono::steady_clock::now() - stopped, 300ms);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kConsentExpired), 1u);
}

// The member's SRTP keys and our ice-pwd in hand, an attacker nominates a
// victim's address: ~50 packets/s of conference media would flood it. The
// victim never answers our check, so no media goes there; it gets only the
// answer to the forged check and our few, bounded checks, and the member's
// media keeps flowing to the address that did answer.
TEST_F(WebRtcStream, ANominatedAddressThatNeverAnswersOurCheckGetsNoMediaAndTheLatchStays) {
  ASSERT_NO_FATAL_FAILURE(connect_with_media({.candidate_rto = 10ms}));

  Peer victim;  // answers nothing: a spoofed source
  StunClient forged;
  victim.send_to(bench->port, forged.check(kLocalPwd, /*use_candidate=*/true));
  size_t rtp = 0;
  size_t stun = 0;
  int media_at_browser = 0;
  // At least 1.5 s, and until our check is given up: it may start up to
  // Stream::kCandidateSpacing after the browser's own first candidate.
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < start + 1500ms ||
         (bench->shard.webrtc_count(WebRtcCounter::kCheckGaveUp) == 0 &&
          std::chrono::steady_clock::now() < start + 5s)) {
    for (const auto& d : victim.receive_all(100ms)) {
      if (webrtc::classify(d) == webrtc::PacketKind::kStun)
        ++stun;
      else
        ++rtp;
    }
    media_at_browser += received_srtp(browser, *srtp, 50ms);
  }
  EXPECT_EQ(rtp, 0u) << "conference media went to an address that never answered";
  EXPECT_LE(stun, 1u + Stream::kCandidateSends) << "the answer and our bounded checks only";
  EXPECT_GE(media_at_browser, 30) << "media kept flowing to the verified address";
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckGaveUp), 1u);
  EXPECT_FALSE(bench->ended(20ms));
}

// The same for the very first check: a spoofed source latches nothing, so
// neither DTLS flights nor media ever go to it.
TEST_F(WebRtcStream, AFirstCheckFromAnAddressThatNeverAnswersLatchesNothing) {
  ASSERT_NO_FATAL_FAILURE(open({.candidate_rto = 10ms}));
  Peer victim;
  ASSERT_NO_FATAL_FAILURE(check_from(victim));
  for (const Datagram& d : client.step()) victim.send_to(bench->port, d);
  size_t other = 0;
  for (const auto& d : victim.receive_all(1500ms))
    if (webrtc::classify(d) != webrtc::PacketKind::kStun) ++other;
  EXPECT_EQ(other, 0u) << "DTLS or media went to an address that never answered";
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckVerified), 0u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckGaveUp), 1u);
  // The ClientHello came from the candidate: the worker's answer was held
  // for it, and dropped when it gave up.
  EXPECT_TRUE(counted(bench->shard, WebRtcCounter::kDtlsSendDropped, 1));
  // Once given up, DTLS from there is dropped again.
  for (const Datagram& d : client.retransmit()) victim.send_to(bench->port, d);
  const StreamStats stats =
      testing::stats_until(bench->driver, Bench::kId,
                           [](const StreamStats& s) { return s.drops.webrtc_unlatched >= 1; });
  EXPECT_GE(stats.drops.webrtc_unlatched, 1u);
  EXPECT_TRUE(victim.receive_all(200ms).empty());
}

// A slow path (RFC 5389 §7.2.1): the browser's answer to our first check
// arrives 1.5 s later, after the browser checked again from the same
// address. The again-check keeps our transaction, the retransmissions carry
// the same id, and the late answer to the first send latches the address.
TEST_F(WebRtcStream, AnAddressThatAnswersOurFirstCheckOnlyAfterASecondAndAHalfLatches) {
  ASSERT_NO_FATAL_FAILURE(open());
  Peer slow;  // answers by hand, late
  ASSERT_NO_FATAL_FAILURE(check_from(slow));
  std::optional<std::vector<uint8_t>> first;
  for (int i = 0; i < 20 && !first; ++i) {
    auto d = slow.receive(100ms);
    if (d && webrtc::testing::CheckAnswerer::is_request(*d)) first = std::move(d);
  }
  ASSERT_TRUE(first) << "our check to the candidate";
  const auto sent = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(700ms);
  slow.send_to(bench->port, ice.check(kLocalPwd));  // the browser's next check
  size_t again = 0;
  while (std::chrono::steady_clock::now() - sent < 1500ms)
    for (const auto& d : slow.receive_all(50ms))
      if (webrtc::testing::CheckAnswerer::is_request(d)) {
        ++again;
        EXPECT_TRUE(std::equal(d.begin() + 8, d.begin() + 20, first->begin() + 8))
            << "a retransmission carries the first send's transaction id";
      }
  EXPECT_GE(again, 1u) << "retransmitted";
  webrtc::testing::CheckAnswerer answerer(kRemoteUfrag, kRemotePwd, kLocalUfrag);
  sockaddr_storage stream{};
  const socklen_t stream_len = sockaddr_from_endpoint(
      boost::asio::ip::udp::endpoint(boost::asio::ip::address_v4::loopback(), bench->port), stream);
  const std::vector<uint8_t> late = answerer.answer(*first, stream, stream_len);
  ASSERT_FALSE(late.empty());
  slow.send_to(bench->port, late);
  EXPECT_TRUE(counted(bench->shard, WebRtcCounter::kCheckVerified, 1)) << "the late answer latched";
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckStarted), 1u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckGaveUp), 0u);
  EXPECT_TRUE(bench->handshake(slow, client)) << "DTLS now goes to the verified address";
}

// Our checks go only where a member could be: not to the unspecified,
// multicast or broadcast address, port 0, our own socket, nor (unless the
// member is on this host) loopback, where a spoofed source would aim them
// at a local service.
TEST(WebRtcCandidate, OnlyAnAddressAMemberCouldHaveIsChecked) {
  using boost::asio::ip::make_address;
  using Ep = boost::asio::ip::udp::endpoint;
  const Ep any_local(make_address("0.0.0.0"), 20000);
  const Ep public_local(make_address("192.0.2.1"), 20000);
  EXPECT_TRUE(Stream::candidate_allowed(Ep(make_address("198.51.100.7"), 50000), any_local, false));
  EXPECT_TRUE(Stream::candidate_allowed(Ep(make_address("2001:db8::7"), 50000), any_local, false));
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("198.51.100.7"), 0), any_local, false));
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("0.0.0.0"), 50000), any_local, false));
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("::"), 50000), any_local, false));
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("224.0.0.1"), 50000), any_local, false));
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("ff02::1"), 50000), any_local, false));
  EXPECT_FALSE(
      Stream::candidate_allowed(Ep(make_address("255.255.255.255"), 50000), any_local, false));
  EXPECT_FALSE(
      Stream::candidate_allowed(Ep(make_address("::ffff:224.0.0.1"), 50000), any_local, false));
  // Our own socket.
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("192.0.2.1"), 20000), public_local, true));
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("127.0.0.1"), 20000), any_local, true));
  EXPECT_TRUE(Stream::candidate_allowed(Ep(make_address("192.0.2.1"), 20002), public_local, false));
  // Loopback only for a member on this host.
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("127.0.0.1"), 50000), any_local, false));
  EXPECT_FALSE(Stream::candidate_allowed(Ep(make_address("::1"), 50000), any_local, false));
  EXPECT_FALSE(
      Stream::candidate_allowed(Ep(make_address("::ffff:127.0.0.1"), 50000), any_local, false));
  EXPECT_TRUE(Stream::candidate_allowed(Ep(make_address("127.0.0.1"), 50000), any_local, true));
}

// A shard on every address, so a member not on this host: a valid check
// from loopback starts no check of ours there (counted refused). A shard on
// loopback (every other test here) checks loopback addresses.
TEST_F(WebRtcStream, AValidCheckFromLoopbackIsNoCandidateForAMemberNotOnThisHost) {
  ASSERT_NO_FATAL_FAILURE(open({.bind_any = true}));
  Browser local;
  ASSERT_NO_FATAL_FAILURE(check_from(local));
  size_t requests = 0;
  for (const auto& d : local.receive_all(300ms))
    if (webrtc::testing::CheckAnswerer::is_request(d)) ++requests;
  EXPECT_EQ(requests, 0u) << "our checks went to a loopback address";
  EXPECT_EQ(local.checks_answered(), 0u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckStarted), 0u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCandidateRefused), 1u);
}

// A member nominating address after address (spoofed sources) gets one new
// candidate per Stream::kCandidateSpacing: the second and third nominations
// within the spacing start no check; the latest is checked once the spacing
// has passed, the one it replaced never.
TEST_F(WebRtcStream, NewCandidatesAreSpacedAndTheLatestDeferredNominationIsCheckedAfterwards) {
  ASSERT_NO_FATAL_FAILURE(open_and_check());
  ASSERT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckVerified), 1u);
  std::this_thread::sleep_for(Stream::kCandidateSpacing);

  std::array<Peer, 3> victims;  // answer nothing
  const auto requests = [](Peer& p, std::chrono::milliseconds window) {
    size_t n = 0;
    for (const auto& d : p.receive_all(window))
      if (webrtc::testing::CheckAnswerer::is_request(d)) ++n;
    return n;
  };
  StunClient forged;
  for (Peer& v : victims) v.send_to(bench->port, forged.check(kLocalPwd, /*use_candidate=*/true));
  EXPECT_GE(requests(victims[0], 400ms), 1u) << "the first nomination is checked at once";
  EXPECT_EQ(requests(victims[1], 10ms), 0u);
  EXPECT_EQ(requests(victims[2], 10ms), 0u) << "a second candidate within the spacing";
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckStarted), 2u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCandidateDeferred), 2u);

  EXPECT_TRUE(counted(bench->shard, WebRtcCounter::kCheckStarted, 3, 1500ms));
  EXPECT_GE(requests(victims[2], 300ms), 1u) << "the latest nomination, once the spacing allows";
  EXPECT_EQ(requests(victims[1], 10ms), 0u) << "the nomination it replaced is never checked";
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckStarted), 3u);
}

// The latest nomination wins (RFC 8445 §8.1.1) when it names the candidate
// already being checked: X, then Y within the spacing (deferred), then X
// again; Y is never checked.
TEST_F(WebRtcStream, ANominationOfTheCandidateBeingCheckedDropsAnEarlierDeferredOne) {
  ASSERT_NO_FATAL_FAILURE(open_and_check());
  ASSERT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckVerified), 1u);
  std::this_thread::sleep_for(Stream::kCandidateSpacing);

  Peer x, y;  // answer nothing
  StunClient forged;
  x.send_to(bench->port, forged.check(kLocalPwd, /*use_candidate=*/true));
  ASSERT_TRUE(counted(bench->shard, WebRtcCounter::kCheckStarted, 2, 1000ms));
  y.send_to(bench->port, forged.check(kLocalPwd, /*use_candidate=*/true));
  ASSERT_TRUE(counted(bench->shard, WebRtcCounter::kCandidateDeferred, 1, 1000ms));
  x.send_to(bench->port, forged.check(kLocalPwd, /*use_candidate=*/true));
  std::this_thread::sleep_for(Stream::kCandidateSpacing + 300ms);
  size_t to_y = 0;
  for (const auto& d : y.receive_all(10ms))
    if (webrtc::testing::CheckAnswerer::is_request(d)) ++to_y;
  EXPECT_EQ(to_y, 0u) << "an earlier deferred nomination was checked after a later one";
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckStarted), 2u);
}

// The browser's first ClientHello races the answer to our first check: it
// reaches the worker from the candidate, but the worker's flight waits for
// that address to answer, then leaves at once (no wait for the browser's
// ClientHello retransmit, ~1 s).
TEST_F(WebRtcStream, AClientHelloFromTheCandidateIsAnsweredAsSoonAsTheAddressAnswersOurCheck) {
  ASSERT_NO_FATAL_FAILURE(open());
  Peer by_hand;  // the browser, answering our check by hand
  ASSERT_NO_FATAL_FAILURE(check_from(by_hand));
  std::optional<std::vector<uint8_t>> check;
  for (int i = 0; i < 20 && !check; ++i) {
    auto d = by_hand.receive(100ms);
    if (d && webrtc::testing::CheckAnswerer::is_request(*d)) check = std::move(d);
  }
  ASSERT_TRUE(check) << "our check to the candidate";
  for (const Datagram& d : client.step()) by_hand.send_to(bench->port, d);  // ClientHello
  size_t early = 0;
  for (const auto& d : by_hand.receive_all(300ms))
    if (webrtc::classify(d) == webrtc::PacketKind::kDtls) ++early;
  EXPECT_EQ(early, 0u) << "DTLS went to an address before it answered our check";

  webrtc::testing::CheckAnswerer answerer(kRemoteUfrag, kRemotePwd, kLocalUfrag);
  sockaddr_storage stream{};
  const socklen_t stream_len = sockaddr_from_endpoint(
      boost::asio::ip::udp::endpoint(boost::asio::ip::address_v4::loopback(), bench->port), stream);
  by_hand.send_to(bench->port, answerer.answer(*check, stream, stream_len));
  size_t flight = 0;
  const auto until = std::chrono::steady_clock::now() + 400ms;
  while (std::chrono::steady_clock::now() < until) {
    auto d = by_hand.receive(50ms);
    if (d && webrtc::classify(*d) == webrtc::PacketKind::kDtls) {
      ++flight;
      client.receive(*d);
    }
  }
  EXPECT_GE(flight, 1u) << "the server's flight, without a ClientHello retransmit";
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kDtlsUnlatched), 0u);
  EXPECT_TRUE(bench->handshake(by_hand, client));
}

// A genuine network change still works: the browser nominates its new
// address, that address answers our check, and the media moves there.
TEST_F(WebRtcStream, ANominatedAddressThatAnswersOurCheckTakesTheMedia) {
  ASSERT_NO_FATAL_FAILURE(connect_with_media());

  Browser moved;
  ASSERT_EQ(stun_type(bench->stun(moved, ice.check(kLocalPwd, /*use_candidate=*/true))), 0x0101);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckVerified), 2u);
  browser.receive_all(60ms);  // what was queued before the move
  EXPECT_GE(received_srtp(moved, *srtp, 300ms), 5) << "media goes to the verified new address";
  EXPECT_EQ(received_srtp(browser, *srtp, 100ms), 0);
  moved.send_to(bench->port, srtp->protect(7));
  const StreamStats s = testing::stats_until(
      bench->driver, Bench::kId, [](const StreamStats& st) { return st.packets_received >= 1; });
  EXPECT_EQ(s.packets_received, 1u) << "SRTP accepted from the new address";
}

// Consent is not kept alive by checks from an address other than the latched
// one, valid and nominating as they are: the latched address stopped
// answering, and that ends the member.
TEST_F(WebRtcStream, ValidChecksFromAnotherAddressDoNotKeepConsentAlive) {
  ASSERT_NO_FATAL_FAILURE(open_and_check({.consent_timeout = 600ms}));
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckVerified), 1u);
  Peer elsewhere;  // never answers our checks
  StunClient other;
  const auto start = std::chrono::steady_clock::now();
  std::optional<Event> e;
  for (int i = 0; i < 30 && !e; ++i) {
    elsewhere.send_to(bench->port, other.check(kLocalPwd, /*use_candidate=*/i % 2 == 0));
    e = bench->ended(50ms);
  }
  ASSERT_TRUE(e) << "checks from another address kept consent alive";
  EXPECT_EQ(e->reason, MediaEndReason::kConsentExpired);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 500ms);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kCheckVerified), 1u);
}

TEST_F(WebRtcStream, NewFingerprintInAReofferRestartsDtlsAndSrtpWaitsForTheNewKeys) {
  ASSERT_NO_FATAL_FAILURE(connect());
  BrowserSrtp old_srtp(client);
  counted(bench->shard, WebRtcCounter::kDtlsConnected, 1);

  // Same ufrag and fingerprint: nothing changes (SRTP still accepted).
  testing::Command same;
  same.kind = testing::CommandKind::kSetWebRtc;
  same.stream = Bench::kId;
  same.webrtc = webrtc_config(client.fingerprint());
  bench->driver.post(std::move(same));
  browser.send_to(bench->port, old_srtp.protect(1));
  StreamStats s = testing::stats_until(
      bench->driver, Bench::kId, [](const StreamStats& st) { return st.packets_received >= 1; });
  EXPECT_EQ(s.packets_received, 1u);

  // A new certificate: SRTP with the old keys is no longer accepted...
  DtlsTestClient second;
  testing::Command reoffer;
  reoffer.kind = testing::CommandKind::kSetWebRtc;
  reoffer.stream = Bench::kId;
  reoffer.webrtc = webrtc_config(second.fingerprint());
  bench->driver.post(std::move(reoffer));
  std::this_thread::sleep_for(60ms);
  browser.send_to(bench->port, old_srtp.protect(2));
  s = testing::stats_until(bench->driver, Bench::kId,
                           [](const StreamStats& st) { return st.drops.webrtc_plain >= 1; });
  EXPECT_EQ(s.drops.webrtc_plain, 1u);
  // ...a new handshake with the new certificate connects and keys SRTP again.
  ASSERT_TRUE(bench->handshake(browser, second));
  counted(bench->shard, WebRtcCounter::kDtlsConnected, 2);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kDtlsConnected), 2u);
  BrowserSrtp new_srtp(second);
  browser.send_to(bench->port, new_srtp.protect(3));
  s = testing::stats_until(bench->driver, Bench::kId,
                           [](const StreamStats& st) { return st.packets_received >= 2; });
  EXPECT_EQ(s.packets_received, 2u);
  EXPECT_EQ(bench->worker.stats().started, 2u);
  EXPECT_FALSE(bench->ended(20ms));
}

void post_webrtc(Bench& bench, const WebRtcConfig& webrtc) {
  testing::Command c;
  c.kind = testing::CommandKind::kSetWebRtc;
  c.stream = Bench::kId;
  c.webrtc = webrtc;
  ASSERT_TRUE(bench.driver.post(std::move(c)));
}

TEST_F(WebRtcStream, ADtlsRestartAfterConsentExpiredGetsAFreshConsentPeriodAndCanEndAgain) {
  ASSERT_NO_FATAL_FAILURE(open_and_check({.consent_timeout = 600ms}));
  const auto e = bench->ended();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->reason, MediaEndReason::kConsentExpired);

  // A re-INVITE with a new certificate restarts DTLS: the restarted member has
  // a fresh consent period (RFC 7675 §5.1) rather than ending on the next tick.
  DtlsTestClient second;
  const auto restarted = std::chrono::steady_clock::now();
  post_webrtc(*bench, webrtc_config(second.fingerprint()));
  EXPECT_FALSE(bench->ended(300ms)) << "ended again at once: the consent timer was not reset";
  // The expiry was forgotten: silence ends the member again, a period later.
  const auto again = bench->ended();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->reason, MediaEndReason::kConsentExpired);
  EXPECT_GE(std::chrono::steady_clock::now() - restarted, 600ms);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kConsentExpired), 2u);
  EXPECT_EQ(bench->worker.stats().started, 2u);
}

TEST_F(WebRtcStream, AnIceRestartAfterConsentExpiredGetsAFreshConsentPeriod) {
  ASSERT_NO_FATAL_FAILURE(open({.consent_timeout = 600ms}));
  const auto e = bench->ended();
  ASSERT_TRUE(e);
  WebRtcConfig restart = webrtc_config(client.fingerprint());
  restart.local_ufrag.assign("NeWu");
  restart.local_pwd.assign("chorus-new-local-password-45");
  restart.remote_ufrag.assign("BrW2");
  post_webrtc(*bench, restart);
  EXPECT_FALSE(bench->ended(300ms));
  ASSERT_TRUE(bench->ended());
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kConsentExpired), 2u);
}

// RFC 8445 §9, RFC 8839 §4.4.1.1.1 (issue #18: "A re-INVITE from a browser
// keeps the DTLS and ICE state unless its ufrag or fingerprint changes"): new
// ICE credentials with the same fingerprint restart ICE only. Checks with
// the old credentials get 401, a check with the new ones latches (here a
// new address), and the DTLS association and its SRTP keys carry on.
TEST_F(WebRtcStream, NewIceCredentialsWithTheSameFingerprintRestartIceButKeepDtls) {
  ASSERT_NO_FATAL_FAILURE(connect());
  ASSERT_TRUE(counted(bench->shard, WebRtcCounter::kDtlsConnected, 1));
  srtp.emplace(client);
  browser.send_to(bench->port, srtp->protect(1));
  StreamStats s = testing::stats_until(
      bench->driver, Bench::kId, [](const StreamStats& st) { return st.packets_received >= 1; });
  ASSERT_EQ(s.packets_received, 1u);

  const std::string new_ufrag = "NeWu";
  const std::string new_pwd = "chorus-new-local-password-45";
  const std::string new_remote = "BrW2";
  WebRtcConfig restart = webrtc_config(client.fingerprint());
  restart.local_ufrag.assign(new_ufrag);
  restart.local_pwd.assign(new_pwd);
  restart.remote_ufrag.assign(new_remote);
  post_webrtc(*bench, restart);
  std::this_thread::sleep_for(60ms);

  // The old credentials no longer pass (RFC 5389 §10.1.2: 401).
  const auto old_answer = bench->stun(browser, ice.check(kLocalPwd));
  EXPECT_EQ(stun_type(old_answer), 0x0111);
  EXPECT_EQ(stun_error_code(old_answer), 401);
  // Until a new check, nothing is latched: SRTP from the old address is dropped.
  browser.send_to(bench->port, srtp->protect(2));
  s = testing::stats_until(bench->driver, Bench::kId,
                           [](const StreamStats& st) { return st.drops.webrtc_unlatched >= 1; });
  EXPECT_EQ(s.drops.webrtc_unlatched, 1u);
  EXPECT_EQ(s.packets_received, 1u);

  // The new credentials, from a new address (the browser's new candidate): latched.
  Browser moved("BrW2", "NeWu");
  webrtc::testing::StunClient new_ice;
  const auto answer = bench->stun(moved, new_ice.check(new_ufrag, new_remote, new_pwd));
  EXPECT_EQ(stun_type(answer), 0x0101);
  // DTLS kept: the old SRTP keys work from the new address, no new handshake.
  moved.send_to(bench->port, srtp->protect(3));
  s = testing::stats_until(bench->driver, Bench::kId,
                           [](const StreamStats& st) { return st.packets_received >= 2; });
  EXPECT_EQ(s.packets_received, 2u);
  EXPECT_EQ(s.drops.webrtc_plain, 0u);
  EXPECT_GE(received_srtp(moved, *srtp, 300ms), 5) << "media goes to the re-latched address";
  EXPECT_EQ(bench->worker.stats().started, 1u);
  EXPECT_EQ(bench->shard.webrtc_count(WebRtcCounter::kDtlsConnected), 1u);
  EXPECT_FALSE(bench->ended(20ms));
}

// A long call (here three times the worker's idle limit without a DTLS
// datagram): the stream tells the worker it is alive, so the browser's
// close_notify at the end still ends the member (kDtlsClosed).
TEST_F(WebRtcStream, ALongCallsCloseNotifyStillEndsTheMember) {
  ASSERT_NO_FATAL_FAILURE(connect({.connected_idle = 300ms}));
  ASSERT_TRUE(counted(bench->shard, WebRtcCounter::kDtlsConnected, 1));
  std::this_thread::sleep_for(900ms);
  EXPECT_EQ(bench->worker.stats().expired, 0u);
  for (const Datagram& d : client.close()) browser.send_to(bench->port, d);
  const std::optional<Event> e = bench->ended();
  ASSERT_TRUE(e) << "the close_notify was ignored";
  EXPECT_EQ(e->reason, MediaEndReason::kDtlsClosed);
}

// DtlsChannel::stop refused on a full request ring: the shard keeps the stop
// and offers it again on later ticks, so the worker drops the handshake
// rather than keeping it until its 30 s deadline.
TEST_F(WebRtcStream, AStopTheFullChannelRefusedIsRetriedUntilTheWorkerTakesIt) {
  const webrtc::DtlsCertificate certificate = webrtc::DtlsCertificate::generate("chorus");
  const webrtc::DtlsContext context(certificate);
  webrtc::DtlsWorker worker(context, 1);
  worker.channel(0).set_request_capacity(1);  // the worker is not running yet: nothing drains
  ShardConfig config = testing::loopback_config();
  config.dtls = &worker.channel(0);
  Shard shard(config);
  Driver driver(shard);
  shard.start();
  StreamConfig stream;
  stream.webrtc = webrtc_config(client.fingerprint());
  ASSERT_NE(testing::open_via_command(driver, 5, stream), 0);  // its start fills the ring
  testing::Command close;
  close.kind = testing::CommandKind::kCloseStream;
  close.stream = 5;
  ASSERT_TRUE(driver.post(std::move(close)));
  ASSERT_TRUE(testing::wait_kind(driver, EventKind::kStreamClosed, 5, 2000ms));
  EXPECT_EQ(shard.webrtc_count(WebRtcCounter::kDtlsStopDeferred), 1u);

  worker.start();  // takes the start, then the retried stop
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (worker.stats().stopped == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(worker.stats().started, 1u);
  EXPECT_EQ(worker.stats().stopped, 1u) << "the worker never learned the member stopped";
  EXPECT_EQ(shard.webrtc_count(WebRtcCounter::kDtlsStopLost), 0u);
  shard.stop();
  worker.stop();
}

TEST_F(WebRtcStream, AShardWithoutADtlsWorkerRefusesAWebRtcStream) {
  Shard shard(testing::loopback_config());
  Driver driver(shard);
  shard.start();
  StreamConfig config;
  config.webrtc = webrtc_config(webrtc::Fingerprint{});
  EXPECT_EQ(testing::open_via_command(driver, 3, config), 0);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
