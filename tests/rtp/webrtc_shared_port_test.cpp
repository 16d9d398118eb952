// Browsers on a shared media port (issues #16, #18): one UDP socket per
// shard, so a browser's first STUN check comes from an address no route
// knows. The shard hands it to the WebRTC member whose local ICE ufrag the
// USERNAME names (RFC 8445 §7.2.2: "<our ufrag>:<its ufrag>"); only a check
// that member's password authenticates (MESSAGE-INTEGRITY) binds the source,
// and only then do DTLS and SRTP from it reach the member. Nothing else from
// an unknown source reaches a stream. Against the browser stand-in (libnice
// STUN agent, OpenSSL DTLS client) on loopback.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rtp/route_table.hpp"
#include "rtp/srtp.hpp"
#include "tests/rtp/shard_test_support.hpp"
#include "tests/webrtc/browser_stand_in.hpp"
#include "tests/webrtc/dtls_test_support.hpp"
#include "webrtc/demux.hpp"
#include "webrtc/dtls_certificate.hpp"
#include "webrtc/dtls_transport.hpp"
#include "webrtc/dtls_worker.hpp"
#include "webrtc/stun_responder.hpp"

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;
using testing::Driver;
using testing::Peer;
using webrtc::testing::Datagram;
using webrtc::testing::DtlsTestClient;
using webrtc::testing::stun_error_code;
using webrtc::testing::stun_type;

// One browser's ICE credentials as both sides see them.
struct Ice {
  std::string local_ufrag;  // ours (the member's)
  std::string local_pwd;
  std::string remote_ufrag;  // the browser's
  std::string remote_pwd;
};

const Ice kAlice{"AlUf", "alice-local-password-0123456", "BrAl", "alice-browser-password-012"};
const Ice kBob{"BoUf", "bob-local-password-01234567890", "BrBo", "bob-browser-password-01234"};

// A browser's address: answers the stream's own checks (RFC 7675) for `ice`.
class Browser : public Peer {
 public:
  explicit Browser(const Ice& ice) {
    answer_checks(ice.remote_ufrag, ice.remote_pwd, ice.local_ufrag);
  }
};

WebRtcConfig webrtc_config(const Ice& ice, const webrtc::Fingerprint& remote) {
  WebRtcConfig w;
  w.local_ufrag.assign(ice.local_ufrag);
  w.local_pwd.assign(ice.local_pwd);
  w.remote_ufrag.assign(ice.remote_ufrag);
  w.remote_pwd.assign(ice.remote_pwd);
  w.remote_fingerprint = remote.sha256;
  return w;
}

// Each tick, every stream sends one RTP packet whose payload is its id
// (0x01.. for stream 1), so a browser can tell whose media it decrypts.
class SendEveryTick : public TickHandler {
 public:
  explicit SendEveryTick(Shard& shard) : shard_(shard) {}
  ~SendEveryTick() override { shard_.stop(); }
  void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
    for (StreamId id = 1; id <= 4; ++id) {
      Stream* s = shard_.find_stream(id);
      if (s == nullptr) continue;
      std::array<uint8_t, 160> payload;
      payload.fill(static_cast<uint8_t>(id));
      s->send(0, payload, 160, false);
    }
  }

 private:
  Shard& shard_;
};

// A DTLS worker and a shared-port shard with its channel.
struct Bench {
  // `candidate_rto`: an unanswered candidate is given up 79 of these after
  // its first check (10 ms: within ~0.8 s; 500 ms, the default: 39.5 s).
  explicit Bench(std::chrono::milliseconds candidate_rto = 10ms)
      : certificate(webrtc::DtlsCertificate::generate("chorus")),
        context(certificate),
        worker(context, 1) {
    ShardConfig c = testing::loopback_config(20);
    c.port_mode = PortMode::kShared;
    c.max_streams = 8;
    c.buffer_count = 512;
    c.dtls = &worker.channel(0);
    c.candidate_rto = candidate_rto;
    // The shared port cannot be skipped like a member's: a port another
    // test process holds means trying the next one (bounded).
    for (int attempt = 0; attempt < 20 && !shard; ++attempt) {
      try {
        shard = std::make_unique<Shard>(c);
      } catch (const std::runtime_error&) {
        c.port_first = static_cast<uint16_t>(c.port_first + 2);
      }
    }
    if (!shard) return;
    sender = std::make_unique<SendEveryTick>(*shard);
    driver = std::make_unique<Driver>(*shard, sender.get());
    worker.start();
    shard->start();
  }
  ~Bench() {
    driver.reset();  // stops the shard thread, detaches the streams
    sender.reset();
    shard.reset();
    worker.stop();
  }

  uint16_t add(StreamId id, const Ice& ice, const webrtc::Fingerprint& remote) {
    StreamConfig config;
    config.webrtc = webrtc_config(ice, remote);
    return testing::open_via_command(*driver, id, config);
  }

  // Sends a check for `ice` keyed with `pwd` and waits for the STUN answer.
  std::vector<uint8_t> check(Peer& from, const Ice& ice, const std::string& pwd,
                             bool use_candidate = true) {
    webrtc::testing::StunClient client;
    const uint64_t started_before = shard->webrtc_count(WebRtcCounter::kCheckStarted);
    const uint64_t deferred_before = shard->webrtc_count(WebRtcCounter::kCandidateDeferred);
    from.send_to(port(), client.check(ice.local_ufrag, ice.remote_ufrag, pwd, use_candidate));
    std::vector<uint8_t> answer;
    for (int i = 0; i < 20 && answer.empty(); ++i) {
      auto d = from.receive(100ms);
      if (d && webrtc::classify(*d) == webrtc::PacketKind::kStun) answer = *d;
    }
    // A browser then answers the check this one started (return routability).
    // A candidate deferred by the spacing of new ones (Stream::
    // kCandidateSpacing) starts within a second.
    const auto pending = [&] {
      const uint64_t started = shard->webrtc_count(WebRtcCounter::kCheckStarted);
      return started > shard->webrtc_count(WebRtcCounter::kCheckVerified) +
                           shard->webrtc_count(WebRtcCounter::kCheckGaveUp) ||
             (shard->webrtc_count(WebRtcCounter::kCandidateDeferred) > deferred_before &&
              started == started_before);
    };
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (from.answers_checks() && pending() && std::chrono::steady_clock::now() < until)
      from.receive(10ms);
    return answer;
  }

  bool handshake(Peer& from, DtlsTestClient& client) {
    for (const Datagram& d : client.step()) from.send_to(port(), d);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!client.connected() && !client.failed() && std::chrono::steady_clock::now() < until) {
      auto d = from.receive(50ms);
      if (d && webrtc::classify(*d) == webrtc::PacketKind::kDtls) {
        client.receive(*d);
        for (const Datagram& out : client.step()) from.send_to(port(), out);
      } else if (!d && client.timer_expired()) {
        for (const Datagram& out : client.retransmit()) from.send_to(port(), out);
      }
    }
    return client.connected();
  }

  bool connected(uint64_t n) {
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (shard->webrtc_count(WebRtcCounter::kDtlsConnected) < n &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(5ms);
    return shard->webrtc_count(WebRtcCounter::kDtlsConnected) >= n;
  }

  uint16_t port() const { return shard->shared_port(); }

  webrtc::DtlsCertificate certificate;
  webrtc::DtlsContext context;
  webrtc::DtlsWorker worker;
  std::unique_ptr<Shard> shard;
  std::unique_ptr<SendEveryTick> sender;
  std::unique_ptr<Driver> driver;
};

// The browser's SRTP, keyed from its end of the handshake.
struct BrowserSrtp {
  explicit BrowserSrtp(const DtlsTestClient& client) {
    const webrtc::SrtpKeys keys = client.keys();
    out = SrtpSession::create(keys.suite, keys.outbound(), SrtpSession::Direction::kOutbound);
    in = SrtpSession::create(keys.suite, keys.inbound(), SrtpSession::Direction::kInbound);
  }
  std::vector<uint8_t> protect(uint16_t seq, uint32_t ssrc) {
    const std::array<uint8_t, 160> payload{};
    std::vector<uint8_t> p = testing::make_rtp(0, seq, seq * 160u, ssrc, payload);
    size_t size = p.size();
    p.resize(size + SrtpSession::kProtectOverhead);
    EXPECT_TRUE(out->protect_rtp(p.data(), size, p.size()));
    p.resize(size);
    return p;
  }
  std::optional<SrtpSession> out;
  std::optional<SrtpSession> in;
};

// SRTP packets within `window` that the browser decrypts and whose payload
// is stream `id`'s; `others` counts decryptable RTP with another payload.
int received_from(Peer& browser, BrowserSrtp& srtp, StreamId id, std::chrono::milliseconds window,
                  int* others = nullptr) {
  int ok = 0;
  for (auto& d : browser.receive_all(window)) {
    if (webrtc::classify(d) != webrtc::PacketKind::kRtp) continue;
    size_t size = d.size();
    if (!srtp.in->unprotect_rtp(d.data(), size) || size != 12 + 160) continue;
    if (d[12] == id && d[12 + 159] == id)
      ++ok;
    else if (others != nullptr)
      ++*others;
  }
  return ok;
}

template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 2000ms) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

TEST(StunLocalUfrag, IsTheUsernamesFirstPartOfABindingRequestOnly) {
  webrtc::testing::StunClient client;
  const auto check = client.check("AlUf", "BrAl", "pwd-does-not-matter-here-0");
  EXPECT_EQ(webrtc::stun_local_ufrag(check), "AlUf");
  auto response = check;
  response[1] = 0x01;
  response[0] = 0x01;  // 0x0101: a success response, not a request
  EXPECT_EQ(webrtc::stun_local_ufrag(response), "");
  auto truncated = check;
  truncated.resize(24);  // the USERNAME's length runs past the end
  EXPECT_EQ(webrtc::stun_local_ufrag(truncated), "");
  EXPECT_EQ(webrtc::stun_local_ufrag(std::vector<uint8_t>(8, 0)), "");
}

TEST(WebRtcSharedPort, AValidCheckFromAnUnknownSourceBindsItAndARelatchReplacesIt) {
  DtlsTestClient client;
  Bench bench;
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, client.fingerprint()), bench.port());

  // The first check, from an address no route knows, finds the member by
  // its ufrag and is answered from the shared port.
  Browser browser(kAlice);
  const auto answer = bench.check(browser, kAlice, kAlice.local_pwd);
  EXPECT_EQ(stun_type(answer), 0x0101);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kStunSuccess), 1u);
  // The bound source carries DTLS and SRTP to the member.
  ASSERT_TRUE(bench.handshake(browser, client));
  ASSERT_TRUE(bench.connected(1));
  BrowserSrtp srtp(client);
  browser.send_to(bench.port(), srtp.protect(1, 0xA11CE));
  auto s = testing::stats_until(*bench.driver, 1,
                                [](const StreamStats& st) { return st.packets_received >= 1; });
  EXPECT_EQ(s.packets_received, 1u);
  EXPECT_GE(received_from(browser, srtp, 1, 200ms), 3);

  // A nominated check from a new address (the browser's new candidate)
  // moves the binding once it answered our check: one address per member,
  // the old one is unknown now.
  Browser moved(kAlice);
  EXPECT_EQ(stun_type(bench.check(moved, kAlice, kAlice.local_pwd)), 0x0101);
  const uint64_t unknown = bench.shard->unknown_source_drops();
  browser.send_to(bench.port(), srtp.protect(2, 0xA11CE));
  EXPECT_TRUE(eventually([&] { return bench.shard->unknown_source_drops() == unknown + 1; }));
  moved.send_to(bench.port(), srtp.protect(3, 0xA11CE));
  s = testing::stats_until(*bench.driver, 1,
                           [](const StreamStats& st) { return st.packets_received >= 2; });
  EXPECT_EQ(s.packets_received, 2u);
  EXPECT_EQ(s.drops.webrtc_unlatched, 0u);  // the old address never reached the stream
  EXPECT_GE(received_from(moved, srtp, 1, 200ms), 3);
}

// A plain member's SDP naming the browser's address (stale, or hostile) is
// no proof: the browser's check still reaches the member its ufrag names and
// is answered, and the plain member sees none of it. (Nor does the claim
// keep the address from being verified: the answer to our own check is
// routed by its transaction id, AnotherMembersClaimOnAnAddress... below.)
TEST(WebRtcSharedPort, ACheckFromAnAddressAPlainMembersSdpNamesReachesItsOwnMember) {
  DtlsTestClient client;
  Bench bench;
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, client.fingerprint()), bench.port());
  Peer browser;
  ASSERT_EQ(testing::open_via_command(*bench.driver, 2), bench.port());
  testing::set_remote(*bench.driver, 2, browser.endpoint());
  ASSERT_TRUE(testing::request_stats(*bench.driver, 2).has_value());  // applied in order
  EXPECT_EQ(stun_type(bench.check(browser, kAlice, kAlice.local_pwd)), 0x0101);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kStunSuccess), 1u);
  const auto plain = testing::request_stats(*bench.driver, 2);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->packets_received, 0u);
  EXPECT_EQ(plain->drops.malformed, 0u);  // the check never reached it
}

TEST(WebRtcSharedPort, ABadMessageIntegrityIs401AndBindsNothing) {
  DtlsTestClient client;
  Bench bench;
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, client.fingerprint()), bench.port());
  Peer attacker;
  // The right ufrag, the wrong key (RFC 5389 §10.1.2: 401).
  const auto answer = bench.check(attacker, kAlice, "not-the-local-password-xyz");
  EXPECT_EQ(stun_type(answer), 0x0111);
  EXPECT_EQ(stun_error_code(answer), 401);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kStunBadIntegrity), 1u);
  // Nothing was bound: its DTLS is dropped before any stream.
  const uint64_t unknown = bench.shard->unknown_source_drops();
  for (const Datagram& d : client.step()) attacker.send_to(bench.port(), d);
  EXPECT_FALSE(attacker.receive(300ms));
  EXPECT_GT(bench.shard->unknown_source_drops(), unknown);
  const auto s = testing::request_stats(*bench.driver, 1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->drops.webrtc_unlatched, 0u);
  EXPECT_EQ(bench.worker.stats().unknown_id, 0u);
  // A check naming no member's ufrag reaches nobody and is not answered.
  const Ice stranger{"NoSuch", "whatever-password-0123456", "Brxx", "whatever-browser-pwd-0123"};
  EXPECT_TRUE(bench.check(attacker, stranger, stranger.local_pwd).empty());
}

TEST(WebRtcSharedPort, DtlsAndSrtpFromAnUnboundAddressAreDroppedAndCounted) {
  DtlsTestClient client;
  Bench bench;
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, client.fingerprint()), bench.port());
  Peer browser;
  const uint64_t before = bench.shard->unknown_source_drops();
  for (const Datagram& d : client.step()) browser.send_to(bench.port(), d);  // ClientHello
  const std::array<uint8_t, 160> payload{};
  browser.send_to(bench.port(), testing::make_rtp(0, 1, 160, 0x1234, payload));
  EXPECT_FALSE(browser.receive(300ms));
  EXPECT_TRUE(eventually([&] { return bench.shard->unknown_source_drops() >= before + 2; }));
  EXPECT_EQ(bench.worker.stats().unknown_id, 0u);
  const auto s = testing::request_stats(*bench.driver, 1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->drops.webrtc_unlatched + s->drops.webrtc_plain, 0u);
}

TEST(WebRtcSharedPort, TwoBrowsersOnOneSharedSocketEachGetTheirOwnMedia) {
  DtlsTestClient alice_dtls;
  DtlsTestClient bob_dtls;
  Bench bench;
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, alice_dtls.fingerprint()), bench.port());
  ASSERT_EQ(bench.add(2, kBob, bob_dtls.fingerprint()), bench.port());
  Browser alice(kAlice);
  Browser bob(kBob);
  // Bob's ufrag with Alice's key: 401 (his responder checks it).
  EXPECT_EQ(stun_error_code(bench.check(bob, kBob, kAlice.local_pwd)), 401);
  EXPECT_EQ(stun_type(bench.check(alice, kAlice, kAlice.local_pwd)), 0x0101);
  EXPECT_EQ(stun_type(bench.check(bob, kBob, kBob.local_pwd)), 0x0101);
  ASSERT_TRUE(bench.handshake(alice, alice_dtls));
  ASSERT_TRUE(bench.handshake(bob, bob_dtls));
  ASSERT_TRUE(bench.connected(2));
  BrowserSrtp alice_srtp(alice_dtls);
  BrowserSrtp bob_srtp(bob_dtls);
  for (uint16_t seq = 1; seq <= 5; ++seq) {
    alice.send_to(bench.port(), alice_srtp.protect(seq, 0xA11CE));
    if (seq <= 3) bob.send_to(bench.port(), bob_srtp.protect(seq, 0xB0B));
    std::this_thread::sleep_for(10ms);
  }
  const auto a = testing::stats_until(
      *bench.driver, 1, [](const StreamStats& st) { return st.packets_received >= 5; });
  const auto b = testing::stats_until(
      *bench.driver, 2, [](const StreamStats& st) { return st.packets_received >= 3; });
  EXPECT_EQ(a.packets_received, 5u);
  EXPECT_EQ(a.remote_ssrc, 0xA11CEu);
  EXPECT_EQ(b.packets_received, 3u);
  EXPECT_EQ(b.remote_ssrc, 0xB0Bu);
  EXPECT_EQ(a.drops.auth_failed + b.drops.auth_failed, 0u);
  // Each browser decrypts its own member's media, and only that.
  int alice_others = 0;
  int bob_others = 0;
  EXPECT_GE(received_from(alice, alice_srtp, 1, 300ms, &alice_others), 5);
  EXPECT_GE(received_from(bob, bob_srtp, 2, 300ms, &bob_others), 5);
  EXPECT_EQ(alice_others, 0);
  EXPECT_EQ(bob_others, 0);
  EXPECT_EQ(bench.shard->route_conflicts(), 0u);
}

// Alice's member spoofs valid checks of its own (its USERNAME, its key) from
// Bob's address: its stream makes that address its candidate and claims it
// as a route. Bob's answers to Bob's own check still reach Bob's stream:
// a Binding success is routed by our transaction id, not by its source.
TEST(WebRtcSharedPort, AnotherMembersClaimOnAnAddressDoesNotCatchTheAnswersToOurCheck) {
  DtlsTestClient alice_client;
  DtlsTestClient bob_client;
  Bench bench;
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, alice_client.fingerprint()), bench.port());
  ASSERT_EQ(bench.add(2, kBob, bob_client.fingerprint()), bench.port());
  Browser bob(kBob);  // answers Bob's checks only
  webrtc::testing::StunClient alice_ice;
  bob.send_to(bench.port(), alice_ice.check(kAlice.local_ufrag, kAlice.remote_ufrag,
                                            kAlice.local_pwd, /*use_candidate=*/true));
  ASSERT_TRUE(
      eventually([&] { return bench.shard->webrtc_count(WebRtcCounter::kCheckStarted) == 1; }));

  EXPECT_EQ(stun_type(bench.check(bob, kBob, kBob.local_pwd)), 0x0101);
  EXPECT_TRUE(eventually([&] {
    return bench.shard->webrtc_count(WebRtcCounter::kCheckVerified) == 1;
  })) << "Bob's answer went to the stream that claimed his address";
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kCheckUnmatched), 0u);
  ASSERT_TRUE(bench.handshake(bob, bob_client));
  ASSERT_TRUE(bench.connected(1));
  BrowserSrtp srtp(bob_client);
  EXPECT_GE(received_from(bob, srtp, 2, 300ms), 3) << "Bob's media reaches Bob";
}

// On the shared port too, a nominated address that never answers our check
// gets no media (its route exists only while our check waits), and the
// member's media stays with the address that answered.
TEST(WebRtcSharedPort, ANominatedAddressThatNeverAnswersOurCheckGetsNoMedia) {
  DtlsTestClient client;
  Bench bench;
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, client.fingerprint()), bench.port());
  Browser browser(kAlice);
  EXPECT_EQ(stun_type(bench.check(browser, kAlice, kAlice.local_pwd)), 0x0101);
  ASSERT_TRUE(bench.handshake(browser, client));
  ASSERT_TRUE(bench.connected(1));
  BrowserSrtp srtp(client);
  ASSERT_GE(received_from(browser, srtp, 1, 200ms), 3);

  Peer victim;
  EXPECT_EQ(stun_type(bench.check(victim, kAlice, kAlice.local_pwd)), 0x0101);
  size_t media = 0;
  for (const auto& d : victim.receive_all(1500ms))
    if (webrtc::classify(d) != webrtc::PacketKind::kStun) ++media;
  EXPECT_EQ(media, 0u) << "conference media went to an address that never answered";
  EXPECT_GE(received_from(browser, srtp, 1, 200ms), 5);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kCheckGaveUp), 1u);
}

// Alice's member names the address a plain member's RTP comes from as its
// ICE candidate (a valid nominated check of its own, spoofed from there) and
// the address never answers our check: for up to 39.5 s (the default RTO)
// it is unproven. Its claim catches only DTLS; the plain member's RTP keeps
// reaching the plain member, every packet of it. Before the candidate's
// claim was a named source route like an SDP address, so the plain member
// got none of it while the check waited.
void nominate_from(Bench& bench, const Peer& address, const Ice& ice) {
  webrtc::testing::StunClient client;
  address.send_to(bench.port(), client.check(ice.local_ufrag, ice.remote_ufrag, ice.local_pwd,
                                             /*use_candidate=*/true));
}

// Sends `count` RTP packets of `ssrc` from `from`, 20 ms apart, sequence
// numbers from `first`.
void stream_rtp(Bench& bench, const Peer& from, uint32_t ssrc, uint16_t first, int count) {
  const std::array<uint8_t, 160> payload{};
  for (int i = 0; i < count; ++i) {
    const auto seq = static_cast<uint16_t>(first + i);
    from.send_to(bench.port(), testing::make_rtp(0, seq, seq * 160u, ssrc, payload));
    std::this_thread::sleep_for(20ms);
  }
}

TEST(WebRtcSharedPort, AnUnprovenCandidateDoesNotCatchRtpOfAMemberRoutedBySsrc) {
  DtlsTestClient client;
  Bench bench(500ms);  // the candidate stays unproven for the whole test
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, client.fingerprint()), bench.port());
  // A plain member behind a NAT: its SDP names no address it sends from,
  // its a=ssrc finds it.
  StreamConfig plain;
  plain.signalled_ssrc = 0x5151;
  ASSERT_EQ(testing::open_via_command(*bench.driver, 2, plain), bench.port());
  Peer caller;  // the plain member's NAT address, X

  nominate_from(bench, caller, kAlice);
  ASSERT_TRUE(
      eventually([&] { return bench.shard->webrtc_count(WebRtcCounter::kCheckStarted) == 1; }));
  // The candidate's DTLS still reaches Alice's member (held there until X
  // answers): nothing of it is an unknown source.
  const uint64_t unknown = bench.shard->unknown_source_drops();
  for (const Datagram& d : client.step()) caller.send_to(bench.port(), d);  // ClientHello
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(bench.shard->unknown_source_drops(), unknown);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kDtlsUnlatched), 0u);

  stream_rtp(bench, caller, 0x5151, 1, 10);
  const auto s = testing::stats_until(
      *bench.driver, 2, [](const StreamStats& st) { return st.packets_received >= 10; });
  EXPECT_EQ(s.packets_received, 10u) << "the candidate's claim swallowed the plain member's RTP";
  EXPECT_EQ(s.drops.stranger + s.drops.malformed, 0u);
  // More while the check still waits: every one arrives too.
  stream_rtp(bench, caller, 0x5151, 11, 5);
  const auto more = testing::stats_until(
      *bench.driver, 2, [](const StreamStats& st) { return st.packets_received >= 15; });
  EXPECT_EQ(more.packets_received, 15u);
  const auto alice = testing::request_stats(*bench.driver, 1);
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->drops.webrtc_plain + alice->drops.webrtc_unlatched, 0u);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kPlainRtp), 0u);
  // The candidate was pending throughout: neither verified nor given up.
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kCheckVerified), 0u);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kCheckGaveUp), 0u);
}

// The same with a plain member whose SDP names X only after the nomination
// (a re-INVITE, a later join): its named route outranks the unproven
// candidate's, and its RTP from X all arrives.
TEST(WebRtcSharedPort, AMemberWhoseSdpNamesAnUnprovenCandidatesAddressGetsItsRtp) {
  DtlsTestClient client;
  Bench bench(500ms);
  ASSERT_TRUE(bench.shard);
  ASSERT_EQ(bench.add(1, kAlice, client.fingerprint()), bench.port());
  Peer caller;  // X
  nominate_from(bench, caller, kAlice);
  ASSERT_TRUE(
      eventually([&] { return bench.shard->webrtc_count(WebRtcCounter::kCheckStarted) == 1; }));

  ASSERT_EQ(testing::open_via_command(*bench.driver, 2), bench.port());
  testing::set_remote(*bench.driver, 2, caller.endpoint());
  ASSERT_TRUE(testing::request_stats(*bench.driver, 2).has_value());  // applied in order
  stream_rtp(bench, caller, 0x7777, 100, 10);
  const auto s = testing::stats_until(
      *bench.driver, 2, [](const StreamStats& st) { return st.packets_received >= 10; });
  EXPECT_EQ(s.packets_received, 10u) << "the candidate's claim swallowed the plain member's RTP";
  const auto alice = testing::request_stats(*bench.driver, 1);
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->drops.webrtc_plain + alice->drops.webrtc_unlatched, 0u);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kCheckVerified), 0u);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kCheckGaveUp), 0u);
}

// A check whose USERNAME halves are equal ("a:a") is one that loops back to
// its sender: ours (USERNAME "<remote>:<local>") reflected at our socket by
// an address the peer named, for a member whose remote ufrag is its local
// one. It is dropped unanswered (counted among the other STUN outcomes) and
// starts no check of ours. (Stream::propose refuses any candidate of a member
// whose ufrags are equal too, counted kCandidateRefused; with the responder
// dropping "a:a" no valid check of such a member reaches it.)
TEST(WebRtcSharedPort, ACheckWhoseUsernameHalvesAreEqualIsDroppedAndStartsNoCheck) {
  DtlsTestClient client;
  Bench bench;
  ASSERT_TRUE(bench.shard);
  const Ice looped{"LoUf", "loop-local-password-012345", "LoUf", "loop-browser-password-0123"};
  ASSERT_EQ(bench.add(1, looped, client.fingerprint()), bench.port());
  ASSERT_EQ(bench.add(2, kBob, client.fingerprint()), bench.port());
  Peer reflector;
  // Valid for member 1 (its ufrags, its key), nominated.
  EXPECT_TRUE(bench.check(reflector, looped, looped.local_pwd).empty())
      << "a looped-back check was answered";
  // Bob's local ufrag twice: before, a 401 back to the reflector.
  const Ice bob_looped{kBob.local_ufrag, kBob.local_pwd, kBob.local_ufrag, kBob.remote_pwd};
  EXPECT_TRUE(bench.check(reflector, bob_looped, kBob.local_pwd).empty());
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kStunSuccess), 0u);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kCheckStarted), 0u);
  EXPECT_EQ(bench.shard->webrtc_count(WebRtcCounter::kStunOther), 2u);  // dropped, counted
  EXPECT_TRUE(reflector.receive_all(300ms).empty()) << "we sent a check into the loop";
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
