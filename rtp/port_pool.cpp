#include "rtp/port_pool.hpp"

#include <cassert>

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
      used_(capacity_, false) {}

std::optional<uint16_t> PortPool::allocate() {
  for (size_t tried = 0; tried < capacity_; ++tried) {
    const size_t i = next_;
    next_ = (next_ + 1) % capacity_;
    if (!used_[i]) {
      used_[i] = true;
      ++in_use_;
      return static_cast<uint16_t>(first_ + 2 * i);
    }
  }
  ++exhausted_;
  return std::nullopt;
}

void PortPool::release(uint16_t port) {
  assert(port >= first_ && (port - first_) % 2 == 0);
  const size_t i = static_cast<size_t>(port - first_) / 2;
  assert(i < capacity_ && used_[i]);
  if (i >= capacity_ || !used_[i]) return;
  used_[i] = false;
  --in_use_;
}

}  // namespace chorus::rtp
