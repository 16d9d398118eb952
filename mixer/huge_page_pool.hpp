#pragma once

#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

// clang spells the ASan check differently from GCC.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(CHORUS_HAS_ASAN)
#define CHORUS_HAS_ASAN 1
#endif
#endif

namespace chorus::mixer {

// Fixed-size blocks carved from 2 MiB chunks that ask the kernel for
// transparent huge pages (madvise(MADV_HUGEPAGE); honoured when
// /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise").
//
// Why: a tick walks every member's buffers once or twice, ~30 KB apart. With
// 4 KiB pages that is one or more TLB misses per member per pass (a page walk
// is dear in a VM); 1,000 members' buffers fit in ~15 huge pages. Measured in
// bench/RESULTS.md ("Mixer").
//
// Set-up time only (adding and removing members): allocate() and
// deallocate() take a mutex, as several shards may add members at once.
// A chunk whose blocks are all free goes back to the system, except one
// empty chunk kept for the next member; trim_all() gives those spares back
// too (the focus calls it once a burst has drained), so RSS follows the
// members alive rather than the busiest hour (a flood of calls, a churn soak).
class HugePagePool {
 public:
  static constexpr size_t kChunkBytes = size_t{2} << 20;

  explicit HugePagePool(size_t block_bytes);
  ~HugePagePool();
  HugePagePool(const HugePagePool&) = delete;
  HugePagePool& operator=(const HugePagePool&) = delete;

  // Throws std::bad_alloc when the system has no memory left.
  void* allocate();
  void deallocate(void* block);
  size_t block_bytes() const { return block_; }
  // Chunks held from the system now.
  size_t chunks() const;
  // Gives every empty chunk back (the spare too). Returns the bytes freed.
  size_t trim();
  // trim() on every pool of the process.
  static size_t trim_all();

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  struct Chunk {
    char* base = nullptr;     // kChunkBytes-aligned
    size_t live = 0;          // blocks handed out
    size_t carved = 0;        // bytes at the front ever handed out (the rest is untouched)
    FreeBlock* free = nullptr;  // carved blocks given back
  };

  mutable std::mutex mutex_;
  size_t block_;
  // Oldest first; allocation fills the oldest chunk with room, so the
  // newest ones empty out and can be given back.
  std::vector<Chunk> chunks_;
};

// Gives T class-level operator new/delete from one HugePagePool per type.
// Under AddressSanitizer the pool is bypassed so ASan still sees every block
// as its own allocation (overflows, use after free).
template <class T>
struct HugePageAllocated {
  static void* operator new(size_t size) {
#if defined(__SANITIZE_ADDRESS__) || defined(CHORUS_HAS_ASAN)
    return ::operator new(size);
#else
    if (size > pool().block_bytes()) return ::operator new(size);  // a larger subclass
    return pool().allocate();
#endif
  }
  static void operator delete(void* p, size_t size) {
#if defined(__SANITIZE_ADDRESS__) || defined(CHORUS_HAS_ASAN)
    (void)size;
    ::operator delete(p);
#else
    if (size > pool().block_bytes()) return ::operator delete(p);
    pool().deallocate(p);
#endif
  }

 private:
  static HugePagePool& pool() {
    // Never destroyed: a block may be freed during static destruction.
    static HugePagePool* const instance = new HugePagePool(sizeof(T));
    return *instance;
  }
};

}  // namespace chorus::mixer
