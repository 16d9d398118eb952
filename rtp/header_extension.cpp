#include "rtp/header_extension.hpp"

namespace chorus::rtp {

ExtensionIterator::ExtensionIterator(uint16_t profile, std::span<const uint8_t> block)
    : one_byte_(profile == kOneByteExtensionProfile),
      two_byte_((profile & kTwoByteExtensionProfileMask) == kTwoByteExtensionProfile),
      block_(block) {}

std::optional<ExtensionElement> ExtensionIterator::next() {
  if (!valid_ || (!one_byte_ && !two_byte_)) return std::nullopt;
  while (pos_ < block_.size()) {
    const uint8_t first = block_[pos_];
    // ID 0 is reserved for padding (RFC 8285 §4.2, §4.3): one byte, and in the
    // one-byte form its length nibble is ignored rather than trusted.
    if (first == 0 || (one_byte_ && (first >> 4) == 0)) {
      ++pos_;
      continue;
    }
    if (one_byte_) {
      const uint8_t id = first >> 4;
      // ID 15 is reserved: "the process MUST terminate" (RFC 8285 §4.2).
      if (id == 15) {
        pos_ = block_.size();
        return std::nullopt;
      }
      const size_t len = size_t{first & 0x0Fu} + 1;
      if (block_.size() - pos_ - 1 < len) {
        valid_ = false;
        return std::nullopt;
      }
      ExtensionElement element{id, block_.subspan(pos_ + 1, len)};
      pos_ += 1 + len;
      return element;
    }
    // Two-byte form: ID byte, length byte (0-255), data.
    if (block_.size() - pos_ < 2) {
      valid_ = false;
      return std::nullopt;
    }
    const size_t len = block_[pos_ + 1];
    if (block_.size() - pos_ - 2 < len) {
      valid_ = false;
      return std::nullopt;
    }
    ExtensionElement element{first, block_.subspan(pos_ + 2, len)};
    pos_ += 2 + len;
    return element;
  }
  return std::nullopt;
}

bool extension_block_valid(uint16_t profile, std::span<const uint8_t> block) {
  ExtensionIterator it(profile, block);
  while (it.next()) {
  }
  return it.valid();
}

std::optional<std::span<const uint8_t>> find_extension(uint16_t profile,
                                                       std::span<const uint8_t> block, uint8_t id) {
  if (id == 0) return std::nullopt;
  ExtensionIterator it(profile, block);
  while (auto element = it.next()) {
    if (element->id == id) return element->data;
  }
  return std::nullopt;
}

size_t write_extension_block(std::span<uint8_t> out, std::span<const ExtensionElement> elements) {
  bool one_byte = true;
  size_t body = 0;
  for (const ExtensionElement& e : elements) {
    if (e.id == 0 || e.data.size() > 255) return 0;
    if (e.id > kMaxOneByteExtensionId || e.data.empty() ||
        e.data.size() > kMaxOneByteExtensionSize) {
      one_byte = false;
    }
  }
  for (const ExtensionElement& e : elements) body += (one_byte ? 1 : 2) + e.data.size();
  const size_t padded = (body + 3) & ~size_t{3};
  const size_t words = padded / 4;
  if (words > 0xFFFF || out.size() < 4 + padded) return 0;

  const uint16_t profile = one_byte ? kOneByteExtensionProfile : kTwoByteExtensionProfile;
  out[0] = static_cast<uint8_t>(profile >> 8);
  out[1] = static_cast<uint8_t>(profile);
  out[2] = static_cast<uint8_t>(words >> 8);
  out[3] = static_cast<uint8_t>(words);
  size_t pos = 4;
  for (const ExtensionElement& e : elements) {
    if (one_byte) {
      out[pos++] = static_cast<uint8_t>((e.id << 4) | (e.data.size() - 1));
    } else {
      out[pos++] = e.id;
      out[pos++] = static_cast<uint8_t>(e.data.size());
    }
    for (uint8_t b : e.data) out[pos++] = b;
  }
  while (pos < 4 + padded) out[pos++] = 0;
  return pos;
}

}  // namespace chorus::rtp
