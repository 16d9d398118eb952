#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace chorus::sip {

// Supported / Require / Proxy-Require / Unsupported / Allow / Allow-Events /
// Accept-Encoding ... (RFC 3261 §20): a comma-separated list of tokens (an
// Allow-Events token may carry a template: "presence.winfo"). nullopt if an
// element is not a token.
std::optional<std::vector<std::string_view>> parse_token_list(std::string_view value);

// Case-insensitive membership (option tags and event packages compare
// case-insensitively, method names are case-sensitive: use == for Allow).
bool token_list_contains(const std::vector<std::string_view>& list, std::string_view token);

}  // namespace chorus::sip
