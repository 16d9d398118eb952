// Two shard threads run the two parts of one conference and exchange their
// partial sums over the SPSC span rings (run under TSan: label "threaded").
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <memory>
#include <thread>

#include "mixer/span.hpp"
#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

using testing::ConferenceHarness;
using testing::kHeard;
using testing::kNotHeard;

// The recorded (measured) ticks at the end of a run.
constexpr int kRecorded = 40;

void run_part(ConferenceHarness& part, SpanEndpoint& end, int ticks,
              std::chrono::steady_clock::time_point start, std::barrier<>& lockstep) {
  // Absolute deadlines, like rtp::Shard's tick (fast: 4 ms per tick). Over
  // the recorded ticks (and the one before) the two parts run in lockstep: each
  // receives only after the other sent its previous tick's frame, and sends
  // only after the other received, so a thread the loaded machine woke late
  // does not cost the other part's level a tick of silence.
  auto deadline = start;
  for (int t = 0; t < ticks; ++t) {
    std::this_thread::sleep_until(deadline);
    deadline += std::chrono::milliseconds(4);
    const bool locked = t >= ticks - kRecorded;
    end.receive(part.conference);
    if (locked) lockstep.arrive_and_wait();
    part.step(locked);
    end.send(part.conference);
    if (t >= ticks - kRecorded - 1) lockstep.arrive_and_wait();
  }
}

TEST(SpanThreaded, TwoShardThreadsMixOneConference) {
  ConferenceHarness a(testing::config(5));
  ConferenceHarness b(testing::config(5));
  a.conference.set_span_peers(1, 8000);
  b.conference.set_span_peers(1, 8000);
  a.add(1, 500);
  a.add(3, 900);
  b.add(2, 700);
  b.add(4, 1100);
  auto link = std::make_shared<SpanLink>();
  SpanEndpoint end_a({{link, true}});
  SpanEndpoint end_b({{link, false}});
  const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(10);
  constexpr int kTicks = 150;
  std::barrier<> lockstep(2);
  std::thread ta([&] { run_part(a, end_a, kTicks, start, lockstep); });
  std::thread tb([&] { run_part(b, end_b, kTicks, start, lockstep); });
  ta.join();
  tb.join();

  // Local and remote talkers heard, never oneself (the recorded ticks ran in
  // lockstep, yet allow some loss in level).
  EXPECT_GT(a.hears(1, 3), kHeard);
  EXPECT_GT(a.heard(1, 700), kHeard);
  EXPECT_GT(a.heard(1, 1100), kHeard);
  EXPECT_LT(a.hears(1, 1), kNotHeard);
  EXPECT_GT(b.heard(2, 500), kHeard);
  EXPECT_GT(b.heard(2, 900), kHeard);
  EXPECT_GT(b.hears(2, 4), kHeard);
  EXPECT_LT(b.hears(2, 2), kNotHeard);
  EXPECT_GT(end_a.counters().received, kTicks / 2u);
  EXPECT_GT(end_b.counters().received, kTicks / 2u);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
