// A move to a room on another node (README "Moving members", issue #17):
// with cluster.front set and no room B on this node, the focus REFERs the
// member to sip:B@front (RFC 3515) in its dialog, and acts on the member's
// NOTIFYs as transferor (RFC 5589 §6): a 2xx sipfrag is followed by our BYE,
// a failure, a refused REFER or silence until cluster.transfer_timeout leave
// the member in room A. The front here is an address nobody listens on: the
// member's side of the transfer is played by the test.

#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

// Ports 47800-47999, one slice per test (ctest runs them in parallel);
// slot 55 (50000-50039) for the late-outcome test, the slices after 47999
// being other files'.
constexpr uint16_t kFirstPort = 47800;
constexpr uint16_t kPortsPerTest = 40;
constexpr int kLateSlot = 55;
// Slot 93 (51520-51559) for the unsendable REFER.
constexpr int kUnsendableSlot = 93;
constexpr std::string_view kFront = "sip:127.0.0.1:5999";

class MoveRemoteE2eTest : public FocusE2e {
 protected:
  // events_ goes before the server (a base member), whose shutdown publishes.
  ~MoveRemoteE2eTest() override {
    if (server_) server_->set_event_listener({});
  }

  void start(int slot, std::string_view front = kFront,
             std::chrono::milliseconds timeout = 32000ms) {
    const auto first = static_cast<uint16_t>(kFirstPort + slot * kPortsPerTest);
    start_server(first, static_cast<uint16_t>(first + kPortsPerTest - 1), 30s,
                 [&](Options& options) {
                   options.media_shards = 1;
                   options.cluster_front = std::string(front);
                   options.cluster_transfer_timeout = timeout;
                   options.accounts = {{"op", "0pw", {"moderate", "move"}}};
                 });
    server_->set_event_listener([this](const ControlEvent& event) { events_.push_back(event); });
  }

  // Alice (400 Hz) and Bob (700 Hz) in room "ra", hearing each other.
  void two_members(Caller& a, Caller& b) {
    ASSERT_EQ(invite(a, "sendrecv", "ra"), 200);
    ASSERT_EQ(invite(b, "sendrecv", "ra"), 200);
    talk({&a, &b}, 30, 10);
    ASSERT_GT(a.heard(700), kHeard);
  }

  // The REFER the focus sent in `caller`'s dialog (nullptr when none came).
  const Message* refer_to(const Caller& caller) {
    run_until([&] { return received(Method::kRefer, caller.call_id) > 0; });
    if (received(Method::kRefer, caller.call_id) != 1) return nullptr;
    return last_received(Method::kRefer);
  }

  // The member reports the referred INVITE's outcome (RFC 3515 §2.4.5) in
  // its dialog; the focus's answer.
  int report(Caller& caller, uint32_t refer_cseq, std::string_view sipfrag,
             std::string_view state = "terminated;reason=noresource") {
    Message notify = request(caller, Method::kNotify, "ra");
    notify.set_header("Event", "refer;id=" + std::to_string(refer_cseq));
    notify.set_header("Subscription-State", std::string(state));
    notify.set_body("message/sipfrag;version=2.0", std::string(sipfrag) + "\r\n");
    const std::optional<Message> answer = exchange(std::move(notify));
    return answer ? answer->status() : 0;
  }

  size_t move_failures() const {
    return static_cast<size_t>(std::count_if(events_.begin(), events_.end(), [](const auto& e) {
      return e.kind == ControlEvent::Kind::kMoveFailed && e.room == "ra";
    }));
  }

  std::vector<ControlEvent> events_;
};

// Admin move to a room this node does not hold: REFER to room B's URI at
// the front (a subscription asked for: no Refer-Sub: false), no room B
// opened here; the member's NOTIFY "200 OK" is answered and followed by our
// BYE in its dialog; room A keeps Bob.
TEST_F(MoveRemoteE2eTest, A2xxNotifyEndsTheMembersDialogWithBye) {
  start(0);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  const ControlResult moved = server_->move_member("ra", id_of("ra", a), "rb", std::nullopt, "");
  EXPECT_EQ(moved.status, 202) << moved.message;
  const Message* refer = refer_to(a);
  ASSERT_NE(refer, nullptr);
  EXPECT_EQ(refer->header("Refer-To").value_or(""), "<sip:rb@127.0.0.1:5999>");
  EXPECT_FALSE(refer->header("Refer-Sub").has_value());
  EXPECT_EQ(refer->from().tag(), a.to_tag);  // in Alice's dialog
  EXPECT_FALSE(server_->room_state("rb").has_value());
  EXPECT_EQ(server_->gauges().remote_moves, 1u);
  // A second move while this one is open is refused (one at a time).
  EXPECT_EQ(server_->move_member("ra", id_of("ra", a), "rc", std::nullopt, "").status, 409);

  EXPECT_EQ(report(a, refer->cseq().number, "SIP/2.0 100 Trying", "active;expires=60"), 200);
  run_until([] { return false; }, 100ms);
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);  // a provisional decides nothing
  EXPECT_EQ(report(a, refer->cseq().number, "SIP/2.0 200 OK"), 200);
  run_until([&] { return received(Method::kBye, a.call_id) > 0; });
  ASSERT_EQ(received(Method::kBye, a.call_id), 1u);
  EXPECT_EQ(last_received(Method::kBye)->from().tag(), a.to_tag);
  EXPECT_FALSE(member("ra", a).has_value());
  EXPECT_TRUE(member("ra", b).has_value());
  EXPECT_EQ(server_->gauges().remote_moves, 0u);
  EXPECT_EQ(move_failures(), 0u);
}

// A failure sipfrag leaves the member in room A, still hearing Bob; the
// mover's REFER subscription ends with that failure, the admin console gets
// "move_failed". The REFER-form mover: conference:add to room B's URI.
TEST_F(MoveRemoteE2eTest, AFailureNotifyLeavesTheMemberInItsRoomAndTellsTheMover) {
  start(1);
  Caller a(400, "alice"), b(700, "bob"), op(1900, "op");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  Message add = request(op, Method::kRefer, "rb");
  const std::optional<Message> accepted = exchange_auth(
      op, std::move(add),
      {{"Refer-To", "<urn:sip-action:conference:add>"}, {"Target-Dialog", target_dialog(a)}}, "op",
      "0pw");
  ASSERT_TRUE(accepted.has_value());
  ASSERT_EQ(accepted->status(), 202);
  const Message* refer = refer_to(a);
  ASSERT_NE(refer, nullptr);
  EXPECT_EQ(refer->header("Refer-To").value_or(""), "<sip:rb@127.0.0.1:5999>");
  EXPECT_EQ(report(a, refer->cseq().number, "SIP/2.0 486 Busy Here"), 200);
  run_until([&] {
    const auto sent = notifies(op.call_id);
    return sent.size() >= 2;
  });
  const std::vector<const Message*> sent = notifies(op.call_id);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0]->body().substr(0, sent[0]->body().find('\r')), "SIP/2.0 100 Trying");
  EXPECT_EQ(sent[1]->body().substr(0, sent[1]->body().find('\r')), "SIP/2.0 486 Busy Here");
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_EQ(move_failures(), 1u);
  talk({&a, &b}, 30, 10);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
}

// A refused REFER, and a member that never reports (cluster.transfer_timeout):
// both leave it in room A, and the state is freed (a new move can start).
TEST_F(MoveRemoteE2eTest, ARefusedReferOrNoReportLeavesTheMemberInItsRoom) {
  start(2, kFront, 400ms);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  refer_refusals_["alice"] = 603;
  EXPECT_EQ(server_->move_member("ra", id_of("ra", a), "rb", std::nullopt, "").status, 202);
  run_until([&] { return move_failures() > 0; });
  EXPECT_EQ(move_failures(), 1u);
  EXPECT_EQ(server_->gauges().remote_moves, 0u);
  refer_refusals_.clear();

  EXPECT_EQ(server_->move_member("ra", id_of("ra", a), "rb", std::nullopt, "").status, 202);
  run_until([&] { return received(Method::kRefer, a.call_id) > 1; });
  ASSERT_EQ(received(Method::kRefer, a.call_id), 2u);
  run_until([&] { return move_failures() > 1; }, 2000ms);
  EXPECT_EQ(move_failures(), 2u);
  EXPECT_EQ(server_->gauges().remote_moves, 0u);
  // A failure reported too late changes nothing (a late 2xx does: see below).
  EXPECT_EQ(report(a, last_received(Method::kRefer)->cseq().number, "SIP/2.0 486 Busy Here"), 200);
  run_until([] { return false; }, 150ms);
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);
  EXPECT_TRUE(member("ra", a).has_value());
}

// The member answers the REFER but reports nothing within
// cluster.transfer_timeout (room B's waiting room holds it): the move is
// reported failed and the member stays. When B admits it later, its 2xx
// sipfrag still ends its dialog here with BYE (RFC 5589 §6), so it is not in
// both rooms and room A does not keep its place.
TEST_F(MoveRemoteE2eTest, A2xxNotifyAfterTheTimeoutStillEndsTheMembersDialog) {
  start(kLateSlot, kFront, 400ms);
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "ra"), 200);
  EXPECT_EQ(server_->move_member("ra", id_of("ra", a), "rb", std::nullopt, "").status, 202);
  const Message* refer = refer_to(a);
  ASSERT_NE(refer, nullptr);
  const uint32_t refer_cseq = refer->cseq().number;
  run_until([&] { return move_failures() > 0; }, 2000ms);
  ASSERT_EQ(move_failures(), 1u);
  EXPECT_EQ(server_->gauges().remote_moves, 0u);
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);

  EXPECT_EQ(report(a, refer_cseq, "SIP/2.0 200 OK", "terminated"), 200);
  run_until([&] { return received(Method::kBye, a.call_id) > 0; });
  ASSERT_EQ(received(Method::kBye, a.call_id), 1u);
  EXPECT_EQ(last_received(Method::kBye)->from().tag(), a.to_tag);
  EXPECT_FALSE(member("ra", a).has_value());
  EXPECT_EQ(server_->room_calls("ra"), 0u);
  EXPECT_FALSE(server_->room_state("ra").has_value());
  EXPECT_EQ(move_failures(), 1u);
}

// A member on a WebSocket whose connection is gone (its Contact names only
// that flow, RFC 7118 §5.2): the REFER cannot leave at all. The mover hears
// so at once (503, nothing under way), not after cluster.transfer_timeout,
// and the member stays in room A.
TEST_F(MoveRemoteE2eTest, AReferThatCannotBeSentFailsTheMoveAtOnce) {
  start(kUnsendableSlot);  // transfer timeout 32 s
  Caller a(400, "alice");
  Message m = request(a, Method::kInvite, "ra");
  m.set_header("Contact", "<sip:alice@df7jal23ls0d.invalid;transport=ws>");
  m.set_body("application/sdp", a.sdp("sendrecv"));
  const std::optional<Message> ok = exchange(std::move(m));
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200);
  a.to_tag = std::string(ok->to().tag());
  a.remote_target = ok->contacts().front().uri_text;
  ack(a, *ok, "ra");
  run_until([&] { return member("ra", a).has_value(); });
  const ControlResult moved = server_->move_member("ra", id_of("ra", a), "rb", std::nullopt, "");
  EXPECT_EQ(moved.status, 503) << moved.message;
  EXPECT_EQ(server_->gauges().remote_moves, 0u);
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_FALSE(server_->room_state("rb").has_value());
  // Nothing is left waiting: a new attempt is tried (and fails) at once too.
  EXPECT_EQ(server_->move_member("ra", id_of("ra", a), "rb", std::nullopt, "").status, 503);
}

// A room B this node holds is a local move even with a front; without a
// front a missing room B is opened here (the single-node behaviour).
TEST_F(MoveRemoteE2eTest, ALocalRoomOrNoFrontMovesLocally) {
  start(3);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_EQ(invite(c, "sendrecv", "rc"), 200);
  EXPECT_EQ(server_->move_member("ra", id_of("ra", a), "rc", std::nullopt, "").status, 202);
  talk({&a, &b, &c}, 40, 20);
  EXPECT_TRUE(member("rc", a).has_value());
  EXPECT_EQ(received(Method::kRefer, a.call_id), 0u);
  EXPECT_GT(a.heard(1100), kHeard);
}

TEST_F(MoveRemoteE2eTest, WithoutAFrontAMissingRoomIsOpenedHere) {
  start(4, "");
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  EXPECT_EQ(server_->move_member("ra", id_of("ra", a), "rb", std::nullopt, "").status, 202);
  talk({&a, &b}, 20, 0);
  EXPECT_TRUE(member("rb", a).has_value());
  EXPECT_EQ(received(Method::kRefer, a.call_id), 0u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
