// Supervisor and call-control flows end to end on 127.0.0.1, each checked on
// the audio: Join as monitor / whisper / barge (RFC 3911), Replaces (RFC
// 3891), REFER dial-out with sipfrag progress and its toll-fraud guard,
// REFER method=BYE (RFC 4579 §5.8), REFER with Replaces to the music-on-hold
// service (RFC 5359 §2.3) by account or trusted source, dial-out patterns,
// action URNs with Target-Dialog (RFC 4538) in any case, PIN and member
// limits.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "signaling/usage/sipfrag.hpp"
#include "tests/focus/e2e_support.hpp"

extern char** environ;

namespace chorus::focus {
namespace {

using namespace e2e;

class SupervisorE2eTest : public FocusE2e {
 protected:
  void start(uint16_t first, const std::function<void(Options&)>& tweak = {}) {
    start_server(first, first + 99, 30s, [&](Options& options) {
      options.accounts = {
          {"sup", "s3cret", {"monitor", "whisper", "barge", "replace"}},
          {"op", "0pw", {"dial-out", "remove", "moderate"}},
          {"pbx", "pbxpw", {"park"}},
          {"guest", "gpw", {}},
      };
      if (tweak) tweak(options);
    });
  }

  // SUBSCRIBE Event: dialog to `room` as `watcher` (credentials when given):
  // the final response, and the first NOTIFY of that subscription (a copy).
  struct DialogWatch {
    std::optional<Message> response;
    std::optional<Message> notify;
  };
  DialogWatch watch_dialogs(Caller& watcher, std::string_view room, std::string_view user = {},
                            std::string_view password = {}) {
    Message subscribe = request(watcher, Method::kSubscribe, room);
    subscribe.set_header("Event", "dialog");
    subscribe.set_header("Accept", "application/dialog-info+xml");
    DialogWatch out;
    out.response = exchange_auth(watcher, subscribe, {}, user, password);
    if (!out.response || out.response->status() != 200) return out;
    run_until([&] {
      for (const Message& m : client_requests_) {
        if (m.method() == Method::kNotify && m.call_id() == watcher.call_id) out.notify = m;
      }
      return out.notify.has_value();
    });
    return out;
  }

  // As the operator, `caller` REFERs `room` to dial dan, who only rings:
  // true once the REFER is accepted (202) and dan's phone rings.
  bool refer_ringing_dan(Caller& caller, std::string_view room) {
    ring_only_ = {"dan"};
    const std::optional<Message> referred = exchange_auth(
        caller, request(caller, Method::kRefer, room),
        {{"Refer-To", "<" + client_.contact_uri("dan", sip::TransportKind::kUdp) + ">"}}, "op",
        "0pw");
    if (!referred || referred->status() != 202) return false;
    run_until([&] { return ringing_.contains("dan"); });
    return ringing_.contains("dan");
  }
};

TEST_F(SupervisorE2eTest, JoinAsMonitorHearsEveryoneAndIsHeardByNobody) {
  start(45000);
  Caller a(400, "alice"), b(700, "bob"), m(1100, "sup");
  ASSERT_EQ(invite(a, "sendrecv", "sales"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "sales"), 200);
  const std::string uri = room_uri("sales") + ";mode=monitor";
  const Headers join = {{"Join", dialog_ref(a)}};
  // No credentials: challenged; an account without the right: refused.
  Caller probe(1300, "probe");
  EXPECT_EQ(invite_to(probe, "sendrecv", "sales", uri, join), 401);
  Caller guest(1300, "guest");
  EXPECT_EQ(invite_to(guest, "sendrecv", "sales", uri, join, "guest", "gpw"), 403);
  ASSERT_EQ(invite_to(m, "sendrecv", "sales", uri, join, "sup", "s3cret"), 200);

  std::vector<Caller*> all{&a, &b, &m};
  talk(all, 60, 30);
  EXPECT_GT(m.heard(400), kHeard);
  EXPECT_GT(m.heard(700), kHeard);
  EXPECT_LT(a.heard(1100), kSilent);
  EXPECT_LT(b.heard(1100), kSilent);
  EXPECT_GT(a.heard(700), kHeard);
  const auto state = server_->room_state("sales");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 3u);
  EXPECT_EQ(state->members[2].role, MemberRole::kMonitor);
}

TEST_F(SupervisorE2eTest, JoinAsWhisperIsHeardOnlyByTheJoinedMember) {
  start(45100);
  Caller a(400, "alice"), b(700, "bob"), w(1100, "sup");
  ASSERT_EQ(invite(a, "sendrecv", "desk"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "desk"), 200);
  ASSERT_EQ(invite_to(w, "sendrecv", "desk", room_uri("desk") + ";mode=whisper",
                      {{"Join", dialog_ref(a)}}, "sup", "s3cret"),
            200);
  std::vector<Caller*> all{&a, &b, &w};
  talk(all, 60, 30);
  EXPECT_GT(a.heard(1100), kHeard);   // the target hears the coach
  EXPECT_LT(b.heard(1100), kSilent);  // the customer does not
  EXPECT_GT(w.heard(400), kHeard);
  EXPECT_GT(w.heard(700), kHeard);
}

TEST_F(SupervisorE2eTest, JoinWithoutModeBargesInAndEveryoneHears) {
  start(45200);
  Caller a(400, "alice"), b(700, "bob"), s(1100, "sup");
  ASSERT_EQ(invite(a, "sendrecv", "line"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "line"), 200);
  ASSERT_EQ(invite_to(s, "sendrecv", "line", room_uri("line"), {{"Join", dialog_ref(b)}}, "sup",
                      "s3cret"),
            200);
  std::vector<Caller*> all{&a, &b, &s};
  talk(all, 60, 30);
  EXPECT_GT(a.heard(1100), kHeard);
  EXPECT_GT(b.heard(1100), kHeard);
  EXPECT_LT(s.heard(1100), kSilent);
  EXPECT_GT(s.heard(400), kHeard);
}

TEST_F(SupervisorE2eTest, SupervisorKeysSwitchAMonitorToBargeIn) {
  start(46400);
  Caller a(400, "alice"), b(700, "bob"), s(1100, "sup");
  ASSERT_EQ(invite(a, "sendrecv", "keys"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "keys"), 200);
  s.telephone_events = true;
  ASSERT_EQ(invite_to(s, "sendrecv", "keys", room_uri("keys") + ";mode=monitor",
                      {{"Join", dialog_ref(a)}}, "sup", "s3cret"),
            200);
  std::vector<Caller*> all{&a, &b, &s};
  talk(all, 40, 20);
  EXPECT_LT(a.heard(1100), kSilent);  // a silent monitor
  // *3 (RFC 4733 events): barge in, within the account's rights.
  s.press("*3");
  talk(all, 30, 30);
  run_until([&] { return server_->room_state("keys")->members.size() == 3; });
  talk(all, 60, 30);
  EXPECT_GT(a.heard(1100), kHeard);
  EXPECT_GT(b.heard(1100), kHeard);
  const auto state = server_->room_state("keys");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->members.back().role, MemberRole::kBarge);
}

TEST_F(SupervisorE2eTest, HiddenMembersLeaveWithTheLastVisibleOne) {
  start(46450);
  Caller a(400, "alice"), m(1100, "sup");
  ASSERT_EQ(invite(a, "sendrecv", "solo"), 200);
  ASSERT_EQ(invite_to(m, "recvonly", "solo", {}, {{"Join", dialog_ref(a)}}, "sup", "s3cret"), 200);
  EXPECT_EQ(server_->room_state("solo")->members.back().role, MemberRole::kMonitor);
  ASSERT_EQ(bye(a, "solo"), 200);
  // Nobody left to listen to: the monitor's call ends with a BYE from the focus.
  run_until([&] { return received(Method::kBye, m.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, m.call_id), 1u);
  EXPECT_EQ(server_->call_count(), 0u);
  EXPECT_FALSE(server_->room_state("solo").has_value());
}

// The last member the room can hear is turned into a monitor (its *1, or
// the admin API): nobody is left to listen to, so the focus ends its call and
// the room. The role change must not read the room's name from the Call it
// has just ended (a use-after-free under ASan before the fix).
TEST_F(SupervisorE2eTest, TheLastAudibleMemberTurnedMonitorEndsItsCallAndTheRoomCleanly) {
  start(48000);
  Caller a(400, "alice"), s(1100, "sup");
  ASSERT_EQ(invite(a, "sendrecv", "lastone"), 200);
  ASSERT_EQ(invite_to(s, "sendrecv", "lastone", room_uri("lastone"), {{"Join", dialog_ref(a)}},
                      "sup", "s3cret"),
            200);
  ASSERT_EQ(bye(a, "lastone"), 200);
  const auto state = server_->room_state("lastone");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 1u);
  EXPECT_EQ(state->members.front().role, MemberRole::kBarge);
  const ControlResult result =
      server_->set_role("lastone", state->members.front().id, MemberRole::kMonitor, 0);
  EXPECT_EQ(result.status, 200);
  run_until([&] { return received(Method::kBye, s.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, s.call_id), 1u);
  EXPECT_EQ(server_->call_count(), 0u);
  EXPECT_FALSE(server_->room_state("lastone").has_value());
}

TEST_F(SupervisorE2eTest, JoinToAnUnknownDialogIs481AndABadModeIs400) {
  start(45300);
  Caller a(400, "alice"), s(1100, "sup");
  ASSERT_EQ(invite(a, "sendrecv", "x"), 200);
  EXPECT_EQ(invite_to(s, "sendrecv", "x", {}, {{"Join", "nope;to-tag=1;from-tag=2"}}), 481);
  Caller t(1100, "sup");
  EXPECT_EQ(invite_to(t, "sendrecv", "x", room_uri("x") + ";mode=shout", {{"Join", dialog_ref(a)}}),
            400);
}

TEST_F(SupervisorE2eTest, ReplacesTakesTheMembersPlaceAndByesTheOldDialog) {
  start(45400);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "r"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "r"), 200);
  const uint64_t member = server_->room_state("r")->members.front().id;
  ASSERT_TRUE(server_->set_muted("r", member, true).ok());
  // Someone else's dialog needs the replace right.
  Caller mallory(1300, "mallory");
  EXPECT_EQ(invite_to(mallory, "sendrecv", "r", {}, {{"Replaces", dialog_ref(a)}}), 401);
  // Alice moves her call to another device (same AOR): no credentials needed.
  Caller a2(900, "alice");
  ASSERT_EQ(invite_to(a2, "sendrecv", "r", {}, {{"Replaces", dialog_ref(a)}}), 200);
  run_until([&] { return received(Method::kBye, a.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, a.call_id), 1u);  // RFC 3891 §3: the old dialog ends
  const auto state = server_->room_state("r");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 2u);
  EXPECT_EQ(state->members.front().id, member);  // same roster entry
  EXPECT_TRUE(state->members.front().muted);     // same mute state
  ASSERT_TRUE(server_->set_muted("r", member, false).ok());
  a.sending = false;
  std::vector<Caller*> all{&a2, &b};
  talk(all, 60, 30);
  EXPECT_GT(b.heard(900), kHeard);
  EXPECT_GT(a2.heard(700), kHeard);
}

// A call opened with an account (a supervisor's Join: its role keys act
// with the account's rights) is replaced only by that account or one with
// the replace right: a From naming the supervisor, which anyone can write,
// and the dialog's identifiers carry none of its rights over.
TEST_F(SupervisorE2eTest, ACallOpenedWithAnAccountIsReplacedOnlyByThatAccount) {
  start(48300, [](Options& options) {
    options.accounts.push_back({"coach", "cpw", {"monitor"}});  // no replace right
  });
  Caller a(400, "alice"), s(1100, "coach");
  ASSERT_EQ(invite(a, "sendrecv", "q"), 200);
  ASSERT_EQ(invite_to(s, "sendrecv", "q", room_uri("q") + ";mode=monitor",
                      {{"Join", dialog_ref(a)}}, "coach", "cpw"),
            200);
  const Headers replaces = {{"Replaces", dialog_ref(s)}};
  Caller forged(1300, "coach");  // the same From AOR, no credentials
  EXPECT_EQ(invite_to(forged, "sendrecv", "q", {}, replaces), 401);
  Caller guest(1300, "coach");
  EXPECT_EQ(invite_to(guest, "sendrecv", "q", {}, replaces, "guest", "gpw"), 403);
  EXPECT_EQ(received(Method::kBye, s.call_id), 0u);
  ASSERT_EQ(server_->room_state("q")->members.size(), 2u);
  // The coach itself moves its call to another device.
  Caller s2(900, "coach");
  ASSERT_EQ(invite_to(s2, "sendrecv", "q", {}, replaces, "coach", "cpw"), 200);
  run_until([&] { return received(Method::kBye, s.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, s.call_id), 1u);
  const auto state = server_->room_state("q");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 2u);
  EXPECT_EQ(state->members[1].role, MemberRole::kMonitor);
}

TEST_F(SupervisorE2eTest, ReferDialsOutWithSipfragProgressAndTheCalleeHearsTheRoom) {
  start(45500);
  Caller a(400, "alice"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "conf"), 200);
  const std::string target = "<" + client_.contact_uri("carol", sip::TransportKind::kUdp) + ">";
  // The toll-fraud guard: no credentials → 401, no dial-out right → 403.
  std::optional<Message> refused =
      exchange_auth(a, request(a, Method::kRefer, "conf"), {{"Refer-To", target}}, "guest", "gpw");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status(), 403);
  callee_ = &c;
  std::optional<Message> accepted =
      exchange_auth(a, request(a, Method::kRefer, "conf"), {{"Refer-To", target}}, "op", "0pw");
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->status(), 202);
  run_until([&] { return c.mixer_port != 0 && sipfrags().size() >= 2; });
  ASSERT_NE(c.mixer_port, 0);  // our ACK carried the answer with the mixer's port
  const auto frags = sipfrags();
  ASSERT_GE(frags.size(), 2u);
  EXPECT_EQ(frags.front(), "SIP/2.0 100 Trying");
  EXPECT_EQ(frags.back(), "SIP/2.0 200 OK");
  // The INVITE names who asked (RFC 3892) and comes from a focus (RFC 4579).
  const Message* invite = nullptr;
  size_t invites = 0;
  for (const Message& m : client_requests_) {
    if (m.method() != Method::kInvite) continue;
    invite = &m;
    ++invites;
  }
  ASSERT_NE(invite, nullptr);
  EXPECT_EQ(invites, 1u);  // one INVITE: the 2xx's Contact is the dialog's, not a redirect
  EXPECT_TRUE(invite->header("Referred-By").has_value());
  ASSERT_FALSE(invite->contacts().empty());
  EXPECT_TRUE(invite->contacts().front().has_param("isfocus"));
  EXPECT_TRUE(invite->body().empty());  // the callee offers in its 2xx
  std::vector<Caller*> all{&a, &c};
  talk(all, 60, 30);
  EXPECT_GT(c.heard(400), kHeard);
  EXPECT_GT(a.heard(1100), kHeard);
}

TEST_F(SupervisorE2eTest, ReferMakesTheFocusCallASippUasThatHearsTheRoom) {
  if (std::system("command -v sipp >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "sipp missing: deploy/setup installs sip-tester";
  }
  start(46300);
  // sipp answers the focus's offerless INVITE (tests/sipp/uas_late_offer.xml
  // checks the isfocus Contact and Referred-By) and echoes every RTP packet
  // it receives: what the room sends it comes back into the room. Alice
  // hearing her own tone (which N-1 never gives back) proves the UAS heard it.
  const uint16_t sip_port = free_port();
  const uint16_t media_port = free_port();
  const std::string scenario = CHORUS_SOURCE_DIR "/tests/sipp/uas_late_offer.xml";
  const std::string port_text = std::to_string(sip_port);
  const std::string media_text = std::to_string(media_port);
  const char* argv[] = {"sipp",
                        "-sf",
                        scenario.c_str(),
                        "-t",
                        "u1",
                        "-i",
                        "127.0.0.1",
                        "-p",
                        port_text.c_str(),
                        "-mp",
                        media_text.c_str(),
                        "-rtp_echo",
                        "-m",
                        "1",
                        "-timeout",
                        "30s",
                        "-timeout_error",
                        "-nostdin",
                        nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawnp(&pid, "sipp", &actions, nullptr, const_cast<char**>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  io_.run_for(300ms);  // sipp binds

  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "echo"), 200);
  const std::string target = "<sip:callee@127.0.0.1:" + port_text + ">";
  std::optional<Message> accepted =
      exchange_auth(a, request(a, Method::kRefer, "echo"), {{"Refer-To", target}}, "op", "0pw");
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->status(), 202);
  run_until([&] { return server_->call_count() == 2; }, 5000ms);
  ASSERT_EQ(server_->call_count(), 2u) << "the focus did not get the sipp UAS into the room";
  std::vector<Caller*> all{&a};
  talk(all, 75, 35);
  EXPECT_GT(a.heard(400), kHeard) << "the room's audio did not come back from the sipp UAS";

  // The focus ends the UAS's call (and sipp its run) when it stops.
  server_->stop();
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (::waitpid(pid, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
    io_.run_for(20ms);
  }
  if (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "sipp did not finish after the focus's BYE";
  } else {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "sipp's scenario failed";
  }
}

TEST_F(SupervisorE2eTest, ReferWithMethodByeRemovesTheMember) {
  start(45600);
  Caller a(400, "alice"), b(700, "bob"), op(1300, "op");
  ASSERT_EQ(invite(a, "sendrecv", "m"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "m"), 200);
  std::optional<Message> response =
      exchange_auth(op, request(op, Method::kRefer, "m"),
                    {{"Refer-To", "<sip:bob@127.0.0.1;method=BYE>"}}, "op", "0pw");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status(), 202);
  run_until([&] { return received(Method::kBye, b.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, b.call_id), 1u);
  EXPECT_EQ(server_->call_count(), 1u);
  EXPECT_EQ(server_->room_state("m")->members.size(), 1u);
}

TEST_F(SupervisorE2eTest, ReferWithReplacesToTheMohServiceGivesTheTargetMusic) {
  start(45700);
  Caller holder(400, "bob"), held(700, "alice");
  // Bob and Alice talk elsewhere (a dialog the focus does not know); Bob
  // parks Alice on music: REFER to sip:moh@ with Refer-To naming Alice and
  // the Bob–Alice dialog in an embedded Replaces (RFC 5359 §2.3).
  callee_ = &held;
  const std::string replaces = "abc%40host%3Bto-tag%3D11%3Bfrom-tag%3D22";
  const std::string target =
      "<" + client_.contact_uri("alice", sip::TransportKind::kUdp) + "?Replaces=" + replaces + ">";
  // The account way (the default): an account with the park right.
  std::optional<Message> response = exchange_auth(holder, request(holder, Method::kRefer, "moh"),
                                                  {{"Refer-To", target}}, "pbx", "pbxpw");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status(), 202);
  run_until([&] { return held.mixer_port != 0; });
  ASSERT_NE(held.mixer_port, 0);
  const Message* invite = nullptr;
  for (const Message& m : client_requests_) {
    if (m.method() == Method::kInvite) invite = &m;
  }
  ASSERT_NE(invite, nullptr);
  EXPECT_EQ(invite->header("Replaces").value_or(""), "abc@host;to-tag=11;from-tag=22");
  EXPECT_EQ(invite->header("Require").value_or(""), "replaces");  // RFC 3891 §3
  std::vector<Caller*> all{&held};
  talk(all, 60, 30);
  EXPECT_GT(held.level(), 300.0);  // the music-on-hold tune
}

TEST_F(SupervisorE2eTest, AParkedCallHearsMusicAndIsRetrievedByAnAuthorisedReplaces) {
  start(46200);
  Caller holder(400, "bob"), held(700, "alice"), retriever(1100, "sup");
  callee_ = &held;
  const std::string target = "<" + client_.contact_uri("alice", sip::TransportKind::kUdp) +
                             "?Replaces=bob-alice%40bob%3Bto-tag%3D1%3Bfrom-tag%3D2>";
  std::optional<Message> response = exchange_auth(holder, request(holder, Method::kRefer, "park"),
                                                  {{"Refer-To", target}}, "pbx", "pbxpw");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status(), 202);
  run_until([&] { return held.mixer_port != 0; });
  ASSERT_NE(held.mixer_port, 0);
  callee_ = nullptr;
  std::vector<Caller*> parked{&held};
  talk(parked, 40, 20);
  EXPECT_GT(held.level(), 300.0);  // parked callers hear music
  // sip:park@ publishes the parked dialog (what a retriever builds Replaces from).
  const auto park = server_->room_state("park");
  ASSERT_TRUE(park.has_value());
  ASSERT_EQ(park->members.size(), 1u);
  EXPECT_EQ(park->members.front().dialog.call_id, held.call_id);
  // Retrieval needs the replace right; it joins the parked caller, who
  // leaves hold and is not sent away.
  Caller stranger(1300, "stranger");
  EXPECT_EQ(invite_to(stranger, "sendrecv", "park", {}, {{"Replaces", dialog_ref(held)}}), 401);
  ASSERT_EQ(invite_to(retriever, "sendrecv", "park", {}, {{"Replaces", dialog_ref(held)}}, "sup",
                      "s3cret"),
            200);
  std::vector<Caller*> both{&held, &retriever};
  talk(both, 60, 30);
  EXPECT_GT(retriever.heard(700), kHeard);
  EXPECT_GT(held.heard(1100), kHeard);
  EXPECT_EQ(received(Method::kBye, held.call_id), 0u);
  EXPECT_TRUE(server_->room_state("park")->members.empty());
}

// Issue 13's toll fraud: an unauthenticated REFER to sip:moh@ / sip:park@
// with an embedded Replaces must not make the focus ring an arbitrary URI.
TEST_F(SupervisorE2eTest, AnUnauthenticatedReferToMohOrParkIsChallengedAndRingsNobody) {
  start(47000, [](Options& options) { options.service_trusted_sources = {"10.0.0.0/8"}; });
  Caller holder(400, "bob"), target_party(700, "victim");
  callee_ = &target_party;
  const std::string target = "<" + client_.contact_uri("victim", sip::TransportKind::kUdp) +
                             "?Replaces=x%40y%3Bto-tag%3D1%3Bfrom-tag%3D2>";
  for (const char* service : {"moh", "park"}) {
    SCOPED_TRACE(service);
    std::optional<Message> refused =
        exchange_auth(holder, request(holder, Method::kRefer, service), {{"Refer-To", target}});
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status(), 401);
    EXPECT_TRUE(refused->header("WWW-Authenticate").has_value());
    // An account without the park right (dial-out alone is not it): 403.
    std::optional<Message> forbidden = exchange_auth(
        holder, request(holder, Method::kRefer, service), {{"Refer-To", target}}, "op", "0pw");
    ASSERT_TRUE(forbidden.has_value());
    EXPECT_EQ(forbidden->status(), 403);
  }
  io_.run_for(300ms);
  EXPECT_EQ(std::count_if(client_requests_.begin(), client_requests_.end(),
                          [](const Message& m) { return m.method() == Method::kInvite; }),
            0);
  EXPECT_EQ(server_->gauges().dialing, 0u);
  EXPECT_EQ(server_->call_count(), 0u);
}

// The other way, configured: a trusted source (one's own PBX) needs no account.
TEST_F(SupervisorE2eTest, ATrustedSourceReferToMohNeedsNoAccountButStillOnlyWithReplaces) {
  start(47100, [](Options& options) { options.service_trusted_sources = {"127.0.0.0/8"}; });
  Caller holder(400, "bob"), held(700, "alice");
  callee_ = &held;
  const std::string plain = "<" + client_.contact_uri("alice", sip::TransportKind::kUdp) + ">";
  // Without Replaces it is a plain dial-out: the dial-out right, trusted or not.
  std::optional<Message> refused =
      exchange_auth(holder, request(holder, Method::kRefer, "moh"), {{"Refer-To", plain}});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status(), 401);
  const std::string target = "<" + client_.contact_uri("alice", sip::TransportKind::kUdp) +
                             "?Replaces=a%40b%3Bto-tag%3D1%3Bfrom-tag%3D2>";
  std::optional<Message> response =
      exchange_auth(holder, request(holder, Method::kRefer, "moh"), {{"Refer-To", target}});
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status(), 202);
  run_until([&] { return held.mixer_port != 0; });
  ASSERT_NE(held.mixer_port, 0);
  std::vector<Caller*> all{&held};
  talk(all, 60, 30);
  EXPECT_GT(held.level(), 300.0);  // the music-on-hold tune
}

// Dial-out patterns: the focus calls only what the account's patterns allow,
// for every request it sends on the account's behalf (REFER dial-out, MOH /
// park target, a maddr that would route elsewhere).
TEST_F(SupervisorE2eTest, DialOutPatternsBoundWhereAnAccountMayMakeTheFocusCall) {
  start(47200, [](Options& options) {
    options.accounts.push_back({"local", "lpw", {"dial-out", "park"}, {"*@127.0.0.1"}});
    options.accounts.push_back({"remote", "rpw", {"dial-out", "park"}, {"*@192.0.2.7"}});
  });
  Caller a(400, "alice"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "dp"), 200);
  const std::string carol = client_.contact_uri("carol", sip::TransportKind::kUdp);
  const auto status = [&](std::string_view room, const std::string& refer_to, const char* user,
                          const char* password) {
    std::optional<Message> r = exchange_auth(a, request(a, Method::kRefer, room),
                                             {{"Refer-To", refer_to}}, user, password);
    return r ? r->status() : 0;
  };
  const std::string replaces = "?Replaces=a%40b%3Bto-tag%3D1%3Bfrom-tag%3D2";
  EXPECT_EQ(status("dp", "<" + carol + ">", "remote", "rpw"), 403);
  EXPECT_EQ(status("moh", "<" + carol + replaces + ">", "remote", "rpw"), 403);
  EXPECT_EQ(status("dp", "<" + carol + ";maddr=192.0.2.9>", "local", "lpw"), 403);
  io_.run_for(200ms);
  EXPECT_EQ(std::count_if(client_requests_.begin(), client_requests_.end(),
                          [](const Message& m) { return m.method() == Method::kInvite; }),
            0);
  callee_ = &c;
  EXPECT_EQ(status("dp", "<" + carol + ">", "local", "lpw"), 202);
  run_until([&] { return c.mixer_port != 0; });
  EXPECT_NE(c.mixer_port, 0);
  EXPECT_EQ(server_->room_calls("dp"), 2u);
}

// RFC 3261 §8.1.3.4 with RFC 5850 §4's guard: a 3xx from a dial-out's
// callee is followed once, to its Contact, only when the account that asked
// may call that target too; the referrer hears the final outcome.
TEST_F(SupervisorE2eTest, ADialOut3xxIsFollowedOnceAndOnlyWithinTheAccountsPatterns) {
  start(47250, [](Options& options) {
    options.accounts.push_back({"local", "lpw", {"dial-out"}, {"*@127.0.0.1"}});
  });
  Caller a(400, "alice"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "rd"), 200);
  const auto uri = [&](const char* user) {
    return client_.contact_uri(user, sip::TransportKind::kUdp);
  };
  redirects_["dave"] = uri("carol");                  // allowed: 127.0.0.1
  redirects_["erin"] = "sip:carol@192.0.2.9";         // outside the patterns
  redirects_["frank"] = uri("gina");                  // and gina moves again
  redirects_["gina"] = uri("carol");
  const auto refer = [&](const char* user) {
    std::optional<Message> r =
        exchange_auth(a, request(a, Method::kRefer, "rd"), {{"Refer-To", "<" + uri(user) + ">"}},
                      "local", "lpw");
    return r ? r->status() : 0;
  };
  const auto invites_to = [&](std::string_view user) {
    std::vector<const Message*> out;
    for (const Message& m : client_requests_) {
      if (m.method() == Method::kInvite && m.request_uri().user == user) out.push_back(&m);
    }
    return out;
  };
  const auto final_sipfrag = [&](size_t before) {
    run_until([&] {
      const auto frags = sipfrags();
      return frags.size() > before && frags.back().find(" 1") == std::string::npos;
    });
    const auto frags = sipfrags();
    return frags.size() > before ? frags.back() : std::string();
  };

  // Followed: dave's 302 leads to carol, who answers; one call, CSeq + 1.
  callee_ = &c;
  size_t frags = sipfrags().size();
  ASSERT_EQ(refer("dave"), 202);
  EXPECT_EQ(final_sipfrag(frags), "SIP/2.0 200 OK");
  run_until([&] { return c.mixer_port != 0; });
  EXPECT_NE(c.mixer_port, 0);
  ASSERT_EQ(invites_to("dave").size(), 1u);
  ASSERT_EQ(invites_to("carol").size(), 1u);
  const Message& first = *invites_to("dave").front();
  const Message& second = *invites_to("carol").front();
  EXPECT_EQ(second.call_id(), first.call_id());
  EXPECT_EQ(second.from().tag(), first.from().tag());
  EXPECT_EQ(second.cseq().number, first.cseq().number + 1);
  EXPECT_EQ(server_->room_calls("rd"), 2u);
  std::vector<Caller*> all{&a, &c};
  talk(all, 60, 30);
  EXPECT_GT(c.heard(400), kHeard);
  EXPECT_GT(a.heard(1100), kHeard);
  callee_ = nullptr;

  // Not followed: the Contact is outside the account's dial-out patterns.
  frags = sipfrags().size();
  ASSERT_EQ(refer("erin"), 202);
  EXPECT_EQ(final_sipfrag(frags), "SIP/2.0 302 Moved Temporarily");
  EXPECT_EQ(invites_to("carol").size(), 1u);  // nothing more toward any carol

  // Followed once only: frank → gina is followed, gina's own 302 is not.
  frags = sipfrags().size();
  ASSERT_EQ(refer("frank"), 202);
  EXPECT_EQ(final_sipfrag(frags), "SIP/2.0 302 Moved Temporarily");
  EXPECT_EQ(invites_to("frank").size(), 1u);
  EXPECT_EQ(invites_to("gina").size(), 1u);
  EXPECT_EQ(invites_to("carol").size(), 1u);
  EXPECT_EQ(server_->room_calls("rd"), 2u);
  EXPECT_EQ(server_->gauges().dialing, 0u);
}

// RFC 5850 §5 / RFC 4579 §5.8 on a call the focus placed that is still
// ringing: call:terminate with Target-Dialog naming its early dialog, and
// REFER method=BYE naming its URI, stop it with CANCEL (RFC 3261 §9.1).
TEST_F(SupervisorE2eTest, TerminateAndReferByeCancelARingingDialOut) {
  start(47270);
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "ring"), 200);
  ring_only_ = {"dan", "dora"};
  const auto uri = [&](const char* user) {
    return client_.contact_uri(user, sip::TransportKind::kUdp);
  };
  const auto refer = [&](const Headers& headers) {
    std::optional<Message> r =
        exchange_auth(a, request(a, Method::kRefer, "ring"), headers, "op", "0pw");
    return r ? r->status() : 0;
  };
  const auto alerting = [&](const std::string& entity) -> const MemberState* {
    static std::optional<ConferenceState> state;
    state = server_->room_state("ring");
    if (!state) return nullptr;
    for (const MemberState& m : state->members) {
      if (m.entity == entity && m.status == "alerting") return &m;
    }
    return nullptr;
  };

  ASSERT_EQ(refer({{"Refer-To", "<" + uri("dan") + ">"}}), 202);
  run_until([&] { return alerting(uri("dan")) != nullptr; });
  const MemberState* dan = alerting(uri("dan"));
  ASSERT_NE(dan, nullptr);
  ASSERT_EQ(dan->dialog.early_remote_tags, std::vector<std::string>{"ring-dan"});
  // Target-Dialog as the dialog package shows it: local = the focus's tag.
  const std::string target_dialog = dan->dialog.call_id + ";local-tag=" + dan->dialog.local_tag +
                                    ";remote-tag=" + dan->dialog.early_remote_tags.front();
  EXPECT_EQ(refer({{"Refer-To", "<urn:sip-action:call:terminate>"},
                   {"Target-Dialog", target_dialog}}),
            202);
  run_until([&] { return server_->gauges().dialing == 0; });
  EXPECT_EQ(server_->gauges().dialing, 0u);
  ASSERT_TRUE(ringing_.contains("dan"));
  // The CANCEL reached dan's stack, which answered the INVITE 487 itself.
  EXPECT_FALSE(ringing_.at("dan").respond(200, "OK"));

  ASSERT_EQ(refer({{"Refer-To", "<" + uri("dora") + ">"}}), 202);
  run_until([&] { return alerting(uri("dora")) != nullptr; });
  ASSERT_NE(alerting(uri("dora")), nullptr);
  EXPECT_EQ(refer({{"Refer-To", "<" + uri("dora") + ";method=BYE>"}}), 202);
  run_until([&] { return server_->gauges().dialing == 0; });
  EXPECT_EQ(server_->gauges().dialing, 0u);
  EXPECT_FALSE(ringing_.at("dora").respond(200, "OK"));
  EXPECT_EQ(server_->room_calls("ring"), 1u);
  const auto state = server_->room_state("ring");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->members.size(), 1u);
}

// A dial-out nobody answers is not left ringing for ever: after
// dial_timeout the focus CANCELs it, and the referrer hears how it ended.
TEST_F(SupervisorE2eTest, ADialOutNobodyAnswersIsCancelledAfterTheDialTimeout) {
  start(48100, [](Options& options) { options.dial_timeout = 1500ms; });
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "noanswer"), 200);
  const size_t frags = sipfrags().size();
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(refer_ringing_dan(a, "noanswer"));
  run_until([&] { return server_->gauges().dialing == 0; }, 6000ms);
  EXPECT_EQ(server_->gauges().dialing, 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 1400ms);  // not before the timeout
  run_until([&] {
    const auto all = sipfrags();
    return all.size() > frags && all.back().find(" 1") == std::string::npos;
  });
  ASSERT_GT(sipfrags().size(), frags);
  EXPECT_EQ(sipfrags().back(), "SIP/2.0 487 Request Terminated");
  // The CANCEL reached dan's stack, which ended the INVITE with 487 itself.
  EXPECT_FALSE(ringing_.at("dan").respond(200, "OK"));
  EXPECT_EQ(server_->room_calls("noanswer"), 1u);
}

// The last member hangs up while a call it asked for still rings: the room
// closes and that call is CANCELled, instead of opening the room again,
// alone, when the callee answers.
TEST_F(SupervisorE2eTest, ADialOutStillRingingWhenTheRoomEndsIsCancelled) {
  start(48200);
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "gone"), 200);
  ASSERT_TRUE(refer_ringing_dan(a, "gone"));
  ASSERT_EQ(bye(a, "gone"), 200);
  run_until([&] { return server_->gauges().dialing == 0; });
  EXPECT_EQ(server_->gauges().dialing, 0u);
  // The CANCEL reached dan's stack, which ended the INVITE with 487 itself.
  EXPECT_FALSE(ringing_.at("dan").respond(200, "OK"));
  EXPECT_FALSE(server_->room_state("gone").has_value());
  EXPECT_EQ(server_->call_count(), 0u);
}

// RFC 5359 §2.16 directed pickup of a call the focus places: Carol takes
// the ringing dial-out to Dan with Replaces naming its early dialog (as the
// dialog package shows it) and ;early-only. Dan's INVITE is CANCELled,
// Carol joins the room in Dan's place and hears it; the pickup right is
// needed whoever the picker is.
TEST_F(SupervisorE2eTest, ARingingDialOutIsPickedUpWithReplacesEarlyOnly) {
  start(48600, [](Options& options) {
    options.accounts.push_back({"picker", "ppw", {"pickup"}});
  });
  Caller a(400, "alice"), op(1300, "op");
  ASSERT_EQ(invite(a, "sendrecv", "pick"), 200);
  ring_only_ = {"dan"};
  const std::string dan_uri = client_.contact_uri("dan", sip::TransportKind::kUdp);
  std::optional<Message> referred = exchange_auth(op, request(op, Method::kRefer, "pick"),
                                                  {{"Refer-To", "<" + dan_uri + ">"}}, "op", "0pw");
  ASSERT_TRUE(referred.has_value());
  ASSERT_EQ(referred->status(), 202);
  std::optional<MemberDialog> dan;
  run_until([&] {
    const auto state = server_->room_state("pick");
    for (const MemberState& m : state ? state->members : std::vector<MemberState>{}) {
      if (m.entity == dan_uri && m.status == "alerting") dan = m.dialog;
    }
    return dan.has_value();
  });
  ASSERT_TRUE(dan.has_value());
  ASSERT_EQ(dan->early_remote_tags.size(), 1u);
  // RFC 3891 §3, the focus's view: to-tag = its own tag, from-tag = Dan's.
  const std::string replaces = dan->call_id + ";to-tag=" + dan->local_tag +
                               ";from-tag=" + dan->early_remote_tags.front() + ";early-only";
  Caller c(1100, "carol"), c2(1100, "carol"), c3(1100, "carol"), c4(1100, "carol");
  EXPECT_EQ(invite_to(c, "sendrecv", "pick", {}, {{"Replaces", replaces}}), 401);
  EXPECT_EQ(invite_to(c2, "sendrecv", "pick", {}, {{"Replaces", replaces}}, "sup", "s3cret"), 403);
  // A from-tag of no early dialog names nothing.
  EXPECT_EQ(invite_to(c3, "sendrecv", "pick", {},
                      {{"Replaces", dan->call_id + ";to-tag=" + dan->local_tag +
                                        ";from-tag=nobody;early-only"}},
                      "picker", "ppw"),
            481);
  EXPECT_EQ(server_->gauges().dialing, 1u);  // refusals stop nothing
  ASSERT_EQ(invite_to(c4, "sendrecv", "pick", {}, {{"Replaces", replaces}}, "picker", "ppw"), 200);
  run_until([&] { return server_->gauges().dialing == 0; });
  EXPECT_EQ(server_->gauges().dialing, 0u);
  // The CANCEL reached Dan's stack, which answered the INVITE 487 itself.
  ASSERT_TRUE(ringing_.contains("dan"));
  EXPECT_FALSE(ringing_.at("dan").respond(200, "OK"));
  const auto state = server_->room_state("pick");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 2u);
  EXPECT_EQ(state->members.back().role, MemberRole::kParticipant);  // the dial-out's role
  std::vector<Caller*> both{&a, &c4};
  talk(both, 60, 30);
  EXPECT_GT(c4.heard(400), kHeard);  // the picker hears the room
  EXPECT_GT(a.heard(1100), kHeard);  // and the room hears the picker
}

// RFC 4579 §5.8 / RFC 5850 §6: REFER method=BYE names the member by
// Target-Dialog, or by the BYE's Call-ID/From/To embedded in the Refer-To
// URI; by its URI alone only when that names one member. Two anonymous
// callers share an AOR and a Contact: the URI is refused, never guessed.
TEST_F(SupervisorE2eTest, ReferByeNamesTheMemberByDialogAndNeverGuessesBetweenTwoAnonymous) {
  start(48700);
  Caller x(400, "anonymous"), y(700, "anonymous"), a(1100, "alice"), other(1500, "olga");
  ASSERT_EQ(invite(x, "sendrecv", "rb"), 200);
  ASSERT_EQ(invite(y, "sendrecv", "rb"), 200);
  ASSERT_EQ(invite(a, "sendrecv", "rb"), 200);
  ASSERT_EQ(invite(other, "sendrecv", "elsewhere"), 200);
  const auto refer = [&](std::string_view refer_to, const Headers& extra = {}) {
    Caller op(1300, "op");
    Headers headers{{"Refer-To", std::string(refer_to)}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    std::optional<Message> r =
        exchange_auth(op, request(op, Method::kRefer, "rb"), headers, "op", "0pw");
    return r ? r->status() : 0;
  };
  const auto escape = [](std::string_view text) {
    std::string out;
    for (const char ch : text) {
      if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_') {
        out += ch;
      } else {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(ch));
        out += hex;
      }
    }
    return out;
  };
  const std::string anonymous = "<sip:anonymous@127.0.0.1;method=BYE>";
  EXPECT_EQ(refer(anonymous), 485);
  // Target-Dialog as the dialog package shows it (local = the focus's tag).
  EXPECT_EQ(refer(anonymous, {{"Target-Dialog", y.call_id + ";local-tag=" + y.to_tag +
                                                    ";remote-tag=" + y.from_tag}}),
            202);
  run_until([&] { return received(Method::kBye, y.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, y.call_id), 1u);
  EXPECT_EQ(received(Method::kBye, x.call_id), 0u);
  // A dialog in another room, or none at all: 481, nobody removed.
  EXPECT_EQ(refer(anonymous, {{"Target-Dialog", other.call_id + ";local-tag=" + other.to_tag +
                                                    ";remote-tag=" + other.from_tag}}),
            481);
  const std::string embedded = "<sip:anonymous@127.0.0.1;method=BYE?Call-ID=" +
                               escape(x.call_id) + "&From=" +
                               escape("<sip:rb@127.0.0.1>;tag=" + x.to_tag) + "&To=" +
                               escape("<sip:anonymous@127.0.0.1>;tag=" + x.from_tag) + ">";
  const std::string wrong = "<sip:anonymous@127.0.0.1;method=BYE?Call-ID=" + escape(x.call_id) +
                            "&From=" + escape("<sip:rb@127.0.0.1>;tag=nope") + ">";
  EXPECT_EQ(refer(wrong), 481);
  EXPECT_EQ(received(Method::kBye, x.call_id), 0u);
  EXPECT_EQ(refer(embedded), 202);
  run_until([&] { return received(Method::kBye, x.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, x.call_id), 1u);
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);
  EXPECT_EQ(received(Method::kBye, other.call_id), 0u);
  EXPECT_EQ(server_->room_calls("rb"), 1u);
  EXPECT_EQ(server_->room_calls("elsewhere"), 1u);
}

// RFC 5359 §2.3, flow by flow: the music-on-hold service calls Alice with
// Replaces from a Contact marked automaton / +sip.byeless /
// +sip.rendering="no"; the final NOTIFY (F17) carries the 200's From, To
// and Call-ID, from which Bob builds the Replaces that takes Alice back;
// Alice's phone then ends the service's dialog with BYE.
TEST_F(SupervisorE2eTest, MohFinalSipfragCarriesTheDialogAndTheHolderRetrievesTheCall) {
  start(48800);
  Caller holder(400, "bob"), held(700, "alice");
  callee_ = &held;
  const std::string target = "<" + client_.contact_uri("alice", sip::TransportKind::kUdp) +
                             "?Replaces=bob-alice%40bob%3Bto-tag%3D1%3Bfrom-tag%3D2>";
  std::optional<Message> response = exchange_auth(holder, request(holder, Method::kRefer, "moh"),
                                                  {{"Refer-To", target}}, "pbx", "pbxpw");
  ASSERT_TRUE(response.has_value());
  ASSERT_EQ(response->status(), 202);
  std::optional<Message> final_notify;  // a copy: client_requests_ grows
  run_until([&] {
    for (const Message& m : client_requests_) {
      if (m.method() == Method::kNotify && m.body().starts_with("SIP/2.0 200")) final_notify = m;
    }
    return final_notify.has_value() && held.mixer_port != 0;
  });
  ASSERT_TRUE(final_notify.has_value());
  ASSERT_NE(held.mixer_port, 0);
  const Message* invite = nullptr;
  for (const Message& m : client_requests_) {
    if (m.method() == Method::kInvite) invite = &m;
  }
  ASSERT_NE(invite, nullptr);
  const auto contacts = invite->contacts();  // a vector of its own
  ASSERT_FALSE(contacts.empty());
  const auto& contact = contacts.front();
  EXPECT_TRUE(contact.has_param("automaton"));
  EXPECT_TRUE(contact.has_param("+sip.byeless"));
  EXPECT_EQ(contact.param("+sip.rendering").value_or(""), "\"no\"");
  // F17: terminated, and the fragment names the service's dialog with Alice.
  EXPECT_NE(final_notify->header("Subscription-State").value_or("").find("terminated"),
            std::string_view::npos);
  const std::optional<sip::SipfragStatus> frag = sip::parse_sipfrag_status(final_notify->body());
  ASSERT_TRUE(frag.has_value());
  std::map<std::string, std::string> lines;
  std::string_view rest = frag->headers;
  while (!rest.empty()) {
    const size_t end = rest.find("\r\n");
    const std::string_view line = rest.substr(0, end);
    if (const size_t colon = line.find(": "); colon != std::string_view::npos) {
      lines[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 2));
    }
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
  }
  const auto from = sip::parse_name_addr(lines["From"]);
  const auto to = sip::parse_name_addr(lines["To"]);
  ASSERT_TRUE(from && to) << final_notify->body();
  EXPECT_EQ(lines["Call-ID"], held.call_id);
  EXPECT_EQ(from->tag(), held.to_tag);  // the service's tag
  EXPECT_EQ(to->tag(), held.from_tag);  // Alice's tag
  // Bob's INVITE to Alice: to-tag = Alice's tag, from-tag = the service's.
  const std::string replaces = lines["Call-ID"] + ";to-tag=" + std::string(to->tag()) +
                               ";from-tag=" + std::string(from->tag());
  EXPECT_EQ(replaces, held.call_id + ";to-tag=" + held.from_tag + ";from-tag=" + held.to_tag);
  // Alice accepts it and hangs up on the service (RFC 3891 §3).
  EXPECT_EQ(bye(held, "moh"), 200);
  run_until([&] { return server_->room_calls("moh") == 0; });
  EXPECT_EQ(server_->room_calls("moh"), 0u);
  EXPECT_EQ(server_->gauges().calls, 0u);
}

// RFC 5359 §2.15 with the call dialled straight to sip:park@ (or blind-
// transferred there, which reaches the focus as the same INVITE): parked
// like a REFERred call, published by SUBSCRIBE sip:park@ Event: dialog with
// its tags and remote target, and retrieved with Replaces (Carol → Alice).
TEST_F(SupervisorE2eTest, ACallDialledStraightToParkIsParkedPublishedAndRetrieved) {
  start(48900, [](Options& options) {
    options.accounts.push_back({"watch", "wpw", {"dialog-subscribe"}});
  });
  Caller alice(700, "alice"), watcher(1300, "watch"), carol(1100, "carol");
  ASSERT_EQ(invite(alice, "sendrecv", "park"), 200);
  EXPECT_EQ(server_->room_calls("park"), 0u);  // not a room called "park"
  std::vector<Caller*> parked{&alice};
  talk(parked, 40, 20);
  EXPECT_GT(alice.level(), 300.0);  // music on hold
  const DialogWatch watch = watch_dialogs(watcher, "park", "watch", "wpw");
  ASSERT_TRUE(watch.response.has_value());
  ASSERT_EQ(watch.response->status(), 200);
  ASSERT_TRUE(watch.notify.has_value());
  const std::string body(watch.notify->body());
  EXPECT_NE(body.find("call-id=\"" + alice.call_id + "\""), std::string::npos) << body;
  EXPECT_NE(body.find("local-tag=\"" + alice.to_tag + "\""), std::string::npos) << body;
  EXPECT_NE(body.find("remote-tag=\"" + alice.from_tag + "\""), std::string::npos) << body;
  // The remote target: where a retriever's phone could send its INVITE.
  EXPECT_NE(body.find("<target uri=\"" + client_.contact_uri("alice", sip::TransportKind::kUdp)),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("<state>confirmed</state>"), std::string::npos) << body;
  ASSERT_EQ(invite_to(carol, "sendrecv", "park", {}, {{"Replaces", dialog_ref(alice)}}, "sup",
                      "s3cret"),
            200);
  std::vector<Caller*> both{&alice, &carol};
  talk(both, 60, 30);
  EXPECT_GT(carol.heard(700), kHeard);
  EXPECT_GT(alice.heard(1100), kHeard);
  EXPECT_EQ(received(Method::kBye, alice.call_id), 0u);
  EXPECT_TRUE(server_->park_state().members.empty());
}

// A Join as a plain participant needs no right, so it gets no more than a
// dial-in: the joined room's PIN still applies.
TEST_F(SupervisorE2eTest, AParticipantJoinIsADialInUnderTheRoomsPolicy) {
  start(47300, [](Options& options) { options.rooms = {{"board", "4321", 0}}; });
  Caller a(400, "alice"), m(700, "mallory"), m2(700, "mallory");
  ASSERT_EQ(invite_to(a, "sendrecv", "board", room_uri("board") + ";pin=4321", {}), 200);
  EXPECT_EQ(invite_to(m, "sendrecv", "board", room_uri("board") + ";mode=participant;pin=1",
                      {{"Join", dialog_ref(a)}}),
            403);
  EXPECT_EQ(invite_to(m2, "sendrecv", "board", room_uri("board") + ";mode=participant;pin=4321",
                      {{"Join", dialog_ref(a)}}),
            200);
}

TEST_F(SupervisorE2eTest, ActionUrnMutesTheTargetDialogsMember) {
  start(45800);
  Caller a(400, "alice"), b(700, "bob"), op(1300, "op");
  ASSERT_EQ(invite(a, "sendrecv", "u"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "u"), 200);
  const std::string target_dialog =
      a.call_id + ";local-tag=" + a.from_tag + ";remote-tag=" + a.to_tag;
  std::optional<Message> unknown = exchange_auth(
      op, request(op, Method::kRefer, "u"),
      {{"Refer-To", "<urn:sip-action:call:dance>"}, {"Target-Dialog", target_dialog}}, "op", "0pw");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->status(), 501);
  std::optional<Message> missing = exchange_auth(op, request(op, Method::kRefer, "u"),
                                                 {{"Refer-To", "<urn:sip-action:call:mute>"}});
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status(), 400);
  std::optional<Message> muted = exchange_auth(
      op, request(op, Method::kRefer, "u"),
      {{"Refer-To", "<urn:sip-action:call:mute>"}, {"Target-Dialog", target_dialog}}, "op", "0pw");
  ASSERT_TRUE(muted.has_value());
  EXPECT_EQ(muted->status(), 202);
  std::vector<Caller*> all{&a, &b};
  talk(all, 60, 30);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_TRUE(server_->room_state("u")->members.front().muted);
}

// Issue 13: the action name is normalised once, so `Call:Mute` and
// `CALL:TERMINATE` do exactly what their lower-case forms do and need the
// same right (a moderate account cannot terminate in any spelling).
TEST_F(SupervisorE2eTest, MixedCaseActionUrnsActLikeLowerCaseAndNeedTheSameRight) {
  start(47400, [](Options& options) { options.accounts.push_back({"mod", "mpw", {"moderate"}}); });
  Caller a(400, "alice"), b(700, "bob"), op(1300, "op");
  ASSERT_EQ(invite(a, "sendrecv", "mc"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "mc"), 200);
  const std::string a_dialog = a.call_id + ";local-tag=" + a.from_tag + ";remote-tag=" + a.to_tag;
  const auto act = [&](const std::string& urn, const char* user, const char* password) {
    std::optional<Message> r =
        exchange_auth(op, request(op, Method::kRefer, "mc"),
                      {{"Refer-To", "<urn:sip-action:" + urn + ">"}, {"Target-Dialog", a_dialog}},
                      user, password);
    return r ? r->status() : 0;
  };
  for (const char* terminate : {"call:terminate", "Call:Terminate", "CALL:TERMINATE",
                                "conference:remove", "CONFERENCE:Remove"}) {
    SCOPED_TRACE(terminate);
    EXPECT_EQ(act(terminate, "mod", "mpw"), 403);
  }
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);
  EXPECT_EQ(act("Call:Mute", "mod", "mpw"), 202);
  std::vector<Caller*> all{&a, &b};
  talk(all, 60, 30);
  EXPECT_LT(b.heard(400), kSilent);  // Alice is muted, not hung up
  EXPECT_TRUE(server_->room_state("mc")->members.front().muted);
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);
  EXPECT_EQ(act("CALL:UNMUTE", "mod", "mpw"), 202);
  talk(all, 60, 30);
  EXPECT_GT(b.heard(400), kHeard);
  // And the right holder's CALL:TERMINATE hangs Alice up like call:terminate.
  EXPECT_EQ(act("CALL:TERMINATE", "op", "0pw"), 202);
  run_until([&] { return received(Method::kBye, a.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, a.call_id), 1u);
  EXPECT_EQ(server_->room_calls("mc"), 1u);
}

// xmllint --schema against the RFC 4575 schema typed into tests/focus/schema.
bool valid_conference_info(const std::string& xml) {
  char path[] = "/tmp/chorus-conference-info-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return false;
  const bool written = ::write(fd, xml.data(), xml.size()) == static_cast<ssize_t>(xml.size());
  ::close(fd);
  const std::string command = "xmllint --noout --schema " CHORUS_SOURCE_DIR
                              "/tests/focus/schema/conference-info.xsd " +
                              std::string(path) + " >/dev/null 2>&1";
  const bool ok = written && std::system(command.c_str()) == 0;
  ::unlink(path);
  return ok;
}

TEST_F(SupervisorE2eTest, ConferencePackageSendsFullThenPartialStates) {
  start(46000);
  Caller a(400, "alice"), b(700, "bob"), watcher(1300, "watcher");
  ASSERT_EQ(invite(a, "sendrecv", "news"), 200);
  const std::optional<Message> ok = subscribe_conference(watcher, "news");
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200);
  auto notifies = [&] {
    std::vector<std::string> bodies;
    for (const Message& m : client_requests_) {
      if (m.method() == Method::kNotify && m.call_id() == watcher.call_id) {
        EXPECT_EQ(m.content_type(), "application/conference-info+xml");
        bodies.emplace_back(m.body());
      }
    }
    return bodies;
  };
  run_until([&] { return notifies().size() >= 1; });
  ASSERT_EQ(notifies().size(), 1u);
  const std::string full = notifies()[0];
  EXPECT_NE(full.find("state=\"full\""), std::string::npos) << full;
  EXPECT_NE(full.find("version=\"1\""), std::string::npos) << full;
  EXPECT_NE(full.find("sip:alice@127.0.0.1"), std::string::npos) << full;
  EXPECT_NE(full.find("<user-count>1</user-count>"), std::string::npos) << full;
  EXPECT_TRUE(valid_conference_info(full)) << full;

  // Bob joins: a partial document, version 2, naming only Bob.
  ASSERT_EQ(invite(b, "sendrecv", "news"), 200);
  run_until([&] { return notifies().size() >= 2; });
  ASSERT_GE(notifies().size(), 2u);
  const std::string joined = notifies()[1];
  EXPECT_NE(joined.find("state=\"partial\""), std::string::npos) << joined;
  EXPECT_NE(joined.find("version=\"2\""), std::string::npos) << joined;
  EXPECT_NE(joined.find("sip:bob@127.0.0.1"), std::string::npos) << joined;
  EXPECT_EQ(joined.find("sip:alice@127.0.0.1"), std::string::npos) << joined;
  // Anyone may subscribe here: no member's dialog identifiers (enough to
  // Join, Replace or forge requests in its call) in any document.
  for (const std::string& doc : {full, joined}) {
    for (const Caller* c : {&a, &b}) {
      ASSERT_FALSE(c->to_tag.empty());
      EXPECT_EQ(doc.find(c->call_id), std::string::npos) << doc;
      EXPECT_EQ(doc.find(c->from_tag), std::string::npos) << doc;
      EXPECT_EQ(doc.find(c->to_tag), std::string::npos) << doc;
    }
  }
  EXPECT_TRUE(valid_conference_info(joined)) << joined;

  // The focus mutes Alice: version 3 says so.
  const uint64_t alice = server_->room_state("news")->members.front().id;
  ASSERT_TRUE(server_->set_muted("news", alice, true).ok());
  run_until([&] { return notifies().size() >= 3; });
  ASSERT_GE(notifies().size(), 3u);
  const std::string muted = notifies()[2];
  EXPECT_NE(muted.find("version=\"3\""), std::string::npos) << muted;
  EXPECT_NE(muted.find("muted-via-focus"), std::string::npos) << muted;
  EXPECT_TRUE(valid_conference_info(muted)) << muted;

  // Bob leaves: his user is deleted.
  ASSERT_EQ(bye(b, "news"), 200);
  run_until([&] { return notifies().size() >= 4; });
  ASSERT_GE(notifies().size(), 4u);
  const std::string left = notifies()[3];
  EXPECT_NE(left.find("version=\"4\""), std::string::npos) << left;
  EXPECT_NE(left.find("state=\"deleted\""), std::string::npos) << left;
  EXPECT_TRUE(valid_conference_info(left)) << left;
}

TEST_F(SupervisorE2eTest, DialogPackageNeedsTheRightAndNamesMembersDialogs) {
  start(46100, [](Options& options) {
    options.accounts.push_back({"boss", "bpw", {"dialog-subscribe"}});
  });
  Caller a(400, "alice"), watcher(1300, "boss");
  ASSERT_EQ(invite(a, "sendrecv", "floor"), 200);
  const DialogWatch refused = watch_dialogs(watcher, "floor");
  ASSERT_TRUE(refused.response.has_value());
  EXPECT_EQ(refused.response->status(), 401);
  const DialogWatch watch = watch_dialogs(watcher, "floor", "boss", "bpw");
  ASSERT_TRUE(watch.response.has_value());
  ASSERT_EQ(watch.response->status(), 200);
  ASSERT_TRUE(watch.notify.has_value());
  EXPECT_EQ(watch.notify->content_type(), "application/dialog-info+xml");
  const std::string body(watch.notify->body());
  // What a supervisor needs for Join/Replaces: call-id and both tags.
  EXPECT_NE(body.find(a.call_id), std::string::npos) << body;
  EXPECT_NE(body.find(a.from_tag), std::string::npos) << body;
  EXPECT_NE(body.find(a.to_tag), std::string::npos) << body;
}

TEST_F(SupervisorE2eTest, RoomPinAndMemberLimit) {
  start(45900, [](Options& options) { options.rooms = {{"board", "4321", 0}, {"tiny", "", 1}}; });
  Caller a(400, "alice"), b(700, "bob"), c(900, "carol");
  EXPECT_EQ(invite_to(a, "sendrecv", "board", room_uri("board") + ";pin=1111", {}), 403);
  Caller a2(400, "alice");
  EXPECT_EQ(invite_to(a2, "sendrecv", "board", room_uri("board") + ";pin=4321", {}), 200);
  EXPECT_EQ(invite(b, "sendrecv", "tiny"), 200);
  EXPECT_EQ(invite(c, "sendrecv", "tiny"), 486);
}

// Guessing a room's PIN in the Request-URI (one INVITE a guess) locks the
// guessing source out of that room, as wrong passwords lock a (source,
// account) pair: a 4-digit PIN would fall in minutes at the request rate
// limit otherwise. Locked, even the right PIN is refused, in the
// Request-URI and as DTMF; other rooms are not. An exempt source (a gateway
// many callers share) is never locked out by one caller's guesses.
TEST_F(SupervisorE2eTest, PinGuessesLockTheSourceOutOfTheRoom) {
  start(48400, [](Options& options) {
    options.rooms = {{"board", "4321", 0}, {"other", "5555", 0}};
    options.limits.auth_failures = 3;
    options.limits.exempt = {};  // loopback is exempt by default
  });
  Caller a(400, "alice");  // in before the guessing starts
  ASSERT_EQ(invite_to(a, "sendrecv", "board", room_uri("board") + ";pin=4321", {}), 200);
  for (const char* guess : {"0000", "0001", "0002"}) {
    Caller g(700, "mallory");
    EXPECT_EQ(invite_to(g, "sendrecv", "board", room_uri("board") + ";pin=" + guess, {}), 403)
        << guess;
  }
  Caller right(700, "mallory");
  EXPECT_EQ(invite_to(right, "sendrecv", "board", room_uri("board") + ";pin=4321", {}), 403);
  EXPECT_EQ(server_->room_calls("board"), 1u);
  Caller elsewhere(700, "mallory");
  EXPECT_EQ(invite_to(elsewhere, "sendrecv", "other", room_uri("other") + ";pin=5555", {}), 200);
  // Without ;pin= the call is answered and waits for DTMF: the right PIN
  // keyed in does not let it in either.
  Caller c(1100, "mallory");
  c.telephone_events = true;
  ASSERT_EQ(invite(c, "sendrecv", "board"), 200);
  c.press("4321#");
  std::vector<Caller*> all{&a, &c};
  talk(all, 70, 70);
  talk(all, 60, 30);
  ASSERT_GT(c.samples(), 160u * 10);
  EXPECT_LT(a.heard(1100), kSilent);
  EXPECT_LT(c.heard(400), kSilent);
  EXPECT_EQ(server_->room_calls("board"), 2u);  // still waiting for its PIN
}

// A caller without ;pin= takes a member place while it keys the PIN in:
// callers that never key anything would hold a PIN room full (486 for
// everyone else). The room's pin_timeout after the answer the focus hangs
// up on them, and the room has room again.
TEST_F(SupervisorE2eTest, CallersThatNeverKeyThePinAreHungUpAfterThePinTimeout) {
  start(50600, [](Options& options) {
    RoomPolicy board{"board", "4321", 2};
    board.pin_timeout = 600ms;
    options.rooms = {board};
  });
  Caller a(400, "mallory"), b(700, "mallory");
  ASSERT_EQ(invite(a, "sendrecv", "board"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "board"), 200);
  Caller early(900, "carol");
  EXPECT_EQ(invite(early, "sendrecv", "board"), 486);
  run_until(
      [&] { return received(Method::kBye, a.call_id) + received(Method::kBye, b.call_id) == 2; },
      3000ms);
  EXPECT_EQ(received(Method::kBye, a.call_id), 1u);
  EXPECT_EQ(received(Method::kBye, b.call_id), 1u);
  EXPECT_EQ(server_->room_calls("board"), 0u);
  EXPECT_EQ(server_->gauges().pin_timeouts, 2u);
  Caller c(900, "carol");
  EXPECT_EQ(invite_to(c, "sendrecv", "board", room_uri("board") + ";pin=4321", {}), 200);
  EXPECT_EQ(server_->room_calls("board"), 1u);
}

// The right PIN keyed in time ends the PIN phase and its deadline with it.
TEST_F(SupervisorE2eTest, APinKeyedInTimeStopsThePinTimeout) {
  start(50700, [](Options& options) {
    RoomPolicy board{"board", "12", 0};
    board.pin_timeout = 1500ms;
    options.rooms = {board};
  });
  Caller a(400, "alice");
  a.telephone_events = true;
  ASSERT_EQ(invite(a, "sendrecv", "board"), 200);
  a.press("12#");
  std::vector<Caller*> all{&a};
  talk(all, 100, 100);  // 2 s: the keys, then past the timeout
  EXPECT_EQ(received(Method::kBye, a.call_id), 0u);
  EXPECT_EQ(server_->room_calls("board"), 1u);
  EXPECT_TRUE(member("board", a).has_value());  // published once past its PIN
  EXPECT_EQ(server_->gauges().pin_timeouts, 0u);
}

// Replacing one's own call (RFC 3891 §3) while still entering the PIN does
// not start the PIN time again, or a caller could hold its place forever:
// the new call ends when the old one would have.
TEST_F(SupervisorE2eTest, ReplacesDoesNotRestartThePinTimeout) {
  start(50900, [](Options& options) {
    RoomPolicy board{"board", "4321", 0};
    board.pin_timeout = 2000ms;
    options.rooms = {board};
  });
  Caller a(400, "mallory");
  ASSERT_EQ(invite(a, "sendrecv", "board"), 200);
  const auto answered = std::chrono::steady_clock::now();
  run_until([] { return false; }, 1200ms);
  Caller b(400, "mallory");
  ASSERT_EQ(invite_to(b, "sendrecv", "board", room_uri("board"), {{"Replaces", dialog_ref(a)}}),
            200);
  run_until([&] { return received(Method::kBye, a.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, a.call_id), 1u);  // the replaced call
  run_until([&] { return received(Method::kBye, b.call_id) > 0; });
  ASSERT_EQ(received(Method::kBye, b.call_id), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - answered, 2600ms);
  EXPECT_EQ(server_->room_calls("board"), 0u);
  EXPECT_EQ(server_->gauges().pin_timeouts, 1u);
}

TEST_F(SupervisorE2eTest, AnExemptGatewayIsNotLockedOutByItsCallersPinGuesses) {
  start(46700, [](Options& options) {
    options.rooms = {{"board", "4321", 0}};
    options.limits.auth_failures = 3;
    options.limits.exempt = {"127.0.0.1"};  // the gateway
  });
  for (const char* guess : {"0000", "0001", "0002", "0003"}) {
    Caller g(700, "mallory");
    EXPECT_EQ(invite_to(g, "sendrecv", "board", room_uri("board") + ";pin=" + guess, {}), 403)
        << guess;
  }
  Caller a(400, "alice");
  EXPECT_EQ(invite_to(a, "sendrecv", "board", room_uri("board") + ";pin=4321", {}), 200);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
