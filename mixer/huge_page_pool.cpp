#include "mixer/huge_page_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>

namespace chorus::mixer {

namespace {

constexpr size_t kAlign = 64;  // a cache line: blocks never share one

}  // namespace

HugePagePool::HugePagePool(size_t block_bytes)
    : block_(std::max(sizeof(FreeBlock), (block_bytes + kAlign - 1) / kAlign * kAlign)) {}

HugePagePool::~HugePagePool() {
  for (void* chunk : chunks_) std::free(chunk);
}

void* HugePagePool::allocate() {
  const std::lock_guard lock(mutex_);
  if (free_ != nullptr) {
    FreeBlock* block = free_;
    free_ = block->next;
    return block;
  }
  if (block_ > kChunkBytes) throw std::bad_alloc();
  if (bump_ == nullptr || static_cast<size_t>(end_ - bump_) < block_) {
    chunks_.reserve(chunks_.size() + 1);  // so the push_back below cannot throw
    void* chunk = std::aligned_alloc(kChunkBytes, kChunkBytes);
    if (chunk == nullptr) throw std::bad_alloc();
    // A hint: without huge pages the pool still works, only slower.
    (void)::madvise(chunk, kChunkBytes, MADV_HUGEPAGE);
    chunks_.push_back(chunk);
    bump_ = static_cast<char*>(chunk);
    end_ = bump_ + kChunkBytes;
  }
  void* block = bump_;
  bump_ += block_;
  return block;
}

void HugePagePool::deallocate(void* block) {
  if (block == nullptr) return;
  const std::lock_guard lock(mutex_);
  free_ = ::new (block) FreeBlock{free_};
}

}  // namespace chorus::mixer
