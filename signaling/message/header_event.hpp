#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "signaling/message/header_params.hpp"

namespace chorus::sip {

// Event (RFC 6665 §8.2.1): event-type *(;param), with the `id` param.
struct Event {
  std::string_view package;  // "conference", "dialog", "refer", "presence.winfo"
  std::string_view params_text;
  std::string_view id() const { return ParamList(params_text).get("id").value_or(""); }
  std::optional<std::string_view> param(std::string_view name) const {
    return ParamList(params_text).get(name);
  }
};
std::optional<Event> parse_event(std::string_view value);

// Subscription-State (RFC 6665 §8.2.3): active | pending | terminated | token
// with expires, reason, retry-after.
struct SubscriptionState {
  std::string_view state;  // as written; compare with iequals()
  std::optional<uint32_t> expires;
  std::string_view reason;  // "" if none ("deactivated", "noresource", ...)
  std::optional<uint32_t> retry_after;
  std::string_view params_text;

  bool is_active() const;
  bool is_pending() const;
  bool is_terminated() const;
};
std::optional<SubscriptionState> parse_subscription_state(std::string_view value);

}  // namespace chorus::sip
