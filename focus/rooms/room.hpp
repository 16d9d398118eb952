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

// A sidebar (issue #17, README "Sidebars"): a sub-conversation of the room.
// Its members hear each other at full level and the main room at
// main_gain_db; the main room hears them only with whisper_main. A member
// is in at most one sidebar; one whose call ends leaves it. An empty sidebar
// stays (its URI stays valid) until dissolved or until the room ends.
struct Sidebar {
  uint32_t id = 0;  // from 1, never reused in the room; the mixer's sidebar number
  std::string name;
  std::vector<uint64_t> members;  // member ids, ascending
  double main_gain_db = -12.0;
  bool whisper_main = false;
};

class Room {
 public:
  static constexpr size_t kMaxSidebars = 16;
  static constexpr size_t kMaxSidebarName = 64;

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

  // Sidebars, by id (at most kMaxSidebars, so lookups are a short scan).
  const std::vector<Sidebar>& sidebars() const { return sidebars_; }
  const Sidebar* sidebar(uint32_t id) const;
  const Sidebar* sidebar_named(std::string_view name) const;
  // The sidebar `member` is in, or nullptr (the main room).
  const Sidebar* sidebar_of(uint64_t member) const;
  // A new empty sidebar with the next unused id; 0 when kMaxSidebars exist.
  uint32_t create_sidebar(std::string name, double main_gain_db, bool whisper_main);
  // Removes the sidebar; returns its members (back in the main room).
  std::vector<uint64_t> dissolve_sidebar(uint32_t id);
  // Moves `member` into sidebar `id` (out of any other); false when no such
  // sidebar. `moved_from` gets the sidebar it left (0: none).
  bool join_sidebar(uint32_t id, uint64_t member, uint32_t* moved_from = nullptr);
  // Takes `member` out of its sidebar; returns that sidebar's id (0: none).
  uint32_t leave_sidebar(uint64_t member);
  // The mixer settings of `member`'s sidebar (sidebar, main gain, whisper).
  void sidebar_settings(uint64_t member, mixer::ParticipantSettings& settings) const;

 private:
  friend class RoomRegistry;
  std::string name_;
  mixer::ConferenceId conference_;
  RoomRecording recording_;
  std::vector<Sidebar> sidebars_;  // by id
  uint32_t next_sidebar_id_ = 1;
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
