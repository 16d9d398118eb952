#include "signaling/message/uri.hpp"

#include <algorithm>
#include <cctype>

#include "signaling/message/header_params.hpp"

namespace chorus::sip {
namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// A character class as a table: unreserved (§25.1) plus `extra`.
struct CharClass {
  bool chars[256] = {};
  constexpr explicit CharClass(std::string_view extra) {
    for (int c = 'a'; c <= 'z'; ++c) chars[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) chars[c] = true;
    for (int c = '0'; c <= '9'; ++c) chars[c] = true;
    for (char c : std::string_view("-_.!~*'()")) chars[static_cast<unsigned char>(c)] = true;
    for (char c : extra) chars[static_cast<unsigned char>(c)] = true;
  }
};

// user-unreserved, password chars, param-unreserved, hnv-unreserved (§25.1)
constexpr CharClass kUserChars("&=+$,;?/");
constexpr CharClass kPasswordChars("&=+$,");
constexpr CharClass kParamChars("[]/:&+$");
constexpr CharClass kHeaderChars("[]/?:+$");

// Every char is in the class or is a %HH escape.
bool only_chars(std::string_view text, const CharClass& allowed) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (allowed.chars[static_cast<unsigned char>(c)]) continue;
    if (c != '%' || i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) {
      return false;
    }
    i += 2;
  }
  return true;
}

bool valid_ipv6_reference(std::string_view host) {
  if (host.size() < 4 || host.front() != '[' || host.back() != ']') return false;
  bool colon = false;
  for (char c : host.substr(1, host.size() - 2)) {
    if (c == ':') {
      colon = true;
    } else if (!is_hex(c) && c != '.') {
      return false;
    }
  }
  return colon;
}

// hostname / IPv4address (§25.1); '_' tolerated, as deployed DNS names use it.
bool valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  if (host.front() == '.' || host.front() == '-') return false;
  for (char c : host) {
    if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

bool valid_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') return valid_ipv6_reference(host);
  return valid_hostname(host);
}

std::optional<uint16_t> parse_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  auto value = parse_uint32(digits);
  if (!value || *value > 65535) return std::nullopt;
  return static_cast<uint16_t>(*value);
}

// uri-parameters: each `pname[=pvalue]` with paramchars (§19.1.1).
bool valid_uri_params(std::string_view text) {
  if (text.empty()) return true;
  size_t pos = 0;
  while (true) {
    size_t semi = text.find(';', pos);
    auto param = text.substr(pos, semi == std::string_view::npos ? semi : semi - pos);
    if (param.empty()) return false;
    size_t eq = param.find('=');
    auto name = param.substr(0, eq);
    if (name.empty() || !only_chars(name, kParamChars)) return false;
    if (eq != std::string_view::npos) {
      auto value = param.substr(eq + 1);
      // `;transport=` is malformed but a bare `;name=` value is paramchar*;
      // accept an empty value as the grammar's 1*paramchar is violated only
      // by broken peers we still want to route.
      if (!only_chars(value, kParamChars)) return false;
    }
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return true;
}

bool valid_uri_headers(std::string_view text) {
  size_t pos = 0;
  while (true) {
    size_t amp = text.find('&', pos);
    auto header = text.substr(pos, amp == std::string_view::npos ? amp : amp - pos);
    size_t eq = header.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    if (!only_chars(header.substr(0, eq), kHeaderChars)) return false;
    if (!only_chars(header.substr(eq + 1), kHeaderChars)) return false;
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return true;
}

bool parse_sip_uri(std::string_view rest, Uri& uri) {
  // userinfo ends at the first '@' (none of the chars after it may be '@').
  const size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    uri.user = userinfo.substr(0, colon);
    if (colon != std::string_view::npos) {
      uri.password = userinfo.substr(colon + 1);
      if (!only_chars(uri.password, kPasswordChars)) return false;
    }
    if (uri.user.empty() || !only_chars(uri.user, kUserChars)) return false;
    if (rest.find('@') != std::string_view::npos) return false;
  }
  const size_t q = rest.find('?');
  if (q != std::string_view::npos) {
    uri.headers_text = rest.substr(q + 1);
    rest = rest.substr(0, q);
    if (!valid_uri_headers(uri.headers_text)) return false;
  }
  const size_t semi = rest.find(';');
  if (semi != std::string_view::npos) {
    uri.params_text = rest.substr(semi + 1);
    rest = rest.substr(0, semi);
    if (!valid_uri_params(uri.params_text)) return false;
  }
  // hostport
  size_t host_end = rest.size();
  if (!rest.empty() && rest.front() == '[') {
    host_end = rest.find(']');
    if (host_end == std::string_view::npos) return false;
    ++host_end;
  } else {
    host_end = rest.find(':');
    if (host_end == std::string_view::npos) host_end = rest.size();
  }
  uri.host = rest.substr(0, host_end);
  if (!valid_host(uri.host)) return false;
  auto port_text = rest.substr(host_end);
  if (!port_text.empty()) {
    if (port_text.front() != ':') return false;
    auto port = parse_port(port_text.substr(1));
    if (!port) return false;
    uri.port = *port;
  }
  return true;
}

// RFC 3966 tel URI: the number is kept in `user`, params after ';'.
bool parse_tel_uri(std::string_view rest, Uri& uri) {
  const size_t semi = rest.find(';');
  uri.user = rest.substr(0, semi);
  if (semi != std::string_view::npos) {
    uri.params_text = rest.substr(semi + 1);
    if (!valid_uri_params(uri.params_text)) return false;
  }
  if (uri.user.empty()) return false;
  for (char c : uri.user) {
    if (!is_hex(c) && c != '+' && c != '-' && c != '.' && c != '(' && c != ')' && c != '*' &&
        c != '#' && c != 'p' && c != 'w' && c != 'P' && c != 'W') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<Uri> parse_uri(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\')
      return std::nullopt;
  }
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  Uri uri;
  uri.text = text;
  uri.scheme = text.substr(0, colon);
  if (!is_alpha(uri.scheme.front())) return std::nullopt;
  for (char c : uri.scheme) {
    if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  auto rest = text.substr(colon + 1);
  if (rest.empty()) return std::nullopt;
  if (uri.is_sip()) {
    if (!parse_sip_uri(rest, uri)) return std::nullopt;
  } else if (uri.is_tel()) {
    if (!parse_tel_uri(rest, uri)) return std::nullopt;
  } else {
    uri.opaque = rest;
    if (!valid_escapes(rest)) return std::nullopt;
  }
  return uri;
}

bool is_valid_host(std::string_view host) {
  return valid_host(host);
}

bool Uri::is_sip() const {
  return iequals(scheme, "sip") || iequals(scheme, "sips");
}
bool Uri::is_sips() const {
  return iequals(scheme, "sips");
}
bool Uri::is_tel() const {
  return iequals(scheme, "tel");
}

std::optional<std::string_view> Uri::param(std::string_view name) const {
  // URI params carry no LWS or quotes, so the header parameter scanner applies.
  return ParamList(params_text).get(name);
}

std::vector<Param> Uri::params() const {
  return ParamList(params_text).all();
}

std::vector<std::pair<std::string, std::string>> Uri::headers() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (headers_text.empty()) return out;
  size_t pos = 0;
  while (true) {
    size_t amp = headers_text.find('&', pos);
    auto header = headers_text.substr(pos, amp == std::string_view::npos ? amp : amp - pos);
    size_t eq = header.find('=');
    if (eq != std::string_view::npos) {
      out.emplace_back(percent_decode(header.substr(0, eq)), percent_decode(header.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::optional<std::string> Uri::header(std::string_view name) const {
  for (auto& [hname, hvalue] : headers()) {
    if (iequals(hname, name)) return hvalue;
  }
  return std::nullopt;
}

std::string Uri::user_decoded() const {
  return percent_decode(user);
}

std::string Uri::host_port() const {
  std::string out(host);
  if (port != 0) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

std::string Uri::to_string() const {
  return std::string(text);
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && is_hex(text[i + 1]) && is_hex(text[i + 2])) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool valid_escapes(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (i + 2 >= text.size()) return false;
    if (!is_hex(text[i + 1]) || !is_hex(text[i + 2])) return false;
    i += 2;
  }
  return true;
}

namespace {

bool equal_escaped(std::string_view a, std::string_view b, bool case_insensitive) {
  std::string x = percent_decode(a);
  std::string y = percent_decode(b);
  return case_insensitive ? iequals(x, y) : x == y;
}

}  // namespace

bool uri_equivalent(const Uri& a, const Uri& b) {
  if (!a.is_sip() || !b.is_sip()) {
    return iequals(a.scheme, b.scheme) &&
           equal_escaped(a.is_tel() ? a.text : a.opaque, b.is_tel() ? b.text : b.opaque, true);
  }
  // §19.1.4: a SIP and a SIPS URI are never equivalent.
  if (a.is_sips() != b.is_sips()) return false;
  if (!equal_escaped(a.user, b.user, false)) return false;
  if (!equal_escaped(a.password, b.password, false)) return false;
  if (!iequals(a.host, b.host)) return false;
  if (a.port != b.port) return false;
  // user, ttl, method, maddr, transport must match if present in either.
  for (std::string_view name : {"user", "ttl", "method", "maddr", "transport"}) {
    auto pa = a.param(name);
    auto pb = b.param(name);
    if (pa.has_value() != pb.has_value()) return false;
    if (pa && !equal_escaped(*pa, *pb, true)) return false;
  }
  // Any other parameter present in both must match.
  // (A duplicated parameter compares by its first occurrence, as param() reads it.)
  for (const auto& p : a.params()) {
    auto mine = a.param(p.name);
    auto other = b.param(p.name);
    if (other && !equal_escaped(*mine, *other, true)) return false;
  }
  // Headers: the same multiset of (case-insensitive name, value).
  auto ha = a.headers();
  auto hb = b.headers();
  if (ha.size() != hb.size()) return false;
  auto normalize = [](std::vector<std::pair<std::string, std::string>>& headers) {
    for (auto& [name, value] : headers) {
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::sort(headers.begin(), headers.end());
  };
  normalize(ha);
  normalize(hb);
  if (ha != hb) return false;
  return true;
}

std::string request_target(const Uri& uri) {
  std::string out(uri.scheme);
  out += ':';
  if (!uri.user.empty()) {
    out += uri.user;
    out += '@';
  }
  out += uri.host_port();
  for (const Param& param : uri.params()) {
    if (iequals(param.name, "method")) continue;
    out += ';';
    out += param.name;
    if (!param.value.empty()) {
      out += '=';
      out += param.value;
    }
  }
  return out;
}

}  // namespace chorus::sip
