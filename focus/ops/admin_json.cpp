#include "focus/ops/admin_json.hpp"

#include "focus/events/conference_info.hpp"

#include <algorithm>

namespace chorus::focus {

using nlohmann::json;

std::string_view event_name(ControlEvent::Kind kind) {
  switch (kind) {
    case ControlEvent::Kind::kRoomCreated:
      return "room_created";
    case ControlEvent::Kind::kRoomEnded:
      return "room_ended";
    case ControlEvent::Kind::kMemberJoined:
      return "member_joined";
    case ControlEvent::Kind::kMemberLeft:
      return "member_left";
    case ControlEvent::Kind::kMemberChanged:
      return "member_changed";
    case ControlEvent::Kind::kTalker:
      return "talker";
    case ControlEvent::Kind::kRecording:
      return "recording";
    case ControlEvent::Kind::kSidebars:
      return "sidebars";
    case ControlEvent::Kind::kMoveFailed:
      return "move_failed";
    case ControlEvent::Kind::kAccountsChanged:
      return "accounts_changed";
  }
  return "member_changed";
}

json member_json(const MemberState& m, const ConferenceState& room) {
  uint64_t target_id = 0;
  if (!m.whisper_target.empty()) {
    for (const MemberState& other : room.members) {
      if (other.endpoint == m.whisper_target) target_id = other.id;
    }
  }
  // nlohmann::json refuses invalid UTF-8 at dump time; names and URIs come
  // from the network, so they are dumped with replacement (admin_api.cpp).
  return json{{"id", m.id},
              {"entity", m.entity},
              {"display", m.display_text},
              {"endpoint", m.endpoint},
              {"status", m.status},
              {"joining", m.joining_method},
              {"role", role_name(m.role)},
              {"whisper_target", m.whisper_target},
              {"whisper_target_id", target_id},
              {"muted", m.muted},
              {"hold", m.on_hold},
              {"waiting", m.waiting},
              {"talking", m.talking},
              {"codec", m.codec},
              {"clock_rate", m.clock_rate},
              {"level", m.level_dbov},
              {"loss", m.loss_fraction},
              {"jitter", m.jitter_ms},
              {"jitter_buffer_ms", m.jitter_buffer_ms},
              {"call_id", m.dialog.call_id},
              {"sidebar", m.sidebar}};
}

json sidebar_json(const SidebarState& s) {
  return json{{"id", s.id},
              {"name", s.name},
              {"uri", s.uri},
              {"members", s.members},
              {"main_gain_db", s.main_gain_db},
              {"whisper_main", s.whisper_main}};
}

json room_json(const ConferenceState& room) {
  json members = json::array();
  for (const MemberState& m : room.members) members.push_back(member_json(m, room));
  json sidebars = json::array();
  for (const SidebarState& s : room.sidebars) sidebars.push_back(sidebar_json(s));
  return json{{"room", room.room},
              {"entity", room.entity},
              {"subject", room.subject},
              {"max_members", room.max_members},
              {"recording", room.recording},
              {"members", std::move(members)},
              {"sidebars", std::move(sidebars)}};
}

json rooms_json(const std::vector<ConferenceState>& rooms) {
  json out = json::array();
  for (const ConferenceState& room : rooms) out.push_back(room_json(room));
  return out;
}

json event_json(const ControlEvent& event, const std::vector<ConferenceState>& rooms) {
  json out{{"type", event_name(event.kind)}, {"room", event.room}, {"member", event.member}};
  const auto room = std::find_if(rooms.begin(), rooms.end(),
                                 [&](const ConferenceState& r) { return r.room == event.room; });
  if (room == rooms.end()) return out;
  // A sidebar change carries the room's whole list, with the member's state
  // too when one member moved in or out (the console needs both).
  if (event.kind == ControlEvent::Kind::kSidebars) {
    json sidebars = json::array();
    for (const SidebarState& s : room->sidebars) sidebars.push_back(sidebar_json(s));
    out["sidebars"] = std::move(sidebars);
  }
  if (event.member == 0) {
    if (event.kind == ControlEvent::Kind::kRoomCreated) out["state"] = room_json(*room);
    if (event.kind == ControlEvent::Kind::kRecording) out["recording"] = room->recording;
    return out;
  }
  for (const MemberState& m : room->members) {
    if (m.id == event.member) out["state"] = member_json(m, *room);
  }
  return out;
}

json snapshot_json(const std::vector<ConferenceState>& rooms) {
  return json{{"type", "snapshot"}, {"rooms", rooms_json(rooms)}};
}

json levels_json(const std::vector<ConferenceState>& rooms) {
  json list = json::array();
  for (const ConferenceState& room : rooms) {
    json members = json::array();
    for (const MemberState& m : room.members) {
      members.push_back(json{{"id", m.id}, {"level", m.level_dbov}, {"talking", m.talking}});
    }
    list.push_back(json{{"room", room.room}, {"members", std::move(members)}});
  }
  return json{{"type", "levels"}, {"rooms", std::move(list)}};
}

}  // namespace chorus::focus
