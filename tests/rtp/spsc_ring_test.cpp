// The SPSC ring's single-threaded contract: FIFO, bounded, never blocks.
#include "rtp/spsc_ring.hpp"

#include <gtest/gtest.h>

#include <memory>

#include <cstdint>

namespace chorus::rtp {
namespace {

TEST(SpscRing, EmptyRingPopsNothing) {
  SpscRing<int, 8> ring;
  int v = -1;
  EXPECT_FALSE(ring.try_pop(v));
  EXPECT_EQ(v, -1);
  EXPECT_EQ(ring.size_approx(), 0u);
}

TEST(SpscRing, HoldsExactlyCapacityThenRefuses) {
  SpscRing<int, 8> ring;
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(ring.try_push(i)) << i;
  EXPECT_FALSE(ring.try_push(99));
  EXPECT_EQ(ring.size_approx(), 8u);
  int v = 0;
  ASSERT_TRUE(ring.try_pop(v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(ring.try_push(8));  // one slot freed, one more fits
  EXPECT_FALSE(ring.try_push(9));
}

TEST(SpscRing, FifoOrderSurvivesManyWrapArounds) {
  SpscRing<uint64_t, 4> ring;
  uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 10000; ++round) {
    const int burst = 1 + round % 4;
    for (int i = 0; i < burst; ++i) ASSERT_TRUE(ring.try_push(next_in++));
    for (int i = 0; i < burst; ++i) {
      uint64_t v = 0;
      ASSERT_TRUE(ring.try_pop(v));
      ASSERT_EQ(v, next_out++);
    }
  }
  EXPECT_EQ(ring.size_approx(), 0u);
}

struct Wide {
  uint64_t a = 0;
  char text[40] = {};
};

TEST(SpscRing, CopiesWholeValues) {
  SpscRing<Wide, 2> ring;
  Wide w;
  w.a = 7;
  w.text[0] = 'x';
  w.text[39] = 'y';
  ASSERT_TRUE(ring.try_push(w));
  w.a = 8;  // the ring holds a copy
  Wide out;
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out.a, 7u);
  EXPECT_EQ(out.text[39], 'y');
}

TEST(SpscRing, MovesOwnershipThroughTheRingAndLeavesNothingBehind) {
  SpscRing<std::unique_ptr<int>, 4> ring;
  auto p = std::make_unique<int>(5);
  int* raw = p.get();
  ASSERT_TRUE(ring.try_push(std::move(p)));
  EXPECT_EQ(p, nullptr);
  std::unique_ptr<int> out;
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out.get(), raw);
  // A refused push leaves the value with the caller.
  SpscRing<std::unique_ptr<int>, 2> small;
  small.set_capacity(1);
  ASSERT_TRUE(small.try_push(std::make_unique<int>(1)));
  auto kept = std::make_unique<int>(2);
  EXPECT_FALSE(small.try_push(std::move(kept)));
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(*kept, 2);
}

TEST(SpscRing, UsableCapacityCanBeShrunkAtRunTime) {
  SpscRing<int, 16> ring;
  ring.set_capacity(3);
  EXPECT_EQ(ring.usable_capacity(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(ring.try_push(i));
  EXPECT_TRUE(ring.full());
  EXPECT_FALSE(ring.try_push(3));
  int v = 0;
  ASSERT_TRUE(ring.try_pop(v));
  EXPECT_FALSE(ring.full());
  EXPECT_TRUE(ring.try_push(3));
  ring.set_capacity(0);  // clamped to one slot
  EXPECT_EQ(ring.usable_capacity(), 1u);
  ring.set_capacity(1000);  // clamped to N
  EXPECT_EQ(ring.usable_capacity(), 16u);
}

TEST(SpscRing, HeadAndTailLiveOnSeparateCacheLines) {
  // The false-sharing guarantee is layout: the ring is at least three lines
  // (head, tail, slots) and aligned to one.
  EXPECT_GE(sizeof(SpscRing<int, 2>), 3 * kCacheLine);
  EXPECT_EQ(alignof(SpscRing<int, 2>), kCacheLine);
  EXPECT_EQ((SpscRing<int, 16>::capacity()), 16u);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
