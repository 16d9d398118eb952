// The shard across threads (run under TSan by the "threaded" label): the
// signalling thread floods the command ring and drains the event ring while
// the shard ticks, receives media and answers; counters and the tick histogram
// are read concurrently. Every command is either answered or refused-and-
// counted; every answer either arrives or is dropped-and-counted.
#include <gtest/gtest.h>

#include <thread>

#include "rtp/shard.hpp"
#include "tests/rtp/shard_test_support.hpp"

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;

TEST(ShardThreaded, CommandFloodIsAnsweredOrCountedNeverLost) {
  Shard shard(testing::loopback_config());
  testing::Recorder rec(shard, 1, testing::Recorder::Mode::kEcho);
  testing::Driver driver(shard, &rec);
  shard.start();
  const uint16_t port = testing::open_via_command(driver, 1);
  ASSERT_NE(port, 0);
  testing::Peer peer;
  testing::set_remote(driver, 1, peer.endpoint());

  std::atomic<bool> stop{false};
  std::thread talker([&] {
    std::array<uint8_t, 160> payload{};
    for (uint16_t seq = 0; !stop.load(); ++seq) {
      peer.send_to(port, testing::make_rtp(0, seq, seq * 160u, 0x42, payload));
      std::this_thread::sleep_for(5ms);
    }
  });

  uint64_t accepted = 0, refused = 0, answered = 0;
  uint64_t observed_ticks = 0;
  const auto request = [] {
    Command c;
    c.kind = CommandKind::kRequestStats;
    c.stream = 1;
    return c;
  };
  const auto until = std::chrono::steady_clock::now() + 500ms;
  Event e;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 200; ++i) (driver.post(request()) ? accepted : refused)++;
    while (driver.poll_event(e))
      if (e.kind == EventKind::kStats) ++answered;
    // Relaxed cross-thread reads of the shard's counters.
    observed_ticks = std::max(observed_ticks, shard.ticks());
    uint64_t in_histogram = 0;
    for (uint64_t b : shard.tick_durations_us().snapshot()) in_histogram += b;
    EXPECT_LE(in_histogram, shard.ticks() + 1);
    std::this_thread::sleep_for(1ms);
  }
  // Let the shard finish what it accepted.
  const auto drain_until = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < drain_until &&
         answered + driver.events_dropped() < accepted) {
    while (driver.poll_event(e))
      if (e.kind == EventKind::kStats) ++answered;
    std::this_thread::sleep_for(2ms);
  }
  stop = true;
  talker.join();
  shard.stop();

  EXPECT_GT(accepted, 1000u);
  EXPECT_GT(refused, 0u);  // the flood outran the 20 ms tick: the ring filled
  EXPECT_EQ(driver.commands_dropped(), refused);
  EXPECT_EQ(answered + driver.events_dropped(), accepted);
  EXPECT_GT(observed_ticks, 10u);
  EXPECT_GT(shard.datagrams_received(), 20u);
  EXPECT_GT(rec.packets.load(), 10u);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
