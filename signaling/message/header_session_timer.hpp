#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace chorus::sip {

// Session-Expires (RFC 4028 §4): delta-seconds *(;se-params) with
// refresher=uac|uas.
struct SessionExpires {
  enum class Refresher : uint8_t { kNone, kUac, kUas };
  uint32_t delta = 0;
  Refresher refresher = Refresher::kNone;
  std::string_view params_text;
};
std::optional<SessionExpires> parse_session_expires(std::string_view value);

// Min-SE (RFC 4028 §5): delta-seconds *(;generic-param).
std::optional<uint32_t> parse_min_se(std::string_view value);

}  // namespace chorus::sip
