#pragma once
// Fixed-size packet buffers allocated once at start-up. One pool per shard,
// used only on that shard's thread: acquire/release are O(1) pointer pops and
// pushes on a free stack, never a heap allocation.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace chorus::rtp {

// Room for a 1500-byte Ethernet MTU datagram plus the SRTP trailer
// (SRTP_MAX_TRAILER_LEN is 16 + 128 bytes in libsrtp2), rounded up.
inline constexpr size_t kPacketBufferSize = 2048;

class BufferPool {
 public:
  BufferPool(size_t count, size_t buffer_size = kPacketBufferSize);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // nullptr when exhausted (counted in exhausted()).
  uint8_t* acquire();
  // Must come from this pool and not be released twice. A release that breaks
  // this (a bug elsewhere) is refused and counted in bad_releases(), so the
  // free stack never holds a buffer twice (two owners later). O(1).
  void release(uint8_t* buffer);

  size_t buffer_size() const { return buffer_size_; }
  size_t capacity() const { return capacity_; }
  size_t available() const { return free_.size(); }
  uint64_t exhausted() const { return exhausted_; }
  uint64_t bad_releases() const { return bad_releases_; }
  bool owns(const uint8_t* buffer) const;

 private:
  size_t buffer_size_;
  size_t capacity_;
  std::unique_ptr<uint8_t[]> storage_;
  std::vector<uint8_t*> free_;  // reserved to capacity_: push/pop never allocate
  std::vector<bool> held_;      // per buffer: handed out and not yet released
  uint64_t exhausted_ = 0;
  uint64_t bad_releases_ = 0;
};

}  // namespace chorus::rtp
