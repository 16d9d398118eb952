// SRTP cost per packet through libsrtp2: protect, and protect + unprotect, of
// a 172-byte RTP packet (160-byte payload) for each suite the linked libsrtp
// supports (unprotect alone = round trip - protect), through Chorus's
// SrtpSession and, for the wrapper's own overhead, through libsrtp's API
// directly (BM_BareSrtp*). The context line "srtp_backend" names the build.
#include <benchmark/benchmark.h>
#include <srtp2/srtp.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rtp/packet.hpp"
#include "rtp/srtp.hpp"

namespace {

using namespace chorus::rtp;

constexpr std::array kSuites = {SrtpSuite::kAesCm128HmacSha1_80, SrtpSuite::kAesCm128HmacSha1_32,
                                SrtpSuite::kAeadAes128Gcm, SrtpSuite::kAeadAes256Gcm};

struct Fixture {
  std::optional<SrtpSession> tx;
  std::optional<SrtpSession> rx;
  std::array<uint8_t, 172> plain{};
  std::array<uint8_t, 512> buf{};
};

bool setup(benchmark::State& state, Fixture& f) {
  const SrtpSuite suite = kSuites[static_cast<size_t>(state.range(0))];
  state.SetLabel(std::string(srtp_suite_name(suite)));
  if (!srtp_suite_supported(suite)) {
    state.SkipWithError("suite not supported by this libsrtp");
    return false;
  }
  std::vector<uint8_t> key(srtp_key_salt_size(suite));
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 13 + 1);
  f.tx = SrtpSession::create(suite, key, SrtpSession::Direction::kOutbound);
  f.rx = SrtpSession::create(suite, key, SrtpSession::Direction::kInbound);
  std::array<uint8_t, 160> payload{};
  payload.fill(0x55);
  write_packet(f.plain, RtpHeader{0, false, 0, 0, 0x11223344}, payload);
  return f.tx && f.rx;
}

void set_sequence(std::array<uint8_t, 512>& buf, uint16_t seq) {
  buf[2] = static_cast<uint8_t>(seq >> 8);
  buf[3] = static_cast<uint8_t>(seq);
}

// Every iteration: a fresh copy of the plain packet with the next sequence
// number, then `op(buffer)`, which returns false on failure.
template <typename Op>
void run(benchmark::State& state, const std::array<uint8_t, 172>& plain,
         std::array<uint8_t, 512>& buf, Op op) {
  uint16_t seq = 0;
  for (auto _ : state) {
    std::memcpy(buf.data(), plain.data(), plain.size());
    set_sequence(buf, ++seq);
    if (!op(buf)) state.SkipWithError("libsrtp failed");
  }
}

void BM_SrtpProtect(benchmark::State& state) {
  Fixture f;
  if (!setup(state, f)) return;
  run(state, f.plain, f.buf, [&](std::array<uint8_t, 512>& buf) {
    size_t len = f.plain.size();
    const bool ok = f.tx->protect_rtp(buf.data(), len, buf.size());
    benchmark::DoNotOptimize(len);
    return ok;
  });
}
BENCHMARK(BM_SrtpProtect)->DenseRange(0, 3);

void BM_SrtpProtectUnprotect(benchmark::State& state) {
  Fixture f;
  if (!setup(state, f)) return;
  run(state, f.plain, f.buf, [&](std::array<uint8_t, 512>& buf) {
    size_t len = f.plain.size();
    const bool ok =
        f.tx->protect_rtp(buf.data(), len, buf.size()) && f.rx->unprotect_rtp(buf.data(), len);
    benchmark::DoNotOptimize(len);
    return ok;
  });
}
BENCHMARK(BM_SrtpProtectUnprotect)->DenseRange(0, 3);

// The same work on libsrtp's own API, with the policy SrtpSession uses
// (AES-CM-128/HMAC-SHA1-80 = 0, AEAD_AES_128_GCM = 2): the baseline the
// wrapper's overhead is measured against.
struct Bare {
  srtp_t tx = nullptr;
  srtp_t rx = nullptr;
  std::array<uint8_t, 172> plain{};
  std::array<uint8_t, 512> buf{};
  ~Bare() {
    if (tx) srtp_dealloc(tx);
    if (rx) srtp_dealloc(rx);
  }
};

bool setup_bare(benchmark::State& state, Bare& b) {
  const SrtpSuite suite = kSuites[static_cast<size_t>(state.range(0))];
  state.SetLabel(std::string(srtp_suite_name(suite)) + " (bare libsrtp)");
  if (!srtp_suite_supported(suite)) {  // also runs srtp_init() through the wrapper
    state.SkipWithError("suite not supported by this libsrtp");
    return false;
  }
  std::vector<uint8_t> key(srtp_key_salt_size(suite));
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 13 + 1);
  for (srtp_ssrc_type_t type : {ssrc_any_outbound, ssrc_any_inbound}) {
    srtp_policy_t policy;
    std::memset(&policy, 0, sizeof(policy));
    if (suite == SrtpSuite::kAeadAes128Gcm) {
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    }
    policy.ssrc.type = type;
    policy.key = key.data();
    policy.window_size = 1024;
    srtp_t& ctx = type == ssrc_any_outbound ? b.tx : b.rx;
    if (srtp_create(&ctx, &policy) != srtp_err_status_ok) {
      state.SkipWithError("srtp_create failed");
      return false;
    }
  }
  std::array<uint8_t, 160> payload{};
  payload.fill(0x55);
  write_packet(b.plain, RtpHeader{0, false, 0, 0, 0x11223344}, payload);
  return true;
}

void BM_BareSrtpProtect(benchmark::State& state) {
  Bare b;
  if (!setup_bare(state, b)) return;
  run(state, b.plain, b.buf, [&](std::array<uint8_t, 512>& buf) {
    int len = static_cast<int>(b.plain.size());
    const bool ok = srtp_protect(b.tx, buf.data(), &len) == srtp_err_status_ok;
    benchmark::DoNotOptimize(len);
    return ok;
  });
}
BENCHMARK(BM_BareSrtpProtect)->Arg(0)->Arg(2);

void BM_BareSrtpProtectUnprotect(benchmark::State& state) {
  Bare b;
  if (!setup_bare(state, b)) return;
  run(state, b.plain, b.buf, [&](std::array<uint8_t, 512>& buf) {
    int len = static_cast<int>(b.plain.size());
    const bool ok = srtp_protect(b.tx, buf.data(), &len) == srtp_err_status_ok &&
                    srtp_unprotect(b.rx, buf.data(), &len) == srtp_err_status_ok;
    benchmark::DoNotOptimize(len);
    return ok;
  });
}
BENCHMARK(BM_BareSrtpProtectUnprotect)->Arg(0)->Arg(2);

}  // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("srtp_backend", std::string(srtp_backend()));
  benchmark::AddCustomContext("libsrtp", std::string(srtp_library_version()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
