// A dial-in conference end to end on 127.0.0.1: a client sip::Stack dials
// three callers into one room of an in-process focus Server; each caller
// sends its own tone as PCMU RTP from its own socket and decodes what the
// mixer sends back. Checks N-1 mixing, leaving by BYE, hold by re-INVITE
// (RFC 3264 §8.4) and 503 when the mixer has no port left.
#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

class ConferenceE2eTest : public FocusE2e {};

TEST_F(ConferenceE2eTest, EachCallerHearsTheOthersButNotItselfAndByeLeaves) {
  start_server(44000, 44099);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  std::vector<Caller*> all{&a, &b, &c};
  for (Caller* caller : all) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  EXPECT_EQ(server_->call_count(), 3u);
  EXPECT_EQ(server_->room_count(), 1u);
  EXPECT_EQ(server_->room_calls("e2e"), 3u);
  EXPECT_NE(a.mixer_port, b.mixer_port);
  EXPECT_NE(b.mixer_port, c.mixer_port);
  EXPECT_GE(a.mixer_port, 44000);
  EXPECT_LE(a.mixer_port, 44099);

  talk(all, 60, 30);  // 1.2 s; judge the last 0.6 s
  for (Caller* me : all) {
    SCOPED_TRACE(me->name());
    ASSERT_GT(me->samples(), 160u * 10);
    for (Caller* other : all) {
      if (other == me) {
        EXPECT_LT(me->heard(other->freq()), kSilent);
      } else {
        EXPECT_GT(me->heard(other->freq()), kHeard);
      }
    }
  }

  // Carol leaves: the other two stop hearing her and still hear each other.
  ASSERT_EQ(bye(c), 200);
  EXPECT_EQ(server_->call_count(), 2u);
  EXPECT_EQ(server_->room_calls("e2e"), 2u);
  talk({&a, &b}, 40, 15);
  ASSERT_GT(a.samples(), 160u * 10);
  EXPECT_LT(a.heard(1100), kSilent);
  EXPECT_LT(b.heard(1100), kSilent);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);

  // The last members leave: the room is gone.
  ASSERT_EQ(bye(a), 200);
  ASSERT_EQ(bye(b), 200);
  EXPECT_EQ(server_->call_count(), 0u);
  EXPECT_EQ(server_->room_count(), 0u);
}

// media.port_mode = "shared" (issue #16): every member of the room is
// answered with its shard's one port, RTCP included (a=rtcp names the same
// port: these callers do not mux), and the N-1 mix is unchanged.
TEST_F(ConferenceE2eTest, OnASharedMediaPortEveryCallerHearsTheOthersButNotItself) {
  start_server(44900, 44909, 30s, [](Options& o) {
    o.media_port_mode = "shared";
    o.media_shards = 1;
  });
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  std::vector<Caller*> all{&a, &b, &c};
  for (Caller* caller : all) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  EXPECT_EQ(a.mixer_port, 44900);
  EXPECT_EQ(b.mixer_port, 44900);
  EXPECT_EQ(c.mixer_port, 44900);
  EXPECT_NE(a.answer.find("a=rtcp:44900"), std::string::npos) << a.answer;
  talk(all, 60, 30);
  for (Caller* me : all) {
    SCOPED_TRACE(me->name());
    ASSERT_GT(me->samples(), 160u * 10);
    for (Caller* other : all) {
      if (other == me) {
        EXPECT_LT(me->heard(other->freq()), kSilent);
      } else {
        EXPECT_GT(me->heard(other->freq()), kHeard);
      }
    }
  }
  ASSERT_EQ(bye(c), 200);
  talk({&a, &b}, 40, 15);
  EXPECT_LT(a.heard(1100), kSilent);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
}

TEST_F(ConferenceE2eTest, SendonlyHoldGetsNoRtpAndIsNotMixedAndSendrecvResumes) {
  start_server(44100, 44199);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  std::vector<Caller*> all{&a, &b, &c};
  for (Caller* caller : all) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  talk(all, 20, 20);

  // Bob holds the focus (RFC 3264 §6.1, §8.4): he said he will not receive,
  // so the focus sends him no RTP at all, and what he still sends (his
  // phone's hold music) reaches nobody.
  ASSERT_EQ(invite(b, "sendonly"), 200);
  talk(all, 10, 10);  // what was in flight arrives
  const size_t before = b.packets();
  talk(all, 40, 15);
  EXPECT_EQ(b.packets(), before);  // counted at his socket
  EXPECT_LT(a.heard(700), kSilent);
  EXPECT_LT(c.heard(700), kSilent);
  EXPECT_GT(a.heard(1100), kHeard);
  EXPECT_GT(c.heard(400), kHeard);

  // Resumed: back to N-1.
  ASSERT_EQ(invite(b, "sendrecv"), 200);
  talk(all, 40, 15);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(c.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_GT(b.heard(1100), kHeard);
  EXPECT_LT(b.heard(700), kSilent);
}

// The focus's own hold (admin API, chorusctl, call:hold) changes the mix
// only, with no re-INVITE: the held member hears music on hold and is heard
// by nobody; resumed, it is back in the N-1 mix. A sendonly hold of the
// member's own on top still gets no RTP.
TEST_F(ConferenceE2eTest, FocusHoldPlaysMusicToTheHeldMemberOnly) {
  start_server(44800, 44899);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  std::vector<Caller*> all{&a, &b, &c};
  for (Caller* caller : all) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  talk(all, 20, 20);
  const auto state = server_->room_state("e2e");
  ASSERT_TRUE(state.has_value());
  uint64_t bob = 0;
  for (const auto& m : state->members) {
    if (m.entity.find("bob") != std::string::npos) bob = m.id;
  }
  ASSERT_NE(bob, 0u);

  ASSERT_EQ(server_->set_hold("e2e", bob, true).status, 200);
  talk(all, 50, 20);
  ASSERT_GT(b.samples(), 160u * 10);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_LT(b.heard(1100), kSilent);
  EXPECT_GT(b.level(), kSilent);  // music on hold, not silence
  EXPECT_LT(a.heard(700), kSilent);
  EXPECT_LT(c.heard(700), kSilent);
  EXPECT_GT(a.heard(1100), kHeard);

  // Bob also holds (sendonly): no RTP, even though the focus holds him too.
  ASSERT_EQ(invite(b, "sendonly"), 200);
  talk(all, 10, 10);
  const size_t before = b.packets();
  talk(all, 30, 10);
  EXPECT_EQ(b.packets(), before);
  // He resumes his side: the focus's hold stands, music again.
  ASSERT_EQ(invite(b, "sendrecv"), 200);
  talk(all, 50, 20);
  EXPECT_GT(b.level(), kSilent);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_LT(a.heard(700), kSilent);

  ASSERT_EQ(server_->set_hold("e2e", bob, false).status, 200);
  talk(all, 50, 20);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_GT(b.heard(1100), kHeard);
  EXPECT_GT(a.heard(700), kHeard);
}

TEST_F(ConferenceE2eTest, ReinviteChangingTheCodecKeepsThePortAndTheAudio) {
  start_server(44700, 44799);
  Caller a(400, "alice"), b(700, "bob");
  std::vector<Caller*> all{&a, &b};
  for (Caller* caller : all) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  const uint16_t port = b.mixer_port;
  // Bob re-offers A-law only (RFC 3264 §8.3.2): the answer takes it, the
  // stream keeps its port, and both directions carry PCMA from now on.
  b.use_pcma(true);
  ASSERT_EQ(invite(b, "sendrecv"), 200);
  EXPECT_EQ(b.mixer_port, port);
  talk(all, 60, 30);
  EXPECT_GT(b.heard(400), kHeard);  // decoded as PCMA: the mixer encodes A-law now
  EXPECT_GT(a.heard(700), kHeard);  // and decodes Bob's A-law
}

TEST_F(ConferenceE2eTest, InactiveReinviteHoldsInSilence) {
  start_server(44200, 44299);
  Caller a(400, "alice"), b(700, "bob");
  for (Caller* caller : {&a, &b}) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  ASSERT_EQ(invite(b, "inactive"), 200);
  talk({&a, &b}, 40, 15);
  EXPECT_LT(a.heard(700), kSilent);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_LT(b.level(), kSilent);  // no music either
}

// The mixer's port range holds one even port: the second caller gets 503
// with Retry-After (RFC 3261 §21.5.4) and the room keeps its first member.
TEST_F(ConferenceE2eTest, NoMediaPortLeftIs503WithRetryAfter) {
  // One shard, so its pool holds the range's single even port.
  start_server(44300, 44301, 30s, [](Options& o) { o.media_shards = 1; });
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv"), 200);
  Message m = request(b, Method::kInvite, "e2e");
  m.set_body("application/sdp", b.sdp("sendrecv"));
  const std::optional<Message> refused = exchange(std::move(m));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status(), 503);
  EXPECT_TRUE(refused->header("Retry-After").has_value());
  EXPECT_EQ(server_->call_count(), 1u);
  EXPECT_EQ(server_->room_calls("e2e"), 1u);
}

// Graceful shutdown: every member gets a BYE from the focus.
TEST_F(ConferenceE2eTest, StopSendsByeToEveryMember) {
  start_server(44400, 44499);
  Caller a(400, "alice"), b(700, "bob");
  for (Caller* caller : {&a, &b}) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  server_->stop();
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (client_requests_.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    io_.run_for(5ms);
  }
  ASSERT_EQ(client_requests_.size(), 2u);
  for (const Message& m : client_requests_) EXPECT_EQ(m.method(), Method::kBye);
  EXPECT_EQ(server_->call_count(), 0u);
}

// §13.2.1: without an offer in the INVITE the ACK's answer names the peer;
// alone in the room, the caller hears music there although it never sent.
TEST_F(ConferenceE2eTest, OfferlessInviteLearnsThePeerFromTheAck) {
  start_server(44600, 44699);
  Caller a(400, "alice");
  const std::optional<Message> ok = exchange(request(a, Method::kInvite, "e2e"));
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200);
  ASSERT_FALSE(ok->contacts().empty());
  a.to_tag = std::string(ok->to().tag());
  a.remote_target = ok->contacts().front().uri_text;
  Message ack = Message::request(Method::kAck, a.remote_target);
  ack.add_header("From", "<sip:alice@127.0.0.1>;tag=" + a.from_tag);
  ack.add_header("To", "<sip:e2e@127.0.0.1>;tag=" + a.to_tag);
  ack.add_header("Call-ID", a.call_id);
  ack.add_header("CSeq", std::to_string(ok->cseq().number) + " ACK");
  ack.set_body("application/sdp", a.sdp("sendrecv"));
  ASSERT_TRUE(client_.send_ack(std::move(ack)));
  a.sending = false;
  talk({&a}, 40, 15);
  EXPECT_EQ(server_->call_count(), 1u);
  ASSERT_GT(a.samples(), 160u * 10);
  EXPECT_GT(a.level(), kSilent);  // music on hold for the lone member
}

// A member whose media stops is hung up on with BYE and leaves the room.
TEST_F(ConferenceE2eTest, RtpTimeoutEndsTheCallWithBye) {
  start_server(44500, 44599, 300ms);
  Caller a(400, "alice"), b(700, "bob");
  for (Caller* caller : {&a, &b}) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  b.sending = false;  // bob goes silent on the wire; alice keeps talking
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (client_requests_.empty() && std::chrono::steady_clock::now() < deadline) {
    talk({&a}, 5, 5);
  }
  ASSERT_FALSE(client_requests_.empty());
  EXPECT_EQ(client_requests_.front().method(), Method::kBye);
  EXPECT_EQ(client_requests_.front().call_id(), b.call_id);
  EXPECT_EQ(server_->call_count(), 1u);
  EXPECT_EQ(server_->room_calls("e2e"), 1u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
