#include "rtp/port_pool.hpp"

#include <algorithm>
#include <cassert>
#include <numeric>
#include <random>

namespace chorus::rtp {

namespace {

uint16_t round_up_even(uint16_t port) {
  return static_cast<uint16_t>(port + (port & 1u));
}

size_t even_ports_with_odd_partner(uint16_t first, uint16_t last) {
  const uint32_t even_first = first + (first & 1u);
  if (even_first + 1 > last) return 0;
  return (last - 1 - even_first) / 2 + 1;
}

}  // namespace

PortPool::PortPool(uint16_t first, uint16_t last)
    : first_(round_up_even(first)),
      capacity_(first > last || (first & 1u && first == 0xFFFF)
                    ? 0
                    : even_ports_with_odd_partner(first, last)),
      used_(capacity_, false),
      free_(capacity_),
      free_count_(capacity_) {
  std::iota(free_.begin(), free_.end(), 0u);
  std::random_device seed;
  std::shuffle(free_.begin(), free_.end(), std::mt19937_64((uint64_t{seed()} << 32) | seed()));
}

std::optional<uint16_t> PortPool::allocate() {
  if (free_count_ == 0) {
    ++exhausted_;
    return std::nullopt;
  }
  const uint32_t i = free_[head_];
  head_ = (head_ + 1) % capacity_;
  --free_count_;
  used_[i] = true;
  ++in_use_;
  return static_cast<uint16_t>(first_ + 2 * i);
}

void PortPool::release(uint16_t port) {
  assert(port >= first_ && (port - first_) % 2 == 0);
  const size_t i = static_cast<size_t>(port - first_) / 2;
  assert(i < capacity_ && used_[i]);
  if (i >= capacity_ || !used_[i]) return;
  used_[i] = false;
  --in_use_;
  free_[(head_ + free_count_) % capacity_] = static_cast<uint32_t>(i);
  ++free_count_;
}

}  // namespace chorus::rtp
