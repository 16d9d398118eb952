#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/message/message.hpp"

namespace chorus::sip {

class Subscription;

// The application's verdict on a new subscription (RFC 6665 §4.2.1.1: the
// notifier decides authorization; "pending" waits for a later decision).
struct SubscriptionAuthorization {
  enum class Decision : uint8_t { kActive, kPending, kReject };
  Decision decision = Decision::kActive;
  int reject_status = 403;    // for kReject
  std::string reject_reason;  // "" = default reason phrase
};

// A NOTIFY body: the full state (RFC 6665 §4.2.2 — the first NOTIFY and the
// one after each refresh carry the full state).
struct NotifyBody {
  std::string content_type;  // "" = no body
  std::string body;
};

// An event package (RFC 6665 §7) as the notifier serves it.
struct EventPackage {
  std::string name;                 // "conference", "dialog", "refer", ...
  std::vector<std::string> accept;  // body types it can produce, preferred first
  uint32_t default_expires = 3600;  // when SUBSCRIBE has no Expires
  uint32_t min_expires = 60;        // below → 423 with Min-Expires
  uint32_t max_expires = 86400;     // above → lowered to this
  // Authorization of a new subscription; empty = everyone is active.
  std::function<SubscriptionAuthorization(const Message& subscribe)> authorize;
  // Full state for a new/refreshed/terminating subscription; empty = no body.
  std::function<NotifyBody(const Subscription& subscription)> full_state;
};

// Event packages by name (RFC 6665 §8.2.1: the event type is compared
// byte-by-byte, so "Conference" is not the "conference" package).
class EventPackageRegistry {
 public:
  // Adds or replaces the package of that name. Returned pointers stay valid
  // until the registry is destroyed or the package is replaced.
  void add(EventPackage package);
  const EventPackage* find(std::string_view name) const;
  // "conference, dialog, refer": the Allow-Events value (RFC 6665 §8.2.2).
  std::string allow_events() const;
  bool empty() const { return packages_.empty(); }

 private:
  std::vector<std::unique_ptr<EventPackage>> packages_;
};

// The body type to use for a SUBSCRIBE: the first of `package.accept` the
// request's Accept allows (RFC 3261 §20.1 with type/ * and * / * ranges);
// with no Accept header, the package's default (first). nullopt when the
// SUBSCRIBE accepts none of them (→ 406).
std::optional<std::string> negotiate_notify_type(const EventPackage& package,
                                                 const Message& subscribe);

}  // namespace chorus::sip
