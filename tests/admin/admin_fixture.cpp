// A stand-alone admin listener over an in-memory Control, for the console
// browser test and the chorusctl test (tests/admin/CMakeLists.txt): room
// "demo" with Alice (1) and Bob (2) connected and three callers in its waiting
// room (3, 4, 5: unanswered, "pending", as focus::Server::member_state shows
// them). Actions change the state and publish ControlEvents the way the focus
// Server does, and print themselves on stdout ("mute <id> <0|1>", "admit
// <id>", "refuse <id>", "pickup <id> <uri>", "sidebar-create <id> <name>",
// "sidebar-in <member> <sidebar>", "sidebar-out ...", "sidebar-dissolve <id>",
// "move <id> <room> <pin|->"); a "levels" ticker makes Alice talk. A move
// takes the member into that room (created on demand; room "locked" wants
// PIN 1234), as focus/services/move.cpp does. Prints "port <n>" on stdout once listening; exits on
// SIGTERM/SIGINT or when stdin closes (so a dying test never leaves it behind).
//
//   admin_fixture <token>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "focus/ops/admin_server.hpp"
#include "signaling/asio.hpp"

namespace chorus::focus {
namespace {

class DemoControl final : public Control {
 public:
  DemoControl() {
    room_.room = "demo";
    room_.entity = "sip:demo@127.0.0.1";
    room_.members.push_back(member("sip:alice@127.0.0.1", "Alice"));
    room_.members.push_back(member("sip:bob@127.0.0.1", "Bob"));
    for (const char* who : {"sip:dave@127.0.0.1", "sip:erin@127.0.0.1", "sip:frank@127.0.0.1"}) {
      MemberState& m = room_.members.emplace_back(member(who, ""));
      m.waiting = true;
      m.status = "pending";
    }
  }

  std::vector<ConferenceState> rooms() const override {
    std::vector<ConferenceState> out;
    if (!room_.members.empty()) out.push_back(room_);
    for (const ConferenceState& other : others_) out.push_back(other);
    return out;
  }
  ControlResult set_muted(std::string_view room, uint64_t id, bool muted) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    m->muted = muted;
    m->status = muted ? "muted-via-focus" : "connected";
    if (muted) m->talking = false;
    print_action("mute", id, muted ? "1" : "0");
    return changed(id);
  }
  ControlResult kick(std::string_view room, uint64_t id) override {
    if (find(room, id) == nullptr) return {404, "no such member"};
    leave(id);
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
    return changed(id);
  }
  ControlResult set_hold(std::string_view room, uint64_t id, bool hold) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    m->on_hold = hold;
    return changed(id);
  }
  // The status codes and messages of focus::Server::admit / refuse / pickup.
  ControlResult admit(std::string_view room, uint64_t id) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    if (!m->waiting) return {409, "member is not in the waiting room"};
    m->waiting = false;
    m->status = "connected";
    print_action("admit", id);
    changed(id);
    return {200, "admitted"};
  }
  ControlResult refuse(std::string_view room, uint64_t id) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    if (!m->waiting) return {409, "member is not in the waiting room"};
    print_action("refuse", id);
    leave(id);
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
    leave(id);
    return {200, "picked up"};
  }
  ControlResult dial_out(std::string_view room, std::string_view uri, std::string_view) override {
    if (room != room_.room) return {404, "no such room"};
    room_.members.push_back(member(std::string(uri), ""));
    publish({ControlEvent::Kind::kMemberJoined, room_.room, room_.members.back().id});
    return {202, "calling"};
  }
  ControlResult set_recording(std::string_view room, bool on) override {
    if (room != room_.room) return {404, "no such room"};
    if (room_.recording == on) return {409, on ? "recording already" : "not recording"};
    room_.recording = on;
    print_action(on ? "record-start" : "record-stop", 0);
    publish({ControlEvent::Kind::kRecording, room_.room, 0});
    return {200, on ? "recording" : "recording stopped"};
  }
  // A member of "demo" moves into room `to` (created on demand, events as
  // focus/services/move.cpp publishes them); it leaves its sidebar.
  ControlResult move_member(std::string_view room, uint64_t id, std::string_view to,
                            std::optional<std::string> pin, std::string_view) override {
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    if (to == room) return {409, "the member is in that room already"};
    if (to == "locked" && pin.value_or("") != "1234") {
      return {403, pin ? "wrong PIN" : "PIN required"};
    }
    print_action("move", id, std::string(to) + " " + pin.value_or("-"));
    MemberState moved = *m;
    moved.sidebar = 0;
    leave_sidebar(id);
    std::erase_if(room_.members, [&](const MemberState& x) { return x.id == id; });
    auto target = std::find_if(others_.begin(), others_.end(),
                               [&](const ConferenceState& r) { return r.room == to; });
    if (target == others_.end()) {
      ConferenceState& created = others_.emplace_back();
      created.room = std::string(to);
      created.entity = "sip:" + created.room + "@127.0.0.1";
      publish({ControlEvent::Kind::kRoomCreated, created.room, 0});
      target = others_.end() - 1;
    }
    target->members.push_back(std::move(moved));
    publish({ControlEvent::Kind::kMemberLeft, room_.room, id});
    publish({ControlEvent::Kind::kMemberJoined, target->room, id});
    return {202, "moving to " + std::string(to)};
  }
  // Sidebars of "demo", with focus/services/sidebars.cpp's answers.
  ControlResult create_sidebar(std::string_view room, const SidebarSpec& spec,
                               uint32_t* id) override {
    if (room != room_.room) return {404, "no such room"};
    if (spec.name.empty() || spec.name.size() > 64) return {400, "bad sidebar name"};
    for (const SidebarState& s : room_.sidebars) {
      if (s.name == spec.name) return {409, "a sidebar is called " + spec.name + " already"};
    }
    for (const uint64_t member : spec.members) {
      const MemberState* m = find(room, member);
      if (m == nullptr) return {404, "no such member"};
      if (m->sidebar != 0) return {409, "member is in a sidebar already"};
    }
    SidebarState& s = room_.sidebars.emplace_back();
    s.id = 1;  // the lowest free number, as the Server numbers them
    while (sidebar(s.id) != nullptr && sidebar(s.id) != &s) ++s.id;
    s.name = spec.name;
    s.uri = room_.entity + ";sidebar=" + std::to_string(s.id);
    s.whisper_main = spec.whisper_main;
    for (const uint64_t member : spec.members) {
      s.members.push_back(member);
      find(room, member)->sidebar = s.id;
    }
    if (id != nullptr) *id = s.id;
    print_action("sidebar-create", s.id, s.name + (s.whisper_main ? " whisper" : ""));
    publish({ControlEvent::Kind::kSidebars, room_.room, 0});
    return {201, "sidebar " + std::to_string(s.id)};
  }
  ControlResult dissolve_sidebar(std::string_view room, uint32_t id) override {
    if (room != room_.room) return {404, "no such room"};
    SidebarState* s = sidebar(id);
    if (s == nullptr) return {404, "no such sidebar"};
    for (const uint64_t member : s->members) find(room, member)->sidebar = 0;
    std::erase_if(room_.sidebars, [&](const SidebarState& x) { return x.id == id; });
    print_action("sidebar-dissolve", id);
    publish({ControlEvent::Kind::kSidebars, room_.room, 0});
    return {200, "dissolved"};
  }
  ControlResult set_sidebar_member(std::string_view room, uint32_t id, uint64_t member,
                                   bool in) override {
    if (room != room_.room) return {404, "no such room"};
    if (sidebar(id) == nullptr) return {404, "no such sidebar"};
    MemberState* m = find(room, member);
    if (m == nullptr) return {404, "no such member"};
    if (in) {
      if (m->sidebar == id) return {200, "in the sidebar already"};
      leave_sidebar(member);
      sidebar(id)->members.push_back(member);
      m->sidebar = id;
    } else {
      if (m->sidebar != id) return {404, "the member is not in that sidebar"};
      leave_sidebar(member);
    }
    print_action(in ? "sidebar-in" : "sidebar-out", member, std::to_string(id));
    publish({ControlEvent::Kind::kSidebars, room_.room, member});
    return {200, in ? "in the sidebar" : "back in the main room"};
  }
  // Merge and split: printed ("merge 0 <into> <pin|->", "split 0 <to>
  // <ids,>") and answered as the Server answers, nobody moves. A merge names
  // the connected members moving and the waiting callers staying.
  ControlResult merge_rooms(std::string_view room, std::string_view into,
                            std::optional<std::string> pin, std::string_view,
                            RoomMoveReport* report) override {
    if (room != room_.room) return {404, "no such room"};
    if (into == room) return {409, "that is the same room"};
    for (const MemberState& m : room_.members) {
      if (m.waiting) {
        report->stayed.push_back({m.id, {409, "not admitted yet"}});
      } else {
        report->moving.push_back(m.id);
      }
    }
    print_action("merge", 0, std::string(into) + " " + pin.value_or("-"));
    return {202, "moving " + std::to_string(report->moving.size()) + " to " + std::string(into)};
  }
  ControlResult split_room(std::string_view room, std::string_view to,
                           const std::vector<uint64_t>& members, std::optional<std::string>,
                           std::string_view, RoomMoveReport* report) override {
    if (room != room_.room) return {404, "no such room"};
    if (members.empty()) return {400, "\"members\" must name at least one member"};
    std::string ids;
    for (const uint64_t id : members) {
      if (find(room, id) == nullptr) {
        return {400, "no member " + std::to_string(id) + " in room " + std::string(room)};
      }
      ids += (ids.empty() ? "" : ",") + std::to_string(id);
    }
    if (to == room) return {409, "that is the same room"};
    report->moving = members;
    print_action("split", 0, std::string(to) + " " + ids);
    return {202, "moving " + std::to_string(members.size()) + " to " + std::string(to)};
  }
  void set_event_listener(std::function<void(const ControlEvent&)> listener) override {
    listener_ = std::move(listener);
  }

  // Alice talks (unless muted) at a level that wanders, like a voice.
  void tick() {
    ++ticks_;
    for (MemberState& m : room_.members) {
      if (m.id != 1) continue;
      const bool talking = !m.muted;
      m.level_dbov = talking ? -10 - static_cast<int>(ticks_ % 20) : -127;
      if (talking != m.talking) {
        m.talking = talking;
        publish({ControlEvent::Kind::kTalker, room_.room, m.id});
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
  MemberState* find(std::string_view room, uint64_t id) {
    if (room != room_.room) return nullptr;
    for (MemberState& m : room_.members) {
      if (m.id == id) return &m;
    }
    return nullptr;
  }
  SidebarState* sidebar(uint32_t id) {
    for (SidebarState& s : room_.sidebars) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }
  void leave_sidebar(uint64_t member) {
    for (SidebarState& s : room_.sidebars) std::erase(s.members, member);
    for (MemberState& m : room_.members) {
      if (m.id == member) m.sidebar = 0;
    }
  }
  void leave(uint64_t id) {
    leave_sidebar(id);
    std::erase_if(room_.members, [&](const MemberState& m) { return m.id == id; });
    publish({ControlEvent::Kind::kMemberLeft, room_.room, id});
  }
  static void print_action(const char* action, uint64_t id, std::string_view arg = {}) {
    std::printf("%s %llu%s%.*s\n", action, static_cast<unsigned long long>(id),
                arg.empty() ? "" : " ", static_cast<int>(arg.size()), arg.data());
    std::fflush(stdout);
  }
  ControlResult changed(uint64_t id) {
    publish({ControlEvent::Kind::kMemberChanged, room_.room, id});
    return {};
  }
  void publish(const ControlEvent& event) {
    if (listener_) listener_(event);
  }

  ConferenceState room_;
  std::vector<ConferenceState> others_;  // rooms members moved to
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
