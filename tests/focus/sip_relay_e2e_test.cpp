// Dialog subscriptions that relay the SIP messages themselves (README
// "Remote call control": Accept: message/sip, right moderate). Checked on
// the wire: the NOTIFYs carry a waiting caller's INVITE, the focus's
// provisionals, its 200, the ACK, the BYE and its 200, in that order, as
// message/sip or multipart/mixed batches, with no Authorization,
// Proxy-Authorization or a=crypto line; dialog-info+xml stays the default;
// a subscriber that does not answer its NOTIFYs is ended once its queue is
// full, and counted. Also REJECT and ANSWER aimed at a ringing dial-out.

#include <algorithm>

#include "focus/events/event_service.hpp"
#include "signaling/message/multipart.hpp"
#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

// An SDES key line (RFC 4568 §6.1 syntax; 30 bytes of key and salt).
constexpr std::string_view kCrypto =
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

class SipRelayE2eTest : public FocusE2e {
 protected:
  void start(uint16_t first) {
    start_server(first, first + 99, 30s, [&](Options& options) {
      RoomPolicy lobby;
      lobby.name = "lobby";
      lobby.waiting_room = true;
      options.rooms = {lobby};
      options.waiting_provisional_interval = 10s;
      options.srtp = sdp::SrtpPolicy::kOffer;  // SDES when the caller offers it
      options.accounts = {{"op", "0pw", {"moderate", "remove", "dial-out"}},
                          {"sup", "spw", {"dialog-subscribe"}}};
    });
  }

  // SUBSCRIBE Event: dialog from `watcher` with `accept`; the final status.
  int subscribe(Caller& watcher, std::string_view room, std::string_view accept,
                std::string_view user, std::string_view password) {
    Message m = request(watcher, Method::kSubscribe, room);
    m.set_header("Event", "dialog");
    if (!accept.empty()) m.set_header("Accept", accept);
    const std::optional<Message> r = exchange_auth(watcher, std::move(m), {}, user, password);
    return r ? r->status() : 0;
  }

  std::vector<const Message*> notifies_to(const Caller& watcher) const {
    return notifies(watcher.call_id);
  }

  // The messages the NOTIFYs to `watcher` relayed, in order; `batches`
  // counts the multipart/mixed ones.
  std::vector<Message> relayed(const Caller& watcher, size_t* batches = nullptr) const {
    std::vector<Message> out;
    for (const Message* notify : notifies_to(watcher)) {
      const std::string type(notify->header("Content-Type").value_or(""));
      if (type == "message/sip") {
        auto parsed = Message::parse(notify->body());
        EXPECT_TRUE(parsed.ok()) << notify->body();
        if (parsed.ok()) out.push_back(std::move(parsed.value()));
      } else if (type.starts_with("multipart/mixed;boundary=")) {
        if (batches != nullptr) ++*batches;
        const std::string boundary = type.substr(type.find('=') + 1);
        const auto parts = sip::parse_multipart(notify->body(), boundary);
        EXPECT_TRUE(parts.has_value()) << notify->body();
        for (const sip::BodyPart& part : parts.value_or(std::vector<sip::BodyPart>{})) {
          EXPECT_EQ(part.content_type(), "message/sip");
          auto parsed = Message::parse(part.body);
          EXPECT_TRUE(parsed.ok()) << part.body;
          if (parsed.ok()) out.push_back(std::move(parsed.value()));
        }
      } else {
        EXPECT_TRUE(type.empty()) << "unexpected NOTIFY body type " << type;
      }
    }
    return out;
  }

  // "INVITE", "180 INVITE", "ACK" …: what a relayed message was, for the
  // messages of one call.
  static std::vector<std::string> summary(const std::vector<Message>& messages,
                                          std::string_view call_id) {
    std::vector<std::string> out;
    for (const Message& m : messages) {
      if (m.call_id() != call_id) continue;
      out.push_back(m.is_request() ? std::string(sip::method_name(m.method()))
                                   : std::to_string(m.status()) + " " +
                                         std::string(sip::method_name(m.cseq().method)));
    }
    return out;
  }

  std::optional<Message> control(std::string_view method, std::string_view room,
                                 const std::string& body) {
    Message m = Message::request(method, room_uri(room));
    m.add_header("From", "<sip:ctl@127.0.0.1>;tag=" + controller_.from_tag);
    m.add_header("To", "<sip:" + std::string(room) + "@127.0.0.1>");
    m.add_header("Call-ID", controller_.call_id);
    m.add_header("CSeq", std::to_string(++controller_.cseq) + " " + std::string(method));
    m.add_header("Contact", "<" + client_.contact_uri("ctl", sip::TransportKind::kUdp) + ">");
    m.set_body("text/csv", body);
    return exchange_auth(controller_, std::move(m), {}, "op", "0pw");
  }
  Caller controller_{1700, "ctl"};
};

TEST_F(SipRelayE2eTest, RelaysTheCallsMessagesInOrderWithoutCredentialsOrKeys) {
  start(49500);
  // The room exists once someone waits in it.
  Caller alice(400, "alice");
  Message first = request(alice, Method::kInvite, "lobby");
  first.set_body("application/sdp", alice.sdp("sendrecv"));
  std::vector<Message> alice_responses;
  client_.send_request(std::move(first), focus_, [&](const ClientEvent& event) {
    if (event.response) alice_responses.push_back(*event.response);
  });
  run_until([&] { return !alice_responses.empty() && alice_responses.back().status() == 183; });

  // Without moderate: 403 (sup may see dialog-info+xml, not the messages).
  Caller sup(1300, "sup"), op(1500, "op");
  EXPECT_EQ(subscribe(sup, "lobby", "message/sip", "sup", "spw"), 403);
  // dialog-info+xml stays the default, even for a moderator who also takes message/sip
  // but names it second.
  Caller plain(1900, "op");
  ASSERT_EQ(subscribe(plain, "lobby", "application/dialog-info+xml, message/sip", "sup", "spw"),
            200);
  ASSERT_EQ(subscribe(op, "lobby", "message/sip, multipart/mixed", "op", "0pw"), 200);
  run_until([&] { return !notifies_to(op).empty() && !notifies_to(plain).empty(); });
  ASSERT_FALSE(notifies_to(op).empty());
  EXPECT_TRUE(notifies_to(op).front()->body().empty());  // no state document
  EXPECT_EQ(notifies_to(op).front()->header("Event").value_or(""), "dialog");
  ASSERT_FALSE(notifies_to(plain).empty());
  EXPECT_EQ(notifies_to(plain).front()->header("Content-Type").value_or(""),
            "application/dialog-info+xml");

  // Bob calls in with SDES keys and (for a proxy that wanted them)
  // credentials; he waits, is answered, ACKs and hangs up.
  Caller bob(700, "bob");
  Message invite = request(bob, Method::kInvite, "lobby");
  invite.set_header("Proxy-Authorization",
                    "Digest username=\"bob\", realm=\"proxy\", nonce=\"n\", uri=\"sip:x\", "
                    "response=\"0123456789abcdef0123456789abcdef\"");
  std::string offer = bob.sdp("sendrecv");
  const size_t at = offer.find("RTP/AVP");
  ASSERT_NE(at, std::string::npos);
  offer.replace(at, 7, "RTP/SAVP");
  offer += std::string(kCrypto) + "\r\n";
  invite.set_body("application/sdp", offer);
  std::vector<Message> bob_responses;
  client_.send_request(std::move(invite), focus_, [&](const ClientEvent& event) {
    if (!event.response) return;
    bob_responses.push_back(*event.response);
    if (event.response->status() > 100 && event.response->status() < 300 && bob.to_tag.empty()) {
      ASSERT_FALSE(event.response->contacts().empty()) << event.response->serialize();
      bob.to_tag = std::string(event.response->to().tag());
      bob.remote_target = event.response->contacts().front().uri_text;
    }
  });
  run_until([&] { return !bob_responses.empty() && bob_responses.back().status() >= 183; });
  ASSERT_FALSE(bob.to_tag.empty()) << bob_responses.back().serialize();
  ASSERT_EQ(
      control("ANSWER", "lobby", bob.call_id + ";" + bob.from_tag + ";" + bob.to_tag)->status(),
      200);
  run_until([&] { return bob_responses.back().status() == 200; });
  ASSERT_EQ(bob_responses.back().status(), 200);
  // The focus's answer carries its own key: on the wire, not in the relay.
  EXPECT_NE(bob_responses.back().body().find("a=crypto:"), std::string_view::npos);
  ack(bob, bob_responses.back(), "lobby");
  ASSERT_EQ(bye(bob, "lobby"), 200);

  const std::vector<std::string> expected{"INVITE", "180 INVITE", "183 INVITE", "200 INVITE",
                                          "ACK",    "BYE",        "200 BYE"};
  size_t batches = 0;
  run_until([&] { return summary(relayed(op), bob.call_id).size() >= expected.size(); });
  const std::vector<Message> messages = relayed(op, &batches);
  EXPECT_EQ(summary(messages, bob.call_id), expected);
  // The 180 and 183 leave together while the INVITE's NOTIFY is in flight.
  EXPECT_GT(batches, 0u);
  for (const Message& m : messages) {
    const std::string text = m.serialize();
    EXPECT_EQ(text.find("a=crypto"), std::string::npos) << text;
    EXPECT_FALSE(m.has_header("Proxy-Authorization")) << text;
    EXPECT_FALSE(m.has_header("Authorization")) << text;
  }
  // The INVITE as Bob sent it otherwise: its SDP (keys aside) and its
  // Content-Length consistent with what is left.
  const auto relayed_invite = std::find_if(messages.begin(), messages.end(), [&](const Message& m) {
    return m.call_id() == bob.call_id && m.is_request() && m.method() == Method::kInvite;
  });
  ASSERT_NE(relayed_invite, messages.end());
  EXPECT_NE(relayed_invite->body().find("m=audio"), std::string_view::npos);
  EXPECT_NE(relayed_invite->body().find("RTP/SAVP"), std::string_view::npos);
  // Other calls' messages are relayed too (Alice's provisionals), never
  // the subscription's own NOTIFYs or other methods.
  for (const Message& m : messages) {
    const Method method = m.is_request() ? m.method() : m.cseq().method;
    EXPECT_TRUE(method == Method::kInvite || method == Method::kAck || method == Method::kBye ||
                method == Method::kCancel)
        << m.serialize();
  }
  // The plain dialog subscriber got dialog-info+xml documents only.
  for (const Message* notify : notifies_to(plain)) {
    const std::string type(notify->header("Content-Type").value_or(""));
    EXPECT_TRUE(type.empty() || type == "application/dialog-info+xml") << type;
  }
  EXPECT_EQ(server_->gauges().relay_subscriptions, 1u);
}

TEST_F(SipRelayE2eTest, ASubscriberThatCannotKeepUpIsEndedAndCounted) {
  start(49600);
  Caller alice(400, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "open"), 200);
  Caller op(1500, "op");
  ASSERT_EQ(subscribe(op, "open", "message/sip, multipart/mixed", "op", "0pw"), 200);
  run_until([&] { return !notifies_to(op).empty(); });
  ASSERT_EQ(notifies_to(op).size(), 1u);
  // From now on the subscriber answers nothing: one NOTIFY stays in flight
  // and the messages queue behind it. 25 re-INVITEs make 75 messages.
  hold_notifies_ = true;
  for (int i = 0; i < 25 && server_->gauges().relay_overflows == 0; ++i) {
    ASSERT_EQ(invite(alice, i % 2 == 0 ? "sendonly" : "sendrecv", "open"), 200);
  }
  run_until([&] { return server_->gauges().relay_overflows > 0; });
  EXPECT_EQ(server_->gauges().relay_overflows, 1u);
  EXPECT_EQ(server_->gauges().relay_subscriptions, 0u);
  // Its last NOTIFY says why (RFC 6665 §4.2.2 "probation": it may come back).
  const Message* last = nullptr;
  run_until([&] {
    const auto all = notifies_to(op);
    last = all.empty() ? nullptr : all.back();
    return last != nullptr &&
           last->header("Subscription-State").value_or("").starts_with("terminated");
  });
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->header("Subscription-State").value_or(""), "terminated;reason=probation");
  // Nothing more is relayed, and it may subscribe again.
  hold_notifies_ = false;
  const size_t before = notifies_to(op).size();
  ASSERT_EQ(invite(alice, "sendrecv", "open"), 200);
  run_until([] { return false; }, 300ms);
  EXPECT_EQ(notifies_to(op).size(), before);
  Caller again(1900, "op");
  EXPECT_EQ(subscribe(again, "open", "message/sip", "op", "0pw"), 200);
  ASSERT_EQ(bye(alice, "open"), 200);
  run_until([&] { return summary(relayed(again), alice.call_id).size() >= 2; });
  const std::vector<std::string> bye_and_ok{"BYE", "200 BYE"};
  EXPECT_EQ(summary(relayed(again), alice.call_id), bye_and_ok);
}

TEST_F(SipRelayE2eTest, RejectCancelsARingingDialOutAndAnswerDoesNotApply) {
  start(49700);
  Caller alice(400, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "open"), 200);
  ring_only_ = {"erin"};
  const std::string erin_uri = client_.contact_uri("erin", sip::TransportKind::kUdp);
  std::optional<Message> referred =
      exchange_auth(controller_, request(controller_, Method::kRefer, "open"),
                    {{"Refer-To", "<" + erin_uri + ">"}}, "op", "0pw");
  ASSERT_EQ(referred->status(), 202);
  std::optional<MemberDialog> erin;
  run_until([&] {
    const auto state = server_->room_state("open");
    for (const MemberState& m : state ? state->members : std::vector<MemberState>{}) {
      if (m.entity == erin_uri && m.status == "alerting") erin = m.dialog;
    }
    return erin.has_value();
  });
  ASSERT_TRUE(erin.has_value());
  ASSERT_FALSE(erin->early_remote_tags.empty());
  const std::string ids =
      erin->call_id + ";" + erin->local_tag + ";" + erin->early_remote_tags.front();
  // ANSWER is for waiting callers: a ringing dial-out is no such dialog.
  EXPECT_EQ(control("ANSWER", "open", ids)->status(), 481);
  EXPECT_EQ(server_->gauges().dialing, 1u);
  // REJECT CANCELs it: Erin's phone stops ringing (its INVITE got 487).
  EXPECT_EQ(control("REJECT", "open", ids + ";603;not now")->status(), 200);
  run_until([&] { return !client_cancels_.empty() && server_->gauges().dialing == 0; });
  ASSERT_EQ(client_cancels_.size(), 1u);
  EXPECT_EQ(client_cancels_.front().call_id(), erin->call_id);
  EXPECT_EQ(server_->gauges().dialing, 0u);
  EXPECT_FALSE(ringing_.at("erin").respond(200, "OK"));  // already answered 487
  const auto state = server_->room_state("open");
  ASSERT_TRUE(state.has_value());
  for (const MemberState& m : state->members) EXPECT_NE(m.entity, erin_uri);
}

TEST(RelayedText, DropsCredentialsAndKeyLinesAndKeepsTheRest) {
  Message m = Message::request(Method::kInvite, "sip:room@127.0.0.1");
  m.add_header("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1");
  m.add_header("From", "<sip:a@127.0.0.1>;tag=1");
  m.add_header("To", "<sip:room@127.0.0.1>");
  m.add_header("Call-ID", "c1");
  m.add_header("CSeq", "1 INVITE");
  m.add_header("Authorization", "Digest username=\"a\", response=\"secret\"");
  m.add_header("Proxy-Authorization", "Digest username=\"a\", response=\"secret\"");
  const std::string sdp =
      "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nk=clear:password\r\nt=0 0\r\n"
      "m=audio 4000 RTP/SAVP 0\r\n" +
      std::string(kCrypto) + "\r\na=key-mgmt:mikey AQAFgM\r\na=rtpmap:0 PCMU/8000\r\n";
  m.set_body("application/sdp", sdp);
  const std::string text = EventService::relayed_text(m);
  auto parsed = Message::parse(text);
  ASSERT_TRUE(parsed.ok()) << text;
  const Message& out = parsed.value();
  EXPECT_FALSE(out.has_header("Authorization"));
  EXPECT_FALSE(out.has_header("Proxy-Authorization"));
  EXPECT_EQ(text.find("secret"), std::string::npos);
  EXPECT_EQ(out.body(),
            "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n"
            "a=rtpmap:0 PCMU/8000\r\n");
  EXPECT_EQ(out.header("Content-Length").value_or(""), std::to_string(out.body().size()));
  EXPECT_EQ(out.header("Content-Type").value_or(""), "application/sdp");
  EXPECT_EQ(out.call_id(), "c1");
  // Nothing to take out: the message as it was.
  Message plain = Message::request(Method::kBye, "sip:room@127.0.0.1");
  plain.add_header("Call-ID", "c2");
  plain.add_header("CSeq", "2 BYE");
  EXPECT_EQ(EventService::relayed_text(plain), plain.serialize());
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
