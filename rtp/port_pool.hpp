#pragma once
// The even RTP ports of one shard's range (RFC 3550 §11: RTP on an even port,
// RTCP on the next odd one unless rtcp-mux, RFC 5761). A port handed out is not
// handed out again until released; allocation rotates through the range so a
// just-released port is reused last (late packets of an old call do not land
// in a new one).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace chorus::rtp {

class PortPool {
 public:
  // [first, last] inclusive; first is rounded up to even, and only even ports
  // whose +1 is still <= last are used (so RTCP always has its odd port).
  PortPool(uint16_t first, uint16_t last);

  // The next free even port, or nullopt when all are in use (counted).
  // Ports come out of a queue that starts in a random order (seeded per
  // pool from std::random_device): one call's port says nothing of the
  // next one's, so an outsider cannot aim packets at a port about to be
  // handed out and race the caller to latch it (RTP "bleed").
  std::optional<uint16_t> allocate();
  // Returns a port from allocate(); it goes to the back of the queue, so it
  // is handed out again only after every other free port (late packets of
  // a finished call do not land in the next one).
  void release(uint16_t port);

  size_t capacity() const { return capacity_; }
  size_t in_use() const { return in_use_; }
  uint64_t exhausted() const { return exhausted_; }

 private:
  uint16_t first_;
  size_t capacity_;
  std::vector<bool> used_;  // index = (port - first_) / 2
  // Free indexes, a ring of capacity_ entries: [head_, head_ + free_count_).
  std::vector<uint32_t> free_;
  size_t head_ = 0;
  size_t free_count_ = 0;
  size_t in_use_ = 0;
  uint64_t exhausted_ = 0;
};

}  // namespace chorus::rtp
