#include "focus/rooms/room.hpp"

#include <algorithm>
#include <cassert>

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
