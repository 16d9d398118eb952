#include "signaling/auth/digest_params.hpp"

namespace chorus::sip {
namespace {

bool is_lws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// RFC 3261 §25.1 token characters.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-':
    case '.':
    case '!':
    case '%':
    case '*':
    case '_':
    case '+':
    case '`':
    case '\'':
    case '~':
      return true;
    default:
      return false;
  }
}

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  void skip_lws() {
    while (i_ < s_.size() && is_lws(s_[i_])) ++i_;
  }
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }
  void advance() { ++i_; }
  std::string_view token() {
    std::size_t start = i_;
    while (i_ < s_.size() && is_token_char(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // Reads a quoted-string after the opening quote has been seen.
  std::optional<std::string> quoted() {
    std::string out;
    ++i_;  // opening quote
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (i_ >= s_.size()) return std::nullopt;
        c = s_[i_++];
        // quoted-pair excludes CR and LF (RFC 3261 §25.1).
        if (c == '\r' || c == '\n') return std::nullopt;
      } else if (c == '\0') {
        return std::nullopt;
      }
      out += c;
    }
    return std::nullopt;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

std::optional<std::string_view> DigestParams::get(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (ascii_iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

bool DigestParams::was_quoted(std::string_view name) const {
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (ascii_iequals(params[i].first, name)) return quoted[i];
  }
  return false;
}

std::optional<DigestParams> parse_digest_params(std::string_view value) {
  if (value.size() > kMaxAuthHeaderSize) return std::nullopt;
  Cursor c(value);
  c.skip_lws();
  DigestParams out;
  std::string_view scheme = c.token();
  if (scheme.empty()) return std::nullopt;
  out.scheme = std::string(scheme);
  if (c.done() || !is_lws(c.peek())) return std::nullopt;
  c.skip_lws();
  while (true) {
    std::string_view name = c.token();
    if (name.empty()) return std::nullopt;
    c.skip_lws();
    if (c.done() || c.peek() != '=') return std::nullopt;
    c.advance();
    c.skip_lws();
    if (c.done()) return std::nullopt;
    std::string val;
    bool was_quoted = false;
    if (c.peek() == '"') {
      auto q = c.quoted();
      if (!q) return std::nullopt;
      val = std::move(*q);
      was_quoted = true;
    } else {
      std::string_view t = c.token();
      if (t.empty()) return std::nullopt;
      val = std::string(t);
    }
    if (out.get(name)) return std::nullopt;  // duplicates are ambiguous: refuse
    if (out.params.size() >= kMaxAuthParams) return std::nullopt;
    out.params.emplace_back(std::string(name), std::move(val));
    out.quoted.push_back(was_quoted);
    c.skip_lws();
    if (c.done()) break;
    if (c.peek() != ',') return std::nullopt;
    c.advance();
    c.skip_lws();
  }
  return out;
}

std::string quote_param(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace chorus::sip
