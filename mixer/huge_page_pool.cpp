#include "mixer/huge_page_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace chorus::mixer {

namespace {

constexpr size_t kAlign = 64;  // a cache line: blocks never share one

// A kChunkBytes-aligned chunk of its own pages (not the C heap): the huge-page
// advice stays on this mapping only, and unmapping gives every page back
// at once (a chunk freed into the heap left huge pages there that later
// pinned 2 MiB of RSS at a time).
void* map_chunk(size_t bytes) {
  const size_t span = 2 * bytes;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + bytes - 1) & ~(uintptr_t{bytes} - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t tail = aligned + bytes;
  if (start + span > tail) ::munmap(reinterpret_cast<void*>(tail), start + span - tail);
  return reinterpret_cast<void*>(aligned);
}

void unmap_chunk(void* chunk, size_t bytes) { ::munmap(chunk, bytes); }

// Every pool of the process, for trim_all().
struct Registry {
  std::mutex mutex;
  std::vector<HugePagePool*> pools;
};

Registry& registry() {
  static Registry* const instance = new Registry;  // never destroyed, like the pools
  return *instance;
}

}  // namespace

HugePagePool::HugePagePool(size_t block_bytes)
    : block_(std::max(sizeof(FreeBlock), (block_bytes + kAlign - 1) / kAlign * kAlign)) {
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  r.pools.push_back(this);
}

HugePagePool::~HugePagePool() {
  {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    std::erase(r.pools, this);
  }
  for (const Chunk& chunk : chunks_) unmap_chunk(chunk.base, kChunkBytes);
}

size_t HugePagePool::trim() {
  const std::lock_guard lock(mutex_);
  size_t freed = 0;
  std::erase_if(chunks_, [&freed](const Chunk& chunk) {
    if (chunk.live > 0) return false;
    unmap_chunk(chunk.base, kChunkBytes);
    freed += kChunkBytes;
    return true;
  });
  return freed;
}

size_t HugePagePool::trim_all() {
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  size_t freed = 0;
  for (HugePagePool* pool : r.pools) freed += pool->trim();
  return freed;
}

size_t HugePagePool::chunks() const {
  const std::lock_guard lock(mutex_);
  return chunks_.size();
}

void* HugePagePool::allocate() {
  const std::lock_guard lock(mutex_);
  if (block_ > kChunkBytes) throw std::bad_alloc();
  Chunk* target = nullptr;
  for (Chunk& chunk : chunks_) {
    if (chunk.free != nullptr || kChunkBytes - chunk.carved >= block_) {
      target = &chunk;
      break;
    }
  }
  if (target == nullptr) {
    chunks_.reserve(chunks_.size() + 1);  // so the emplace_back below cannot throw
    void* base = map_chunk(kChunkBytes);
    if (base == nullptr) throw std::bad_alloc();
    // A hint: without huge pages the pool still works, only slower.
    (void)::madvise(base, kChunkBytes, MADV_HUGEPAGE);
    target = &chunks_.emplace_back(Chunk{static_cast<char*>(base), 0, 0, nullptr});
  }
  ++target->live;
  if (target->free != nullptr) {
    FreeBlock* block = target->free;
    target->free = block->next;
    return block;
  }
  void* block = target->base + target->carved;
  target->carved += block_;
  return block;
}

void HugePagePool::deallocate(void* block) {
  if (block == nullptr) return;
  const auto base = reinterpret_cast<uintptr_t>(block) & ~(uintptr_t{kChunkBytes} - 1);
  const std::lock_guard lock(mutex_);
  for (size_t i = 0; i < chunks_.size(); ++i) {
    Chunk& chunk = chunks_[i];
    if (reinterpret_cast<uintptr_t>(chunk.base) != base) continue;
    chunk.free = ::new (block) FreeBlock{chunk.free};
    if (--chunk.live > 0) return;
    // Empty: give it back unless it is the only empty chunk left.
    size_t empty = 0;
    for (const Chunk& other : chunks_) empty += other.live == 0 ? 1 : 0;
    if (empty > 1) {
      unmap_chunk(chunk.base, kChunkBytes);
      chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    return;
  }
}

}  // namespace chorus::mixer
