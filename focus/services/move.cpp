// Moving a member to another room (issue #17, README "Moving members"): the
// same dialog, the same RTP port, SSRC and SRTP context; only the mix it
// hears and feeds changes, at one tick boundary (mixer kMoveParticipant).
//
//   REFER sip:B@focus  Refer-To: <urn:sip-action:conference:add>
//                      Target-Dialog: <the member's dialog in room A>
//   POST /api/rooms/A/members/ID/move  {"to": "B", "pin": "..."}
//
// Both need the `move` right; a mover who also holds `moderate` (or the
// operator's token) passes room B's PIN and member limit, anyone else must
// give the PIN (the REFER's Request-URI `;pin=`, the API's "pin") and find
// room B below its limit. Once the shard has moved the member: room A's and
// room B's conference packages update, A hears the leave tone and B the
// join tone, and the member's remote target is refreshed with room B's
// Contact (RFC 3261 §12.2 target refresh: an offer-less UPDATE, RFC 3311
// §5.1, or a re-INVITE with our offer when the peer has no UPDATE), so its
// next requests name room B. A refused or failed move changes nothing.

#include <spdlog/spdlog.h>

#include <algorithm>

#include "focus/events/event_service.hpp"
#include "focus/ops/log.hpp"
#include "focus/server.hpp"
#include "signaling/auth/digest_hash.hpp"
#include "signaling/dialog/invite_session.hpp"

namespace chorus::focus {

namespace {

bool valid_target_name(std::string_view room) {
  if (room.empty() || room.size() > 128) return false;
  for (const char c : room) {
    // No control characters, no '/' (park's sub-rooms), nothing a SIP user
    // part would have to escape badly.
    if (static_cast<unsigned char>(c) < 0x21 || c == '/' || c == '@' || c == '"' || c == '<' ||
        c == '>' || c == '\\' || c == 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace

ControlResult Server::move_member(std::string_view room, uint64_t member, std::string_view to,
                                  std::optional<std::string> pin, std::string_view account) {
  Call* call = find_member(room, member);
  if (call == nullptr) return {404, "no such member"};
  // The operator's token, or an account that moderates, passes the target's
  // PIN and member limit.
  const bool privileged = account.empty() || digest_->has_right(account, sip::kRightModerate);
  if (const std::optional<MoveRefusal> refusal = guard_move_pin(
          "account:" + std::string(account), /*counted=*/true, std::string(to), pin, privileged)) {
    return {refusal->status, refusal->why};
  }
  return start_move(*call, std::string(to), pin, privileged, std::nullopt);
}

std::optional<Server::MoveRefusal> Server::guard_move_pin(std::string_view guesser, bool counted,
                                                          const std::string& to,
                                                          const std::optional<std::string>& pin,
                                                          bool privileged) {
  if (privileged || !pin || !valid_target_name(to)) return std::nullopt;
  const RoomPolicy* policy = policy_for(to);
  if (policy == nullptr || policy->pin.empty()) return std::nullopt;
  // As in admission: while the pair is locked even the right PIN is answered
  // as a wrong one, so a guesser learns nothing until the lockout ends.
  const std::string key = "pin:" + to;
  const MoveRefusal wrong{403, 403, "Wrong PIN", "wrong PIN"};
  if (counted && guard_.auth_locked(guesser, key)) {
    guard_.locked_attempt(guesser, key);
    return wrong;
  }
  if (!sip::constant_time_equals(*pin, policy->pin)) {
    if (counted) guard_.auth_failed(guesser, key);
    return wrong;
  }
  if (counted) guard_.auth_succeeded(guesser, key);
  return std::nullopt;
}

std::optional<Server::MoveRefusal> Server::refuse_move(const Call& call, const std::string& to,
                                                       const std::optional<std::string>& pin,
                                                       bool privileged) const {
  if (!valid_target_name(to)) return MoveRefusal{400, 404, "Bad Room Name", "bad room name"};
  if (to == call.room()) {
    return MoveRefusal{409, 488, "Already In That Room", "the member is in that room already"};
  }
  if (is_service_room(to) || is_service_room(call.room()) || call.roster.hidden ||
      call.roster.parked) {
    return MoveRefusal{409, 488, "Service Calls Do Not Move",
                       "service calls (music on hold, park) do not move"};
  }
  if (call.roster.waiting || call.roster.awaiting_pin) {
    return MoveRefusal{409, 481, "Not Admitted Yet", "not admitted yet"};
  }
  if (call.media.rtp_port == 0 || call.media.pending_add != 0 || call.media.pending_codec != 0 ||
      call.media.pending_move != 0 || call.sip.pending_reoffer ||
      remote_moves_.contains(call.id())) {
    return MoveRefusal{409, 491, "Media Changing, Try Again",
                       "the member's media is changing; try again"};
  }
  const RoomPolicy* policy = policy_for(to);
  if (policy == nullptr && options_.only_listed_rooms) {
    return MoveRefusal{404, 404, "No Such Conference", "no such room"};
  }
  if (privileged) return std::nullopt;
  // A waiting room lets nobody straight in (README "Waiting room"), and a
  // member already answered cannot be made to wait: only a moderator moves
  // members into such a room.
  if (policy != nullptr && policy->waiting_room) {
    return MoveRefusal{403, 403, "Forbidden: Waiting Room, A Moderator Moves Members In",
                       "room B has a waiting room: only a moderator moves members in"};
  }
  // Moves already on their way there count (their members are not in the
  // room until the shard confirms).
  const size_t limit =
      policy != nullptr && policy->max_members != 0 ? policy->max_members : options_.max_members;
  const Room* existing = rooms_.find(to);
  const size_t there = (existing != nullptr ? existing->size() : 0) + moves_pending_into(to);
  if (limit != 0 && there >= limit) {
    return MoveRefusal{409, 486, "Conference Full", "the room is full"};
  }
  if (policy != nullptr && !policy->pin.empty()) {
    if (!pin) return MoveRefusal{403, 403, "PIN Required", "the room needs its PIN"};
    if (!sip::constant_time_equals(*pin, policy->pin)) {
      return MoveRefusal{403, 403, "Wrong PIN", "wrong PIN"};
    }
  }
  return std::nullopt;
}

ControlResult Server::start_move(Call& call, const std::string& to,
                                 const std::optional<std::string>& pin, bool privileged,
                                 std::optional<Referral> referral) {
  if (const std::optional<MoveRefusal> refusal = refuse_move(call, to, pin, privileged)) {
    return {refusal->status, refusal->why};
  }
  if (moves_remotely(to)) return start_remote_move(call, to, pin, privileged, std::move(referral));
  bool created = false;
  Room& target = rooms_.open(to, &created);
  mixer::Command command;
  command.kind = mixer::Command::Kind::kMoveParticipant;
  command.conference = call.media.conference;
  command.participant = call.media.participant;
  command.target = target.conference();
  // A whisper names a member of the room it leaves: it becomes a participant.
  if (call.roster.role == MemberRole::kWhisper) {
    call.roster.role = MemberRole::kParticipant;
    call.roster.whisper_target = 0;
    call.media.settings.role = to_mixer_role(MemberRole::kParticipant);
    call.media.settings.whisper_targets.clear();
  }
  command.settings = call.media.settings;
  command.settings.sidebar = 0;  // a sidebar is a part of the room it leaves
  const std::optional<mixer::CommandId> id = engine_->submit(std::move(command));
  if (!id) {
    if (created) close_room_if_empty(to);  // never published
    return {503, "the media side is busy; try again"};
  }
  // The engine placed the member in the target's conference already: what
  // the focus sends it from now on (settings, removal) goes there.
  moves_in_flight_[*id] = {to, call.media.conference};
  call.media.conference = target.conference();
  call.media.pending_move = *id;
  call.media.move_target = to;
  call.media.move_referral = std::move(referral);
  if (created) publish(to, ControlEvent::Kind::kRoomCreated, 0);
  {
    const LogContext context(call.id().call_id, call.room());
    spdlog::info("member {} moving to room {}", call.member(), to);
  }
  return {202, "moving to " + to};
}

void Server::on_move_completion(const mixer::Event& event, bool done) {
  const auto flight = moves_in_flight_.find(event.id);
  if (flight == moves_in_flight_.end()) return;
  const MoveInFlight move = flight->second;
  moves_in_flight_.erase(flight);
  Call* call = rooms_.find_participant(event.participant);
  if (call == nullptr || call->media.pending_move != event.id) {
    // The call ended meanwhile: its removal went to the target's conference;
    // the room opened for it may be empty now.
    close_unused(move.target);
    return;
  }
  std::optional<Referral> referral = std::move(call->media.move_referral);
  call->media.pending_move = 0;
  call->media.move_referral.reset();
  call->media.move_target.clear();
  if (!done) {
    call->media.conference = move.from_conference;
    // What was changed meanwhile went to room B's conference: room A's
    // shard still holds the member with the settings of before.
    apply_settings(*call);
    {
      const LogContext context(call->id().call_id, call->room());
      spdlog::warn("member {} could not move to room {}: {}", call->member(), move.target,
                   mixer::failure_name(event.failure));
    }
    ++media_commands_failed_;
    close_unused(move.target);
    if (referral) notify_referrer(*referral, 500, "Server Internal Error");
    return;
  }
  const std::string from = call->room();
  rooms_.move(call->id(), move.target);
  // Room A's binding goes first: a second binding of the same Call-ID
  // keeps the room it was first bound to, and the call's messages would go
  // on being relayed to A's watchers instead of B's.
  call->sip.relay.reset();
  call->sip.relay = events_->bind_call(call->id().call_id, move.target);
  // Settings changed while it moved were sent without a sidebar; room B's
  // view of the member (no sidebar, its role) applies from now on.
  apply_settings(*call);
  {
    const LogContext context(call->id().call_id, move.target);
    spdlog::info("member {} moved from room {}", call->member(), from);
  }
  // Room A hears it go, room B come (or its first-member prompt).
  if (const Room* left = rooms_.find(from);
      left != nullptr && left->has_visible() && announcements_for(from).leave_tone) {
    play_room_tone(*left, /*join=*/false);
  }
  announce_join(*call);
  if (Room* room = rooms_.room_of(*call)) auto_record(*room);
  publish(from, ControlEvent::Kind::kMemberLeft, call->member());
  publish(move.target, ControlEvent::Kind::kMemberJoined, call->member());
  refresh_target(*call);
  if (referral) notify_referrer(*referral, 200, "OK");
  after_leave(from);  // room A may be empty, or hold only listeners now
}

void Server::close_unused(const std::string& room) {
  // Only a room this closes now was announced and not yet ended: a room that
  // is gone already (closed by its last member's leaving) published its end.
  if (rooms_.find(room) == nullptr) return;
  close_room_if_empty(room);
  if (rooms_.find(room) != nullptr) return;
  if (ends_deferred_.contains(room)) {
    // Its members left while the move was on its way: it ends as their
    // leaving would have ended it.
    end_room(room);
    return;
  }
  // Only the move kept it: undoing that leaves the dial-outs ringing into
  // it as they were before the move (ringing into no room, which the first
  // to answer opens).
  publish(room, ControlEvent::Kind::kRoomEnded, 0);
}

bool Server::move_pending_into(std::string_view room) const {
  return moves_pending_into(room) != 0;
}

size_t Server::moves_pending_into(std::string_view room) const {
  return static_cast<size_t>(
      std::count_if(moves_in_flight_.begin(), moves_in_flight_.end(),
                    [&](const auto& flight) { return flight.second.target == room; }));
}

void Server::refresh_target(Call& call) {
  sip::Dialog* dialog = dialogs_.find(call.id());
  sip::InviteSession* session = dialog != nullptr ? invite_session(*dialog) : nullptr;
  if (session == nullptr) return;
  dialog->set_local_contact(contact_for(call.room(), call.sip.transport));
  sip::Message update = session->make_update(*dialog);
  update.set_header("Allow", kAllow);
  update.set_header("Supported", kSupported);
  const sip::DialogId id = call.id();
  stack_.send_request(std::move(update), [this, id](const sip::ClientEvent& event) {
    const int status = event.kind == sip::ClientEvent::Kind::kResponse && event.response != nullptr
                           ? event.response->status()
                           : 0;
    on_session_response(id, event);
    if (status == 405 || status == 501) {
      // No UPDATE there: a re-INVITE carries the new Contact instead.
      if (Call* still = rooms_.find_call(id)) send_session_reinvite(*still);
    }
  });
}

}  // namespace chorus::focus
