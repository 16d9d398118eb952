#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::sip {

// One `;name=value` parameter. `value` is raw (still percent-escaped in a URI,
// still quoted in a header); `has_value` distinguishes `;lr` from `;lr=`.
struct Param {
  std::string_view name;
  std::string_view value;
  bool has_value = false;
};

// A parsed URI: views into the text it was parsed from (the caller keeps that
// text alive; Message keeps its own).
//   SIP/SIPS (RFC 3261 §19.1):  sip:user:password@host:port;params?headers
//   tel (RFC 3966):             tel:+1-201-555-0123;phone-context=...  (number in `user`)
//   anything else (RFC 3986 absoluteURI, e.g. urn:sip-action:call:mute): scheme + `opaque`.
struct Uri {
  std::string_view text;          // the whole URI
  std::string_view scheme;        // as written ("sip", "SIPS", "tel", "urn", ...)
  std::string_view user;          // raw, percent-escaped; the number of a tel URI
  std::string_view password;      // raw
  std::string_view host;          // hostname, IPv4, or "[IPv6]" (brackets kept)
  uint16_t port = 0;              // 0 = none given
  std::string_view params_text;   // after the first ';' of the params (no leading ';'), or ""
  std::string_view headers_text;  // after '?' (no '?'), or ""
  std::string_view opaque;        // everything after "scheme:" for non-SIP/tel schemes

  bool is_sip() const;  // sip or sips (case-insensitive)
  bool is_sips() const;
  bool is_tel() const;

  // URI parameters (RFC 3261 §19.1.1): case-insensitive names. A parameter
  // without value yields "" (present). Values are raw (still escaped).
  std::optional<std::string_view> param(std::string_view name) const;
  bool has_param(std::string_view name) const { return param(name).has_value(); }
  std::vector<Param> params() const;

  // Embedded headers (`?Replaces=...&Require=replaces`), case-insensitive
  // names, percent-DECODED values.
  std::optional<std::string> header(std::string_view name) const;
  std::vector<std::pair<std::string, std::string>> headers() const;

  std::string user_decoded() const;  // percent-decoded user part
  // "host" or "host:port"; the part a Via sent-by or a transport target uses.
  std::string host_port() const;
  // The URI as text. A parsed URI returns its text unchanged.
  std::string to_string() const;
};

// A SIP/SIPS URI as a Request-URI: without its embedded headers and its
// `method` parameter, which only say how to build a request from it (RFC
// 3261 §19.1.5); e.g. a Refer-To or a 3xx Contact turned into a target.
std::string request_target(const Uri& uri);

// Parse one URI. nullopt on anything malformed (bad escapes, bad host, bad or
// overflowing port, illegal characters, empty scheme). Views point into `text`.
std::optional<Uri> parse_uri(std::string_view text);

// RFC 3261 §19.1.4 URI comparison for SIP/SIPS (scheme, user (case-sensitive,
// escape-insensitive), password, host (case-insensitive), port, the
// user/ttl/method/maddr/transport params, any param present in both, and
// embedded headers). Other schemes: case-insensitive text comparison.
bool uri_equivalent(const Uri& a, const Uri& b);

// hostname / IPv4address / IPv6reference ("[::1]") as in RFC 3261 §25.1.
bool is_valid_host(std::string_view host);

// "%41" -> "A". Invalid escapes are kept literally (validation happens at parse).
std::string percent_decode(std::string_view text);
// True if every '%' is followed by two hex digits.
bool valid_escapes(std::string_view text);

}  // namespace chorus::sip
