// Sidebars (issue #17, README "Sidebars"): sub-conversations of a room.
// Created, filled and dissolved from the admin API (Control) and by REFER
// with Refer-To urn:x-chorus:conference:sidebar-join / sidebar-leave /
// sidebar-dissolve. The Room keeps who is in which sidebar; every change
// reaches the shard through apply_settings (the same kUpdateParticipant
// path as mute and hold), so the mixer's per-sidebar buses follow.
#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>

#include "focus/events/event_service.hpp"
#include "focus/ops/log.hpp"
#include "focus/server.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::focus {

namespace {

constexpr std::string_view kVendorActionPrefix = "x-chorus:";
constexpr std::string_view kSidebarJoin = "conference:sidebar-join";
constexpr std::string_view kSidebarLeave = "conference:sidebar-leave";
constexpr std::string_view kSidebarDissolve = "conference:sidebar-dissolve";
constexpr double kMinGainDb = -60.0;

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > Room::kMaxSidebarName) return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

std::optional<uint32_t> parse_number(std::string_view text) {
  uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) return std::nullopt;
  return value;
}

// A ;name=value parameter of an action URN (after the action name),
// percent-decoded; "" for a parameter without value; nullopt when absent.
std::optional<std::string> urn_param(std::string_view opaque, std::string_view name) {
  size_t at = opaque.find(';');
  while (at != std::string_view::npos) {
    std::string_view rest = opaque.substr(at + 1);
    const size_t next = rest.find_first_of(";?#");
    const std::string_view pair = rest.substr(0, next);
    const size_t eq = pair.find('=');
    if (sip::iequals(pair.substr(0, eq), name)) {
      return eq == std::string_view::npos ? std::string()
                                          : sip::percent_decode(pair.substr(eq + 1));
    }
    if (next == std::string_view::npos || rest[next] != ';') break;
    at += 1 + next;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ConferenceState> Server::subscribed_state(std::string_view key) const {
  const size_t at = key.find(kSidebarKeySeparator);
  if (at == std::string_view::npos) return room_state(key);
  const std::string_view room_name = key.substr(0, at);
  const std::optional<uint32_t> id = parse_number(key.substr(at + 1));
  const Room* room = rooms_.find(room_name);
  const Sidebar* sidebar = room != nullptr && id ? room->sidebar(*id) : nullptr;
  if (sidebar == nullptr) return std::nullopt;
  std::optional<ConferenceState> state = room_state(room_name);
  if (!state) return std::nullopt;
  // RFC 4575 for the sidebar as a conference of its own: its URI, its name,
  // its members.
  state->entity = sidebar_uri(room_name, sidebar->id);
  state->subject = sidebar->name;
  state->max_members = 0;
  std::erase_if(state->members, [&](const MemberState& m) { return m.sidebar != sidebar->id; });
  state->sidebars.clear();
  return state;
}

double Server::sidebar_default_gain_db(std::string_view room) const {
  const RoomPolicy* policy = policy_for(room);
  if (policy != nullptr && policy->sidebar_main_gain_db) return *policy->sidebar_main_gain_db;
  return options_.sidebar_main_gain_db;
}

void Server::apply_sidebar(Room& room, uint64_t member) {
  // Two calls during a Replaces: both take the member's sidebar.
  for (Call* call : room.calls()) {
    if (call->member() == member) apply_settings(*call);
  }
}

ControlResult Server::create_sidebar(std::string_view room_name, const SidebarSpec& spec,
                                     uint32_t* id) {
  Room* room = rooms_.find(room_name);
  if (room == nullptr) return {404, "no such room (a room has sidebars while it has members)"};
  if (!valid_name(spec.name)) {
    return {400, "\"name\" must be 1-64 characters without control characters"};
  }
  const double gain = spec.main_gain_db.value_or(sidebar_default_gain_db(room_name));
  if (!std::isfinite(gain) || gain < kMinGainDb || gain > 0) {
    return {400, "\"main_gain_db\" must be between -60 and 0"};
  }
  if (room->sidebar_named(spec.name) != nullptr) {
    return {409, "the room has a sidebar named \"" + spec.name + "\" already"};
  }
  if (room->sidebars().size() >= Room::kMaxSidebars) {
    return {409, "the room has the most sidebars it may have (" +
                     std::to_string(Room::kMaxSidebars) + ")"};
  }
  for (const uint64_t member : spec.members) {
    const Call* call = room->find_member(member);
    if (call == nullptr || call->roster.hidden) {
      return {404, "no such member: " + std::to_string(member)};
    }
    if (const Sidebar* in = room->sidebar_of(member)) {
      return {409, "member " + std::to_string(member) + " is in sidebar " + std::to_string(in->id) +
                       " already"};
    }
  }
  const uint32_t created = room->create_sidebar(spec.name, gain, spec.whisper_main);
  for (const uint64_t member : spec.members) {
    room->join_sidebar(created, member);
    apply_sidebar(*room, member);
  }
  if (id != nullptr) *id = created;
  {
    LogContext context({}, room->name());
    spdlog::info("sidebar {} \"{}\" created ({} member(s), main room at {} dB{})", created,
                 spec.name, spec.members.size(), gain,
                 spec.whisper_main ? ", heard by the main room" : "");
  }
  publish(room->name(), ControlEvent::Kind::kSidebars, 0);
  return {201, "sidebar " + std::to_string(created)};
}

ControlResult Server::dissolve_sidebar(std::string_view room_name, uint32_t id) {
  Room* room = rooms_.find(room_name);
  if (room == nullptr) return {404, "no such room"};
  if (room->sidebar(id) == nullptr) return {404, "no such sidebar"};
  const std::vector<uint64_t> members = room->dissolve_sidebar(id);
  for (const uint64_t member : members) apply_sidebar(*room, member);
  // Its subscribers get their final NOTIFY (noresource, RFC 6665 §4.2.2).
  events_->room_ended(sidebar_key(room->name(), std::to_string(id)));
  {
    LogContext context({}, room->name());
    spdlog::info("sidebar {} dissolved; {} member(s) back in the main room", id, members.size());
  }
  publish(room->name(), ControlEvent::Kind::kSidebars, 0);
  return {200, "dissolved"};
}

ControlResult Server::set_sidebar_member(std::string_view room_name, uint32_t id, uint64_t member,
                                         bool in) {
  Room* room = rooms_.find(room_name);
  if (room == nullptr) return {404, "no such room"};
  if (room->sidebar(id) == nullptr) return {404, "no such sidebar"};
  const Call* call = room->find_member(member);
  if (call == nullptr || call->roster.hidden) return {404, "no such member"};
  if (in) {
    uint32_t from = 0;
    room->join_sidebar(id, member, &from);
    if (from == id) return {200, "in the sidebar already"};
  } else {
    const Sidebar* current = room->sidebar_of(member);
    if (current == nullptr || current->id != id) return {404, "the member is not in that sidebar"};
    room->leave_sidebar(member);
  }
  apply_sidebar(*room, member);
  publish(room->name(), ControlEvent::Kind::kSidebars, member);
  return {200, in ? "in the sidebar" : "back in the main room"};
}

bool Server::handle_sidebar_urn(const sip::ServerTransaction& tx, sip::Dialog* dialog,
                                const std::string& room_name, const sip::Uri& target) {
  if (!sip::iequals(target.scheme, "urn")) return false;
  const std::string name = normalise_action(target.opaque);
  if (!name.starts_with(kVendorActionPrefix)) return false;
  const std::string_view action = std::string_view(name).substr(kVendorActionPrefix.size());
  const bool join = action == kSidebarJoin;
  const bool leave = action == kSidebarLeave;
  const bool dissolve = action == kSidebarDissolve;
  if (!join && !leave && !dissolve) return false;  // another vendor action (or 501 later)
  const std::string local_tag = dialog != nullptr ? dialog->id().local_tag : random_.tag();
  // Moving anyone, oneself included, between conversations needs the right.
  const std::optional<std::string> user = authorize(tx, Operation::kSidebarRefer);
  if (!user) return true;
  // Refused before anything changes: the action runs before the 202.
  if (refuse_referral_backlog(tx, dialog)) return true;
  Room* room = rooms_.find(room_name);
  if (room == nullptr) {
    tx.respond(404, "No Such Conference", local_tag);
    return true;
  }
  // The sidebar: ;sidebar=<name or id>.
  const std::optional<std::string> which = urn_param(target.opaque, "sidebar");
  const Sidebar* sidebar = nullptr;
  if (which && !which->empty()) {
    sidebar = room->sidebar_named(*which);
    if (sidebar == nullptr) {
      if (const auto number = parse_number(*which)) sidebar = room->sidebar(*number);
    }
  }
  ControlResult result;
  if (dissolve) {
    if (sidebar == nullptr) {
      tx.respond(404, "No Such Sidebar", local_tag);
      return true;
    }
    result = dissolve_sidebar(room_name, sidebar->id);
  } else {
    // join and leave name the member by Target-Dialog (RFC 4538).
    const auto target_dialog = tx.request().header("Target-Dialog");
    if (!target_dialog) {
      tx.respond(400, "Missing Target-Dialog", local_tag);
      return true;
    }
    const std::optional<NamedCall> named = resolve_target_dialog(*target_dialog);
    if (!named) {
      tx.respond(400, "Bad Target-Dialog", local_tag);
      return true;
    }
    if (named->member == nullptr || named->member->room() != room_name ||
        named->member->roster.hidden) {
      tx.respond(481, "Target Dialog Does Not Exist", local_tag);
      return true;
    }
    const uint64_t member = named->member->member();
    if (leave) {
      const Sidebar* in = room->sidebar_of(member);
      if (in == nullptr || (sidebar != nullptr && sidebar->id != in->id)) {
        tx.respond(409, "Not In That Sidebar", local_tag);
        return true;
      }
      result = set_sidebar_member(room_name, in->id, member, false);
    } else if (sidebar != nullptr) {
      result = set_sidebar_member(room_name, sidebar->id, member, true);
    } else {
      // A sidebar named but not there yet is created (README "Sidebars").
      if (!which || which->empty()) {
        tx.respond(400, "Missing sidebar Parameter", local_tag);
        return true;
      }
      SidebarSpec spec;
      spec.name = *which;
      if (const auto gain = urn_param(target.opaque, "main-gain-db")) {
        double value = 0;
        const auto [end, ec] = std::from_chars(gain->data(), gain->data() + gain->size(), value);
        if (ec != std::errc() || end != gain->data() + gain->size()) {
          tx.respond(400, "Bad main-gain-db", local_tag);
          return true;
        }
        spec.main_gain_db = value;
      }
      spec.whisper_main = urn_param(target.opaque, "whisper-main").has_value();
      uint32_t id = 0;
      result = create_sidebar(room_name, spec, &id);
      // Then the member moves in (out of any other sidebar).
      if (result.ok()) result = set_sidebar_member(room_name, id, member, true);
    }
  }
  if (!result.ok()) {
    tx.respond(result.status == 404 ? 404 : (result.status == 400 ? 400 : 409),
               result.message.empty() ? "Refused" : result.message, local_tag);
    return true;
  }
  const std::optional<std::optional<Referral>> referral = accept_referral(tx, dialog, room_name);
  if (!referral) return true;
  {
    LogContext context({}, room_name);
    spdlog::info("{} by REFER from {}", action,
                 user->empty() ? std::string("a trusted source") : *user);
  }
  if (*referral) notify_referrer(**referral, 200, "OK");
  return true;
}

}  // namespace chorus::focus
