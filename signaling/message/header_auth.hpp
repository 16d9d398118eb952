#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::sip {

// WWW-Authenticate / Proxy-Authenticate / Authorization / Proxy-Authorization
// (RFC 3261 §20.7, §20.27, §20.28, §20.44; RFC 7616 / RFC 8760 for Digest):
//   scheme auth-param *("," auth-param)     auth-param = name "=" (token | quoted-string)
// Values are unquoted and unescaped (`"a\"b"` -> `a"b`). A header value holds
// exactly one challenge or one credential set (these headers are never
// comma-combined, §7.3.1).
struct AuthHeader {
  std::string_view scheme;  // "Digest" (compare case-insensitively)
  std::vector<std::pair<std::string_view, std::string>> params;  // name as written, value decoded
  // Whether a value was written as a quoted-string (digest requires e.g. qop
  // in Authorization to be a token and nonce to be quoted).
  std::vector<bool> quoted;

  std::optional<std::string_view> param(std::string_view name) const;  // case-insensitive
  bool param_quoted(std::string_view name) const;
};

// nullopt on an empty scheme, a param without '=', duplicate names or an
// unterminated quoted string.
std::optional<AuthHeader> parse_auth_header(std::string_view value);

// Builds `Digest realm="x", nonce="y", algorithm=MD5` from (name, value,
// quote?) triples, escaping '"' and '\' inside quoted values.
struct AuthParamOut {
  std::string_view name;
  std::string_view value;
  bool quote = true;
};
std::string format_auth_header(std::string_view scheme, const std::vector<AuthParamOut>& params);

}  // namespace chorus::sip
