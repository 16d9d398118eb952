// The README's smaller claims, each shown on the wire (issue 14): every
// action URN, from a moderator and from the member itself inside its own
// dialog, name normalisation and the 501 / 400 / 481 refusals; a PIN
// entered as RFC 4733 digits and three wrong ones; the *6, *1 and *2 keys;
// only_listed_rooms (404) and a full room (486 + Retry-After); Replaces
// with early-only naming a confirmed dialog (486); Replaces of a whisperer
// or a monitor keeping its role; the headers embedded in a REFER's
// Refer-To reaching the dial-out INVITE, or refusing the REFER (400) when
// not allowed there; and the final sipfrag of a
// dial-out the callee refuses (486, 408, 503) or never answers (Timer B on
// a test-driven SIP clock). Audio effects are measured per participant with
// Goertzel energies.
#include <cstdlib>

#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

// Expects a final response `status` with `reason`.
void expect_response(const std::optional<Message>& response, int status, std::string_view reason) {
  ASSERT_TRUE(response.has_value()) << "no final response";
  EXPECT_EQ(response->status(), status);
  EXPECT_EQ(response->reason_phrase(), reason);
}

class ClaimsE2eTest : public FocusE2e {
 protected:
  void start(uint16_t first, const std::function<void(Options&)>& tweak = {}) {
    start_server(first, first + 99, 30s, [&](Options& options) {
      options.accounts = {
          {"sup", "s3cret", {"monitor", "whisper", "barge", "replace"}},
          {"mon", "monpw", {"monitor"}},
          {"op", "0pw", {"dial-out", "remove", "moderate"}},
      };
      if (tweak) tweak(options);
    });
  }

  // The member's own view of its dialog with the focus (RFC 4538 §7, as the
  // README's example writes it): local-tag is the member's, remote-tag the
  // focus's.
  static std::string target_dialog(const Caller& member) {
    return member.call_id + ";local-tag=" + member.from_tag + ";remote-tag=" + member.to_tag;
  }

  // REFER with an action URN naming `member`, sent by `from` (inside its
  // dialog when it has one); with credentials when `user` is given.
  std::optional<Message> act(Caller& from, std::string_view room, std::string_view action,
                             const Caller& member, std::string_view user = {},
                             std::string_view password = {}) {
    return exchange_auth(from, request(from, Method::kRefer, room),
                         {{"Refer-To", "<urn:sip-action:" + std::string(action) + ">"},
                          {"Target-Dialog", target_dialog(member)}},
                         user, password);
  }

  // An INVITE with the caller's offer; the final response as it came (a
  // 2xx is not ACKed: use invite() for calls that should get in).
  std::optional<Message> dial(Caller& caller, std::string_view room, const Headers& headers = {}) {
    Message m = request(caller, Method::kInvite, room);
    for (const auto& [name, value] : headers) m.add_header(name, value);
    m.set_body("application/sdp", caller.sdp("sendrecv"));
    return exchange(std::move(m));
  }

  // Every NOTIFY to `call_id` reports an action's progress: 100 Trying (the
  // subscription active) or 200 OK (terminated), and as many of each.
  void expect_action_notifies(std::string_view call_id) {
    run_until([&] {
      const auto sent = notifies(call_id);
      return !sent.empty() && sent.size() % 2 == 0;
    });
    size_t trying = 0, done = 0;
    for (const Message* m : notifies(call_id)) {
      EXPECT_TRUE(m->content_type().starts_with("message/sipfrag")) << m->content_type();
      const std::string_view state = m->header("Subscription-State").value_or("");
      if (m->body().starts_with("SIP/2.0 100 Trying")) {
        ++trying;
        EXPECT_TRUE(state.starts_with("active")) << state;
      } else {
        EXPECT_TRUE(m->body().starts_with("SIP/2.0 200 OK")) << m->body();
        EXPECT_TRUE(state.starts_with("terminated")) << state;
        ++done;
      }
    }
    EXPECT_GT(done, 0u);
    EXPECT_EQ(trying, done);
  }

  // `who` presses `digits` (RFC 4733 events, about 8 packets a key, no
  // audio meanwhile); once they are out, everyone talks 60 ticks and the
  // last 30 are kept for Goertzel.
  void keys(Caller& who, std::string_view digits, const std::vector<Caller*>& all) {
    who.press(digits);
    const int ticks = 12 * static_cast<int>(digits.size()) + 10;
    talk(all, ticks, ticks);
    talk(all, 60, 30);
  }

  // call:mute, call:unmute, call:hold and call:unhold on `a`, sent by
  // `from` (with credentials when `user` is given), each answered 200 OK
  // and checked on what a, b and c (in `room`, tones 400 / 700 / 1100) hear.
  void mute_and_hold_cycle(Caller& from, std::string_view room, Caller& a, Caller& b, Caller& c,
                           std::string_view user = {}, std::string_view password = {}) {
    std::vector<Caller*> all{&a, &b, &c};
    // call:mute: Alice hears the room, nobody hears her.
    expect_response(act(from, room, "call:mute", a, user, password), 202, "Accepted");
    talk(all, 60, 30);
    EXPECT_LT(b.heard(400), kSilent);
    EXPECT_LT(c.heard(400), kSilent);
    EXPECT_GT(a.heard(700), kHeard);
    EXPECT_GT(a.heard(1100), kHeard);
    EXPECT_TRUE(member(room, a)->muted);

    // call:unmute: heard again.
    expect_response(act(from, room, "call:unmute", a, user, password), 202, "Accepted");
    talk(all, 60, 30);
    EXPECT_GT(b.heard(400), kHeard);
    EXPECT_GT(c.heard(400), kHeard);
    EXPECT_FALSE(member(room, a)->muted);

    // call:hold ("Who hears what": held by the focus): music on hold for
    // Alice, nobody hears her, RTP still flows to her, and no re-INVITE.
    expect_response(act(from, room, "call:hold", a, user, password), 202, "Accepted");
    talk(all, 60, 30);
    ASSERT_GT(a.samples(), 160u * 10);
    EXPECT_LT(a.heard(700), kSilent);
    EXPECT_LT(a.heard(1100), kSilent);
    EXPECT_GT(a.level(), kSilent);  // the music
    EXPECT_LT(b.heard(400), kSilent);
    EXPECT_LT(c.heard(400), kSilent);
    EXPECT_GT(b.heard(1100), kHeard);  // the others still talk
    EXPECT_TRUE(member(room, a)->on_hold);
    EXPECT_EQ(received(Method::kInvite, a.call_id), 0u);

    // call:unhold: back in the N-1 mix.
    expect_response(act(from, room, "call:unhold", a, user, password), 202, "Accepted");
    talk(all, 60, 30);
    EXPECT_GT(a.heard(700), kHeard);
    EXPECT_GT(b.heard(400), kHeard);
    EXPECT_FALSE(member(room, a)->on_hold);
  }

  // Alice and Bob in `room`; supervisor `old_leg` joins Alice's dialog with
  // `;mode=<mode>`, then moves to `new_leg` (same AOR) by Replaces: the old
  // leg gets BYE, the new one has its roster entry. Returns the entry before
  // and after.
  std::pair<MemberState, MemberState> replace_supervisor(std::string_view room,
                                                         std::string_view mode, Caller& a,
                                                         Caller& b, Caller& old_leg,
                                                         Caller& new_leg) {
    EXPECT_EQ(invite(a, "sendrecv", room), 200);
    EXPECT_EQ(invite(b, "sendrecv", room), 200);
    EXPECT_EQ(invite_to(old_leg, "sendrecv", room, room_uri(room) + ";mode=" + std::string(mode),
                        {{"Join", dialog_ref(a)}}, "sup", "s3cret"),
              200);
    const auto before = member(room, old_leg);
    // The leg was opened with the "sup" account: only that account takes
    // it over (a From naming the same AOR is no proof).
    EXPECT_EQ(invite_to(new_leg, "sendrecv", room, {}, {{"Replaces", dialog_ref(old_leg)}}, "sup",
                        "s3cret"),
              200);
    run_until([&] { return received(Method::kBye, old_leg.call_id) > 0; });
    EXPECT_EQ(received(Method::kBye, old_leg.call_id), 1u);
    old_leg.sending = false;
    EXPECT_FALSE(member(room, old_leg).has_value());
    const auto after = member(room, new_leg);
    if (!before || !after) {
      ADD_FAILURE() << "no roster entry for the supervisor before or after";
      return {};
    }
    EXPECT_EQ(after->id, before->id);  // the same roster entry
    return {*before, *after};
  }
};

// README "Adding and removing people": call:mute, call:unmute, call:hold,
// call:unhold, conference:add, call:terminate and conference:remove, each
// from a moderator's out-of-dialog REFER naming the member by Target-Dialog.
TEST_F(ClaimsE2eTest, EveryActionUrnActsOnTheMemberTheTargetDialogNames) {
  start(52000);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol"), op(1300, "op");
  ASSERT_EQ(invite(a, "sendrecv", "act"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "act"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "act"), 200);
  std::vector<Caller*> all{&a, &b, &c};
  talk(all, 20, 20);

  mute_and_hold_cycle(op, "act", a, b, c, "op", "0pw");

  // conference:add: back into the conversation from muted and held at once.
  expect_response(act(op, "act", "call:mute", a, "op", "0pw"), 202, "Accepted");
  expect_response(act(op, "act", "call:hold", a, "op", "0pw"), 202, "Accepted");
  talk(all, 40, 20);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_LT(a.heard(700), kSilent);
  expect_response(act(op, "act", "conference:add", a, "op", "0pw"), 202, "Accepted");
  talk(all, 60, 30);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_GT(a.heard(700), kHeard);
  const auto added = member("act", a);
  ASSERT_TRUE(added.has_value());
  EXPECT_FALSE(added->muted);
  EXPECT_FALSE(added->on_hold);
  EXPECT_EQ(added->role, MemberRole::kParticipant);

  // The action-referral draft: each action's outcome comes in its refer
  // subscription, 100 Trying and then a final 200 OK that ends it.
  expect_action_notifies(op.call_id);
  EXPECT_EQ(received(Method::kBye), 0u);

  // call:terminate and conference:remove: a BYE to the member each, nothing else.
  expect_response(act(op, "act", "call:terminate", a, "op", "0pw"), 202, "Accepted");
  run_until([&] { return received(Method::kBye, a.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, a.call_id), 1u);
  EXPECT_EQ(server_->room_calls("act"), 2u);
  expect_response(act(op, "act", "conference:remove", b, "op", "0pw"), 202, "Accepted");
  run_until([&] { return received(Method::kBye, b.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, b.call_id), 1u);
  EXPECT_EQ(received(Method::kBye), 2u);
  EXPECT_EQ(server_->room_calls("act"), 1u);
  EXPECT_TRUE(member("act", c).has_value());
}

// README: names compare case-insensitively, after percent-decoding and
// without ;parameters or URN ?/# components; an unknown action is 501
// Unsupported Action, a missing Target-Dialog 400, an unknown dialog 481.
TEST_F(ClaimsE2eTest, ActionNamesAreNormalisedAndRefusalsNameTheProblem) {
  start(53400);
  Caller a(400, "alice"), b(700, "bob"), op(1300, "op");
  ASSERT_EQ(invite(a, "sendrecv", "urn"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "urn"), 200);
  std::vector<Caller*> all{&a, &b};
  const auto refer = [&](const std::string& urn, const Headers& extra) {
    Headers headers{{"Refer-To", "<urn:sip-action:" + urn + ">"}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return exchange_auth(op, request(op, Method::kRefer, "urn"), headers, "op", "0pw");
  };
  const Headers alice{{"Target-Dialog", target_dialog(a)}};

  expect_response(refer("CALL%3AMute;reason=test", alice), 202, "Accepted");
  talk(all, 60, 30);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_TRUE(member("urn", a)->muted);
  expect_response(refer("Call:UNMUTE#now", alice), 202, "Accepted");
  talk(all, 60, 30);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_FALSE(member("urn", a)->muted);

  const std::optional<Message> unknown = refer("call:dance", alice);
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->status(), 501);
  EXPECT_TRUE(unknown->reason_phrase().starts_with("Unsupported Action"))
      << unknown->reason_phrase();
  expect_response(refer("call:mute", {}), 400, "Missing Target-Dialog");
  expect_response(refer("call:mute", {{"Target-Dialog", "nope@x;local-tag=1;remote-tag=2"}}), 481,
                  "Target Dialog Does Not Exist");
  talk(all, 60, 30);
  EXPECT_GT(b.heard(400), kHeard);  // none of those touched Alice
  EXPECT_EQ(received(Method::kBye), 0u);
}

// README: call:mute / unmute / hold / unhold and conference:add need no
// right for "the member itself from within its own dialog" — and only there.
TEST_F(ClaimsE2eTest, AMemberActsOnItsOwnCallFromInsideItsDialogWithoutCredentials) {
  start(52100);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "self"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "self"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "self"), 200);
  std::vector<Caller*> all{&a, &b, &c};

  // Alice's in-dialog REFER naming Bob's dialog is someone else's call:
  // challenged, and Bob is still heard.
  std::optional<Message> other = act(a, "self", "call:mute", b);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->status(), 401);
  EXPECT_TRUE(other->header("WWW-Authenticate").has_value());
  // Her own dialog named from outside it (a new Call-ID) is not "itself".
  Caller stranger(1300, "alice");
  std::optional<Message> outside = act(stranger, "self", "call:mute", a);
  ASSERT_TRUE(outside.has_value());
  EXPECT_EQ(outside->status(), 401);
  talk(all, 60, 30);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);

  mute_and_hold_cycle(a, "self", a, b, c);  // no credentials

  expect_response(act(a, "self", "call:mute", a), 202, "Accepted");
  expect_response(act(a, "self", "conference:add", a), 202, "Accepted");
  talk(all, 60, 30);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_FALSE(member("self", a)->muted);

  // A missing Target-Dialog is 400 inside a dialog too.
  expect_response(exchange_auth(a, request(a, Method::kRefer, "self"),
                                {{"Refer-To", "<urn:sip-action:call:mute>"}}),
                  400, "Missing Target-Dialog");
  EXPECT_EQ(received(Method::kBye), 0u);
  expect_action_notifies(a.call_id);  // in the member's own dialog
}

// README "Dialling in": without ;pin= the caller is answered and waits for
// the PIN as DTMF ending in '#', hearing and heard by nobody until then.
TEST_F(ClaimsE2eTest, APinEnteredAsRfc4733DigitsAdmitsTheCaller) {
  start(52200, [](Options& options) { options.rooms = {{"board", "4321", 0}}; });
  Caller a(400, "alice"), c(1100, "carol");
  ASSERT_EQ(invite_to(a, "sendrecv", "board", room_uri("board") + ";pin=4321", {}), 200);
  c.telephone_events = true;
  ASSERT_EQ(invite(c, "sendrecv", "board"), 200);  // answered, no PIN yet
  std::vector<Caller*> all{&a, &c};
  talk(all, 60, 30);
  ASSERT_GT(c.samples(), 160u * 10);
  EXPECT_LT(a.heard(1100), kSilent);
  EXPECT_LT(c.heard(400), kSilent);

  // A wrong PIN first (one of the three tries): still outside.
  keys(c, "99#", all);
  EXPECT_LT(a.heard(1100), kSilent);
  EXPECT_LT(c.heard(400), kSilent);

  keys(c, "4321#", all);
  EXPECT_GT(a.heard(1100), kHeard);
  EXPECT_GT(c.heard(400), kHeard);
  EXPECT_EQ(received(Method::kBye), 0u);
  EXPECT_EQ(server_->room_calls("board"), 2u);
}

TEST_F(ClaimsE2eTest, ThreeWrongPinsEndTheCallWithBye) {
  start(52300, [](Options& options) { options.rooms = {{"board", "4321", 0}}; });
  Caller a(400, "alice"), c(1100, "carol");
  ASSERT_EQ(invite_to(a, "sendrecv", "board", room_uri("board") + ";pin=4321", {}), 200);
  c.telephone_events = true;
  ASSERT_EQ(invite(c, "sendrecv", "board"), 200);
  std::vector<Caller*> all{&a, &c};
  c.press("1111#432#");  // two wrong PINs
  talk(all, 100, 100);
  io_.run_for(100ms);
  EXPECT_EQ(received(Method::kBye, c.call_id), 0u);
  EXPECT_EQ(server_->room_calls("board"), 2u);
  c.press("43210#");  // the third
  talk(all, 60, 60);
  run_until([&] { return received(Method::kBye, c.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, c.call_id), 1u);
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);
  EXPECT_EQ(server_->room_calls("board"), 1u);
  EXPECT_EQ(server_->call_count(), 1u);
}

// README "Keys during a call": *6 mutes and unmutes yourself.
TEST_F(ClaimsE2eTest, StarSixTogglesTheCallersOwnMute) {
  start(52400);
  Caller a(400, "alice"), b(700, "bob");
  a.telephone_events = true;
  ASSERT_EQ(invite(a, "sendrecv", "keys"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "keys"), 200);
  std::vector<Caller*> all{&a, &b};
  talk(all, 40, 20);
  EXPECT_GT(b.heard(400), kHeard);
  keys(a, "*6", all);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_TRUE(member("keys", a)->muted);
  keys(a, "*6", all);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_FALSE(member("keys", a)->muted);
}

// README: a supervisor joined by an authorised Join switches with *1
// monitor and *2 whisper (to the member it joined on), each only with that
// right.
TEST_F(ClaimsE2eTest, SupervisorKeysStarTwoWhispersToTheJoinedMemberAndStarOneMonitors) {
  start(52500);
  Caller a(400, "alice"), b(700, "bob"), s(1100, "sup");
  ASSERT_EQ(invite(a, "sendrecv", "coach"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "coach"), 200);
  s.telephone_events = true;
  ASSERT_EQ(invite_to(s, "sendrecv", "coach", room_uri("coach") + ";mode=monitor",
                      {{"Join", dialog_ref(a)}}, "sup", "s3cret"),
            200);
  std::vector<Caller*> all{&a, &b, &s};
  talk(all, 40, 20);
  EXPECT_LT(a.heard(1100), kSilent);

  keys(s, "*2", all);
  EXPECT_GT(a.heard(1100), kHeard);  // the joined member hears the coach
  EXPECT_LT(b.heard(1100), kSilent);
  EXPECT_GT(s.heard(400), kHeard);
  EXPECT_GT(s.heard(700), kHeard);
  auto state = member("coach", s);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->role, MemberRole::kWhisper);

  keys(s, "*1", all);
  EXPECT_LT(a.heard(1100), kSilent);
  EXPECT_LT(b.heard(1100), kSilent);
  EXPECT_GT(s.heard(400), kHeard);
  EXPECT_EQ(member("coach", s)->role, MemberRole::kMonitor);
  ASSERT_EQ(bye(s, "coach"), 200);

  // An account with the monitor right only: *2 and *3 change nothing.
  Caller m(1300, "mon");
  m.telephone_events = true;
  ASSERT_EQ(invite_to(m, "recvonly", "coach", {}, {{"Join", dialog_ref(a)}}, "mon", "monpw"), 200);
  all = {&a, &b, &m};
  keys(m, "*2*3", all);
  EXPECT_LT(a.heard(1300), kSilent);
  EXPECT_LT(b.heard(1300), kSilent);
  EXPECT_EQ(member("coach", m)->role, MemberRole::kMonitor);
}

// README: with only_listed_rooms an unknown room is 404 No Such Conference.
TEST_F(ClaimsE2eTest, OnlyListedRoomsRefusesAnUnlistedRoomWith404) {
  start(52600, [](Options& options) {
    options.rooms = {{"listed", "", 0}};
    options.only_listed_rooms = true;
  });
  Caller a(400, "alice"), b(700, "bob");
  const std::optional<Message> refused = dial(a, "unlisted");
  expect_response(refused, 404, "No Such Conference");
  EXPECT_FALSE(refused->to().tag().empty());
  EXPECT_EQ(server_->call_count(), 0u);
  EXPECT_FALSE(server_->room_state("unlisted").has_value());
  EXPECT_EQ(invite(b, "sendrecv", "listed"), 200);
  EXPECT_EQ(server_->room_calls("listed"), 1u);
}

// README: a full room answers 486 Conference Full with Retry-After.
TEST_F(ClaimsE2eTest, AFullRoomIs486ConferenceFullWithRetryAfter) {
  start(52700, [](Options& options) { options.rooms = {{"tiny", "", 2}}; });
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "tiny"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "tiny"), 200);
  const std::optional<Message> full = dial(c, "tiny");
  expect_response(full, 486, "Conference Full");
  const auto retry = full->header("Retry-After");
  ASSERT_TRUE(retry.has_value());
  // RFC 3261 §20.33: delta-seconds.
  const std::string seconds(*retry);
  ASSERT_FALSE(seconds.empty());
  EXPECT_EQ(seconds.find_first_not_of("0123456789"), std::string::npos) << seconds;
  EXPECT_GT(std::atoi(seconds.c_str()), 0);
  EXPECT_EQ(server_->room_calls("tiny"), 2u);
  // Someone leaves: there is room again.
  ASSERT_EQ(bye(b, "tiny"), 200);
  Caller c2(1100, "carol");
  EXPECT_EQ(invite(c2, "sendrecv", "tiny"), 200);
}

// README "Taking over a call": ;early-only is honoured (486 if confirmed).
TEST_F(ClaimsE2eTest, EarlyOnlyReplacesOfAConfirmedDialogIs486) {
  start(52800);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "eo"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "eo"), 200);
  Caller a2(900, "alice");
  expect_response(dial(a2, "eo", {{"Replaces", dialog_ref(a) + ";early-only"}}), 486,
                  "Busy Here");
  io_.run_for(100ms);
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);  // Alice's call stands
  EXPECT_EQ(server_->room_calls("eo"), 2u);
  std::vector<Caller*> all{&a, &b};
  talk(all, 60, 30);
  EXPECT_GT(b.heard(400), kHeard);
  // Without early-only the same request takes her place.
  EXPECT_EQ(invite_to(a2, "sendrecv", "eo", {}, {{"Replaces", dialog_ref(a)}}), 200);
  run_until([&] { return received(Method::kBye, a.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, a.call_id), 1u);
}

// README: the new dialog keeps the member's role and whisper state: a
// replaced whisperer is still heard by its target only.
TEST_F(ClaimsE2eTest, AReplacedWhispererIsStillHeardOnlyByItsTarget) {
  start(52900);
  Caller a(400, "alice"), b(700, "bob"), w(1100, "sup"), w2(1300, "sup");
  const auto [before, after] = replace_supervisor("wr", "whisper", a, b, w, w2);
  ASSERT_EQ(before.role, MemberRole::kWhisper);
  ASSERT_FALSE(before.whisper_target.empty());
  EXPECT_EQ(after.role, MemberRole::kWhisper);
  EXPECT_EQ(after.whisper_target, before.whisper_target);
  std::vector<Caller*> all{&a, &b, &w2};
  talk(all, 60, 30);
  EXPECT_GT(a.heard(1300), kHeard);   // the target hears the new leg
  EXPECT_LT(b.heard(1300), kSilent);  // nobody else does
  EXPECT_GT(w2.heard(400), kHeard);
  EXPECT_GT(w2.heard(700), kHeard);
}

TEST_F(ClaimsE2eTest, AReplacedMonitorIsStillHeardByNobody) {
  start(53000);
  Caller a(400, "alice"), b(700, "bob"), m(1100, "sup"), m2(1300, "sup");
  const auto [before, after] = replace_supervisor("mr", "monitor", a, b, m, m2);
  ASSERT_EQ(before.role, MemberRole::kMonitor);
  EXPECT_EQ(after.role, MemberRole::kMonitor);
  EXPECT_TRUE(after.hidden);
  std::vector<Caller*> all{&a, &b, &m2};
  talk(all, 60, 30);
  EXPECT_LT(a.heard(1300), kSilent);
  EXPECT_LT(b.heard(1300), kSilent);
  EXPECT_GT(m2.heard(400), kHeard);
  EXPECT_GT(m2.heard(700), kHeard);
}

// README "Adding and removing people": the dial-out INVITE carries the
// headers embedded in the Refer-To URI (Answer-Mode, RFC 5373) and the
// REFER's Referred-By; a REFER embedding any header off the allowlist, or a
// control character, is refused 400 and nothing is dialled.
TEST_F(ClaimsE2eTest, HeadersEmbeddedInReferToReachTheDialOutInvite) {
  start(53100);
  Caller a(400, "alice"), c(1100, "carol"), op(1300, "op");
  ASSERT_EQ(invite(a, "sendrecv", "page"), 200);
  callee_ = &c;
  const std::string carol = client_.contact_uri("carol", sip::TransportKind::kUdp);
  std::optional<Message> accepted = exchange_auth(
      op, request(op, Method::kRefer, "page"),
      {{"Refer-To", "<" + carol + "?Answer-Mode=Auto>"}, {"Referred-By", "<sip:alice@example.com>"}},
      "op", "0pw");
  expect_response(accepted, 202, "Accepted");
  run_until([&] { return c.mixer_port != 0; });
  ASSERT_NE(c.mixer_port, 0);
  const Message* invite = last_received(Method::kInvite);
  ASSERT_NE(invite, nullptr);
  EXPECT_EQ(invite->request_uri().to_string(), carol);  // the headers are not in the Request-URI
  EXPECT_EQ(invite->header("Answer-Mode").value_or(""), "Auto");
  EXPECT_EQ(invite->header("Referred-By").value_or(""), "<sip:alice@example.com>");
  EXPECT_TRUE(invite->body().empty());
  std::vector<Caller*> all{&a, &c};
  talk(all, 60, 30);
  EXPECT_GT(c.heard(400), kHeard);
  EXPECT_GT(a.heard(1100), kHeard);

  // Escaped values arrive decoded, names in any case, a tab inside a value.
  callee_ = nullptr;
  refusals_["dave"] = {486, "Busy Here"};
  const std::string dave = client_.contact_uri("dave", sip::TransportKind::kUdp);
  Caller op2(1300, "op");
  accepted = exchange_auth(
      op2, request(op2, Method::kRefer, "page"),
      {{"Refer-To", "<" + dave + "?Answer-Mode=Auto%3Brequire&priority=urgent&Subject=a%09b>"}},
      "op", "0pw");
  expect_response(accepted, 202, "Accepted");
  run_until([&] { return received(Method::kInvite) == 2; });
  invite = last_received(Method::kInvite);
  ASSERT_NE(invite, nullptr);
  EXPECT_EQ(invite->request_uri().user, "dave");
  EXPECT_EQ(invite->header("Answer-Mode").value_or(""), "Auto;require");
  EXPECT_EQ(invite->header("Priority").value_or(""), "urgent");
  EXPECT_EQ(invite->header("Subject").value_or(""), "a\tb");

  // Each of these would put into the INVITE what the referrer has no say
  // in: an identity, the dialog's ids, a route, or (CR/LF decoded from the
  // URI) a header line of its own, over TCP a whole second request.
  struct Refused {
    const char* embedded;
    std::string_view reason;
  };
  const Refused refused[] = {
      // CR LF in an allowed header's value starts a forged header line.
      {"Subject=hi%0D%0AP-Asserted-Identity%3A%20%3Csip%3Aceo%40example.com%3E",
       kControlCharacterInReferToHeader},
      {"Subject=hi%0D%0A%0D%0AINVITE%20sip%3Avictim%40example.com%20SIP%2F2.0",
       kControlCharacterInReferToHeader},
      {"Answer-Mode=Auto%0AVia%3A%20SIP%2F2.0%2FUDP%20evil.example.com",
       kControlCharacterInReferToHeader},
      {"Subject=a%00b", kControlCharacterInReferToHeader},
      {"Subject=a%7Fb", kControlCharacterInReferToHeader},
      // A CR LF in the name.
      {"Subject%0D%0AVia=SIP%2F2.0%2FUDP%20evil.example.com", kHeaderNotAllowedInReferTo},
      // Compact forms (RFC 3261 §7.3.3): Call-ID, Via, Contact, From, To,
      // Content-Type, Subject.
      {"i=forged%40example.com", kHeaderNotAllowedInReferTo},
      {"v=SIP%2F2.0%2FUDP%20evil.example.com", kHeaderNotAllowedInReferTo},
      {"m=%3Csip%3Aevil%40example.com%3E", kHeaderNotAllowedInReferTo},
      {"f=%3Csip%3Aceo%40example.com%3E%3Btag%3D1", kHeaderNotAllowedInReferTo},
      {"t=%3Csip%3Aceo%40example.com%3E", kHeaderNotAllowedInReferTo},
      {"c=text%2Fplain", kHeaderNotAllowedInReferTo},
      {"s=compact", kHeaderNotAllowedInReferTo},
      // A listed name with a space, and headers no list ever named.
      {"Route%20=%3Csip%3Aevil.example.com%3Blr%3E", kHeaderNotAllowedInReferTo},
      {"%20Subject=x", kHeaderNotAllowedInReferTo},
      {"P-Asserted-Identity=%3Csip%3Aceo%40example.com%3E", kHeaderNotAllowedInReferTo},
      {"Require=100rel", kHeaderNotAllowedInReferTo},
      {"Call-ID=forged%40example.com", kHeaderNotAllowedInReferTo},
      {"body=hello", kHeaderNotAllowedInReferTo},
      // One bad header among good ones refuses the whole REFER.
      {"Answer-Mode=Auto&Max-Forwards=1", kHeaderNotAllowedInReferTo},
  };
  const std::string erin = client_.contact_uri("erin", sip::TransportKind::kUdp);
  for (const Refused& bad : refused) {
    SCOPED_TRACE(bad.embedded);
    Caller sender(1300, "op");
    const size_t invites = received(Method::kInvite);
    expect_response(
        exchange_auth(sender, request(sender, Method::kRefer, "page"),
                      {{"Refer-To", "<" + erin + "?" + bad.embedded + ">"}}, "op", "0pw"),
        400, bad.reason);
    io_.run_for(50ms);  // an INVITE would have left by now
    EXPECT_EQ(received(Method::kInvite), invites);
    EXPECT_TRUE(notifies(sender.call_id).empty());  // no referral was accepted
  }
  EXPECT_EQ(server_->gauges().dialing, 0u);
  EXPECT_EQ(server_->room_calls("page"), 2u);
}

// README: progress comes back as message/sipfrag NOTIFYs, ending with "the
// failure": the callee's 486, 408 and 503 each end the refer subscription.
TEST_F(ClaimsE2eTest, ARefusedDialOutEndsTheReferrersSubscriptionWithItsStatus) {
  start(53200);
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "fail"), 200);
  refusals_["busy"] = {486, "Busy Here"};
  refusals_["late"] = {408, "Request Timeout"};
  refusals_["down"] = {503, "Service Unavailable"};
  for (const char* user : {"busy", "late", "down"}) {
    SCOPED_TRACE(user);
    const auto& [status, reason] = refusals_.at(user);
    Caller op(1300, "op");
    const std::string target = client_.contact_uri(user, sip::TransportKind::kUdp);
    expect_response(exchange_auth(op, request(op, Method::kRefer, "fail"),
                                  {{"Refer-To", "<" + target + ">"}}, "op", "0pw"),
                    202, "Accepted");
    run_until([&] { return notifies(op.call_id).size() >= 2; });
    io_.run_for(100ms);  // nothing more may follow
    const std::vector<const Message*> sent = notifies(op.call_id);
    ASSERT_EQ(sent.size(), 2u);
    // RFC 3515 §2.4.6: Event names the REFER's CSeq (2: after the 401).
    for (const Message* notify : sent) {
      EXPECT_EQ(notify->header("Event").value_or(""), "refer;id=" + std::to_string(op.cseq));
      EXPECT_TRUE(notify->content_type().starts_with("message/sipfrag")) << notify->content_type();
    }
    EXPECT_TRUE(std::string(sent[0]->body()).starts_with("SIP/2.0 100 Trying\r\n"))
        << sent[0]->body();
    EXPECT_TRUE(sent[0]->header("Subscription-State").value_or("").starts_with("active"));
    const std::string line = "SIP/2.0 " + std::to_string(status) + " " + reason + "\r\n";
    EXPECT_TRUE(std::string(sent[1]->body()).starts_with(line)) << sent[1]->body();
    EXPECT_EQ(sent[1]->header("Subscription-State").value_or(""), "terminated;reason=noresource");
    EXPECT_EQ(server_->room_calls("fail"), 1u);
    EXPECT_EQ(server_->gauges().dialing, 0u);
  }
  EXPECT_EQ(received(Method::kInvite), 3u);
}

// README: "... or the failure" when the callee never answers: Timer B
// (64*T1 = 32 s, RFC 3261 §17.1.1.2) ends the INVITE and the referrer's
// subscription ends with 408. The focus's SIP clock is driven by the test;
// the target is a UDP port nobody listens on.
TEST_F(ClaimsE2eTest, AnUnansweredDialOutEndsTheReferWith408AfterTimerB) {
  manual_clock_.emplace(sip::Clock::now());
  start(53300);
  Caller a(400, "alice"), op(1300, "op");
  ASSERT_EQ(invite(a, "sendrecv", "void"), 200);
  const std::string target = "<sip:nobody@127.0.0.1:" + std::to_string(free_port()) + ">";
  expect_response(exchange_auth(op, request(op, Method::kRefer, "void"), {{"Refer-To", target}},
                                "op", "0pw"),
                  202, "Accepted");
  run_until([&] { return !notifies(op.call_id).empty(); });
  ASSERT_EQ(notifies(op.call_id).size(), 1u);
  EXPECT_TRUE(std::string(notifies(op.call_id)[0]->body()).starts_with("SIP/2.0 100 Trying\r\n"));
  const auto advance = [&](int steps) {
    for (int i = 0; i < steps; ++i) {
      manual_clock_->advance(500ms);
      io_.run_for(2ms);
    }
  };
  advance(62);  // 31 s: still trying
  io_.run_for(50ms);
  EXPECT_EQ(notifies(op.call_id).size(), 1u);
  EXPECT_EQ(server_->gauges().dialing, 1u);
  advance(4);  // 33 s: Timer B has fired
  run_until([&] { return notifies(op.call_id).size() >= 2; });
  const std::vector<const Message*> sent = notifies(op.call_id);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(std::string(sent[1]->body()).starts_with("SIP/2.0 408 Request Timeout\r\n"))
      << sent[1]->body();
  EXPECT_EQ(sent[1]->header("Subscription-State").value_or(""), "terminated;reason=noresource");
  EXPECT_EQ(server_->gauges().dialing, 0u);
  EXPECT_EQ(server_->room_calls("void"), 1u);
}

// sip.dial_timeout's timer goes with its dial-out: a refused one leaves none
// behind on the focus's SIP clock (a timer that fired after the Server was
// gone, on a TimerService the Server does not own, would use it).
TEST_F(ClaimsE2eTest, ARefusedDialOutLeavesNoDialTimerBehind) {
  manual_clock_.emplace(sip::Clock::now());
  start(51400);
  const auto advance = [&](int steps) {
    for (int i = 0; i < steps; ++i) {
      manual_clock_->advance(500ms);
      io_.run_for(2ms);
    }
  };
  advance(4);
  const size_t baseline = manual_clock_->pending();
  refusals_["busy"] = {486, "Busy Here"};
  const std::string target =
      "sip:busy@127.0.0.1:" + std::to_string(client_.listening().front().port);
  ASSERT_EQ(server_->dial_out("tally", target, "").status, 202);
  run_until([&] { return server_->gauges().dialing == 0; });
  ASSERT_EQ(server_->gauges().dialing, 0u);
  EXPECT_EQ(received(Method::kInvite), 1u);
  // 40 s: past the INVITE transaction's Timer D (32 s, RFC 3261 §17.1.1.2),
  // short of the 60 s dial timeout.
  advance(80);
  EXPECT_EQ(manual_clock_->pending(), baseline);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
