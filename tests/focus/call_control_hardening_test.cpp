// Call-control hardening (security review): who counts as "inside room B"
// for a move REFER, actions a caller not yet admitted sends on its own
// call, a member hanging up while its move is under way, moves in flight
// against room B's member limit, moves into a waiting room, room names with
// control characters, and settings sent while a move is under way. SIP on
// the wire (a client sip::Stack against an in-process focus on 127.0.0.1),
// a fake media engine so that a move's completion comes when the test says.

#include <algorithm>
#include <memory>

#include "tests/focus/e2e_support.hpp"
#include "tests/focus/fake_media_engine.hpp"

namespace chorus::focus::e2e {
namespace {

using Kind = mixer::Command::Kind;

class CallControlHardeningTest : public FocusE2e {
 protected:
  // "locked" needs PIN 1234; "duo" holds two; "lobby" is a waiting room;
  // any other room is ad hoc. "op" moderates, "mover" may only move,
  // "dialer" may dial out and move.
  void SetUp() override {
    auto engine = std::make_unique<focus::testing::FakeMediaEngine>();
    engine_ = engine.get();
    start_server_with_engine(std::move(engine), [this](Options& options) {
      RoomPolicy locked;
      locked.name = "locked";
      locked.pin = "1234";
      RoomPolicy duo;
      duo.name = "duo";
      duo.max_members = 2;
      RoomPolicy lobby;
      lobby.name = "lobby";
      lobby.waiting_room = true;
      options.rooms = {locked, duo, lobby};
      options.waiting_provisional_interval = 300ms;
      options.refer_subscription_expires = refer_expires_;
      options.accounts = {{"op", "0pw", {"moderate", "move"}},
                          {"mover", "0pw", {"move"}},
                          {"dialer", "0pw", {"dial-out", "move"}}};
      more_options(options);
    });
  }
  // What a derived fixture changes on top.
  virtual void more_options(Options&) {}

  void settle(std::chrono::milliseconds time = 60ms) {
    const auto end = std::chrono::steady_clock::now() + time;
    while (std::chrono::steady_clock::now() < end) {
      io_.run_for(5ms);
      server_->poll_media();
    }
  }

  // REFER from `from` (in its dialog when it has one, else out of dialog to
  // `room`) with Refer-To `refer_to` naming `target`'s dialog, answering a
  // challenge as `account`. The final response.
  std::optional<Message> refer(Caller& from, std::string_view room, std::string_view refer_to,
                               const Caller& target, std::string_view account,
                               bool member_view = false, std::string_view uri_params = {}) {
    Message m = request(from, Method::kRefer, room);
    if (!uri_params.empty()) m.set_request_uri(room_uri(room) + std::string(uri_params));
    return exchange_auth(from, std::move(m),
                         {{"Refer-To", std::string(refer_to)},
                          {"Target-Dialog", target_dialog(target, member_view)}},
                         account, "0pw");
  }

  static std::string sipfrag(const Message& notify) {
    return std::string(notify.body().substr(0, notify.body().find('\r')));
  }
  static std::string subscription_state(const Message& notify) {
    return std::string(notify.header("Subscription-State").value_or(""));
  }

  // Alice and Bob in room "ra".
  void two_members(Caller& a, Caller& b) {
    ASSERT_EQ(invite(a, "sendrecv", "ra"), 200);
    ASSERT_EQ(invite(b, "sendrecv", "ra"), 200);
    settle();
  }

  // A caller in "locked" without the PIN: answered, entering it by DTMF
  // (in the room, off its conference package, neither heard nor hearing).
  // Its participant: pin_participant_.
  void enters_pin(Caller& p) {
    const size_t before = server_->room_calls("locked");
    const size_t submitted = engine_->submitted.size();
    ASSERT_EQ(invite(p, "sendrecv", "locked"), 200);
    settle();
    ASSERT_EQ(server_->room_calls("locked"), before + 1);
    ASSERT_FALSE(member("locked", p).has_value());
    for (size_t i = submitted; i < engine_->submitted.size(); ++i) {
      if (engine_->submitted[i].kind == Kind::kAddParticipant) {
        pin_participant_ = engine_->submitted[i].participant;
        break;
      }
    }
    ASSERT_TRUE(mixed_muted(pin_participant_).value_or(false));
  }
  mixer::ParticipantId pin_participant_ = 0;

  // Whether the mixer was last told to mute `participant`.
  std::optional<bool> mixed_muted(mixer::ParticipantId participant) const {
    std::optional<bool> muted;
    for (const auto& s : engine_->submitted) {
      if (s.participant != participant) continue;
      if (s.kind == Kind::kAddParticipant || s.kind == Kind::kUpdateParticipant ||
          s.kind == Kind::kMoveParticipant) {
        muted = s.settings.muted;
      }
    }
    return muted;
  }

  // The settings updates sent for `participant`, oldest first.
  std::vector<focus::testing::FakeMediaEngine::Submitted> updates(
      mixer::ParticipantId participant) const {
    std::vector<focus::testing::FakeMediaEngine::Submitted> out;
    for (const auto& s : engine_->submitted) {
      if (s.kind == Kind::kUpdateParticipant && s.participant == participant) out.push_back(s);
    }
    return out;
  }
  const focus::testing::FakeMediaEngine::Submitted* last_move() const {
    const focus::testing::FakeMediaEngine::Submitted* found = nullptr;
    for (const auto& s : engine_->submitted) {
      if (s.kind == Kind::kMoveParticipant) found = &s;
    }
    return found;
  }

  // A REFER from `from` (as "mover") moving `target` into "locked", with
  // `pin` in its Request-URI. The final response.
  std::optional<Message> refer_into_locked(Caller& from, const Caller& target,
                                           std::string_view pin) {
    std::string params = ";pin=";
    params += pin;
    return refer(from, "locked", "<urn:sip-action:conference:add>", target, "mover", false, params);
  }

  // Ten wrong PINs (1000 to 1009) from `from` by REFER moving `target` into
  // "locked": each refused with a 403, whose reason phrase is `phrase`
  // where one is given.
  void ten_wrong_pins_by_refer(Caller& from, const Caller& target, std::string_view phrase = {}) {
    for (int i = 0; i < 10; ++i) {
      const std::optional<Message> wrong =
          refer_into_locked(from, target, std::to_string(1000 + i));
      ASSERT_TRUE(wrong.has_value());
      ASSERT_EQ(wrong->status(), 403) << wrong->serialize();
      if (!phrase.empty()) {
        EXPECT_EQ(wrong->reason_phrase(), phrase);
      }
    }
  }

  // `op` moves `member` to "rb" by REFER while the media side holds every
  // completion: the 202 (in `moved`) and the first NOTIFY, 100 Trying.
  void held_move(Caller& op, const Caller& member, std::optional<Message>& moved) {
    engine_->auto_complete = false;
    moved = refer(op, "rb", "<urn:sip-action:conference:add>", member, "op");
    ASSERT_TRUE(moved.has_value());
    ASSERT_EQ(moved->status(), 202) << moved->serialize();
    run_until([&] { return !notifies(op.call_id).empty(); });
    ASSERT_EQ(notifies(op.call_id).size(), 1u);
    EXPECT_EQ(sipfrag(*notifies(op.call_id)[0]), "SIP/2.0 100 Trying");
  }

  focus::testing::FakeMediaEngine* engine_ = nullptr;
  uint32_t refer_expires_ = 300;
};

// Defect 1: a caller still entering room B's PIN is not "inside B": its
// in-dialog REFER moving someone into B obeys B's PIN like any mover's.
TEST_F(CallControlHardeningTest, AMoveFromACallerEnteringThePinObeysThePin) {
  Caller a(400, "alice"), b(700, "bob"), p(1100, "pat");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_NO_FATAL_FAILURE(enters_pin(p));
  const std::optional<Message> moved =
      refer(p, "locked", "<urn:sip-action:conference:add>", a, "mover");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->status(), 403) << moved->serialize();
  EXPECT_EQ(moved->reason_phrase(), "PIN Required");
  EXPECT_EQ(moved->call_id(), p.call_id);
  settle();
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_EQ(server_->room_calls("locked"), 1u);
  EXPECT_TRUE(notifies(p.call_id).empty());
  // A moderator's account passes the PIN from there as from anywhere.
  const std::optional<Message> moderated =
      refer(p, "locked", "<urn:sip-action:conference:add>", a, "op");
  ASSERT_TRUE(moderated.has_value());
  EXPECT_EQ(moderated->status(), 202) << moderated->serialize();
  settle();
  EXPECT_TRUE(member("locked", a).has_value());
}

// Defect 1: a caller waiting in the lobby (its dialog early) moves nobody
// into the lobby past the waiting room.
TEST_F(CallControlHardeningTest, AMoveFromAWaitingCallerDoesNotPassTheWaitingRoom) {
  Caller a(400, "alice"), b(700, "bob"), w(1100, "walt");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  Pending pending;
  call_in(w, "lobby", pending);
  settle();
  ASSERT_TRUE(member("lobby", w).value_or(MemberState{}).waiting);
  const std::optional<Message> moved =
      refer(w, "lobby", "<urn:sip-action:conference:add>", a, "mover");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->status(), 403) << moved->serialize();
  settle();
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_FALSE(member("lobby", a).has_value());
  EXPECT_TRUE(notifies(w.call_id).empty());
}

// Defect 1: the dialog of a REFER subscription (no call: its room comes from
// the Request-URI) is not "inside B" either.
TEST_F(CallControlHardeningTest, AMoveFromAReferSubscriptionDialogObeysThePin) {
  Caller a(400, "alice"), b(700, "bob"), d(1300, "dialer");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ring_only_ = {"dan"};
  Message dial = request(d, Method::kRefer, "locked");
  const std::optional<Message> dialing = exchange_auth(
      d, std::move(dial),
      {{"Refer-To", "<" + client_.contact_uri("dan", sip::TransportKind::kUdp) + ">"}}, "dialer",
      "0pw");
  ASSERT_TRUE(dialing.has_value());
  ASSERT_EQ(dialing->status(), 202) << dialing->serialize();
  ASSERT_FALSE(dialing->contacts().empty());
  d.to_tag = std::string(dialing->to().tag());
  d.remote_target = dialing->contacts().front().uri_text;
  run_until([&] { return ringing_.contains("dan"); });
  const std::optional<Message> moved =
      refer(d, "locked", "<urn:sip-action:conference:add>", a, "dialer");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->status(), 403) << moved->serialize();
  EXPECT_EQ(moved->reason_phrase(), "PIN Required");
  settle();
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_FALSE(member("locked", a).has_value());
}

// Defect 2: a caller entering its PIN cannot unmute itself (or add itself
// to the conversation) by an action REFER in its own dialog; nor can the
// admin interface unmute it.
TEST_F(CallControlHardeningTest, ACallerEnteringThePinCannotUnmuteItself) {
  Caller p(1100, "pat");
  ASSERT_NO_FATAL_FAILURE(enters_pin(p));
  const uint64_t id = 1;  // the server's first member (not published while it enters the PIN)
  for (std::string_view action :
       {"<urn:sip-action:call:unmute>", "<urn:sip-action:conference:add>"}) {
    SCOPED_TRACE(action);
    const std::optional<Message> answer = refer(p, "locked", action, p, "", /*member_view=*/true);
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status(), 403) << answer->serialize();
    EXPECT_NE(answer->reason_phrase().find("PIN"), std::string_view::npos)
        << answer->reason_phrase();
    settle();
    EXPECT_TRUE(notifies(p.call_id).empty());
    EXPECT_TRUE(mixed_muted(pin_participant_).value_or(false));
  }
  const ControlResult unmuted = server_->set_muted("locked", id, false);
  EXPECT_EQ(unmuted.status, 409) << unmuted.message;
  settle();
  // The mixer was never told to mix it.
  EXPECT_TRUE(mixed_muted(pin_participant_).value_or(false));
  for (const auto& s : engine_->submitted) {
    if (s.kind == Kind::kUpdateParticipant) {
      EXPECT_TRUE(s.settings.muted);
    }
  }
}

// More digits than any PIN has, without '#', count as a wrong PIN: keying
// digits forever is no way around the three tries.
TEST_F(CallControlHardeningTest, DigitsPastTheLongestPinCountAsAWrongPin) {
  Caller p(1100, "pat");
  ASSERT_NO_FATAL_FAILURE(enters_pin(p));
  for (int attempt = 1; attempt <= 3; ++attempt) {
    SCOPED_TRACE(attempt);
    for (int i = 0; i < 33; ++i) {
      engine_->notify(mixer::Event::Kind::kDtmf, pin_participant_, '1');
    }
    settle();
    EXPECT_EQ(server_->room_calls("locked"), attempt < 3 ? 1u : 0u);
  }
  run_until([&] { return received(Method::kBye, p.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, p.call_id), 1u);
}

// A member REFERring actions at its own call again and again: each ended
// REFER subscription leaves the call's dialog (before, every REFER left one
// behind for the call's lifetime, each scanned every second), and no more
// than kMaxReferralsPerDialog run at once.
TEST_F(CallControlHardeningTest, AMembersOwnReferralsLeaveNothingBehindInItsDialog) {
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  const sip::DialogId call{a.call_id, a.to_tag, a.from_tag};
  ASSERT_EQ(server_->dialog_usage_count(call), 1u);  // the INVITE session
  for (int i = 0; i < 20; ++i) {
    const std::optional<Message> answer =
        refer(a, "ra", "<urn:sip-action:call:mute>", a, "", /*member_view=*/true);
    ASSERT_TRUE(answer.has_value()) << i;
    ASSERT_EQ(answer->status(), 202) << answer->serialize();
    settle(20ms);
  }
  settle();
  EXPECT_GE(notifies(a.call_id).size(), 20u);
  EXPECT_LE(server_->dialog_usage_count(call), 2u);  // the session, the last REFER's at most
  EXPECT_EQ(server_->call_count(), 2u);
}

// One REFER dialog runs at most kMaxReferralsPerDialog referrals at once:
// moves the media side has not finished keep theirs; one more is 503.
TEST_F(CallControlHardeningTest, OneDialogRunsAtMostEightReferralsAtOnce) {
  Caller a(400, "alice"), b(700, "bob"), op(1900, "op");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  std::vector<std::unique_ptr<Caller>> more;
  for (int i = 0; i < 8; ++i) {
    more.push_back(std::make_unique<Caller>(1000 + 50 * i, "m" + std::to_string(i)));
    ASSERT_EQ(invite(*more.back(), "sendrecv", "ra"), 200);
  }
  settle();
  std::optional<Message> moved;
  ASSERT_NO_FATAL_FAILURE(held_move(op, a, moved));
  ASSERT_FALSE(moved->contacts().empty());
  op.to_tag = std::string(moved->to().tag());  // the REFER's dialog from here on
  op.remote_target = moved->contacts().front().uri_text;
  for (size_t i = 0; i < more.size(); ++i) {
    SCOPED_TRACE(i);
    moved = refer(op, "rb", "<urn:sip-action:conference:add>", *more[i], "op");
    ASSERT_TRUE(moved.has_value());
    if (i < 7) {
      EXPECT_EQ(moved->status(), 202) << moved->serialize();
    } else {
      EXPECT_EQ(moved->status(), 503) << moved->serialize();
      EXPECT_EQ(moved->reason_phrase(), "Too Many Referrals In This Dialog");
      EXPECT_TRUE(moved->header("Retry-After").has_value());
      EXPECT_EQ(std::string(moved->to().tag()), op.to_tag);
    }
  }
  engine_->complete_all();
  engine_->auto_complete = true;
  settle(200ms);
  EXPECT_TRUE(member("rb", *more[6]).has_value());
  EXPECT_FALSE(member("rb", *more[7]).has_value());
}

// Defect 2 (the same hole by Replaces): a call replacing one still entering
// its PIN enters it too; it neither hears nor is heard meanwhile.
TEST_F(CallControlHardeningTest, ReplacingACallEnteringThePinStillNeedsThePin) {
  Caller p(1100, "pat"), again(1100, "pat");
  ASSERT_NO_FATAL_FAILURE(enters_pin(p));
  const size_t submitted = engine_->submitted.size();
  ASSERT_EQ(invite_to(again, "sendrecv", "locked", {}, {{"Replaces", dialog_ref(p)}}), 200);
  settle();
  run_until([&] { return received(Method::kBye, p.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, p.call_id), 1u);
  EXPECT_EQ(server_->room_calls("locked"), 1u);
  EXPECT_FALSE(member("locked", again).has_value());  // off the package until the PIN
  mixer::ParticipantId added = 0;
  for (size_t i = submitted; i < engine_->submitted.size(); ++i) {
    const auto& s = engine_->submitted[i];
    if (s.kind == Kind::kAddParticipant) {
      added = s.participant;
      EXPECT_TRUE(s.settings.muted);
      EXPECT_TRUE(s.settings.deaf);
    }
  }
  ASSERT_NE(added, 0u);
  EXPECT_EQ(server_->set_muted("locked", 1, false).status, 409);
}

// Defect 3: the member hangs up between the 202 to a move REFER and the
// shard's completion: the referrer still gets its final NOTIFY, and the
// REFER's dialog is gone with its subscription.
TEST_F(CallControlHardeningTest, AMemberLeavingDuringItsMoveEndsTheReferSubscription) {
  Caller a(400, "alice"), b(700, "bob"), op(1900, "op");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  const size_t dialogs = server_->gauges().dialogs;
  ASSERT_EQ(dialogs, 2u);
  std::optional<Message> moved;
  ASSERT_NO_FATAL_FAILURE(held_move(op, a, moved));
  EXPECT_EQ(bye(a, "ra"), 200);
  engine_->complete_all();
  engine_->auto_complete = true;
  run_until([&] { return notifies(op.call_id).size() >= 2; });
  settle();
  const std::vector<const Message*> sent = notifies(op.call_id);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sipfrag(*sent[1]), "SIP/2.0 487 Request Terminated");
  EXPECT_EQ(subscription_state(*sent[1]), "terminated;reason=noresource");
  EXPECT_EQ(sent[1]->to().tag(), op.from_tag);
  EXPECT_EQ(sent[1]->from().tag(), moved->to().tag());
  EXPECT_EQ(server_->gauges().dialogs, 1u);  // Bob's call only
  EXPECT_FALSE(server_->room_state("rb").has_value());
}

// Defect 4: moves on their way into "duo" count against its limit, for a
// second move, a split and a dial-in alike; a moderator still passes.
TEST_F(CallControlHardeningTest, MovesInFlightCountAgainstTheTargetsLimit) {
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol"), d(1300, "dave"), m(1900, "mover");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_EQ(invite(c, "sendrecv", "duo"), 200);
  settle();
  engine_->auto_complete = false;
  const std::optional<Message> first =
      refer(m, "duo", "<urn:sip-action:conference:add>", a, "mover");
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->status(), 202) << first->serialize();
  Caller m2(1900, "mover");
  const std::optional<Message> second =
      refer(m2, "duo", "<urn:sip-action:conference:add>", b, "mover");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status(), 486) << second->serialize();
  EXPECT_EQ(second->reason_phrase(), "Conference Full");
  const ControlResult split =
      server_->split_room("ra", "duo", {id_of("ra", b)}, std::nullopt, "mover", nullptr);
  EXPECT_EQ(split.status, 409) << split.message;
  EXPECT_EQ(invite(d, "sendrecv", "duo"), 486);
  EXPECT_EQ(server_->move_member("ra", id_of("ra", b), "duo", std::nullopt, "mover").status, 409);
  engine_->complete_all();
  engine_->auto_complete = true;
  settle();
  EXPECT_EQ(server_->room_calls("duo"), 2u);
  EXPECT_EQ(server_->room_calls("ra"), 1u);
  // The moderator's move is not limited.
  EXPECT_EQ(server_->move_member("ra", id_of("ra", b), "duo", std::nullopt, "op").status, 202);
  settle();
  EXPECT_EQ(server_->room_calls("duo"), 3u);
}

// A PIN given to the admin API's move (or a split) is a guess like one in
// an INVITE: counted per (account, room), locked after auth_failures (10)
// wrong ones, after which even the right PIN is refused; another account is
// not locked out. A split asking for several members is one guess.
TEST_F(CallControlHardeningTest, MovePinGuessesThroughTheAdminApiAreCountedAndLockedOut) {
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  const uint64_t ida = id_of("ra", a), idb = id_of("ra", b);
  for (int i = 0; i < 10; ++i) {
    const ControlResult wrong =
        server_->move_member("ra", ida, "locked", std::to_string(1000 + i), "dialer");
    ASSERT_EQ(wrong.status, 403) << wrong.message;
    EXPECT_EQ(wrong.message, "wrong PIN");
  }
  // Locked: the right PIN from that account is refused like a wrong one.
  EXPECT_EQ(server_->move_member("ra", ida, "locked", std::string("1234"), "dialer").status, 403);
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_EQ(server_->room_calls("locked"), 0u);
  // "mover": eight wrong guesses, then a wrong split of two members (the
  // ninth guess, not the ninth and tenth), so the right PIN still moves.
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(server_->move_member("ra", ida, "locked", std::to_string(2000 + i), "mover").status,
              403);
  }
  EXPECT_EQ(
      server_->split_room("ra", "locked", {ida, idb}, std::string("2010"), "mover", nullptr).status,
      403);
  EXPECT_EQ(server_->move_member("ra", ida, "locked", std::string("1234"), "mover").status, 202);
  settle();
  EXPECT_TRUE(member("locked", a).has_value());
}

// The same fixture with no source exempt from the per-source limits: the
// test's loopback address counts as a caller on the internet would.
class CallControlCountedTest : public CallControlHardeningTest {
 protected:
  void more_options(Options& options) override { options.limits.exempt.clear(); }
};

// A PIN in a move REFER's Request-URI is a guess counted per source (the
// REFER path's twin of the admin test above): ten wrong ones lock the
// source for that room, and then even the right PIN is answered as wrong.
TEST_F(CallControlCountedTest, MovePinGuessesByReferAreCountedPerSourceAndLockedOut) {
  Caller a(400, "alice"), b(700, "bob"), m(1900, "mover");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_NO_FATAL_FAILURE(ten_wrong_pins_by_refer(m, a, "Wrong PIN"));
  const std::optional<Message> locked = refer_into_locked(m, a, "1234");
  ASSERT_TRUE(locked.has_value());
  EXPECT_EQ(locked->status(), 403) << locked->serialize();
  EXPECT_EQ(locked->reason_phrase(), "Wrong PIN");
  settle();
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_EQ(server_->room_calls("locked"), 0u);
}

// An exempt source (the default fixture's loopback: a gateway the operator
// listed in limits.exempt) is not counted: the right PIN after ten wrong
// ones still moves the member.
TEST_F(CallControlHardeningTest, MovePinGuessesByReferFromAnExemptSourceAreNotCounted) {
  Caller a(400, "alice"), b(700, "bob"), m(1900, "mover");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_NO_FATAL_FAILURE(ten_wrong_pins_by_refer(m, a));
  const std::optional<Message> moved = refer_into_locked(m, a, "1234");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->status(), 202) << moved->serialize();
  settle();
  EXPECT_TRUE(member("locked", a).has_value());
}

// Defect 5: a waiting room lets nobody straight in: a mover without
// `moderate` is refused (REFER and admin alike); a moderator passes.
TEST_F(CallControlHardeningTest, AMoveIntoAWaitingRoomNeedsAModerator) {
  Caller a(400, "alice"), b(700, "bob"), m(1900, "mover"), op(1900, "op");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  const std::optional<Message> moved =
      refer(m, "lobby", "<urn:sip-action:conference:add>", a, "mover");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->status(), 403) << moved->serialize();
  EXPECT_NE(moved->reason_phrase().find("Waiting Room"), std::string_view::npos)
      << moved->reason_phrase();
  settle();
  EXPECT_TRUE(notifies(m.call_id).empty());
  EXPECT_EQ(server_->move_member("ra", id_of("ra", a), "lobby", std::nullopt, "mover").status, 403);
  EXPECT_TRUE(member("ra", a).has_value());
  EXPECT_EQ(server_->room_calls("lobby"), 0u);
  const std::optional<Message> moderated =
      refer(op, "lobby", "<urn:sip-action:conference:add>", a, "op");
  ASSERT_TRUE(moderated.has_value());
  EXPECT_EQ(moderated->status(), 202) << moderated->serialize();
  settle();
  const std::optional<MemberState> state = member("lobby", a);
  ASSERT_TRUE(state.has_value());
  EXPECT_FALSE(state->waiting);
}

// Defect 6: a room name with a control character (here the separator of
// the event service's sidebar keys, "sales\x1f1" being sidebar 1 of
// "sales") is refused wherever it comes from the network.
TEST_F(CallControlHardeningTest, RoomNamesWithControlCharactersAreRefused) {
  Caller s(700, "sam"), d(1300, "dialer");
  for (std::string_view room : {"sales%1F1", "sales%7F", "sales%0D%0A"}) {
    SCOPED_TRACE(room);
    Caller caller(400, "xavier");
    Message m = request(caller, Method::kInvite, room);
    m.set_body("application/sdp", caller.sdp("sendrecv"));
    const std::optional<Message> answer = exchange(std::move(m));
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status(), 400) << answer->serialize();
    EXPECT_EQ(answer->reason_phrase(), "Bad Room Name: control character");
  }
  EXPECT_EQ(server_->gauges().rooms, 0u);
  EXPECT_EQ(server_->gauges().dialogs, 0u);
  const std::optional<Message> subscribed = subscribe_conference(s, "sales%1F1");
  ASSERT_TRUE(subscribed.has_value());
  EXPECT_EQ(subscribed->status(), 400) << subscribed->serialize();
  EXPECT_EQ(subscribed->reason_phrase(), "Bad Room Name: control character");
  Message dial = request(d, Method::kRefer, "sales%1F1");
  const std::optional<Message> dialing = exchange_auth(
      d, std::move(dial),
      {{"Refer-To", "<" + client_.contact_uri("dan", sip::TransportKind::kUdp) + ">"}}, "dialer",
      "0pw");
  ASSERT_TRUE(dialing.has_value());
  EXPECT_EQ(dialing->status(), 400) << dialing->serialize();
  EXPECT_EQ(received(Method::kInvite), 0u);
  EXPECT_EQ(server_->dial_out(std::string("sales\x1f") + "1", "sip:dan@127.0.0.1", "").status, 400);
  settle();
  EXPECT_EQ(server_->gauges().rooms, 0u);
  EXPECT_EQ(server_->gauges().dialing, 0u);
}

// Defect 7: while a move is under way the member's settings go to room B's
// mixer without room A's sidebar, and are applied again once it is there.
TEST_F(CallControlHardeningTest, SettingsDuringAMoveCarryNoSidebarOfTheRoomLeft) {
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  const uint64_t ida = id_of("ra", a);
  uint32_t sidebar = 0;
  SidebarSpec spec;
  spec.name = "side";
  spec.members = {ida, id_of("ra", b)};
  ASSERT_EQ(server_->create_sidebar("ra", spec, &sidebar).status / 100, 2);
  ASSERT_NE(sidebar, 0u);
  settle();
  engine_->auto_complete = false;
  ASSERT_EQ(server_->move_member("ra", ida, "rb", std::nullopt, "").status, 202);
  const auto* move = last_move();
  ASSERT_NE(move, nullptr);
  const mixer::ParticipantId participant = move->participant;
  const mixer::ConferenceId target = move->target;
  EXPECT_EQ(move->settings.sidebar, 0u);
  ASSERT_EQ(server_->set_muted("ra", ida, true).status, 200);
  ASSERT_FALSE(updates(participant).empty());
  EXPECT_EQ(updates(participant).back().conference, target);
  EXPECT_EQ(updates(participant).back().settings.sidebar, 0u);
  const size_t before = updates(participant).size();
  engine_->complete_all();
  engine_->auto_complete = true;
  settle();
  ASSERT_TRUE(member("rb", a).has_value());
  ASSERT_GT(updates(participant).size(), before);
  const auto after = updates(participant).back();
  EXPECT_EQ(after.conference, target);
  EXPECT_EQ(after.settings.sidebar, 0u);
  EXPECT_TRUE(after.settings.muted);
}

// A referral whose outcome never comes (here: the media side never answers
// the move) does not keep its subscription and out-of-dialog dialog for
// good: at the subscription's expiry the referrer gets the final NOTIFY
// (RFC 6665 §4.2.2 "timeout") and the dialog goes. An outcome arriving
// later finds nothing to notify.
class ReferExpiryTest : public CallControlHardeningTest {
 protected:
  ReferExpiryTest() { refer_expires_ = 1; }
};

TEST_F(ReferExpiryTest, AReferralWithoutAnOutcomeEndsAtItsExpiryWithItsDialog) {
  Caller a(400, "alice"), b(700, "bob"), op(1900, "op");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b));
  ASSERT_EQ(server_->gauges().dialogs, 2u);
  std::optional<Message> moved;
  ASSERT_NO_FATAL_FAILURE(held_move(op, a, moved));
  EXPECT_EQ(subscription_state(*notifies(op.call_id)[0]).substr(0, 6), "active");
  EXPECT_EQ(server_->gauges().dialogs, 3u);
  run_until([&] { return notifies(op.call_id).size() >= 2; }, 4000ms);
  std::vector<const Message*> sent = notifies(op.call_id);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(subscription_state(*sent[1]), "terminated;reason=timeout");
  EXPECT_EQ(sipfrag(*sent[1]), "SIP/2.0 100 Trying");
  EXPECT_EQ(server_->gauges().dialogs, 2u);
  EXPECT_EQ(server_->gauges().referrals_expired, 1u);
  // The move's outcome at last: Alice moves, nobody is notified again.
  engine_->complete_all();
  engine_->auto_complete = true;
  settle(200ms);
  EXPECT_TRUE(member("rb", a).has_value());
  EXPECT_EQ(notifies(op.call_id).size(), 2u);
  EXPECT_EQ(server_->gauges().dialogs, 2u);
}

}  // namespace
}  // namespace chorus::focus::e2e

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
