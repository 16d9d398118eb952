#pragma once
// Counting heap allocations, for the zero-allocation tests of the hot path.
//
// A test executable expands CHORUS_DEFINE_COUNTING_NEW() once at global scope:
// that replaces every form of global operator new/delete (C++17 [new.delete])
// with versions that bump the counters below and forward to malloc/free (under
// ASan the replacement wins over the runtime's, and ASan still checks the
// malloc/free underneath). Without the macro the counters stay at zero.
//
//   const uint64_t before = chorus::rtp::alloc::count();
//   ... steady-state work on this thread ...
//   EXPECT_EQ(chorus::rtp::alloc::count() - before, 0u);
//
// Optimised builds: C++14 [expr.new]/10 lets the compiler omit a
// new-expression whose storage is provably unused (GCC 12 at -O2 drops
// `delete new int(1)` outright, so the replaced operator new is never called).
// A test that expects an allocation to be counted must make it observable:
// pass the pointer through `escape()` before deleting it (an empty asm the
// optimiser must assume reads the pointer and memory). Counting zero is
// unaffected: an omitted allocation is no allocation.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace chorus::rtp::alloc {

inline thread_local uint64_t t_count = 0;
inline std::atomic<uint64_t> g_count{0};

// operator new calls made by the calling thread.
inline uint64_t count() {
  return t_count;
}
// operator new calls made by every thread of the process.
inline uint64_t total() {
  return g_count.load(std::memory_order_relaxed);
}

// Makes `p` (and what it points to) observable, so an optimiser cannot omit
// the allocation that produced it. Costs no instruction.
inline void escape(const void* p) {
  asm volatile("" : : "g"(p) : "memory");
}

inline void note() {
  ++t_count;
  g_count.fetch_add(1, std::memory_order_relaxed);
}

inline void* allocate(std::size_t size) {
  note();
  return std::malloc(size == 0 ? 1 : size);
}

inline void* allocate_aligned(std::size_t size, std::align_val_t align) {
  note();
  const auto a = static_cast<std::size_t>(align);
  const std::size_t rounded = ((size == 0 ? 1 : size) + a - 1) / a * a;  // aligned_alloc rule
  return std::aligned_alloc(a, rounded);
}

}  // namespace chorus::rtp::alloc

// clang-format off
#define CHORUS_DEFINE_COUNTING_NEW()                                                           \
  void* operator new(std::size_t n) {                                                          \
    if (void* p = ::chorus::rtp::alloc::allocate(n)) return p;                                 \
    throw std::bad_alloc();                                                                    \
  }                                                                                            \
  void* operator new[](std::size_t n) {                                                        \
    if (void* p = ::chorus::rtp::alloc::allocate(n)) return p;                                 \
    throw std::bad_alloc();                                                                    \
  }                                                                                            \
  void* operator new(std::size_t n, const std::nothrow_t&) noexcept {                          \
    return ::chorus::rtp::alloc::allocate(n);                                                  \
  }                                                                                            \
  void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {                        \
    return ::chorus::rtp::alloc::allocate(n);                                                  \
  }                                                                                            \
  void* operator new(std::size_t n, std::align_val_t a) {                                      \
    if (void* p = ::chorus::rtp::alloc::allocate_aligned(n, a)) return p;                      \
    throw std::bad_alloc();                                                                    \
  }                                                                                            \
  void* operator new[](std::size_t n, std::align_val_t a) {                                    \
    if (void* p = ::chorus::rtp::alloc::allocate_aligned(n, a)) return p;                      \
    throw std::bad_alloc();                                                                    \
  }                                                                                            \
  void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {      \
    return ::chorus::rtp::alloc::allocate_aligned(n, a);                                       \
  }                                                                                            \
  void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {    \
    return ::chorus::rtp::alloc::allocate_aligned(n, a);                                       \
  }                                                                                            \
  void operator delete(void* p) noexcept { std::free(p); }                                     \
  void operator delete[](void* p) noexcept { std::free(p); }                                   \
  void operator delete(void* p, std::size_t) noexcept { std::free(p); }                        \
  void operator delete[](void* p, std::size_t) noexcept { std::free(p); }                      \
  void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }              \
  void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }            \
  void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }                   \
  void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }                 \
  void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }      \
  void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }    \
  void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {            \
    std::free(p);                                                                              \
  }                                                                                            \
  void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {          \
    std::free(p);                                                                              \
  }                                                                                            \
  static_assert(true, "require a semicolon after the macro")
// clang-format on
