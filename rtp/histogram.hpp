#pragma once
// A log2-bucketed histogram with a single writer (the shard thread) and any
// number of readers (metrics, tests) on other threads. Buckets are relaxed
// atomics written with load+store (no read-modify-write: one writer), so the
// writer pays a plain increment and readers see a consistent-enough snapshot.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace chorus::rtp {

template <size_t Buckets = 24>
class Log2Histogram {
 public:
  static constexpr size_t kBuckets = Buckets;

  // Bucket 0 holds value 0; bucket b (b >= 1) holds [2^(b-1), 2^b); the last
  // bucket also holds everything above.
  static constexpr size_t bucket_of(uint64_t value) {
    const size_t b = static_cast<size_t>(std::bit_width(value));
    return b < Buckets ? b : Buckets - 1;
  }
  // Smallest value that lands in bucket b.
  static constexpr uint64_t bucket_floor(size_t b) { return b == 0 ? 0 : uint64_t{1} << (b - 1); }

  // Writer thread only.
  void record(uint64_t value) {
    auto& bucket = buckets_[bucket_of(value)];
    bucket.store(bucket.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (value > max_.load(std::memory_order_relaxed)) max_.store(value, std::memory_order_relaxed);
  }

  // Any thread.
  uint64_t bucket(size_t b) const { return buckets_[b].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t max() const { return max_.load(std::memory_order_relaxed); }
  std::array<uint64_t, Buckets> snapshot() const {
    std::array<uint64_t, Buckets> out{};
    for (size_t b = 0; b < Buckets; ++b) out[b] = bucket(b);
    return out;
  }
  // Upper bound of the bucket holding the q-quantile (0 < q <= 1); 0 when empty.
  uint64_t quantile_upper_bound(double q) const {
    const auto snap = snapshot();
    uint64_t total = 0;
    for (uint64_t c : snap) total += c;
    if (total == 0) return 0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(total) + 0.5);
    uint64_t seen = 0;
    for (size_t b = 0; b < Buckets; ++b) {
      seen += snap[b];
      if (seen >= rank && snap[b] != 0) return b == 0 ? 0 : (uint64_t{1} << b) - 1;
    }
    return max();
  }

 private:
  std::array<std::atomic<uint64_t>, Buckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> max_{0};
};

}  // namespace chorus::rtp
