#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "focus/events/conference_state.hpp"
#include "focus/privileges.hpp"

namespace chorus::focus {

// The outcome of an operator action; status follows HTTP (200 done,
// 202 started, 400 bad argument, 404 no such room/member, 409 not possible now).
struct ControlResult {
  int status = 200;
  std::string message;
  bool ok() const { return status < 300; }
};

// Something that changed in a room, for live consoles (admin WebSocket).
struct ControlEvent {
  enum class Kind : uint8_t {
    kRoomCreated,
    kRoomEnded,
    kMemberJoined,
    kMemberLeft,
    kMemberChanged,
    kTalker,
    kRecording,   // a room's recording started, stopped or failed
    kSidebars,    // a sidebar was created, dissolved, or its members changed
    kMoveFailed,  // a move to another node failed: the member stays in `room`
    // The accounts were reloaded (no room): what an account opened with a
    // right it no longer holds is closed. Not sent on event streams.
    kAccountsChanged,
  };
  Kind kind = Kind::kMemberChanged;
  std::string room;
  uint64_t member = 0;  // 0 for room events
};

// Credentials of an admin request checked against the SIP accounts (HTTP
// Digest, RFC 7616 — the same accounts and rights as SIP).
struct AccountCheck {
  enum class Outcome : uint8_t {
    kNoCredentials,  // no Digest credentials at all: challenge (401)
    kWrong,          // unknown user, wrong password, stale or replayed nonce: 401
    kForbidden,      // a valid account without the operation's right: 403
    kAllowed,
  };
  Outcome outcome = Outcome::kNoCredentials;
  std::string user;
  bool stale = false;
  // The account is under a password attack: answer, right or wrong, only
  // after this long (as SIP requests on it wait; README "Security").
  std::chrono::milliseconds delay{0};
};

// A new sidebar (README "Sidebars"): its name (unique in the room), its
// first members (member ids of the room, none in another sidebar), the
// level at which they hear the main room (unset: the room's or the
// configured default) and whether the main room hears them.
struct SidebarSpec {
  std::string name;
  std::vector<uint64_t> members;
  std::optional<double> main_gain_db;
  bool whisper_main = false;
};

// What an operator can see and do live; the focus Server implements it. Every
// call happens on the signalling thread (the admin listener shares its
// io_context), so implementations need no locks.
class Control {
 public:
  virtual ~Control() = default;
  virtual std::vector<ConferenceState> rooms() const = 0;
  virtual ControlResult set_muted(std::string_view room, uint64_t member, bool muted) = 0;
  // Ends the member's call with BYE.
  virtual ControlResult kick(std::string_view room, uint64_t member) = 0;
  // whisper_target: the member a whisperer is heard by (0 unless kWhisper).
  virtual ControlResult set_role(std::string_view room, uint64_t member, MemberRole role,
                                 uint64_t whisper_target) = 0;
  // Hold: the member is heard by none and hears music on hold; false resumes.
  virtual ControlResult set_hold(std::string_view room, uint64_t member, bool hold) = 0;
  // A caller in the room's waiting room: answered into the room, or
  // refused (603). 409 for a member that is not waiting.
  virtual ControlResult admit(std::string_view /*room*/, uint64_t /*member*/) {
    return {409, "no waiting room here"};
  }
  virtual ControlResult refuse(std::string_view /*room*/, uint64_t /*member*/) {
    return {409, "no waiting room here"};
  }
  // The call goes to `uri` instead: a waiting caller is redirected (302), a
  // ringing dial-out CANCELled and `uri` called in (within `account`'s
  // dial-out patterns; "" : the operator's token), a member transferred.
  virtual ControlResult pickup(std::string_view /*room*/, uint64_t /*member*/,
                               std::string_view /*uri*/, std::string_view /*account*/) {
    return {409, "no pickup here"};
  }
  // Starts (on) or stops a room's recording (README "Recording"): 200, 404
  // for a room without members, 409 when it already is / is not recording,
  // 503 when the media side or the writer cannot take it now. `account`:
  // who asks, for the log ("" : the operator's token).
  virtual ControlResult set_recording(std::string_view /*room*/, bool /*on*/,
                                      std::string_view /*account*/ = {}) {
    return {409, "no recording here"};
  }
  // Moves the member to room `to` (README "Moving members"): 202 once the
  // media side has it (the move completes a tick later), 400 for a bad room
  // name, 403 for a missing or wrong PIN, 404 no such member or (listed
  // rooms only) room, 409 when it cannot move now or the room is full, 503
  // when the media side is busy. `account` "" (the operator's token) or one
  // holding `moderate` passes the target's PIN and member limit.
  virtual ControlResult move_member(std::string_view /*room*/, uint64_t /*member*/,
                                    std::string_view /*to*/, std::optional<std::string> /*pin*/,
                                    std::string_view /*account*/) {
    return {409, "no moving here"};
  }
  // Merging room `room` into `into` and splitting members of `room` off into
  // `to` (README "Moving members"): each member moves as move_member moves
  // it, with the same rights, PIN and limit rules (`pin` for an account
  // without `moderate`; the limit counts every member asked for). Checked
  // before anything moves: 400 bad room name, empty or unknown member list
  // (split), 404 no such room, 409 the same room, a member already moving
  // or whose media is changing, 403/409 the target's PIN or limit. Then 202
  // with `report` naming the members that are moving and those that stayed
  // (a call that cannot move, e.g. a service or a caller not admitted yet,
  // or the media side refusing it: 503 when nobody could move).
  struct RoomMoveReport {
    std::vector<uint64_t> moving;
    struct Stayed {
      uint64_t member = 0;
      ControlResult why;
    };
    std::vector<Stayed> stayed;
  };
  virtual ControlResult merge_rooms(std::string_view /*room*/, std::string_view /*into*/,
                                    std::optional<std::string> /*pin*/,
                                    std::string_view /*account*/, RoomMoveReport* /*report*/) {
    return {409, "no merging here"};
  }
  virtual ControlResult split_room(std::string_view /*room*/, std::string_view /*to*/,
                                   const std::vector<uint64_t>& /*members*/,
                                   std::optional<std::string> /*pin*/, std::string_view /*account*/,
                                   RoomMoveReport* /*report*/) {
    return {409, "no splitting here"};
  }
  // Sidebars (README "Sidebars"). create: 201 with the new id in `id`; 400
  // for a bad name or gain, 404 for no such room or member, 409 for a name
  // in use, a member already in a sidebar, or a room holding the most
  // sidebars. dissolve: its members go back to the main room. A member put
  // into a sidebar leaves any other one.
  virtual ControlResult create_sidebar(std::string_view /*room*/, const SidebarSpec& /*spec*/,
                                       uint32_t* /*id*/) {
    return {409, "no sidebars here"};
  }
  virtual ControlResult dissolve_sidebar(std::string_view /*room*/, uint32_t /*id*/) {
    return {409, "no sidebars here"};
  }
  virtual ControlResult set_sidebar_member(std::string_view /*room*/, uint32_t /*id*/,
                                           uint64_t /*member*/, bool /*in*/) {
    return {409, "no sidebars here"};
  }
  // The focus INVITEs `uri` into `room` (202: the call is being placed).
  // `account`: the account that asked ("" : the operator's token); a 3xx
  // from the callee is followed only to a target that account may call.
  virtual ControlResult dial_out(std::string_view room, std::string_view uri,
                                 std::string_view account) = 0;
  // Checks `authorization` (a "Digest ..." value) for `method` and `uri`
  // against the accounts and the right `operation` needs. Without accounts
  // nobody can pass (kNoCredentials). `source` is the client's address
  // (AdminApi::client_of): failed attempts count per (source, account) as
  // on SIP, and a locked pair gets kWrong whatever it sent.
  virtual AccountCheck check_account(std::string_view authorization, std::string_view method,
                                     std::string_view uri, Operation operation,
                                     std::string_view source) {
    (void)authorization, (void)method, (void)uri, (void)operation, (void)source;
    return {};
  }
  // The operator's token (admin Bearer, the event stream's ?token=, the
  // metrics token) was presented from `source`; `right`: it matched. A
  // wrong one counts per source as a failed digest attempt on an account of
  // its own, toward the same lockout (logged and counted, for fail2ban).
  // The right token is let in even from a locked source: `source` may be a
  // proxy's address (one not in admin.trusted_proxies, AdminApi::client_of),
  // and a 32+ character token is no guessable secret whose lockout must
  // hide a right guess; only a password's lockout must (check_account).
  virtual void count_token_attempt(std::string_view source, bool right) {
    (void)source, (void)right;
  }
  // WWW-Authenticate values for a 401 (one per digest algorithm); empty when
  // no account exists. `stale`: the credentials were right but the nonce
  // had expired (RFC 7616 §3.3).
  virtual std::vector<std::string> account_challenges(bool stale) {
    (void)stale;
    return {};
  }
  // Whether `user` is an account holding `operation`'s right now.
  virtual bool account_holds(std::string_view user, Operation operation) const {
    (void)user, (void)operation;
    return false;
  }
  // Whether the account's dial-out patterns allow the focus to call `uri`.
  virtual bool dial_out_allowed(std::string_view user, std::string_view uri) const {
    (void)user, (void)uri;
    return false;
  }
  // One listener (the admin service); replaces any earlier one.
  virtual void set_event_listener(std::function<void(const ControlEvent&)> listener) = 0;
};

}  // namespace chorus::focus
