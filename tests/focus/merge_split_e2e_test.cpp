// Issue #17: merging two rooms and splitting a room (RFC 5850 §3.3.4 and
// §3.3.6; README "Moving members") end to end on 127.0.0.1: an in-process
// focus with its real media engine, every caller sending its own tone
// (Goertzel). POST /api/rooms/A/merge moves every member of A into B, and
// POST /api/rooms/A/split the listed ones; each moved member keeps its
// dialog and RTP port and gets an offer-less UPDATE naming its new room
// (RFC 3261 §12.2, RFC 3311 §5.1). Room A's conference package ends
// (noresource), room B's lists everyone. A last test drives a fake engine
// to check what a move the shard fails leaves behind (Server::close_unused).

#include <algorithm>
#include <nlohmann/json.hpp>

#include "focus/events/event_service.hpp"
#include "focus/ops/admin_api.hpp"
#include "tests/focus/e2e_support.hpp"
#include "tests/focus/fake_media_engine.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;
using nlohmann::json;

// Ports 47600-47799, one slice per test (ctest runs them in parallel).
constexpr uint16_t kFirstPort = 47600;
constexpr uint16_t kPortsPerTest = 40;

class MergeSplitE2eTest : public FocusE2e {
 protected:
  void start(int slot) {
    const auto first = static_cast<uint16_t>(kFirstPort + slot * kPortsPerTest);
    start_server(first, static_cast<uint16_t>(first + kPortsPerTest - 1), 30s,
                 [&](Options& options) {
                   options.media_shards = 1;
                   // Four talkers at once: the mix takes all four (the
                   // default takes the three loudest, and one equal tone
                   // would drop out).
                   options.top_k = 4;
                 });
  }

  // The member ids GET /api/rooms/{room} lists (nullopt: 404).
  std::optional<std::vector<uint64_t>> listed(std::string_view room) {
    const AdminResponse r = admin("GET", "/api/rooms/" + std::string(room));
    if (r.status == 404) return std::nullopt;
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<uint64_t> ids;
    const json room = json::parse(r.body);
    for (const json& m : room.at("members")) ids.push_back(m.at("id").get<uint64_t>());
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  // The one target refresh `caller` got after its move: an UPDATE in its
  // dialog (the focus's tag in From, the caller's in To, sent to its
  // Contact), without a body, whose Contact names `room`.
  void expect_refreshed_to(const Caller& caller, std::string_view room) {
    SCOPED_TRACE(caller.name());
    run_until([&] { return received(Method::kUpdate, caller.call_id) > 0; });
    ASSERT_EQ(received(Method::kUpdate, caller.call_id), 1u);
    const Message* update = nullptr;
    for (const Message& m : client_requests_) {
      if (m.method() == Method::kUpdate && m.call_id() == caller.call_id) update = &m;
    }
    ASSERT_NE(update, nullptr);
    EXPECT_EQ(update->request_uri_text(),
              client_.contact_uri(caller.name(), sip::TransportKind::kUdp));
    EXPECT_EQ(update->from().tag(), caller.to_tag);
    EXPECT_EQ(update->to().tag(), caller.from_tag);
    EXPECT_EQ(update->cseq().method, Method::kUpdate);
    ASSERT_FALSE(update->contacts().empty());
    EXPECT_TRUE(update->contacts().front().uri_text.starts_with("sip:" + std::string(room) + "@"))
        << update->contacts().front().uri_text;
    EXPECT_TRUE(update->body().empty());
  }

  // `listener` hears each of `others` and not `absent`.
  static void expect_hears(const Caller& listener, std::initializer_list<const Caller*> others,
                           std::initializer_list<const Caller*> absent) {
    for (const Caller* other : others) {
      EXPECT_GT(listener.heard(other->freq()), kHeard)
          << listener.name() << " should hear " << other->name();
    }
    for (const Caller* other : absent) {
      EXPECT_LT(listener.heard(other->freq()), kSilent)
          << listener.name() << " should not hear " << other->name();
    }
  }
};

// Merge (RFC 5850 §3.3.4): two members in A and two in B, each its own
// tone; A merged into B: all four hear the other three, A is gone from the
// admin API and its package ends, B lists four, each mover got one UPDATE
// naming B, the members of B none.
TEST_F(MergeSplitE2eTest, MergeMovesEveryMemberIntoTheOtherRoomAndAllFourHearEachOther) {
  start(0);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol"), d(1300, "dave");
  Caller wa(0, "watch-a"), wb(0, "watch-b");
  ASSERT_EQ(invite(a, "sendrecv", "ma"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "ma"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "mb"), 200);
  ASSERT_EQ(invite(d, "sendrecv", "mb"), 200);
  const std::optional<Message> sub_a = subscribe_conference(wa, "ma");
  const std::optional<Message> sub_b = subscribe_conference(wb, "mb");
  ASSERT_TRUE(sub_a && sub_b);
  ASSERT_EQ(sub_a->status(), 200);
  ASSERT_EQ(sub_b->status(), 200);
  run_until([&] { return !notifies(wa.call_id).empty() && !notifies(wb.call_id).empty(); });
  talk({&a, &b, &c, &d}, 50, 25);
  expect_hears(a, {&b}, {&c, &d});
  expect_hears(c, {&d}, {&a, &b});
  const uint64_t ida = id_of("ma", a), idb = id_of("ma", b);
  const uint64_t idc = id_of("mb", c), idd = id_of("mb", d);
  const uint16_t port_a = a.mixer_port, port_b = b.mixer_port;
  const size_t notifies_b = notifies(wb.call_id).size();

  const AdminResponse merged = admin("POST", "/api/rooms/ma/merge", R"({"into":"mb"})");
  ASSERT_EQ(merged.status, 202) << merged.body;
  const json answer = json::parse(merged.body);
  auto moving = answer.at("moving").get<std::vector<uint64_t>>();
  std::sort(moving.begin(), moving.end());
  EXPECT_EQ(moving, (std::vector<uint64_t>{std::min(ida, idb), std::max(ida, idb)}));
  EXPECT_TRUE(answer.at("stayed").empty());

  talk({&a, &b, &c, &d}, 60, 30);
  expect_hears(a, {&b, &c, &d}, {});
  expect_hears(b, {&a, &c, &d}, {});
  expect_hears(c, {&a, &b, &d}, {});
  expect_hears(d, {&a, &b, &c}, {});
  EXPECT_EQ(a.mixer_port, port_a);  // the same media stream
  EXPECT_EQ(b.mixer_port, port_b);
  // Their SIP traffic is room B's to relay now.
  EXPECT_EQ(server_->events().relay_room(a.call_id), "mb");
  EXPECT_EQ(server_->events().relay_room(b.call_id), "mb");

  // The admin JSON: A gone, B with the four, the movers' ids unchanged.
  EXPECT_FALSE(listed("ma").has_value());
  std::vector<uint64_t> four{ida, idb, idc, idd};
  std::sort(four.begin(), four.end());
  EXPECT_EQ(listed("mb"), four);
  EXPECT_EQ(server_->room_calls("ma"), 0u);

  // RFC 4575 / RFC 6665 §4.2.2: A's package ends with noresource; B's
  // NOTIFYs add Alice and Bob and count four.
  run_until([&] {
    const auto sent = notifies(wa.call_id);
    return sent.back()->header("Subscription-State").value_or("").starts_with("terminated");
  });
  EXPECT_EQ(notifies(wa.call_id).back()->header("Subscription-State").value_or(""),
            "terminated;reason=noresource");
  // The user count of B's latest NOTIFY that carries one (talker updates
  // in between carry none).
  const auto count_b = [&] {
    std::string count;
    for (const Message* m : notifies(wb.call_id)) {
      const std::string_view body = m->body();
      const size_t at = body.find("<user-count>");
      if (at == std::string_view::npos) continue;
      const size_t from = at + std::string_view("<user-count>").size();
      count = std::string(body.substr(from, body.find('<', from) - from));
    }
    return count;
  };
  run_until([&] { return count_b() == "4"; });
  EXPECT_EQ(count_b(), "4");
  std::string added;
  const std::vector<const Message*> sent_b = notifies(wb.call_id);
  for (size_t i = notifies_b; i < sent_b.size(); ++i) added += sent_b[i]->body();
  for (const Caller* mover : {&a, &b}) {
    EXPECT_NE(added.find("<user entity=\"sip:" + mover->name() + "@127.0.0.1\" state=\"full\""),
              std::string::npos)
        << added;
  }
  EXPECT_TRUE(sent_b.back()->header("Subscription-State").value_or("").starts_with("active"));

  // The target refresh, one per mover; B's own members get none.
  expect_refreshed_to(a, "mb");
  expect_refreshed_to(b, "mb");
  EXPECT_EQ(received(Method::kUpdate, c.call_id), 0u);
  EXPECT_EQ(received(Method::kUpdate, d.call_id), 0u);
  EXPECT_EQ(received(Method::kBye), 0u);
  // Alice's later requests reach her call in B.
  EXPECT_EQ(bye(a, "mb"), 200);
  EXPECT_EQ(server_->room_calls("mb"), 3u);
}

// Split (RFC 5850 §3.3.6): four in A, two of them split off into a new room
// B; each pair hears only itself; only the movers get an UPDATE.
TEST_F(MergeSplitE2eTest, SplitMovesTheListedMembersAndEachPairHearsOnlyItsPair) {
  start(1);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol"), d(1300, "dave");
  for (Caller* caller : {&a, &b, &c, &d}) ASSERT_EQ(invite(*caller, "sendrecv", "sa"), 200);
  talk({&a, &b, &c, &d}, 50, 25);
  expect_hears(a, {&b, &c, &d}, {});
  expect_hears(d, {&a, &b, &c}, {});
  const uint64_t ida = id_of("sa", a), idb = id_of("sa", b);
  const uint64_t idc = id_of("sa", c), idd = id_of("sa", d);

  const AdminResponse split =
      admin("POST", "/api/rooms/sa/split", json{{"to", "sb"}, {"members", {idc, idd}}}.dump());
  ASSERT_EQ(split.status, 202) << split.body;
  EXPECT_EQ(json::parse(split.body).at("moving"), json::array({idc, idd}));

  talk({&a, &b, &c, &d}, 60, 30);
  expect_hears(a, {&b}, {&c, &d});
  expect_hears(b, {&a}, {&c, &d});
  expect_hears(c, {&d}, {&a, &b});
  expect_hears(d, {&c}, {&a, &b});
  EXPECT_EQ(listed("sa"), (std::vector<uint64_t>{std::min(ida, idb), std::max(ida, idb)}));
  EXPECT_EQ(listed("sb"), (std::vector<uint64_t>{std::min(idc, idd), std::max(idc, idd)}));

  expect_refreshed_to(c, "sb");
  expect_refreshed_to(d, "sb");
  EXPECT_EQ(received(Method::kUpdate, a.call_id), 0u);
  EXPECT_EQ(received(Method::kUpdate, b.call_id), 0u);
  EXPECT_EQ(received(Method::kBye), 0u);
}

// Refusals: checked before anything moves (nothing moves, nobody gets an
// UPDATE): an unknown id or empty list 400, no room 404, the same room 409,
// a member whose move is still in flight 409.
TEST_F(MergeSplitE2eTest, RefusedMergesAndSplitsMoveNobody) {
  start(2);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "ra"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "ra"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "rb"), 200);
  const uint64_t ida = id_of("ra", a), idb = id_of("ra", b);

  const auto post = [&](const std::string& what, const json& body) {
    return admin("POST", "/api/rooms/ra/" + what, body.dump());
  };
  EXPECT_EQ(post("split", {{"to", "rb"}, {"members", {ida, 999}}}).status, 400);
  EXPECT_EQ(post("split", {{"to", "rb"}, {"members", json::array()}}).status, 400);
  EXPECT_EQ(post("split", {{"members", {ida}}}).status, 400);
  EXPECT_EQ(post("split", {{"to", "ra"}, {"members", {ida}}}).status, 409);
  EXPECT_EQ(post("merge", {{"into", "ra"}}).status, 409);
  EXPECT_EQ(post("merge", {{"into", "bad/name"}}).status, 400);
  EXPECT_EQ(post("merge", json::object()).status, 400);
  EXPECT_EQ(admin("POST", "/api/rooms/nowhere/merge", R"({"into":"rb"})").status, 404);
  EXPECT_EQ(admin("POST", "/api/rooms/nowhere/split", R"({"to":"rb","members":[1]})").status, 404);
  run_until([] { return false; }, 200ms);
  EXPECT_EQ(server_->room_calls("ra"), 2u);
  EXPECT_EQ(server_->room_calls("rb"), 1u);
  EXPECT_EQ(received(Method::kUpdate), 0u);

  // Alice is on her way to "rc" (the shard has not confirmed yet: nothing
  // ran in between): merging her room now is 409 and moves nobody.
  ASSERT_EQ(
      admin("POST", "/api/rooms/ra/members/" + std::to_string(ida) + "/move", R"({"to":"rc"})")
          .status,
      202);
  const AdminResponse busy = post("merge", {{"into", "rb"}});
  EXPECT_EQ(busy.status, 409) << busy.body;
  run_until([&] { return server_->room_calls("rc") == 1; });
  EXPECT_EQ(server_->room_calls("rc"), 1u);
  EXPECT_EQ(server_->room_calls("ra"), 1u);
  EXPECT_EQ(server_->room_calls("rb"), 1u);
  // Once she is there, the merge moves Bob, the one left.
  const AdminResponse merged = post("merge", {{"into", "rb"}});
  ASSERT_EQ(merged.status, 202) << merged.body;
  EXPECT_EQ(json::parse(merged.body).at("moving"), json::array({idb}));
  run_until([&] { return server_->room_calls("rb") == 2; });
  EXPECT_EQ(server_->room_calls("rb"), 2u);
  EXPECT_FALSE(listed("ra").has_value());
}

// A move the shard fails (Server::close_unused), on a fake engine: a target
// the move opened ends, announced once each way; a target other moves are
// still heading for stays open; an existing target is not ended.
class MoveTargetLifetimeTest : public FocusE2e {
 protected:
  void SetUp() override {
    auto engine = std::make_unique<focus::testing::FakeMediaEngine>();
    engine_ = engine.get();
    start_server_with_engine(std::move(engine));
    server_->set_event_listener([this](const ControlEvent& e) {
      if (e.kind == ControlEvent::Kind::kRoomCreated) events_.push_back("created " + e.room);
      if (e.kind == ControlEvent::Kind::kRoomEnded) events_.push_back("ended " + e.room);
    });
  }
  // events_ goes before the server (a base member) publishes its shutdown.
  void TearDown() override { server_->set_event_listener({}); }
  void settle() {
    const auto end = std::chrono::steady_clock::now() + 60ms;
    while (std::chrono::steady_clock::now() < end) {
      io_.run_for(5ms);
      server_->poll_media();
    }
  }
  // The move commands submitted and not answered, oldest first.
  std::vector<mixer::CommandId> pending_moves() const {
    std::vector<mixer::CommandId> out;
    for (const mixer::CommandId id : engine_->pending_ids()) {
      for (const auto& s : engine_->submitted) {
        if (s.id == id && s.kind == mixer::Command::Kind::kMoveParticipant) out.push_back(id);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  size_t count(const std::string& event) const {
    return static_cast<size_t>(std::count(events_.begin(), events_.end(), event));
  }

  // Dave, who only rings, is being dialled into `room`.
  void dial_dave(std::string_view room) {
    ring_only_ = {"dave"};
    std::string dave = "sip:dave@127.0.0.1:";
    dave += std::to_string(client_.listening().front().port);
    ASSERT_EQ(server_->dial_out(room, dave, "").status, 202);
    run_until([&] { return ringing_.contains("dave"); });
    ASSERT_EQ(server_->gauges().dialing, 1u);
  }
  // `caller` is moved from `from` to `to`, the media side holding every
  // completion from now on: `move` is its command.
  void held_move(const Caller& caller, std::string_view from, std::string_view to,
                 mixer::CommandId& move) {
    engine_->auto_complete = false;
    ASSERT_EQ(server_->move_member(from, member(from, caller)->id, to, std::nullopt, "").status,
              202);
    const std::vector<mixer::CommandId> moves = pending_moves();
    ASSERT_EQ(moves.size(), 1u);
    move = moves[0];
  }
  // The media side answers again, and what it held.
  void release_media() {
    engine_->auto_complete = true;
    engine_->complete_all();
    settle();
  }

  focus::testing::FakeMediaEngine* engine_ = nullptr;
  std::vector<std::string> events_;
};

TEST_F(MoveTargetLifetimeTest, AFailedMoveEndsTheRoomItOpenedOnce) {
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "la"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "la"), 200);
  settle();
  mixer::CommandId move = 0;
  ASSERT_NO_FATAL_FAILURE(held_move(a, "la", "lb", move));
  EXPECT_EQ(count("created lb"), 1u);
  engine_->fail(move, mixer::Failure::kUnknownParticipant);
  settle();
  EXPECT_EQ(count("ended lb"), 1u);
  EXPECT_FALSE(server_->room_state("lb").has_value());
  EXPECT_EQ(server_->room_calls("la"), 2u);  // Alice stayed
  EXPECT_EQ(count("ended la"), 0u);
}

TEST_F(MoveTargetLifetimeTest, AMergeIntoANewRoomSurvivesItsFirstMoveFailing) {
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "la"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "la"), 200);
  settle();
  engine_->auto_complete = false;
  Control::RoomMoveReport report;
  ASSERT_EQ(server_->merge_rooms("la", "lb", std::nullopt, "", &report).status, 202);
  ASSERT_EQ(report.moving.size(), 2u);
  const std::vector<mixer::CommandId> moves = pending_moves();
  ASSERT_EQ(moves.size(), 2u);
  // The first fails: "lb" stays open, the second is still on its way there.
  engine_->fail(moves[0], mixer::Failure::kUnknownParticipant);
  settle();
  EXPECT_TRUE(server_->room_state("lb").has_value());
  EXPECT_EQ(count("ended lb"), 0u);
  engine_->auto_complete = true;
  engine_->complete(moves[1]);
  settle();
  EXPECT_EQ(server_->room_calls("lb"), 1u);
  EXPECT_EQ(server_->room_calls("la"), 1u);
  EXPECT_EQ(count("created lb"), 1u);
  EXPECT_EQ(count("ended lb"), 0u);
}

// Bob leaves room "lt" while Carol's move there is on its way (the room stays
// for her) and Dave is being dialled into it; the move fails, the room
// ends, and Dave's dial-out is CANCELled with it rather than reopening the
// room with him alone when he answers.
TEST_F(MoveTargetLifetimeTest, AFailedMoveCancelsTheDialOutsRingingIntoTheRoomItEnds) {
  Caller b(700, "bob"), c(1100, "carol");
  ASSERT_EQ(invite(b, "sendrecv", "lt"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "lc"), 200);
  settle();
  ASSERT_NO_FATAL_FAILURE(dial_dave("lt"));
  mixer::CommandId move = 0;
  ASSERT_NO_FATAL_FAILURE(held_move(c, "lc", "lt", move));
  EXPECT_EQ(bye(b, "lt"), 200);
  settle();
  EXPECT_TRUE(server_->room_state("lt").has_value());
  EXPECT_TRUE(client_cancels_.empty());
  engine_->fail(move, mixer::Failure::kUnknownParticipant);
  settle();
  EXPECT_EQ(count("ended lt"), 1u);
  run_until([&] { return server_->gauges().dialing == 0; });
  ASSERT_EQ(client_cancels_.size(), 1u);
  EXPECT_EQ(client_cancels_[0].request_uri().user, "dave");
  EXPECT_EQ(server_->gauges().dialing, 0u);
  EXPECT_FALSE(server_->room_state("lt").has_value());
  EXPECT_EQ(server_->room_calls("lc"), 1u);  // Carol stayed
  release_media();
}

// Dave is being dialled into room "lt", which nobody is in yet, when Carol's
// move there opens it; the move fails: the room it opened ends, but Dave's
// dial-out was not the move's doing and goes on ringing.
TEST_F(MoveTargetLifetimeTest, AFailedMoveSparesADialOutThatRangBeforeIt) {
  Caller c(1100, "carol");
  ASSERT_EQ(invite(c, "sendrecv", "lc"), 200);
  settle();
  ASSERT_NO_FATAL_FAILURE(dial_dave("lt"));
  EXPECT_FALSE(server_->room_state("lt").has_value());
  mixer::CommandId move = 0;
  ASSERT_NO_FATAL_FAILURE(held_move(c, "lc", "lt", move));
  EXPECT_EQ(count("created lt"), 1u);
  engine_->fail(move, mixer::Failure::kUnknownParticipant);
  settle();
  EXPECT_EQ(count("ended lt"), 1u);
  EXPECT_FALSE(server_->room_state("lt").has_value());
  run_until([] { return false; }, 150ms);
  EXPECT_TRUE(client_cancels_.empty());
  EXPECT_EQ(server_->gauges().dialing, 1u);
  EXPECT_EQ(server_->room_calls("lc"), 1u);  // Carol stayed
  release_media();
}

TEST_F(MoveTargetLifetimeTest, AFailedMoveIntoAnExistingRoomDoesNotEndIt) {
  Caller a(400, "alice"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "la"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "lb"), 200);
  settle();
  mixer::CommandId move = 0;
  ASSERT_NO_FATAL_FAILURE(held_move(a, "la", "lb", move));
  engine_->fail(move, mixer::Failure::kUnknownParticipant);
  settle();
  EXPECT_EQ(count("created lb"), 0u);
  EXPECT_EQ(count("ended lb"), 0u);
  EXPECT_EQ(server_->room_calls("lb"), 1u);
  EXPECT_EQ(server_->room_calls("la"), 1u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
