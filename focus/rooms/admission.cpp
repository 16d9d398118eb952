// Where a new INVITE goes and as what: Join (RFC 3911), Replaces (RFC 3891),
// room policy (allowed rooms, PIN, member limit) and supervisor roles; and
// the DTMF keys members use during a call.

#include <spdlog/spdlog.h>

#include <algorithm>

#include "focus/events/conference_info.hpp"
#include "focus/ops/log.hpp"
#include "focus/rooms/admission.hpp"
#include "focus/rooms/media_setup.hpp"
#include "signaling/auth/digest_hash.hpp"
#include "signaling/message/header_dialog_ref.hpp"

namespace chorus::focus {

using sip::Message;

namespace {

// The operation a Join in a supervisor role is (ARCHITECTURE.md "Roles and
// relations"); a participant needs none.
std::optional<Operation> join_operation(MemberRole role) {
  switch (role) {
    case MemberRole::kMonitor:
      return Operation::kJoinMonitor;
    case MemberRole::kWhisper:
      return Operation::kJoinWhisper;
    case MemberRole::kBarge:
      return Operation::kJoinBarge;
    case MemberRole::kParticipant:
      break;
  }
  return std::nullopt;
}

// The address-of-record part of a URI text: "user@host" (lower-case host),
// what "the same user" means for Replaces.
std::string aor(std::string_view uri_text) {
  const auto uri = sip::parse_uri(uri_text);
  if (!uri) return std::string(uri_text);
  std::string host(uri->host);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return uri->user_decoded() + "@" + host;
}

// SDP a=recvonly from the joiner: it wants to listen only (RFC 3264 §6.1).
bool offer_is_recvonly(std::string_view sdp) {
  return sdp.find("a=recvonly") != std::string_view::npos;
}

// The longest PIN a room may have (focus/ops/config.cpp: 1-32 digits).
constexpr size_t kMaxPinDigits = 32;

}  // namespace

Call* Server::find_ringing_dial_out(std::string_view call_id, std::string_view to_tag,
                                    std::string_view from_tag) const {
  // RFC 3911 §4 / RFC 3891 §3 match the header's to-tag against our local
  // tag and its from-tag against the remote one. For a dial-out still
  // ringing, our tag is the From tag of our INVITE and the remote tags are
  // those of the early dialogs its provisionals created (one per fork).
  for (const auto& [id, call] : dialing_) {
    if (id.call_id != call_id || id.local_tag != to_tag) continue;
    const auto& tags = call->sip.early_remote_tags;
    if (std::find(tags.begin(), tags.end(), from_tag) != tags.end()) return call.get();
  }
  return nullptr;
}

std::optional<Server::Admission> Server::admit(const sip::ServerTransaction& tx,
                                               std::string_view room) {
  const Message& request = tx.request();
  Admission admission;
  admission.room = std::string(room);

  if (const auto join_value = request.header("Join")) {
    // RFC 3911 §4: the newcomer enters the conversation of the named dialog.
    const auto join = sip::parse_join(*join_value);
    if (!join) {
      tx.respond(400, "Bad Join Header", random_.tag());
      return std::nullopt;
    }
    const Call* joined = nullptr;
    const sip::DialogSet::Referenced found = dialogs_.find_join(*join_value);
    if (found.dialog != nullptr) {
      // RFC 3911 §4: an early dialog this UA did not initiate (a caller
      // still waiting for our answer) cannot be joined: 481.
      if (!(found.dialog->early() && found.dialog->role() == sip::DialogRole::kUas)) {
        joined = rooms_.find_call(found.dialog->id());
      }
    } else {
      joined = find_ringing_dial_out(join->call_id, join->to_tag, join->from_tag);
    }
    if (joined == nullptr) {
      // Unknown dialog, or one not created by INVITE (a subscription): 481.
      tx.respond(481, "Joined Dialog Does Not Exist", random_.tag());
      return std::nullopt;
    }
    admission.room = joined->room();
    // The conversation of the named dialog: its member's sidebar, when it
    // is in one (README "Sidebars"); start_media checks it still exists.
    if (const Room* in = rooms_.find(admission.room)) {
      if (const Sidebar* sidebar = in->sidebar_of(joined->member()))
        admission.sidebar = sidebar->id;
    }
    // The role: `;mode=` in the Request-URI, else recvonly → monitor, else
    // barge (the joiner becomes a full speaker, RFC 3911 §1's barge-in).
    MemberRole role = offer_is_recvonly(request.body()) ? MemberRole::kMonitor : MemberRole::kBarge;
    if (const auto mode = request.request_uri().param("mode")) {
      const auto parsed = parse_role(*mode);
      if (!parsed) {
        tx.respond(400, reason_text("Bad mode", *mode), random_.tag());
        return std::nullopt;
      }
      role = *parsed;
    }
    admission.role = role;
    // The member a supervisor joined on: whom it whispers to, now or after
    // a *2 key (on_dtmf), whatever role it starts in.
    if (role != MemberRole::kParticipant) admission.whisper_target = joined->member();
    if (const std::optional<Operation> operation = join_operation(role)) {
      const auto user = authorize(tx, *operation);
      if (!user) return std::nullopt;
      admission.auth_user = *user;
      return admission;
    }
    // A Join as a plain participant needs no right, so it is a dial-in to
    // the joined room: that room's policy (PIN, member limit) applies.
    if (!admit_by_policy(tx, admission)) return std::nullopt;
    return admission;
  }

  if (const auto replaces_value = request.header("Replaces")) {
    const auto replaces = sip::parse_replaces(*replaces_value);
    if (!replaces) {
      tx.respond(400, "Bad Replaces Header", random_.tag());
      return std::nullopt;
    }
    const sip::DialogSet::Referenced found = dialogs_.find_replaces(*replaces_value);
    if (found.dialog == nullptr) {
      // RFC 3891 §3 / RFC 5359 §2.16 directed pickup: a dial-out of ours
      // still ringing (early-only or not) is taken by the newcomer.
      if (Call* ringing =
              find_ringing_dial_out(replaces->call_id, replaces->to_tag, replaces->from_tag);
          ringing != nullptr && !ringing->roster.hidden && !ringing->sip.cancelling) {
        return admit_pickup(tx, admission, *ringing);
      }
    }
    if (found.status == sip::DialogSet::ReferencedStatus::kNotEarly) {
      tx.respond(486, "Busy Here", random_.tag());  // RFC 3891 §3: early-only, but confirmed
      return std::nullopt;
    }
    // RFC 3891 §3: an early dialog this UA did not initiate (a caller still
    // waiting for our answer) cannot be replaced: 481.
    const bool foreign_early = found.dialog != nullptr && found.dialog->early() &&
                               found.dialog->role() == sip::DialogRole::kUas;
    const Call* replaced = found.dialog != nullptr && !foreign_early
                               ? rooms_.find_call(found.dialog->id())
                               : nullptr;
    if (replaced == nullptr) {
      tx.respond(481, "Replaced Dialog Does Not Exist", random_.tag());
      return std::nullopt;
    }
    const Call& old = *replaced;
    if (old.roster.parked && old.room().starts_with(options_.park_user + "/")) {
      // RFC 5359 §2.15 retrieval: the newcomer talks with the parked caller
      // in its room (nobody is replaced); anyone with the replace right.
      const auto user = authorize(tx, Operation::kRetrieveParked);
      if (!user) return std::nullopt;
      admission.room = old.room();
      admission.auth_user = *user;
      admission.unpark = old.id();
      return admission;
    }
    // Someone else's call: only an account with the replace right. The
    // caller's own call (same From AOR, which anyone can write): only with
    // its dialog identifiers, which nobody but the call's ends and
    // dialog-package subscribers learns; and when that call was opened
    // with an account (a supervisor's Join, whose role keys act with its
    // rights), only by that account or one with the replace right, so a
    // From and the identifiers never carry an account's rights over.
    if (aor(request.from().uri.to_string()) != aor(old.roster.entity) ||
        !old.roster.auth_user.empty()) {
      const auto user = authorize_any(tx, {Operation::kReplaceOthersCall}, old.roster.auth_user);
      if (!user) return std::nullopt;
      admission.auth_user = *user;
    }
    admission.room = old.room();
    admission.role = old.roster.role;
    admission.whisper_target = old.roster.whisper_target;
    admission.member = old.member();
    admission.muted = old.media.settings.muted;
    // A caller still entering its PIN stays so: the PIN is the room's. Its
    // time runs on, or replacing its own call would hold a place forever.
    admission.awaiting_pin = old.roster.awaiting_pin;
    admission.pin_deadline = old.roster.pin_deadline;
    admission.hidden = old.roster.hidden;
    admission.replaces = old.id();
    return admission;
  }

  // Dialled straight to the park service (or blind-transferred there,
  // which reaches us as the same INVITE): parked like a REFERred call, in a
  // park/<n> room of its own that sip:park@ publishes (RFC 5359 §2.15).
  if (admission.room == options_.park_user) {
    admission.room = options_.park_user + "/" + std::to_string(++last_park_);
    return admission;
  }

  // Plain dial-in: the room's policy.
  if (!admit_by_policy(tx, admission)) return std::nullopt;
  return admission;
}

std::optional<Server::Admission> Server::admit_pickup(const sip::ServerTransaction& tx,
                                                      Admission admission, Call& ringing) {
  // The picker needs the pickup right whoever it is: the dial-out was
  // placed for someone else, and its role may be a supervisor's.
  const auto user = authorize(tx, Operation::kPickupDialOut);
  if (!user) return std::nullopt;
  admission.room = ringing.room();
  admission.role = ringing.roster.role;
  admission.whisper_target = ringing.roster.whisper_target;
  admission.muted = ringing.media.settings.muted;
  admission.auth_user = *user;
  {
    const LogContext context({}, ringing.room());
    spdlog::info("{} picks up the dial-out to {} (Replaces)", tx.request().from().uri.to_string(),
                 ringing.roster.entity);
  }
  // The original callee stops ringing (CANCEL now or with its first
  // provisional); its referrer hears 487 as for any cancelled dial-out.
  cancel_dial_out(ringing);
  return admission;
}

bool Server::admit_by_policy(const sip::ServerTransaction& tx, Admission& admission) {
  const Message& request = tx.request();
  const std::string& room = admission.room;
  const RoomPolicy* policy = policy_for(room);
  if (policy == nullptr && options_.only_listed_rooms && !is_service_room(room)) {
    tx.respond(404, "No Such Conference", random_.tag());
    return false;
  }
  // A moderator's move from another node (README "Moving members"): a valid
  // grant passes the PIN, the member limit and the waiting room, as that
  // move does on one node. Anything else about it is ignored (logged): the
  // caller is any dial-in.
  if (redeem_grant(tx, room)) return true;
  const size_t limit =
      policy != nullptr && policy->max_members != 0 ? policy->max_members : options_.max_members;
  // Members on their way in by a move count (services/move.cpp).
  const Room* existing = rooms_.find(room);
  const size_t there = (existing != nullptr ? existing->size() : 0) + moves_pending_into(room);
  if (limit != 0 && there >= limit) {
    Message response = sip::make_response(request, 486, "Conference Full", random_.tag());
    response.set_header("Retry-After", "60");
    tx.respond(std::move(response));
    return false;
  }
  if (policy != nullptr && policy->waiting_room) admission.waiting = policy;
  if (policy != nullptr && !policy->pin.empty()) {
    if (const auto pin = request.request_uri().param("pin")) {
      // Wrong PINs in the Request-URI (one INVITE a guess: the fast way to
      // guess) count per (source, room) as wrong passwords do per (source,
      // account): a source that keeps guessing is locked out, and while
      // locked even the right PIN is answered as a wrong one. An exempt
      // source (an SBC or gateway many callers share) is not counted: one
      // caller's guesses would lock out everyone behind it.
      const std::string source = source_of(tx);
      const std::string pin_key = "pin:" + room;
      const bool counted = !guard_.exempt(source);
      if (counted && guard_.auth_locked(source, pin_key)) {
        guard_.locked_attempt(source, pin_key);
        tx.respond(403, "Wrong PIN", random_.tag());
        return false;
      }
      if (!sip::constant_time_equals(sip::percent_decode(*pin), policy->pin)) {
        if (counted) guard_.auth_failed(source, pin_key);
        tx.respond(403, "Wrong PIN", random_.tag());
        return false;
      }
      if (counted) guard_.auth_succeeded(source, pin_key);
    } else {
      admission.awaiting_pin = true;  // collected by DTMF once answered
    }
  }
  return true;
}

void Server::on_dtmf(Call& call, char digit) {
  if (call.roster.awaiting_pin) {
    // PIN entry: digits then '#'; three wrong PINs end the call.
    if (digit != '#') {
      if (call.roster.digits.size() < kMaxPinDigits) {
        call.roster.digits += digit;
        return;
      }
      // More digits than any PIN has: a wrong PIN, or digits keyed
      // without '#' would be guesses that never count as tries.
      wrong_pin(call);
      return;
    }
    const RoomPolicy* policy = policy_for(call.room());
    // DTMF guesses are slow (three a call, then BYE) and mostly come through
    // gateways many callers share, so they are not counted; but a source
    // locked out for guessing in the Request-URI (admit_by_policy) cannot
    // carry on here.
    const std::string pin_key = "pin:" + call.room();
    const bool locked =
        !call.sip.limit_key.empty() && guard_.auth_locked(call.sip.limit_key, pin_key);
    if (policy == nullptr ||
        (!locked && sip::constant_time_equals(call.roster.digits, policy->pin))) {
      call.roster.awaiting_pin = false;
      call.roster.digits.clear();
      if (call.sip.pin_timer != 0) stack_.timers().cancel(call.sip.pin_timer);
      call.sip.pin_timer = 0;
      call.media.settings.muted = false;
      call.media.settings.deaf = false;
      apply_settings(call);
      publish(call.room(), ControlEvent::Kind::kMemberJoined, call.member());
      announce_join(call);
      return;
    }
    if (locked) guard_.locked_attempt(call.sip.limit_key, pin_key);
    wrong_pin(call);
    return;
  }
  // Keys: '*' then a digit. *6 toggles one's own mute; a supervisor (a member
  // who joined with an authorised Join) switches role with *1 monitor,
  // *2 whisper (to the member it joined on), *3 barge — within its rights.
  if (digit == '*') {
    call.roster.digits = "*";
    return;
  }
  if (call.roster.digits != "*") return;
  call.roster.digits.clear();
  if (digit == '6') {
    set_muted(call.room(), call.member(), !call.media.settings.muted);
    return;
  }
  if (call.roster.auth_user.empty()) return;
  MemberRole role;
  switch (digit) {
    case '1':
      role = MemberRole::kMonitor;
      break;
    case '2':
      role = MemberRole::kWhisper;
      break;
    case '3':
      role = MemberRole::kBarge;
      break;
    default:
      return;
  }
  if (!digest_->has_right(call.roster.auth_user, privilege(*join_operation(role)).right)) return;
  if (role == MemberRole::kWhisper && call.roster.whisper_target == 0) return;
  set_role(call.room(), call.member(), role, call.roster.whisper_target);
}

void Server::wrong_pin(Call& call) {
  call.roster.digits.clear();
  if (++call.roster.pin_failures >= 3) end_call(sip::DialogId(call.id()), /*send_bye=*/true);
}

void Server::arm_pin_timer(Call& call) {
  if (!call.roster.awaiting_pin || call.sip.pin_timer != 0) return;
  // A caller still keying the PIN takes a member place (max_members) and
  // keeps the room open, yet nobody hears it and RTCP alone keeps it from
  // an RTP timeout: without a deadline, callers that never key anything
  // would hold a PIN room full.
  const sip::TimePoint now = stack_.timers().now();
  if (!call.roster.pin_deadline) {
    const RoomPolicy* policy = policy_for(call.room());
    call.roster.pin_deadline =
        now + (policy != nullptr ? policy->pin_timeout : RoomPolicy{}.pin_timeout);
  }
  const auto left =
      std::max(std::chrono::ceil<std::chrono::milliseconds>(*call.roster.pin_deadline - now),
               std::chrono::milliseconds(0));
  const sip::DialogId id = call.id();
  call.sip.pin_timer = stack_.timers().start(left, [this, id] { on_pin_timeout(id); });
}

void Server::on_pin_timeout(const sip::DialogId& id) {
  Call* call = rooms_.find_call(id);
  if (call == nullptr) return;
  call->sip.pin_timer = 0;
  if (!call->roster.awaiting_pin) return;
  ++pin_timeouts_;
  {
    LogContext context(id.call_id, call->room());
    spdlog::info("member {} did not key in the room's PIN in time: BYE", call->member());
  }
  end_call(id, /*send_bye=*/true);
}

}  // namespace chorus::focus
