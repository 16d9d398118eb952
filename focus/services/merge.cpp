// Merging two rooms and splitting a room (issue #17, RFC 5850 §3.3.4 and
// §3.3.6; README "Moving members"): every member asked for moves as one
// member moves (services/move.cpp), each by its own kMoveParticipant, so
// each keeps its dialog, RTP port and SSRC and gets the target refresh.
//
//   POST /api/rooms/A/merge  {"into": "B"}             every member of A
//   POST /api/rooms/A/split  {"to": "B", "members": [ids]}
//
// Everything is checked before anything moves. A merge leaves behind the
// calls that cannot move (music on hold and park services, callers not
// admitted yet) and names them; room A then ends as after its last member's
// leaving (hidden calls are released). A split moves all the listed members
// or none. A member the shard fails to move stays in A (logged, counted in
// media_commands_failed); the 202 has already named it as moving, so the
// rooms' state is what tells.

#include <spdlog/spdlog.h>

#include <algorithm>

#include "focus/ops/log.hpp"
#include "focus/server.hpp"

namespace chorus::focus {

ControlResult Server::merge_rooms(std::string_view room, std::string_view into,
                                  std::optional<std::string> pin, std::string_view account,
                                  RoomMoveReport* report) {
  const Room* from = rooms_.find(room);
  if (from == nullptr) return {404, "no such room"};
  return move_calls(std::string(room), std::string(into), from->calls(), pin, account,
                    /*all_or_nothing=*/false, report);
}

ControlResult Server::split_room(std::string_view room, std::string_view to,
                                 const std::vector<uint64_t>& members,
                                 std::optional<std::string> pin, std::string_view account,
                                 RoomMoveReport* report) {
  if (members.empty()) return {400, "\"members\" must name at least one member"};
  const Room* from = rooms_.find(room);
  if (from == nullptr) return {404, "no such room"};
  std::vector<Call*> calls;
  for (const uint64_t member : members) {
    Call* call = from->find_member(member);
    if (call == nullptr) {
      return {400, "no member " + std::to_string(member) + " in room " + std::string(room)};
    }
    if (std::find(calls.begin(), calls.end(), call) == calls.end()) calls.push_back(call);
  }
  return move_calls(std::string(room), std::string(to), calls, pin, account,
                    /*all_or_nothing=*/true, report);
}

ControlResult Server::move_calls(const std::string& from, const std::string& to,
                                 const std::vector<Call*>& calls,
                                 const std::optional<std::string>& pin, std::string_view account,
                                 bool all_or_nothing, RoomMoveReport* report) {
  RoomMoveReport local;
  RoomMoveReport& out = report != nullptr ? *report : local;
  out = {};
  if (to == from) return {409, "that is the same room"};
  const bool privileged = account.empty() || digest_->has_right(account, sip::kRightModerate);
  // One request, one guess, however many members it moves.
  if (const std::optional<MoveRefusal> refusal = guard_move_pin(
          "account:" + std::string(account), /*counted=*/true, to, pin, privileged)) {
    return {refusal->status, refusal->why};
  }
  // The checks, call by call: about the target (name, PIN, listed rooms,
  // full) or a media change under way, the request is refused; a call that
  // cannot move at all stays (merge) or refuses the request (split).
  std::vector<Call*> movable;
  std::vector<RoomMoveReport::Stayed> stayed;
  for (Call* call : calls) {
    const std::optional<MoveRefusal> refusal = refuse_move(*call, to, pin, privileged);
    if (!refusal) {
      movable.push_back(call);
      continue;
    }
    const bool cannot_move = refusal->sip_status == 488 || refusal->sip_status == 481;
    if (cannot_move && !all_or_nothing) {
      stayed.push_back({call->member(), {refusal->status, refusal->why}});
      continue;
    }
    if (refusal->sip_status == 491 || cannot_move) {
      return {refusal->status, "member " + std::to_string(call->member()) + ": " + refusal->why};
    }
    return {refusal->status, refusal->why};
  }
  if (movable.empty()) {
    return {409, stayed.empty() ? "nobody to move"
                                : "member " + std::to_string(stayed.front().member) + ": " +
                                      stayed.front().why.message};
  }
  if (!privileged) {
    // The limit counts everyone coming at once (refuse_move sees one).
    const RoomPolicy* policy = policy_for(to);
    const size_t limit =
        policy != nullptr && policy->max_members != 0 ? policy->max_members : options_.max_members;
    const Room* existing = rooms_.find(to);
    const size_t there = (existing != nullptr ? existing->size() : 0) + moves_pending_into(to);
    if (limit != 0 && there + movable.size() > limit) return {409, "the room is full"};
  }
  for (Call* call : movable) {
    const uint64_t member = call->member();
    const ControlResult result = start_move(*call, to, pin, privileged, std::nullopt);
    if (result.ok()) {
      out.moving.push_back(member);
    } else {
      stayed.push_back({member, result});
    }
  }
  out.stayed = std::move(stayed);
  if (out.moving.empty()) return out.stayed.front().why;  // the engine refused them all (503)
  {
    const LogContext context({}, from);
    spdlog::info("{} of room {}: {} moving to room {}, {} staying",
                 all_or_nothing ? "split" : "merge", from, out.moving.size(), to,
                 out.stayed.size());
  }
  return {202, "moving " + std::to_string(out.moving.size()) + " to " + to};
}

}  // namespace chorus::focus
