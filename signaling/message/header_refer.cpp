#include "signaling/message/header_refer.hpp"

namespace chorus::sip {
namespace {
constexpr std::string_view kActionPrefix = "sip-action:";
}

std::optional<ReferTo> parse_refer_to(std::string_view value) {
  auto target = parse_name_addr(value);
  if (!target) return std::nullopt;
  return ReferTo{*target};
}

std::string_view ReferTo::method() const {
  if (!target.uri.is_sip()) return {};
  return target.uri.param("method").value_or("INVITE");
}

bool ReferTo::is_action_urn() const {
  return iequals(target.uri.scheme, "urn") && target.uri.opaque.size() > kActionPrefix.size() &&
         iequals(target.uri.opaque.substr(0, kActionPrefix.size()), kActionPrefix);
}

std::string_view ReferTo::action() const {
  if (!is_action_urn()) return {};
  return target.uri.opaque.substr(kActionPrefix.size());
}

std::optional<NameAddr> parse_referred_by(std::string_view value) {
  return parse_name_addr(value);
}

}  // namespace chorus::sip
