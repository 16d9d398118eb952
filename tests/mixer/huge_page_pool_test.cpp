// The huge-page block pool behind participants' buffers and shared encoders.
#include "mixer/huge_page_pool.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "mixer/participant.hpp"

namespace chorus::mixer {
namespace {

TEST(HugePagePool, BlocksAreDistinctAlignedWritableAndSpanChunks) {
  HugePagePool pool(30000);
  EXPECT_EQ(pool.block_bytes() % 64, 0u);
  EXPECT_GE(pool.block_bytes(), 30000u);
  // More blocks than one 2 MiB chunk holds.
  const size_t count = 2 * HugePagePool::kChunkBytes / pool.block_bytes() + 3;
  std::vector<char*> blocks;
  std::set<uintptr_t> chunks;
  for (size_t i = 0; i < count; ++i) {
    auto* b = static_cast<char*>(pool.allocate());
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 64, 0u);
    std::memset(b, static_cast<int>(i), pool.block_bytes());  // ASan checks the extent
    blocks.push_back(b);
    chunks.insert(reinterpret_cast<uintptr_t>(b) / HugePagePool::kChunkBytes);
  }
  EXPECT_GE(chunks.size(), 3u);
  // No two blocks overlap, and each kept what was written to it.
  std::set<char*> sorted(blocks.begin(), blocks.end());
  ASSERT_EQ(sorted.size(), blocks.size());
  char* prev = nullptr;
  for (char* b : sorted) {
    if (prev != nullptr) {
      EXPECT_GE(static_cast<size_t>(b - prev), pool.block_bytes());
    }
    prev = b;
  }
  for (size_t i = 0; i < count; ++i) {
    EXPECT_EQ(static_cast<unsigned char>(blocks[i][pool.block_bytes() - 1]),
              static_cast<unsigned char>(i));
  }
  // Freed blocks are reused before the pool grows.
  pool.deallocate(blocks[5]);
  pool.deallocate(blocks[9]);
  EXPECT_EQ(pool.allocate(), blocks[9]);
  EXPECT_EQ(pool.allocate(), blocks[5]);
}

TEST(HugePagePool, EmptyChunksGoBackToTheSystemButOne) {
  HugePagePool pool(30000);
  const size_t per_chunk = HugePagePool::kChunkBytes / pool.block_bytes();
  std::vector<void*> blocks;
  for (size_t i = 0; i < 3 * per_chunk + 1; ++i) blocks.push_back(pool.allocate());
  EXPECT_EQ(pool.chunks(), 4u);
  // One block left in the first chunk keeps it; of the three that empty out,
  // one is kept for the next allocation.
  for (size_t i = 1; i < blocks.size(); ++i) pool.deallocate(blocks[i]);
  EXPECT_EQ(pool.chunks(), 2u);
  // Allocation fills the oldest chunk first: its own freed blocks come back
  // before the spare empty chunk is touched.
  std::vector<void*> again;
  for (size_t i = 1; i < per_chunk; ++i) {
    again.push_back(pool.allocate());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(again.back()) / HugePagePool::kChunkBytes,
              reinterpret_cast<uintptr_t>(blocks[0]) / HugePagePool::kChunkBytes);
  }
  EXPECT_EQ(pool.chunks(), 2u);
  for (void* b : again) pool.deallocate(b);
  pool.deallocate(blocks[0]);
  EXPECT_EQ(pool.chunks(), 1u);  // the spare
  void* last = pool.allocate();
  std::memset(last, 1, pool.block_bytes());
  // trim_all() gives back empty chunks only: this one holds a block.
  HugePagePool::trim_all();
  EXPECT_EQ(pool.chunks(), 1u);
  pool.deallocate(last);
  EXPECT_EQ(pool.chunks(), 1u);  // kept as the spare
  EXPECT_GE(HugePagePool::trim_all(), HugePagePool::kChunkBytes);
  EXPECT_EQ(pool.chunks(), 0u);
  std::memset(pool.allocate(), 2, pool.block_bytes());  // and it grows again
}

TEST(HugePagePool, ParticipantBuffersComeAndGoThroughTheirPool) {
  // Whatever the build (the pool is bypassed under ASan), buffers made and
  // destroyed repeatedly stay usable and distinct.
  std::vector<std::unique_ptr<ParticipantBuffers>> live;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) {
      live.push_back(std::make_unique<ParticipantBuffers>(default_params(CodecId::kPcmu), 8000));
      live.back()->input.set_silence(8000);
      live.back()->mix.fill(round);
    }
    live.erase(live.begin() + 5, live.end());
  }
  std::set<ParticipantBuffers*> distinct;
  for (auto& b : live) distinct.insert(b.get());
  EXPECT_EQ(distinct.size(), live.size());
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
