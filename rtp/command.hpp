#pragma once
// What the signalling side hands a stream about SRTP. (The shard's only
// command ring is the mixer's: mixer/command.hpp.)

#include <array>
#include <cstdint>

#include "rtp/asio.hpp"
#include "rtp/srtp.hpp"

namespace chorus::rtp {

// RFC 4568 key||salt for each direction; size 0 = none.
struct SrtpKeys {
  static constexpr size_t kMaxKeySalt = 46;  // AES-256 + 14-byte salt, the largest suite
  SrtpSuite suite{};
  std::array<uint8_t, kMaxKeySalt> inbound{};  // what the remote protects with
  uint8_t inbound_size = 0;
  std::array<uint8_t, kMaxKeySalt> outbound{};  // what we protect with
  uint8_t outbound_size = 0;
};

}  // namespace chorus::rtp
