#pragma once

// Base64 (RFC 4648 §4) for SDES key material: a=crypto carries
// "inline:" base64(key || salt) (RFC 4568 §6.1).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::sdp {

std::string base64_encode(std::span<const std::uint8_t> bytes);

// Strict alphabet; '=' padding optional (several SDES stacks drop it) but,
// when present, only at the end. Returns nullopt on any other character or
// an impossible length.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace chorus::sdp
