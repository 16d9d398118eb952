#include "rtp/buffer_pool.hpp"

namespace chorus::rtp {

BufferPool::BufferPool(size_t count, size_t buffer_size)
    : buffer_size_(buffer_size),
      capacity_(count),
      storage_(std::make_unique<uint8_t[]>(count * buffer_size)),
      held_(count, false) {
  free_.reserve(count);
  // Hand out low addresses first (pushed last).
  for (size_t i = count; i > 0; --i) free_.push_back(storage_.get() + (i - 1) * buffer_size);
}

uint8_t* BufferPool::acquire() {
  if (free_.empty()) {
    ++exhausted_;
    return nullptr;
  }
  uint8_t* buffer = free_.back();
  free_.pop_back();
  held_[static_cast<size_t>(buffer - storage_.get()) / buffer_size_] = true;
  return buffer;
}

void BufferPool::release(uint8_t* buffer) {
  const bool ours = owns(buffer);
  const size_t index = ours ? static_cast<size_t>(buffer - storage_.get()) / buffer_size_ : 0;
  if (!ours || !held_[index]) {
    ++bad_releases_;
    return;
  }
  held_[index] = false;
  free_.push_back(buffer);
}

bool BufferPool::owns(const uint8_t* buffer) const {
  const uint8_t* begin = storage_.get();
  const uint8_t* end = begin + capacity_ * buffer_size_;
  return buffer >= begin && buffer < end && static_cast<size_t>(buffer - begin) % buffer_size_ == 0;
}

}  // namespace chorus::rtp
