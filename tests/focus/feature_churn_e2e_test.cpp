// Issue #17's features as a call's life goes (README "Moving members",
// "Sidebars", "Recording"), over and over, on an in-process focus with its
// real media engine on 127.0.0.1: four callers join, two go into a sidebar,
// the room is recorded, one is split off into a room of its own, another
// follows by REFER (conference:add), the two are merged back, the sidebar is dissolved, the
// recording stopped, and all hang up; the room and the sidebar have a subscriber each meanwhile.
// After every round everything the round made is gone: calls, rooms, dialogs, subscriptions,
// recordings, the focus's pending media work, and on the media shard its members, streams and ports
// (the gauges /metrics serves). A feature that kept a member, a room or a port past the call would
// show here as a gauge that climbs round after round.
#include <nlohmann/json.hpp>

#include "focus/ops/admin_api.hpp"
#include "focus/ops/metrics.hpp"
#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;
using nlohmann::json;

// The sum over shards of a per-shard gauge in a /metrics text.
uint64_t shard_sum(const std::string& text, const std::string& name) {
  uint64_t sum = 0;
  const std::string prefix = "\n" + name + "{";
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    const size_t value = text.find("} ", at);
    if (value == std::string::npos) break;
    sum += std::stoull(text.substr(value + 2));
  }
  return sum;
}

struct Leftovers {
  size_t calls = 0, rooms = 0, dialogs = 0, dialing = 0, subscriptions = 0, recordings = 0;
  size_t unsent_removes = 0, removes_in_flight = 0, remote_moves = 0;
  uint64_t shard_members = 0, shard_streams = 0, ports_free = 0, retry_queue = 0;

  bool operator==(const Leftovers&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Leftovers& l) {
  return os << "calls " << l.calls << ", rooms " << l.rooms << ", dialogs " << l.dialogs
            << ", dialing " << l.dialing << ", subscriptions " << l.subscriptions << ", recordings "
            << l.recordings << ", unsent removes " << l.unsent_removes << ", removes in flight "
            << l.removes_in_flight << ", remote moves " << l.remote_moves << ", shard members "
            << l.shard_members << ", streams " << l.shard_streams << ", ports free " << l.ports_free
            << ", retry queue " << l.retry_queue;
}

class FeatureChurnE2eTest : public FocusE2e {
 protected:
  Leftovers leftovers() {
    const FocusGauges g = server_->gauges();
    const std::string text =
        "\n" + render_metrics(collect_metrics(make_metrics_source(*server_), {}));
    Leftovers l;
    l.calls = g.calls;
    l.rooms = g.rooms;
    l.dialogs = g.dialogs;
    l.dialing = g.dialing;
    l.subscriptions = g.subscriptions;
    l.recordings = g.recordings_active;
    l.unsent_removes = g.unsent_removes;
    l.removes_in_flight = g.removes_in_flight;
    l.remote_moves = g.remote_moves;
    l.shard_members = shard_sum(text, "chorus_shard_members");
    l.shard_streams = shard_sum(text, "chorus_shard_streams");
    l.ports_free = shard_sum(text, "chorus_shard_ports_free");
    l.retry_queue = shard_sum(text, "chorus_media_retry_queue");
    return l;
  }
};

TEST_F(FeatureChurnE2eTest, SidebarsMovesAndRecordingsLeaveNothingBehindTheirCalls) {
  start_server(46900, 46999, 30s, [&](Options& o) {
    o.media_shards = 1;
    o.top_k = 4;
    o.recording.format = "wav";
    o.recording.member_tracks = true;
    o.accounts = {{"op", "0pw", {"move"}}};
  });
  const Leftovers idle = leftovers();
  ASSERT_GT(idle.ports_free, 0u);
  ASSERT_EQ(idle.shard_members, 0u);
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Caller a(400, "alice"), b(700, "bob"), c(1100, "carol"), d(1300, "dave");
    for (Caller* caller : {&a, &b, &c, &d}) ASSERT_EQ(invite(*caller, "sendrecv", "churn"), 200);
    const uint64_t ida = id_of("churn", a), idb = id_of("churn", b);
    const uint64_t idc = id_of("churn", c);
    const Leftovers busy = leftovers();
    EXPECT_EQ(busy.calls, 4u);
    EXPECT_EQ(busy.shard_members, 4u);
    EXPECT_LT(busy.ports_free, idle.ports_free);

    // A sidebar of Alice and Bob, and the room recorded.
    const AdminResponse made = admin("POST", "/api/rooms/churn/sidebars",
                                     json{{"name", "huddle"}, {"members", {ida, idb}}}.dump());
    ASSERT_EQ(made.status, 201) << made.body;
    const auto sidebar = json::parse(made.body).at("id").get<uint32_t>();
    ASSERT_EQ(admin("POST", "/api/rooms/churn/recording", R"({"record":true})").status, 200);
    // Watchers of the room and of the sidebar (its own URI, RFC 4575 §5.9).
    Caller room_watch(0, "room-watch"), sidebar_watch(0, "sidebar-watch");
    const auto watching_room = subscribe_conference(room_watch, "churn");
    ASSERT_TRUE(watching_room && watching_room->status() == 200);
    const auto watching_sidebar = subscribe_conference(
        sidebar_watch, "churn", room_uri("churn") + ";sidebar=" + std::to_string(sidebar));
    ASSERT_TRUE(watching_sidebar && watching_sidebar->status() == 200);
    EXPECT_EQ(server_->gauges().subscriptions, 2u);
    talk({&a, &b, &c, &d}, 40, 20);
    EXPECT_GT(a.heard(700), kHeard);   // her sidebar partner
    EXPECT_LT(c.heard(400), kSilent);  // the main room does not hear the sidebar

    // Carol split off into a room of her own, Dave moved after her by an
    // authenticated REFER (conference:add to that room's URI, Target-Dialog
    // naming his dialog), and the two merged back.
    const AdminResponse split =
        admin("POST", "/api/rooms/churn/split", json{{"to", "churn-b"}, {"members", {idc}}}.dump());
    ASSERT_EQ(split.status, 202) << split.body;
    Caller op(1900, "op");
    Message refer = request(op, Method::kRefer, "churn-b");
    const auto referred = exchange_auth(
        op, std::move(refer),
        {{"Refer-To", "<urn:sip-action:conference:add>"}, {"Target-Dialog", target_dialog(d)}},
        "op", "0pw");
    ASSERT_TRUE(referred && referred->status() == 202);
    run_until([&] { return server_->room_calls("churn-b") == 2; });
    ASSERT_EQ(server_->room_calls("churn-b"), 2u);
    // The REFER's subscription ends with the move's outcome (RFC 3515 §2.4.7).
    run_until([&] {
      const auto sent = notifies(op.call_id);
      return !sent.empty() &&
             sent.back()->header("Subscription-State").value_or("").starts_with("terminated");
    });
    ASSERT_FALSE(notifies(op.call_id).empty());
    EXPECT_EQ(notifies(op.call_id).back()->body().substr(0, 14), "SIP/2.0 200 OK");
    talk({&a, &b, &c, &d}, 40, 20);
    EXPECT_GT(c.heard(1300), kHeard);
    EXPECT_LT(c.heard(400), kSilent);
    const AdminResponse merged = admin("POST", "/api/rooms/churn-b/merge", R"({"into":"churn"})");
    ASSERT_EQ(merged.status, 202) << merged.body;
    run_until([&] { return server_->room_calls("churn") == 4; });
    ASSERT_EQ(server_->room_calls("churn"), 4u);
    ASSERT_EQ(server_->room_calls("churn-b"), 0u);

    // The sidebar dissolved: everyone hears everyone again.
    EXPECT_EQ(admin("DELETE", "/api/rooms/churn/sidebars/" + std::to_string(sidebar)).status, 200);
    talk({&a, &b, &c, &d}, 40, 20);
    EXPECT_GT(c.heard(400), kHeard);
    EXPECT_GT(a.heard(1300), kHeard);
    ASSERT_EQ(admin("POST", "/api/rooms/churn/recording", R"({"record":false})").status, 200);

    for (Caller* caller : {&a, &b, &c, &d}) EXPECT_EQ(bye(*caller, "churn"), 200);
    // Both packages end with their resource (RFC 6665 §4.2.2).
    for (const Caller* watcher : {&room_watch, &sidebar_watch}) {
      run_until([&] {
        const auto sent = notifies(watcher->call_id);
        return !sent.empty() &&
               sent.back()->header("Subscription-State").value_or("").starts_with("terminated");
      });
      const auto sent = notifies(watcher->call_id);
      ASSERT_FALSE(sent.empty()) << watcher->name();
      EXPECT_TRUE(sent.back()->header("Subscription-State").value_or("").starts_with("terminated"))
          << watcher->name();
    }
    run_until([&] { return leftovers() == idle; }, 5000ms);
    EXPECT_EQ(leftovers(), idle);
    EXPECT_FALSE(server_->room_state("churn").has_value());
    EXPECT_FALSE(server_->room_state("churn-b").has_value());
    run_until(
        [&] { return server_->gauges().recordings_finished == static_cast<uint64_t>(round + 1); },
        5000ms);
    EXPECT_EQ(server_->gauges().recordings_finished, static_cast<uint64_t>(round + 1));
  }
  EXPECT_EQ(server_->gauges().recordings_failed, 0u);
  EXPECT_EQ(server_->gauges().media_commands_failed, 0u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
