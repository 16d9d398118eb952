// SRTP sessions are created and used on several shard threads at once: the
// one-time libsrtp initialisation must be safe under that (TSan runs this).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "rtp/packet.hpp"
#include "rtp/srtp.hpp"

namespace chorus::rtp {
namespace {

TEST(SrtpThreaded, SessionsOnConcurrentThreadsRoundTripIndependently) {
  constexpr int kThreads = 4;
  constexpr int kPackets = 200;
  std::atomic<int> ready{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Line up so the first create() calls race each other.
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      const SrtpSuite suite =
          t % 2 ? SrtpSuite::kAesCm128HmacSha1_80 : SrtpSuite::kAesCm128HmacSha1_32;
      std::vector<uint8_t> key(srtp_key_salt_size(suite), static_cast<uint8_t>(t + 1));
      auto tx = SrtpSession::create(suite, key, SrtpSession::Direction::kOutbound);
      auto rx = SrtpSession::create(suite, key, SrtpSession::Direction::kInbound);
      if (!tx || !rx || !srtp_suite_supported(suite)) {
        failures.fetch_add(1);
        return;
      }
      std::array<uint8_t, 512> buf{};
      std::array<uint8_t, 160> payload{};
      payload.fill(static_cast<uint8_t>(t));
      for (int i = 0; i < kPackets; ++i) {
        const auto seq = static_cast<uint16_t>(i);
        size_t len = write_packet(buf, RtpHeader{0, false, seq, seq * 160u, 1000u + t}, payload);
        if (!tx->protect_rtp(buf.data(), len, buf.size()) || !rx->unprotect_rtp(buf.data(), len) ||
            len != 172 || buf[12] != static_cast<uint8_t>(t)) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
