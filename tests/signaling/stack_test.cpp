// The stack façade end to end on 127.0.0.1: requests and responses through
// client/server transactions, 2xx retransmission until ACK (RFC 3261
// §13.3.1.4), ACK timeout, CANCEL (§9), TCP.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "signaling/asio.hpp"
#include "signaling/message/message.hpp"
#include "signaling/stack.hpp"
#include "signaling/transaction/transaction_ids.hpp"

namespace chorus::sip {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using namespace std::chrono_literals;

StackConfig loopback(TransportKind transport = TransportKind::kUdp) {
  StackConfig config;
  config.listeners.push_back({transport, "127.0.0.1", 0});
  return config;
}

Message new_request(Method method, const Endpoint& to, std::string_view call_id = "stack-1") {
  Message request =
      Message::request(method, "sip:room@" + to.address + ":" + std::to_string(to.port) +
                                   (to.transport == TransportKind::kTcp ? ";transport=tcp" : ""));
  request.add_header("From", "<sip:alice@127.0.0.1>;tag=" + make_tag());
  request.add_header("To", "<sip:room@127.0.0.1>");
  request.add_header("Call-ID", call_id);
  request.add_header("CSeq", "1 " + std::string(method_name(method)));
  request.add_header("Contact", "<sip:alice@127.0.0.1>");
  request.set_body({}, {});
  return request;
}

template <class Predicate>
bool run_until(asio::io_context& io, Predicate done, std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(5ms);
  }
  return true;
}

TEST(Stack, OptionsRoundTripBetweenTwoStacksOverUdpAndTcp) {
  for (TransportKind kind : {TransportKind::kUdp, TransportKind::kTcp}) {
    SCOPED_TRACE(std::string(transport_name(kind)));
    asio::io_context io;
    Stack alice(io, loopback(kind));
    Stack focus(io, loopback(kind));
    alice.start();
    focus.start();
    Message seen;
    StackHandlers handlers;
    handlers.on_request = [&](const ServerTransaction& tx) {
      seen = tx.request();
      tx.respond(200, "OK", "f00");
    };
    focus.set_handlers(handlers);
    std::vector<int> statuses;
    const TransactionId id = alice.send_request(
        new_request(Method::kOptions, focus.listening().front()), [&](const ClientEvent& event) {
          ASSERT_EQ(event.kind, ClientEvent::Kind::kResponse);
          statuses.push_back(event.response->status());
        });
    ASSERT_NE(id, 0u);
    ASSERT_TRUE(run_until(io, [&] { return !statuses.empty(); }));
    EXPECT_EQ(statuses, std::vector<int>{200});
    // The stack added our Via (fresh RFC 3261 branch, rport) and Max-Forwards.
    const Via via = seen.top_via();
    EXPECT_TRUE(via.rfc3261_branch());
    EXPECT_TRUE(via.has_rport());
    EXPECT_EQ(via.transport, transport_name(kind));
    EXPECT_EQ(via.port, alice.listening().front().port);
    EXPECT_EQ(seen.max_forwards(), 70u);
  }
}

TEST(Stack, RequestWithoutRoutableNextHopIsRefused) {
  asio::io_context io;
  Stack alice(io, loopback());
  alice.start();
  Message request = new_request(Method::kOptions, alice.listening().front());
  request.set_request_uri("sip:bob@example.invalid");
  bool called = false;
  EXPECT_EQ(alice.send_request(std::move(request), [&](const ClientEvent&) { called = true; }), 0u);
  EXPECT_FALSE(called);
}

// A raw UDP peer against a stack on a manual clock: exact 2xx retransmission
// schedule, stopped by the ACK (§13.3.1.4).
class StackOkReliability : public ::testing::Test {
 protected:
  StackOkReliability()
      : client_(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        focus_(io_, loopback(), clock_) {
    focus_.start();
    StackHandlers handlers;
    handlers.on_request = [](const ServerTransaction& tx) { tx.respond(200, "OK", "ok-tag"); };
    handlers.on_ack = [this](const Message&, const Endpoint&) { ++acks_; };
    handlers.on_ack_timeout = [this](const Message&) { ++timeouts_; };
    focus_.set_handlers(handlers);
    server_ = udp::endpoint(asio::ip::make_address("127.0.0.1"), focus_.listening().front().port);
  }

  std::string invite_text(std::string_view method = "INVITE",
                          std::string_view branch = "z9hG4bKinv1") {
    const uint16_t port = client_.local_endpoint().port();
    return std::string(method) +
           " sip:room@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port) +
           ";branch=" + std::string(branch) +
           ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
           "To: <sip:room@127.0.0.1>" +
           (method == "ACK" ? ";tag=ok-tag" : "") + "\r\nCall-ID: ok-1\r\nCSeq: 1 " +
           std::string(method) + "\r\nContact: <sip:a@127.0.0.1>\r\nContent-Length: 0\r\n\r\n";
  }

  // Lets the io_context deliver, then counts 200s waiting at the client.
  size_t drain_oks() {
    io_.run_for(20ms);
    size_t count = 0;
    std::array<char, 4096> buffer{};
    boost::system::error_code error;
    while (client_.available(error) > 0) {
      udp::endpoint from;
      const size_t size = client_.receive_from(asio::buffer(buffer), from);
      if (std::string_view(buffer.data(), size).starts_with("SIP/2.0 200")) ++count;
    }
    return count;
  }

  asio::io_context io_;
  ManualTimerService clock_;
  udp::socket client_;
  Stack focus_;
  udp::endpoint server_;
  int acks_ = 0;
  int timeouts_ = 0;
};

TEST_F(StackOkReliability, TwoHundredIsRetransmittedUntilTheAck) {
  client_.send_to(asio::buffer(invite_text()), server_);
  EXPECT_EQ(drain_oks(), 1u);
  clock_.advance(499ms);
  EXPECT_EQ(drain_oks(), 0u);
  clock_.advance(1ms);
  EXPECT_EQ(drain_oks(), 1u);
  clock_.advance(1000ms);
  EXPECT_EQ(drain_oks(), 1u);
  // The ACK for a 2xx is its own transaction (new branch) and reaches the TU.
  client_.send_to(asio::buffer(invite_text("ACK", "z9hG4bKack1")), server_);
  io_.run_for(20ms);
  EXPECT_EQ(acks_, 1);
  clock_.advance(40000ms);
  EXPECT_EQ(drain_oks(), 0u);
  EXPECT_EQ(timeouts_, 0);
  EXPECT_EQ(focus_.stats().acks_matched, 1u);
  EXPECT_EQ(focus_.stats().ok_retransmissions, 2u);
}

TEST_F(StackOkReliability, MissingAckGivesUpAfter64T1) {
  client_.send_to(asio::buffer(invite_text()), server_);
  EXPECT_EQ(drain_oks(), 1u);
  // Retransmissions at 0.5, 1.5, 3.5, 7.5, 11.5, ... 31.5 s: ten of them.
  size_t total = 0;
  for (int ms = 0; ms < 31900; ms += 100) {
    clock_.advance(100ms);
    if (ms % 2000 == 0) total += drain_oks();
  }
  total += drain_oks();
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(timeouts_, 0);
  clock_.advance(100ms);
  EXPECT_EQ(timeouts_, 1);
  clock_.advance(10000ms);
  EXPECT_EQ(drain_oks(), 0u);
  EXPECT_EQ(timeouts_, 1);
}

TEST_F(StackOkReliability, RetransmittedInviteAfter2xxIsAbsorbed) {
  int requests = 0;
  StackHandlers handlers;
  handlers.on_request = [&](const ServerTransaction& tx) {
    ++requests;
    tx.respond(200, "OK", "ok-tag");
  };
  focus_.set_handlers(handlers);
  client_.send_to(asio::buffer(invite_text()), server_);
  EXPECT_EQ(drain_oks(), 1u);
  client_.send_to(asio::buffer(invite_text()), server_);
  io_.run_for(20ms);
  EXPECT_EQ(requests, 1);
}

TEST(Stack, CancelAfterRingingGets200AndTheInvite487) {
  asio::io_context io;
  StackConfig config = loopback();
  Stack alice(io, config);
  Stack focus(io, config);
  alice.start();
  focus.start();
  int cancels = 0;
  StackHandlers handlers;
  handlers.on_request = [](const ServerTransaction& tx) { tx.respond(180, "Ringing", "ring-tag"); };
  handlers.on_cancel = [&](const ServerTransaction& invite, const Message& cancel) {
    ++cancels;
    EXPECT_EQ(invite.request().call_id(), cancel.call_id());
  };
  focus.set_handlers(handlers);
  std::vector<int> invite_statuses;
  std::vector<int> cancel_statuses;
  const TransactionId invite =
      alice.send_request(new_request(Method::kInvite, focus.listening().front(), "cancel-1"),
                         [&](const ClientEvent& event) {
                           if (event.response) invite_statuses.push_back(event.response->status());
                         });
  EXPECT_EQ(alice.cancel(invite), 0u) << "no CANCEL before a provisional (§9.1)";
  ASSERT_TRUE(run_until(io, [&] { return !invite_statuses.empty(); }));
  const TransactionId cancel = alice.cancel(invite, [&](const ClientEvent& event) {
    if (event.response) cancel_statuses.push_back(event.response->status());
  });
  ASSERT_NE(cancel, 0u);
  ASSERT_TRUE(
      run_until(io, [&] { return invite_statuses.size() == 2 && !cancel_statuses.empty(); }));
  EXPECT_EQ(invite_statuses, (std::vector<int>{180, 487}));
  EXPECT_EQ(cancel_statuses, std::vector<int>{200});
  EXPECT_EQ(cancels, 1);
}

// What a tap saw: "in INVITE", "out 180 INVITE", ...
std::string tapped_line(const Message& m, MessageDirection direction) {
  return std::string(direction == MessageDirection::kReceived ? "in " : "out ") +
         (m.is_request()
              ? std::string(method_name(m.method()))
              : std::to_string(m.status()) + " " + std::string(method_name(m.cseq().method)));
}

TEST(Stack, MessageTapShowsEachMessageOnceInOrder) {
  asio::io_context io;
  Stack alice(io, loopback());
  Stack focus(io, loopback());
  alice.start();
  focus.start();
  std::vector<std::string> alice_saw, focus_saw;
  alice.set_message_tap(
      [&](const Message& m, MessageDirection d) { alice_saw.push_back(tapped_line(m, d)); });
  focus.set_message_tap(
      [&](const Message& m, MessageDirection d) { focus_saw.push_back(tapped_line(m, d)); });
  StackHandlers handlers;
  handlers.on_request = [](const ServerTransaction& tx) {
    if (tx.request().method() == Method::kInvite && tx.request().call_id() == "tap-2") {
      tx.respond(180, "Ringing", "ring-tag");  // left ringing: CANCELled below
      return;
    }
    if (tx.request().method() == Method::kInvite) tx.respond(180, "Ringing", "ok-tag");
    Message ok = make_response(tx.request(), 200, "OK", "ok-tag");
    ok.set_header("Contact", "<sip:room@127.0.0.1>");
    tx.respond(std::move(ok));
  };
  focus.set_handlers(handlers);

  // INVITE / 180 / 200; the ACK waits until the 200 came twice (§13.3.1.4).
  std::vector<Message> oks;
  Message invite = new_request(Method::kInvite, focus.listening().front(), "tap-1");
  alice.send_request(std::move(invite), [&](const ClientEvent& event) {
    if (event.response && event.response->status() == 200) oks.push_back(*event.response);
  });
  ASSERT_TRUE(run_until(
      io, [&] { return oks.size() >= 2; }, 2000ms));
  Message ack = Message::request(
      Method::kAck, "sip:room@127.0.0.1:" + std::to_string(focus.listening().front().port));
  ack.add_header("From", std::string(oks.front().header("From").value_or("")));
  ack.add_header("To", std::string(oks.front().header("To").value_or("")));
  ack.add_header("Call-ID", "tap-1");
  ack.add_header("CSeq", "1 ACK");
  ack.set_body({}, {});
  ASSERT_TRUE(alice.send_ack(ack));
  ASSERT_TRUE(alice.send_ack(ack));  // sent twice; the focus shows it once
  io.run_for(50ms);
  const std::vector<std::string> alice_call{"out INVITE", "in 180 INVITE", "in 200 INVITE",
                                            "out ACK", "out ACK"};
  EXPECT_EQ(alice_saw, alice_call);  // the 2xx retransmission is not shown again
  const std::vector<std::string> focus_call{"in INVITE", "out 180 INVITE", "out 200 INVITE",
                                            "in ACK"};
  EXPECT_EQ(focus_saw, focus_call);

  // CANCEL: the stack's own 487 is shown where it is sent.
  alice_saw.clear();
  focus_saw.clear();
  std::vector<int> statuses;
  const TransactionId ringing =
      alice.send_request(new_request(Method::kInvite, focus.listening().front(), "tap-2"),
                         [&](const ClientEvent& event) {
                           if (event.response) statuses.push_back(event.response->status());
                         });
  ASSERT_TRUE(run_until(io, [&] { return !statuses.empty(); }));
  ASSERT_NE(alice.cancel(ringing), 0u);
  ASSERT_TRUE(run_until(io, [&] { return statuses.size() == 2; }));
  io.run_for(50ms);
  const std::vector<std::string> alice_cancel{"out INVITE", "in 180 INVITE", "out CANCEL",
                                              "in 200 CANCEL", "in 487 INVITE"};
  EXPECT_EQ(alice_saw, alice_cancel);
  const std::vector<std::string> focus_cancel{"in INVITE", "out 180 INVITE", "in CANCEL",
                                              "out 487 INVITE"};
  EXPECT_EQ(focus_saw, focus_cancel);

  // No tap: nothing shown.
  focus.set_message_tap({});
  focus_saw.clear();
  std::vector<int> none;
  alice.send_request(new_request(Method::kOptions, focus.listening().front(), "tap-3"),
                     [&](const ClientEvent& event) {
                       if (event.response) none.push_back(event.response->status());
                     });
  ASSERT_TRUE(run_until(io, [&] { return !none.empty(); }));
  EXPECT_TRUE(focus_saw.empty());
}

TEST(Stack, UnhandledRequestsGet503) {
  asio::io_context io;
  Stack alice(io, loopback());
  Stack focus(io, loopback());
  alice.start();
  focus.start();
  std::vector<int> statuses;
  alice.send_request(new_request(Method::kOptions, focus.listening().front()),
                     [&](const ClientEvent& event) {
                       if (event.response) statuses.push_back(event.response->status());
                     });
  ASSERT_TRUE(run_until(io, [&] { return !statuses.empty(); }));
  EXPECT_EQ(statuses, std::vector<int>{503});
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
