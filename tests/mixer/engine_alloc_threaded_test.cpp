// ARCHITECTURE.md "The hot path" through the whole media side: a shard of a
// running Engine mixing a three-caller PCMU conference over loopback (receive,
// jitter buffer, decode, mix, encode, send, RTCP, talker and level events into
// the event ring, an empty command ring checked every tick) performs no
// operator new on its thread over a window of steady-state ticks.
// GCC 12 at -O2 (the TSan build) inlines the counting operator new into
// Boost's exception cloning and flags its free() as mismatched; the pair is
// malloc/free on both sides by construction (rtp/alloc_counter.hpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "rtp/alloc_counter.hpp"
#include "tests/mixer/engine_test_support.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::mixer {
namespace {

using namespace std::chrono_literals;

TEST(EngineAlloc, SteadyStateShardTickPerformsZeroHeapAllocations) {
  Engine engine(testing::loopback_engine(testing::test_port_base(41000, 100), 100));
  engine.start();
  testing::EventLog log(engine);
  const double freqs[] = {500, 700, 900};
  std::vector<std::unique_ptr<testing::Caller>> callers;
  for (size_t i = 0; i < 3; ++i) {
    callers.push_back(std::make_unique<testing::Caller>(freqs[i]));
    const auto id = engine.submit(testing::pcmu_add(1, 100 + i, callers.back()->port()));
    ASSERT_TRUE(id.has_value());
    const auto done = log.wait(*id);
    ASSERT_TRUE(done && done->kind == Event::Kind::kDone);
    callers.back()->set_mixer_port(static_cast<uint16_t>(done->value));
  }
  auto next = std::chrono::steady_clock::now();
  auto frames = [&](int n) {
    for (int t = 0; t < n; ++t) {
      for (auto& c : callers) c->send_frame();
      next += 20ms;
      std::this_thread::sleep_until(next);
      for (auto& c : callers) c->receive(false);
    }
  };
  frames(50);  // warm-up: jitter buffers, talker state, shared encoders, RTCP
  log.poll();
  const ShardStatus before_status = engine.shard_status(0);
  const size_t packets_before = callers[0]->packets();
  // Allocations of every thread minus this (the test) thread's own: the shard's.
  const uint64_t total_before = rtp::alloc::total();
  const uint64_t mine_before = rtp::alloc::count();
  // 60 frames of 20 ms, longer (at most 3 s more) while a loaded machine
  // makes the shard skip ticks: 40 ticks and 40 packets back needed.
  frames(60);
  for (int more = 0;
       more < 150 && (engine.shard_status(0).mix_ticks - before_status.mix_ticks < 40 ||
                      callers[0]->packets() - packets_before < 40);
       ++more)
    frames(1);
  log.poll();
  const uint64_t shard_allocations =
      (rtp::alloc::total() - total_before) - (rtp::alloc::count() - mine_before);
  const ShardStatus after_status = engine.shard_status(0);
  EXPECT_EQ(shard_allocations, 0u);
  EXPECT_GE(after_status.mix_ticks - before_status.mix_ticks, 40u);  // the window really ticked
  EXPECT_GE(callers[0]->packets() - packets_before, 40u);            // and media really flowed
  engine.stop();
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
