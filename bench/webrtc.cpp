// Costs of the WebRTC building blocks (webrtc/): the RFC 7983 demux per
// datagram, one ICE-lite connectivity check answered (libnice's STUN library,
// two HMAC-SHA1 over GnuTLS), and one whole DTLS-SRTP handshake in memory
// (our server and an OpenSSL client, both sides' CPU: ECDHE, two ECDSA
// signatures and verifications, the exporter).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <array>
#include <memory>
#include <string>

#include "tests/webrtc/dtls_test_support.hpp"
#include "webrtc/demux.hpp"
#include "webrtc/dtls_transport.hpp"
#include "webrtc/stun_responder.hpp"

namespace {

using namespace chorus::webrtc;

void BM_Classify(benchmark::State& state) {
  std::array<uint8_t, 172> d{0x80, 111};
  uint8_t b = 0;
  for (auto _ : state) {
    d[0] = b++;
    benchmark::DoNotOptimize(classify(d));
  }
}
BENCHMARK(BM_Classify);

void BM_StunCheck(benchmark::State& state) {
  const std::string user = "ChRs:BrWs", pwd = "chorus-local-password-0123";
  const uint16_t known[] = {STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY, 0};
  StunAgent agent;
  stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
                  static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                   STUN_AGENT_USAGE_USE_FINGERPRINT));
  std::array<uint8_t, 256> req;
  StunMessage m;
  const size_t n = stun_usage_ice_conncheck_create(
      &agent, &m, req.data(), req.size(), reinterpret_cast<const uint8_t*>(user.data()),
      user.size(), reinterpret_cast<const uint8_t*>(pwd.data()), pwd.size(), true, true, 100, 1,
      nullptr, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
  sockaddr_storage from{};
  auto* in = reinterpret_cast<sockaddr_in*>(&from);
  in->sin_family = AF_INET;
  in->sin_port = htons(5000);
  StunResponder responder("ChRs", pwd, "BrWs");
  std::array<uint8_t, StunResponder::kMaxResponse> out;
  for (auto _ : state) {
    const StunResult r = responder.on_request({req.data(), n}, from, sizeof(sockaddr_in), out);
    if (!r.valid()) state.SkipWithError("check refused");
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_StunCheck);

void BM_DtlsHandshakeInMemory(benchmark::State& state) {
  const DtlsCertificate cert = DtlsCertificate::generate();
  DtlsContext context(cert);
  std::array<uint8_t, 1500> buf;
  for (auto _ : state) {
    state.PauseTiming();  // the client's certificate is generated outside the timing
    auto owned = std::make_unique<testing::DtlsTestClient>();
    testing::DtlsTestClient& client = *owned;
    state.ResumeTiming();
    DtlsHandshake server(context, client.fingerprint());
    auto to_server = client.step();
    for (int round = 0;
         round < 8 && !(client.connected() && server.state() == DtlsState::kConnected); ++round) {
      for (const auto& d : to_server) server.on_datagram(d);
      for (size_t k; (k = server.next_datagram(buf)) > 0;)
        client.receive({buf.begin(), buf.begin() + static_cast<long>(k)});
      to_server = client.step();
    }
    if (server.state() != DtlsState::kConnected) state.SkipWithError("handshake failed");
  }
}
BENCHMARK(BM_DtlsHandshakeInMemory)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
