#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/message/header_params.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {

// Retry-After (RFC 3261 §20.33): delta-seconds [comment] *(;retry-param).
struct RetryAfter {
  uint32_t seconds = 0;
  std::string_view comment;  // inside the parentheses, "" if none
  std::optional<uint32_t> duration;
};
std::optional<RetryAfter> parse_retry_after(std::string_view value);

// Reason (RFC 3326 §2): protocol ;cause=N ;text="..."  (one element).
struct Reason {
  std::string_view protocol;  // "SIP", "Q.850"
  std::optional<uint32_t> cause;
  std::string text;  // unquoted
};
std::optional<Reason> parse_reason(std::string_view value);

// Warning (RFC 3261 §20.43): warn-code warn-agent "warn-text" (one element).
struct Warning {
  uint16_t code = 0;  // three digits
  std::string_view agent;
  std::string text;  // unquoted
};
std::optional<Warning> parse_warning(std::string_view value);

// Content-Type (RFC 3261 §20.15, RFC 2045): type "/" subtype *(;param).
struct ContentType {
  std::string_view type;
  std::string_view subtype;
  std::string_view params_text;
  std::optional<std::string_view> param(std::string_view name) const {
    return ParamList(params_text).get(name);
  }
  // `boundary` of a multipart type, unquoted.
  std::string boundary() const;
  // Case-insensitive "type/subtype" match, e.g. is("application/sdp").
  bool is(std::string_view type_slash_subtype) const;
};
std::optional<ContentType> parse_content_type(std::string_view value);

// RFC 3261 §20.1: does a request's Accept allow a body of `type/subtype` in
// the response? No Accept header: application/sdp only (§20.1's default).
// Each media-range (`*/*`, `type/*`, `type/subtype`) may carry q; the most
// specific range that matches decides, and q=0 means "not acceptable". An
// empty Accept header accepts no body at all. A range that does not parse
// is ignored (a garbled Accept is not a reason to refuse the call).
bool accepts_body(const Message& request, std::string_view type, std::string_view subtype);

}  // namespace chorus::sip
