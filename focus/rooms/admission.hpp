#pragma once
// Server internals shared by focus/server.cpp and focus/rooms/admission.cpp:
// where a new INVITE goes and as what.

#include <optional>
#include <string>

#include "focus/server.hpp"

namespace chorus::focus {

struct Server::Admission {
  std::string room;
  MemberRole role = MemberRole::kParticipant;
  uint64_t whisper_target = 0;  // a supervisor Join: the joined member
  // Join (RFC 3911 §4): the sidebar the joined member is in (0: the main
  // room), the conversation the newcomer enters.
  uint32_t sidebar = 0;
  std::string auth_user;
  bool awaiting_pin = false;
  // Replaces of a call still entering the PIN: when its PIN time ends.
  std::optional<sip::TimePoint> pin_deadline;
  // The room's waiting room holds this dial-in until a moderator acts.
  const RoomPolicy* waiting = nullptr;
  // Replaces: the call whose place is taken (its member id, mute, role).
  std::optional<sip::DialogId> replaces;
  uint64_t member = 0;
  bool muted = false;
  bool hidden = false;
  // Park retrieval (RFC 5359 §2.15): the parked call the newcomer talks to.
  std::optional<sip::DialogId> unpark;
};

}  // namespace chorus::focus
