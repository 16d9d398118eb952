// The stage-2 focus through real SIP exchanges on 127.0.0.1: a client Stack
// talks to a Server whose timers run on a manual clock.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "focus/events/dialog_info.hpp"
#include "focus/server.hpp"
#include "signaling/transaction/transaction_ids.hpp"

namespace chorus::focus {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using namespace std::chrono_literals;
using sip::ClientEvent;
using sip::Message;
using sip::Method;

constexpr std::string_view kOffer =
    "v=0\r\n"
    "o=alice 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : server_(io_, options(), clock_), client_(io_, client_config()) {
    server_.start();
    client_.start();
    sip::StackHandlers handlers;
    handlers.on_request = [this](const sip::ServerTransaction& tx) {
      client_requests_.push_back(tx.request());
      if (answer_ && answer_(tx)) return;
      tx.respond(200, "OK");
    };
    handlers.on_ack = [this](const Message& ack, const sip::Endpoint&) {
      client_acks_.push_back(ack);
    };
    client_.set_handlers(handlers);
    focus_ = server_.stack().listening().front();
  }

  static Options options() {
    Options options;
    options.sip_port = 0;
    options.tcp = false;
    options.rtp_first = 41000;
    options.rtp_last = 41009;
    options.slow_room_prefix = "slow-";  // the SlowRoom* tests ring
    options.ring_delay = 2000ms;
    options.rooms.push_back({"planned", "", 0});  // listed, never called into
    return options;
  }
  static sip::StackConfig client_config() {
    sip::StackConfig config;
    config.listeners.push_back({sip::TransportKind::kUdp, "127.0.0.1", 0});
    return config;
  }

  Message request(Method method, std::string_view user = "room1", std::string_view to_tag = {}) {
    Message m = Message::request(
        method, "sip:" + std::string(user) + "@127.0.0.1:" + std::to_string(focus_.port));
    m.add_header("From", "<sip:alice@127.0.0.1>;tag=" + from_tag_);
    m.add_header("To", "<sip:" + std::string(user) + "@127.0.0.1>" +
                           (to_tag.empty() ? "" : ";tag=" + std::string(to_tag)));
    m.add_header("Call-ID", call_id_);
    m.add_header("CSeq", std::to_string(++cseq_) + " " + std::string(method_name(method)));
    m.add_header("Contact", "<" + client_.contact_uri("alice", sip::TransportKind::kUdp) + ">");
    m.set_body({}, {});
    return m;
  }

  // Sends and waits for the final response (or timeout); returns all responses.
  // The handler shares its outcome: a response after the limit reaches it,
  // not this returned frame.
  std::vector<Message> exchange(Message m, std::chrono::milliseconds limit = 2000ms) {
    struct Outcome {
      std::vector<Message> responses;
      bool done = false;
    };
    auto outcome = std::make_shared<Outcome>();
    last_id_ = client_.send_request(std::move(m), focus_, [outcome](const ClientEvent& event) {
      if (event.response) outcome->responses.push_back(*event.response);
      if (!event.response || event.response->status() >= 200) outcome->done = true;
    });
    run_until([&] { return outcome->done; }, limit);
    return outcome->responses;
  }

  template <class Predicate>
  bool run_until(Predicate predicate, std::chrono::milliseconds limit = 2000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!predicate()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(5ms);
    }
    return true;
  }

  // Alice calls into `room` with kOffer and ACKs the 200.
  bool dial_in(std::string_view room) {
    Message invite = request(Method::kInvite, room);
    invite.set_body("application/sdp", kOffer);
    const auto responses = exchange(std::move(invite));
    if (responses.empty() || responses.back().status() != 200) return false;
    ack(responses.back());
    return true;
  }

  void ack(const Message& ok, std::string_view body = {}) {
    Message a = Message::request(Method::kAck, ok.contacts().front().uri_text);
    a.add_header("From", "<sip:alice@127.0.0.1>;tag=" + from_tag_);
    a.add_header("To", *ok.header("To"));
    a.add_header("Call-ID", call_id_);
    a.add_header("CSeq", std::to_string(ok.cseq().number) + " ACK");
    if (body.empty()) {
      a.set_body({}, {});
    } else {
      a.set_body("application/sdp", body);
    }
    ASSERT_TRUE(client_.send_ack(std::move(a)));
    io_.run_for(30ms);
  }

  asio::io_context io_;
  sip::ManualTimerService clock_;
  Server server_;
  sip::Stack client_;
  sip::Endpoint focus_;
  std::string call_id_ = "server-test-" + sip::make_tag();
  std::string from_tag_ = sip::make_tag();
  uint32_t cseq_ = 0;
  sip::TransactionId last_id_ = 0;
  std::vector<Message> client_requests_;
  std::vector<Message> client_acks_;
  // The client's own answer to a request of the focus; false: 200 OK.
  std::function<bool(const sip::ServerTransaction&)> answer_;
};

TEST_F(ServerTest, OptionsAdvertisesAllowAcceptSupported) {
  const auto responses = exchange(request(Method::kOptions));
  ASSERT_FALSE(responses.empty());
  const Message& ok = responses.back();
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.header_lines("Allow").front(), Server::kAllow);
  EXPECT_EQ(ok.header_lines("Accept").front(), Server::kAccept);
  EXPECT_EQ(ok.header_lines("Supported").front(), Server::kSupported);
  EXPECT_FALSE(ok.to().tag().empty());
}

TEST_F(ServerTest, InviteWithSdpIsAnsweredAndTheDialogEndsWithBye) {
  Message invite = request(Method::kInvite);
  invite.set_body("application/sdp", kOffer);
  const auto responses = exchange(std::move(invite));
  ASSERT_FALSE(responses.empty());
  const Message& ok = responses.back();
  ASSERT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.content_type(), "application/sdp");
  // A port of the configured range (41000 itself may be held by another
  // process: an ephemeral port, say; the shard then takes the next pair).
  EXPECT_TRUE(std::regex_search(std::string(ok.body()), std::regex("m=audio 410[0-9][02468] RTP/AVP 0[ \r]")))
      << ok.body();
  ASSERT_EQ(ok.contacts().size(), 1u);
  EXPECT_TRUE(ok.contacts().front().has_param("isfocus"));
  EXPECT_EQ(server_.call_count(), 1u);
  ack(ok);
  EXPECT_EQ(server_.stack().stats().acks_matched, 1u);

  const auto bye = exchange(request(Method::kBye, "room1", ok.to().tag()));
  ASSERT_FALSE(bye.empty());
  EXPECT_EQ(bye.back().status(), 200);
  EXPECT_EQ(server_.call_count(), 0u);
  EXPECT_EQ(server_.dialog_count(), 0u);
}

// A retransmitted INVITE (same branch) sent before any response, and again
// after the 200, is absorbed by the server INVITE transaction (RFC 3261
// §17.2.1, RFC 6026 Accepted): one call, one dialog (every 2xx carries the
// same To tag), then ACK and BYE as usual. The peer is a raw UDP socket, so
// the order of sends and receives is the test's, not the network's.
TEST_F(ServerTest, RetransmittedInviteMakesOneCallAndOneDialog) {
  udp::socket peer(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), focus_.port);
  const std::string local = "127.0.0.1:" + std::to_string(peer.local_endpoint().port());
  const auto text = [&](std::string_view method, std::string_view branch, uint32_t cseq,
                        std::string_view to_tag, std::string_view body) {
    return std::string(method) + " sip:room-rtx@127.0.0.1:" + std::to_string(focus_.port) +
           " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=" + std::string(branch) +
           ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:rtx@127.0.0.1>;tag=rtx-from\r\n"
           "To: <sip:room-rtx@127.0.0.1>" +
           (to_tag.empty() ? "" : ";tag=" + std::string(to_tag)) + "\r\nCall-ID: rtx-" + call_id_ +
           "\r\nCSeq: " + std::to_string(cseq) + " " + std::string(method) +
           "\r\nContact: <sip:rtx@" + local + ">\r\n" +
           (body.empty() ? "" : "Content-Type: application/sdp\r\n") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  };
  // Everything the focus sent the peer within `wait`.
  const auto responses = [&](std::chrono::milliseconds wait) {
    std::vector<Message> out;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::array<char, 8192> buffer{};
    while (std::chrono::steady_clock::now() < deadline) {
      io_.run_for(5ms);
      boost::system::error_code error;
      while (peer.available(error) > 0) {
        udp::endpoint from;
        const size_t size = peer.receive_from(asio::buffer(buffer), from);
        auto parsed = Message::parse(std::string_view(buffer.data(), size));
        EXPECT_TRUE(parsed.ok());
        if (parsed) out.push_back(std::move(parsed).value());
      }
    }
    return out;
  };
  const std::string invite = text("INVITE", "z9hG4bK-rtx-1", 1, {}, kOffer);
  peer.send_to(asio::buffer(invite), to);
  peer.send_to(asio::buffer(invite), to);  // before anything came back
  auto first = responses(300ms);
  std::set<std::string> tags;
  size_t oks = 0;
  for (const Message& m : first) {
    ASSERT_TRUE(m.is_response());
    EXPECT_TRUE(m.status() == 100 || m.status() == 200) << m.status();
    if (m.status() == 200) {
      ++oks;
      tags.insert(std::string(m.to().tag()));
    }
  }
  ASSERT_GE(oks, 1u);
  EXPECT_EQ(tags.size(), 1u);
  EXPECT_EQ(server_.call_count(), 1u);
  EXPECT_EQ(server_.dialog_count(), 1u);

  // Once more after the 200 (its retransmission crossed ours, say): the
  // 2xx again, same tag, still one call.
  peer.send_to(asio::buffer(invite), to);
  for (const Message& m : responses(100ms)) {
    if (m.status() == 200) tags.insert(std::string(m.to().tag()));
    EXPECT_NE(m.status(), 100);  // no new transaction
  }
  EXPECT_EQ(tags.size(), 1u);
  EXPECT_EQ(server_.call_count(), 1u);
  EXPECT_EQ(server_.dialog_count(), 1u);

  // The same request on another branch (a fork that met itself): 482
  // (§8.2.2.2), and still one call.
  peer.send_to(asio::buffer(text("INVITE", "z9hG4bK-rtx-fork", 1, {}, kOffer)), to);
  size_t loops = 0;
  for (const Message& m : responses(100ms)) {
    if (m.status() == 482 && m.top_via().branch() == "z9hG4bK-rtx-fork") ++loops;
  }
  EXPECT_EQ(loops, 1u);
  EXPECT_EQ(server_.call_count(), 1u);

  const std::string tag = *tags.begin();
  peer.send_to(asio::buffer(text("ACK", "z9hG4bK-rtx-ack", 1, tag, {})), to);
  peer.send_to(asio::buffer(text("BYE", "z9hG4bK-rtx-bye", 2, tag, {})), to);
  bool bye_ok = false;
  for (const Message& m : responses(200ms)) {
    if (m.status() == 200 && m.cseq().method == Method::kBye) bye_ok = true;
  }
  EXPECT_TRUE(bye_ok);
  EXPECT_EQ(server_.call_count(), 0u);
  EXPECT_EQ(server_.dialog_count(), 0u);
}

// §13.2.1: no offer in the INVITE → our offer in the 200, the answer in the ACK.
TEST_F(ServerTest, InviteWithoutSdpGetsAnOfferAndTheAckCarriesTheAnswer) {
  const auto responses = exchange(request(Method::kInvite));
  ASSERT_FALSE(responses.empty());
  const Message& ok = responses.back();
  ASSERT_EQ(ok.status(), 200);
  EXPECT_TRUE(std::regex_search(std::string(ok.body()), std::regex("m=audio 410[0-9][02468] ")))
      << ok.body();
  ack(ok,
      "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
  EXPECT_EQ(server_.call_count(), 1u);
}

TEST_F(ServerTest, RefusalsNameTheProblem) {
  struct Case {
    Message request;
    int status;
    std::string header;
    std::string value;
  };
  Message unknown = request(Method::kOptions);
  Message register_request = request(Method::kRegister);
  Message require = request(Method::kOptions);
  require.add_header("Require", "100rel, timer");
  Message hops = request(Method::kOptions);
  hops.set_header("Max-Forwards", "0");
  Message tel = request(Method::kOptions);
  tel.set_request_uri("tel:+15551234");
  Message short_session = request(Method::kInvite, "room2");
  short_session.add_header("Session-Expires", "30");
  short_session.add_header("Supported", "timer");  // else raised to 90, no 422 (RFC 4028 errata 1687)
  short_session.set_body("application/sdp", kOffer);
  Message not_sdp = request(Method::kInvite, "room3");
  not_sdp.set_body("text/plain", "hello");
  std::vector<Case> cases;
  cases.push_back({std::move(register_request), 405, "Allow", std::string(Server::kAllow)});
  cases.push_back({std::move(require), 420, "Unsupported", "100rel"});
  cases.push_back({std::move(hops), 483, "", ""});
  cases.push_back({std::move(tel), 416, "", ""});
  cases.push_back({std::move(short_session), 422, "Min-SE", "90"});
  cases.push_back({std::move(not_sdp), 415, "Accept", "application/sdp"});
  cases.push_back({request(Method::kBye, "room1", "nope"), 481, "", ""});
  cases.push_back({request(Method::kInfo), 481, "", ""});
  Message presence = request(Method::kSubscribe);
  presence.set_header("Event", "presence");  // not a package of ours (RFC 6665 §8.3.1)
  cases.push_back({std::move(presence), 489, "Allow-Events", "conference, dialog"});
  for (Case& c : cases) {
    SCOPED_TRACE(std::string(c.request.method_text()) + " → " + std::to_string(c.status));
    const auto responses = exchange(std::move(c.request));
    ASSERT_FALSE(responses.empty());
    EXPECT_EQ(responses.back().status(), c.status);
    if (!c.header.empty()) {
      ASSERT_TRUE(responses.back().header(c.header).has_value());
      EXPECT_EQ(responses.back().header_lines(c.header).front(), c.value);
    }
  }
  EXPECT_EQ(server_.call_count(), 0u);
}

// A listed room exists before anyone calls it: a conference subscription is
// accepted and its first NOTIFY is a full conference-info with no users. An
// ad-hoc room nobody is in does not exist: 404.
TEST_F(ServerTest, SubscribeToAListedRoomBeforeItStartsGetsAnEmptyConference) {
  Message listed = request(Method::kSubscribe, "planned");
  listed.set_header("Event", "conference");
  listed.set_header("Expires", "60");
  const auto responses = exchange(std::move(listed));
  ASSERT_FALSE(responses.empty());
  EXPECT_EQ(responses.back().status(), 200);
  ASSERT_TRUE(run_until([&] { return !client_requests_.empty(); }));
  const Message& notify = client_requests_.front();
  EXPECT_EQ(notify.method(), Method::kNotify);
  EXPECT_EQ(notify.content_type(), "application/conference-info+xml");
  const std::string body(notify.body());
  EXPECT_NE(body.find("state=\"full\""), std::string::npos) << body;
  EXPECT_NE(body.find("<user-count>0</user-count>"), std::string::npos) << body;
  EXPECT_EQ(body.find("<user "), std::string::npos) << body;
  EXPECT_NE(notify.header("Subscription-State")->find("active"), std::string_view::npos);

  call_id_ = "adhoc-" + call_id_;
  Message adhoc = request(Method::kSubscribe, "nobody-here");
  adhoc.set_header("Event", "conference");
  const auto refused = exchange(std::move(adhoc));
  ASSERT_FALSE(refused.empty());
  EXPECT_EQ(refused.back().status(), 404);
}

TEST_F(ServerTest, UnknownMethodIs501) {
  Message m = Message::request("FROB", "sip:room1@127.0.0.1:" + std::to_string(focus_.port));
  m.add_header("From", "<sip:alice@127.0.0.1>;tag=" + from_tag_);
  m.add_header("To", "<sip:room1@127.0.0.1>");
  m.add_header("Call-ID", call_id_);
  m.add_header("CSeq", "1 FROB");
  m.set_body({}, {});
  const auto responses = exchange(std::move(m));
  ASSERT_FALSE(responses.empty());
  EXPECT_EQ(responses.back().status(), 501);
}

TEST_F(ServerTest, SlowRoomRingsAndCancelEndsItWith487) {
  Message invite = request(Method::kInvite, "slow-room");
  invite.set_body("application/sdp", kOffer);
  std::vector<int> statuses;
  const sip::TransactionId id =
      client_.send_request(std::move(invite), [&](const ClientEvent& event) {
        if (event.response) statuses.push_back(event.response->status());
      });
  ASSERT_TRUE(run_until([&] { return !statuses.empty(); }));
  EXPECT_EQ(statuses, std::vector<int>{180});
  EXPECT_EQ(server_.call_count(), 1u);
  ASSERT_NE(client_.cancel(id), 0u);
  ASSERT_TRUE(run_until([&] { return statuses.size() == 2; }));
  EXPECT_EQ(statuses.back(), 487);
  EXPECT_EQ(server_.call_count(), 0u);
  clock_.advance(3000ms);  // past the ring delay: no 200 may come
  io_.run_for(50ms);
  EXPECT_EQ(statuses.size(), 2u);
}

TEST_F(ServerTest, SlowRoomIsAnsweredAfterTheRingDelay) {
  Message invite = request(Method::kInvite, "slow-room");
  invite.set_body("application/sdp", kOffer);
  std::vector<int> statuses;
  client_.send_request(std::move(invite), [&](const ClientEvent& event) {
    if (event.response) statuses.push_back(event.response->status());
  });
  ASSERT_TRUE(run_until([&] { return !statuses.empty(); }));
  clock_.advance(1999ms);
  io_.run_for(30ms);
  EXPECT_EQ(statuses, std::vector<int>{180});
  clock_.advance(1ms);
  ASSERT_TRUE(run_until([&] { return statuses.size() == 2; }));
  EXPECT_EQ(statuses.back(), 200);
}

// §13.3.1.4: a 2xx never ACKed ends the session with a BYE after 64*T1.
TEST_F(ServerTest, MissingAckEndsTheCallWithBye) {
  Message invite = request(Method::kInvite);
  invite.set_body("application/sdp", kOffer);
  const auto responses = exchange(std::move(invite));
  ASSERT_EQ(responses.back().status(), 200);
  clock_.advance(32000ms);
  ASSERT_TRUE(run_until([&] { return !client_requests_.empty(); }));
  EXPECT_EQ(client_requests_.front().method(), Method::kBye);
  EXPECT_EQ(client_requests_.front().call_id(), call_id_);
  EXPECT_EQ(server_.call_count(), 0u);
}

TEST_F(ServerTest, SessionTimerEndsASessionNobodyRefreshes) {
  // RFC 4028: the caller asks for 90 s and refreshes itself (refresher=uac).
  Message invite = request(Method::kInvite);
  invite.set_header("Session-Expires", "90");
  invite.set_header("Supported", "timer");
  invite.set_body("application/sdp", kOffer);
  const auto responses = exchange(std::move(invite));
  ASSERT_EQ(responses.back().status(), 200);
  const Message ok = responses.back();
  EXPECT_EQ(ok.header("Session-Expires").value_or(""), "90;refresher=uac");
  ack(ok);
  // A refresh (re-INVITE) at 50 s restarts the interval...
  clock_.advance(50000ms);
  io_.run_for(20ms);
  ASSERT_TRUE(client_requests_.empty());
  Message refresh = request(Method::kInvite, "room1", ok.to().tag());
  refresh.set_request_uri(ok.contacts().front().uri_text);
  refresh.set_header("Session-Expires", "90;refresher=uac");
  refresh.set_header("Supported", "timer");
  refresh.set_body("application/sdp", kOffer);
  const auto refreshed = exchange(std::move(refresh));
  ASSERT_EQ(refreshed.back().status(), 200);
  ack(refreshed.back());
  clock_.advance(50000ms);  // 100 s after the start, 50 s after the refresh
  io_.run_for(20ms);
  EXPECT_TRUE(client_requests_.empty());
  EXPECT_EQ(server_.call_count(), 1u);
  // ...and without another, the focus sends BYE before it runs out
  // (RFC 4028 §10: at SE - min(32, SE/3) = 60 s).
  clock_.advance(11000ms);
  ASSERT_TRUE(run_until([&] { return !client_requests_.empty(); }));
  EXPECT_EQ(client_requests_.front().method(), Method::kBye);
  EXPECT_EQ(server_.call_count(), 0u);
}

// RFC 4028 errata 1687: a caller that does not support timers cannot retry
// after a 422, so its too-short interval is raised to our Min-SE.
TEST_F(ServerTest, ShortSessionExpiresWithoutTimerSupportIsRaised) {
  Message invite = request(Method::kInvite);
  invite.set_header("Session-Expires", "30");
  invite.set_body("application/sdp", kOffer);
  const auto responses = exchange(std::move(invite));
  ASSERT_EQ(responses.back().status(), 200);
  EXPECT_EQ(responses.back().header("Session-Expires").value_or(""), "90;refresher=uas");
  EXPECT_FALSE(responses.back().header("Require").has_value());  // the caller knows no timer
}

// A 200 to our UPDATE that keeps the timer, as a timer-aware peer sends it.
bool answer_update_keeping_timer(const sip::ServerTransaction& tx) {
  if (tx.request().method() != Method::kUpdate) return false;
  Message ok = sip::make_response(tx.request(), 200, "OK");
  ok.set_header("Session-Expires", std::string(tx.request().header("Session-Expires").value_or("")));
  ok.set_header("Require", "timer");
  tx.respond(std::move(ok));
  return true;
}

// RFC 4028 §7.4 / §9: a caller without timer support leaves the refreshing
// to the focus, which refreshes at half the interval with an offer-less
// UPDATE, over and over while the peer keeps the timer.
TEST_F(ServerTest, FocusRefreshesTheSessionWithUpdate) {
  Message invite = request(Method::kInvite);
  invite.set_body("application/sdp", kOffer);
  const auto responses = exchange(std::move(invite));
  ASSERT_EQ(responses.back().status(), 200);
  const Message ok = responses.back();
  EXPECT_EQ(ok.header("Session-Expires").value_or(""), "1800;refresher=uas");
  ack(ok);
  answer_ = answer_update_keeping_timer;
  clock_.advance(899s);
  io_.run_for(30ms);
  EXPECT_TRUE(client_requests_.empty());
  for (int refresh = 1; refresh <= 2; ++refresh) {
    SCOPED_TRACE(refresh);
    clock_.advance(1s);
    ASSERT_TRUE(run_until([&] { return client_requests_.size() == static_cast<size_t>(refresh); }));
    const Message& update = client_requests_.back();
    EXPECT_EQ(update.method(), Method::kUpdate);
    EXPECT_EQ(update.call_id(), call_id_);
    EXPECT_TRUE(update.body().empty());  // a refresh, not a new offer
    // We send this UPDATE and refresh: refresher=uac (§7.4).
    EXPECT_EQ(update.header("Session-Expires").value_or(""), "1800;refresher=uac");
    io_.run_for(30ms);
    EXPECT_EQ(server_.call_count(), 1u);
    clock_.advance(899s);
    io_.run_for(30ms);
  }
}

// The peer vanished: the refresh gets no answer (Timer F, 64*T1), and the
// focus ends the call with BYE (RFC 4028 §10, RFC 3261 §14.1).
TEST_F(ServerTest, UnansweredRefreshEndsTheCall) {
  Message invite = request(Method::kInvite);
  invite.set_body("application/sdp", kOffer);
  const auto responses = exchange(std::move(invite));
  ASSERT_EQ(responses.back().status(), 200);
  ack(responses.back());
  answer_ = [](const sip::ServerTransaction& tx) {
    return tx.request().method() == Method::kUpdate;  // swallowed: no answer
  };
  clock_.advance(900s);
  ASSERT_TRUE(run_until([&] { return !client_requests_.empty(); }));
  EXPECT_EQ(client_requests_.front().method(), Method::kUpdate);
  for (int i = 0; i < 10 && server_.call_count() != 0; ++i) {
    clock_.advance(4s);  // the UPDATE's retransmissions, then Timer F
    io_.run_for(10ms);
  }
  ASSERT_TRUE(run_until([&] { return client_requests_.back().method() == Method::kBye; }));
  EXPECT_EQ(server_.call_count(), 0u);
}

// RFC 3261 §14.1 glare on the wire. The caller refuses UPDATE, so the
// focus refreshes with a re-INVITE; the caller's own re-INVITE crosses it.
// Each side answers the other 491; the focus, which does not own the
// Call-ID, retries after 0-2 s and the caller's retry then succeeds too.
TEST_F(ServerTest, ReInviteGlareIsAnswered491AndRetried) {
  Message invite = request(Method::kInvite);
  invite.set_body("application/sdp", kOffer);
  const auto responses = exchange(std::move(invite));
  ASSERT_EQ(responses.back().status(), 200);
  const Message ok = responses.back();
  ack(ok);
  std::vector<sip::ServerTransaction> held;
  answer_ = [&](const sip::ServerTransaction& tx) {
    if (tx.request().method() == Method::kUpdate) {
      Message refused = sip::make_response(tx.request(), 405, "Method Not Allowed");
      refused.set_header("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS");
      tx.respond(std::move(refused));
      return true;
    }
    if (tx.request().method() == Method::kInvite) {
      held.push_back(tx);  // answered by the test below
      return true;
    }
    return false;
  };
  clock_.advance(900s);
  ASSERT_TRUE(run_until([&] { return held.size() == 1; }));
  ASSERT_EQ(client_requests_.size(), 2u);
  EXPECT_EQ(client_requests_[0].method(), Method::kUpdate);
  const Message first = held[0].request();
  EXPECT_EQ(first.call_id(), call_id_);
  EXPECT_TRUE(sip::has_sdp(first));  // the refresh re-INVITE carries an offer
  EXPECT_EQ(first.header("Session-Expires").value_or(""), "1800;refresher=uac");

  // The caller's re-INVITE while the focus's is pending: 491.
  Message ours = request(Method::kInvite, "room1", ok.to().tag());
  ours.set_request_uri(ok.contacts().front().uri_text);
  ours.set_body("application/sdp", kOffer);
  const auto glare = exchange(std::move(ours));
  ASSERT_FALSE(glare.empty());
  EXPECT_EQ(glare.back().status(), 491);
  // ...and the caller answers the focus's re-INVITE 491 too.
  held[0].respond(sip::make_response(first, 491, "Request Pending"));
  io_.run_for(30ms);
  EXPECT_EQ(held.size(), 1u);
  EXPECT_EQ(server_.call_count(), 1u);

  // §14.1: not the Call-ID owner, the focus waits 0-2 s, then re-sends.
  clock_.advance(2010ms);
  ASSERT_TRUE(run_until([&] { return held.size() == 2; }));
  const Message retry = held[1].request();
  EXPECT_EQ(retry.method(), Method::kInvite);
  EXPECT_GT(retry.cseq().number, first.cseq().number);
  EXPECT_TRUE(sip::has_sdp(retry));
  Message answer = sip::make_response(retry, 200, "OK");
  answer.set_header("Contact", "<" + client_.contact_uri("alice", sip::TransportKind::kUdp) + ">");
  answer.set_header("Session-Expires", "1800;refresher=uac");
  answer.set_header("Require", "timer");
  answer.set_body("application/sdp",
                  "v=0\r\no=alice 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                  "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
  held[1].respond(std::move(answer));
  ASSERT_TRUE(run_until([&] { return !client_acks_.empty(); }));
  EXPECT_EQ(client_acks_.back().cseq().number, retry.cseq().number);
  EXPECT_EQ(server_.call_count(), 1u);

  // The caller's own retry now goes through.
  Message again = request(Method::kInvite, "room1", ok.to().tag());
  again.set_request_uri(ok.contacts().front().uri_text);
  again.set_body("application/sdp", kOffer);
  const auto retried = exchange(std::move(again));
  ASSERT_FALSE(retried.empty());
  EXPECT_EQ(retried.back().status(), 200);
  EXPECT_TRUE(sip::has_sdp(retried.back()));
  ack(retried.back());
  EXPECT_EQ(server_.call_count(), 1u);
}

// RFC 3261 §21.4.7: an Accept that rules out SDP cannot get our answer.
TEST_F(ServerTest, InviteWhoseAcceptExcludesSdpGets406) {
  struct Case {
    std::string accept;
    int status;
  };
  const std::vector<Case> cases = {{"text/plain", 406},
                                   {"", 406},
                                   {"application/*;q=0", 406},
                                   {"*/*", 200},
                                   {"application/sdp;q=0.5, application/*;q=0", 200}};
  int room = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE("Accept: " + c.accept);
    call_id_ = "accept-" + sip::make_tag();
    Message invite = request(Method::kInvite, "accept-" + std::to_string(++room));
    invite.add_header("Accept", c.accept);
    invite.set_body("application/sdp", kOffer);
    const auto responses = exchange(std::move(invite));
    ASSERT_FALSE(responses.empty());
    EXPECT_EQ(responses.back().status(), c.status);
    if (responses.back().status() == 200) ack(responses.back());
  }
  EXPECT_EQ(server_.call_count(), 2u);
}

// RFC 3911 §4 / RFC 3891 §3: an early dialog the focus did not initiate (a
// caller still ringing) can be neither joined nor replaced: 481.
TEST_F(ServerTest, JoinOrReplacesNamingARingingCallerIs481) {
  Message ringing = request(Method::kInvite, "slow-room");
  ringing.set_body("application/sdp", kOffer);
  std::vector<Message> first;
  client_.send_request(std::move(ringing), focus_, [&](const ClientEvent& event) {
    if (event.response) first.push_back(*event.response);
  });
  ASSERT_TRUE(run_until([&] { return !first.empty(); }));
  ASSERT_EQ(first.back().status(), 180);
  const std::string focus_tag(first.back().to().tag());
  ASSERT_FALSE(focus_tag.empty());
  const std::string ringing_call = call_id_;
  for (const std::string header : {"Join", "Replaces"}) {
    SCOPED_TRACE(header);
    call_id_ = "third-" + sip::make_tag();
    Message invite = request(Method::kInvite, "slow-room");
    invite.add_header(header, ringing_call + ";to-tag=" + focus_tag + ";from-tag=" + from_tag_);
    invite.set_body("application/sdp", kOffer);
    const auto responses = exchange(std::move(invite));
    ASSERT_FALSE(responses.empty());
    EXPECT_EQ(responses.back().status(), 481);
  }
  EXPECT_EQ(server_.call_count(), 1u);
}

// RFC 3911 §4: a Join naming a dial-out of the focus that is still ringing
// is matched with its to-tag against the focus's tag and its from-tag
// against the callee's; the reversed view names no dialog.
TEST_F(ServerTest, JoinNamesARingingDialOutFromTheRightSide) {
  ASSERT_TRUE(dial_in("room1"));
  std::optional<sip::ServerTransaction> held;
  answer_ = [&](const sip::ServerTransaction& tx) {
    if (tx.request().method() != Method::kInvite) return false;
    Message ringing = sip::make_response(tx.request(), 180, "Ringing", "callee-tag");
    ringing.set_header("Contact", "<" + client_.contact_uri("bob", sip::TransportKind::kUdp) + ">");
    tx.respond(std::move(ringing));
    held = tx;
    return true;
  };
  const ControlResult placed =
      server_.dial_out("room1", client_.contact_uri("bob", sip::TransportKind::kUdp), "");
  ASSERT_EQ(placed.status, 202);
  ASSERT_TRUE(run_until([&] { return held.has_value(); }));
  io_.run_for(50ms);  // the 180 reaches the focus
  const Message dial_out = held->request();
  const std::string dial_call(dial_out.call_id());
  const std::string focus_tag(dial_out.from().tag());
  struct Case {
    std::string to_tag, from_tag;
    int status;
  };
  // With the right view the dialog is found, and a Join as barge needs an
  // account with the right (none is configured here): 403. Reversed, no
  // such dialog: 481.
  const std::vector<Case> cases = {{focus_tag, "callee-tag", 403}, {"callee-tag", focus_tag, 481}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.to_tag);
    call_id_ = "joiner-" + sip::make_tag();
    Message join = request(Method::kInvite, "room1");
    join.add_header("Join", dial_call + ";to-tag=" + c.to_tag + ";from-tag=" + c.from_tag);
    join.set_body("application/sdp", kOffer);
    const auto answered = exchange(std::move(join));
    ASSERT_FALSE(answered.empty());
    EXPECT_EQ(answered.back().status(), c.status);
  }
  held->respond(sip::make_response(dial_out, 486, "Busy Here"));
  io_.run_for(50ms);
}

// RFC 4575 / RFC 4235: a dial-out is a member from its INVITE on, alerting
// once a provisional came back, with one early dialog per fork; the admin
// kick stops it with CANCEL (RFC 3261 §9.1), and the callee's 487 ends it.
TEST_F(ServerTest, ARingingDialOutIsPublishedPerForkAndKickCancelsIt) {
  ASSERT_TRUE(dial_in("room1"));
  std::optional<sip::ServerTransaction> held;
  answer_ = [&](const sip::ServerTransaction& tx) {
    if (tx.request().method() != Method::kInvite) return false;
    // A forking proxy's two branches ring: two early dialogs.
    for (const char* tag : {"fork-a", "fork-b"}) {
      Message ringing = sip::make_response(tx.request(), 180, "Ringing", tag);
      ringing.set_header("Contact",
                         "<" + client_.contact_uri(tag, sip::TransportKind::kUdp) + ">");
      tx.respond(std::move(ringing));
    }
    held = tx;
    return true;
  };
  const std::string bob = client_.contact_uri("bob", sip::TransportKind::kUdp);
  ASSERT_EQ(server_.dial_out("room1", bob, "").status, 202);
  ASSERT_TRUE(run_until([&] { return held.has_value(); }));
  ASSERT_TRUE(run_until([&] {
    const auto state = server_.room_state("room1");
    return state && state->members.size() == 2 &&
           state->members.back().dialog.early_remote_tags.size() == 2;
  }));
  const ConferenceState state = *server_.room_state("room1");
  const MemberState& ringing = state.members.back();
  EXPECT_EQ(ringing.status, "alerting");
  EXPECT_EQ(ringing.joining_method, "dialed-out");
  EXPECT_EQ(ringing.entity, bob);
  EXPECT_TRUE(ringing.dialog.initiator);
  EXPECT_FALSE(ringing.dialog.confirmed);
  const std::string xml = dialog_info_full(state, 1);
  for (const char* tag : {"fork-a", "fork-b"}) {
    EXPECT_TRUE(std::regex_search(
        xml, std::regex(std::string("<dialog [^>]*remote-tag=\"") + tag +
                        "\"[^>]*direction=\"initiator\"[^>]*>\\s*<state>early</state>")))
        << xml;
  }

  const ControlResult kicked = server_.kick("room1", ringing.id);
  EXPECT_EQ(kicked.status, 200);
  EXPECT_EQ(server_.room_state("room1")->members.back().status, "disconnecting");
  // The CANCEL reached the callee's stack, which answered the INVITE 487.
  ASSERT_TRUE(run_until([&] { return server_.gauges().dialing == 0; }));
  EXPECT_FALSE(held->respond(sip::make_response(held->request(), 200, "OK")));
  EXPECT_EQ(server_.room_state("room1")->members.size(), 1u);

  // Kicked before any provisional: the CANCEL waits for the first one (here
  // the callee stack's own 100 Trying), then goes.
  held.reset();
  answer_ = [&](const sip::ServerTransaction& tx) {
    if (tx.request().method() != Method::kInvite) return false;
    held = tx;
    return true;
  };
  ASSERT_EQ(server_.dial_out("room1", bob, "").status, 202);
  ASSERT_TRUE(run_until([&] { return held.has_value(); }));
  const auto quiet = server_.room_state("room1");
  ASSERT_EQ(quiet->members.size(), 2u);
  EXPECT_EQ(quiet->members.back().status, "dialing-out");
  EXPECT_TRUE(quiet->members.back().dialog.early_remote_tags.empty());
  EXPECT_EQ(server_.kick("room1", quiet->members.back().id).status, 200);
  ASSERT_TRUE(run_until([&] { return server_.gauges().dialing == 0; }));
  EXPECT_FALSE(held->respond(sip::make_response(held->request(), 200, "OK")));
  EXPECT_EQ(server_.room_state("room1")->members.size(), 1u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
