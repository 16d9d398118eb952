// Fixed packet buffer pool: bounded, O(1), no reuse while held.
#include "rtp/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "rtp/alloc_counter.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::rtp {
namespace {

TEST(BufferPool, HandsOutDistinctBuffersUntilExhausted) {
  BufferPool pool(4, 256);
  std::set<uint8_t*> seen;
  std::vector<uint8_t*> held;
  for (int i = 0; i < 4; ++i) {
    uint8_t* b = pool.acquire();
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(pool.owns(b));
    EXPECT_TRUE(seen.insert(b).second);
    held.push_back(b);
  }
  EXPECT_EQ(pool.acquire(), nullptr);
  EXPECT_EQ(pool.exhausted(), 1u);
  EXPECT_EQ(pool.available(), 0u);
  pool.release(held.back());
  EXPECT_EQ(pool.acquire(), held.back());  // the one released comes back
}

TEST(BufferPool, BuffersDoNotOverlap) {
  BufferPool pool(3, 100);
  uint8_t* a = pool.acquire();
  uint8_t* b = pool.acquire();
  uint8_t* c = pool.acquire();
  std::fill(a, a + 100, 0xAA);
  std::fill(b, b + 100, 0xBB);
  std::fill(c, c + 100, 0xCC);
  EXPECT_EQ(a[99], 0xAA);
  EXPECT_EQ(b[0], 0xBB);
  EXPECT_EQ(b[99], 0xBB);
  EXPECT_EQ(c[0], 0xCC);
}

TEST(BufferPool, ForeignPointersAreNotOwned) {
  BufferPool pool(2, 64);
  uint8_t local[64];
  EXPECT_FALSE(pool.owns(local));
  uint8_t* b = pool.acquire();
  EXPECT_FALSE(pool.owns(b + 1));  // not a buffer start
}

// A second release or a foreign pointer is refused and counted: the free
// stack never holds a buffer twice (which would give it two owners later).
TEST(BufferPool, ASecondReleaseOrAForeignPointerIsRefusedAndCounted) {
  BufferPool pool(2, 64);
  uint8_t* a = pool.acquire();
  pool.release(a);
  pool.release(a);
  uint8_t foreign[64];
  pool.release(foreign);
  EXPECT_EQ(pool.bad_releases(), 2u);
  EXPECT_EQ(pool.available(), 2u);
  uint8_t* x = pool.acquire();
  uint8_t* y = pool.acquire();
  EXPECT_NE(x, y);
  EXPECT_EQ(pool.acquire(), nullptr);
}

TEST(BufferPool, AcquireAndReleaseNeverAllocate) {
  BufferPool pool(64);
  std::vector<uint8_t*> held;
  held.reserve(64);
  const uint64_t before = alloc::count();
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 64; ++i) held.push_back(pool.acquire());
    for (uint8_t* b : held) pool.release(b);
    held.clear();
  }
  EXPECT_EQ(alloc::count() - before, 0u);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
