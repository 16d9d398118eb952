#include "signaling/message/header_cseq.hpp"

#include "signaling/message/header_params.hpp"

namespace chorus::sip {

std::optional<CSeq> parse_cseq(std::string_view value) {
  value = trim(value);
  size_t i = 0;
  while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
  // §8.1.1.5: the number MUST be expressible as a 32-bit unsigned integer.
  auto number = parse_uint32(value.substr(0, i));
  if (!number) return std::nullopt;
  const size_t digits_end = i;
  while (i < value.size() && is_ws(value[i])) ++i;
  if (i == digits_end) return std::nullopt;  // LWS required between number and method
  CSeq cseq;
  cseq.number = *number;
  cseq.method_text = value.substr(i);
  if (!is_token(cseq.method_text)) return std::nullopt;
  cseq.method = parse_method(cseq.method_text);
  return cseq;
}

}  // namespace chorus::sip
