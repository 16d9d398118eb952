#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/dialog/dialog.hpp"
#include "signaling/dialog/dialog_random.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/dialog/dialog_usage.hpp"
#include "signaling/usage/event_package.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {

enum class SubscriptionStatus : uint8_t { kPending, kActive, kTerminated };

// One subscription we serve as notifier (RFC 6665 §4.2): an explicit
// SUBSCRIBE or the implicit subscription of a REFER (RFC 3515 §2.4.4). It is
// a dialog usage identified by (Event package, id) within its dialog.
class Subscription final : public DialogUsage {
 public:
  // `package` may be null (the REFER subscription has no registered
  // package); it must outlive the subscription otherwise.
  Subscription(std::string event, std::string id, std::string content_type, uint32_t expires,
               TimePoint now, const EventPackage* package = nullptr);

  UsageKind kind() const override { return UsageKind::kSubscription; }
  bool terminated() const override { return status_ == SubscriptionStatus::kTerminated; }
  std::optional<TimePoint> next_deadline() const override;
  // Expiry (RFC 6665 §4.2.2): a final NOTIFY "terminated;reason=timeout".
  void on_deadline(Dialog& dialog, TimePoint now, DeadlineActions& out) override;
  void terminate() override { status_ = SubscriptionStatus::kTerminated; }

  const std::string& event() const { return event_; }
  const std::string& id() const { return id_; }
  const std::string& content_type() const { return content_type_; }
  SubscriptionStatus status() const { return status_; }
  TimePoint expires_at() const { return expires_at_; }
  // Seconds left, rounded up (what Subscription-State's expires says).
  uint32_t remaining_seconds(TimePoint now) const;
  const EventPackage* package() const { return package_; }

  // Whether this subscription is the one an Event header names (RFC 6665
  // §8.2.1: package and id compared byte-by-byte; absent id == "").
  bool matches(std::string_view event, std::string_view id) const;

  // A refresh (RFC 6665 §4.2.1.2) moves the expiry.
  void refresh(uint32_t expires, TimePoint now);
  // pending → active once the application authorizes it (§4.2.1.1).
  void activate();
  void set_pending() { status_ = SubscriptionStatus::kPending; }

  // The package's full state, or the last body sent if there is no package.
  NotifyBody full_state() const;

  // A NOTIFY carrying `body` and the current Subscription-State
  // ("active;expires=N" or "pending;expires=N"). Event: package[;id=].
  Message make_notify(Dialog& dialog, TimePoint now, const NotifyBody& body);
  // The final NOTIFY: "terminated;reason=<reason>" (+ retry-after); the
  // subscription is terminated.
  Message make_final_notify(Dialog& dialog, std::string_view reason, const NotifyBody& body,
                            std::optional<uint32_t> retry_after = std::nullopt);

  // The peer's answer to one of our NOTIFYs. RFC 6665 §4.2.2: a 481 — or
  // any failure other than those that can be retried (401/407 challenges,
  // 491/500/503) — removes the subscription. Returns true if terminated.
  bool on_notify_response(const Message& response);

 private:
  Message build_notify(Dialog& dialog, std::string_view state, const NotifyBody& body);

  std::string event_;
  std::string id_;
  std::string content_type_;
  const EventPackage* package_ = nullptr;
  SubscriptionStatus status_ = SubscriptionStatus::kActive;
  TimePoint expires_at_{};
  NotifyBody last_body_;
};

// The live subscription of `dialog` named by (event, id), or null.
Subscription* find_subscription(const Dialog& dialog, std::string_view event, std::string_view id);

// Every live subscription to `event` in `dialogs` with its dialog: what the
// application walks to send a state change (RFC 6665 §4.2.2) to all
// subscribers of a package.
struct SubscriptionRef {
  Dialog* dialog = nullptr;
  Subscription* subscription = nullptr;
};
std::vector<SubscriptionRef> subscriptions_for_event(DialogSet& dialogs, std::string_view event);

// What a SUBSCRIBE produced.
struct SubscribeOutcome {
  Message response;               // 200 + Expires, or 400/406/423/481/489/4xx
  std::optional<Message> notify;  // the NOTIFY to send right after (§4.2.1.2)
  Dialog* dialog = nullptr;       // the dialog of the subscription (created if new)
  Subscription* subscription = nullptr;
  bool created = false;
  bool terminated = false;  // an unsubscribe (Expires: 0) or fetch ended it
};

// The notifier side of RFC 6665 for all packages of a registry.
class Notifier {
 public:
  // The registry must outlive the notifier.
  Notifier(const EventPackageRegistry& packages, DialogRandom& random, std::string local_contact);

  const std::string& local_contact() const { return local_contact_; }

  // A SUBSCRIBE, in or out of dialog: looks the dialog up in `dialogs` (481
  // for an unknown one), creates the dialog for a new out-of-dialog
  // subscription (§4.2.1), checks CSeq order in-dialog (§12.2.2).
  SubscribeOutcome on_subscribe(DialogSet& dialogs, const Message& subscribe, TimePoint now);
  // A SUBSCRIBE already matched to `dialog` (it passed Dialog::check_request).
  SubscribeOutcome on_subscribe(Dialog& dialog, const Message& subscribe, TimePoint now);

 private:
  struct Validated;
  std::optional<Message> validate(const Message& subscribe, std::string_view to_tag,
                                  Validated& out) const;
  SubscribeOutcome new_subscription(Dialog& dialog, const Message& subscribe, const Validated& v,
                                    TimePoint now, bool pending);

  const EventPackageRegistry& packages_;
  DialogRandom& random_;
  std::string local_contact_;
};

}  // namespace chorus::sip
