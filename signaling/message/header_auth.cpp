#include "signaling/message/header_auth.hpp"

#include "signaling/message/header_params.hpp"
#include "signaling/message/method.hpp"

namespace chorus::sip {

std::optional<AuthHeader> parse_auth_header(std::string_view value) {
  value = trim(value);
  size_t i = 0;
  while (i < value.size() && is_token_char(value[i])) ++i;
  AuthHeader out;
  out.scheme = value.substr(0, i);
  if (out.scheme.empty()) return std::nullopt;
  if (i < value.size() && !is_ws(value[i])) return std::nullopt;
  auto skip_ws = [&] {
    while (i < value.size() && is_ws(value[i])) ++i;
  };
  skip_ws();
  while (i < value.size()) {
    const size_t name_begin = i;
    while (i < value.size() && is_token_char(value[i])) ++i;
    auto name = value.substr(name_begin, i - name_begin);
    if (name.empty()) return std::nullopt;
    skip_ws();
    if (i >= value.size() || value[i] != '=') return std::nullopt;
    ++i;
    skip_ws();
    std::string decoded;
    bool quoted = false;
    if (i < value.size() && value[i] == '"') {
      auto len = quoted_string_length(value.substr(i));
      if (!len) return std::nullopt;
      decoded = unquote(value.substr(i, *len));
      i += *len;
      quoted = true;
    } else {
      const size_t begin = i;
      while (i < value.size() && value[i] != ',' && !is_ws(value[i])) ++i;
      if (i == begin) return std::nullopt;
      decoded = std::string(value.substr(begin, i - begin));
    }
    if (out.param(name)) return std::nullopt;  // RFC 7616 §3.4: each directive at most once
    out.params.emplace_back(name, std::move(decoded));
    out.quoted.push_back(quoted);
    skip_ws();
    if (i >= value.size()) break;
    if (value[i] != ',') return std::nullopt;
    ++i;
    skip_ws();
    if (i >= value.size()) return std::nullopt;  // trailing comma
  }
  return out;
}

std::optional<std::string_view> AuthHeader::param(std::string_view name) const {
  for (const auto& [n, v] : params) {
    if (iequals(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

bool AuthHeader::param_quoted(std::string_view name) const {
  for (size_t i = 0; i < params.size(); ++i) {
    if (iequals(params[i].first, name)) return quoted[i];
  }
  return false;
}

std::string format_auth_header(std::string_view scheme, const std::vector<AuthParamOut>& params) {
  std::string out(scheme);
  bool first = true;
  for (const auto& p : params) {
    out += first ? " " : ", ";
    first = false;
    out += p.name;
    out += '=';
    if (!p.quote) {
      out += p.value;
      continue;
    }
    out += '"';
    for (char c : p.value) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out;
}

}  // namespace chorus::sip
