#pragma once

// The credentials / challenge syntax of RFC 3261 §25.1 (and RFC 7616 §3.3):
//   Digest SP auth-param *(COMMA auth-param)
//   auth-param = param-name EQUAL ( token / quoted-string )
// Kept next to the digest code so authentication does not depend on the
// message layer's header parsers.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::sip {

struct DigestParams {
  std::string scheme;                                       // as written ("Digest")
  std::vector<std::pair<std::string, std::string>> params;  // value unquoted and unescaped
  std::vector<bool> quoted;                                 // parallel to params

  // Case-insensitive lookup by name (RFC 7616 §3.4: names are case-insensitive).
  std::optional<std::string_view> get(std::string_view name) const;
  bool was_quoted(std::string_view name) const;
};

inline constexpr std::size_t kMaxAuthHeaderSize = 8192;
inline constexpr std::size_t kMaxAuthParams = 32;

// nullopt on a missing scheme, a param without '=', an unterminated quoted
// string, duplicate names, stray text, or the limits above.
std::optional<DigestParams> parse_digest_params(std::string_view header_value);

// Quoted-string with '"' and '\' escaped (RFC 3261 §25.1 quoted-pair).
std::string quote_param(std::string_view value);

}  // namespace chorus::sip
