#pragma once
// The JSON shapes of the admin API (focus/ops/admin_api.hpp) and its event stream.

#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "focus/events/conference_state.hpp"
#include "focus/control.hpp"

namespace chorus::focus {

std::string_view event_name(ControlEvent::Kind kind);

// {"id","entity","display","endpoint","status","joining","role",
//  "whisper_target","whisper_target_id","muted","hold","talking","codec",
//  "clock_rate","level","loss","jitter","call_id"}; whisper_target_id is the
// id of the member whose endpoint is whisper_target (0 if none), resolved in
// `room`.
nlohmann::json member_json(const MemberState& member, const ConferenceState& room);
// {"room","entity","subject","max_members","members":[...]}
nlohmann::json room_json(const ConferenceState& room);
nlohmann::json sidebar_json(const SidebarState& sidebar);
nlohmann::json rooms_json(const std::vector<ConferenceState>& rooms);

// One message of the event stream: {"type": event_name, "room", "member",
// and "state": the member (joined/changed/talker) or room (created) if it
// still exists in `rooms`}.
nlohmann::json event_json(const ControlEvent& event, const std::vector<ConferenceState>& rooms);
// {"type":"snapshot","rooms":[...]}: the first message on a new stream.
nlohmann::json snapshot_json(const std::vector<ConferenceState>& rooms);
// {"type":"levels","rooms":[{"room","members":[{"id","level","talking"}]}]}:
// sent periodically so consoles can draw level meters.
nlohmann::json levels_json(const std::vector<ConferenceState>& rooms);

}  // namespace chorus::focus
