#include "focus/events/event_service.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "focus/events/conference_info.hpp"
#include "focus/events/dialog_info.hpp"
#include "signaling/auth/digest_server.hpp"
#include "signaling/message/header_event.hpp"

namespace chorus::focus {

namespace {

using sip::Message;
using sip::Method;

constexpr std::string_view kConferencePackage = "conference";
constexpr std::string_view kDialogPackage = "dialog";
constexpr std::string_view kMessageType = "message/sip";
// Consecutive retryable NOTIFY failures before the subscription is given up.
constexpr uint32_t kMaxNotifyRetries = 3;

}  // namespace

EventService::EventService(sip::Stack& stack, sip::DialogRandom& random, StateSource state,
                           Authorizer authorize)
    : EventService(stack, random, std::move(state), std::move(authorize), Config{}) {}

EventService::EventService(sip::Stack& stack, sip::DialogRandom& random, StateSource state,
                           Authorizer authorize, Config config)
    : stack_(stack),
      random_(random),
      state_(std::move(state)),
      authorize_(std::move(authorize)),
      config_(config) {
  for (std::string_view name : {kConferencePackage, kDialogPackage}) {
    sip::EventPackage package;
    package.name = std::string(name);
    package.accept = {
        std::string(name == kConferencePackage ? kConferenceInfoType : kDialogInfoType)};
    // The remote-call-control draft's relay of the messages themselves;
    // dialog-info+xml stays the default (first).
    if (name == kDialogPackage) package.accept.emplace_back(kMessageType);
    package.default_expires = config_.default_expires;
    package.min_expires = config_.min_expires;
    package.max_expires = config_.max_expires;
    // Authorization of the dialog package happens before the Notifier runs
    // (the Authorizer answers 401/403 on the transaction itself).
    package.full_state = [this](const sip::Subscription& s) { return full_state(s); };
    packages_.add(std::move(package));
  }
}

EventService::~EventService() {
  // Timers and NOTIFY transactions still pending in the Stack find us gone.
  *alive_ = false;
  // The tap points at us: gone with us (also when its removal is pending).
  if (tap_installed_) stack_.set_message_tap({});
}

size_t EventService::subscription_count(std::string_view room) const {
  return static_cast<size_t>(std::count_if(subscribers_.begin(), subscribers_.end(),
                                           [&](const auto& s) { return s.second.room == room; }));
}

std::optional<ConferenceState> EventService::state_of(std::string_view room) const {
  return state_ ? state_(room) : std::nullopt;
}

std::string EventService::contact_for(std::string_view room, sip::TransportKind transport) const {
  return "<" + stack_.contact_uri(room, transport) + ">";
}

EventService::Token EventService::token_of(const sip::Subscription* subscription) const {
  for (const auto& [token, s] : subscribers_) {
    if (s.subscription == subscription) return token;
  }
  return 0;
}

void EventService::on_subscribe(const sip::ServerTransaction& tx, std::string source) {
  subscribe(tx, nullptr, std::move(source));
}

void EventService::erase_subscriber(Token token) {
  const auto it = subscribers_.find(token);
  if (it == subscribers_.end()) return;
  const auto counted = per_source_.find(it->second.source);
  if (counted != per_source_.end() && --counted->second == 0) per_source_.erase(counted);
  const bool relay = it->second.relay;
  subscribers_.erase(it);
  if (relay) relay_subscriber_removed();
}

bool EventService::handle_in_dialog(const sip::ServerTransaction& tx, std::string source,
                                    const SubscribeScreen& screen) {
  const Message& request = tx.request();
  const sip::DialogSet::RequestMatch match = dialogs_.match_request(request);
  if (match.dialog == nullptr) return false;  // not one of ours (or no To tag)
  sip::Dialog& dialog = *match.dialog;
  if (request.method() == Method::kSubscribe) {
    // Screened before check_request, which takes a new remote target from
    // the Contact: a refused SUBSCRIBE moves no NOTIFY anywhere. One naming
    // an event (and id) of ours the dialog has no subscription for adds
    // one: it passes what an out-of-dialog one does, and the dialog's own
    // cap. Another package, or a malformed Event, is the Notifier's 489 /
    // 400.
    const auto event_value = request.header("Event");
    const auto event = event_value ? sip::parse_event(*event_value) : std::nullopt;
    const bool creates = event && packages_.find(event->package) != nullptr &&
                         sip::find_subscription(dialog, event->package, event->id()) == nullptr;
    if (creates) {
      if (dialog.live_usages(sip::UsageKind::kSubscription) >= kMaxSubscriptionsPerDialog) {
        tx.respond(dialog.make_response(request, 403, "Too Many Subscriptions In This Dialog"));
        return true;
      }
    }
    if (screen && screen(tx, creates, dialog)) return true;
  }
  if (auto error = dialog.check_request(request)) {
    tx.respond(std::move(*error));  // §12.2.2: CSeq out of order
    return true;
  }
  switch (request.method()) {
    case Method::kSubscribe:
      subscribe(tx, &dialog, std::move(source));
      return true;
    case Method::kOptions:
      tx.respond(dialog.make_response(request, 200));
      return true;
    case Method::kBye:
    case Method::kPrack:
      // No INVITE usage in a subscription dialog (RFC 5057 §5.2).
      tx.respond(dialog.make_response(request, 481, "No Such Usage"));
      return true;
    default: {
      Message response = dialog.make_response(request, 405, "Method Not Allowed");
      response.set_header("Allow", "SUBSCRIBE, OPTIONS");
      tx.respond(std::move(response));
      return true;
    }
  }
}

void EventService::subscribe(const sip::ServerTransaction& tx, sip::Dialog* dialog,
                             std::string source) {
  const Message& request = tx.request();
  const std::string tag = dialog != nullptr ? dialog->id().local_tag : random_.tag();
  auto respond = [&](int status, std::string_view reason) {
    tx.respond(dialog != nullptr ? dialog->make_response(request, status, reason)
                                 : sip::make_response(request, status, reason, tag));
  };
  if (stopped_) {
    respond(503, "Service Unavailable");
    return;
  }

  // The room: that of the dialog's subscriptions, else the Request-URI's
  // user part (sip:<room>@host).
  std::string room = request.request_uri().user_decoded();
  if (has_control_character(room)) {
    respond(400, kBadRoomNameReason);
    return;
  }
  const std::string contact_room = room;
  // A sidebar's URI: its own document (README "Sidebars").
  if (const auto sidebar = request.request_uri().param("sidebar")) {
    // Canonical decimal ("01" is sidebar 1), so that the sidebar's publishes
    // and its end find the subscription; anything else names no sidebar.
    uint32_t id = 0;
    const auto [end, error] =
        std::from_chars(sidebar->data(), sidebar->data() + sidebar->size(), id);
    const bool number = error == std::errc() && end == sidebar->data() + sidebar->size();
    room = sidebar_key(room, number ? std::to_string(id) : std::string(*sidebar));
  }
  if (dialog != nullptr) {
    for (const auto& [token, s] : subscribers_) {
      if (s.dialog == dialog->id()) {
        room = s.room;
        break;
      }
    }
  }

  // Unknown or malformed Event headers are the Notifier's (400 / 489).
  std::optional<ConferenceState> state;
  std::string account;
  Operation authorised_for = Operation::kDialogSubscribe;
  const auto event_value = request.header("Event");
  const auto event = event_value ? sip::parse_event(*event_value) : std::nullopt;
  if (event && packages_.find(event->package) != nullptr) {
    state = state_of(room);
    if (!state) {
      respond(404, "No Such Conference");
      return;
    }
    const bool fresh = dialog == nullptr ||
                       sip::find_subscription(*dialog, event->package, event->id()) == nullptr;
    // The dialog package reveals Call-IDs and tags (enough to Join or
    // Replace a call): authorised supervisors only; the messages themselves
    // (message/sip) to moderators.
    const sip::EventPackage* package = packages_.find(event->package);
    const Operation operation = sip::negotiate_notify_type(*package, request) == kMessageType
                                    ? Operation::kDialogMessages
                                    : Operation::kDialogSubscribe;
    if (event->package == kDialogPackage && fresh) {
      std::optional<std::string> user = authorize_ ? authorize_(tx, operation) : std::nullopt;
      if (!user) {
        if (!authorize_) respond(403, "Forbidden");
        return;
      }
      account = std::move(*user);
      authorised_for = operation;
    }
  }

  sip::Notifier notifier(packages_, random_, contact_for(contact_room, tx.source().transport));
  const sip::TimePoint now = stack_.timers().now();
  creating_state_ = state ? &*state : nullptr;
  created_.reset();
  sip::SubscribeOutcome outcome = dialog != nullptr ? notifier.on_subscribe(*dialog, request, now)
                                                    : notifier.on_subscribe(dialogs_, request, now);
  creating_state_ = nullptr;
  tx.respond(std::move(outcome.response));
  if (outcome.subscription == nullptr || outcome.dialog == nullptr) return;

  Token token = 0;
  if (outcome.created) {
    Subscriber subscriber = created_ ? std::move(*created_) : Subscriber{};
    created_.reset();
    subscriber.subscription = outcome.subscription;
    subscriber.dialog = outcome.dialog->id();
    subscriber.room = room;
    subscriber.conference = outcome.subscription->event() == kConferencePackage;
    subscriber.source = std::move(source);
    subscriber.account = std::move(account);
    subscriber.operation = authorised_for;
    subscriber.relay = outcome.subscription->content_type() == kMessageType;
    if (subscriber.relay) {
      for (std::string_view type : request.header_values("Accept")) {
        type = type.substr(0, type.find(';'));
        while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
        subscriber.multipart = subscriber.multipart || sip::iequals(type, "multipart/mixed");
      }
    }
    ++per_source_[subscriber.source];
    token = next_token_++;
    const bool relay = subscriber.relay;
    subscribers_.emplace(token, std::move(subscriber));
    if (relay) relay_subscriber_added();
  } else {
    token = token_of(outcome.subscription);
  }
  if (token == 0) return;

  if (!outcome.notify) return;
  if (outcome.terminated) {
    // Unsubscribe or fetch (RFC 6665 §4.2.1.3, §4.4.3): the final NOTIFY
    // ends it; its answer changes nothing.
    stack_.send_request(std::move(*outcome.notify), [](const sip::ClientEvent&) {});
    remove(token);
    return;
  }
  send(token, std::move(*outcome.notify));
  arm_expiry(token);
}

sip::NotifyBody EventService::full_state(const sip::Subscription& subscription) {
  // message/sip has no state document: the first NOTIFY (and those after a
  // refresh) carry no body, the relayed messages follow (sip_relay.cpp).
  const bool relay = subscription.content_type() == kMessageType;
  if (const Token token = token_of(&subscription); token != 0) {
    if (relay) return {};
    Subscriber& s = subscribers_.at(token);
    const std::optional<ConferenceState> state = state_of(s.room);
    return document(s, state ? *state : s.known, /*full=*/true);
  }
  // The subscription the Notifier is creating right now.
  if (creating_state_ == nullptr) return {};
  // Assigned, not emplace()d: clang 14 does not see the nested aggregate as
  // default-constructible inside its enclosing class (the fuzz build).
  created_ = Subscriber{};
  created_->conference = subscription.event() == kConferencePackage;
  if (relay) return {};
  return document(*created_, *creating_state_, /*full=*/true);
}

sip::NotifyBody EventService::document(Subscriber& s, const ConferenceState& state, bool full,
                                       const ConferenceDiff* diff) {
  // RFC 4575 §4.6 / RFC 4235 §4.1: +1 for every document to this subscriber.
  ++s.version;
  sip::NotifyBody body;
  if (s.conference) {
    body.content_type = std::string(kConferenceInfoType);
    if (full) {
      if (last_full_ && last_full_->version == s.version && last_full_->state == state) {
        body.body = last_full_->body;
      } else {
        body.body = conference_info_full(state, s.version);
        last_full_ = FullDocument{state, s.version, body.body};
      }
    } else {
      body.body = conference_info_partial(
          s.known, state, diff != nullptr ? *diff : diff_conference(s.known, state), s.version);
    }
  } else {
    body.content_type = std::string(kDialogInfoType);
    body.body = dialog_info_full(state, s.version);
    s.known_dialogs = dialog_info_full(state, 0);
  }
  s.known = state;
  s.resync = false;
  s.dirty = false;
  return body;
}

void EventService::send(Token token, Message notify) {
  auto it = subscribers_.find(token);
  if (it == subscribers_.end()) return;
  it->second.in_flight = true;
  const sip::TransactionId id = stack_.send_request(
      std::move(notify), [this, alive = alive_, token](const sip::ClientEvent& event) {
        if (*alive) on_notify_result(token, event);
      });
  // No route to the subscriber's Contact: it can never be notified.
  if (id == 0) remove(token);
}

void EventService::on_notify_result(Token token, const sip::ClientEvent& event) {
  auto it = subscribers_.find(token);
  if (it == subscribers_.end()) return;
  Subscriber& s = it->second;
  if (event.kind != sip::ClientEvent::Kind::kResponse || event.response == nullptr) {
    // RFC 6665 §4.2.2: a NOTIFY that times out removes the subscription.
    remove(token);
    return;
  }
  const Message& response = *event.response;
  if (response.status() < 200) return;
  s.in_flight = false;
  sip::Dialog* dialog = dialogs_.find(s.dialog);
  if (dialog != nullptr) dialog->on_response(response);  // target refresh, 481/408
  if (dialog == nullptr || dialog->terminated() || s.subscription->on_notify_response(response)) {
    remove(token);  // 481 or another failure that ends it (§4.2.2)
    return;
  }
  if (response.status() >= 300) {
    // 491 / 500 / 503: the subscriber may have missed a version, so the
    // full state goes again a little later — a few times at most, then the
    // subscription is dropped, as after a 401/407 challenge we hold no
    // credentials for (RFC 6665 §4.2.2).
    const int status = response.status();
    if (status == 401 || status == 407 || ++s.failures > kMaxNotifyRetries) {
      remove(token);
      return;
    }
    s.resync = true;
    if (s.retry_timer == 0) {
      s.retry_timer = stack_.timers().start(config_.retry_delay, [this, alive = alive_, token] {
        if (!*alive) return;
        auto found = subscribers_.find(token);
        if (found == subscribers_.end()) return;
        found->second.retry_timer = 0;
        const auto state = state_of(found->second.room);
        update(token, state ? *state : found->second.known);
      });
    }
    return;
  }
  s.failures = 0;
  if (s.relay) {
    // The NOTIFY carried the first relay_sent messages: done with them.
    const size_t done = std::min(s.relay_sent, s.relay_queue.size());
    s.relay_queue.erase(s.relay_queue.begin(), s.relay_queue.begin() + static_cast<long>(done));
    s.relay_sent = 0;
    if (s.relay_queue.empty() && !s.ending.empty()) {
      end(token, std::string(s.ending), nullptr);
      return;
    }
    flush_relay(token);
    return;
  }
  if (s.dirty) {
    s.dirty = false;
    if (const auto state = state_of(s.room)) update(token, *state);
  }
}

void EventService::update(Token token, const ConferenceState& state) {
  auto it = subscribers_.find(token);
  if (it == subscribers_.end()) return;
  Subscriber& s = it->second;
  if (s.relay) {
    flush_relay(token);  // no state document: the queued messages, if any
    return;
  }
  if (s.in_flight) {
    s.dirty = true;  // coalesced into the NOTIFY after this one is answered
    return;
  }
  sip::Dialog* dialog = dialogs_.find(s.dialog);
  if (dialog == nullptr || s.subscription->terminated()) {
    remove(token);
    return;
  }
  bool full = s.resync;
  std::optional<ConferenceDiff> diff;
  if (s.conference && !full) {
    diff = diff_conference(s.known, state);
    if (diff->empty()) return;
    full = diff->full_required;  // the last sidebar went: only a full document says so
  }
  if (!s.conference) {
    if (!full && dialog_info_full(state, 0) == s.known_dialogs) return;
    full = true;
  }
  const sip::NotifyBody body = document(s, state, full, diff ? &*diff : nullptr);
  send(token, s.subscription->make_notify(*dialog, stack_.timers().now(), body));
}

void EventService::publish(std::string_view room) {
  // The room's state is built only when someone watches it: joins and
  // leaves in unwatched rooms (the common case) cost nothing here. Its
  // sidebars' subscribers (keys "room<sep>id") get their own documents.
  const bool sidebar = room.find(kSidebarKeySeparator) != std::string_view::npos;
  const std::string prefix = sidebar_key(room, {});
  std::vector<std::pair<std::string, Token>> watchers;
  for (const auto& [token, s] : subscribers_) {
    if (s.room == room || (!sidebar && s.room.starts_with(prefix)))
      watchers.emplace_back(s.room, token);
  }
  std::sort(watchers.begin(), watchers.end());
  std::optional<ConferenceState> state;
  for (size_t i = 0; i < watchers.size(); ++i) {
    if (i == 0 || watchers[i].first != watchers[i - 1].first) state = state_of(watchers[i].first);
    if (state) update(watchers[i].second, *state);
  }
}

void EventService::publish_talkers(std::string_view room) {
  RoomTalkers& talkers = talkers_[std::string(room)];
  if (talkers.pending != 0) return;  // a publish is already due
  const sip::TimePoint now = stack_.timers().now();
  if (!talkers.published || now - talkers.last_publish >= config_.talker_interval) {
    talkers.published = true;
    talkers.last_publish = now;
    publish(room);
    return;
  }
  const auto wait = std::chrono::duration_cast<sip::Duration>(talkers.last_publish +
                                                              config_.talker_interval - now);
  talkers.pending = stack_.timers().start(wait, [this, alive = alive_, name = std::string(room)] {
    if (!*alive) return;
    auto it = talkers_.find(name);
    if (it == talkers_.end()) return;
    it->second.pending = 0;
    it->second.last_publish = stack_.timers().now();
    publish(name);
  });
}

void EventService::room_ended(std::string_view room) {
  if (auto it = talkers_.find(std::string(room)); it != talkers_.end()) {
    if (it->second.pending != 0) stack_.timers().cancel(it->second.pending);
    talkers_.erase(it);
  }
  // The room's sidebars end with it.
  const std::string sidebars = sidebar_key(room, {});
  std::vector<Token> tokens;
  for (const auto& [token, s] : subscribers_) {
    if (s.room == room || s.room.starts_with(sidebars)) tokens.push_back(token);
  }
  for (Token token : tokens) {
    auto it = subscribers_.find(token);
    if (it == subscribers_.end()) continue;
    // The last document: the room without anyone in it.
    ConferenceState gone = it->second.known;
    gone.members.clear();
    end(token, "noresource", &gone);
  }
}

void EventService::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [room, talkers] : talkers_) {
    if (talkers.pending != 0) stack_.timers().cancel(talkers.pending);
  }
  talkers_.clear();
  std::vector<Token> tokens;
  for (const auto& [token, s] : subscribers_) tokens.push_back(token);
  // RFC 6665 §4.2.2 "deactivated": the subscriber may subscribe again
  // right away (to another node).
  for (Token token : tokens) end(token, "deactivated", nullptr);
}

size_t EventService::revoke(const RightCheck& still_holds) {
  std::vector<Token> revoked;
  for (const auto& [token, s] : subscribers_) {
    if (!s.account.empty() && !still_holds(s.account, s.operation)) revoked.push_back(token);
  }
  for (const Token token : revoked) {
    subscribers_.at(token).relay_queue.clear();  // nothing more of what it may no longer see
    end(token, "rejected", nullptr);
  }
  return revoked.size();
}

void EventService::end(Token token, std::string_view reason, const ConferenceState* last) {
  auto it = subscribers_.find(token);
  if (it == subscribers_.end()) return;
  Subscriber& s = it->second;
  if (s.relay && reason == "noresource" && !s.relay_queue.empty() && !stopped_) {
    // The room's last messages (the 200 to its last BYE) still go out,
    // in order, before the subscription ends (flush_relay's last NOTIFY).
    s.ending = std::string(reason);
    flush_relay(token);
    return;
  }
  sip::Dialog* dialog = dialogs_.find(s.dialog);
  if (dialog != nullptr && !s.subscription->terminated()) {
    const sip::NotifyBody body =
        last != nullptr && !s.relay ? document(s, *last, true) : sip::NotifyBody{};
    stack_.send_request(s.subscription->make_final_notify(*dialog, reason, body),
                        [](const sip::ClientEvent&) {});
  }
  remove(token);
}

void EventService::arm_expiry(Token token) {
  auto it = subscribers_.find(token);
  if (it == subscribers_.end()) return;
  Subscriber& s = it->second;
  if (s.expiry_timer != 0) stack_.timers().cancel(s.expiry_timer);
  const sip::TimePoint now = stack_.timers().now();
  const sip::TimePoint at = s.subscription->expires_at();
  const auto wait = at > now ? std::chrono::ceil<sip::Duration>(at - now) : sip::Duration(0);
  s.expiry_timer = stack_.timers().start(wait, [this, alive = alive_, token] {
    if (*alive) on_expiry(token);
  });
}

void EventService::on_expiry(Token token) {
  auto it = subscribers_.find(token);
  if (it == subscribers_.end()) return;
  it->second.expiry_timer = 0;
  if (stack_.timers().now() < it->second.subscription->expires_at()) {
    arm_expiry(token);  // refreshed meanwhile
    return;
  }
  // RFC 6665 §4.2.2: expiry ends it with a final NOTIFY, reason=timeout.
  const std::optional<ConferenceState> state = state_of(it->second.room);
  end(token, "timeout", state ? &*state : &it->second.known);
}

void EventService::remove(Token token) {
  auto it = subscribers_.find(token);
  if (it != subscribers_.end()) {
    Subscriber& s = it->second;
    if (s.expiry_timer != 0) stack_.timers().cancel(s.expiry_timer);
    if (s.retry_timer != 0) stack_.timers().cancel(s.retry_timer);
    if (!s.subscription->terminated()) s.subscription->terminate();
    erase_subscriber(token);
  }
  // Entries whose subscription ended another way (its dialog got a 481)
  // go before collect_garbage() frees the Subscription objects.
  std::vector<Token> ended;
  for (const auto& [t, s] : subscribers_) {
    const sip::Dialog* dialog = dialogs_.find(s.dialog);
    if (dialog == nullptr || dialog->terminated() || s.subscription->terminated()) {
      ended.push_back(t);
    }
  }
  for (Token t : ended) {
    Subscriber& s = subscribers_.at(t);
    if (s.expiry_timer != 0) stack_.timers().cancel(s.expiry_timer);
    if (s.retry_timer != 0) stack_.timers().cancel(s.retry_timer);
    erase_subscriber(t);
  }
  dialogs_.collect_garbage();
}

}  // namespace chorus::focus
