#include "signaling/message/header_session_timer.hpp"

#include "signaling/message/header_params.hpp"

namespace chorus::sip {

std::optional<SessionExpires> parse_session_expires(std::string_view value) {
  value = trim(value);
  const size_t semi = value.find(';');
  auto delta = parse_uint32(trim(value.substr(0, semi)));
  if (!delta) return std::nullopt;
  SessionExpires out;
  out.delta = *delta;
  if (semi != std::string_view::npos) {
    out.params_text = trim(value.substr(semi + 1));
    if (!valid_params(out.params_text)) return std::nullopt;
    if (auto refresher = ParamList(out.params_text).get("refresher")) {
      if (iequals(*refresher, "uac")) {
        out.refresher = SessionExpires::Refresher::kUac;
      } else if (iequals(*refresher, "uas")) {
        out.refresher = SessionExpires::Refresher::kUas;
      } else {
        return std::nullopt;  // RFC 4028 §4: refresher-param = "uas" / "uac"
      }
    }
  }
  return out;
}

std::optional<uint32_t> parse_min_se(std::string_view value) {
  value = trim(value);
  const size_t semi = value.find(';');
  if (semi != std::string_view::npos && !valid_params(trim(value.substr(semi + 1)))) {
    return std::nullopt;
  }
  return parse_uint32(trim(value.substr(0, semi)));
}

}  // namespace chorus::sip
