#include "focus/rooms/room.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace chorus::focus {

Call* Room::find(const sip::DialogId& id) const {
  const auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

Call* Room::find_member(uint64_t member) const {
  Call* found = nullptr;
  for (const auto& [id, call] : calls_) {
    if (call->member() != member) continue;
    if (found == nullptr || call->sip.replaces) found = call.get();
  }
  return found;
}

size_t Room::count_member(uint64_t member) const {
  return static_cast<size_t>(std::count_if(calls_.begin(), calls_.end(), [member](const auto& c) {
    return c.second->member() == member;
  }));
}

bool Room::has_visible() const {
  return std::any_of(calls_.begin(), calls_.end(),
                     [](const auto& c) { return c.second->visible(); });
}

std::vector<Call*> Room::calls() const {
  std::vector<Call*> out;
  out.reserve(calls_.size());
  for (const auto& [id, call] : calls_) out.push_back(call.get());
  std::sort(out.begin(), out.end(), [](const Call* a, const Call* b) {
    if (a->member() != b->member()) return a->member() < b->member();
    return a->id().call_id < b->id().call_id;
  });
  return out;
}

const Sidebar* Room::sidebar(uint32_t id) const {
  for (const Sidebar& s : sidebars_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

const Sidebar* Room::sidebar_named(std::string_view name) const {
  for (const Sidebar& s : sidebars_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const Sidebar* Room::sidebar_of(uint64_t member) const {
  for (const Sidebar& s : sidebars_) {
    if (std::binary_search(s.members.begin(), s.members.end(), member)) return &s;
  }
  return nullptr;
}

uint32_t Room::create_sidebar(std::string name, double main_gain_db, bool whisper_main) {
  if (sidebars_.size() >= kMaxSidebars) return 0;
  // A number is never handed out twice in the room's life: a dissolved
  // sidebar's URI (;sidebar=N, published to subscribers) must not lead into
  // a conversation made later. After 2^32 - 1 sidebars the numbers wrap,
  // skipping 0 and the live ones.
  uint32_t id = next_sidebar_id_;
  while (id == 0 || sidebar(id) != nullptr) ++id;
  next_sidebar_id_ = id + 1;
  Sidebar sidebar;
  sidebar.id = id;
  sidebar.name = std::move(name);
  sidebar.main_gain_db = main_gain_db;
  sidebar.whisper_main = whisper_main;
  const auto at = std::lower_bound(sidebars_.begin(), sidebars_.end(), id,
                                   [](const Sidebar& s, uint32_t v) { return s.id < v; });
  sidebars_.insert(at, std::move(sidebar));
  return id;
}

std::vector<uint64_t> Room::dissolve_sidebar(uint32_t id) {
  const auto it = std::find_if(sidebars_.begin(), sidebars_.end(),
                               [id](const Sidebar& s) { return s.id == id; });
  if (it == sidebars_.end()) return {};
  std::vector<uint64_t> members = std::move(it->members);
  sidebars_.erase(it);
  return members;
}

bool Room::join_sidebar(uint32_t id, uint64_t member, uint32_t* moved_from) {
  const auto it = std::find_if(sidebars_.begin(), sidebars_.end(),
                               [id](const Sidebar& s) { return s.id == id; });
  if (it == sidebars_.end()) return false;
  const uint32_t from = std::binary_search(it->members.begin(), it->members.end(), member)
                            ? id
                            : leave_sidebar(member);
  if (moved_from != nullptr) *moved_from = from;
  const auto at = std::lower_bound(it->members.begin(), it->members.end(), member);
  if (at == it->members.end() || *at != member) it->members.insert(at, member);
  return true;
}

uint32_t Room::leave_sidebar(uint64_t member) {
  for (Sidebar& s : sidebars_) {
    const auto at = std::lower_bound(s.members.begin(), s.members.end(), member);
    if (at != s.members.end() && *at == member) {
      s.members.erase(at);
      return s.id;
    }
  }
  return 0;
}

void Room::sidebar_settings(uint64_t member, mixer::ParticipantSettings& settings) const {
  const Sidebar* s = sidebar_of(member);
  settings.sidebar = s != nullptr ? s->id : 0;
  // The mixer reads these only for a member of a sidebar; the main room's
  // members keep the defaults so that a settings diff stays quiet.
  const mixer::ParticipantSettings defaults;
  settings.sidebar_main_gain = s != nullptr
                                   ? static_cast<float>(std::pow(10.0, s->main_gain_db / 20.0))
                                   : defaults.sidebar_main_gain;
  settings.sidebar_whisper_main = s != nullptr && s->whisper_main;
}

Room& RoomRegistry::open(const std::string& name, bool* created) {
  auto& slot = rooms_[name];
  if (created != nullptr) *created = slot == nullptr;
  if (!slot) slot = std::make_unique<Room>(name, ++last_conference_);
  return *slot;
}

Room* RoomRegistry::find(std::string_view name) const {
  const auto it = rooms_.find(std::string(name));
  return it == rooms_.end() ? nullptr : it->second.get();
}

Call& RoomRegistry::adopt(std::unique_ptr<Call> call) {
  Room* room = find(call->room());
  assert(room != nullptr && "adopt: the call's room must be open");
  Call& ref = *call;
  by_dialog_[ref.id()] = &ref;
  if (ref.media.participant != 0) by_participant_[ref.media.participant] = &ref;
  room->calls_[ref.id()] = std::move(call);
  return ref;
}

std::unique_ptr<Call> RoomRegistry::release(const sip::DialogId& id) {
  const auto it = by_dialog_.find(id);
  if (it == by_dialog_.end()) return nullptr;
  Call* call = it->second;
  by_dialog_.erase(it);
  if (call->media.participant != 0) by_participant_.erase(call->media.participant);
  Room* room = find(call->room());
  assert(room != nullptr);
  auto node = room->calls_.extract(id);
  // A member whose call ends leaves its sidebar (unless a Replaces keeps
  // the member id alive in another call).
  if (room->count_member(call->member()) == 0) room->leave_sidebar(call->member());
  return std::move(node.mapped());
}

mixer::ConferenceId RoomRegistry::close_if_empty(const std::string& name) {
  const auto it = rooms_.find(name);
  if (it == rooms_.end() || !it->second->empty()) return 0;
  const mixer::ConferenceId id = it->second->conference();
  rooms_.erase(it);
  return id;
}

void RoomRegistry::rekey(const sip::DialogId& from, const sip::DialogId& to) {
  std::unique_ptr<Call> call = release(from);
  if (!call) return;
  call->sip.id = to;
  adopt(std::move(call));
}

void RoomRegistry::move(const sip::DialogId& id, const std::string& to) {
  std::unique_ptr<Call> call = release(id);
  if (!call) return;
  call->roster.room = to;
  adopt(std::move(call));
}

Call* RoomRegistry::find_call(const sip::DialogId& id) const {
  const auto it = by_dialog_.find(id);
  return it == by_dialog_.end() ? nullptr : it->second;
}

Call* RoomRegistry::find_participant(mixer::ParticipantId participant) const {
  const auto it = by_participant_.find(participant);
  return it == by_participant_.end() ? nullptr : it->second;
}

std::vector<std::string> RoomRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(rooms_.size());
  for (const auto& [name, room] : rooms_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Room*> RoomRegistry::all() const {
  std::vector<Room*> out;
  out.reserve(rooms_.size());
  for (const auto& [name, room] : rooms_) out.push_back(room.get());
  std::sort(out.begin(), out.end(),
            [](const Room* a, const Room* b) { return a->name() < b->name(); });
  return out;
}

}  // namespace chorus::focus
