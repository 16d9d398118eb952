#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "focus/events/conference_state.hpp"

namespace chorus::focus {

// RFC 4235: the dialog event package's document, application/
// dialog-info+xml, for a room: one <dialog> per member (hidden ones
// included — only authorised supervisors subscribe), seen from the focus:
// local = the focus (conference URI, our Contact), remote = the member.
// Always full state (RFC 4235 §4.1 lets the notifier choose).
//
// local-tag / remote-tag are the focus's and the member's tags, so a Join
// or Replaces to the focus uses to-tag = local-tag, from-tag = remote-tag
// (RFC 3911 §7.1, RFC 3891 §6.1).

inline constexpr std::string_view kDialogInfoType = "application/dialog-info+xml";
inline constexpr std::string_view kDialogInfoNamespace = "urn:ietf:params:xml:ns:dialog-info";

// RFC 4235 §4.1.2 <state>: "trying" while dialing out without an answer,
// "early" once the far end answered provisionally with a tag, "confirmed",
// and "terminated" for a member disconnecting or disconnected.
std::string_view dialog_state(const MemberState& member);
// The dialog id attribute: unique per dialog of the room (§4.1.1).
std::string dialog_element_id(const MemberState& member);

std::string dialog_info_full(const ConferenceState& state, uint32_t version);

}  // namespace chorus::focus
