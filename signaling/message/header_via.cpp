#include "signaling/message/header_via.hpp"

#include "signaling/message/method.hpp"

namespace chorus::sip {
namespace {

size_t skip_ws(std::string_view text, size_t i) {
  while (i < text.size() && is_ws(text[i])) ++i;
  return i;
}

size_t take_token(std::string_view text, size_t i) {
  while (i < text.size() && is_token_char(text[i])) ++i;
  return i;
}

}  // namespace

std::optional<Via> parse_via(std::string_view value) {
  value = trim(value);
  Via via;
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport,
  // SLASH = SWS "/" SWS (RFC 3261 §25.1), so LWS around '/' is legal.
  std::string_view* parts[3] = {&via.protocol_name, &via.protocol_version, &via.transport};
  size_t i = 0;
  for (int k = 0; k < 3; ++k) {
    i = skip_ws(value, i);
    const size_t begin = i;
    i = take_token(value, i);
    if (i == begin) return std::nullopt;
    *parts[k] = value.substr(begin, i - begin);
    i = skip_ws(value, i);
    if (k < 2) {
      if (i >= value.size() || value[i] != '/') return std::nullopt;
      ++i;
    }
  }
  // sent-by = host [ COLON port ]; LWS required before it.
  if (i == 0 || i >= value.size()) return std::nullopt;
  const size_t host_begin = i;
  if (value[i] == '[') {
    const size_t close = value.find(']', i);
    if (close == std::string_view::npos) return std::nullopt;
    i = close + 1;
  } else {
    while (i < value.size() && !is_ws(value[i]) && value[i] != ':' && value[i] != ';') ++i;
  }
  via.host = value.substr(host_begin, i - host_begin);
  if (!is_valid_host(via.host)) return std::nullopt;
  i = skip_ws(value, i);
  if (i < value.size() && value[i] == ':') {
    i = skip_ws(value, i + 1);
    const size_t begin = i;
    while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
    auto port = parse_uint32(value.substr(begin, i - begin));
    if (!port || *port == 0 || *port > 65535) return std::nullopt;
    via.port = static_cast<uint16_t>(*port);
    i = skip_ws(value, i);
  }
  if (i < value.size()) {
    if (value[i] != ';') return std::nullopt;
    via.params_text = value.substr(i + 1);
    if (!valid_params(via.params_text)) return std::nullopt;
  }
  return via;
}

std::optional<uint16_t> Via::rport() const {
  auto value = param("rport");
  if (!value || value->empty()) return std::nullopt;
  auto port = parse_uint32(*value);
  if (!port || *port == 0 || *port > 65535) return std::nullopt;
  return static_cast<uint16_t>(*port);
}

std::optional<std::vector<Via>> parse_via_list(std::string_view value) {
  auto elements = split_comma_list(value);
  if (!elements || elements->empty()) return std::nullopt;
  std::vector<Via> out;
  out.reserve(elements->size());
  for (auto element : *elements) {
    auto via = parse_via(element);
    if (!via) return std::nullopt;
    out.push_back(*via);
  }
  return out;
}

}  // namespace chorus::sip
