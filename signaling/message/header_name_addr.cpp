#include "signaling/message/header_name_addr.hpp"

namespace chorus::sip {
namespace {

// display-name = *(token LWS) / quoted-string (RFC 3261 §25.1)
bool valid_token_display_name(std::string_view text) {
  for (char c : text) {
    if (!is_token_char(c) && !is_ws(c)) return false;
  }
  return true;
}

// After the URI: nothing, or ';' params.
bool take_params(std::string_view rest, NameAddr& out) {
  rest = trim(rest);
  if (rest.empty()) return true;
  if (rest.front() != ';') return false;
  out.params_text = trim(rest.substr(1));
  return valid_params(out.params_text) && !out.params_text.empty();
}

}  // namespace

std::optional<NameAddr> parse_name_addr(std::string_view value) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  NameAddr out;
  size_t lt = std::string_view::npos;
  if (value.front() == '"') {
    auto len = quoted_string_length(value);
    if (!len) return std::nullopt;
    out.display_name = value.substr(1, *len - 2);
    size_t i = *len;
    while (i < value.size() && is_ws(value[i])) ++i;
    if (i >= value.size() || value[i] != '<') return std::nullopt;
    lt = i;
  } else {
    lt = value.find('<');
    if (lt != std::string_view::npos) {
      out.display_name = trim(value.substr(0, lt));
      if (!valid_token_display_name(out.display_name)) return std::nullopt;
    }
  }
  if (lt != std::string_view::npos) {
    const size_t gt = value.find('>', lt + 1);
    if (gt == std::string_view::npos) return std::nullopt;
    out.angle_brackets = true;
    out.uri_text = value.substr(lt + 1, gt - lt - 1);
    auto uri = parse_uri(out.uri_text);
    if (!uri) return std::nullopt;
    out.uri = *uri;
    if (!take_params(value.substr(gt + 1), out)) return std::nullopt;
    return out;
  }
  // addr-spec: the URI ends at ';' or LWS; it may not contain ',' or '?'
  // (RFC 3261 §20: such URIs must be in angle brackets).
  size_t end = 0;
  while (end < value.size() && value[end] != ';' && !is_ws(value[end])) ++end;
  out.uri_text = value.substr(0, end);
  if (out.uri_text.find_first_of(",?") != std::string_view::npos) return std::nullopt;
  auto uri = parse_uri(out.uri_text);
  if (!uri) return std::nullopt;
  out.uri = *uri;
  if (!take_params(value.substr(end), out)) return std::nullopt;
  return out;
}

std::optional<std::vector<NameAddr>> parse_name_addr_list(std::string_view value) {
  auto elements = split_comma_list(value);
  if (!elements || elements->empty()) return std::nullopt;
  std::vector<NameAddr> out;
  out.reserve(elements->size());
  for (auto element : *elements) {
    auto name_addr = parse_name_addr(element);
    if (!name_addr) return std::nullopt;
    out.push_back(*name_addr);
  }
  return out;
}

std::optional<ContactList> parse_contact(std::string_view value) {
  ContactList out;
  if (trim(value) == "*") {
    out.wildcard = true;
    return out;
  }
  auto list = parse_name_addr_list(value);
  if (!list) return std::nullopt;
  out.contacts = std::move(*list);
  return out;
}

std::string NameAddr::display_name_unescaped() const {
  std::string out;
  out.reserve(display_name.size());
  for (size_t i = 0; i < display_name.size(); ++i) {
    if (display_name[i] == '\\' && i + 1 < display_name.size()) ++i;
    out.push_back(display_name[i]);
  }
  return out;
}

std::optional<uint32_t> NameAddr::expires() const {
  auto value = param("expires");
  if (!value) return std::nullopt;
  return parse_uint32(*value);
}

std::string NameAddr::to_string() const {
  std::string out;
  if (!display_name.empty()) {
    out += '"';
    out += display_name;
    out += "\" ";
  }
  out += '<';
  out += uri_text;
  out += '>';
  if (!params_text.empty()) {
    out += ';';
    out += params_text;
  }
  return out;
}

}  // namespace chorus::sip
