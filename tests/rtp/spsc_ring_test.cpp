// The SPSC ring's single-threaded contract: FIFO, bounded, never blocks.
#include "rtp/spsc_ring.hpp"

#include <gtest/gtest.h>

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
