// RFC 3261 §17 transaction state machines, driven on a manual clock with a
// fake transport: every timer, every retransmission count, absorption,
// CANCEL/487 and the ACK for non-2xx.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "signaling/message/message.hpp"
#include "signaling/transaction/timer.hpp"
#include "signaling/transaction/transaction.hpp"

namespace chorus::sip {
namespace {

using std::chrono::milliseconds;

struct Sent {
  bool is_request;
  Message message;
  Endpoint to;
};

class FakeTransport : public TransactionTransport {
 public:
  bool send_request(const Message& request, const Endpoint& destination) override {
    sent.push_back({true, request, destination});
    return !fail;
  }
  bool send_response(const Message& response, const Endpoint& source) override {
    sent.push_back({false, response, source});
    return !fail;
  }
  size_t count(std::string_view method_or_status) const {
    size_t n = 0;
    for (const Sent& s : sent) {
      const std::string what =
          s.is_request ? std::string(s.message.method_text()) : std::to_string(s.message.status());
      if (what == method_or_status) ++n;
    }
    return n;
  }
  std::vector<Sent> sent;
  bool fail = false;
};

class FakeUser : public TransactionUser {
 public:
  void on_request(TransactionId id, const std::shared_ptr<const Message>& request,
                  const Endpoint&) override {
    requests.push_back({id, request});
    if (on_request_hook) on_request_hook(id);
  }
  void on_ack(const Message& ack, const Endpoint&) override { acks.push_back(ack); }
  void on_cancelled(TransactionId invite, const std::shared_ptr<const Message>& request,
                    const Message&, const Message&) override {
    cancelled.push_back(invite);
    cancelled_requests.push_back(request);
  }
  void on_stray_response(const Message& response, const Endpoint&) override {
    strays.push_back(response);
  }
  std::vector<std::pair<TransactionId, std::shared_ptr<const Message>>> requests;
  std::vector<Message> acks;
  std::vector<TransactionId> cancelled;
  std::vector<std::shared_ptr<const Message>> cancelled_requests;
  std::vector<Message> strays;
  std::function<void(TransactionId)> on_request_hook;
};

const Endpoint kUdpPeer{TransportKind::kUdp, "127.0.0.1", 5070, 0};
const Endpoint kTcpPeer{TransportKind::kTcp, "127.0.0.1", 5070, 7};

Message parse(const std::string& text) {
  auto result = Message::parse(text);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().reason) << "\n" << text;
  return std::move(result).value();
}

std::string request_text(std::string_view method, std::string_view branch,
                         std::string_view transport = "UDP", uint32_t cseq = 1,
                         std::string_view cseq_method = {}) {
  std::string text(method);
  text += " sip:room@127.0.0.1 SIP/2.0\r\n";
  text += "Via: SIP/2.0/" + std::string(transport) +
          " 127.0.0.1:5070;branch=" + std::string(branch) + "\r\n";
  text += "Max-Forwards: 70\r\n";
  text += "From: <sip:alice@127.0.0.1>;tag=a1\r\n";
  text += "To: <sip:room@127.0.0.1>\r\n";
  text += "Call-ID: call-1@127.0.0.1\r\n";
  text += "CSeq: " + std::to_string(cseq) + " " +
          std::string(cseq_method.empty() ? method : cseq_method) + "\r\n";
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

Message response_to(const Message& request, int status, std::string_view tag = "b2") {
  return make_response(request, status, {}, status == 100 ? std::string_view{} : tag);
}

class TransactionTest : public ::testing::Test {
 protected:
  TransactionTest() : layer_(clock_, transport_, user_) {}

  // Advances the manual clock in 1 ms steps up to `ms` total.
  void advance(int ms) { clock_.advance(milliseconds(ms)); }

  ClientCallback record() {
    return [this](const ClientEvent& event) {
      events_.push_back(event.kind);
      if (event.response) statuses_.push_back(event.response->status());
    };
  }

  ManualTimerService clock_;
  FakeTransport transport_;
  FakeUser user_;
  TransactionLayer layer_;
  std::vector<ClientEvent::Kind> events_;
  std::vector<int> statuses_;
};

// ---- §17.1.1 client INVITE

TEST_F(TransactionTest, ClientInviteOverUdpRetransmitsOnTimerAThenTimesOutOnTimerB) {
  layer_.send_request(parse(request_text("INVITE", "z9hG4bKc1")), kUdpPeer, record());
  EXPECT_EQ(transport_.count("INVITE"), 1u);
  // Timer A: T1, 2T1, 4T1 ... → sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
  advance(499);
  EXPECT_EQ(transport_.count("INVITE"), 1u);
  advance(1);
  EXPECT_EQ(transport_.count("INVITE"), 2u);
  advance(1000);
  EXPECT_EQ(transport_.count("INVITE"), 3u);
  advance(31500 - 1500);
  EXPECT_EQ(transport_.count("INVITE"), 7u);
  EXPECT_TRUE(events_.empty());
  // Timer B = 64*T1 = 32 s.
  advance(499);
  EXPECT_TRUE(events_.empty());
  advance(1);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0], ClientEvent::Kind::kTimeout);
  EXPECT_EQ(transport_.count("INVITE"), 7u);
  EXPECT_EQ(layer_.size(), 0u);
  EXPECT_EQ(layer_.stats().timeouts, 1u);
}

TEST_F(TransactionTest, ClientInviteOverTcpNeverRetransmits) {
  layer_.send_request(parse(request_text("INVITE", "z9hG4bKc2", "TCP")), kTcpPeer, record());
  advance(31999);
  EXPECT_EQ(transport_.count("INVITE"), 1u);
  advance(1);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0], ClientEvent::Kind::kTimeout);
}

TEST_F(TransactionTest, ClientInviteProvisionalStopsRetransmissionsAndTimerB) {
  const Message invite = parse(request_text("INVITE", "z9hG4bKc3"));
  const TransactionId id = layer_.send_request(invite, kUdpPeer, record());
  EXPECT_FALSE(layer_.may_cancel(id));
  layer_.receive(response_to(invite, 180), kUdpPeer);
  EXPECT_TRUE(layer_.may_cancel(id));
  EXPECT_EQ(layer_.state(id), TransactionState::kProceeding);
  advance(60000);
  EXPECT_EQ(transport_.count("INVITE"), 1u);
  EXPECT_EQ(events_, std::vector<ClientEvent::Kind>{ClientEvent::Kind::kResponse});
  // Timer C (3 min) eventually gives up on a call that rings forever.
  advance(120000);
  EXPECT_EQ(events_.back(), ClientEvent::Kind::kTimeout);
  EXPECT_EQ(layer_.size(), 0u);
}

// §17.1.1.3: the transaction builds and sends the ACK for a non-2xx final.
TEST_F(TransactionTest, ClientInviteAcksNon2xxAndResendsAckForRetransmittedFinal) {
  const Message invite = parse(request_text("INVITE", "z9hG4bKc4"));
  const TransactionId id = layer_.send_request(invite, kUdpPeer, record());
  const Message busy = response_to(invite, 486, "busytag");
  layer_.receive(busy, kUdpPeer);
  ASSERT_EQ(transport_.count("ACK"), 1u);
  const Message& ack = transport_.sent.back().message;
  EXPECT_EQ(ack.request_uri_text(), "sip:room@127.0.0.1");
  EXPECT_EQ(ack.top_via().branch(), "z9hG4bKc4");
  EXPECT_EQ(ack.vias().size(), 1u);
  EXPECT_EQ(ack.cseq().number, 1u);
  EXPECT_EQ(ack.cseq().method, Method::kAck);
  EXPECT_EQ(ack.to().tag(), "busytag");
  EXPECT_EQ(ack.from().tag(), "a1");
  EXPECT_EQ(ack.call_id(), "call-1@127.0.0.1");
  EXPECT_EQ(statuses_, std::vector<int>{486});
  EXPECT_EQ(layer_.state(id), TransactionState::kCompleted);

  layer_.receive(busy, kUdpPeer);  // our ACK was lost
  EXPECT_EQ(transport_.count("ACK"), 2u);
  EXPECT_EQ(statuses_.size(), 1u) << "retransmitted final must not reach the TU";
  // Timer D: 32 s on UDP, no INVITE retransmission meanwhile.
  advance(31999);
  EXPECT_EQ(layer_.state(id), TransactionState::kCompleted);
  EXPECT_EQ(transport_.count("INVITE"), 1u);
  advance(1);
  EXPECT_EQ(layer_.state(id), std::nullopt);
}

TEST_F(TransactionTest, ClientInviteOverTcpLeavesCompletedAtOnce) {
  const Message invite = parse(request_text("INVITE", "z9hG4bKc5", "TCP"));
  const TransactionId id = layer_.send_request(invite, kTcpPeer, record());
  layer_.receive(response_to(invite, 603), kTcpPeer);
  EXPECT_EQ(transport_.count("ACK"), 1u);
  EXPECT_EQ(layer_.state(id), std::nullopt);  // Timer D = 0 for reliable transports
}

// RFC 6026 §7.2: 2xx retransmissions reach the TU (which ACKs them) until Timer M.
TEST_F(TransactionTest, ClientInvite2xxGoesToTuAndRetransmitted2xxToo) {
  const Message invite = parse(request_text("INVITE", "z9hG4bKc6"));
  const TransactionId id = layer_.send_request(invite, kUdpPeer, record());
  const Message ok = response_to(invite, 200);
  layer_.receive(ok, kUdpPeer);
  layer_.receive(ok, kUdpPeer);
  EXPECT_EQ(statuses_, (std::vector<int>{200, 200}));
  EXPECT_EQ(transport_.count("ACK"), 0u) << "the ACK for 2xx belongs to the TU";
  EXPECT_EQ(layer_.state(id), TransactionState::kAccepted);
  advance(31999);
  EXPECT_EQ(transport_.count("INVITE"), 1u);
  advance(1);
  EXPECT_EQ(layer_.state(id), std::nullopt);
  layer_.receive(ok, kUdpPeer);  // after Timer M: a stray for the TU to re-ACK
  EXPECT_EQ(user_.strays.size(), 1u);
}

// ---- §17.1.2 client non-INVITE

// §9.1: after our CANCEL the callee gets 64*T1 to send a final response.
// One that keeps sending provisionals (each restarts Timer C) must not hold
// the INVITE transaction, and the call the TU keeps for it, for ever.
TEST_F(TransactionTest, ClientInviteEndsSixtyFourT1AfterItsCancelWhateverProvisionalsCome) {
  const Message invite = parse(request_text("INVITE", "z9hG4bKcx"));
  const TransactionId id = layer_.send_request(invite, kUdpPeer, record());
  layer_.receive(response_to(invite, 180), kUdpPeer);
  ASSERT_TRUE(layer_.may_cancel(id));
  advance(5000);
  layer_.cancel_sent(id);
  for (int i = 0; i < 3; ++i) {  // a provisional every 10 s
    advance(10000);
    layer_.receive(response_to(invite, 183), kUdpPeer);
  }
  EXPECT_EQ(layer_.state(id), TransactionState::kProceeding);
  EXPECT_TRUE(std::find(events_.begin(), events_.end(), ClientEvent::Kind::kTimeout) ==
              events_.end());
  advance(1999);  // 31.999 s after the CANCEL
  EXPECT_EQ(layer_.state(id), TransactionState::kProceeding);
  advance(1);
  EXPECT_EQ(layer_.state(id), std::nullopt);
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back(), ClientEvent::Kind::kTimeout);
  // Without a CANCEL, provisionals keep the transaction (Timer C: 3 min).
  const Message other = parse(request_text("INVITE", "z9hG4bKcy", "UDP", 2));
  const TransactionId kept = layer_.send_request(other, kUdpPeer, record());
  layer_.receive(response_to(other, 180), kUdpPeer);
  for (int i = 0; i < 6; ++i) {
    advance(10000);
    layer_.receive(response_to(other, 180), kUdpPeer);
  }
  EXPECT_EQ(layer_.state(kept), TransactionState::kProceeding);
}

TEST_F(TransactionTest, ClientNonInviteTimerEDoublesUpToT2ThenTimerF) {
  layer_.send_request(parse(request_text("OPTIONS", "z9hG4bKn1")), kUdpPeer, record());
  // Sends at 0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5 s.
  advance(3500);
  EXPECT_EQ(transport_.count("OPTIONS"), 4u);
  advance(3999);
  EXPECT_EQ(transport_.count("OPTIONS"), 4u);
  advance(1);
  EXPECT_EQ(transport_.count("OPTIONS"), 5u);
  advance(31500 - 7500);
  EXPECT_EQ(transport_.count("OPTIONS"), 11u);
  EXPECT_TRUE(events_.empty());
  advance(500);
  EXPECT_EQ(events_, std::vector<ClientEvent::Kind>{ClientEvent::Kind::kTimeout});
  EXPECT_EQ(transport_.count("OPTIONS"), 11u);
}

TEST_F(TransactionTest, ClientNonInviteInProceedingRetransmitsEveryT2) {
  const Message options = parse(request_text("OPTIONS", "z9hG4bKn2"));
  layer_.send_request(options, kUdpPeer, record());
  layer_.receive(response_to(options, 100), kUdpPeer);
  // E was armed for 0.5 s before the 100: fires, then resets to T2.
  advance(500);
  EXPECT_EQ(transport_.count("OPTIONS"), 2u);
  advance(3999);
  EXPECT_EQ(transport_.count("OPTIONS"), 2u);
  advance(1);
  EXPECT_EQ(transport_.count("OPTIONS"), 3u);
  advance(4000);
  EXPECT_EQ(transport_.count("OPTIONS"), 4u);
}

TEST_F(TransactionTest, ClientNonInviteCompletedAbsorbsRetransmittedFinalsForT4) {
  const Message options = parse(request_text("OPTIONS", "z9hG4bKn3"));
  const TransactionId id = layer_.send_request(options, kUdpPeer, record());
  const Message ok = response_to(options, 200);
  layer_.receive(ok, kUdpPeer);
  layer_.receive(ok, kUdpPeer);
  EXPECT_EQ(statuses_, std::vector<int>{200});
  EXPECT_EQ(layer_.state(id), TransactionState::kCompleted);
  advance(4999);  // Timer K = T4
  EXPECT_EQ(layer_.state(id), TransactionState::kCompleted);
  EXPECT_EQ(transport_.count("OPTIONS"), 1u);
  advance(1);
  EXPECT_EQ(layer_.state(id), std::nullopt);
  EXPECT_EQ(layer_.stats().retransmissions_absorbed, 1u);
}

TEST_F(TransactionTest, ClientTransportErrorIsReportedOnce) {
  transport_.fail = true;
  const TransactionId id =
      layer_.send_request(parse(request_text("OPTIONS", "z9hG4bKn4")), kUdpPeer, record());
  EXPECT_EQ(events_, std::vector<ClientEvent::Kind>{ClientEvent::Kind::kTransportError});
  EXPECT_EQ(layer_.state(id), std::nullopt);
  advance(64000);
  EXPECT_EQ(events_.size(), 1u);
  EXPECT_EQ(transport_.count("OPTIONS"), 1u);
}

TEST_F(TransactionTest, ResponseMatchesOnBranchAndCSeqMethodOnly) {
  const Message options = parse(request_text("OPTIONS", "z9hG4bKn5"));
  layer_.send_request(options, kUdpPeer, record());
  // Same branch, other method (§17.1.3): not ours.
  Message other = parse(request_text("INFO", "z9hG4bKn5"));
  layer_.receive(response_to(other, 200), kUdpPeer);
  EXPECT_TRUE(statuses_.empty());
  EXPECT_EQ(user_.strays.size(), 1u);
  EXPECT_EQ(layer_.stats().stray_responses, 1u);
}

// ---- §17.2.1 server INVITE

TEST_F(TransactionTest, ServerInviteSends100TryingWhenTuIsSilentFor200ms) {
  layer_.receive(parse(request_text("INVITE", "z9hG4bKs1")), kUdpPeer);
  ASSERT_EQ(user_.requests.size(), 1u);
  advance(199);
  EXPECT_EQ(transport_.count("100"), 0u);
  advance(1);
  ASSERT_EQ(transport_.count("100"), 1u);
  EXPECT_TRUE(transport_.sent.back().message.to().tag().empty()) << "§8.2.6.1: no tag on 100";
  // A retransmitted INVITE is absorbed and answered with the last provisional.
  layer_.receive(parse(request_text("INVITE", "z9hG4bKs1")), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 1u);
  EXPECT_EQ(transport_.count("100"), 2u);
}

TEST_F(TransactionTest, ServerInviteNo100WhenTuAnswersQuickly) {
  user_.on_request_hook = [this](TransactionId id) {
    EXPECT_TRUE(layer_.respond(id, response_to(*user_.requests.back().second, 180)));
  };
  layer_.receive(parse(request_text("INVITE", "z9hG4bKs2")), kUdpPeer);
  advance(1000);
  EXPECT_EQ(transport_.count("100"), 0u);
  EXPECT_EQ(transport_.count("180"), 1u);
}

TEST_F(TransactionTest, ServerInviteRetransmitsNon2xxOnTimerGUntilTimerH) {
  layer_.receive(parse(request_text("INVITE", "z9hG4bKs3")), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 486)));
  EXPECT_FALSE(layer_.respond(id, response_to(*invite, 500))) << "one final only";
  EXPECT_EQ(transport_.count("486"), 1u);
  // G: 0.5, 1, 2, 4, 4, ... → sends at 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5 s.
  advance(3500);
  EXPECT_EQ(transport_.count("486"), 4u);
  // Completed keeps the response, not the request it answered.
  EXPECT_EQ(layer_.request(id), nullptr);
  // A CANCEL now is answered 200 and changes nothing (§9.2).
  layer_.receive(parse(request_text("CANCEL", "z9hG4bKs3")), kUdpPeer);
  EXPECT_EQ(transport_.count("200"), 1u);
  EXPECT_TRUE(user_.cancelled.empty());
  advance(31500 - 3500);
  EXPECT_EQ(transport_.count("486"), 11u);
  EXPECT_EQ(layer_.state(id), TransactionState::kCompleted);
  advance(500);  // Timer H = 64*T1
  EXPECT_EQ(layer_.state(id), std::nullopt);
  EXPECT_EQ(transport_.count("486"), 11u);
  EXPECT_EQ(layer_.stats().timeouts, 1u);
}

TEST_F(TransactionTest, ServerInviteAckForNon2xxConfirmsAndIsAbsorbedForT4) {
  const std::string invite_text = request_text("INVITE", "z9hG4bKs4");
  layer_.receive(parse(invite_text), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 404, "t404")));
  // Retransmitted INVITE in Completed: the final again.
  layer_.receive(parse(invite_text), kUdpPeer);
  EXPECT_EQ(transport_.count("404"), 2u);
  const std::string ack = request_text("ACK", "z9hG4bKs4");
  layer_.receive(parse(ack), kUdpPeer);
  EXPECT_EQ(layer_.state(id), TransactionState::kConfirmed);
  layer_.receive(parse(ack), kUdpPeer);
  EXPECT_TRUE(user_.acks.empty()) << "ACK for a non-2xx never reaches the TU";
  advance(10000);
  EXPECT_EQ(transport_.count("404"), 2u) << "no Timer G after the ACK";
  EXPECT_EQ(layer_.state(id), std::nullopt);  // Timer I = T4 (5 s) elapsed
  EXPECT_EQ(user_.requests.size(), 1u);
}

// RFC 6026: after a 2xx the INVITE transaction absorbs INVITE retransmissions
// (Accepted, Timer L) and the ACK (new branch) goes to the TU.
TEST_F(TransactionTest, ServerInvite2xxAcceptedAbsorbsRetransmittedInvite) {
  const std::string invite_text = request_text("INVITE", "z9hG4bKs5");
  layer_.receive(parse(invite_text), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 200)));
  EXPECT_EQ(layer_.state(id), TransactionState::kAccepted);
  layer_.receive(parse(invite_text), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 1u);
  EXPECT_EQ(transport_.count("200"), 1u) << "the TU, not the transaction, retransmits 2xx";
  // The TU's own retransmission passes through while Accepted.
  EXPECT_TRUE(layer_.respond(id, response_to(*invite, 200)));
  EXPECT_EQ(transport_.count("200"), 2u);
  layer_.receive(parse(request_text("ACK", "z9hG4bKs5ack")), kUdpPeer);
  EXPECT_EQ(user_.acks.size(), 1u);
  advance(32000);
  EXPECT_EQ(layer_.state(id), std::nullopt);
}

TEST_F(TransactionTest, ServerInviteOverTcpHasNoTimerGAndNoTimerI) {
  layer_.receive(parse(request_text("INVITE", "z9hG4bKs6", "TCP")), kTcpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 480)));
  advance(10000);
  EXPECT_EQ(transport_.count("480"), 1u);
  EXPECT_EQ(transport_.sent.back().to, kTcpPeer);
  layer_.receive(parse(request_text("ACK", "z9hG4bKs6", "TCP")), kTcpPeer);
  EXPECT_EQ(layer_.state(id), std::nullopt);
}

// ---- §17.2.2 server non-INVITE

TEST_F(TransactionTest, ServerNonInviteAbsorbsInTryingRepeatsFinalUntilTimerJ) {
  const std::string text = request_text("OPTIONS", "z9hG4bKs7");
  layer_.receive(parse(text), kUdpPeer);
  layer_.receive(parse(text), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 1u);
  EXPECT_TRUE(transport_.sent.empty()) << "Trying: retransmissions silently absorbed";
  const auto [id, options] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*options, 200)));
  layer_.receive(parse(text), kUdpPeer);
  EXPECT_EQ(transport_.count("200"), 2u);
  advance(31999);
  EXPECT_EQ(layer_.state(id), TransactionState::kCompleted);
  advance(1);
  EXPECT_EQ(layer_.state(id), std::nullopt);
  // After Timer J the same request is new again.
  layer_.receive(parse(text), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 2u);
}

// What the request caps count: server transactions still before their
// final response, per peer (an IPv6 peer by its /64), never our own
// requests, which a subscriber that never answers could otherwise pile up.
TEST_F(TransactionTest, PendingServerCountsPeersRequestsPerSlash64AndNoneOfOurOwn) {
  for (int i = 0; i < 5; ++i) {
    layer_.send_request(parse(request_text("NOTIFY", "z9hG4bKc" + std::to_string(i))), kUdpPeer,
                        record());
  }
  EXPECT_EQ(layer_.pending(), 5u);
  EXPECT_EQ(layer_.pending_server(), 0u);
  EXPECT_EQ(layer_.server_transactions_from("127.0.0.1"), 0u);
  const Endpoint v6a{TransportKind::kUdp, "2001:db8:1:2::a", 5070, 0};
  const Endpoint v6b{TransportKind::kUdp, "2001:db8:1:2:ffff::b", 5070, 0};
  const Endpoint v6c{TransportKind::kUdp, "2001:db8:1:3::c", 5070, 0};
  std::string one = request_text("OPTIONS", "z9hG4bKv1");
  std::string two = request_text("OPTIONS", "z9hG4bKv2");
  two.replace(two.find("call-1@"), 7, "call-2@");
  std::string three = request_text("OPTIONS", "z9hG4bKv3");
  three.replace(three.find("call-1@"), 7, "call-3@");
  layer_.receive(parse(one), v6a);
  layer_.receive(parse(two), v6b);
  layer_.receive(parse(three), v6c);
  ASSERT_EQ(user_.requests.size(), 3u);
  EXPECT_EQ(layer_.pending_server(), 3u);
  EXPECT_EQ(layer_.server_transactions_from("2001:db8:1:2::77"), 2u);
  EXPECT_EQ(layer_.server_transactions_from("2001:db8:1:3::c"), 1u);
  // Past its final response a transaction only absorbs retransmissions.
  const auto [id, request] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*request, 200)));
  EXPECT_EQ(layer_.pending_server(), 2u);
  EXPECT_EQ(layer_.server_transactions_from("2001:db8:1:2::a"), 1u);
  // Timer J ends it: counted once, not again.
  advance(32000);
  EXPECT_EQ(layer_.server_transactions_from("2001:db8:1:2::a"), 1u);
  EXPECT_EQ(layer_.pending_server(), 2u);
}

// A refused INVITE waits only for its ACK (Timer H, 32 s over UDP): like
// any transaction past its final response it is not pending, so INVITEs
// from spoofed sources that never ACK their 4xx cannot fill the caps.
TEST_F(TransactionTest, AnInviteRefusedAndNeverAckedIsNoLongerPending) {
  for (int i = 1; i <= 3; ++i) {
    std::string text = request_text("INVITE", "z9hG4bKr" + std::to_string(i));
    text.replace(text.find("call-1@"), 7, "call-" + std::to_string(i + 10) + "@");
    const Endpoint peer{TransportKind::kUdp, "198.51.100." + std::to_string(i), 5070, 0};
    layer_.receive(parse(text), peer);
  }
  ASSERT_EQ(user_.requests.size(), 3u);
  EXPECT_EQ(layer_.pending_server(), 3u);
  for (const auto& [id, invite] : user_.requests) {
    ASSERT_TRUE(layer_.respond(id, response_to(*invite, 481)));
  }
  EXPECT_EQ(layer_.pending_server(), 0u);
  EXPECT_EQ(layer_.server_transactions_from("198.51.100.1"), 0u);
  EXPECT_EQ(layer_.pending(), 0u);
  EXPECT_EQ(layer_.lingering(), 3u);
  // Still Completed: the 481 is repeated on Timer G until Timer H.
  const TransactionId first = user_.requests.at(0).first;
  EXPECT_EQ(layer_.state(first), TransactionState::kCompleted);
  advance(500);
  EXPECT_EQ(transport_.count("481"), 6u);
  advance(31500);
  EXPECT_EQ(layer_.state(first), std::nullopt);
  EXPECT_EQ(layer_.size(), 0u);
  EXPECT_EQ(layer_.pending_server(), 0u);  // counted once, not again
}

// Finished transactions of requests answered at once (here from a new
// source each, as spoofed OPTIONS would be) are capped: the oldest ends
// early. A retransmission of a forgotten request is a new request again.
TEST_F(TransactionTest, FinishedServerTransactionsAreCappedOldestFirst) {
  layer_.set_max_lingering(4);
  std::vector<std::string> texts;
  for (int i = 0; i < 10; ++i) {
    std::string text = request_text("OPTIONS", "z9hG4bKl" + std::to_string(i));
    text.replace(text.find("call-1@"), 7, "call-" + std::to_string(i + 20) + "@");
    const Endpoint peer{TransportKind::kUdp, "10.0.0." + std::to_string(i + 1), 5070, 0};
    layer_.receive(parse(text), peer);
    const auto [id, request] = user_.requests.back();
    ASSERT_TRUE(layer_.respond(id, response_to(*request, 200)));
    texts.push_back(std::move(text));
  }
  EXPECT_EQ(layer_.size(), 4u);
  EXPECT_EQ(layer_.lingering(), 4u);
  EXPECT_EQ(layer_.stats().lingering_evicted, 6u);
  EXPECT_EQ(layer_.state(user_.requests.at(5).first), std::nullopt);
  EXPECT_EQ(layer_.state(user_.requests.at(6).first), TransactionState::kCompleted);
  // The newest are still absorbed (answered from the transaction, not the TU).
  layer_.receive(parse(texts.at(9)), Endpoint{TransportKind::kUdp, "10.0.0.10", 5070, 0});
  EXPECT_EQ(user_.requests.size(), 10u);
  EXPECT_EQ(transport_.count("200"), 11u);
  // The oldest was forgotten: its retransmission reaches the TU again.
  layer_.receive(parse(texts.at(0)), Endpoint{TransportKind::kUdp, "10.0.0.1", 5070, 0});
  EXPECT_EQ(user_.requests.size(), 11u);
  // A refused INVITE counts toward the cap as well; a 2xx-answered one does not.
  std::string invite_text = request_text("INVITE", "z9hG4bKli");
  invite_text.replace(invite_text.find("call-1@"), 7, "call-99@");
  layer_.receive(parse(invite_text), kUdpPeer);
  const auto [invite_id, invite] = user_.requests.back();
  ASSERT_TRUE(layer_.respond(invite_id, response_to(*invite, 200)));
  for (int i = 0; i < 6; ++i) {
    std::string text = request_text("INVITE", "z9hG4bKlr" + std::to_string(i));
    text.replace(text.find("call-1@"), 7, "call-" + std::to_string(i + 40) + "@");
    layer_.receive(parse(text), kUdpPeer);
    const auto [id, request] = user_.requests.back();
    ASSERT_TRUE(layer_.respond(id, response_to(*request, 486)));
  }
  EXPECT_EQ(layer_.state(invite_id), TransactionState::kAccepted);
  EXPECT_EQ(layer_.lingering(), 5u);  // four capped, and the accepted INVITE
  EXPECT_EQ(layer_.pending(), 1u);    // the retransmitted OPTIONS, not yet answered
  // Stale entries do not pile up: many transactions ended on their own.
  layer_.set_max_lingering(0);
  for (int round = 0; round < 3; ++round) {
    advance(32000);
    EXPECT_LE(layer_.size(), 2u);
  }
}

// A CANCEL crossing our refusal: its own 200 finishes a transaction, which
// under the cap ends the oldest finished one, the very INVITE it names. The
// layer reads what it needs of the INVITE before (an ASan build reported a
// use after free here), and the INVITE, already refused, is not cancelled.
TEST_F(TransactionTest, ACancelWhose200EndsTheRefusedInviteItNamesIsSafe) {
  layer_.set_max_lingering(1);
  layer_.receive(parse(request_text("INVITE", "z9hG4bKc1")), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 486)));
  layer_.receive(parse(request_text("CANCEL", "z9hG4bKc1")), kUdpPeer);
  EXPECT_EQ(transport_.count("200"), 1u);
  EXPECT_EQ(transport_.count("487"), 0u);
  EXPECT_TRUE(user_.cancelled.empty());
  EXPECT_EQ(layer_.state(id), std::nullopt);
  EXPECT_EQ(layer_.stats().lingering_evicted, 1u);
}

// A refused re-INVITE (To tag) is not ended early: its ACK must stay with
// the transaction, not reach the dialog as if it answered an offer.
TEST_F(TransactionTest, ARefusedReInviteIsNotEndedEarly) {
  layer_.set_max_lingering(1);
  std::string reinvite = request_text("INVITE", "z9hG4bKri");
  reinvite.replace(reinvite.find("To: <sip:room@127.0.0.1>"), 24,
                   "To: <sip:room@127.0.0.1>;tag=b2");
  layer_.receive(parse(reinvite), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 491)));
  for (int i = 0; i < 3; ++i) {
    std::string text = request_text("OPTIONS", "z9hG4bKro" + std::to_string(i));
    text.replace(text.find("call-1@"), 7, "call-" + std::to_string(i + 60) + "@");
    layer_.receive(parse(text), kUdpPeer);
    const auto [options_id, options] = user_.requests.back();
    ASSERT_TRUE(layer_.respond(options_id, response_to(*options, 200)));
  }
  EXPECT_EQ(layer_.state(id), TransactionState::kCompleted);
  EXPECT_EQ(layer_.pending_server(), 0u);
  std::string ack = request_text("ACK", "z9hG4bKri");
  ack.replace(ack.find("To: <sip:room@127.0.0.1>"), 24, "To: <sip:room@127.0.0.1>;tag=b2");
  layer_.receive(parse(ack), kUdpPeer);
  EXPECT_TRUE(user_.acks.empty()) << "the ACK of a non-2xx stays in its transaction";
  EXPECT_EQ(layer_.state(id), TransactionState::kConfirmed);
}

TEST_F(TransactionTest, ServerNonInviteProceedingRepeatsProvisional) {
  const std::string text = request_text("SUBSCRIBE", "z9hG4bKs8");
  layer_.receive(parse(text), kUdpPeer);
  const auto [id, request] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*request, 100)));
  layer_.receive(parse(text), kUdpPeer);
  EXPECT_EQ(transport_.count("100"), 2u);
  EXPECT_EQ(layer_.state(id), TransactionState::kProceeding);
}

TEST_F(TransactionTest, RequestsWithSameBranchFromOtherSentByAreDistinct) {
  layer_.receive(parse(request_text("OPTIONS", "z9hG4bKsame")), kUdpPeer);
  std::string other = request_text("OPTIONS", "z9hG4bKsame");
  other.replace(other.find("127.0.0.1:5070"), 14, "127.0.0.2:5070");
  other.replace(other.find("call-1@"), 7, "call-2@");  // another request, not a merged one
  layer_.receive(parse(other), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 2u);
}

// §8.2.2.2: the same request (From tag, Call-ID, CSeq) on another branch
// while its transaction is in progress, as when a proxy's forks meet again.
TEST_F(TransactionTest, MergedRequestIsAnswered482AndNeverReachesTheTu) {
  layer_.receive(parse(request_text("INVITE", "z9hG4bKpath1")), kUdpPeer);
  ASSERT_EQ(user_.requests.size(), 1u);
  const auto [id, invite] = user_.requests.at(0);
  const std::string merged = request_text("INVITE", "z9hG4bKpath2");
  layer_.receive(parse(merged), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 1u);
  ASSERT_EQ(transport_.count("482"), 1u);
  EXPECT_EQ(transport_.sent.back().message.reason_phrase(), "Loop Detected");
  EXPECT_FALSE(transport_.sent.back().message.to().tag().empty());
  EXPECT_EQ(layer_.stats().merged_requests, 1u);
  layer_.receive(parse(merged), kUdpPeer);  // its retransmission: the 482 again
  EXPECT_EQ(transport_.count("482"), 2u);
  layer_.receive(parse(request_text("ACK", "z9hG4bKpath2")), kUdpPeer);
  EXPECT_TRUE(user_.acks.empty());
  // Accepted (2xx), the request still merges until the transaction ends.
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 200)));
  layer_.receive(parse(request_text("INVITE", "z9hG4bKpath3")), kUdpPeer);
  EXPECT_EQ(transport_.count("482"), 3u);
  EXPECT_EQ(user_.requests.size(), 1u);
  advance(40000);
  EXPECT_EQ(layer_.state(id), std::nullopt);
  layer_.receive(parse(request_text("INVITE", "z9hG4bKpath4")), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 2u);
  EXPECT_EQ(layer_.stats().merged_requests, 2u);
}

// A refused request no longer merges: a UA that resubmits with credentials
// under the same CSeq (against §22.2, but seen) reaches the TU.
TEST_F(TransactionTest, ARefusedRequestResubmittedUnderTheSameCSeqIsNotMerged) {
  layer_.receive(parse(request_text("INVITE", "z9hG4bKauth1")), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 401)));
  layer_.receive(parse(request_text("INVITE", "z9hG4bKauth2")), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 2u);
  EXPECT_EQ(transport_.count("482"), 0u);
}

// Inside a dialog (To tag) the CSeq rules of §12.2.2 apply, not merging; and
// another CSeq outside one is another request.
TEST_F(TransactionTest, OnlyTheSameRequestOutsideADialogCountsAsMerged) {
  layer_.receive(parse(request_text("OPTIONS", "z9hG4bKm1")), kUdpPeer);
  layer_.receive(parse(request_text("OPTIONS", "z9hG4bKm2", "UDP", 2)), kUdpPeer);
  layer_.receive(parse(request_text("SUBSCRIBE", "z9hG4bKm3")), kUdpPeer);
  std::string in_dialog = request_text("INFO", "z9hG4bKm4");
  in_dialog.replace(in_dialog.find("To: <sip:room@127.0.0.1>"), 24,
                    "To: <sip:room@127.0.0.1>;tag=b2");
  layer_.receive(parse(in_dialog), kUdpPeer);
  in_dialog.replace(in_dialog.find("z9hG4bKm4"), 9, "z9hG4bKm5");
  layer_.receive(parse(in_dialog), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 5u);
  EXPECT_EQ(transport_.count("482"), 0u);
}

// §17.2.3: requests without the magic cookie match on the RFC 2543 fields.
TEST_F(TransactionTest, Rfc2543RequestRetransmissionAndAckAreMatched) {
  const std::string invite_text = request_text("INVITE", "old-style-1");
  layer_.receive(parse(invite_text), kUdpPeer);
  layer_.receive(parse(invite_text), kUdpPeer);
  ASSERT_EQ(user_.requests.size(), 1u);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 603)));
  layer_.receive(parse(request_text("ACK", "old-style-1")), kUdpPeer);
  EXPECT_EQ(layer_.state(id), TransactionState::kConfirmed);
  EXPECT_TRUE(user_.acks.empty());
  // Another CSeq is another transaction.
  layer_.receive(parse(request_text("INVITE", "old-style-1", "UDP", 2)), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 2u);
}

// ---- §9.2 CANCEL

TEST_F(TransactionTest, CancelOfRingingInviteAnswers200AndInvite487) {
  layer_.receive(parse(request_text("INVITE", "z9hG4bKx1")), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 180, "ring")));
  layer_.receive(parse(request_text("CANCEL", "z9hG4bKx1")), kUdpPeer);
  EXPECT_EQ(user_.requests.size(), 1u) << "CANCEL is handled by the layer";
  ASSERT_EQ(user_.cancelled, std::vector<TransactionId>{id});
  ASSERT_EQ(transport_.count("200"), 1u);
  ASSERT_EQ(transport_.count("487"), 1u);
  for (const Sent& s : transport_.sent) {
    if (s.message.status() == 200) {
      EXPECT_EQ(s.message.cseq().method, Method::kCancel);
      EXPECT_EQ(s.message.to().tag(), "ring");
    }
    if (s.message.status() == 487) {
      EXPECT_EQ(s.message.cseq().method, Method::kInvite);
      EXPECT_EQ(s.message.to().tag(), "ring");
    }
  }
  EXPECT_FALSE(layer_.respond(id, response_to(*invite, 200))) << "already answered 487";
  layer_.receive(parse(request_text("ACK", "z9hG4bKx1")), kUdpPeer);
  EXPECT_EQ(layer_.state(id), TransactionState::kConfirmed);
  // A retransmitted CANCEL gets the same 200, and nothing else happens.
  layer_.receive(parse(request_text("CANCEL", "z9hG4bKx1")), kUdpPeer);
  EXPECT_EQ(transport_.count("200"), 2u);
  EXPECT_EQ(user_.cancelled.size(), 1u);
  EXPECT_EQ(layer_.stats().cancels_matched, 1u);
}

// The TU hears of the CANCEL with the INVITE itself (answered, the
// transaction lets its request go), and from then on the INVITE counts as
// answered: nothing the TU was still preparing for it can reach the peer.
TEST_F(TransactionTest, ACancelledInviteReachesTheUserAndCountsAsAnswered) {
  layer_.receive(parse(request_text("INVITE", "z9hG4bKx3")), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  EXPECT_FALSE(layer_.answered(id));
  layer_.receive(parse(request_text("CANCEL", "z9hG4bKx3")), kUdpPeer);
  ASSERT_EQ(user_.cancelled_requests.size(), 1u);
  ASSERT_NE(user_.cancelled_requests[0], nullptr);
  EXPECT_EQ(user_.cancelled_requests[0]->method(), Method::kInvite);
  EXPECT_TRUE(layer_.answered(id));
  EXPECT_FALSE(layer_.respond(id, response_to(*invite, 200)));
  EXPECT_TRUE(layer_.answered(12345));  // no such transaction
}

TEST_F(TransactionTest, CancelForUnknownTransactionIs481) {
  layer_.receive(parse(request_text("CANCEL", "z9hG4bKnothing", "UDP", 1, "CANCEL")), kUdpPeer);
  ASSERT_EQ(transport_.count("481"), 1u);
  EXPECT_TRUE(user_.requests.empty());
  EXPECT_EQ(layer_.stats().cancels_unmatched, 1u);
}

TEST_F(TransactionTest, CancelAfterFinalIs200WithoutA487) {
  layer_.receive(parse(request_text("INVITE", "z9hG4bKx2")), kUdpPeer);
  const auto [id, invite] = user_.requests.at(0);
  ASSERT_TRUE(layer_.respond(id, response_to(*invite, 200)));
  layer_.receive(parse(request_text("CANCEL", "z9hG4bKx2")), kUdpPeer);
  EXPECT_EQ(transport_.count("487"), 0u);
  EXPECT_TRUE(user_.cancelled.empty());
  EXPECT_EQ(transport_.count("200"), 2u);  // the INVITE's and the CANCEL's
}

TEST_F(TransactionTest, ServerTransportErrorEndsTheTransaction) {
  layer_.receive(parse(request_text("OPTIONS", "z9hG4bKe1")), kUdpPeer);
  const auto [id, options] = user_.requests.at(0);
  transport_.fail = true;
  EXPECT_TRUE(layer_.respond(id, response_to(*options, 200)));
  EXPECT_EQ(layer_.state(id), std::nullopt);
  EXPECT_EQ(layer_.stats().transport_errors, 1u);
}

TEST_F(TransactionTest, DestroyingTheLayerWithPendingTimersIsSafe) {
  {
    TransactionLayer layer(clock_, transport_, user_);
    layer.send_request(parse(request_text("INVITE", "z9hG4bKd1")), kUdpPeer, {});
    layer.receive(parse(request_text("INVITE", "z9hG4bKd2")), kUdpPeer);
  }
  EXPECT_EQ(clock_.pending(), 0u);
  advance(64000);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
