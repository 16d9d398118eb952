// The waiting room on the wire (README "Waiting room"): a dial-in to a room
// with waiting_room = true gets 180, then 183 with the focus's SDP and music
// on hold as early media, repeated while it waits; nobody in the room hears
// it. A moderator admits it (the Control API as the admin API and chorusctl
// call it, or urn:sip-action:call:answer) and the INVITE gets its 200; or
// refuses it (call:decline: 603) or the time runs out (480), each with an
// RFC 3326 Reason. Checked message by message and on the audio (Goertzel).

#include <algorithm>

#include "focus/ops/admin_server.hpp"
#include "focus/ops/metrics.hpp"
#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

class WaitingRoomE2eTest : public FocusE2e {
 protected:
  void start(uint16_t first, std::chrono::seconds timeout = std::chrono::seconds(300),
             std::string voicemail = {}) {
    start_server(first, first + 99, 30s, [&](Options& options) {
      options.voicemail_uri = voicemail;
      RoomPolicy lobby;
      lobby.name = "lobby";
      lobby.waiting_room = true;
      lobby.waiting_timeout = timeout;
      RoomPolicy quiet = lobby;
      quiet.name = "quiet";
      quiet.waiting_music = false;
      options.rooms = {lobby, quiet};
      options.waiting_provisional_interval = 300ms;
      options.accounts = {{"op", "0pw", {"moderate", "remove", "dial-out"}},
                          {"desk", "dpw", {"pickup"}}};
    });
  }

  // ANSWER / PICKUP / REJECT (remote call control) out of dialog from a
  // controller, with a text/csv body; `contact`: the sender's Contact.
  std::optional<Message> control(std::string_view method, std::string_view room,
                                 const std::string& body, std::string_view user,
                                 std::string_view password, const std::string& contact = {},
                                 std::string_view type = "text/csv") {
    Message m = Message::request(method, room_uri(room));
    m.add_header("From", "<sip:ctl@127.0.0.1>;tag=" + controller_.from_tag);
    m.add_header("To", "<sip:" + std::string(room) + "@127.0.0.1>");
    m.add_header("Call-ID", controller_.call_id);
    m.add_header("CSeq", std::to_string(++controller_.cseq) + " " + std::string(method));
    m.add_header("Contact",
                 "<" + (contact.empty() ? client_.contact_uri("ctl", sip::TransportKind::kUdp)
                                        : contact) +
                     ">");
    m.set_body(type, body);
    return exchange_auth(controller_, std::move(m), {}, user, password);
  }
  static std::string ids(const Caller& caller, char separator = ';') {
    return caller.call_id + separator + caller.from_tag + separator + caller.to_tag;
  }
  Caller controller_{1700, "ctl"};

  // REFER from the moderator, out of dialog, with an action URN on `caller`.
  int action(std::string_view room, std::string_view name, const Caller& caller,
             const Headers& extra = {}) {
    Caller op(1900, "op");
    Headers headers{{"Refer-To", "<urn:sip-action:" + std::string(name) + ">"},
                    {"Target-Dialog", target_dialog(caller)}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    std::optional<Message> r =
        exchange_auth(op, request(op, Method::kRefer, room), headers, "op", "0pw");
    return r ? r->status() : 0;
  }
};

TEST_F(WaitingRoomE2eTest, AWaitingCallerHearsMusicIsHeardByNobodyAndIsAdmitted) {
  start(49000);
  Caller a(400, "alice"), b(700, "bob");
  Pending pa;
  call_in(a, "lobby", pa);
  ASSERT_EQ(pa.count(180), 1u);  // at once, before the shard has a port
  run_until([&] { return a.mixer_port != 0; });
  ASSERT_NE(a.mixer_port, 0) << "no 183 with SDP";
  const Message* progress = nullptr;
  for (const Message& m : pa.responses) {
    if (m.status() == 183) progress = &m;
  }
  ASSERT_NE(progress, nullptr);
  EXPECT_EQ(progress->content_type(), "application/sdp");
  EXPECT_EQ(progress->to().tag(), a.to_tag);  // one early dialog
  const std::optional<MemberState> waiting = member("lobby", a);
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->status, "pending");  // RFC 4575: not yet in the conference
  EXPECT_FALSE(waiting->dialog.confirmed);
  const uint64_t alice_id = waiting->id;
  std::vector<Caller*> alone{&a};
  talk(alone, 40, 20);
  EXPECT_GT(a.level(), 300.0);   // music on hold as early media
  EXPECT_GE(pa.count(183), 2u);  // repeated while waiting (interval 300 ms here)
  EXPECT_EQ(pa.final_response(), nullptr);

  // Alice is let in (what POST .../admit and chorusctl admit call).
  ASSERT_TRUE(server_->admit("lobby", alice_id).ok());
  run_until([&] { return pa.final_response() != nullptr; });
  ASSERT_NE(pa.final_response(), nullptr);
  const Message ok = *pa.final_response();
  ASSERT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.to().tag(), a.to_tag);              // the early dialog is confirmed
  EXPECT_EQ(audio_port(ok.body()), a.mixer_port);  // the answer the 183 previewed
  ack(a, ok, "lobby");
  EXPECT_EQ(server_->admit("lobby", alice_id).status, 409);  // no longer waiting
  run_until([&] { return member("lobby", a).value_or(MemberState{}).status == "connected"; });
  EXPECT_EQ(member("lobby", a).value_or(MemberState{}).status, "connected");

  // Bob waits: Alice does not hear him, he hears music.
  Pending pb;
  call_in(b, "lobby", pb);
  run_until([&] { return b.mixer_port != 0; });
  ASSERT_NE(b.mixer_port, 0);
  std::vector<Caller*> both{&a, &b};
  talk(both, 60, 30);
  EXPECT_LT(a.heard(700), kHeard / 4);  // the waiting caller is heard by nobody
  EXPECT_GT(b.level(), 300.0);
  EXPECT_LT(b.heard(400), kHeard / 4);  // and hears the music, not the room
  // call:answer on someone not waiting is refused; on Bob it lets him in.
  EXPECT_EQ(action("lobby", "call:answer", a), 481);
  EXPECT_EQ(action("lobby", "call:answer", b), 202);
  run_until([&] { return pb.final_response() != nullptr; });
  ASSERT_NE(pb.final_response(), nullptr);
  ASSERT_EQ(pb.final_response()->status(), 200);
  ack(b, *pb.final_response(), "lobby");
  talk(both, 60, 30);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
}

TEST_F(WaitingRoomE2eTest, DeclinedTimedOutAndSilentWaitingRooms) {
  start(49100, std::chrono::seconds(2));
  Caller c(1100, "carol"), d(1300, "dave"), q(1500, "quinn");
  Pending pc, pd, pq;
  call_in(c, "lobby", pc);
  call_in(d, "lobby", pd);
  call_in(q, "quiet", pq);
  run_until([&] { return c.mixer_port != 0 && d.mixer_port != 0; });
  // Declined by a moderator: 603 with a Reason, and gone from the room.
  EXPECT_EQ(action("lobby", "call:decline", c), 202);
  run_until([&] { return pc.final_response() != nullptr; });
  ASSERT_NE(pc.final_response(), nullptr);
  EXPECT_EQ(pc.final_response()->status(), 603);
  EXPECT_EQ(pc.final_response()->header("Reason").value_or(""),
            "SIP;cause=603;text=\"declined by a moderator\"");
  EXPECT_FALSE(member("lobby", c).has_value());
  // Nobody came for Dave or Quinn: 480 when the wait is over (2 s here).
  std::vector<Caller*> waiting{&d, &q};
  talk(waiting, 40, 0);
  EXPECT_EQ(pq.count(183), 0u);  // the silent waiting room only rings
  EXPECT_GE(pq.count(180), 2u);
  EXPECT_EQ(q.packets(), 0u);  // and sends no RTP (none could be addressed)
  run_until([&] { return pd.final_response() != nullptr && pq.final_response() != nullptr; },
            4000ms);
  ASSERT_NE(pd.final_response(), nullptr);
  EXPECT_EQ(pd.final_response()->status(), 480);
  EXPECT_EQ(pd.final_response()->header("Reason").value_or(""),
            "SIP;cause=480;text=\"waiting room timed out\"");
  ASSERT_NE(pq.final_response(), nullptr);
  EXPECT_EQ(pq.final_response()->status(), 480);
  run_until([&] { return server_->gauges().calls == 0; });
  EXPECT_EQ(server_->gauges().calls, 0u);
  EXPECT_FALSE(server_->room_state("lobby").has_value() &&
               !server_->room_state("lobby")->members.empty());
}

// The action-referral draft's remaining actions on a waiting caller:
// call:ignore leaves it waiting but off the conference package (the dialog
// package still lists it); call:sendvm redirects it (302) to the configured
// voicemail, and answers 501 where none is. action-ref is in Supported and
// accepted in Require; the outcome comes in the refer subscription.
TEST_F(WaitingRoomE2eTest, IgnoreAndSendToVoicemailWithActionRef) {
  start(49300, std::chrono::seconds(300), "sip:vm@127.0.0.1:5999");
  std::optional<Message> options = exchange(request(controller_, Method::kOptions, "lobby"));
  ASSERT_TRUE(options.has_value());
  std::string supported;
  for (std::string_view line : options->header_lines("Supported")) supported += line;
  EXPECT_NE(supported.find("action-ref"), std::string::npos) << supported;
  Caller e(1100, "erin");
  Pending pe;
  call_in(e, "lobby", pe);
  const size_t seen = client_requests_.size();
  EXPECT_EQ(action("lobby", "call:ignore", e, {{"Require", "action-ref"}}), 202);
  const auto ignored = member("lobby", e);
  ASSERT_TRUE(ignored.has_value());
  EXPECT_TRUE(ignored->hidden);  // out of the conference package
  EXPECT_EQ(ignored->status, "pending");
  EXPECT_EQ(pe.final_response(), nullptr);  // still waiting
  std::vector<std::string> frags;
  run_until([&] {
    frags.clear();
    for (size_t i = seen; i < client_requests_.size(); ++i) {
      const Message& m = client_requests_[i];
      if (m.method() == Method::kNotify) {
        frags.emplace_back(m.body().substr(0, m.body().find('\r')));
      }
    }
    return frags.size() >= 2;
  });
  EXPECT_EQ(frags, (std::vector<std::string>{"SIP/2.0 100 Trying", "SIP/2.0 200 OK"}));
  EXPECT_EQ(action("lobby", "call:sendvm", e), 202);
  run_until([&] { return pe.final_response() != nullptr; });
  ASSERT_NE(pe.final_response(), nullptr);
  EXPECT_EQ(pe.final_response()->status(), 302);
  ASSERT_FALSE(pe.final_response()->contacts().empty());
  EXPECT_EQ(pe.final_response()->contacts().front().uri_text, "sip:vm@127.0.0.1:5999");
}

TEST_F(WaitingRoomE2eTest, SendToVoicemailWithoutOneIs501) {
  start(49400);
  Caller e(1100, "erin");
  Pending pe;
  call_in(e, "lobby", pe);
  EXPECT_EQ(action("lobby", "call:sendvm", e), 501);
  EXPECT_EQ(pe.final_response(), nullptr);
}

// The remote-call-control methods on each kind of target, message by
// message: a waiting caller (ANSWER → 200, REJECT → its code, PICKUP → 302
// to the picker), a ringing dial-out (PICKUP: CANCEL and the picker is
// called in) and a member (PICKUP: REFER to the picker; REJECT: BYE).
TEST_F(WaitingRoomE2eTest, AnswerPickupAndRejectActOnEachKindOfCall) {
  start(49200);
  // Advertised (RFC 3261 §20.5).
  std::optional<Message> options = exchange(request(controller_, Method::kOptions, "lobby"));
  ASSERT_TRUE(options.has_value());
  std::string allow;
  for (std::string_view line : options->header_lines("Allow")) allow += std::string(line) + ",";
  for (const char* method : {"ANSWER", "PICKUP", "REJECT"}) {
    EXPECT_NE(allow.find(method), std::string::npos) << allow;
  }
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  Pending pa, pb, pc;
  call_in(a, "lobby", pa);
  call_in(b, "lobby", pb);
  call_in(c, "lobby", pc);
  // Refusals: no credentials, a bad body, a body of another type, no such
  // call, and ANSWER needing moderate (desk has only pickup).
  EXPECT_EQ(control("ANSWER", "lobby", ids(a), {}, {})->status(), 401);
  EXPECT_EQ(control("ANSWER", "lobby", ids(a), "desk", "dpw")->status(), 403);
  const std::optional<Message> bad = control("ANSWER", "lobby", a.call_id, "op", "0pw");
  EXPECT_EQ(bad->status(), 400);
  EXPECT_NE(bad->reason_phrase().find("Call-ID, From tag and To tag"), std::string_view::npos)
      << bad->reason_phrase();
  const std::optional<Message> typed =
      control("ANSWER", "lobby", ids(a), "op", "0pw", {}, "application/json");
  EXPECT_EQ(typed->status(), 415);
  EXPECT_EQ(typed->header("Accept").value_or(""), "text/csv");
  EXPECT_EQ(control("ANSWER", "lobby", "nope;1;2", "op", "0pw")->status(), 481);
  EXPECT_EQ(pa.final_response(), nullptr);

  // ANSWER: Alice is let in; the answer has no body.
  const std::optional<Message> answered = control("ANSWER", "lobby", ids(a), "op", "0pw");
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status(), 200);
  EXPECT_TRUE(answered->body().empty());
  run_until([&] { return pa.final_response() != nullptr; });
  ASSERT_NE(pa.final_response(), nullptr);
  ASSERT_EQ(pa.final_response()->status(), 200);
  ack(a, *pa.final_response(), "lobby");
  EXPECT_EQ(control("ANSWER", "lobby", ids(a), "op", "0pw")->status(), 481);  // not waiting

  // REJECT with a code and text (',' separators, tags in the other order).
  const std::string reject_bob =
      b.call_id + "," + b.to_tag + "," + b.from_tag + ",486,busy in a meeting";
  EXPECT_EQ(control("REJECT", "lobby", reject_bob, "op", "0pw")->status(), 200);
  run_until([&] { return pb.final_response() != nullptr; });
  ASSERT_NE(pb.final_response(), nullptr);
  EXPECT_EQ(pb.final_response()->status(), 486);
  EXPECT_EQ(pb.final_response()->reason_phrase(), "Busy Here");
  EXPECT_EQ(pb.final_response()->header("Reason").value_or(""),
            "SIP;cause=486;text=\"busy in a meeting\"");

  // PICKUP of a waiting caller: 302 to the picker's Contact, with the reason.
  const std::string desk = client_.contact_uri("desk", sip::TransportKind::kUdp);
  EXPECT_EQ(control("PICKUP", "lobby", ids(c) + ";302;taken at the desk", "desk", "dpw", desk)
                ->status(),
            200);
  run_until([&] { return pc.final_response() != nullptr; });
  ASSERT_NE(pc.final_response(), nullptr);
  EXPECT_EQ(pc.final_response()->status(), 302);
  ASSERT_FALSE(pc.final_response()->contacts().empty());
  EXPECT_EQ(pc.final_response()->contacts().front().uri_text, desk);
  EXPECT_EQ(pc.final_response()->header("Reason").value_or(""),
            "SIP;cause=302;text=\"taken at the desk\"");

  // PICKUP of a member: the focus REFERs Alice to the picker.
  EXPECT_EQ(control("PICKUP", "lobby", ids(a), "desk", "dpw", desk)->status(), 200);
  const Message* refer = nullptr;
  run_until([&] {
    for (const Message& m : client_requests_) {
      if (m.method() == Method::kRefer && m.call_id() == a.call_id) refer = &m;
    }
    return refer != nullptr;
  });
  ASSERT_NE(refer, nullptr);
  EXPECT_EQ(refer->header("Refer-To").value_or(""), "<" + desk + ">");
  EXPECT_EQ(refer->header("Refer-Sub").value_or(""), "false");

  // PICKUP of a ringing dial-out: Dan is CANCELled, the picker called in.
  ring_only_ = {"dan"};
  Caller picker(1500, "desk");
  callee_ = &picker;
  const std::string dan_uri = client_.contact_uri("dan", sip::TransportKind::kUdp);
  std::optional<Message> referred = exchange_auth(
      controller_, request(controller_, Method::kRefer, "lobby"), {{"Refer-To", "<" + dan_uri + ">"}},
      "op", "0pw");
  ASSERT_EQ(referred->status(), 202);
  std::optional<MemberDialog> dan;
  run_until([&] {
    const auto state = server_->room_state("lobby");
    for (const MemberState& m : state ? state->members : std::vector<MemberState>{}) {
      if (m.entity == dan_uri && m.status == "alerting") dan = m.dialog;
    }
    return dan.has_value();
  });
  ASSERT_TRUE(dan.has_value());
  EXPECT_EQ(control("PICKUP", "lobby",
                    dan->call_id + ";" + dan->local_tag + ";" + dan->early_remote_tags.front(),
                    "desk", "dpw", desk)
                ->status(),
            200);
  run_until([&] { return picker.mixer_port != 0 && server_->gauges().dialing == 0; });
  EXPECT_NE(picker.mixer_port, 0);
  EXPECT_EQ(server_->gauges().dialing, 0u);
  EXPECT_FALSE(ringing_.at("dan").respond(200, "OK"));  // CANCELled: 487 already
  std::vector<Caller*> talking{&a, &picker};
  talk(talking, 60, 30);
  EXPECT_GT(picker.heard(400), kHeard);  // the picker hears the room

  // REJECT of a member: BYE.
  EXPECT_EQ(control("REJECT", "lobby", ids(a), "op", "0pw")->status(), 200);
  run_until([&] { return received(Method::kBye, a.call_id) > 0; });
  EXPECT_EQ(received(Method::kBye, a.call_id), 1u);
}

TEST_F(WaitingRoomE2eTest, TheAdminApiAdmitsRefusesAndPicksUpWaitingCallers) {
  start(49800);
  AdminConfig config;
  config.address = "127.0.0.1";
  config.port = 0;
  config.token = "waiting-token";
  AdminServer admin(io_, *server_, make_metrics_source(*server_), config);
  admin.start();
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  Pending pa, pb, pc;
  call_in(a, "lobby", pa);
  call_in(b, "lobby", pb);
  call_in(c, "lobby", pc);
  const auto path = [&](const Caller& caller, std::string_view action) {
    const std::optional<MemberState> m = member("lobby", caller);
    EXPECT_TRUE(m.has_value());
    return "/api/rooms/lobby/members/" + std::to_string(m ? m->id : 0) + "/" + std::string(action);
  };
  // The member JSON says who waits.
  const HttpReply listed = http(admin.port(), "GET", "/api/rooms/lobby", {}, "waiting-token");
  ASSERT_EQ(listed.status, 200);
  EXPECT_NE(listed.body.find("\"waiting\":true"), std::string::npos) << listed.body;
  // No token: 401; then admit Alice: her INVITE gets its 200.
  EXPECT_EQ(http(admin.port(), "POST", path(a, "admit")).status, 401);
  EXPECT_EQ(pa.final_response(), nullptr);
  EXPECT_EQ(http(admin.port(), "POST", path(a, "admit"), {}, "waiting-token").status, 200);
  run_until([&] { return pa.final_response() != nullptr; });
  ASSERT_NE(pa.final_response(), nullptr);
  ASSERT_EQ(pa.final_response()->status(), 200);
  ack(a, *pa.final_response(), "lobby");
  // Admitting her again: 409, she no longer waits.
  EXPECT_EQ(http(admin.port(), "POST", path(a, "admit"), {}, "waiting-token").status, 409);
  // Refuse Bob: 603 with a Reason.
  EXPECT_EQ(http(admin.port(), "POST", path(b, "refuse"), {}, "waiting-token").status, 200);
  run_until([&] { return pb.final_response() != nullptr; });
  ASSERT_NE(pb.final_response(), nullptr);
  EXPECT_EQ(pb.final_response()->status(), 603);
  EXPECT_TRUE(pb.final_response()->has_header("Reason"));
  // Pick up Carol onto the desk: 302 to that URI.
  const std::string desk = client_.contact_uri("desk", sip::TransportKind::kUdp);
  EXPECT_EQ(
      http(admin.port(), "POST", path(c, "pickup"), "{\"uri\":\"" + desk + "\"}", "waiting-token")
          .status,
      200);
  run_until([&] { return pc.final_response() != nullptr; });
  ASSERT_NE(pc.final_response(), nullptr);
  EXPECT_EQ(pc.final_response()->status(), 302);
  ASSERT_FALSE(pc.final_response()->contacts().empty());
  EXPECT_EQ(pc.final_response()->contacts().front().uri_text, desk);
  // Only Alice is left, in the room.
  const std::optional<ConferenceState> state = server_->room_state("lobby");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 1u);
  EXPECT_EQ(state->members.front().dialog.call_id, a.call_id);
  EXPECT_FALSE(state->members.front().waiting);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
