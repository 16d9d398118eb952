// The action-referral draft on the wire, one test per action: a REFER to the
// conference URI with Refer-To <urn:sip-action:NAME> and a Target-Dialog
// (RFC 4538) naming a member's dialog is answered 202 Accepted, and the
// REFER's implicit subscription (RFC 3515 §2.4.4-§2.4.6) reports "100
// Trying" and then the outcome, in the REFER's dialog, to the referrer's
// Contact. The effect is checked on the target: the audio (Goertzel), the
// SIP the member gets (BYE, REFER, the waiting INVITE's final response) and
// the conference state.

#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

// Ports 53500-53999 shared out, one slice per test (ctest runs the tests of
// this file in parallel); one media shard, so a slice is one shard's.
constexpr uint16_t kFirstPort = 53500;
constexpr uint16_t kPortsPerTest = 38;

constexpr std::string_view kVoicemail = "sip:vm@127.0.0.1:5999";

class ActionReferralE2eTest : public FocusE2e {
 protected:
  // Room "lobby" is a waiting room; any other room name is ad hoc. The
  // moderator "op" holds both rights the actions need.
  void start(int slot, std::string_view voicemail = {}) {
    const auto first = static_cast<uint16_t>(kFirstPort + slot * kPortsPerTest);
    start_server(first, static_cast<uint16_t>(first + kPortsPerTest - 1), 30s,
                 [&](Options& options) {
                   options.media_shards = 1;
                   options.voicemail_uri = std::string(voicemail);
                   RoomPolicy lobby;
                   lobby.name = "lobby";
                   lobby.waiting_room = true;
                   // A move target with a PIN and room for two.
                   RoomPolicy locked;
                   locked.name = "locked";
                   locked.pin = "1234";
                   locked.max_members = 2;
                   options.rooms = {lobby, locked};
                   options.waiting_provisional_interval = 300ms;
                   options.accounts = {{"op", "0pw", {"moderate", "remove", "move"}},
                                       {"mover", "0pw", {"move"}}};
                 });
  }

  // One action REFER as it went out, and its final answer.
  struct Referral {
    std::string call_id;   // the REFER's, and so its subscription's dialog's
    std::string from_tag;  // the referrer's tag in that dialog
    std::string contact;   // the referrer's Contact: the NOTIFYs' target
    uint32_t cseq = 0;     // the subscription's id (RFC 3515 §2.4.6)
    std::optional<Message> answer;
  };

  // REFER from the moderator, out of dialog, to `room`: Refer-To `refer_to`,
  // Target-Dialog naming `target` (as the focus sees the dialog, or as the
  // member does), `extra` headers, the digest dance. The Contact's user is
  // not the From's, so the NOTIFYs' Request-URI shows which one they follow.
  Referral act(std::string_view room, std::string_view refer_to, const Caller& target,
               const Headers& extra = {}, bool member_view = false, std::string_view account = "op",
               std::string_view uri_params = {}) {
    Caller op(1900, std::string(account));
    Referral out;
    out.contact =
        client_.contact_uri("op-desk-" + std::to_string(++referrals_), sip::TransportKind::kUdp);
    Message refer = request(op, Method::kRefer, room);
    if (!uri_params.empty()) {
      refer.set_request_uri("sip:" + std::string(room) +
                            "@127.0.0.1:" + std::to_string(focus_.port) + std::string(uri_params));
    }
    refer.set_header("Contact", "<" + out.contact + ">");
    Headers headers{{"Refer-To", std::string(refer_to)},
                    {"Target-Dialog", target_dialog(target, member_view)}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    out.answer = exchange_auth(op, std::move(refer), headers, std::string(account), "0pw");
    out.call_id = op.call_id;
    out.from_tag = op.from_tag;
    out.cseq = op.cseq;  // the REFER that carried the credentials
    return out;
  }

  static std::string sipfrag(const Message& notify) {
    return std::string(notify.body().substr(0, notify.body().find('\r')));
  }
  static std::string subscription_state(const Message& notify) {
    return std::string(notify.header("Subscription-State").value_or(""));
  }

  // The draft: 202 (never 200), then exactly two NOTIFYs in the dialog the
  // 202 made, to the referrer's Contact: "100 Trying" with the subscription
  // active, then `outcome` ending it (RFC 3515 §2.4.7: noresource).
  void expect_accepted(const Referral& referral, std::string_view outcome) {
    ASSERT_TRUE(referral.answer.has_value());
    ASSERT_EQ(referral.answer->status(), 202) << referral.answer->serialize();
    EXPECT_EQ(referral.answer->reason_phrase(), "Accepted");
    EXPECT_EQ(referral.answer->call_id(), referral.call_id);
    const std::string focus_tag(referral.answer->to().tag());
    EXPECT_FALSE(focus_tag.empty());                    // a dialog for the subscription
    EXPECT_FALSE(referral.answer->contacts().empty());  // and the focus's end of it
    run_until([&] {
      const auto sent = notifies(referral.call_id);
      return !sent.empty() && subscription_state(*sent.back()).starts_with("terminated");
    });
    run_until([] { return false; }, 150ms);  // nothing follows the final NOTIFY
    const std::vector<const Message*> sent = notifies(referral.call_id);
    ASSERT_EQ(sent.size(), 2u);
    for (const Message* notify : sent) {
      SCOPED_TRACE(notify->serialize());
      EXPECT_EQ(notify->request_uri_text(), referral.contact);
      EXPECT_EQ(notify->from().tag(), focus_tag);
      EXPECT_EQ(notify->to().tag(), referral.from_tag);
      EXPECT_EQ(notify->header("Event").value_or(""), "refer;id=" + std::to_string(referral.cseq));
      EXPECT_EQ(notify->header("Content-Type").value_or(""), "message/sipfrag;version=2.0");
    }
    EXPECT_EQ(sipfrag(*sent[0]), "SIP/2.0 100 Trying");
    EXPECT_TRUE(subscription_state(*sent[0]).starts_with("active;expires="))
        << subscription_state(*sent[0]);
    EXPECT_EQ(sipfrag(*sent[1]), outcome);
    EXPECT_EQ(subscription_state(*sent[1]), "terminated;reason=noresource");
    EXPECT_LT(sent[0]->cseq().number, sent[1]->cseq().number);
  }

  // Refused outright: `status`, and no subscription (no NOTIFY at all).
  void expect_refused(const Referral& referral, int status) {
    ASSERT_TRUE(referral.answer.has_value());
    EXPECT_EQ(referral.answer->status(), status) << referral.answer->serialize();
    run_until([] { return false; }, 200ms);
    EXPECT_TRUE(notifies(referral.call_id).empty());
  }

  // The focus hung `member` up: one BYE in its dialog, to its Contact.
  void expect_bye(const Caller& member) {
    run_until([&] { return received(Method::kBye, member.call_id) > 0; });
    ASSERT_EQ(received(Method::kBye, member.call_id), 1u);
    const Message* bye = last_received(Method::kBye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->call_id(), member.call_id);
    EXPECT_EQ(bye->request_uri_text(),
              client_.contact_uri(member.name(), sip::TransportKind::kUdp));
    EXPECT_EQ(bye->from().tag(), member.to_tag);  // the focus's side of the dialog
    EXPECT_EQ(bye->to().tag(), member.from_tag);
  }

  // Alice (400 Hz) and Bob (700 Hz) in `room`, hearing each other. The
  // callers' RTP timestamps stand still while they do not talk, which the
  // focus's jitter buffer takes for late packets after a pause of half a
  // second or more; so the tests talk right after the REFER and read the
  // NOTIFYs afterwards.
  void two_members(Caller& a, Caller& b, std::string_view room) {
    ASSERT_EQ(invite(a, "sendrecv", room), 200);
    ASSERT_EQ(invite(b, "sendrecv", room), 200);
    talk({&a, &b}, 40, 20);
    ASSERT_GT(b.heard(400), kHeard);
    ASSERT_GT(a.heard(700), kHeard);
  }

  // A caller waiting in the lobby, its early media flowing.
  void waits(Caller& caller, Pending& pending) {
    call_in(caller, "lobby", pending);
    run_until([&] { return caller.mixer_port != 0; });
    ASSERT_NE(caller.mixer_port, 0) << "no 183 with SDP";
    const std::optional<MemberState> state = member("lobby", caller);
    ASSERT_TRUE(state.has_value());
    ASSERT_TRUE(state->waiting);
  }

  int referrals_ = 0;
};

// call:mute, with a URN parameter and Require: action-ref: the room stops
// hearing Alice, she still hears the room, the state says muted.
TEST_F(ActionReferralE2eTest, MuteTakesTheMemberOutOfTheMix) {
  start(0);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "mute"));
  const Referral muted = act("mute", "<urn:sip-action:call:mute;foo=bar>", a,
                             {{"Require", "action-ref"}}, /*member_view=*/true);
  talk({&a, &b}, 60, 30);
  expect_accepted(muted, "SIP/2.0 200 OK");
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_GT(a.heard(700), kHeard);
  const std::optional<MemberState> alice = member("mute", a);
  ASSERT_TRUE(alice.has_value());
  EXPECT_TRUE(alice->muted);
  EXPECT_EQ(alice->status, "muted-via-focus");  // RFC 4575 §5.6.4
  EXPECT_FALSE(member("mute", b)->muted);
  EXPECT_EQ(received(Method::kBye), 0u);
}

// call:unmute: Alice, muted by the focus, is heard again.
TEST_F(ActionReferralE2eTest, UnmutePutsTheMemberBackInTheMix) {
  start(1);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "unmute"));
  ASSERT_EQ(server_->set_muted("unmute", id_of("unmute", a), true).status, 200);
  talk({&a, &b}, 40, 20);
  ASSERT_LT(b.heard(400), kSilent);
  const Referral unmuted =
      act("unmute", "<urn:sip-action:call:unmute>", a, {{"Require", "action-ref"}});
  talk({&a, &b}, 60, 30);
  expect_accepted(unmuted, "SIP/2.0 200 OK");
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_FALSE(member("unmute", a)->muted);
  EXPECT_EQ(member("unmute", a)->status, "connected");
}

// call:hold: the focus's hold is in the mix only (no re-INVITE): Alice hears
// music instead of the room, and the room does not hear her.
TEST_F(ActionReferralE2eTest, HoldPlaysMusicToTheMemberWithoutAReinvite) {
  start(2);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "hold"));
  const Referral held = act("hold", "<urn:sip-action:call:hold>", a, {}, /*member_view=*/true);
  talk({&a, &b}, 60, 30);
  expect_accepted(held, "SIP/2.0 200 OK");
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_LT(a.heard(700), kSilent);
  EXPECT_GT(a.level(), kSilent);  // music on hold, not silence
  const std::optional<MemberState> alice = member("hold", a);
  ASSERT_TRUE(alice.has_value());
  EXPECT_TRUE(alice->on_hold);
  EXPECT_FALSE(alice->muted);
  EXPECT_EQ(alice->status, "on-hold");
  EXPECT_EQ(received(Method::kInvite, a.call_id), 0u);
}

// call:unhold: Alice, held by the focus, is back in the conversation.
TEST_F(ActionReferralE2eTest, UnholdBringsTheMemberBackFromMusic) {
  start(3);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "unhold"));
  ASSERT_EQ(server_->set_hold("unhold", id_of("unhold", a), true).status, 200);
  talk({&a, &b}, 40, 20);
  ASSERT_LT(a.heard(700), kSilent);
  const Referral resumed = act("unhold", "<urn:sip-action:call:unhold;by=op>", a);
  talk({&a, &b}, 60, 30);
  expect_accepted(resumed, "SIP/2.0 200 OK");
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_FALSE(member("unhold", a)->on_hold);
  EXPECT_EQ(member("unhold", a)->status, "connected");
  EXPECT_EQ(received(Method::kInvite, a.call_id), 0u);
}

// call:terminate: the focus sends Alice a BYE; her dialog is gone, so the
// same action again finds nothing (481).
TEST_F(ActionReferralE2eTest, TerminateHangsTheMemberUp) {
  start(4);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "term"));
  const Referral ended = act("term", "<urn:sip-action:call:terminate>", a,
                             {{"Require", "action-ref"}}, /*member_view=*/true);
  expect_accepted(ended, "SIP/2.0 200 OK");
  expect_bye(a);
  EXPECT_EQ(server_->room_calls("term"), 1u);
  EXPECT_FALSE(member("term", a).has_value());
  EXPECT_EQ(received(Method::kBye, b.call_id), 0u);
  expect_refused(act("term", "<urn:sip-action:call:terminate>", a), 481);
}

// conference:remove: the same BYE, on Bob.
TEST_F(ActionReferralE2eTest, ConferenceRemoveHangsTheMemberUp) {
  start(5);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "rm"));
  const Referral removed = act("rm", "<urn:sip-action:conference:remove;why=test>", b);
  expect_accepted(removed, "SIP/2.0 200 OK");
  expect_bye(b);
  EXPECT_EQ(server_->room_calls("rm"), 1u);
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);
}

// conference:add: Alice, held and muted by the focus, is a full participant
// again: off hold, unmuted, heard and hearing.
TEST_F(ActionReferralE2eTest, ConferenceAddBringsAHeldMutedMemberBackIntoTheMix) {
  start(6);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "add"));
  const uint64_t alice = id_of("add", a);
  ASSERT_EQ(server_->set_muted("add", alice, true).status, 200);
  ASSERT_EQ(server_->set_hold("add", alice, true).status, 200);
  talk({&a, &b}, 40, 20);
  ASSERT_LT(b.heard(400), kSilent);
  ASSERT_LT(a.heard(700), kSilent);
  const Referral added =
      act("add", "<urn:sip-action:conference:add>", a, {{"Require", "action-ref"}});
  talk({&a, &b}, 60, 30);
  expect_accepted(added, "SIP/2.0 200 OK");
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_GT(a.heard(700), kHeard);
  const std::optional<MemberState> state = member("add", a);
  ASSERT_TRUE(state.has_value());
  EXPECT_FALSE(state->muted);
  EXPECT_FALSE(state->on_hold);
  EXPECT_EQ(state->role, MemberRole::kParticipant);
  EXPECT_EQ(state->status, "connected");
}

// call:answer: the waiting caller's INVITE gets its 200 in the early dialog,
// with the answer its 183 previewed.
TEST_F(ActionReferralE2eTest, AnswerAdmitsTheWaitingCaller) {
  start(7);
  Caller w(1100, "walt");
  Pending pending;
  ASSERT_NO_FATAL_FAILURE(waits(w, pending));
  const Referral answered =
      act("lobby", "<urn:sip-action:call:answer;foo=bar>", w, {{"Require", "action-ref"}});
  expect_accepted(answered, "SIP/2.0 200 OK");
  run_until([&] { return pending.final_response() != nullptr; });
  ASSERT_NE(pending.final_response(), nullptr);
  const Message ok = *pending.final_response();
  ASSERT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.to().tag(), w.to_tag);
  EXPECT_EQ(audio_port(ok.body()), w.mixer_port);
  ack(w, ok, "lobby");
  run_until([&] { return member("lobby", w).value_or(MemberState{}).status == "connected"; });
  const std::optional<MemberState> state = member("lobby", w);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->status, "connected");
  EXPECT_FALSE(state->waiting);
}

// call:decline: 603 with an RFC 3326 Reason; the caller leaves the room.
TEST_F(ActionReferralE2eTest, DeclineRefusesTheWaitingCaller603WithAReason) {
  start(8);
  Caller w(1100, "walt");
  Pending pending;
  ASSERT_NO_FATAL_FAILURE(waits(w, pending));
  const Referral declined = act("lobby", "<urn:sip-action:call:decline>", w);
  expect_accepted(declined, "SIP/2.0 200 OK");
  run_until([&] { return pending.final_response() != nullptr; });
  ASSERT_NE(pending.final_response(), nullptr);
  EXPECT_EQ(pending.final_response()->status(), 603);
  EXPECT_EQ(pending.final_response()->reason_phrase(), "Decline");
  EXPECT_EQ(pending.final_response()->header("Reason").value_or(""),
            "SIP;cause=603;text=\"declined by a moderator\"");
  EXPECT_FALSE(member("lobby", w).has_value());
}

// call:ignore: the caller keeps waiting (its provisional responses go on)
// but leaves the conference package: a watcher sees it deleted.
TEST_F(ActionReferralE2eTest, IgnoreLeavesTheCallerWaitingOffTheConferencePackage) {
  start(9);
  Caller w(1100, "walt"), watcher(1300, "watcher");
  Pending pending;
  ASSERT_NO_FATAL_FAILURE(waits(w, pending));
  const std::optional<Message> subscribed = subscribe_conference(watcher, "lobby");
  ASSERT_TRUE(subscribed.has_value());
  ASSERT_EQ(subscribed->status(), 200);
  const auto package = [&] {
    std::vector<std::string> bodies;
    for (const Message* m : notifies(watcher.call_id)) bodies.emplace_back(m->body());
    return bodies;
  };
  run_until([&] { return !package().empty(); });
  ASSERT_EQ(package().size(), 1u);
  EXPECT_NE(package()[0].find("entity=\"sip:walt@127.0.0.1\""), std::string::npos) << package()[0];

  const Referral ignored =
      act("lobby", "<urn:sip-action:call:ignore>", w, {{"Require", "action-ref"}});
  expect_accepted(ignored, "SIP/2.0 200 OK");
  run_until([&] { return package().size() >= 2; });
  ASSERT_EQ(package().size(), 2u);
  EXPECT_NE(package()[1].find("<user entity=\"sip:walt@127.0.0.1\" state=\"deleted\""),
            std::string::npos)
      << package()[1];
  const size_t provisional = pending.count(183);
  run_until([&] { return pending.count(183) > provisional; }, 1500ms);
  EXPECT_GT(pending.count(183), provisional);  // still ringing with music
  EXPECT_EQ(pending.final_response(), nullptr);
  const std::optional<MemberState> state = member("lobby", w);
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->waiting);
  EXPECT_TRUE(state->hidden);
  EXPECT_EQ(state->status, "pending");
}

// call:sendvm: a waiting caller is redirected 302 to the voicemail; a member
// is REFERred there (no subscription asked, RFC 4488).
TEST_F(ActionReferralE2eTest, SendToVoicemailRedirectsAWaitingCallerAndRefersAMember) {
  start(10, kVoicemail);
  Caller w(1100, "walt"), a(400, "alice"), b(700, "bob");
  Pending pending;
  ASSERT_NO_FATAL_FAILURE(waits(w, pending));
  const Referral sent =
      act("lobby", "<urn:sip-action:call:sendvm>", w, {{"Require", "action-ref"}});
  expect_accepted(sent, "SIP/2.0 200 OK");
  run_until([&] { return pending.final_response() != nullptr; });
  ASSERT_NE(pending.final_response(), nullptr);
  const Message& moved = *pending.final_response();
  EXPECT_EQ(moved.status(), 302);
  ASSERT_EQ(moved.contacts().size(), 1u);
  EXPECT_EQ(moved.contacts().front().uri_text, kVoicemail);
  EXPECT_EQ(moved.header("Reason").value_or(""), "SIP;cause=302;text=\"sent to voicemail\"");
  EXPECT_FALSE(member("lobby", w).has_value());

  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "vm"));
  const Referral member_sent = act("vm", "<urn:sip-action:call:sendvm>", a);
  expect_accepted(member_sent, "SIP/2.0 200 OK");
  run_until([&] { return received(Method::kRefer, a.call_id) > 0; });
  ASSERT_EQ(received(Method::kRefer, a.call_id), 1u);
  const Message* refer = last_received(Method::kRefer);
  ASSERT_NE(refer, nullptr);
  EXPECT_EQ(refer->request_uri_text(), client_.contact_uri("alice", sip::TransportKind::kUdp));
  EXPECT_EQ(refer->header("Refer-To").value_or(""), "<" + std::string(kVoicemail) + ">");
  EXPECT_EQ(refer->header("Refer-Sub").value_or(""), "false");
  EXPECT_EQ(refer->from().tag(), a.to_tag);
}

// call:sendvm with no conference.voicemail_uri: 501, nothing subscribed,
// the caller still waits.
TEST_F(ActionReferralE2eTest, SendToVoicemailWithoutVoicemailIs501) {
  start(11);
  Caller w(1100, "walt");
  Pending pending;
  ASSERT_NO_FATAL_FAILURE(waits(w, pending));
  const Referral sent = act("lobby", "<urn:sip-action:call:sendvm>", w);
  expect_refused(sent, 501);
  EXPECT_EQ(sent.answer->reason_phrase(), "No Voicemail Configured");
  EXPECT_EQ(pending.final_response(), nullptr);
  EXPECT_TRUE(member("lobby", w).value_or(MemberState{}).waiting);
}

// An action we do not know is 501 (the draft), an option we do not support
// in Require is 420 (RFC 3261 §8.2.2.3) — neither acts; action-ref is
// advertised in Supported.
TEST_F(ActionReferralE2eTest, UnknownActionIs501AndActionRefIsSupported) {
  start(12);
  Caller a(400, "alice"), b(700, "bob"), probe(1300, "probe");
  const std::optional<Message> options = exchange(request(probe, Method::kOptions, "ask"));
  ASSERT_TRUE(options.has_value());
  ASSERT_EQ(options->status(), 200);
  std::string supported;
  for (std::string_view line : options->header_lines("Supported")) supported += line;
  EXPECT_NE(supported.find("action-ref"), std::string::npos) << supported;

  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "odd"));
  const Referral unknown = act("odd", "<urn:sip-action:call:frobnicate>", a);
  expect_refused(unknown, 501);
  EXPECT_NE(unknown.answer->reason_phrase().find("call:frobnicate"), std::string_view::npos)
      << unknown.answer->reason_phrase();
  const Referral extension =
      act("odd", "<urn:sip-action:call:mute>", a, {{"Require", "action-ref, x-frobnicate"}});
  expect_refused(extension, 420);
  EXPECT_EQ(extension.answer->header("Unsupported").value_or(""), "x-frobnicate");
  // Neither REFER reached Alice (the state is what the mix follows, see
  // the tests above).
  const std::optional<MemberState> alice = member("odd", a);
  ASSERT_TRUE(alice.has_value());
  EXPECT_FALSE(alice->muted);
  EXPECT_FALSE(alice->on_hold);
  EXPECT_EQ(alice->status, "connected");
  EXPECT_EQ(received(Method::kBye), 0u);
}

// conference:add sent to another room's URI moves the member there
// (README "Moving members"): same dialog, same RTP port; it hears room B
// and not room A, only room B hears it, both rooms' state follow, and the
// focus refreshes its remote target with room B's Contact (UPDATE).
TEST_F(ActionReferralE2eTest, ConferenceAddToAnotherRoomMovesTheMember) {
  start(13);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol"), d(1300, "dave");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "ra"));
  ASSERT_EQ(invite(c, "sendrecv", "rb"), 200);
  ASSERT_EQ(invite(d, "sendrecv", "rb"), 200);
  const uint16_t port = a.mixer_port;
  const Referral moved = act("rb", "<urn:sip-action:conference:add>", a);
  talk({&a, &b, &c, &d}, 60, 30);
  expect_accepted(moved, "SIP/2.0 200 OK");
  EXPECT_GT(a.heard(1100), kHeard);
  EXPECT_GT(a.heard(1300), kHeard);
  EXPECT_LT(a.heard(700), kSilent);
  EXPECT_GT(c.heard(400), kHeard);
  EXPECT_GT(d.heard(400), kHeard);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_LT(b.heard(1100), kSilent);
  EXPECT_EQ(a.mixer_port, port);
  ASSERT_TRUE(member("rb", a).has_value());
  EXPECT_FALSE(member("ra", a).has_value());
  EXPECT_EQ(server_->room_calls("ra"), 1u);
  EXPECT_EQ(server_->room_calls("rb"), 3u);
  // The target refresh: an UPDATE in Alice's dialog, Contact room B's.
  run_until([&] { return received(Method::kUpdate, a.call_id) > 0; });
  ASSERT_EQ(received(Method::kUpdate, a.call_id), 1u);
  const Message* update = last_received(Method::kUpdate);
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->from().tag(), a.to_tag);
  ASSERT_FALSE(update->contacts().empty());
  EXPECT_TRUE(update->contacts().front().uri_text.starts_with("sip:rb@"))
      << update->contacts().front().uri_text;
  EXPECT_TRUE(update->body().empty());
  EXPECT_EQ(received(Method::kBye), 0u);
  // Her later requests still reach her call: a BYE in the same dialog.
  EXPECT_EQ(bye(a, "rb"), 200);
  EXPECT_EQ(server_->room_calls("rb"), 2u);
}

// A move obeys the target's PIN and member limit, unless the mover also
// moderates; without the move right it is 403 and nothing moves.
TEST_F(ActionReferralE2eTest, MoveObeysTheTargetsPinAndLimitUnlessTheMoverModerates) {
  start(14);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_NO_FATAL_FAILURE(two_members(a, b, "ra"));
  // Carol comes to "locked" from her own room, moved by the moderator (no
  // PIN asked of it).
  ASSERT_EQ(invite(c, "sendrecv", "rc"), 200);
  const Referral carol = act("locked", "<urn:sip-action:conference:add>", c);
  talk({&a, &b, &c}, 20, 0);
  expect_accepted(carol, "SIP/2.0 200 OK");
  ASSERT_EQ(server_->room_calls("locked"), 1u);

  const Referral no_pin = act("locked", "<urn:sip-action:conference:add>", a, {}, false, "mover");
  expect_refused(no_pin, 403);
  const Referral wrong =
      act("locked", "<urn:sip-action:conference:add>", a, {}, false, "mover", ";pin=9999");
  expect_refused(wrong, 403);
  EXPECT_EQ(wrong.answer->reason_phrase(), "Wrong PIN");
  EXPECT_EQ(no_pin.answer->reason_phrase(), "PIN Required");
  EXPECT_TRUE(member("ra", a).has_value());

  const Referral with_pin =
      act("locked", "<urn:sip-action:conference:add>", a, {}, false, "mover", ";pin=1234");
  talk({&a, &b, &c}, 30, 0);
  expect_accepted(with_pin, "SIP/2.0 200 OK");
  EXPECT_TRUE(member("locked", a).has_value());
  // "locked" is full now (two): the mover is refused, the moderator is not.
  const Referral full =
      act("locked", "<urn:sip-action:conference:add>", b, {}, false, "mover", ";pin=1234");
  expect_refused(full, 486);
  EXPECT_TRUE(member("ra", b).has_value());
  const Referral moderated = act("locked", "<urn:sip-action:conference:add>", b);
  talk({&a, &b, &c}, 60, 30);
  expect_accepted(moderated, "SIP/2.0 200 OK");
  EXPECT_EQ(server_->room_calls("locked"), 3u);
  EXPECT_EQ(server_->room_calls("ra"), 0u);  // room A is gone with its last member
  EXPECT_GT(b.heard(1100), kHeard);
  EXPECT_GT(c.heard(700), kHeard);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
