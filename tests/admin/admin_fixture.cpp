// A stand-alone admin listener over an in-memory Control, for the console
// browser test and the chorusctl test (tests/admin/CMakeLists.txt): room
// "demo" with Alice (1) and Bob (2) connected and three callers in its waiting
// room (3, 4, 5: unanswered, "pending", as focus::Server::member_state shows
// them). Actions change the state and publish ControlEvents the way the focus
// Server does, and print themselves on stdout ("mute <id> <0|1>", "admit
// <id>", "refuse <id>", "pickup <id> <uri>", "sidebar-create <id> <name>",
// "sidebar-in <member> <sidebar>", "sidebar-out ...", "sidebar-dissolve <id>",
// "move <id> <room> <pin|->", "merge 0 <into> <pin|->", "split 0 <to> <ids,>");
// a "levels" ticker makes Alice talk. A move, merge or split takes the members
// into the target room (created on demand; room "locked" wants PIN 1234) as
// focus/services/move.cpp does, and a room left without members ends. Prints
// "port <n>" on stdout once listening; exits on SIGTERM/SIGINT or when stdin
// closes (so a dying test never leaves it behind).
//
//   admin_fixture <token>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "focus/ops/admin_server.hpp"
#include "signaling/asio.hpp"

namespace chorus::focus {
namespace {

class DemoControl final : public Control {
 public:
  DemoControl() {
    ConferenceState& demo = rooms_.emplace_back();
    demo.room = "demo";
    demo.entity = "sip:demo@127.0.0.1";
    demo.members.push_back(member("sip:alice@127.0.0.1", "Alice"));
    demo.members.push_back(member("sip:bob@127.0.0.1", "Bob"));
    for (const char* who : {"sip:dave@127.0.0.1", "sip:erin@127.0.0.1", "sip:frank@127.0.0.1"}) {
      MemberState& m = demo.members.emplace_back(member(who, ""));
      m.waiting = true;
      m.status = "pending";
    }
  }

  std::vector<ConferenceState> rooms() const override { return rooms_; }
  ControlResult set_muted(std::string_view room, uint64_t id, bool muted) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    m->muted = muted;
    m->status = muted ? "muted-via-focus" : "connected";
    if (muted) m->talking = false;
    print_action("mute", id, muted ? "1" : "0");
    return changed(room, id);
  }
  ControlResult kick(std::string_view room, uint64_t id) override {
    if (find(room, id) == nullptr) return {404, "no such member"};
    leave(room, id);
    return {};
  }
  ControlResult set_role(std::string_view room, uint64_t id, MemberRole role,
                         uint64_t target) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    const MemberState* t = role == MemberRole::kWhisper ? find(room, target) : nullptr;
    if (role == MemberRole::kWhisper && t == nullptr) return {409, "no such whisper target"};
    m->role = role;
    m->whisper_target = t != nullptr ? t->endpoint : "";
    return changed(room, id);
  }
  ControlResult set_hold(std::string_view room, uint64_t id, bool hold) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    m->on_hold = hold;
    return changed(room, id);
  }
  // The status codes and messages of focus::Server::admit / refuse / pickup.
  ControlResult admit(std::string_view room, uint64_t id) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    if (!m->waiting) return {409, "member is not in the waiting room"};
    m->waiting = false;
    m->status = "connected";
    print_action("admit", id);
    changed(room, id);
    return {200, "admitted"};
  }
  ControlResult refuse(std::string_view room, uint64_t id) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    if (!m->waiting) return {409, "member is not in the waiting room"};
    print_action("refuse", id);
    leave(room, id);
    return {200, "refused"};
  }
  // A waiting caller is redirected (302) and leaves. The Server also CANCELs
  // a ringing dial-out or transfers a connected member; the fixture has
  // neither, so anyone not waiting gets 409.
  ControlResult pickup(std::string_view room, uint64_t id, std::string_view uri,
                       std::string_view) override {
    if (!uri.starts_with("sip:") && !uri.starts_with("sips:")) {
      return {400, "a sip: or sips: URI is needed"};
    }
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    if (!m->waiting) return {409, "the fixture picks up waiting callers only"};
    print_action("pickup", id, uri);
    leave(room, id);
    return {200, "picked up"};
  }
  ControlResult dial_out(std::string_view room, std::string_view uri, std::string_view) override {
    ConferenceState* r = find_room(room);
    if (r == nullptr) return {404, "no such room"};
    r->members.push_back(member(std::string(uri), ""));
    publish({ControlEvent::Kind::kMemberJoined, r->room, r->members.back().id});
    return {202, "calling"};
  }
  ControlResult set_recording(std::string_view room, bool on, std::string_view) override {
    ConferenceState* r = find_room(room);
    if (r == nullptr) return {404, "no such room"};
    if (r->recording == on) return {409, on ? "recording already" : "not recording"};
    r->recording = on;
    print_action(on ? "record-start" : "record-stop", 0);
    publish({ControlEvent::Kind::kRecording, r->room, 0});
    return {200, on ? "recording" : "recording stopped"};
  }
  // A member moves into room `to` (created on demand); it leaves its sidebar.
  ControlResult move_member(std::string_view room, uint64_t id, std::string_view to,
                            std::optional<std::string> pin, std::string_view) override {
    if (find(room, id) == nullptr) return {404, "no such member"};
    if (to == room) return {409, "the member is in that room already"};
    if (const std::optional<ControlResult> refused = pin_refusal(to, pin)) return *refused;
    print_action("move", id, std::string(to) + " " + pin.value_or("-"));
    move_members(std::string(room), std::string(to), {id});
    return {202, "moving to " + std::string(to)};
  }
  // Sidebars, with focus/services/sidebars.cpp's answers.
  ControlResult create_sidebar(std::string_view room, const SidebarSpec& spec,
                               uint32_t* id) override {
    ConferenceState* r = find_room(room);
    if (r == nullptr) return {404, "no such room"};
    if (spec.name.empty() || spec.name.size() > 64) return {400, "bad sidebar name"};
    const double gain = spec.main_gain_db.value_or(-12.0);
    if (!(gain >= -60 && gain <= 0)) return {400, "\"main_gain_db\" must be between -60 and 0"};
    for (const SidebarState& s : r->sidebars) {
      if (s.name == spec.name) return {409, "a sidebar is called " + spec.name + " already"};
    }
    for (const uint64_t member : spec.members) {
      const MemberState* m = find(room, member);
      if (m == nullptr) return {404, "no such member"};
      if (m->sidebar != 0) return {409, "member is in a sidebar already"};
    }
    uint32_t free_id = 1;  // the lowest free number, as the Server numbers them
    while (sidebar(*r, free_id) != nullptr) ++free_id;
    SidebarState& s = r->sidebars.emplace_back();
    s.id = free_id;
    s.name = spec.name;
    s.uri = r->entity + ";sidebar=" + std::to_string(s.id);
    s.main_gain_db = gain;
    s.whisper_main = spec.whisper_main;
    for (const uint64_t member : spec.members) {
      s.members.push_back(member);
      find(room, member)->sidebar = s.id;
    }
    if (id != nullptr) *id = s.id;
    print_action("sidebar-create", s.id, s.name + (s.whisper_main ? " whisper" : ""));
    publish({ControlEvent::Kind::kSidebars, r->room, 0});
    return {201, "sidebar " + std::to_string(s.id)};
  }
  ControlResult dissolve_sidebar(std::string_view room, uint32_t id) override {
    ConferenceState* r = find_room(room);
    if (r == nullptr) return {404, "no such room"};
    SidebarState* s = sidebar(*r, id);
    if (s == nullptr) return {404, "no such sidebar"};
    for (const uint64_t member : s->members) find(room, member)->sidebar = 0;
    std::erase_if(r->sidebars, [&](const SidebarState& x) { return x.id == id; });
    print_action("sidebar-dissolve", id);
    publish({ControlEvent::Kind::kSidebars, r->room, 0});
    return {200, "dissolved"};
  }
  ControlResult set_sidebar_member(std::string_view room, uint32_t id, uint64_t member,
                                   bool in) override {
    ConferenceState* r = find_room(room);
    if (r == nullptr) return {404, "no such room"};
    if (sidebar(*r, id) == nullptr) return {404, "no such sidebar"};
    MemberState* m = find(room, member);
    if (m == nullptr) return {404, "no such member"};
    if (in) {
      if (m->sidebar == id) return {200, "in the sidebar already"};
      leave_sidebar(*r, member);
      sidebar(*r, id)->members.push_back(member);
      m->sidebar = id;
    } else {
      if (m->sidebar != id) return {404, "the member is not in that sidebar"};
      leave_sidebar(*r, member);
    }
    print_action(in ? "sidebar-in" : "sidebar-out", member, std::to_string(id));
    publish({ControlEvent::Kind::kSidebars, r->room, member});
    return {200, in ? "in the sidebar" : "back in the main room"};
  }
  // Merge and split, printed ("merge 0 <into> <pin|->", "split 0 <to>
  // <ids,>") and answered as focus/services/merge.cpp answers; the members
  // then move as one move does. A merge leaves the waiting callers behind.
  ControlResult merge_rooms(std::string_view room, std::string_view into,
                            std::optional<std::string> pin, std::string_view,
                            RoomMoveReport* report) override {
    const ConferenceState* from = find_room(room);
    if (from == nullptr) return {404, "no such room"};
    if (into == room) return {409, "that is the same room"};
    if (const std::optional<ControlResult> refused = pin_refusal(into, pin)) return *refused;
    for (const MemberState& m : from->members) {
      if (m.waiting) {
        report->stayed.push_back({m.id, {409, "not admitted yet"}});
      } else {
        report->moving.push_back(m.id);
      }
    }
    if (report->moving.empty()) {
      return {409, report->stayed.empty() ? "nobody to move"
                                          : "member " + std::to_string(report->stayed[0].member) +
                                                ": not admitted yet"};
    }
    print_action("merge", 0, std::string(into) + " " + pin.value_or("-"));
    move_members(std::string(room), std::string(into), report->moving);
    return {202, "moving " + std::to_string(report->moving.size()) + " to " + std::string(into)};
  }
  ControlResult split_room(std::string_view room, std::string_view to,
                           const std::vector<uint64_t>& members, std::optional<std::string> pin,
                           std::string_view, RoomMoveReport* report) override {
    if (members.empty()) return {400, "\"members\" must name at least one member"};
    if (find_room(room) == nullptr) return {404, "no such room"};
    std::string ids;
    for (const uint64_t id : members) {
      if (find(room, id) == nullptr) {
        return {400, "no member " + std::to_string(id) + " in room " + std::string(room)};
      }
      ids += (ids.empty() ? "" : ",") + std::to_string(id);
    }
    if (to == room) return {409, "that is the same room"};
    if (const std::optional<ControlResult> refused = pin_refusal(to, pin)) return *refused;
    for (const uint64_t id : members) {
      if (find(room, id)->waiting)
        return {409, "member " + std::to_string(id) + ": not admitted yet"};
    }
    report->moving = members;
    print_action("split", 0, std::string(to) + " " + ids);
    move_members(std::string(room), std::string(to), members);
    return {202, "moving " + std::to_string(members.size()) + " to " + std::string(to)};
  }
  void set_event_listener(std::function<void(const ControlEvent&)> listener) override {
    listener_ = std::move(listener);
  }

  // Alice talks (unless muted) at a level that wanders, like a voice.
  void tick() {
    ++ticks_;
    for (ConferenceState& r : rooms_) {
      for (MemberState& m : r.members) {
        if (m.id != 1) continue;
        const bool talking = !m.muted;
        m.level_dbov = talking ? -10 - static_cast<int>(ticks_ % 20) : -127;
        if (talking != m.talking) {
          m.talking = talking;
          publish({ControlEvent::Kind::kTalker, r.room, m.id});
        }
      }
    }
  }

 private:
  MemberState member(std::string entity, std::string display) {
    MemberState m;
    m.id = next_id_++;
    m.entity = std::move(entity);
    m.display_text = std::move(display);
    m.endpoint = m.entity;
    m.codec = "opus";
    m.clock_rate = 48000;
    m.loss_fraction = 0.01;
    m.jitter_ms = 3.5;
    return m;
  }
  ConferenceState* find_room(std::string_view room) {
    for (ConferenceState& r : rooms_) {
      if (r.room == room) return &r;
    }
    return nullptr;
  }
  MemberState* find(std::string_view room, uint64_t id) {
    ConferenceState* r = find_room(room);
    if (r == nullptr) return nullptr;
    for (MemberState& m : r->members) {
      if (m.id == id) return &m;
    }
    return nullptr;
  }
  static SidebarState* sidebar(ConferenceState& room, uint32_t id) {
    for (SidebarState& s : room.sidebars) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }
  static void leave_sidebar(ConferenceState& room, uint64_t member) {
    for (SidebarState& s : room.sidebars) std::erase(s.members, member);
    for (MemberState& m : room.members) {
      if (m.id == member) m.sidebar = 0;
    }
  }
  // Room "locked" wants PIN 1234, as a room's PIN refuses a move.
  static std::optional<ControlResult> pin_refusal(std::string_view to,
                                                  const std::optional<std::string>& pin) {
    if (to != "locked" || pin.value_or("") == "1234") return std::nullopt;
    return ControlResult{403, pin ? "wrong PIN" : "PIN required"};
  }
  // Members of `from` into `to` (created on demand), with the events of
  // focus/services/move.cpp: each leaves its sidebar, a whisperer becomes a
  // participant, and a room left empty ends.
  void move_members(const std::string& from, const std::string& to,
                    const std::vector<uint64_t>& ids) {
    if (find_room(to) == nullptr) {
      ConferenceState& created = rooms_.emplace_back();
      created.room = to;
      created.entity = "sip:" + to + "@127.0.0.1";
      publish({ControlEvent::Kind::kRoomCreated, to, 0});
    }
    for (const uint64_t id : ids) {
      ConferenceState& source = *find_room(from);
      leave_sidebar(source, id);
      MemberState moved = *find(from, id);
      moved.role = MemberRole::kParticipant;
      moved.whisper_target.clear();
      std::erase_if(source.members, [&](const MemberState& x) { return x.id == id; });
      find_room(to)->members.push_back(std::move(moved));
      publish({ControlEvent::Kind::kMemberLeft, from, id});
      publish({ControlEvent::Kind::kMemberJoined, to, id});
    }
    end_if_empty(from);
  }
  void leave(std::string_view room, uint64_t id) {
    ConferenceState& r = *find_room(room);
    leave_sidebar(r, id);
    std::erase_if(r.members, [&](const MemberState& m) { return m.id == id; });
    publish({ControlEvent::Kind::kMemberLeft, r.room, id});
    end_if_empty(r.room);
  }
  // A room exists while it has members (its sidebars end with it).
  void end_if_empty(const std::string& room) {
    const ConferenceState* r = find_room(room);
    if (r == nullptr || !r->members.empty()) return;
    const std::string name = r->room;
    std::erase_if(rooms_, [&](const ConferenceState& x) { return x.room == name; });
    publish({ControlEvent::Kind::kRoomEnded, name, 0});
  }
  static void print_action(const char* action, uint64_t id, std::string_view arg = {}) {
    std::printf("%s %llu%s%.*s\n", action, static_cast<unsigned long long>(id),
                arg.empty() ? "" : " ", static_cast<int>(arg.size()), arg.data());
    std::fflush(stdout);
  }
  ControlResult changed(std::string_view room, uint64_t id) {
    publish({ControlEvent::Kind::kMemberChanged, std::string(room), id});
    return {};
  }
  void publish(const ControlEvent& event) {
    if (listener_) listener_(event);
  }

  std::vector<ConferenceState> rooms_;  // "demo" first, then rooms members moved to
  uint64_t next_id_ = 1;
  uint64_t ticks_ = 0;
  std::function<void(const ControlEvent&)> listener_;
};

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  namespace asio = boost::asio;
  if (argc != 2) {
    std::cerr << "usage: admin_fixture <token>\n";
    return 2;
  }
  asio::io_context io;
  chorus::focus::DemoControl control;
  chorus::focus::AdminConfig config;
  config.port = 0;
  config.token = argv[1];
  chorus::focus::AdminServer server(io, control, {}, config);
  server.start();
  std::printf("port %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  asio::posix::stream_descriptor in(io, ::dup(STDIN_FILENO));
  char byte = 0;
  std::function<void()> watch_stdin = [&] {
    in.async_read_some(asio::buffer(&byte, 1), [&](const boost::system::error_code& ec, size_t) {
      if (ec) return io.stop();
      watch_stdin();
    });
  };
  watch_stdin();
  asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    ticker.expires_after(std::chrono::milliseconds(100));
    ticker.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      control.tick();
      tick();
    });
  };
  tick();
  io.run();
  server.stop();
  return 0;
}
