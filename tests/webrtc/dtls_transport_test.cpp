// DTLS-SRTP server handshake (RFC 5763/5764) against an in-process OpenSSL
// DTLS client over memory BIOs: both sides derive the same SRTP keys, which
// key rtp::SrtpSession in both directions; a wrong fingerprint fails; a lost
// flight is retransmitted on the timer.
#include "webrtc/dtls_transport.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "rtp/packet.hpp"
#include "rtp/srtp.hpp"
#include "tests/webrtc/dtls_test_support.hpp"
#include "webrtc/demux.hpp"
#include "webrtc/dtls_record.hpp"

namespace chorus::webrtc {
namespace {

using testing::Datagram;
using testing::DtlsTestClient;

std::vector<Datagram> server_output(DtlsHandshake& server) {
  std::vector<Datagram> out;
  std::array<uint8_t, 1500> buf;
  for (int i = 0; i < 64; ++i) {
    const size_t n = server.next_datagram(buf);
    if (n == 0) break;
    out.emplace_back(buf.begin(), buf.begin() + static_cast<long>(n));
  }
  return out;
}

// Runs datagrams back and forth until both are done or nothing moves.
void run(DtlsTestClient& client, DtlsHandshake& server, int max_rounds = 20) {
  std::vector<Datagram> to_server = client.step();
  for (int round = 0; round < max_rounds; ++round) {
    for (const auto& d : to_server) {
      EXPECT_EQ(classify(d), PacketKind::kDtls);
      server.on_datagram(d);
    }
    const auto to_client = server_output(server);
    for (const auto& d : to_client) {
      EXPECT_LE(d.size(), 1200u);
      client.receive(d);
    }
    to_server = client.step();
    if (to_server.empty() && to_client.empty()) break;
  }
}

struct Fixture : ::testing::Test {
  DtlsCertificate cert = DtlsCertificate::generate();
};

TEST(DtlsCertificate, GeneratedP256CertificateHasSdpFingerprintThatParsesBack) {
  const DtlsCertificate cert = DtlsCertificate::generate();
  const std::string sdp = cert.fingerprint().to_sdp();
  EXPECT_EQ(sdp.size(), 8u + 95u);
  EXPECT_EQ(sdp.rfind("sha-256 ", 0), 0u);
  const auto parsed = Fingerprint::parse(sdp);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, cert.fingerprint());
  std::string lower = sdp;
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(Fingerprint::parse("SHA-256 " + lower.substr(8)), cert.fingerprint());
  EXPECT_FALSE(Fingerprint::parse("sha-1 " + sdp.substr(8)));
  EXPECT_FALSE(Fingerprint::parse(sdp.substr(0, sdp.size() - 1)));
  EXPECT_NE(DtlsCertificate::generate().fingerprint(), cert.fingerprint());
}

TEST(DtlsCertificate, LoadsConfiguredPemFiles) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("chorus-dtls-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string crt = (dir / "c.pem").string();
  const std::string key = (dir / "k.pem").string();
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-subj /CN=test -days 2 -keyout " +
      key + " -out " + crt + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const DtlsCertificate loaded = DtlsCertificate::load_pem(crt, key);
  EXPECT_NE(loaded.fingerprint(), Fingerprint{});
  EXPECT_THROW(DtlsCertificate::load_pem(crt, crt), std::runtime_error);
  EXPECT_THROW(DtlsCertificate::load_pem(dir / "missing.pem", key), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST(SrtpKeys, SplitFollowsRfc5764Layout) {
  std::array<uint8_t, 60> m;
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(i);
  const auto k = split_dtls_srtp_keys(kSrtpAes128CmSha1_80, m);
  ASSERT_TRUE(k);
  ASSERT_EQ(k->key_salt_size, 30);
  // inbound = client key [0,16) + client salt [32,46); outbound = server key [16,32) + salt [46,60)
  EXPECT_EQ(k->inbound()[0], 0);
  EXPECT_EQ(k->inbound()[16], 32);
  EXPECT_EQ(k->outbound()[0], 16);
  EXPECT_EQ(k->outbound()[16], 46);
  EXPECT_EQ(k->outbound()[29], 59);
  const auto g = split_dtls_srtp_keys(kSrtpAeadAes128Gcm, std::span(m).first(56));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->key_salt_size, 28);
  EXPECT_EQ(g->suite, rtp::SrtpSuite::kAeadAes128Gcm);
  EXPECT_EQ(g->outbound()[16], 44);                           // server salt after 2*16 + 12
  EXPECT_FALSE(split_dtls_srtp_keys(kSrtpAeadAes128Gcm, m));  // wrong length
  EXPECT_FALSE(split_dtls_srtp_keys(0x0002, std::span(m).first(60)));
}

TEST_F(Fixture, HandshakeDerivesTheSameKeysOnBothSidesAndKeysSrtp) {
  struct Case {
    const char* client_profiles;
    uint16_t expected;
  };
  for (const Case c : {Case{"SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80", kSrtpAeadAes128Gcm},
                       Case{"SRTP_AES128_CM_SHA1_80", kSrtpAes128CmSha1_80}}) {
    SCOPED_TRACE(c.client_profiles);
    DtlsContext context(cert);
    DtlsTestClient client(c.client_profiles);
    DtlsHandshake server(context, client.fingerprint());
    run(client, server);
    ASSERT_EQ(server.state(), DtlsState::kConnected) << dtls_failure_name(server.failure());
    ASSERT_TRUE(client.connected());
    EXPECT_EQ(server.srtp_profile(), c.expected);
    EXPECT_EQ(client.profile(), c.expected);
    EXPECT_EQ(client.peer_fingerprint(), cert.fingerprint());  // what a=fingerprint says

    const SrtpKeys client_keys = client.keys();
    const SrtpKeys& server_keys = server.keys();
    ASSERT_EQ(server_keys.key_salt_size, client_keys.key_salt_size);
    EXPECT_TRUE(std::ranges::equal(server_keys.inbound(), client_keys.outbound()));
    EXPECT_TRUE(std::ranges::equal(server_keys.outbound(), client_keys.inbound()));
    EXPECT_FALSE(std::ranges::equal(server_keys.inbound(), server_keys.outbound()));

    if (!rtp::srtp_suite_supported(server_keys.suite)) {
      ADD_FAILURE() << "libsrtp lacks " << rtp::srtp_suite_name(server_keys.suite);
      continue;
    }
    // Browser → Chorus: protected with the client's keys, unprotected with ours.
    auto browser_tx = rtp::SrtpSession::create(client_keys.suite, client_keys.outbound(),
                                               rtp::SrtpSession::Direction::kOutbound);
    auto chorus_rx = rtp::SrtpSession::create(server_keys.suite, server_keys.inbound(),
                                              rtp::SrtpSession::Direction::kInbound);
    auto chorus_tx = rtp::SrtpSession::create(server_keys.suite, server_keys.outbound(),
                                              rtp::SrtpSession::Direction::kOutbound);
    auto browser_rx = rtp::SrtpSession::create(client_keys.suite, client_keys.inbound(),
                                               rtp::SrtpSession::Direction::kInbound);
    ASSERT_TRUE(browser_tx && chorus_rx && chorus_tx && browser_rx);
    std::array<uint8_t, 40> payload;
    payload.fill(0x5A);
    for (auto [tx, rx] :
         {std::pair{&*browser_tx, &*chorus_rx}, std::pair{&*chorus_tx, &*browser_rx}}) {
      std::array<uint8_t, 512> buf{};
      const size_t n = rtp::write_packet(buf, rtp::RtpHeader{111, false, 7, 960, 0xB10B}, payload);
      size_t len = n;
      ASSERT_TRUE(tx->protect_rtp(buf.data(), len, buf.size()));
      EXPECT_GT(len, n);
      EXPECT_EQ(classify(std::span(buf).first(len)), PacketKind::kRtp);
      ASSERT_TRUE(rx->unprotect_rtp(buf.data(), len));
      ASSERT_EQ(len, n);
      const auto view = rtp::PacketView::parse(std::span(buf).first(len));
      ASSERT_TRUE(view);
      EXPECT_TRUE(std::ranges::equal(view->payload(), payload));
    }
  }
}

// RFC 5763 §5: a certificate whose fingerprint is not the SDP's fails the handshake.
TEST_F(Fixture, WrongFingerprintFailsTheHandshake) {
  DtlsContext context(cert);
  DtlsTestClient client;
  Fingerprint wrong = client.fingerprint();
  wrong.sha256[31] ^= 0x01;
  DtlsHandshake server(context, wrong);
  run(client, server);
  EXPECT_EQ(server.state(), DtlsState::kFailed);
  EXPECT_EQ(server.failure(), DtlsFailure::kFingerprintMismatch);
  EXPECT_FALSE(client.connected());
  EXPECT_TRUE(client.failed());  // it got our bad_certificate alert
  EXPECT_EQ(server.keys().key_salt_size, 0);
}

TEST_F(Fixture, ClientWithoutUseSrtpIsRefused) {
  DtlsContext context(cert);
  DtlsTestClient client("SRTP_AES128_CM_SHA1_32");  // a profile we do not offer
  DtlsHandshake server(context, client.fingerprint());
  run(client, server);
  EXPECT_EQ(server.state(), DtlsState::kFailed);
  EXPECT_EQ(server.failure(), DtlsFailure::kNoSrtpProfile);
}

TEST_F(Fixture, GarbageAndIllFramedRecordsAreIgnored) {
  DtlsContext context(cert);
  DtlsTestClient client;
  DtlsHandshake server(context, client.fingerprint());
  const std::array<uint8_t, 20> junk{22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x00};
  server.on_datagram(junk);  // length runs past the end
  EXPECT_EQ(server.ignored(), 1u);
  EXPECT_EQ(server.state(), DtlsState::kHandshaking);
  run(client, server);
  EXPECT_EQ(server.state(), DtlsState::kConnected);
}

// RFC 6347 §4.2.4: our flight is lost; the timer resends it.
TEST_F(Fixture, LostServerFlightIsRetransmittedOnTheTimer) {
  using namespace std::chrono;
  DtlsConfig config;
  // Long enough that a stall of the loaded test machine between two calls
  // does not let OpenSSL's own timer retransmit behind the test's back.
  config.initial_timeout = milliseconds(200);
  DtlsContext context(cert, config);
  DtlsTestClient client;
  DtlsHandshake server(context, client.fingerprint());
  EXPECT_FALSE(server.timeout());

  const auto hello = client.step();
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_TRUE(is_dtls_client_hello(hello[0]));
  server.on_datagram(hello[0]);
  const auto lost = server_output(server);  // ServerHello … ServerHelloDone: dropped
  ASSERT_FALSE(lost.empty());
  const auto t = server.timeout();
  ASSERT_TRUE(t);
  EXPECT_LE(*t, milliseconds(200));
  EXPECT_TRUE(server_output(server).empty());

  // Wait for the timer (bounded), then let the server retransmit.
  const auto start = steady_clock::now();
  while (server.timeout() && *server.timeout() > steady_clock::duration::zero() &&
         steady_clock::now() - start < seconds(2)) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  server.on_timeout();
  const auto again = server_output(server);
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(server.retransmissions(), 1u);
  size_t lost_bytes = 0, again_bytes = 0;
  for (const auto& d : lost) lost_bytes += d.size();
  for (const auto& d : again) again_bytes += d.size();
  EXPECT_EQ(again_bytes, lost_bytes);  // the same flight, new record sequence numbers
  // The doubled timer (RFC 6347 §4.2.4.1) runs for the retransmitted flight.
  ASSERT_TRUE(server.timeout());
  EXPECT_GT(*server.timeout(), milliseconds(200));

  for (const auto& d : again) client.receive(d);
  auto to_server = client.step();
  for (int i = 0; i < 10 && !(client.connected() && server.state() == DtlsState::kConnected); ++i) {
    for (const auto& d : to_server) server.on_datagram(d);
    for (const auto& d : server_output(server)) client.receive(d);
    to_server = client.step();
  }
  EXPECT_EQ(server.state(), DtlsState::kConnected);
  EXPECT_TRUE(client.connected());
}

// Our last flight (ChangeCipherSpec, Finished) is lost after we completed: the
// client's retransmission reaches a connected server, which answers again.
TEST_F(Fixture, LostFinalFlightIsResentWhenTheClientRetransmits) {
  using namespace std::chrono;
  DtlsContext context(cert);
  DtlsTestClient client("SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80", 20'000);
  DtlsHandshake server(context, client.fingerprint());
  auto to_server = client.step();  // ClientHello
  for (const auto& d : to_server) server.on_datagram(d);
  for (const auto& d : server_output(server)) client.receive(d);
  to_server = client.step();  // Certificate … Finished
  for (const auto& d : to_server) server.on_datagram(d);
  ASSERT_EQ(server.state(), DtlsState::kConnected);
  ASSERT_FALSE(server_output(server).empty());  // our final flight: dropped
  EXPECT_FALSE(client.connected());

  const auto start = steady_clock::now();
  while (!client.timer_expired() && steady_clock::now() - start < seconds(2)) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  const auto resent = client.retransmit();
  ASSERT_FALSE(resent.empty());
  for (const auto& d : resent) server.on_datagram(d);
  const auto answer = server_output(server);
  ASSERT_FALSE(answer.empty());
  for (const auto& d : answer) client.receive(d);
  client.step();
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(server.state(), DtlsState::kConnected);
}

// A client whose timer fired resends its ClientHello and packs it with its
// next flight into one datagram: the server must still read the whole flight.
TEST_F(Fixture, RepeatedClientHelloPackedWithTheNextFlightIsHandled) {
  DtlsContext context(cert);
  DtlsTestClient client;
  DtlsHandshake server(context, client.fingerprint());
  const auto hello = client.step();
  ASSERT_EQ(hello.size(), 1u);
  server.on_datagram(hello[0]);
  for (const auto& d : server_output(server)) client.receive(d);
  const auto flight5 = client.step();
  ASSERT_EQ(flight5.size(), 1u);
  Datagram packed = hello[0];
  packed.insert(packed.end(), flight5[0].begin(), flight5[0].end());
  server.on_datagram(packed);
  EXPECT_EQ(server.state(), DtlsState::kConnected) << dtls_failure_name(server.failure());
  for (const auto& d : server_output(server)) client.receive(d);
  client.step();
  EXPECT_TRUE(client.connected());
}

TEST_F(Fixture, CloseNotifyAfterTheHandshakeClosesIt) {
  DtlsContext context(cert);
  DtlsTestClient client;
  DtlsHandshake server(context, client.fingerprint());
  run(client, server);
  ASSERT_EQ(server.state(), DtlsState::kConnected);
  const auto bye = client.close();
  ASSERT_FALSE(bye.empty());
  for (const auto& d : bye) server.on_datagram(d);
  EXPECT_EQ(server.state(), DtlsState::kClosed);
}

TEST(DtlsRecord, FramingSplitsAndPacksWholeRecords) {
  std::vector<uint8_t> bytes;
  auto add = [&](uint8_t type, uint16_t epoch, size_t len) {
    const uint8_t h[13] = {
        type, 0xFE, 0xFD, static_cast<uint8_t>(epoch >> 8), static_cast<uint8_t>(epoch), 0, 0, 0,
        0,    0,    7,    static_cast<uint8_t>(len >> 8),   static_cast<uint8_t>(len)};
    bytes.insert(bytes.end(), h, h + 13);
    bytes.insert(bytes.end(), len, 1);
  };
  add(22, 0, 100);
  add(20, 0, 1);
  add(22, 1, 500);
  const auto r = parse_dtls_record(bytes);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->content_type, 22);
  EXPECT_EQ(r->version, 0xFEFD);
  EXPECT_EQ(r->sequence, 7u);
  EXPECT_EQ(r->fragment.size(), 100u);
  EXPECT_TRUE(is_dtls_client_hello(bytes));
  EXPECT_TRUE(dtls_well_framed(bytes));
  EXPECT_EQ(dtls_datagram_prefix(bytes, 600), 113u + 14u);
  EXPECT_EQ(dtls_datagram_prefix(bytes, 2000), bytes.size());
  EXPECT_EQ(dtls_datagram_prefix(bytes, 100), 0u);
  bytes.pop_back();
  EXPECT_FALSE(dtls_well_framed(bytes));
}

}  // namespace
}  // namespace chorus::webrtc

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
