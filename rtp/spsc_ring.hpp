#pragma once
// A bounded single-producer single-consumer ring: the only hand-off between a
// shard thread and the signalling thread (one ring per direction). A full ring
// refuses the push (the caller counts it); nothing here ever blocks.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace chorus::rtp {

// One cache line. std::hardware_destructive_interference_size warns under GCC 12
// (its value may differ between translation units), so the common x86-64 and
// aarch64 line size is spelled out.
inline constexpr size_t kCacheLine = 64;

template <class T, size_t N>
class SpscRing {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "capacity must be a power of two");
  static_assert(std::is_default_constructible_v<T> && std::is_copy_assignable_v<T>,
                "slots are default-constructed once and copied into");

 public:
  static constexpr size_t capacity() { return N; }

  // Producer thread only. False when full.
  bool try_push(const T& value) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ == N) {
      // Refresh the consumer's position only when the cached one says full, so
      // the common case touches no line the consumer writes.
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ == N) return false;
    }
    slots_[tail & (N - 1)] = value;
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer thread only. False when empty.
  bool try_pop(T& out) {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return false;
    }
    out = slots_[head & (N - 1)];
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Any thread; exact only when neither side is moving.
  size_t size_approx() const {
    const size_t head = head_.load(std::memory_order_acquire);
    const size_t tail = tail_.load(std::memory_order_acquire);
    return tail >= head ? tail - head : 0;
  }
  bool empty_approx() const { return size_approx() == 0; }

 private:
  // Consumer-owned line: its position and its cache of the producer's.
  alignas(kCacheLine) std::atomic<size_t> head_{0};
  size_t tail_cache_ = 0;
  // Producer-owned line.
  alignas(kCacheLine) std::atomic<size_t> tail_{0};
  size_t head_cache_ = 0;
  alignas(kCacheLine) std::array<T, N> slots_{};
};

}  // namespace chorus::rtp
