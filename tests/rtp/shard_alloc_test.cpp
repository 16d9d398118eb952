// The hot path allocates nothing: a warmed-up shard receiving (recvmmsg, or
// io_uring completions), unprotecting SRTP, jitter-buffering, pulling,
// packetizing, protecting and sending (sendmmsg, or one io_uring submit), with RTCP reports on the
// way, performs zero operator new calls on its thread over a window of steady-state ticks.
//
// What this does not see: C-level malloc inside libraries. Debian's libsrtp2
// is built on NSS, which mallocs a cipher context per protect/unprotect (see
// bench/RESULTS.md, SRTP section); that is libsrtp's, not this code's.
#include <gtest/gtest.h>

#include <thread>

#include "rtp/alloc_counter.hpp"
#include "rtp/shard.hpp"
#include "rtp/srtp.hpp"
#include "tests/rtp/shard_test_support.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;

constexpr StreamId kPlain = 1;
constexpr StreamId kSecure = 2;
constexpr uint64_t kWarmupPackets = 40;
constexpr uint64_t kWindowTicks = 60;

class SteadyEcho : public TickHandler {
 public:
  explicit SteadyEcho(Shard& shard) : shard_(shard) {}
  ~SteadyEcho() override { shard_.stop(); }  // the shard thread calls on_tick until then

  void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
    for (StreamId id : {kPlain, kSecure}) {
      Stream* s = shard_.find_stream(id);
      if (s == nullptr) continue;
      const Slot slot = s->pull();
      if (slot.kind != SlotKind::kPacket) continue;
      s->send(slot.payload_type, slot.payload, 160, false);
      played_.fetch_add(1, std::memory_order_relaxed);
    }
    // alloc::count() is this (the shard) thread's counter.
    const uint64_t played = played_.load(std::memory_order_relaxed);
    if (window_ticks_ == 0 && played >= kWarmupPackets) {
      before_ = alloc::count();
      window_ticks_ = 1;
    } else if (window_ticks_ > 0 && window_ticks_ < kWindowTicks) {
      if (++window_ticks_ == kWindowTicks) {
        allocations_.store(alloc::count() - before_, std::memory_order_relaxed);
        window_played_.store(played, std::memory_order_relaxed);
        done_.store(true, std::memory_order_release);
      }
    }
  }

  bool done() const { return done_.load(std::memory_order_acquire); }
  uint64_t allocations() const { return allocations_.load(std::memory_order_relaxed); }
  uint64_t played() const { return window_played_.load(std::memory_order_relaxed); }

 private:
  Shard& shard_;
  std::atomic<uint64_t> played_{0};
  uint64_t before_ = 0;
  uint64_t window_ticks_ = 0;
  std::atomic<uint64_t> allocations_{0};
  std::atomic<uint64_t> window_played_{0};
  std::atomic<bool> done_{false};
};

// On both socket I/O paths: recvmmsg/sendmmsg, and io_uring (completions
// reaped, buffers recycled into the buffer ring, sends submitted at once).
class ShardAlloc : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    if (GetParam() == IoBackend::kUring && !testing::uring_available())
      GTEST_SKIP() << "io_uring unavailable here";
  }
};

TEST_P(ShardAlloc, SteadyStateShardPerformsZeroHeapAllocationsPerPacket) {
  ShardConfig config = testing::loopback_config(20, GetParam());
  config.rtcp.min_interval_seconds = 0.2;  // RTCP reports inside the window too
  Shard shard(config);
  ASSERT_EQ(shard.io_backend(), GetParam());
  SteadyEcho echo(shard);
  testing::Driver driver(shard, &echo);
  shard.start();
  const uint16_t plain_port = testing::open_via_command(driver, kPlain);
  const uint16_t secure_port = testing::open_via_command(driver, kSecure);
  ASSERT_NE(plain_port, 0);
  ASSERT_NE(secure_port, 0);
  testing::Peer peer;
  testing::set_remote(driver, kPlain, peer.endpoint());
  testing::set_remote(driver, kSecure, peer.endpoint());
  SrtpKeys keys;
  keys.suite = SrtpSuite::kAesCm128HmacSha1_80;
  keys.inbound_size = keys.outbound_size = 30;
  for (uint8_t i = 0; i < 30; ++i) {
    keys.inbound[i] = i;
    keys.outbound[i] = static_cast<uint8_t>(200 - i);
  }
  Command set;
  set.kind = CommandKind::kSetSrtp;
  set.stream = kSecure;
  set.keys = keys;
  ASSERT_TRUE(driver.post(std::move(set)));
  ASSERT_TRUE(testing::request_stats(driver, kSecure).has_value());
  auto protect = SrtpSession::create(keys.suite, std::span(keys.inbound.data(), 30),
                                     SrtpSession::Direction::kOutbound);
  ASSERT_TRUE(protect.has_value());

  // A talker on each stream at the real pace, until the window closes.
  std::array<uint8_t, 160> payload{};
  auto next = std::chrono::steady_clock::now();
  for (uint16_t seq = 0; seq < 250 && !echo.done(); ++seq) {
    peer.send_to(plain_port, testing::make_rtp(0, seq, seq * 160u, 0x1111, payload));
    auto pkt = testing::make_rtp(0, seq, seq * 160u, 0x2222, payload);
    size_t len = pkt.size();
    pkt.resize(len + SrtpSession::kProtectOverhead);
    ASSERT_TRUE(protect->protect_rtp(pkt.data(), len, pkt.size()));
    pkt.resize(len);
    peer.send_to(secure_port, pkt);
    peer.receive_all(0ms);  // keep the peer's socket buffer from filling
    next += 20ms;
    std::this_thread::sleep_until(next);
  }
  ASSERT_TRUE(echo.done()) << "the window never completed";
  EXPECT_EQ(echo.allocations(), 0u);
  EXPECT_GE(echo.played(), kWarmupPackets + kWindowTicks);  // traffic really flowed
  const auto stats = testing::request_stats(driver, kSecure);
  ASSERT_TRUE(stats.has_value());
  EXPECT_GE(stats->packets_received, 60u);
  EXPECT_EQ(stats->drops.auth_failed, 0u);
  shard.stop();
}

INSTANTIATE_TEST_SUITE_P(Backends, ShardAlloc,
                         ::testing::Values(IoBackend::kMmsg, IoBackend::kUring),
                         testing::IoBackendParamName());

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
