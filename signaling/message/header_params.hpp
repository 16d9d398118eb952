#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/message/uri.hpp"

namespace chorus::sip {

// Lexical helpers shared by every header parser (RFC 3261 §25.1). Folded
// lines (CRLF + WSP) have already been turned into spaces by the message
// parser, so "LWS" here is just spaces and tabs.

std::string_view trim(std::string_view text);
// ASCII case-insensitive equality (header names, parameter names, schemes).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    const char y = b[i];
    if (x == y) continue;
    const char lx = (x >= 'A' && x <= 'Z') ? static_cast<char>(x + 32) : x;
    const char ly = (y >= 'A' && y <= 'Z') ? static_cast<char>(y + 32) : y;
    if (lx != ly) return false;
  }
  return true;
}
inline bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

namespace detail {
// RFC 3261 §25.1 token characters, as a table (these run per byte of input).
struct TokenTable {
  bool chars[256] = {};
  constexpr TokenTable() {
    for (int c = 'a'; c <= 'z'; ++c) chars[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) chars[c] = true;
    for (int c = '0'; c <= '9'; ++c) chars[c] = true;
    for (char c : {'-', '.', '!', '%', '*', '_', '+', '`', '\'', '~'}) {
      chars[static_cast<unsigned char>(c)] = true;
    }
  }
};
inline constexpr TokenTable kTokenTable{};
}  // namespace detail

inline bool is_token_char(char c) {
  return detail::kTokenTable.chars[static_cast<unsigned char>(c)];
}

// Parses a decimal number into uint32; nullopt on empty, non-digits or overflow.
std::optional<uint32_t> parse_uint32(std::string_view digits);

// If `text` starts with a quoted-string, returns its length including both
// quotes, else nullopt (unterminated or not a quoted string).
std::optional<size_t> quoted_string_length(std::string_view text);
// `"a \"b\""` -> `a "b"`. Unquoted input is returned trimmed as-is.
std::string unquote(std::string_view text);

// Splits a header value at top-level commas (RFC 3261 §7.3.1), never inside
// quoted strings, <...> or (comments). Elements are trimmed; empty elements
// are dropped. nullopt if a quote or '<' is unterminated.
std::optional<std::vector<std::string_view>> split_comma_list(std::string_view value);

// A run of generic parameters (RFC 3261 §25.1 generic-param), as the text
// after the first ';' ("tag=1;lr;q=0.5"). LWS around ';' and '=' is allowed.
// Values are raw: quoted values keep their quotes (use unquote()).
class ParamList {
 public:
  ParamList() = default;
  explicit ParamList(std::string_view text) : text_(text) {}

  std::string_view text() const { return text_; }
  std::optional<std::string_view> get(std::string_view name) const;  // case-insensitive
  bool has(std::string_view name) const { return get(name).has_value(); }
  std::vector<Param> all() const;

 private:
  std::string_view text_;
};

// Validates a parameter run: tokens for names; token, quoted-string or host
// for values. Returns false on empty names or unterminated quotes.
bool valid_params(std::string_view text);

}  // namespace chorus::sip

namespace chorus::sip {

// Index of the next comma at or after `from` that is outside quoted
// strings, <...> and (comments); npos if none. Sets `unbalanced` if a quote,
// '<' or '(' never closes.
size_t find_list_comma(std::string_view value, size_t from, bool& unbalanced);

// Calls fn(element) for each trimmed non-empty element of a comma list, without
// allocating; stops and returns false when fn does, or when quotes/angles are
// unbalanced. Returns false for a list with no element.
template <class F>
bool for_each_list_element(std::string_view value, F&& fn) {
  bool any = false;
  size_t pos = 0;
  while (pos <= value.size()) {
    bool unbalanced = false;
    const size_t comma = find_list_comma(value, pos, unbalanced);
    if (unbalanced) return false;
    const size_t end = comma == std::string_view::npos ? value.size() : comma;
    auto element = trim(value.substr(pos, end - pos));
    if (!element.empty()) {
      any = true;
      if (!fn(element)) return false;
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return any;
}

// The first element of a comma list (the whole value if there is no
// top-level comma). Never allocates.
std::string_view first_list_element(std::string_view value);

// Visits each parameter of a run ("a=1; b ;c=\"x;y\""): fn(Param, begin, end)
// with [begin, end) the parameter's extent within `text` (without the ';').
// Returns false (after visiting what it could) if the run is malformed: an
// empty parameter (";;"), a name that is not a token, a value with spaces
// or an unterminated quoted string.
template <class F>
bool for_each_param(std::string_view text, F&& fn);

template <class F>
bool for_each_param(std::string_view text, F&& fn) {
  size_t i = 0;
  const size_t n = text.size();
  bool ok = true;
  auto skip_ws = [&] {
    while (i < n && is_ws(text[i])) ++i;
  };
  skip_ws();
  if (i == n) return true;
  while (true) {
    skip_ws();
    const size_t begin = i;
    while (i < n && is_token_char(text[i])) ++i;
    Param p;
    p.name = text.substr(begin, i - begin);
    if (p.name.empty()) ok = false;
    skip_ws();
    if (i < n && text[i] == '=') {
      ++i;
      skip_ws();
      p.has_value = true;
      const size_t vbegin = i;
      if (i < n && text[i] == '"') {
        auto len = quoted_string_length(text.substr(i));
        if (!len) return false;
        i += *len;
      } else {
        while (i < n && text[i] != ';' && !is_ws(text[i]) && text[i] != '"') ++i;
      }
      p.value = text.substr(vbegin, i - vbegin);
      skip_ws();
    }
    const size_t end = i;
    if (!p.name.empty()) fn(p, begin, end);
    if (i == n) break;
    if (text[i] != ';') {
      // Garbage inside a parameter: skip to the next ';' so lookups still
      // work on what follows, but report the run as malformed.
      ok = false;
      while (i < n && text[i] != ';') {
        if (text[i] == '"') {
          auto len = quoted_string_length(text.substr(i));
          if (!len) return false;
          i += *len;
        } else {
          ++i;
        }
      }
      if (i == n) break;
    }
    ++i;  // ';'
    skip_ws();
    if (i == n) {
      ok = false;  // trailing ';'
      break;
    }
  }
  return ok;
}

}  // namespace chorus::sip
