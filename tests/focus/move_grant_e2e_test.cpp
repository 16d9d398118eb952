// A moderator's move into a room on another node (issue #17, README "Moving
// members" → "Room B on another node"): node A REFERs the member to
// sip:B@front;grant=… (no PIN), and room B's node, sharing cluster.secret,
// admits the member's INVITE with that Request-URI past B's PIN and member
// limit, once. Two focus nodes run in this process on one io: node A (the
// fixture's server_, its front an address nobody listens on) and node B
// (node_b_); the test plays the member and the front, sending the INVITE
// the member would send to B's node.

#include "focus/services/move_grant.hpp"
#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

// Ports 54000-54199: node A and node B of one test take a slice each.
constexpr uint16_t kFirstPort = 54000;
constexpr uint16_t kPortsPerNode = 25;
constexpr std::string_view kFront = "sip:127.0.0.1:5999";
constexpr std::string_view kSecret = "e2e-cluster-secret-0123456789";

class MoveGrantE2eTest : public FocusE2e {
 protected:
  // Node B goes first (a derived member): its shutdown BYEs reach the client.
  ~MoveGrantE2eTest() override { node_b_.reset(); }

  static uint16_t first_port(int slot) {
    return static_cast<uint16_t>(kFirstPort + slot * kPortsPerNode);
  }

  // Node A: room "ra" here, accounts "op" (moderate, move) and "mover"
  // (move only).
  void start_a(int slot, std::string_view secret) {
    start_server(
        first_port(slot), static_cast<uint16_t>(first_port(slot) + kPortsPerNode - 1), 30s,
        [&](Options& options) {
          options.media_shards = 1;
          options.cluster_front = std::string(kFront);
          options.cluster_secret = std::string(secret);
          options.accounts = {{"op", "0pw", {"moderate", "move"}}, {"mover", "1pw", {"move"}}};
        });
  }

  // Node B: room "rb" with PIN 4321 and at most `limit` members.
  void start_b(int slot, std::string_view secret, size_t limit) {
    Options options;
    options.recording.dir = recording_dir();
    options.media_shards = 1;
    options.cluster_front = std::string(kFront);
    options.cluster_secret = std::string(secret);
    options.rooms = {RoomPolicy{.name = "rb", .pin = "4321", .max_members = limit}};
    options.sip_port = 0;
    options.tcp = false;
    options.rtp_first = first_port(slot);
    options.rtp_last = static_cast<uint16_t>(first_port(slot) + kPortsPerNode - 1);
    node_b_.emplace(io_, options);
    node_b_->start();
    node_b_address_ = node_b_->stack().listening().front();
  }

  // Alice (400 Hz) and Bob (700 Hz) in room "ra" on node A.
  void two_members(Caller& a, Caller& b) {
    ASSERT_EQ(invite(a, "sendrecv", "ra"), 200);
    ASSERT_EQ(invite(b, "sendrecv", "ra"), 200);
  }

  // The Refer-To URI of the one REFER node A sent in `caller`'s dialog ("" if none).
  std::string refer_target(const Caller& caller) {
    run_until([&] { return received(Method::kRefer, caller.call_id) > 0; });
    if (received(Method::kRefer, caller.call_id) != 1) return {};
    std::string target(last_received(Method::kRefer)->header("Refer-To").value_or(""));
    if (target.size() < 2 || target.front() != '<' || target.back() != '>') return {};
    return target.substr(1, target.size() - 2);
  }

  // What the front does: the same Request-URI, sent to room B's node.
  std::string at_node_b(std::string_view uri) const {
    const std::string front = "@127.0.0.1:5999";
    const size_t at = uri.find(front);
    if (at == std::string_view::npos) return {};
    return std::string(uri.substr(0, at)) + "@127.0.0.1:" + std::to_string(node_b_address_.port) +
           std::string(uri.substr(at + front.size()));
  }

  // `caller` INVITEs node B at `uri` (room "rb"); the final status.
  int invite_b(Caller& caller, const std::string& uri) {
    const sip::Endpoint a = focus_;
    focus_ = node_b_address_;
    const int status = invite_to(caller, "sendrecv", "rb", uri, {});
    focus_ = a;
    return status;
  }

  std::optional<MemberState> member_b(const Caller& caller) const {
    const std::optional<ConferenceState> state = node_b_->room_state("rb");
    if (!state) return std::nullopt;
    for (const MemberState& m : state->members) {
      if (m.dialog.call_id == caller.call_id) return m;
    }
    return std::nullopt;
  }

  size_t calls_b() const {
    const std::optional<ConferenceState> state = node_b_->room_state("rb");
    return state ? state->members.size() : 0;
  }

  std::string rb_at_b(std::string_view params = {}) const {
    return "sip:rb@127.0.0.1:" + std::to_string(node_b_address_.port) + std::string(params);
  }

  std::optional<Server> node_b_;
  sip::Endpoint node_b_address_;
};

std::string param_of(std::string_view uri, std::string_view name) {
  const std::string key = ";" + std::string(name) + "=";
  const size_t at = uri.find(key);
  if (at == std::string_view::npos) return {};
  const size_t from = at + key.size();
  const size_t end = uri.find(';', from);
  return std::string(uri.substr(from, end == std::string_view::npos ? end : end - from));
}

// A moderator's move (the admin API on its account) gives no PIN to the
// member: the Refer-To carries a grant instead, even though the mover typed
// one. B's node admits the member's INVITE with it as a full member at once
// (no PIN entry: it is published and hears the room); the same grant again,
// or one altered or expired, is any dial-in's (answered, then PIN entry:
// unpublished, deaf).
TEST_F(MoveGrantE2eTest, AModeratorsMoveIsHonouredOnceOnRoomBsNode) {
  start_a(0, kSecret);
  start_b(1, kSecret, 10);
  Caller a(400, "alice"), b(700, "bob"), carol(1100, "carol");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_EQ(invite_b(carol, rb_at_b(";pin=4321")), 200);  // dialled in with the PIN
  ASSERT_TRUE(member_b(carol).has_value());

  const ControlResult moved = server_->move_member("ra", id_of("ra", a), "rb", "4321", "op");
  ASSERT_EQ(moved.status, 202) << moved.message;
  const std::string target = refer_target(a);
  ASSERT_TRUE(target.starts_with("sip:rb@127.0.0.1:5999;grant=")) << target;
  EXPECT_EQ(target.find("pin="), std::string::npos) << target;
  const std::string grant = param_of(target, "grant");
  ASSERT_EQ(grant.size(), 10u + 1 + 32 + 1 + 64) << grant;

  // The member's new call, as the front hands it to B's node.
  Caller moved_a(400, "alice");
  ASSERT_EQ(invite_b(moved_a, at_node_b(target)), 200);
  ASSERT_TRUE(member_b(moved_a).has_value());
  talk({&moved_a, &carol}, 30, 10);
  EXPECT_GT(moved_a.heard(1100), kHeard);
  EXPECT_GT(carol.heard(400), kHeard);

  // Used once: the same grant now gets the PIN prompt.
  Caller dave(1500, "dave");
  ASSERT_EQ(invite_b(dave, at_node_b(target)), 200);
  EXPECT_FALSE(member_b(dave).has_value());
  // Altered (last MAC digit) or expired grants: the PIN prompt as well.
  std::string altered = target;
  altered.back() = altered.back() == '0' ? '1' : '0';
  Caller erin(1700, "erin");
  ASSERT_EQ(invite_b(erin, at_node_b(altered)), 200);
  EXPECT_FALSE(member_b(erin).has_value());
  const MoveGrants same_secret{std::string(kSecret)};
  const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  Caller frank(1900, "frank");
  ASSERT_EQ(invite_b(frank, rb_at_b(";grant=" + same_secret.make("rb", now - 5))), 200);
  EXPECT_FALSE(member_b(frank).has_value());
  talk({&moved_a, &carol, &dave, &erin, &frank}, 30, 10);
  for (const Caller* waiting : {&dave, &erin, &frank}) {
    EXPECT_LT(waiting->heard(1100), kHeard) << waiting->name();
    EXPECT_LT(carol.heard(waiting->freq()), kHeard) << waiting->name();
  }
  EXPECT_EQ(calls_b(), 2u);  // carol and alice
  // A fresh grant from the same secret still counts (the table refused none).
  Caller gina(2100, "gina");
  ASSERT_EQ(invite_b(gina, rb_at_b(";grant=" + same_secret.make("rb", now + 30))), 200);
  EXPECT_TRUE(member_b(gina).has_value());
}

// The member limit: room B is full (limit 1, Carol in it). The member moved
// by the operator (admin API, token) enters all the same; a plain dial-in
// with the PIN, and the grant's second use, are refused 486.
TEST_F(MoveGrantE2eTest, AGrantedMemberEntersAFullRoom) {
  start_a(2, kSecret);
  start_b(3, kSecret, 1);
  Caller a(400, "alice"), b(700, "bob"), carol(1100, "carol");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_EQ(invite_b(carol, rb_at_b(";pin=4321")), 200);
  const AdminResponse moved =
      admin("POST", "/api/rooms/ra/members/" + std::to_string(id_of("ra", a)) + "/move",
            R"({"to":"rb"})");
  ASSERT_EQ(moved.status, 202) << moved.body;
  const std::string target = refer_target(a);
  ASSERT_NE(param_of(target, "grant"), "") << target;

  Caller dave(1500, "dave");
  EXPECT_EQ(invite_b(dave, rb_at_b(";pin=4321")), 486);  // full
  Caller moved_a(400, "alice");
  ASSERT_EQ(invite_b(moved_a, at_node_b(target)), 200);
  EXPECT_TRUE(member_b(moved_a).has_value());
  EXPECT_EQ(calls_b(), 2u);
  Caller erin(1700, "erin");
  EXPECT_EQ(invite_b(erin, at_node_b(target)), 486);  // used: any dial-in's limit
}

// No grant without cause: a mover without `moderate` gives the PIN (it
// travels as today, no grant), and a node without cluster.secret sends a
// moderator's move as today (the PIN if given) while B's node, holding a
// secret, has nothing to honour. A node without a secret ignores grants.
TEST_F(MoveGrantE2eTest, NoGrantFromAPlainMoverOrWithoutASecret) {
  start_a(4, kSecret);
  start_b(5, "", 10);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_EQ(server_->move_member("ra", id_of("ra", a), "rb", "4321", "mover").status, 202);
  const std::string plain = refer_target(a);
  EXPECT_EQ(plain, "sip:rb@127.0.0.1:5999;pin=4321");

  // B's node has no secret: a well-made grant counts for nothing there.
  const MoveGrants signer{std::string(kSecret)};
  const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  ASSERT_EQ(invite_b(c, rb_at_b(";grant=" + signer.make("rb", now + 30))), 200);
  EXPECT_FALSE(member_b(c).has_value());  // PIN entry
}

TEST_F(MoveGrantE2eTest, WithoutASecretAModeratorsMoveCarriesThePinItWasGiven) {
  start_a(6, "");
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_EQ(server_->move_member("ra", id_of("ra", a), "rb", "4321", "op").status, 202);
  EXPECT_EQ(refer_target(a), "sip:rb@127.0.0.1:5999;pin=4321");
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
