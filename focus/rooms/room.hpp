#pragma once
// A conference room as the focus holds it: the aggregate that owns its
// members' calls and names its mixer conference. Every per-room question
// (its members, one member, whether anyone audible is left) is answered from
// the room's own calls, so it costs O(room), never O(all calls). The
// RoomRegistry owns the rooms and the process-wide indexes (dialog → call,
// mixer participant → call) that route SIP requests and engine events in
// O(1). Signalling thread only.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "focus/rooms/call.hpp"
#include "mixer/command.hpp"

namespace chorus::focus {

// A room's recording as the focus tracks it (README "Recording"): from the
// start command until the stop (or a write failure). The writer finishes the
// files after the shard closed the ring, possibly after the room is gone.
struct RoomRecording {
  bool active = false;
  uint64_t job = 0;  // record::Job id
  mixer::CommandId start_command = 0;
  std::string prefix;  // files: prefix + "-mix.opus" ...
  std::shared_ptr<mixer::RecordingBuffer> buffer;
  bool auto_started = false;  // auto_record fires once per room lifetime
  std::string last_error;     // the last failure, for the admin API
};

class Room {
 public:
  Room(std::string name, mixer::ConferenceId conference)
      : name_(std::move(name)), conference_(conference) {}
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  const std::string& name() const { return name_; }
  mixer::ConferenceId conference() const { return conference_; }
  size_t size() const { return calls_.size(); }
  bool empty() const { return calls_.empty(); }
  RoomRecording& recording() { return recording_; }
  const RoomRecording& recording() const { return recording_; }

  Call* find(const sip::DialogId& id) const;
  // The call standing for `member`; while a Replaces is in progress two calls
  // share the member id and the replacing one wins.
  Call* find_member(uint64_t member) const;
  // Someone the room can hear is still here (ARCHITECTURE.md roles).
  bool has_visible() const;
  // Every call, by member id then dialog (stable documents and logs).
  std::vector<Call*> calls() const;
  // The calls a member id names (two during a Replaces).
  size_t count_member(uint64_t member) const;

 private:
  friend class RoomRegistry;
  std::string name_;
  mixer::ConferenceId conference_;
  RoomRecording recording_;
  std::unordered_map<sip::DialogId, std::unique_ptr<Call>, sip::DialogIdHash> calls_;
};

// Rooms by name (ad hoc creation, RFC 4579 §5.2: a room exists while it has
// a call) and the indexes over all their calls.
class RoomRegistry {
 public:
  // The room `name`, created when missing (`created` says which).
  Room& open(const std::string& name, bool* created = nullptr);
  Room* find(std::string_view name) const;
  // Hands `call` (its room() names the room, which must be open) to its room
  // and indexes it by dialog and mixer participant.
  Call& adopt(std::unique_ptr<Call> call);
  // Takes a call out of its room and the indexes. The room stays, even when
  // empty: the caller closes it (close_if_empty) once it has told the media
  // engine.
  std::unique_ptr<Call> release(const sip::DialogId& id);
  // Forgets an empty room; returns its conference id, or 0 if it is not empty.
  mixer::ConferenceId close_if_empty(const std::string& name);
  // A call changed its dialog id (a dial-out's placeholder became the dialog).
  void rekey(const sip::DialogId& from, const sip::DialogId& to);
  // The call moves to room `to` (which must be open): its roster names it
  // from now on; the old room stays, even when empty (close_if_empty).
  void move(const sip::DialogId& id, const std::string& to);

  Call* find_call(const sip::DialogId& id) const;
  Call* find_participant(mixer::ParticipantId participant) const;
  Room* room_of(const Call& call) const { return find(call.room()); }

  mixer::ParticipantId next_participant() { return ++last_participant_; }
  size_t room_count() const { return rooms_.size(); }
  size_t call_count() const { return by_dialog_.size(); }
  std::vector<std::string> names() const;  // sorted
  std::vector<Room*> all() const;          // by name

 private:
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;
  std::unordered_map<sip::DialogId, Call*, sip::DialogIdHash> by_dialog_;
  std::unordered_map<mixer::ParticipantId, Call*> by_participant_;
  mixer::ConferenceId last_conference_ = 0;
  mixer::ParticipantId last_participant_ = 0;
};

}  // namespace chorus::focus
