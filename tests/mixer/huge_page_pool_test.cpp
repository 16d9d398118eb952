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
