#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "signaling/message/header_params.hpp"

namespace chorus::sip {

// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
inline constexpr std::string_view kBranchMagicCookie = "z9hG4bK";

// One Via element (RFC 3261 §20.42):  SIP / 2.0 / UDP host[:port] *(;param)
struct Via {
  std::string_view protocol_name;     // "SIP"
  std::string_view protocol_version;  // "2.0"
  std::string_view transport;         // "UDP", "TCP", "TLS", "SCTP", "WS" ... as written
  std::string_view host;              // sent-by host ("[v6]" keeps brackets)
  uint16_t port = 0;                  // 0 = none
  std::string_view params_text;       // after the first ';'

  std::optional<std::string_view> param(std::string_view name) const {
    return ParamList(params_text).get(name);
  }
  std::string_view branch() const { return param("branch").value_or(std::string_view{}); }
  bool rfc3261_branch() const { return branch().starts_with(kBranchMagicCookie); }
  std::optional<std::string_view> received() const { return param("received"); }
  std::optional<std::string_view> maddr() const { return param("maddr"); }
  // RFC 3581: `;rport` (request asks for it) or `;rport=5060` (filled in).
  bool has_rport() const { return param("rport").has_value(); }
  std::optional<uint16_t> rport() const;  // the value, if one was filled in
};

// Parses one Via element. Views point into `value`.
std::optional<Via> parse_via(std::string_view value);
// A whole Via header value (a comma list).
std::optional<std::vector<Via>> parse_via_list(std::string_view value);

}  // namespace chorus::sip
