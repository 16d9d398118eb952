#pragma once
// RTP header extensions in the two general-purpose forms of RFC 8285 §4.
//
//  One-byte form (profile 0xBEDE), RFC 8285 §4.2:      Two-byte form (0x100x), §4.3:
//   0                   1                                0                   1
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 ...                  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  ID   |  len  |  data (len+1)    |                  |      ID       |    length     | data...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// ID 0 is padding (one byte, no length) in both forms; in the one-byte form ID 15
// means "stop parsing" (§4.2). The block is a multiple of 32 bits.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace chorus::rtp {

inline constexpr uint16_t kOneByteExtensionProfile = 0xBEDE;
inline constexpr uint16_t kTwoByteExtensionProfileMask = 0xFFF0;
inline constexpr uint16_t kTwoByteExtensionProfile = 0x1000;  // low 4 bits: "appbits"
inline constexpr uint8_t kMaxOneByteExtensionId = 14;
inline constexpr size_t kMaxOneByteExtensionSize = 16;

struct ExtensionElement {
  uint8_t id;
  std::span<const uint8_t> data;
};

// Walks the elements of an extension block (the bytes after the 4-byte
// "defined by profile / length" word). Stops at the end of the block, at ID 15
// in the one-byte form, or at the first element that would overrun the block
// (which makes valid() false). Unknown profiles yield no elements.
class ExtensionIterator {
 public:
  ExtensionIterator(uint16_t profile, std::span<const uint8_t> block);
  // Next element, or nullopt at the end (or on a malformed element).
  std::optional<ExtensionElement> next();
  bool valid() const { return valid_; }

 private:
  bool one_byte_;
  bool two_byte_;
  std::span<const uint8_t> block_;
  size_t pos_ = 0;
  bool valid_ = true;
};

// Whether every element of the block lies inside it.
bool extension_block_valid(uint16_t profile, std::span<const uint8_t> block);

// The data of the first element with this id, if any.
std::optional<std::span<const uint8_t>> find_extension(uint16_t profile,
                                                       std::span<const uint8_t> block, uint8_t id);

// Builds an extension block (profile word + length word + elements + zero
// padding to 32 bits) into `out`. Chooses the one-byte form when every element
// fits it (id 1-14, 1-16 bytes), otherwise the two-byte form. Returns the bytes
// written (a multiple of 4, including the 4-byte header), or 0 when `out` is too
// small or an element cannot be encoded (id 0, id > 255, data > 255 bytes).
size_t write_extension_block(std::span<uint8_t> out, std::span<const ExtensionElement> elements);

}  // namespace chorus::rtp
