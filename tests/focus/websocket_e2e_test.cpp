// A browser-style SIP-over-WebSocket client (RFC 7118) joins a room of an
// in-process focus on 127.0.0.1 with a plain RTP/AVP offer: INVITE → 200 OK
// (our Contact says transport=ws) → ACK, all over its one connection; the
// focus's own request (a BYE when the member is removed) reaches the client's
// `.invalid` Contact over that same connection.

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "focus/server.hpp"
#include "signaling/message/message.hpp"
#include "tests/signaling/websocket_test_client.hpp"

namespace chorus::focus {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using sip::Message;

uint16_t free_tcp_port() {
  asio::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return probe.local_endpoint().port();
}

std::string invite_text(uint16_t focus_port, uint16_t rtp_port) {
  const std::string sdp =
      "v=0\r\n"
      "o=- 1 1 IN IP4 127.0.0.1\r\n"
      "s=-\r\n"
      "c=IN IP4 127.0.0.1\r\n"
      "t=0 0\r\n"
      "m=audio " +
      std::to_string(rtp_port) +
      " RTP/AVP 0 101\r\n"
      "a=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:101 telephone-event/8000\r\n"
      "a=sendrecv\r\n";
  return "INVITE sip:wsroom@127.0.0.1:" + std::to_string(focus_port) +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/WS k3j9q2.invalid;branch=z9hG4bKwsinv1;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: \"Browser\" <sip:browser@example.com>;tag=b1\r\n"
         "To: <sip:wsroom@127.0.0.1>\r\n"
         "Call-ID: ws-e2e-1\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:u7x2@k3j9q2.invalid;transport=ws>\r\n"
         "Content-Type: application/sdp\r\n"
         "Content-Length: " +
         std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
}

TEST(WebSocketE2e, ABrowserStyleClientJoinsARoomAndIsByedOverItsConnection) {
  asio::io_context io;
  Options options;
  options.sip_port = 0;
  options.tcp = false;
  options.ws_port = free_tcp_port();
  options.rtp_first = 47200;
  options.rtp_last = 47299;
  Server server(io, options);
  server.start();

  sip::test::WsClient client(io, io);
  ASSERT_TRUE(client.open(options.ws_port, {"sip", std::nullopt}));
  client.start_reading();
  ASSERT_TRUE(client.send(invite_text(options.ws_port, 47900)));

  // 100 Trying may come first; wait for the final answer.
  std::optional<Message> ok;
  ASSERT_TRUE(sip::test::run_until(
      io,
      [&] {
        for (const std::string& text : client.received()) {
          auto parsed = Message::parse(text);
          if (parsed.ok() && !parsed.value().is_request() && parsed.value().status() >= 200) {
            ok = std::move(parsed).value();
            return true;
          }
        }
        return false;
      },
      5000ms));
  ASSERT_EQ(ok->status(), 200) << ok->serialize();
  EXPECT_NE(ok->body().find("RTP/AVP"), std::string::npos);
  const std::vector<sip::NameAddr> contacts = ok->contacts();
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_NE(std::string(contacts[0].uri.text).find(";transport=ws"), std::string::npos);
  // The Via came back with received/rport (RFC 3581) stamped on receipt.
  EXPECT_TRUE(ok->top_via().received().has_value());

  const std::string to_tag(ok->to().tag());
  const std::string ack = "ACK " + std::string(contacts[0].uri.text) +
                          " SIP/2.0\r\n"
                          "Via: SIP/2.0/WS k3j9q2.invalid;branch=z9hG4bKwsack1;rport\r\n"
                          "Max-Forwards: 70\r\n"
                          "From: \"Browser\" <sip:browser@example.com>;tag=b1\r\n"
                          "To: <sip:wsroom@127.0.0.1>;tag=" +
                          to_tag +
                          "\r\n"
                          "Call-ID: ws-e2e-1\r\n"
                          "CSeq: 1 ACK\r\n"
                          "Content-Length: 0\r\n\r\n";
  ASSERT_TRUE(client.send(ack));
  ASSERT_TRUE(sip::test::run_until(io, [&] { return server.room_calls("wsroom") == 1; }));
  const auto state = server.room_state("wsroom");
  ASSERT_TRUE(state && state->members.size() == 1);

  // The focus ends the call: its BYE goes to the .invalid Contact over the
  // client's connection.
  const size_t before = client.received().size();
  EXPECT_EQ(server.kick("wsroom", state->members[0].id).status, 200);
  std::optional<Message> bye;
  ASSERT_TRUE(sip::test::run_until(
      io,
      [&] {
        for (size_t i = before; i < client.received().size(); ++i) {
          auto parsed = Message::parse(client.received()[i]);
          if (parsed.ok() && parsed.value().is_request() &&
              parsed.value().method() == sip::Method::kBye) {
            bye = std::move(parsed).value();
            return true;
          }
        }
        return false;
      },
      5000ms));
  EXPECT_EQ(bye->request_uri_text(), "sip:u7x2@k3j9q2.invalid;transport=ws");
  EXPECT_EQ(bye->top_via().transport, "WS");
  ASSERT_TRUE(client.send(sip::make_response(*bye, 200, "OK").serialize()));
  EXPECT_TRUE(sip::test::run_until(io, [&] { return server.room_calls("wsroom") == 0; }));
  server.stop();
  io.run_for(50ms);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
