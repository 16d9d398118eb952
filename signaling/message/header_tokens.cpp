#include "signaling/message/header_tokens.hpp"

#include "signaling/message/header_params.hpp"
#include "signaling/message/method.hpp"

namespace chorus::sip {

std::optional<std::vector<std::string_view>> parse_token_list(std::string_view value) {
  auto elements = split_comma_list(value);
  if (!elements) return std::nullopt;
  for (auto element : *elements) {
    if (!is_token(element)) return std::nullopt;
  }
  return elements;
}

bool token_list_contains(const std::vector<std::string_view>& list, std::string_view token) {
  for (auto t : list) {
    if (iequals(t, token)) return true;
  }
  return false;
}

}  // namespace chorus::sip
