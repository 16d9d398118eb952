// A conference spanning two shards mixes like a single-shard one: every
// listener hears a correct N-1 mix and the global top K (the remote part one
// tick late).
#include <gtest/gtest.h>

#include <memory>

#include "mixer/span.hpp"
#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

using testing::ConferenceHarness;
using testing::kHeard;
using testing::kNotHeard;

// Two parts linked through a real SpanLink, stepped in lock-step on one
// thread (the threaded test runs them on two).
struct TwoParts {
  explicit TwoParts(size_t k)
      : a(testing::config(k)),
        b(testing::config(k)),
        link(std::make_shared<SpanLink>()),
        end_a({{link, true}}),
        end_b({{link, false}}) {
    a.conference.set_span_peers(1, 8000);
    b.conference.set_span_peers(1, 8000);
  }
  ConferenceHarness& part_of(ParticipantId id) { return id % 2 ? a : b; }
  void add(ParticipantId id, double freq, double amplitude = 6000) {
    part_of(id).add(id, freq, {}, testing::pcmu(), amplitude);
  }
  void run(int ticks, int record = 10) {
    a.run(0, 0);  // forget earlier recordings
    b.run(0, 0);
    for (int t = 0; t < ticks; ++t) {
      const bool rec = t >= ticks - record;
      end_a.receive(a.conference);
      end_b.receive(b.conference);
      a.step(rec);
      b.step(rec);
      end_a.send(a.conference);
      end_b.send(b.conference);
    }
  }
  double hears(ParticipantId listener, ParticipantId speaker) {
    return part_of(listener).heard(listener, part_of(speaker).freq(speaker));
  }

  ConferenceHarness a;  // odd ids
  ConferenceHarness b;  // even ids
  std::shared_ptr<SpanLink> link;
  SpanEndpoint end_a;
  SpanEndpoint end_b;
};

TEST(Span, EveryoneHearsEveryoneElseAcrossShardsButNeverThemselves) {
  TwoParts span(5);
  ConferenceHarness single(testing::config(5));
  const double freqs[] = {400, 600, 800, 1000, 1200};
  for (ParticipantId id = 1; id <= 5; ++id) {
    span.add(id, freqs[id - 1]);
    single.add(id, freqs[id - 1]);
  }
  span.run(30);
  single.run(30);
  for (ParticipantId l = 1; l <= 5; ++l) {
    for (ParticipantId s = 1; s <= 5; ++s) {
      SCOPED_TRACE(::testing::Message() << l << " hears " << s);
      if (l == s) {
        EXPECT_LT(span.hears(l, s), kNotHeard);
      } else {
        EXPECT_GT(span.hears(l, s), kHeard);
        // Same level as the single-shard mix.
        EXPECT_NEAR(span.hears(l, s), single.hears(l, s), single.hears(l, s) * 0.05);
      }
    }
  }
  EXPECT_EQ(span.end_a.counters().send_dropped, 0u);
  EXPECT_GT(span.end_b.counters().received, 0u);
}

TEST(Span, GlobalTopKAcrossShardsMatchesSingleShard) {
  TwoParts span(3);
  ConferenceHarness single(testing::config(3));
  const double amplitude[] = {1000, 8000, 1500, 6000, 2000, 4000, 500};
  for (ParticipantId id = 1; id <= 7; ++id) {
    span.add(id, 300.0 + 200.0 * static_cast<double>(id), amplitude[id - 1]);
    single.add(id, 300.0 + 200.0 * static_cast<double>(id), {}, testing::pcmu(), amplitude[id - 1]);
  }
  span.part_of(7).set_speaking(7, false);
  single.set_speaking(7, false);
  span.run(40);
  single.run(40);
  for (ParticipantId s = 1; s <= 6; ++s) {
    SCOPED_TRACE(s);
    const bool loud = s == 2 || s == 4 || s == 6;
    EXPECT_EQ(single.hears(7, s) > kHeard / 4, loud);
    EXPECT_EQ(span.hears(7, s) > kHeard / 4, loud);
    // 1 (odd part) hears the loud ones on both parts; no quiet one.
    EXPECT_EQ(span.hears(1, s) > kHeard / 4, loud);
  }
}

TEST(Span, AloneInTheRoomCountsMembersOnOtherShards) {
  TwoParts span(3);
  span.add(1, 500);
  span.run(10, 5);
  EXPECT_GT(rms(span.a.recorded(1)), 300.0);  // alone: music
  span.add(2, 700);                           // on the other part
  span.part_of(2).set_speaking(2, false);
  span.run(10, 5);
  for (int16_t s : span.a.recorded(1)) ASSERT_EQ(s, 0);  // not alone: no music, 2 is silent
}

TEST(Span, MissingPeerPacketsAreCountedAndMixedWithout) {
  ConferenceHarness a(testing::config(3));
  a.conference.set_span_peers(1, 8000);
  a.add(1, 500);
  a.add(3, 700);
  a.run(20);  // no packets from the peer at all
  EXPECT_GT(a.hears(1, 3), kHeard);
  EXPECT_GE(a.conference.stats().span_packets_missing, 20u);
  // A packet at another rate is ignored, not mixed.
  SpanPacket wrong;
  wrong.rate = 16000;
  wrong.samples = 320;
  wrong.partial.fill(30000);
  a.conference.set_remote(0, wrong);
  a.conference.set_remote(5, wrong);  // no such peer: ignored
  a.run(1, 1);
  EXPECT_LT(a.heard(1, 0.0), 20000.0);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
