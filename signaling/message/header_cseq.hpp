#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "signaling/message/method.hpp"

namespace chorus::sip {

// CSeq (RFC 3261 §20.16): a 32-bit unsigned sequence number (< 2**31 when
// generated, §8.1.1.5) and the method, separated by LWS.
struct CSeq {
  uint32_t number = 0;
  Method method = Method::kUnknown;
  std::string_view method_text;
};

std::optional<CSeq> parse_cseq(std::string_view value);

}  // namespace chorus::sip
