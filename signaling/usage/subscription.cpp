#include "signaling/usage/subscription.hpp"

#include <cassert>

#include "signaling/message/header_event.hpp"
#include "signaling/message/header_params.hpp"

namespace chorus::sip {

Subscription::Subscription(std::string event, std::string id, std::string content_type,
                           uint32_t expires, TimePoint now, const EventPackage* package)
    : event_(std::move(event)),
      id_(std::move(id)),
      content_type_(std::move(content_type)),
      package_(package),
      expires_at_(now + std::chrono::seconds(expires)) {}

std::optional<TimePoint> Subscription::next_deadline() const {
  if (terminated()) return std::nullopt;
  return expires_at_;
}

void Subscription::on_deadline(Dialog& dialog, TimePoint now, DeadlineActions& out) {
  if (terminated() || now < expires_at_) return;
  out.requests.push_back(make_final_notify(dialog, "timeout", full_state()));
}

uint32_t Subscription::remaining_seconds(TimePoint now) const {
  if (now >= expires_at_) return 0;
  const auto left = std::chrono::ceil<std::chrono::seconds>(expires_at_ - now);
  return static_cast<uint32_t>(left.count());
}

bool Subscription::matches(std::string_view event, std::string_view id) const {
  // RFC 6665 §8.2.1: event type and id compare byte-by-byte.
  return event_ == event && id_ == id;
}

void Subscription::refresh(uint32_t expires, TimePoint now) {
  expires_at_ = now + std::chrono::seconds(expires);
}

void Subscription::activate() {
  if (status_ == SubscriptionStatus::kPending) status_ = SubscriptionStatus::kActive;
}

NotifyBody Subscription::full_state() const {
  if (package_ && package_->full_state) return package_->full_state(*this);
  return last_body_;
}

Message Subscription::build_notify(Dialog& dialog, std::string_view state, const NotifyBody& body) {
  Message m = dialog.make_request(Method::kNotify);
  // RFC 6665 §8.2.1: echo the id of the SUBSCRIBE so the subscriber can tell
  // subscriptions of one dialog apart.
  m.add_header("Event", id_.empty() ? event_ : event_ + ";id=" + id_);
  m.add_header("Subscription-State", state);
  if (!body.content_type.empty()) m.set_body(body.content_type, body.body);
  last_body_ = body;
  return m;
}

Message Subscription::make_notify(Dialog& dialog, TimePoint now, const NotifyBody& body) {
  assert(!terminated() && "use make_final_notify for a terminated subscription");
  const std::string state =
      std::string(status_ == SubscriptionStatus::kPending ? "pending" : "active") +
      ";expires=" + std::to_string(remaining_seconds(now));
  return build_notify(dialog, state, body);
}

Message Subscription::make_final_notify(Dialog& dialog, std::string_view reason,
                                        const NotifyBody& body,
                                        std::optional<uint32_t> retry_after) {
  std::string state = "terminated";
  if (!reason.empty()) {
    state += ";reason=";
    state += reason;
  }
  if (retry_after) state += ";retry-after=" + std::to_string(*retry_after);
  Message m = build_notify(dialog, state, body);
  status_ = SubscriptionStatus::kTerminated;
  return m;
}

bool Subscription::on_notify_response(const Message& response) {
  const int status = response.status();
  if (status < 300) return terminated();
  switch (status) {
    case 401:
    case 407:
    case 491:
    case 500:
    case 503:
      // Retryable: the application may resend (after authenticating).
      break;
    default:
      // RFC 6665 §4.2.2: 481 and other failures remove the subscription.
      status_ = SubscriptionStatus::kTerminated;
  }
  return terminated();
}

Subscription* find_subscription(const Dialog& dialog, std::string_view event, std::string_view id) {
  return static_cast<Subscription*>(
      dialog.find_usage(UsageKind::kSubscription, [&](const DialogUsage& usage) {
        return static_cast<const Subscription&>(usage).matches(event, id);
      }));
}

std::vector<SubscriptionRef> subscriptions_for_event(DialogSet& dialogs, std::string_view event) {
  std::vector<SubscriptionRef> out;
  dialogs.for_each([&](Dialog& dialog) {
    if (dialog.terminated()) return;
    for (const auto& usage : dialog.usages()) {
      if (usage->kind() != UsageKind::kSubscription || usage->terminated()) continue;
      auto* sub = static_cast<Subscription*>(usage.get());
      if (sub->event() == event) out.push_back(SubscriptionRef{&dialog, sub});
    }
  });
  return out;
}

namespace {

SubscribeOutcome reply(Message response) {
  SubscribeOutcome out;
  out.response = std::move(response);
  return out;
}

}  // namespace

struct Notifier::Validated {
  const EventPackage* package = nullptr;
  std::string event;
  std::string id;
  uint32_t expires = 0;
  std::string content_type;
};

Notifier::Notifier(const EventPackageRegistry& packages, DialogRandom& random,
                   std::string local_contact)
    : packages_(packages), random_(random), local_contact_(std::move(local_contact)) {}

std::optional<Message> Notifier::validate(const Message& subscribe, std::string_view to_tag,
                                          Validated& out) const {
  const auto event_value = subscribe.header("Event");
  if (!event_value) return make_response(subscribe, 400, "Missing Event", to_tag);
  const auto event = parse_event(*event_value);
  if (!event) return make_response(subscribe, 400, "Bad Event", to_tag);
  out.package = packages_.find(event->package);
  if (!out.package) {
    // RFC 6665 §4.2.1: unknown package → 489 with Allow-Events.
    Message r = make_response(subscribe, 489, "Bad Event", to_tag);
    if (!packages_.empty()) r.set_header("Allow-Events", packages_.allow_events());
    return r;
  }
  out.event = out.package->name;
  out.id = std::string(event->id());

  if (subscribe.has_header("Expires")) {
    const auto expires = subscribe.expires();
    if (!expires) return make_response(subscribe, 400, "Bad Expires", to_tag);
    out.expires = *expires;
  } else {
    out.expires = out.package->default_expires;
  }
  if (out.expires > 0 && out.expires < out.package->min_expires) {
    // RFC 6665 §4.2.1.1: too brief → 423 with Min-Expires.
    Message r = make_response(subscribe, 423, {}, to_tag);
    r.set_header("Min-Expires", std::to_string(out.package->min_expires));
    return r;
  }
  // §4.2.1.1: the notifier may shorten, never lengthen (beyond what's asked).
  if (out.expires > out.package->max_expires) out.expires = out.package->max_expires;

  const auto type = negotiate_notify_type(*out.package, subscribe);
  if (!type) {
    Message r = make_response(subscribe, 406, {}, to_tag);
    std::string accept;
    for (const std::string& t : out.package->accept) {
      if (!accept.empty()) accept += ", ";
      accept += t;
    }
    r.set_header("Accept", accept);
    return r;
  }
  out.content_type = *type;
  return std::nullopt;
}

SubscribeOutcome Notifier::on_subscribe(DialogSet& dialogs, const Message& subscribe,
                                        TimePoint now) {
  const DialogSet::RequestMatch match = dialogs.match_request(subscribe);
  if (match.reject) return reply(*match.reject);
  if (match.dialog) {
    if (auto error = match.dialog->check_request(subscribe)) return reply(*error);
    return on_subscribe(*match.dialog, subscribe, now);
  }

  // Out of dialog: a new subscription and a new dialog (§4.2.1).
  const std::string tag = random_.tag();
  Validated v;
  if (auto error = validate(subscribe, tag, v)) return reply(std::move(*error));

  // Authorization before creating anything: a rejected SUBSCRIBE makes no
  // dialog.
  SubscriptionAuthorization auth;
  if (v.package->authorize) auth = v.package->authorize(subscribe);
  if (auth.decision == SubscriptionAuthorization::Decision::kReject) {
    return reply(make_response(subscribe, auth.reject_status, auth.reject_reason, tag));
  }

  Message ok = make_response(subscribe, 200, {}, tag);
  ok.set_header("Contact", local_contact_);
  auto created = Dialog::create_uas(subscribe, ok, random_.initial_cseq());
  if (!created) {
    // §8.1.1.8: dialog-creating requests need a Contact.
    return reply(make_response(subscribe, 400, "Missing Contact", tag));
  }
  created->set_local_contact(local_contact_);
  Dialog& dialog = dialogs.insert(std::move(*created));
  return new_subscription(dialog, subscribe, v, now,
                          auth.decision == SubscriptionAuthorization::Decision::kPending);
}

SubscribeOutcome Notifier::on_subscribe(Dialog& dialog, const Message& subscribe, TimePoint now) {
  Validated v;
  if (auto error = validate(subscribe, dialog.id().local_tag, v)) {
    return reply(std::move(*error));
  }
  Subscription* existing = find_subscription(dialog, v.event, v.id);
  if (!existing) {
    if (v.expires == 0) {
      // §4.1.2.3 / §4.2.1: unsubscribing from nothing.
      return reply(dialog.make_response(subscribe, 481, "Subscription Does Not Exist"));
    }
    SubscriptionAuthorization auth;
    if (v.package->authorize) auth = v.package->authorize(subscribe);
    if (auth.decision == SubscriptionAuthorization::Decision::kReject) {
      return reply(dialog.make_response(subscribe, auth.reject_status, auth.reject_reason));
    }
    return new_subscription(dialog, subscribe, v, now,
                            auth.decision == SubscriptionAuthorization::Decision::kPending);
  }

  SubscribeOutcome out = reply(dialog.make_response(subscribe, 200));
  out.response.set_header("Expires", std::to_string(v.expires));
  out.dialog = &dialog;
  out.subscription = existing;
  if (v.expires == 0) {
    // §4.2.1.3 unsubscribe: final NOTIFY with the state (none while still
    // unauthorized) and reason=timeout.
    const NotifyBody body =
        existing->status() == SubscriptionStatus::kPending ? NotifyBody{} : existing->full_state();
    out.notify = existing->make_final_notify(dialog, "timeout", body);
    out.terminated = true;
    return out;
  }
  // §4.2.1.2 refresh: new expiry, and a NOTIFY with the full state.
  existing->refresh(v.expires, now);
  const NotifyBody body =
      existing->status() == SubscriptionStatus::kPending ? NotifyBody{} : existing->full_state();
  out.notify = existing->make_notify(dialog, now, body);
  return out;
}

SubscribeOutcome Notifier::new_subscription(Dialog& dialog, const Message& subscribe,
                                            const Validated& v, TimePoint now, bool pending) {
  SubscribeOutcome out = reply(dialog.make_response(subscribe, 200));
  out.response.set_header("Expires", std::to_string(v.expires));
  out.dialog = &dialog;
  out.created = true;
  auto usage =
      std::make_unique<Subscription>(v.event, v.id, v.content_type, v.expires, now, v.package);
  Subscription& sub = static_cast<Subscription&>(dialog.add_usage(std::move(usage)));
  out.subscription = &sub;
  // §4.2.1.1: a pending subscription's NOTIFY reveals no state.
  if (pending) sub.set_pending();
  const NotifyBody body = pending ? NotifyBody{} : sub.full_state();
  if (v.expires == 0) {
    // §4.4.3 fetch: one NOTIFY with the state, and the subscription is over.
    out.notify = sub.make_final_notify(dialog, "timeout", body);
    out.terminated = true;
    return out;
  }
  out.notify = sub.make_notify(dialog, now, body);
  return out;
}

}  // namespace chorus::sip
