// Two shard threads run the two parts of one conference and exchange their
// partial sums over the SPSC span rings (run under TSan: label "threaded").
#include <gtest/gtest.h>

#include <atomic>
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

void run_part(ConferenceHarness& part, SpanEndpoint& end, int ticks,
              std::chrono::steady_clock::time_point start) {
  // Absolute deadlines, like rtp::Shard's tick (fast: 4 ms per tick).
  auto deadline = start;
  for (int t = 0; t < ticks; ++t) {
    std::this_thread::sleep_until(deadline);
    deadline += std::chrono::milliseconds(4);
    end.receive(part.conference);
    part.step(t >= ticks - 40);
    end.send(part.conference);
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
  std::thread ta([&] { run_part(a, end_a, kTicks, start); });
  std::thread tb([&] { run_part(b, end_b, kTicks, start); });
  ta.join();
  tb.join();

  // Local and remote talkers heard, never oneself. A late packet costs the
  // remote part one tick of 40, so allow some loss in level.
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
