// The focus's roster, authorization and operator actions (focus::Control).

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "focus/events/conference_info.hpp"
#include "focus/events/event_service.hpp"
#include "focus/rooms/admission.hpp"
#include "focus/rooms/media_setup.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::focus {

using sip::Message;

namespace {

// RFC 3261 §25.1 user = 1*( unreserved / escaped / user-unreserved ).
std::string escape_user(std::string_view user) {
  static constexpr std::string_view kPlain = "-_.!~*'()&=+$,;?/";
  std::string out;
  for (char c : user) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || kPlain.find(c) != std::string_view::npos) {
      out += c;
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

}  // namespace

mixer::Role to_mixer_role(MemberRole role) {
  switch (role) {
    case MemberRole::kMonitor:
      return mixer::Role::kMonitor;
    case MemberRole::kWhisper:
      return mixer::Role::kWhisper;
    case MemberRole::kBarge:
      return mixer::Role::kBarge;
    case MemberRole::kParticipant:
      break;
  }
  return mixer::Role::kParticipant;
}

void Server::load_accounts() {
  sip::DigestConfig config;
  config.realm = options_.realm;
  config.algorithms.clear();
  for (const std::string& name : options_.digest_algorithms) {
    if (const auto algorithm = sip::digest_algorithm_from_name(name)) {
      config.algorithms.push_back(*algorithm);
    }
  }
  if (config.algorithms.empty()) config.algorithms = {sip::DigestAlgorithm::kSha256};
  digest_ = std::make_unique<sip::DigestServer>(std::move(config));
  for (const Account& account : options_.accounts) {
    sip::DigestAccount entry;
    entry.user = account.user;
    entry.password = account.password;
    for (const std::string& right : account.rights) entry.rights.insert(right);
    digest_->add_account(std::move(entry));
  }
}

void Server::reload(const Options& options) {
  options_.rooms = options.rooms;
  options_.only_listed_rooms = options.only_listed_rooms;
  options_.max_members = options.max_members;
  options_.accounts = options.accounts;
  options_.realm = options.realm;
  options_.digest_algorithms = options.digest_algorithms;
  options_.moh_file = options.moh_file;
  options_.service_trusted_sources = options.service_trusted_sources;
  options_.limits = options.limits;
  // Recordings started from now on use the new [recording] settings.
  options_.recording = options.recording;
  guard_.reconfigure(options.limits);
  stack_.transactions().set_max_lingering(options.limits.max_lingering_transactions);
  load_accounts();
  // An account removed or stripped of a right keeps nothing it opened with
  // it: dialog subscriptions here, admin event streams in the listener.
  if (const size_t ended = events_->revoke(
          [this](std::string_view account, Operation op) { return account_holds(account, op); })) {
    spdlog::info("reload: {} dialog subscription(s) ended: their account lost the right", ended);
  }
  if (listener_) listener_(ControlEvent{ControlEvent::Kind::kAccountsChanged, {}, 0});
  // New music applies to every room from now on: running rooms swap now,
  // new rooms get it when they open (start_media).
  for (const Room* room : rooms_.all()) {
    mixer::Command music;
    music.kind = mixer::Command::Kind::kSetMusic;
    music.conference = room->conference();
    music.music_file = options_.moh_file;
    if (!engine_->submit(std::move(music))) ++media_commands_failed_;
  }
}

std::optional<std::string> Server::authorize(const sip::ServerTransaction& tx,
                                             Operation operation) {
  return authorize_any(tx, {operation});
}

std::optional<std::string> Server::authorize_any(const sip::ServerTransaction& tx,
                                                 std::initializer_list<Operation> operations,
                                                 std::string_view self) {
  const Message& request = tx.request();
  const std::string tag = random_.tag();
  const Privilege& needed = privilege(*operations.begin());
  std::string right;
  for (const Operation operation : operations) {
    if (!right.empty()) right += " or ";
    right += privilege(operation).right;
  }
  if (options_.accounts.empty()) {
    // Nobody could ever prove the right: no point in a challenge.
    tx.respond(403, reason_text("Not Authorized", right + " needs an account"), tag);
    return std::nullopt;
  }
  bool stale = false;
  std::string source;
  for (std::string_view line : request.header_lines("Authorization")) {
    const sip::DigestResult result = digest_->verify(
        line, request.method_text(), request.request_uri().to_string(), request.body());
    if (!result.user.empty()) {
      if (source.empty()) source = source_of(tx);
      if (!count_digest_attempt(source, result)) continue;
    }
    if (result.ok) {
      if (!self.empty() && result.user == self) return result.user;
      for (const Operation operation : operations) {
        if (digest_->has_right(result.user, privilege(operation).right)) return result.user;
      }
      // RFC 3261 §21.4.4: we know who it is, and the answer is no.
      spdlog::info("{} from {} refused: account {} lacks the {} right", needed.name,
                   tx.source().to_string(), result.user, right);
      tx.respond(403, reason_text("Forbidden", "account lacks the " + right + " right"), tag);
      return std::nullopt;
    }
    stale = stale || result.stale;
  }
  challenge(tx, stale);
  return std::nullopt;
}

bool Server::count_digest_attempt(std::string_view source, const sip::DigestResult& result) {
  // Failed attempts per (source, account): a locked pair is answered as a
  // wrong password whatever it sent, so the lockout is no oracle.
  if (guard_.auth_locked(source, result.user)) {
    guard_.locked_attempt(source, result.user);
    return false;
  }
  if (result.ok) {
    guard_.auth_succeeded(source, result.user);
  } else if (!result.stale) {
    guard_.auth_failed(source, result.user);
  }
  return true;
}

void Server::challenge(const sip::ServerTransaction& tx, bool stale) {
  // RFC 3261 §22.3: a UAS challenges with 401 and WWW-Authenticate.
  Message response = sip::make_response(tx.request(), 401, "Unauthorized", random_.tag());
  for (const std::string& value : digest_->challenges(stale)) {
    response.add_header("WWW-Authenticate", value);
  }
  tx.respond(std::move(response));
}

std::optional<std::string> Server::authorize_dial(const sip::ServerTransaction& tx,
                                                  Operation operation, std::string_view target) {
  std::optional<std::string> user = authorize(tx, operation);
  if (!user) return std::nullopt;
  if (!dial_out_allowed(*user, target)) {
    spdlog::info("{} from {} refused: {} is outside account {}'s dial-out patterns",
                 privilege(operation).name, tx.source().to_string(), target, *user);
    tx.respond(403, "Forbidden (target outside the account's dial-out patterns)", random_.tag());
    return std::nullopt;
  }
  return user;
}

bool Server::trusted_service_source(const sip::ServerTransaction& tx) const {
  return address_in_ranges(options_.service_trusted_sources, tx.source().address);
}

bool Server::account_holds(std::string_view user, Operation operation) const {
  return digest_->has_right(user, privilege(operation).right);
}

bool Server::dial_out_allowed(std::string_view user, std::string_view uri) const {
  for (const Account& account : options_.accounts) {
    if (account.user == user) return focus::dial_out_allowed(account.dial_out, uri);
  }
  return false;
}

AccountCheck Server::check_account(std::string_view authorization, std::string_view method,
                                   std::string_view uri, Operation operation,
                                   std::string_view source) {
  AccountCheck check;
  constexpr std::string_view kScheme = "digest ";
  if (options_.accounts.empty() || authorization.size() <= kScheme.size() ||
      !sip::iequals(authorization.substr(0, kScheme.size()), kScheme)) {
    return check;  // kNoCredentials
  }
  const sip::DigestResult result = digest_->verify(authorization, method, uri);
  check.user = result.user;
  check.stale = result.stale;
  if (!result.user.empty()) {
    // The same guard as SIP digest (Server::authorize): an account under
    // attack answers late, a locked (source, account) pair answers as a
    // wrong password whatever it sent, and failures count toward the lock.
    if (options_.limits.account_delay.count() > 0 && guard_.account_slowed(result.user)) {
      guard_.account_delayed(source, result.user);
      check.delay = std::chrono::duration_cast<std::chrono::milliseconds>(
          options_.limits.account_delay);
    }
    if (!count_digest_attempt(source, result)) {
      check.outcome = AccountCheck::Outcome::kWrong;
      check.stale = false;
      return check;
    }
  }
  if (!result.ok) {
    check.outcome = AccountCheck::Outcome::kWrong;
    return check;
  }
  check.outcome = digest_->has_right(result.user, privilege(operation).right)
                      ? AccountCheck::Outcome::kAllowed
                      : AccountCheck::Outcome::kForbidden;
  return check;
}

void Server::count_token_attempt(std::string_view source, bool right) {
  // The token counts as an account no [[account]] can be named ('<' is not
  // in a SIP user name), so the token's failures never lock an account out.
  // No account slow-down: a 32+ character token is not guessed from many
  // sources either, and slowing it would slow the operator.
  constexpr std::string_view kTokenAccount = "<admin-token>";
  if (right) {
    // Let in whatever the lock says (Control::count_token_attempt): the
    // lock stays, so wrong tokens from there go on being refused as locked.
    guard_.auth_succeeded(source, kTokenAccount);
    return;
  }
  sip::DigestResult result;
  result.user = std::string(kTokenAccount);
  result.ok = false;
  count_digest_attempt(source, result);
}

std::vector<std::string> Server::account_challenges(bool stale) {
  if (options_.accounts.empty()) return {};
  return digest_->challenges(stale);
}

const RoomPolicy* Server::policy_for(std::string_view room) const {
  for (const RoomPolicy& policy : options_.rooms) {
    if (policy.name == room) return &policy;
  }
  return nullptr;
}

std::string Server::conference_uri(std::string_view room) const {
  std::string host = options_.sip_host;
  if (host == "0.0.0.0" || host == "::") host = capabilities_.address;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return "sip:" + escape_user(room) + "@" + host +
         (options_.sip_port == 5060 || options_.sip_port == 0
              ? std::string()
              : ":" + std::to_string(options_.sip_port));
}

std::string Server::published_uri(std::string_view room) const {
  // Behind a cluster front, subscribers and callers go through the front
  // (deploy/kamailio routes by the user part to the node holding the room).
  return options_.cluster_front.empty() ? conference_uri(room) : front_uri(room);
}

std::string Server::sidebar_uri(std::string_view room, uint32_t sidebar) const {
  // A URI parameter, so the user part (what deploy/kamailio hashes to pick
  // a node) stays the parent room's: a sidebar lives where its room does.
  return published_uri(room) + ";sidebar=" + std::to_string(sidebar);
}

std::string Server::front_uri(std::string_view room) const {
  const auto front = sip::parse_uri(options_.cluster_front);
  if (!front) return {};
  return "sip:" + escape_user(room) + "@" + front->host_port() +
         (front->params_text.empty() ? std::string() : ";" + std::string(front->params_text));
}

Call* Server::find_member(std::string_view room, uint64_t member) const {
  const Room* found = rooms_.find(room);
  return found != nullptr ? found->find_member(member) : nullptr;
}

MemberState Server::member_state(const Room* room, const Call& call) const {
  MemberState state;
  state.id = call.member();
  state.entity = call.roster.entity;
  state.display_text = capped_display_text(call.roster.display);
  const sip::Dialog* dialog = dialogs_.find(call.id());
  state.endpoint =
      dialog != nullptr && !dialog->remote_target().empty() ? dialog->remote_target() : call.roster.entity;
  // Two members may share a Contact (one softphone, two lines): keep unique.
  state.endpoint += ";chorus-member=" + std::to_string(call.member());
  const bool confirmed = dialog != nullptr && dialog->confirmed();
  if (!confirmed) {
    state.status = call.sip.outbound ? (call.sip.provisional_seen ? "alerting" : "dialing-out") : "pending";
  } else if (call.media.settings.hold != mixer::HoldMode::kNone) {
    state.status = "on-hold";
  } else if (call.media.settings.muted) {
    state.status = "muted-via-focus";
  } else {
    state.status = "connected";
  }
  state.joining_method = call.sip.outbound ? "dialed-out" : "dialed-in";
  state.role = call.roster.role;
  state.muted = call.media.settings.muted;
  state.talking = call.roster.talking;
  state.on_hold = call.media.settings.hold != mixer::HoldMode::kNone;
  state.waiting = call.roster.waiting;
  state.codec = call.media.codec;
  state.clock_rate = call.media.clock_rate;
  state.media_label = "audio-" + std::to_string(call.member());
  state.level_dbov = call.roster.level;
  state.loss_fraction = call.roster.loss_fraction;
  state.jitter_ms = call.roster.jitter_ms;
  state.jitter_buffer_ms = call.roster.jitter_buffer_ms;
  state.ssrc = call.roster.ssrc;
  if (call.roster.role == MemberRole::kWhisper) {
    if (const Call* target =
            room != nullptr ? room->find_member(call.roster.whisper_target) : nullptr) {
      state.whisper_target = member_state_endpoint(*target);
    }
  }
  if (room != nullptr) {
    if (const Sidebar* sidebar = room->sidebar_of(call.member())) state.sidebar = sidebar->id;
  }
  state.joined_at = call.roster.joined_at;
  state.joined_by = call.roster.joined_by;
  // Supervisors who are not heard by everyone stay out of the conference
  // package (RFC 4575 is seen by all members); the dialog package lists them.
  state.hidden = call.roster.role == MemberRole::kMonitor || call.roster.role == MemberRole::kWhisper ||
                 (call.roster.waiting && call.roster.waiting_ignored);
  state.dialog.call_id = call.id().call_id;
  state.dialog.local_tag = call.id().local_tag;
  state.dialog.remote_tag = call.id().remote_tag;
  state.dialog.confirmed = confirmed;
  state.dialog.initiator = call.sip.outbound;
  if (!confirmed && call.sip.outbound) {
    // A ringing dial-out: one early dialog per forked provisional (RFC
    // 4235 §3.7.1); none yet while only 100 Trying has come back.
    state.dialog.early_remote_tags = call.sip.early_remote_tags;
    state.dialog.remote_uri = call.roster.entity;
    if (call.sip.cancelling) state.status = "disconnecting";
  }
  if (dialog != nullptr) {
    state.dialog.local_uri = dialog->local_uri();
    state.dialog.remote_uri = dialog->remote_uri();
    state.dialog.remote_target = dialog->remote_target();
    state.dialog.local_target = dialog->local_contact();
  }
  return state;
}

std::string Server::member_state_endpoint(const Call& call) const {
  const sip::Dialog* dialog = dialogs_.find(call.id());
  std::string endpoint =
      dialog != nullptr && !dialog->remote_target().empty() ? dialog->remote_target() : call.roster.entity;
  return endpoint + ";chorus-member=" + std::to_string(call.member());
}

std::optional<ConferenceState> Server::room_state(std::string_view room_name) const {
  if (room_name == options_.park_user) return park_state();
  const Room* room = rooms_.find(room_name);
  const RoomPolicy* policy = policy_for(room_name);
  // A configured room exists before its first call and after its last (a
  // subscription to it gets a conference-info with no users); an ad-hoc
  // room only while it has calls.
  if (room == nullptr && policy == nullptr) return std::nullopt;
  ConferenceState state;
  state.room = std::string(room_name);
  state.entity = published_uri(room_name);
  state.subject = std::string(room_name);
  state.recording = room != nullptr && room->recording().active;
  state.max_members = static_cast<uint32_t>(
      policy != nullptr && policy->max_members != 0 ? policy->max_members : options_.max_members);
  // Dial-outs into this room still ringing (RFC 4575 dialing-out /
  // alerting; RFC 4235 trying / early), in the order they were placed.
  const auto add_ringing = [&] {
    for (const Call* call : ringing_in(room_name)) {
      state.members.push_back(member_state(room, *call));
    }
  };
  if (room == nullptr) {
    add_ringing();
    return state;
  }
  // O(room): during a Replaces the replacing call stands for the member.
  const std::vector<Call*> calls = room->calls();
  std::vector<const sip::DialogId*> replaced;
  for (const Call* call : calls) {
    if (call->sip.replaces) replaced.push_back(&*call->sip.replaces);
  }
  for (const Call* call : calls) {
    if (call->roster.hidden || call->roster.awaiting_pin) continue;
    const bool shadowed = std::any_of(replaced.begin(), replaced.end(),
                                      [call](const sip::DialogId* id) { return *id == call->id(); });
    if (!shadowed) state.members.push_back(member_state(room, *call));
  }
  add_ringing();
  for (const Sidebar& s : room->sidebars()) {
    state.sidebars.push_back(SidebarState{s.id, s.name, sidebar_uri(room_name, s.id), s.members,
                                          s.main_gain_db, s.whisper_main});
  }
  return state;
}

std::vector<Call*> Server::ringing_in(std::string_view room) const {
  // dialing_ holds only calls not yet answered: bounded by the overload
  // budget, and a handful in practice.
  std::vector<Call*> out;
  for (const auto& [id, call] : dialing_) {
    if (call->room() == room && !call->roster.hidden) out.push_back(call.get());
  }
  std::sort(out.begin(), out.end(),
            [](const Call* a, const Call* b) { return a->member() < b->member(); });
  return out;
}

Call* Server::find_ringing(std::string_view room, uint64_t member) const {
  for (const auto& [id, call] : dialing_) {
    if (call->room() == room && call->member() == member) return call.get();
  }
  return nullptr;
}

Call* Server::find_ringing(std::string_view call_id, std::string_view tag_a,
                           std::string_view tag_b) const {
  // Either reading of the two tags (RFC 4538 §4: as the sender sees them):
  // one is our From tag, the other one of the early dialogs' To tags, or
  // empty while only 100 Trying has come back.
  for (const auto& [id, call] : dialing_) {
    if (id.call_id != call_id) continue;
    for (const auto& [ours, theirs] : {std::pair{tag_a, tag_b}, std::pair{tag_b, tag_a}}) {
      if (id.local_tag != ours) continue;
      const auto& tags = call->sip.early_remote_tags;
      if ((theirs.empty() && tags.empty()) ||
          std::find(tags.begin(), tags.end(), theirs) != tags.end()) {
        return call.get();
      }
    }
  }
  return nullptr;
}

void Server::cancel_dial_out(Call& call) {
  if (call.sip.cancelling) return;
  call.sip.cancelling = true;
  // RFC 3261 §9.1: CANCEL only once a provisional has come back; until then
  // it waits (on_dial_out_response sends it with the first one). The
  // callee's 487 then ends the call as any failure does.
  if (call.sip.invite_tx != 0) call.sip.cancel_sent = stack_.cancel(call.sip.invite_tx) != 0;
  spdlog::info("dial-out to {} in {} cancelled{}", call.roster.entity, call.room(),
               call.sip.cancel_sent ? "" : " (CANCEL waits for its first provisional)");
  publish(call.room(), ControlEvent::Kind::kMemberChanged, call.member());
}

ConferenceState Server::park_state() const {
  // sip:park@host: every parked call, whichever park/<n> room holds it; it
  // exists even when empty so a dialog-package watcher can wait for calls.
  ConferenceState state;
  state.room = options_.park_user;
  state.entity = conference_uri(options_.park_user);
  state.subject = "parked calls";
  const std::string prefix = options_.park_user + "/";
  std::vector<std::pair<const Room*, const Call*>> parked;
  for (const Room* room : rooms_.all()) {
    if (!room->name().starts_with(prefix)) continue;
    for (const Call* call : room->calls()) {
      if (call->roster.parked) parked.emplace_back(room, call);
    }
  }
  std::sort(parked.begin(), parked.end(),
            [](const auto& a, const auto& b) { return a.second->member() < b.second->member(); });
  for (const auto& [room, call] : parked) state.members.push_back(member_state(room, *call));
  return state;
}

std::vector<ConferenceState> Server::rooms() const {
  std::vector<ConferenceState> out;
  for (const Room* room : rooms_.all()) {
    if (auto state = room_state(room->name())) out.push_back(std::move(*state));
  }
  return out;
}

void Server::publish(const std::string& room, ControlEvent::Kind kind, uint64_t member) {
  if (listener_) listener_(ControlEvent{kind, room, member});
  on_room_changed(room, kind);
  if (room.starts_with(options_.park_user + "/")) {
    on_room_changed(options_.park_user, ControlEvent::Kind::kMemberChanged);
  }
}

ControlResult Server::set_muted(std::string_view room, uint64_t member, bool muted) {
  Call* call = find_member(room, member);
  if (call == nullptr) return {404, "no such member"};
  // Until its PIN is right a caller is neither heard nor hearing
  // (on_dtmf lifts both): nobody unmutes it into the room before that.
  if (!muted && call->roster.awaiting_pin) {
    return {409, "the member has not entered the room's PIN yet"};
  }
  if (call->media.settings.muted != muted) {
    call->media.settings.muted = muted;
    apply_settings(*call);
    announce_mute(*call);
    publish(call->room(), ControlEvent::Kind::kMemberChanged, member);
  }
  return {200, muted ? "muted" : "unmuted"};
}

ControlResult Server::kick(std::string_view room, uint64_t member) {
  Call* call = find_member(room, member);
  if (call == nullptr) {
    // A dial-out still ringing is stopped with CANCEL.
    if (Call* ringing = find_ringing(room, member)) {
      cancel_dial_out(*ringing);
      return {200, "cancelled"};
    }
    return {404, "no such member"};
  }
  end_call(sip::DialogId(call->id()), /*send_bye=*/true);
  return {200, "removed"};
}

ControlResult Server::set_role(std::string_view room, uint64_t member, MemberRole role,
                               uint64_t whisper_target) {
  Call* call = find_member(room, member);
  if (call == nullptr) return {404, "no such member"};
  if (role == MemberRole::kWhisper) {
    if (whisper_target == member || find_member(room, whisper_target) == nullptr) {
      return {400, "whisper needs another member of the room as target"};
    }
  }
  call->roster.role = role;
  if (role == MemberRole::kWhisper) call->roster.whisper_target = whisper_target;
  apply_settings(*call);
  publish(call->room(), ControlEvent::Kind::kMemberChanged, member);
  // Someone else may have been the last visible member's company.
  after_leave(call->room());
  return {200, std::string(role_name(role))};
}

ControlResult Server::set_hold(std::string_view room, uint64_t member, bool hold) {
  Call* call = find_member(room, member);
  if (call == nullptr) return {404, "no such member"};
  // The focus's hold changes the mix only (no re-INVITE): the member hears
  // music on hold and is heard by nobody until resumed. A member that holds
  // the focus itself (sendonly) still gets no RTP (RFC 3264 §6.1).
  call->media.focus_hold = hold;
  const mixer::HoldMode mode = call->effective_hold();
  if (call->media.settings.hold != mode) {
    call->media.settings.hold = mode;
    apply_settings(*call);
    publish(call->room(), ControlEvent::Kind::kMemberChanged, member);
  }
  return {200, hold ? "on hold" : "resumed"};
}

ControlResult Server::dial_out(std::string_view room, std::string_view uri,
                               std::string_view account) {
  const auto parsed = sip::parse_uri(uri);
  if (!parsed || !parsed->is_sip()) return {400, "a sip: or sips: URI is needed"};
  if (room.empty()) return {400, "room name is empty"};
  if (has_control_character(room)) return {400, "bad room name: control character"};
  // No new call past the call and transaction budgets (the CPU budget is
  // for the network's requests, not an operator's), and an account's
  // INVITEs toward one destination spend a reflection budget as a REFER's
  // do (the operator's token is not held to that one).
  std::string why;
  if (guard_.overloaded(rooms_.call_count() + dialing_.size(),
                        stack_.transactions().pending_server(),
                        /*exempt_source=*/true, &why)) {
    guard_.log("overload-" + why, account.empty() ? "admin" : std::string(account));
    return {503, "overloaded (" + why + "): try again later"};
  }
  DialOut request;
  if (!account.empty()) {
    request.source = "account:" + std::string(account);
    request.source_proven = true;  // authenticated (and no address)
    if (!guard_.may_reflect(request.source, first_hop_host({}, *parsed), request.source_proven)) {
      return {429, "too many calls toward that destination: try again later"};
    }
    // The account's call cap, as for its REFERs and its own INVITEs, from
    // this INVITE until the call ends (the operator's token has none).
    if (!guard_.may_add_call(request.source)) {
      return {429, "too many calls for this account: try again later"};
    }
    request.limit_key = request.source;
  }
  request.room = std::string(room);
  request.target = std::string(uri);
  request.account = std::string(account);
  start_dial_out(std::move(request));
  return {202, "calling " + std::string(uri)};
}

void Server::set_event_listener(std::function<void(const ControlEvent&)> listener) {
  listener_ = std::move(listener);
}

}  // namespace chorus::focus
