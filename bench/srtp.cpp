// SRTP cost per packet through libsrtp2: protect, and protect + unprotect, of
// a 172-byte RTP packet (160-byte payload) for each suite the installed
// libsrtp supports (unprotect alone = round trip - protect).
#include <benchmark/benchmark.h>

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

void BM_SrtpProtect(benchmark::State& state) {
  Fixture f;
  if (!setup(state, f)) return;
  uint16_t seq = 0;
  for (auto _ : state) {
    std::memcpy(f.buf.data(), f.plain.data(), f.plain.size());
    set_sequence(f.buf, ++seq);
    size_t len = f.plain.size();
    if (!f.tx->protect_rtp(f.buf.data(), len, f.buf.size())) state.SkipWithError("protect failed");
    benchmark::DoNotOptimize(len);
  }
}
BENCHMARK(BM_SrtpProtect)->DenseRange(0, 3);

void BM_SrtpProtectUnprotect(benchmark::State& state) {
  Fixture f;
  if (!setup(state, f)) return;
  uint16_t seq = 0;
  for (auto _ : state) {
    std::memcpy(f.buf.data(), f.plain.data(), f.plain.size());
    set_sequence(f.buf, ++seq);
    size_t len = f.plain.size();
    if (!f.tx->protect_rtp(f.buf.data(), len, f.buf.size()) ||
        !f.rx->unprotect_rtp(f.buf.data(), len)) {
      state.SkipWithError("round trip failed");
    }
    benchmark::DoNotOptimize(len);
  }
}
BENCHMARK(BM_SrtpProtectUnprotect)->DenseRange(0, 3);

}  // namespace

BENCHMARK_MAIN();
