#include "signaling/message/header_event.hpp"

#include "signaling/message/method.hpp"

namespace chorus::sip {
namespace {

// "value *(;params)" -> value, params (both trimmed); false on bad params.
bool split_value_params(std::string_view text, std::string_view& value, std::string_view& params) {
  text = trim(text);
  const size_t semi = text.find(';');
  value = trim(text.substr(0, semi));
  params = semi == std::string_view::npos ? std::string_view{} : trim(text.substr(semi + 1));
  return semi == std::string_view::npos || valid_params(params);
}

}  // namespace

std::optional<Event> parse_event(std::string_view value) {
  Event event;
  if (!split_value_params(value, event.package, event.params_text)) return std::nullopt;
  // event-type = event-package *( "." event-template ), both tokens.
  if (!is_token(event.package)) return std::nullopt;
  return event;
}

std::optional<SubscriptionState> parse_subscription_state(std::string_view value) {
  SubscriptionState out;
  if (!split_value_params(value, out.state, out.params_text)) return std::nullopt;
  if (!is_token(out.state)) return std::nullopt;
  ParamList params(out.params_text);
  if (auto expires = params.get("expires")) {
    out.expires = parse_uint32(*expires);
    if (!out.expires) return std::nullopt;
  }
  if (auto retry = params.get("retry-after")) {
    out.retry_after = parse_uint32(*retry);
    if (!out.retry_after) return std::nullopt;
  }
  out.reason = params.get("reason").value_or(std::string_view{});
  return out;
}

bool SubscriptionState::is_active() const {
  return iequals(state, "active");
}
bool SubscriptionState::is_pending() const {
  return iequals(state, "pending");
}
bool SubscriptionState::is_terminated() const {
  return iequals(state, "terminated");
}

}  // namespace chorus::sip
