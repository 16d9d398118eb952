// The client roles chorus-load's --webrtc members use (webrtc/dtls_client.hpp,
// webrtc/stun_client.hpp) against the server's own DtlsHandshake and
// StunResponder: the client checks the server's fingerprint from the answer
// (RFC 5763 §5) and derives the mirror image of the server's SRTP keys
// (RFC 5764 §4.2); its Binding checks pass the lite agent's integrity check
// and the answer carries the request's transaction id; more than libnice's
// 200 remembered transactions can be built.
#include "webrtc/dtls_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <optional>
#include <thread>
#include <vector>

#include "webrtc/demux.hpp"
#include "webrtc/dtls_transport.hpp"
#include "webrtc/stun_client.hpp"
#include "webrtc/stun_responder.hpp"

namespace chorus::webrtc {
namespace {

// Datagrams back and forth until neither side sends (bounded rounds).
void run(DtlsClient& client, DtlsHandshake& server) {
  std::array<uint8_t, 1500> buf;
  client.advance();
  for (int round = 0; round < 20; ++round) {
    bool moved = false;
    while (const size_t n = client.next_datagram(buf)) {
      EXPECT_EQ(classify({buf.data(), n}), PacketKind::kDtls);
      server.on_datagram({buf.data(), n});
      moved = true;
    }
    while (const size_t n = server.next_datagram(buf)) {
      client.on_datagram({buf.data(), n});
      moved = true;
    }
    if (!moved) break;
  }
}

struct DtlsClientTest : ::testing::Test {
  DtlsCertificate server_cert = DtlsCertificate::generate("server");
  DtlsCertificate client_cert = DtlsCertificate::generate("browser");
  DtlsContext server_context{server_cert};
  DtlsClientContext client_context{client_cert};
};

TEST_F(DtlsClientTest, ConnectsWithTheAnsweredFingerprintAndMirrorsTheServersKeys) {
  DtlsHandshake server(server_context, client_cert.fingerprint());
  DtlsClient client(client_context, server_cert.fingerprint());
  run(client, server);
  ASSERT_EQ(server.state(), DtlsState::kConnected);
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.peer_fingerprint(), server_cert.fingerprint());
  EXPECT_EQ(client.profile(), kSrtpAeadAes128Gcm);  // our first preference, the server's too
  const auto keys = client.keys();
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->suite, rtp::SrtpSuite::kAeadAes128Gcm);
  // What the client protects, the server unprotects, and the other way round.
  EXPECT_TRUE(std::ranges::equal(keys->outbound(), server.keys().inbound()));
  EXPECT_TRUE(std::ranges::equal(keys->inbound(), server.keys().outbound()));
  EXPECT_FALSE(std::ranges::equal(keys->outbound(), keys->inbound()));
}

TEST_F(DtlsClientTest, AesCmOnlyClientGetsAesCmKeys) {
  DtlsClientConfig config;
  config.srtp_profiles = "SRTP_AES128_CM_SHA1_80";
  DtlsClientContext aes_cm(client_cert, config);
  DtlsHandshake server(server_context, client_cert.fingerprint());
  DtlsClient client(aes_cm, server_cert.fingerprint());
  run(client, server);
  ASSERT_TRUE(client.connected());
  const auto keys = client.keys();
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->suite, rtp::SrtpSuite::kAesCm128HmacSha1_80);
  EXPECT_EQ(keys->key_salt_size, 30);
  EXPECT_TRUE(std::ranges::equal(keys->outbound(), server.keys().inbound()));
}

// RFC 5763 §5: the browser refuses a server whose certificate is not the one
// the answer named; it never derives keys.
TEST_F(DtlsClientTest, RefusesAServerWhoseCertificateIsNotTheAnsweredOne) {
  const DtlsCertificate other = DtlsCertificate::generate("impostor");
  DtlsHandshake server(server_context, client_cert.fingerprint());
  DtlsClient client(client_context, other.fingerprint());
  run(client, server);
  EXPECT_TRUE(client.failed());
  EXPECT_EQ(client.failure(), DtlsFailure::kFingerprintMismatch);
  EXPECT_FALSE(client.keys());
}

TEST_F(DtlsClientTest, RetransmitsItsFlightWhenTheTimerExpires) {
  DtlsClientConfig config;
  config.initial_timeout = std::chrono::microseconds(1000);
  DtlsClientContext fast(client_cert, config);
  DtlsClient client(fast, server_cert.fingerprint());
  std::array<uint8_t, 1500> buf;
  client.advance();
  ASSERT_GT(client.next_datagram(buf), 0u);  // the ClientHello, lost
  EXPECT_EQ(client.next_datagram(buf), 0u);
  ASSERT_TRUE(client.timeout());
  for (int i = 0; i < 200 && client.timeout() > std::chrono::steady_clock::duration::zero(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  client.on_timeout();
  EXPECT_GT(client.next_datagram(buf), 0u);
  EXPECT_FALSE(client.failed());
}

sockaddr_storage loopback(socklen_t& len) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  in->sin_port = htons(40000);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  len = sizeof(sockaddr_in);
  return ss;
}

// RFC 8445 §7.2.2: USERNAME "<lite ufrag>:<our ufrag>", integrity keyed with
// the lite agent's password.
TEST(StunClientTest, ChecksPassTheLiteAgentAndAnswersCarryTheirTransaction) {
  StunResponder responder("LiteUfrg", "lite-password-0123456789", "BrwsUfrg");
  StunClient client;
  socklen_t len = 0;
  const sockaddr_storage from = loopback(len);
  std::array<uint8_t, 512> request;
  std::array<uint8_t, StunResponder::kMaxResponse> answer;
  // More than libnice's 200 saved transactions: each is forgotten once built.
  for (int i = 0; i < 250; ++i) {
    std::array<uint8_t, 12> id{};
    const size_t n =
        client.check(request, "LiteUfrg:BrwsUfrg", "lite-password-0123456789", i == 0, 1, &id);
    ASSERT_GT(n, 0u) << "check " << i;
    EXPECT_EQ(stun_message_type({request.data(), n}), kStunBindingRequest);
    EXPECT_EQ(stun_transaction_id({request.data(), n}), id);
    const StunResult r = responder.on_request({request.data(), n}, from, len, answer);
    ASSERT_TRUE(r.valid()) << "check " << i;
    EXPECT_EQ(r.use_candidate, i == 0);
    const std::span<const uint8_t> reply(answer.data(), r.response_size);
    EXPECT_EQ(stun_message_type(reply), kStunBindingSuccess);
    EXPECT_EQ(stun_transaction_id(reply), id);
  }
}

TEST(StunClientTest, AWrongPasswordIsAnswered401) {
  StunResponder responder("LiteUfrg", "lite-password-0123456789", "BrwsUfrg");
  StunClient client;
  socklen_t len = 0;
  const sockaddr_storage from = loopback(len);
  std::array<uint8_t, 512> request;
  std::array<uint8_t, StunResponder::kMaxResponse> answer;
  const size_t n =
      client.check(request, "LiteUfrg:BrwsUfrg", "not-the-password-000000", true, 1, nullptr);
  const StunResult r = responder.on_request({request.data(), n}, from, len, answer);
  EXPECT_EQ(r.outcome, StunOutcome::kBadIntegrity);
  const std::span<const uint8_t> reply(answer.data(), r.response_size);
  EXPECT_EQ(stun_message_type(reply), kStunBindingError);
  EXPECT_EQ(stun_error_code(reply), 401);
}

}  // namespace
}  // namespace chorus::webrtc

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
