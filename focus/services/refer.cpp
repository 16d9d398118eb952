// REFER to the conference URI (RFC 3515, RFC 4579 §5.5): dial-out with
// sipfrag progress, removal (method=BYE), the RFC 5359 music-on-hold and
// park flows (Refer-To with Replaces), and action URNs with Target-Dialog
// (RFC 4538). Dial-out INVITEs carry no offer: the callee's 2xx offers and
// our ACK answers (RFC 3261 §13.2.1), so the mixer stream is built for the
// codec the callee picked.

#include <algorithm>
#include <array>
#include <cctype>

#include <spdlog/spdlog.h>

#include "focus/events/event_service.hpp"
#include "focus/ops/log.hpp"
#include "focus/rooms/admission.hpp"
#include "focus/rooms/media_setup.hpp"
#include "signaling/message/header_dialog_ref.hpp"
#include "signaling/message/header_refer.hpp"
#include "signaling/message/method.hpp"
#include "signaling/message/uri.hpp"
#include "signaling/usage/refer.hpp"

namespace chorus::focus {

using sip::Message;
using sip::Method;

namespace {

// The headers a Refer-To URI may set in the INVITE it causes (RFC 3261
// §19.1.5 leaves "dangerous" headers to the UA's judgement). An allowlist,
// not a blocklist: the names an INVITE must never take from a third party
// (From, To, Call-ID, Via, Route, P-Asserted-Identity, ...) include compact
// forms and headers nobody listed, and every one of them forges the dialog,
// the transport or an identity. These carry only the caller's wish about
// how the callee's phone rings (paging, RFC 5373; RFC 3261 §20) or, for
// the RFC 5359 services, the dialog to replace (RFC 3891).
constexpr std::array<std::string_view, 6> kEmbeddable = {
    "Replaces", "Subject", "Priority", "Answer-Mode", "Priv-Answer-Mode", "Alert-Info"};

}  // namespace

std::string_view embedded_header_fault(std::string_view name, std::string_view value) {
  // Compared as RFC 3261 §25.1 tokens: a decoded "Route " or "Subject\r\n"
  // is no name, whatever an iequals would make of it.
  const bool allowed = sip::is_token(name) &&
                       std::any_of(kEmbeddable.begin(), kEmbeddable.end(),
                                   [&](std::string_view ok) { return sip::iequals(name, ok); });
  if (!allowed) return kHeaderNotAllowedInReferTo;
  // The value is percent-decoded: a CR or LF in it would end the header
  // line and start another (over TCP, another request) past every check
  // above. HTAB is the only control a header value may hold (§25.1).
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return kControlCharacterInReferToHeader;
  }
  return {};
}

void Server::handle_refer(const sip::ServerTransaction& tx, sip::Dialog* dialog) {
  const Message& request = tx.request();
  const std::string local_tag = dialog != nullptr ? dialog->id().local_tag : random_.tag();
  if (std::optional<Message> bad = sip::check_refer(request, local_tag)) {
    tx.respond(std::move(*bad));  // RFC 3515 §2.4.1: one parsable Refer-To
    return;
  }
  const auto refer_to = sip::parse_refer_to(*request.header("Refer-To"));
  // Which room: the dialog's, or the Request-URI's user part.
  std::string room;
  if (dialog != nullptr) {
    if (const Call* call = rooms_.find_call(dialog->id())) room = call->room();
  }
  if (room.empty()) room = request.request_uri().user_decoded();
  if (room.empty()) {
    tx.respond(404, "Missing Conference Name", local_tag);
    return;
  }
  if (has_control_character(room)) {
    tx.respond(400, std::string(kBadRoomNameReason), local_tag);
    return;
  }

  if (handle_sidebar_urn(tx, dialog, room, refer_to->target.uri)) return;
  if (handle_record_urn(tx, dialog, room, refer_to->target.uri)) return;
  if (refer_to->is_action_urn()) {
    handle_action_urn(tx, dialog, refer_to->action(), room);
    return;
  }
  const sip::Uri& target = refer_to->target.uri;
  if (!target.is_sip()) {
    tx.respond(416, "Unsupported URI Scheme in Refer-To", local_tag);
    return;
  }

  if (sip::iequals(refer_to->method(), "BYE")) {
    // RFC 4579 §5.8 / RFC 5850 §6: remove a member. Authorised first, so a
    // stranger learns nothing of who is in the room.
    if (!authorize(tx, Operation::kReferBye)) return;
    const std::optional<NamedCall> named = member_to_remove(tx, room, target);
    if (!named) return;  // answered
    const std::optional<std::optional<Referral>> accepted = accept_referral(tx, dialog, room);
    if (!accepted) return;
    const std::optional<Referral>& referral = *accepted;
    if (named->member != nullptr) {
      end_call(sip::DialogId(named->member->id()), /*send_bye=*/true);
    } else {
      cancel_dial_out(*named->ringing);  // nothing above touched dialing_
    }
    if (referral) notify_referrer(*referral, 200, "OK");
    return;
  }
  if (!sip::iequals(refer_to->method(), "INVITE")) {
    tx.respond(400, reason_text("Unsupported Refer-To method", refer_to->method()), local_tag);
    return;
  }

  // Every embedded header goes into the INVITE as it is, or the REFER is
  // refused (before any digest work): dropping one silently would still
  // place a call, just not the one the referrer asked for.
  std::vector<std::pair<std::string, std::string>> embedded = target.headers();
  for (const auto& [name, value] : embedded) {
    if (const std::string_view fault = embedded_header_fault(name, value); !fault.empty()) {
      spdlog::info("REFER from {} refused: embedded header {:?} in Refer-To: {}",
                   tx.source().to_string(), name, fault);
      tx.respond(400, std::string(fault), local_tag);
      return;
    }
  }

  // A call the focus places is a call as much as one it answers: past the
  // overload budget none is placed, as no INVITE is taken (RFC 3261
  // §21.5.4: 503 with Retry-After).
  if (refuse_overload(tx)) return;

  // Dial-out: the focus will INVITE the Refer-To target, so the referrer
  // needs an account with the right and a dial-out pattern covering the
  // target (toll fraud otherwise). With Replaces to the music-on-hold or
  // park service (RFC 5359) the embedded Replaces names the referrer's own
  // dialog with the target, which the focus cannot check: a callee that
  // ignores Replaces would simply ring. So the services need the park
  // right too, unless the REFER comes from a configured trusted source.
  const bool replaces = refer_to->replaces().has_value();
  const bool service = is_service_room(room);
  const std::string target_text = sip::request_target(target);
  std::string account;
  if (service && replaces && trusted_service_source(tx)) {
    spdlog::info("{} to {} from trusted source {}", privilege(Operation::kReferService).name,
                 target_text, tx.source().to_string());
  } else {
    const std::optional<std::string> user = authorize_dial(
        tx, service && replaces ? Operation::kReferService : Operation::kReferDialOut,
        target_text);
    if (!user) return;
    account = *user;
  }
  // It counts against the referrer's call cap as the referrer's own INVITE
  // would (the account when one authenticated, else the source address),
  // from its INVITE until its call ends: REFERs are no way round the cap.
  const std::string limit_key =
      account.empty() ? guard_.count_key(source_of(tx)) : "account:" + account;
  if (!guard_.may_add_call(limit_key)) {
    reply_limited(tx, "Too Many Calls From This Source", 5);
    return;
  }
  // An INVITE toward someone other than the referrer (or toward a UDP
  // referrer, who may be spoofed): rate-limited.
  if (refuse_reflection(tx, first_hop_host({}, target))) return;
  std::optional<std::optional<Referral>> accepted = accept_referral(tx, dialog, room);
  if (!accepted) return;
  DialOut out;
  out.referral = *accepted;
  out.room = room;
  out.target = target_text;
  out.account = std::move(account);
  out.source = source_of(tx);
  out.source_proven = source_proven(tx);
  out.limit_key = limit_key;
  out.headers = std::move(embedded);
  // RFC 3892: the INVITE says who asked for it.
  if (const auto by = request.header("Referred-By")) {
    out.referred_by = std::string(*by);
  } else {
    out.referred_by = "<" + request.from().uri.to_string() + ">";
  }
  out.hidden = false;
  out.hold = service ? mixer::HoldMode::kMusic : mixer::HoldMode::kNone;
  // Each parked call waits in a room of its own (park/<n>) so that its
  // retrieval can join it there.
  if (room == options_.park_user)
    out.room = options_.park_user + "/" + std::to_string(++last_park_);
  start_dial_out(std::move(out));
}

std::optional<Server::NamedCall> Server::resolve_target_dialog(std::string_view value) {
  const auto parsed = sip::parse_target_dialog(value);
  if (!parsed) return std::nullopt;
  // RFC 4538 §4: local/remote as the sender sees them; the sender may be the
  // member itself or a moderator holding the ids (the dialog package shows
  // the focus's view), so both readings are tried.
  return find_by_ids(parsed->call_id, parsed->local_tag, parsed->remote_tag);
}

Server::NamedCall Server::find_by_ids(std::string_view call_id, std::string_view tag_a,
                                      std::string_view tag_b) {
  NamedCall out;
  for (const auto& [ours, theirs] : {std::pair{tag_a, tag_b}, std::pair{tag_b, tag_a}}) {
    if (out.member == nullptr && !ours.empty() && !theirs.empty()) {
      out.member = rooms_.find_call(
          sip::DialogId{std::string(call_id), std::string(ours), std::string(theirs)});
    }
  }
  // A dial-out of ours still ringing (its early dialog, or no remote tag
  // while only 100 Trying has come back).
  if (out.member == nullptr) out.ringing = find_ringing(call_id, tag_a, tag_b);
  return out;
}

std::optional<Server::NamedCall> Server::member_to_remove(const sip::ServerTransaction& tx,
                                                          std::string_view room,
                                                          const sip::Uri& target) {
  const Message& request = tx.request();
  const std::string local_tag = random_.tag();
  const auto in_room = [&](const NamedCall& named) {
    const Call* call = named.member != nullptr ? named.member : named.ringing;
    return call != nullptr && !call->roster.hidden && call->room() == room;
  };
  // 1. Target-Dialog (RFC 4538) names the member's dialog with the focus.
  if (const auto value = request.header("Target-Dialog")) {
    const std::optional<NamedCall> named = resolve_target_dialog(*value);
    if (!named) {
      tx.respond(400, "Bad Target-Dialog", local_tag);
      return std::nullopt;
    }
    if (!in_room(*named)) {
      tx.respond(481, "Target Dialog Does Not Exist", local_tag);
      return std::nullopt;
    }
    return named;
  }
  // 2. The BYE's own Call-ID, From and To embedded in the Refer-To URI
  //    (RFC 3261 §19.1.1 headers): the member's dialog, either tag order.
  std::string call_id, from_tag, to_tag;
  for (const auto& [name, value] : target.headers()) {
    const auto tag_of = [&](std::string_view header) {
      const auto parsed = sip::parse_name_addr(header);
      return parsed ? std::string(parsed->tag()) : std::string();
    };
    if (sip::iequals(name, "Call-ID") || sip::iequals(name, "i")) call_id = value;
    if (sip::iequals(name, "From") || sip::iequals(name, "f")) from_tag = tag_of(value);
    if (sip::iequals(name, "To") || sip::iequals(name, "t")) to_tag = tag_of(value);
  }
  if (!call_id.empty()) {
    const NamedCall named = find_by_ids(call_id, from_tag, to_tag);
    if (!in_room(named)) {
      tx.respond(481, "Named Dialog Does Not Exist", local_tag);
      return std::nullopt;
    }
    return named;
  }
  // 3. The URI: the member's AOR or its Contact. Two members may share an
  //    AOR (anonymous callers, one user on two phones): a URI that matches
  //    more than one is refused, never guessed.
  const std::string wanted = sip::request_target(target);
  const auto matches = [&](const Call& call, bool by_contact) {
    const auto entity = sip::parse_uri(call.roster.entity);
    if ((entity && sip::uri_equivalent(*entity, target)) || call.roster.entity == wanted) {
      return true;
    }
    if (!by_contact) return false;
    const sip::Dialog* member_dialog = dialogs_.find(call.id());
    const auto contact =
        member_dialog != nullptr ? sip::parse_uri(member_dialog->remote_target()) : std::nullopt;
    return contact && sip::uri_equivalent(*contact, target);
  };
  NamedCall named;
  size_t found = 0;
  const Room* in = rooms_.find(room);
  for (Call* call : in != nullptr ? in->calls() : std::vector<Call*>{}) {
    if (call->roster.hidden || !matches(*call, /*by_contact=*/true)) continue;
    named.member = call;
    ++found;
  }
  // A dial-out still ringing to that URI is stopped with CANCEL instead.
  if (found == 0) {
    for (Call* call : ringing_in(room)) {
      if (!matches(*call, /*by_contact=*/false)) continue;
      named.ringing = call;
      ++found;
    }
  }
  if (found == 0) {
    tx.respond(404, "No Such Member", local_tag);
    return std::nullopt;
  }
  if (found > 1) {
    tx.respond(485, "Ambiguous: several members match; name one by Target-Dialog", local_tag);
    return std::nullopt;
  }
  return named;
}

// What an action URN does (declared in server.hpp for Server::run_action).
enum class ActionKind : uint8_t {
  kMute,
  kUnmute,
  kHold,
  kUnhold,
  kTerminate,
  kRemove,
  kAdd,
  kAnswer,
  kDecline,
  kIgnore,
  kSendVm
};

namespace {

// The action URNs we act on (RFC 4579 §5.5 style REFER with Target-Dialog):
// one row per action, naming its operation (and so its one right,
// focus/privileges.hpp) and what it does. A name is normalised once
// (normalise_action) and looked up here; the handler that runs is the
// row's, so a name can never reach an action it was not authorised for.
struct Action {
  std::string_view name;
  Operation operation;
  ActionKind kind;
};
constexpr std::array<Action, 11> kActions = {{
    {"call:mute", Operation::kActionMute, ActionKind::kMute},
    {"call:unmute", Operation::kActionUnmute, ActionKind::kUnmute},
    {"call:hold", Operation::kActionHold, ActionKind::kHold},
    {"call:unhold", Operation::kActionUnhold, ActionKind::kUnhold},
    {"call:terminate", Operation::kActionTerminate, ActionKind::kTerminate},
    {"conference:remove", Operation::kActionRemove, ActionKind::kRemove},
    {"conference:add", Operation::kActionAdd, ActionKind::kAdd},
    // A caller in the waiting room: let in, or refused 603.
    {"call:answer", Operation::kActionAnswer, ActionKind::kAnswer},
    {"call:decline", Operation::kActionDecline, ActionKind::kDecline},
    // Left to wait out its time, off the conference package.
    {"call:ignore", Operation::kActionIgnore, ActionKind::kIgnore},
    // To conference.voicemail_uri: a waiting caller by 302, a member by REFER.
    {"call:sendvm", Operation::kActionSendVm, ActionKind::kSendVm},
}};

const Action* find_action(std::string_view name) {
  const std::string normalised = normalise_action(name);
  for (const Action& action : kActions) {
    if (action.name == normalised) return &action;
  }
  return nullptr;
}

}  // namespace

std::string normalise_action(std::string_view name) {
  // URN components (RFC 8141 §2.3: ?+r, ?=q, #f) and ;parameters: no action
  // takes any, and they must not make a known name look unknown.
  name = name.substr(0, name.find_first_of(";?#"));
  std::string out = sip::percent_decode(name);
  // RFC 8141 §3 leaves the NSS's case to the namespace; sip-action names
  // are words, compared case-insensitively.
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::pair<std::string_view, Operation>> action_urns() {
  std::vector<std::pair<std::string_view, Operation>> out;
  for (const Action& action : kActions) out.emplace_back(action.name, action.operation);
  return out;
}

void Server::handle_action_urn(const sip::ServerTransaction& tx, sip::Dialog* dialog,
                               std::string_view action, const std::string& request_room) {
  const Message& request = tx.request();
  const std::string local_tag = dialog != nullptr ? dialog->id().local_tag : random_.tag();
  const Action* known = find_action(action);
  if (known == nullptr) {
    tx.respond(501, reason_text("Unsupported Action", action), local_tag);
    return;
  }
  const auto target_dialog = request.header("Target-Dialog");
  if (!target_dialog) {
    tx.respond(400, "Missing Target-Dialog", local_tag);  // RFC 4538: it names the member
    return;
  }
  // conference:add naming a member of another room is a move into the
  // REFER's room (README "Moving members"), which takes the move right;
  // which of the two it is shows only after the lookup.
  std::optional<std::string> user;
  if (dialog == nullptr) {
    user = known->kind == ActionKind::kAdd
               ? authorize_any(tx, {known->operation, Operation::kMoveRefer})
               : authorize(tx, known->operation);
    if (!user) return;
  }
  const std::optional<NamedCall> named = resolve_target_dialog(*target_dialog);
  if (!named) {
    tx.respond(400, "Bad Target-Dialog", local_tag);
    return;
  }
  if (named->member == nullptr) {
    // A dial-out of ours still ringing: terminate / remove stop it (CANCEL);
    // nothing else applies to a call nobody has answered.
    if (named->ringing != nullptr &&
        (known->kind == ActionKind::kTerminate || known->kind == ActionKind::kRemove)) {
      if (dialog != nullptr && !authorize(tx, known->operation)) return;
      const std::optional<std::optional<Referral>> referral =
          accept_referral(tx, dialog, named->ringing->room());
      if (!referral) return;
      cancel_dial_out(*named->ringing);
      if (*referral) notify_referrer(**referral, 200, "OK");
      return;
    }
    tx.respond(481, "Target Dialog Does Not Exist", local_tag);
    return;
  }
  Call& member = *named->member;
  if (known->kind == ActionKind::kAdd && member.room() != request_room) {
    move_by_refer(tx, dialog, member, request_room, user);
    return;
  }
  if (user && !user->empty() && known->kind == ActionKind::kAdd &&
      !digest_->has_right(*user, privilege(known->operation).right)) {
    // In by the move right, but this add stays in the member's room.
    tx.respond(
        403,
        reason_text("Forbidden", "account lacks the " +
                                     std::string(privilege(known->operation).right) + " right"),
        local_tag);
    return;
  }
  // A member may act on its own call from inside its own dialog; anyone
  // else needs the right (out of dialog it was checked above, before the
  // lookup could tell a stranger which dialogs exist).
  // (Nobody answers its own call out of the waiting room.)
  const bool self =
      dialog != nullptr && dialog->id() == member.id() && known->kind != ActionKind::kAnswer;
  if (dialog != nullptr && !self && !authorize(tx, known->operation)) return;
  // A caller still entering its PIN or waiting for a moderator is not in
  // the conversation yet: nothing but the waiting room's own actions and a
  // hang-up applies to it, least of all from its own dialog (an unmute
  // would let the room hear a caller who never gave the PIN).
  const bool admission_action =
      known->kind == ActionKind::kTerminate || known->kind == ActionKind::kRemove ||
      known->kind == ActionKind::kAnswer || known->kind == ActionKind::kDecline ||
      known->kind == ActionKind::kIgnore || known->kind == ActionKind::kSendVm;
  if (!admission_action && (member.roster.awaiting_pin || member.roster.waiting)) {
    tx.respond(403,
               member.roster.awaiting_pin ? "Forbidden: Still Entering The Room's PIN"
                                          : "Forbidden: Still In The Waiting Room",
               local_tag);
    return;
  }
  const bool for_waiting = known->kind == ActionKind::kAnswer ||
                           known->kind == ActionKind::kDecline ||
                           known->kind == ActionKind::kIgnore;
  if (for_waiting && !member.roster.waiting) {
    tx.respond(481, "Target Dialog Is Not Waiting", local_tag);
    return;
  }
  if (known->kind == ActionKind::kSendVm && options_.voicemail_uri.empty()) {
    tx.respond(501, "No Voicemail Configured", local_tag);
    return;
  }
  const std::string room = member.room();
  // The action-referral draft: 202, and the outcome in the implicit
  // subscription's final NOTIFY (none with Refer-Sub: false, RFC 4488).
  const std::optional<std::optional<Referral>> referral = accept_referral(tx, dialog, room);
  if (!referral) return;
  run_action(known->kind, member);
  if (*referral) notify_referrer(**referral, 200, "OK");
}

void Server::move_by_refer(const sip::ServerTransaction& tx, sip::Dialog* dialog, Call& member,
                           const std::string& to, std::optional<std::string> user) {
  const std::string local_tag = dialog != nullptr ? dialog->id().local_tag : random_.tag();
  if (dialog != nullptr) {
    // From inside a dialog of room B: the sender is a member there (past
    // its PIN); the move right is still its account's to prove.
    user = authorize(tx, Operation::kMoveRefer);
    if (!user) return;
  } else if (!user->empty() && !digest_->has_right(*user, sip::kRightMove)) {
    tx.respond(403, reason_text("Forbidden", "account lacks the move right"), local_tag);
    return;
  }
  // The sender of an in-dialog REFER passes room B's checks only when it is
  // a member there itself, past its PIN and the waiting room: not a caller
  // still entering the PIN or waiting (its dialog is in room B all the
  // same), nor the dialog of a REFER subscription (no call at all; its room
  // is whatever its Request-URI named). Anyone else needs `moderate`.
  bool inside = false;
  if (dialog != nullptr) {
    const Call* sender = rooms_.find_call(dialog->id());
    inside = sender != nullptr && sender->room() == to && !sender->roster.awaiting_pin &&
             !sender->roster.waiting && !sender->roster.hidden;
  }
  const bool privileged = inside || user->empty() || digest_->has_right(*user, sip::kRightModerate);
  std::optional<std::string> pin;
  if (const auto given = tx.request().request_uri().param("pin")) {
    pin = sip::percent_decode(*given);
  }
  // A refused move answers the REFER itself; an accepted one is 202, and
  // its outcome comes in the implicit subscription's final NOTIFY. A PIN is
  // a guess counted per source, as in an INVITE (an exempt gateway is not).
  const std::string source = source_of(tx);
  std::optional<MoveRefusal> refusal =
      guard_move_pin(source, !guard_.exempt(source), to, pin, privileged);
  if (!refusal) refusal = refuse_move(member, to, pin, privileged);
  if (refusal) {
    tx.respond(refusal->sip_status, std::string(refusal->sip_phrase), local_tag);
    return;
  }
  std::optional<std::optional<Referral>> referral = accept_referral(tx, dialog, to);
  if (!referral) return;
  const ControlResult started = start_move(member, to, pin, privileged, *referral);
  if (started.status != 202 && *referral) notify_referrer(**referral, 503, "Service Unavailable");
}

std::optional<std::optional<Referral>> Server::accept_referral(const sip::ServerTransaction& tx,
                                                             sip::Dialog* dialog,
                                                             std::string_view room) {
  const Message& request = tx.request();
  if (refuse_referral_backlog(tx, dialog)) return std::nullopt;
  sip::ReferConfig refer_config;
  refer_config.subscription_expires = options_.refer_subscription_expires;
  sip::ReferOutcome outcome =
      dialog != nullptr
          ? sip::accept_refer(*dialog, request, stack_.timers().now(), refer_config)
          : sip::accept_refer(dialogs_, request, random_, contact_for(room, tx.source().transport),
                              stack_.timers().now(), refer_config);
  tx.respond(std::move(outcome.response));
  if (!outcome.accepted) return std::nullopt;
  std::optional<Referral> referral;
  if (outcome.subscription != nullptr && outcome.dialog != nullptr) {
    referral = Referral{outcome.dialog->id(), outcome.subscription->id()};
    if (outcome.notify) stack_.send_request(std::move(*outcome.notify), [](const auto&) {});
  }
  return referral;
}

bool Server::refuse_referral_backlog(const sip::ServerTransaction& tx, sip::Dialog* dialog) {
  if (dialog == nullptr) return false;
  // Each REFER in a dialog is a subscription until its outcome: a few at
  // once, not one per REFER a peer cares to send.
  dialog->remove_terminated_usages(sip::UsageKind::kSubscription);
  if (dialog->live_usages(sip::UsageKind::kSubscription) < kMaxReferralsPerDialog) return false;
  Message busy = dialog->make_response(tx.request(), 503, "Too Many Referrals In This Dialog");
  busy.set_header("Retry-After", "5");
  tx.respond(std::move(busy));
  return true;
}

void Server::run_action(ActionKind kind, Call& member) {
  const std::string room = member.room();
  const uint64_t id = member.member();
  const sip::DialogId member_dialog = member.id();
  switch (kind) {
    case ActionKind::kMute:
      set_muted(room, id, true);
      return;
    case ActionKind::kUnmute:
      set_muted(room, id, false);
      return;
    case ActionKind::kHold:
      set_hold(room, id, true);
      return;
    case ActionKind::kUnhold:
      set_hold(room, id, false);
      return;
    case ActionKind::kAdd:
      // Into the conversation: off hold, unmuted, a full participant.
      set_hold(room, id, false);
      set_muted(room, id, false);
      set_role(room, id, MemberRole::kParticipant, 0);
      return;
    case ActionKind::kTerminate:
    case ActionKind::kRemove:
      end_call(member_dialog, /*send_bye=*/true);
      return;
    case ActionKind::kAnswer:
      admit_waiting(member);
      return;
    case ActionKind::kDecline:
      refuse_waiting(member, 603, "Decline", "declined by a moderator");
      return;
    case ActionKind::kIgnore:
      member.roster.waiting_ignored = true;
      publish(room, ControlEvent::Kind::kMemberChanged, id);
      return;
    case ActionKind::kSendVm:
      if (member.roster.waiting) {
        refuse_waiting(member, 302, "Moved Temporarily", "sent to voicemail",
                       options_.voicemail_uri);
      } else {
        transfer_member(member, options_.voicemail_uri);
      }
      return;
  }
}

void Server::on_room_changed(const std::string& room, ControlEvent::Kind kind) {
  switch (kind) {
    case ControlEvent::Kind::kTalker:
      events_->publish_talkers(room);  // rate-limited (RFC 4575 §4.6 is silent; we cap it)
      return;
    case ControlEvent::Kind::kRoomEnded:
      events_->room_ended(room);
      return;
    default:
      events_->publish(room);  // and each sidebar's own document (README "Sidebars")
      return;
  }
}

}  // namespace chorus::focus
