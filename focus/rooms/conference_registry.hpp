#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mixer/command.hpp"

namespace chorus::focus {

// Rooms by name: a room is created by its first member (ad hoc creation,
// RFC 4579 §5.2) and forgotten when its last member leaves. Hands out the
// mixer's ConferenceId for a room and ParticipantIds for its members.
class ConferenceRegistry {
 public:
  // Adds a member to `room` (creating it) and returns the room's id.
  mixer::ConferenceId join(const std::string& room);
  // Removes a member; true when that was the last one (the room is gone).
  bool leave(const std::string& room);

  std::optional<mixer::ConferenceId> find(const std::string& room) const;
  size_t members(const std::string& room) const;
  size_t rooms() const { return rooms_.size(); }
  std::vector<std::string> names() const;
  mixer::ParticipantId next_participant() { return ++last_participant_; }

 private:
  struct Room {
    mixer::ConferenceId id = 0;
    size_t members = 0;
  };
  std::unordered_map<std::string, Room> rooms_;
  mixer::ConferenceId last_conference_ = 0;
  mixer::ParticipantId last_participant_ = 0;
};

}  // namespace chorus::focus
