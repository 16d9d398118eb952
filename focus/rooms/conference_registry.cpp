#include "focus/rooms/conference_registry.hpp"

namespace chorus::focus {

mixer::ConferenceId ConferenceRegistry::join(const std::string& room) {
  auto [it, created] = rooms_.try_emplace(room);
  if (created) it->second.id = ++last_conference_;
  ++it->second.members;
  return it->second.id;
}

bool ConferenceRegistry::leave(const std::string& room) {
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return false;
  if (--it->second.members > 0) return false;
  rooms_.erase(it);
  return true;
}

std::optional<mixer::ConferenceId> ConferenceRegistry::find(const std::string& room) const {
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return std::nullopt;
  return it->second.id;
}

size_t ConferenceRegistry::members(const std::string& room) const {
  const auto it = rooms_.find(room);
  return it == rooms_.end() ? 0 : it->second.members;
}

std::vector<std::string> ConferenceRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(rooms_.size());
  for (const auto& [name, room] : rooms_) out.push_back(name);
  return out;
}

}  // namespace chorus::focus
