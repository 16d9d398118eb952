#pragma once
// A bounded single-producer single-consumer ring: the only hand-off between a
// shard thread and the signalling thread (one ring per direction). A full ring
// refuses the push (the caller counts it); nothing here ever blocks. Values
// are moved in and out (a command's prepared objects change hands, never get
// copied); the slot left behind holds a moved-from value.
//
// The usable capacity can be lowered below N at run time (set_capacity, from
// the producer thread before or while it pushes): tests shrink a ring to make
// back-pressure happen on purpose.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace chorus::rtp {

// One cache line. std::hardware_destructive_interference_size warns under GCC 12
// (its value may differ between translation units), so the common x86-64 and
// aarch64 line size is spelled out.
inline constexpr size_t kCacheLine = 64;

template <class T, size_t N>
class SpscRing {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "capacity must be a power of two");
  static_assert(std::is_default_constructible_v<T> && std::is_move_assignable_v<T>,
                "slots are default-constructed once and moved into");

 public:
  static constexpr size_t capacity() { return N; }
  // Producer thread. Usable slots, 1..N (default N).
  void set_capacity(size_t usable) { usable_ = usable < 1 ? 1 : (usable > N ? N : usable); }
  size_t usable_capacity() const { return usable_; }

  // Producer thread only. False when full (the value is left untouched).
  bool try_push(const T& value) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (!room(tail)) return false;
    slots_[tail & (N - 1)] = value;
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }
  bool try_push(T&& value) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (!room(tail)) return false;
    slots_[tail & (N - 1)] = std::move(value);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }
  // Producer thread: whether a push would succeed now.
  bool full() { return !room(tail_.load(std::memory_order_relaxed)); }

  // Consumer thread only. False when empty. The value is moved out.
  bool try_pop(T& out) {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return false;
    }
    out = std::move(slots_[head & (N - 1)]);
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
  bool room(size_t tail) {
    if (tail - head_cache_ >= usable_) {
      // Refresh the consumer's position only when the cached one says full, so
      // the common case touches no line the consumer writes.
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ >= usable_) return false;
    }
    return true;
  }

  // Consumer-owned line: its position and its cache of the producer's.
  alignas(kCacheLine) std::atomic<size_t> head_{0};
  size_t tail_cache_ = 0;
  // Producer-owned line.
  alignas(kCacheLine) std::atomic<size_t> tail_{0};
  size_t head_cache_ = 0;
  size_t usable_ = N;
  alignas(kCacheLine) std::array<T, N> slots_{};
};

}  // namespace chorus::rtp
