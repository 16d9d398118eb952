#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "focus/events/conference_info.hpp"
#include "focus/events/conference_state.hpp"
#include "focus/events/relay_binding.hpp"
#include "focus/privileges.hpp"
#include "signaling/dialog/dialog_random.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/stack.hpp"
#include "signaling/usage/event_package.hpp"
#include "signaling/usage/subscription.hpp"

namespace chorus::focus {

// The notifier side of the focus's two event packages (RFC 6665 §4.2) for
// subscriptions to a conference URI sip:<room>@host:
//   Event: conference  RFC 4575 conference-info+xml: the full state on
//                      subscribe and refresh, partial documents (version +1
//                      per NOTIFY to that subscriber, §4.6) on each change;
//   Event: dialog      RFC 4235 dialog-info+xml, full state every time, for
//                      subscribers allowed Operation::kDialogSubscribe.
//   Event: dialog      with Accept: message/sip (and no dialog-info+xml
//                      before it), for subscribers allowed
//                      Operation::kDialogMessages: the SIP messages
//                      themselves (the remote-call-control draft), see
//                      bind_call().
// Subscriptions live in their own dialogs, kept here (not in the Server's
// DialogSet). One NOTIFY per subscription is outstanding at a time; changes
// meanwhile are coalesced into the next one (RFC 6665 §4.2.2 rate control).
// Runs on the Stack's io_context thread; not thread-safe.
//
// The Server's part:
//   - before matching an in-dialog request against its own dialogs, call
//     handle_in_dialog(tx); true means it was ours and is answered;
//   - route an out-of-dialog SUBSCRIBE to on_subscribe(tx);
//   - call publish(room) after any change of a room's ConferenceState (join,
//     leave, role, mute, hold, dialog confirmed, ...), publish_talkers(room)
//     when only the talkers changed (rate-limited), room_ended(room) when the
//     room is gone, stop() before stopping the Stack;
//   - advertise allow_events() in Allow-Events.
// The room key of a sidebar's subscribers (README "Sidebars": SUBSCRIBE to
// sip:<room>@host;sidebar=<id>): the room, a unit separator, the parameter.
inline constexpr char kSidebarKeySeparator = '\x1f';
inline std::string sidebar_key(std::string_view room, std::string_view sidebar) {
  std::string key(room);
  key += kSidebarKeySeparator;
  key += sidebar;
  return key;
}

// A room name as it comes from the network (a Request-URI's decoded user
// part, an admin request) with a control character (below 0x20, or 0x7f):
// refused wherever one enters, since "sales\x1f1" would be the key of
// sidebar 1 of "sales" above, and such bytes have no place in logs and
// documents either.
inline bool has_control_character(std::string_view name) {
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}
inline constexpr std::string_view kBadRoomNameReason = "Bad Room Name: control character";

class EventService {
 public:
  // The room's current state, nullopt for a room that does not exist (404).
  using StateSource = std::function<std::optional<ConferenceState>(std::string_view room)>;
  // Digest authorization of `operation` (focus/privileges.hpp) for the
  // request: the account holding its right; when it returns nullopt it has
  // answered the transaction itself (401 challenge / 403).
  using Authorizer =
      std::function<std::optional<std::string>(const sip::ServerTransaction&, Operation operation)>;
  // Whether `account` still holds `operation`'s right (after a reload).
  using RightCheck = std::function<bool(std::string_view account, Operation operation)>;

  struct Config {
    uint32_t default_expires = 3600;  // RFC 6665 §4.2.1.1 / RFC 4575 §3.7
    uint32_t min_expires = 60;        // below → 423 Interval Too Brief
    uint32_t max_expires = 86400;     // above → granted this
    // publish_talkers() sends at most one NOTIFY round per room per interval.
    std::chrono::milliseconds talker_interval{1000};
    // A NOTIFY refused with a retryable status (491/500/503) is retried with
    // the full state after this delay (three times; then, as after a 401/
    // 407 we cannot answer, the subscription is dropped).
    std::chrono::milliseconds retry_delay{2000};
    // message/sip subscriptions: messages waiting for one subscriber (its
    // NOTIFY in flight) before the subscription is ended as too slow, and
    // messages per NOTIFY when it accepts multipart/mixed.
    size_t relay_queue_limit = 64;
    size_t relay_batch = 8;
    // How long an ended call's messages are still relayed (the answer to
    // its last BYE).
    std::chrono::milliseconds relay_linger{4000};
  };

  EventService(sip::Stack& stack, sip::DialogRandom& random, StateSource state,
               Authorizer authorize);
  EventService(sip::Stack& stack, sip::DialogRandom& random, StateSource state,
               Authorizer authorize, Config config);
  // Destroy before the Stack (NOTIFYs and timers left in it find us gone).
  ~EventService();
  EventService(const EventService&) = delete;
  EventService& operator=(const EventService&) = delete;

  // An out-of-dialog SUBSCRIBE to sip:<room>@host: 200 + NOTIFY with the
  // full state, 404 for an unknown room, 489 (with Allow-Events) for another
  // package, 423 + Min-Expires below min_expires, 400 / 406 for a bad
  // request; for the dialog package 401/403 through the Authorizer.
  // `source` (the requester's address, for per-source caps) is kept with the
  // subscription it creates.
  void on_subscribe(const sip::ServerTransaction& tx, std::string source = {});
  // Whether the in-dialog request belongs to one of our subscription
  // dialogs; if so it is answered: SUBSCRIBE refreshes or unsubscribes
  // (Expires: 0 → final NOTIFY), or subscribes to the other package in the
  // same dialog; OPTIONS 200; BYE / PRACK 481; any other method 405.
  // `source`: the requester's address, kept with a subscription the
  // SUBSCRIBE adds, as on_subscribe's. `screen` (may be empty) is asked
  // before any SUBSCRIBE touches the dialog (its remote target included),
  // with `creates` true when it would add a subscription of a package we
  // serve: true means refused and answered (the Server's caps and
  // reflection check, which apply in a dialog as out of one). A dialog
  // holds at most kMaxSubscriptionsPerDialog live subscriptions; one more
  // is 403.
  using SubscribeScreen =
      std::function<bool(const sip::ServerTransaction&, bool creates, const sip::Dialog&)>;
  static constexpr size_t kMaxSubscriptionsPerDialog = 4;
  bool handle_in_dialog(const sip::ServerTransaction& tx, std::string source = {},
                        const SubscribeScreen& screen = {});

  // The accounts changed (a reload): every dialog-package subscription
  // whose account no longer holds the right it was authorised with ends
  // (final NOTIFY, `terminated;reason=rejected`, RFC 6665 §4.1.3: the
  // authorisation policy changed), so a removed or demoted account keeps
  // no view of anyone's dialogs or messages. Returns how many ended.
  size_t revoke(const RightCheck& still_holds);

  // The room's state changed: each conference subscriber gets a partial
  // NOTIFY with what changed since its last document (nothing if nothing
  // it sees changed), each dialog subscriber the full dialog state if it
  // changed.
  // A room's publish reaches its sidebars' subscribers too (each its own
  // document: a talker or member change of the room shows there).
  void publish(std::string_view room);
  // Only the talkers changed: publish(room) at most once per
  // Config::talker_interval; changes within the interval go out together
  // when it ends.
  void publish_talkers(std::string_view room);
  // The room is gone: final NOTIFY "terminated;reason=noresource" (RFC 6665
  // §4.2.2) to every subscriber of the room.
  void room_ended(std::string_view room);
  // Shutdown: final NOTIFY "terminated;reason=deactivated" to everyone;
  // later SUBSCRIBEs get 503.
  void stop();

  // message/sip relay: the messages of call `call_id` (INVITE, ACK, BYE,
  // CANCEL, UPDATE, PRACK and their responses, both ways, as the Stack's
  // message tap shows them) belong to `room` while the returned binding
  // lives, and a little after (Config::relay_linger). `first` is relayed
  // at once: the request that created the call, which the tap showed
  // before anyone knew its room.
  RelayBinding bind_call(const std::string& call_id, const std::string& room,
                         const sip::Message* first = nullptr);
  // What a message/sip NOTIFY carries of `message`: the message with
  // Authorization and Proxy-Authorization removed and the SDP key lines
  // (a=crypto, a=key-mgmt, k=) taken out of its body.
  static std::string relayed_text(const sip::Message& message);
  // message/sip subscriptions ended because their queue overflowed.
  uint64_t relay_overflows() const { return relay_overflows_; }
  size_t relay_subscriber_count() const { return relay_subscribers_; }

  // "conference, dialog" — the Allow-Events value (RFC 6665 §8.2.2).
  std::string allow_events() const { return packages_.allow_events(); }
  size_t subscription_count() const { return subscribers_.size(); }
  // The room whose message/sip watchers see the call `call_id` ("" when
  // the call is bound to none).
  std::string relay_room(const std::string& call_id) const {
    const auto it = bound_calls_.find(call_id);
    return it == bound_calls_.end() ? std::string() : it->second.room;
  }
  // Subscriptions created by requests from `source` (the key the caller
  // counts sources under, AbuseGuard::count_key, given to on_subscribe too).
  size_t subscriptions_from(const std::string& source) const {
    const auto it = per_source_.find(source);
    return it == per_source_.end() ? 0 : it->second;
  }
  size_t subscription_count(std::string_view room) const;

 private:
  struct Subscriber {
    sip::Subscription* subscription = nullptr;  // valid while this entry exists
    sip::DialogId dialog;
    std::string room;
    bool conference = true;  // else the dialog package
    uint32_t version = 0;    // of the last document sent
    // What the subscriber was last sent: the base of the next partial
    // (conference) or what the next full state must differ from (dialog).
    ConferenceState known;
    std::string known_dialogs;  // dialog package: the last document at version 0
    bool in_flight = false;     // a NOTIFY awaits its final response
    bool dirty = false;         // the room changed while it was in flight
    bool resync = false;        // the next NOTIFY carries the full state
    uint32_t failures = 0;      // consecutive retryable NOTIFY failures
    sip::TimerId expiry_timer = 0;
    sip::TimerId retry_timer = 0;
    std::string source;  // who created it, as counted (per-source caps)
    // The dialog package: the account that was authorised, and for what.
    std::string account;
    Operation operation = Operation::kDialogSubscribe;
    // message/sip: relayed messages not yet acknowledged (the first
    // `relay_sent` of them are in the NOTIFY in flight), in order.
    bool relay = false;
    bool multipart = false;  // Accept lists multipart/mixed
    std::deque<std::string> relay_queue;
    size_t relay_sent = 0;
    // The room ended while messages were queued: they go first, then the
    // final NOTIFY with this reason.
    std::string ending;
  };
  struct BoundCall {
    std::string room;
    size_t bindings = 0;  // calls that claimed this Call-ID (duplicates)
  };
  struct RoomTalkers {
    bool published = false;
    sip::TimePoint last_publish{};
    sip::TimerId pending = 0;
  };
  using Token = uint64_t;

  void subscribe(const sip::ServerTransaction& tx, sip::Dialog* dialog, std::string source = {});
  void erase_subscriber(Token token);
  // EventPackage::full_state: the document for a NOTIFY the Notifier builds.
  sip::NotifyBody full_state(const sip::Subscription& subscription);
  // The next document (version +1): full, or partial since `known` (with
  // `diff` if already computed).
  sip::NotifyBody document(Subscriber& subscriber, const ConferenceState& state, bool full,
                           const ConferenceDiff* diff = nullptr);
  void send(Token token, sip::Message notify);
  void on_notify_result(Token token, const sip::ClientEvent& event);
  // Sends the change since the subscriber's last document, if any.
  void update(Token token, const ConferenceState& state);
  // The final NOTIFY ("terminated;reason=…"), with `last` as its document
  // (none if null), then remove().
  void end(Token token, std::string_view reason, const ConferenceState* last);
  void arm_expiry(Token token);
  void on_expiry(Token token);
  // Forgets a subscription (terminated, or given up) and collects its dialog.
  void remove(Token token);
  Token token_of(const sip::Subscription* subscription) const;
  std::optional<ConferenceState> state_of(std::string_view room) const;
  std::string contact_for(std::string_view room, sip::TransportKind transport) const;
  // message/sip relay (events/sip_relay.cpp).
  void on_tapped(const sip::Message& message);
  void relay_to_room(const std::string& room, const sip::Message& message);
  void release_call(const std::string& call_id);
  // Sends the next batch of the subscriber's relay queue if none is in flight.
  void flush_relay(Token token);
  void relay_subscriber_added();
  void relay_subscriber_removed();
  bool room_has_relay(std::string_view room) const;

  sip::Stack& stack_;
  sip::DialogRandom& random_;
  StateSource state_;
  Authorizer authorize_;
  Config config_;
  sip::EventPackageRegistry packages_;
  sip::DialogSet dialogs_;
  std::unordered_map<Token, Subscriber> subscribers_;
  std::unordered_map<std::string, size_t> per_source_;  // bounded by subscribers_
  std::unordered_map<std::string, RoomTalkers> talkers_;
  // Call-ID → room for the message/sip relay; one entry per live call (plus
  // those lingering for relay_linger), so bounded by the calls.
  std::unordered_map<std::string, BoundCall> bound_calls_;
  size_t relay_subscribers_ = 0;
  bool tap_installed_ = false;  // the Stack's message tap calls on_tapped
  uint64_t relay_overflows_ = 0;
  Token next_token_ = 1;
  // While the Notifier creates a subscription: its room and its document.
  const ConferenceState* creating_state_ = nullptr;
  std::optional<Subscriber> created_;
  // The last full conference document built, for the state and version it
  // was built for: a burst of new subscribers to one room (each starts at
  // version 1) shares one build instead of one per SUBSCRIBE, which held
  // the signalling thread for hundreds of ms when a flood's 50 allowed
  // subscriptions arrived at once. One entry: bounded by one room's state.
  struct FullDocument {
    ConferenceState state;
    uint32_t version = 0;
    std::string body;
  };
  std::optional<FullDocument> last_full_;
  bool stopped_ = false;
  // Callbacks the Stack or the timers run after we are gone do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace chorus::focus
