// SIP over WebSocket (RFC 7118) on 127.0.0.1, driven by a Beast WebSocket
// client: the `sip` subprotocol (§4), Origin checks, one SIP message per
// WebSocket message (§5) and its 64 KiB bound (close 1009), Via WS/WSS
// stamped with received/rport, WSS, requests from the stack to a client over
// the connection it opened (the flow), the per-source cap, the first SIP
// message due by the handshake timeout and ping/idle.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "signaling/asio.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "signaling/message/message.hpp"
#include "signaling/stack.hpp"
#include "signaling/transaction/transaction_ids.hpp"
#include "signaling/transport/transport.hpp"
#include "signaling/transport/transport_routing.hpp"
#include "tests/signaling/websocket_test_client.hpp"

namespace chorus::sip {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;
using namespace std::chrono_literals;
using test::run_until;
using test::Upgrade;
using test::WsClient;
using test::WssClient;

// An OPTIONS as a browser's SIP library writes it (RFC 7118 §5.2: an
// invented .invalid sent-by host, rport asked for).
std::string ws_options(std::string_view transport = "WS", std::string_view branch = "z9hG4bKws1") {
  return "OPTIONS sip:room@127.0.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/" +
         std::string(transport) + " df7jal23ls0d.invalid;branch=" + std::string(branch) +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=f1\r\n"
         "To: <sip:room@127.0.0.1>\r\n"
         "Call-ID: ws-test-" +
         std::string(branch) +
         "\r\n"
         "CSeq: 7 OPTIONS\r\n"
         "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\n"
         "Content-Length: 0\r\n\r\n";
}

// A transport with one WS listener answering every request 200 on its source.
class WebSocketTransport : public ::testing::Test {
 protected:
  void start(TransportConfig config = {}) {
    transport_ = std::make_unique<TransportLayer>(io_, std::move(config));
    transport_->set_handler([this](Message request, const Endpoint& source) {
      sources_.push_back(source);
      requests_.push_back(request);
      if (request.is_request()) {
        transport_->send_response(make_response(request, 200, "OK", "ws"), source);
      }
    });
    local_ = transport_->listen(TransportKind::kWs, "127.0.0.1", 0);
  }

  asio::io_context io_;
  std::unique_ptr<TransportLayer> transport_;
  Endpoint local_;
  std::vector<Endpoint> sources_;
  std::vector<Message> requests_;
};

TEST(WebSocketRouting, WsTargetsNameTheFlowAndAreNeverResolved) {  // RFC 7118 §5.2
  auto request = Message::parse(
      "NOTIFY sip:alice@DF7jal23ls0d.invalid;transport=ws SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
      "Call-ID: r\r\nCSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(request.ok());
  const auto destination = request_destination(request.value(), TransportKind::kUdp);
  ASSERT_TRUE(destination);
  EXPECT_EQ(destination->transport, TransportKind::kWs);
  EXPECT_EQ(destination->address, "DF7jal23ls0d.invalid");
  EXPECT_EQ(destination->port, 0);
  EXPECT_EQ(ws_flow_key(destination->address, destination->port), "df7jal23ls0d.invalid 0");

  auto sips = Message::parse(
      "BYE sips:alice@x.invalid;transport=ws SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
      "Call-ID: r\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(sips.ok());
  EXPECT_EQ(request_destination(sips.value(), TransportKind::kUdp)->transport, TransportKind::kWss);
}

// RFC 7118 §4 handshake, §5 one message per WebSocket message, Via WS with
// received and rport (RFC 3581), the answer on the same connection.
TEST_F(WebSocketTransport, OptionsOverWsIsAnswered200OnTheSameConnection) {
  start();
  WsClient client(io_, io_);
  ASSERT_TRUE(client.open(local_.port));
  EXPECT_EQ(client.protocol(), "sip");
  EXPECT_EQ(client.server(), "Chorus");
  client.start_reading();
  ASSERT_TRUE(client.send(ws_options()));
  ASSERT_TRUE(run_until(io_, [&] { return !client.received().empty(); }));
  const std::string& reply = client.received().front();
  EXPECT_TRUE(reply.starts_with("SIP/2.0 200 OK\r\n")) << reply;
  EXPECT_TRUE(client.text().front()) << "a UTF-8 answer goes in a text frame";
  ASSERT_EQ(sources_.size(), 1u);
  EXPECT_EQ(sources_[0].transport, TransportKind::kWs);
  EXPECT_NE(sources_[0].connection, 0u);
  const Via via = requests_[0].top_via();
  EXPECT_EQ(via.received(), "127.0.0.1");
  EXPECT_EQ(via.rport(), sources_[0].port);
  EXPECT_NE(reply.find("received=127.0.0.1"), std::string::npos) << reply;
  EXPECT_EQ(transport_->counters().requests_received, 1u);
}

TEST_F(WebSocketTransport, HandshakeWithoutTheSipSubprotocolIsRefused) {  // RFC 7118 §4
  start();
  WsClient none(io_, io_);
  EXPECT_FALSE(none.open(local_.port, Upgrade{std::nullopt, std::nullopt}));
  EXPECT_EQ(none.status(), 400u);
  WsClient other(io_, io_);
  EXPECT_FALSE(other.open(local_.port, Upgrade{"chat, xmpp", std::nullopt}));
  EXPECT_EQ(other.status(), 400u);
  // A list naming sip among others is fine; the answer names only sip.
  WsClient listed(io_, io_);
  EXPECT_TRUE(listed.open(local_.port, Upgrade{"chat, sip", std::nullopt}));
  EXPECT_EQ(listed.protocol(), "sip");
  EXPECT_EQ(transport_->counters().ws_handshakes_refused, 2u);
  EXPECT_TRUE(run_until(io_, [&] { return transport_->connection_count() == 1; }));
}

TEST_F(WebSocketTransport, OriginsOutsideTheAllowedListAreRefusedWith403) {  // RFC 6455 §10.2
  TransportConfig config;
  config.ws_allowed_origins = {"https://phone.example.com"};
  start(config);
  WsClient stranger(io_, io_);
  EXPECT_FALSE(stranger.open(local_.port, Upgrade{"sip", "https://evil.example.net"}));
  EXPECT_EQ(stranger.status(), 403u);
  WsClient page(io_, io_);
  EXPECT_TRUE(page.open(local_.port, Upgrade{"sip", "https://Phone.Example.com"}));
  WsClient no_browser(io_, io_);  // no Origin: not a browser page, admitted
  EXPECT_TRUE(no_browser.open(local_.port, Upgrade{"sip", std::nullopt}));
  EXPECT_EQ(transport_->counters().ws_handshakes_refused, 1u);
}

TEST_F(WebSocketTransport, AnEmptyOriginListAdmitsNoBrowserPage) {
  start();
  WsClient page(io_, io_);
  EXPECT_FALSE(page.open(local_.port, Upgrade{"sip", "https://phone.example.com"}));
  EXPECT_EQ(page.status(), 403u);
}

TEST_F(WebSocketTransport, AMessageOver64KiBClosesWith1009) {  // RFC 6455 §7.4.1
  start();
  WsClient client(io_, io_);
  ASSERT_TRUE(client.open(local_.port));
  client.start_reading();
  std::string big = ws_options();
  big.insert(big.find("Content-Length"), "X-Pad: " + std::string(kMaxMessageSize, 'a') + "\r\n");
  ASSERT_TRUE(client.send(big));
  ASSERT_TRUE(run_until(io_, [&] { return client.read_error().has_value(); }));
  EXPECT_EQ(*client.read_error(), websocket::error::closed);
  EXPECT_EQ(client.close_reason().code, websocket::close_code::too_big);
  EXPECT_EQ(transport_->counters().ws_messages_too_big, 1u);
  EXPECT_TRUE(requests_.empty());
  EXPECT_TRUE(run_until(io_, [&] { return transport_->connection_count() == 0; }));
}

TEST_F(WebSocketTransport, AMessageInSeveralFramesIsOneSipMessage) {  // RFC 6455 §5.4
  start();
  WsClient client(io_, io_);
  ASSERT_TRUE(client.open(local_.port));
  client.start_reading();
  const std::string text = ws_options();
  const size_t mid = text.size() / 2;
  boost::system::error_code error;
  client.ws().text(true);
  bool done = false;
  client.ws().async_write_some(false, asio::buffer(text.data(), mid),
                               [&](const boost::system::error_code& e, size_t) {
                                 error = e;
                                 done = true;
                               });
  ASSERT_TRUE(run_until(io_, [&] { return done; }));
  io_.run_for(50ms);
  EXPECT_TRUE(requests_.empty());
  done = false;
  client.ws().async_write_some(true, asio::buffer(text.data() + mid, text.size() - mid),
                               [&](const boost::system::error_code& e, size_t) {
                                 error = e;
                                 done = true;
                               });
  ASSERT_TRUE(run_until(io_, [&] { return done; }));
  ASSERT_TRUE(run_until(io_, [&] { return !client.received().empty(); }));
  EXPECT_EQ(requests_.size(), 1u);
}

// A flow key belongs to the live connection that named it first: another
// client naming the same host cannot take its requests over, until the
// first one is gone.
TEST_F(WebSocketTransport, AFlowKeyIsNotTakenOverWhileItsConnectionLives) {
  start();
  WsClient first(io_, io_);
  WsClient second(io_, io_);
  ASSERT_TRUE(first.open(local_.port));
  ASSERT_TRUE(second.open(local_.port));
  first.start_reading();
  second.start_reading();
  ASSERT_TRUE(first.send(ws_options("WS", "z9hG4bKa")));
  ASSERT_TRUE(run_until(io_, [&] { return first.received().size() == 1; }));
  ASSERT_TRUE(second.send(ws_options("WS", "z9hG4bKb")));
  ASSERT_TRUE(run_until(io_, [&] { return second.received().size() == 1; }));

  auto notify = [] {
    Message m = Message::request(Method::kNotify, "sip:alice@df7jal23ls0d.invalid;transport=ws");
    m.add_header("Via", "SIP/2.0/WS 127.0.0.1;branch=" + make_branch());
    m.add_header("From", "<sip:room@127.0.0.1>;tag=r");
    m.add_header("To", "<sip:alice@example.com>;tag=f1");
    m.add_header("Call-ID", "flow");
    m.add_header("CSeq", "1 NOTIFY");
    m.set_body({}, {});
    return m;
  };
  const Endpoint target{TransportKind::kWs, "df7jal23ls0d.invalid", 0, 0};
  ASSERT_TRUE(transport_->send_request(notify(), target));
  ASSERT_TRUE(run_until(io_, [&] { return first.received().size() == 2; }));
  io_.run_for(50ms);
  EXPECT_EQ(second.received().size(), 1u);

  // The first goes away; the second names the host again and now owns it.
  beast::get_lowest_layer(first.ws()).close();
  ASSERT_TRUE(run_until(io_, [&] { return transport_->connection_count() == 1; }));
  EXPECT_FALSE(transport_->send_request(notify(), target)) << "no flow until it is named again";
  ASSERT_TRUE(second.send(ws_options("WS", "z9hG4bKc")));
  ASSERT_TRUE(run_until(io_, [&] { return second.received().size() == 2; }));
  ASSERT_TRUE(transport_->send_request(notify(), target));
  ASSERT_TRUE(run_until(io_, [&] { return second.received().size() == 3; }));
  EXPECT_TRUE(second.received()[2].starts_with("NOTIFY ")) << second.received()[2];
}

// The security issue's caps apply: the per-source cap counts WS connections
// with TCP's and refuses the next one.
TEST_F(WebSocketTransport, ThePerSourceCapRefusesTheNextConnection) {
  TransportConfig config;
  config.max_connections_per_source = 2;
  start(config);
  WsClient a(io_, io_);
  WsClient b(io_, io_);
  WsClient c(io_, io_);
  ASSERT_TRUE(a.open(local_.port));
  ASSERT_TRUE(b.open(local_.port));
  EXPECT_FALSE(c.open(local_.port));
  EXPECT_EQ(transport_->counters().connections_refused_source, 1u);
  WsClient other_source(io_, io_);
  EXPECT_TRUE(other_source.open(local_.port, {}, "127.0.0.2"));
  EXPECT_EQ(transport_->connection_count(), 3u);
}

// The handshake timeout covers the upgrade: a connection that sends half an
// upgrade request and stops is closed (RFC 7118 needs nothing special here;
// the stream bounds of the security issue apply).
TEST_F(WebSocketTransport, AnUpgradeNotCompletedInTimeIsClosed) {
  TransportConfig config;
  config.handshake_timeout = 200ms;
  start(config);
  tcp::socket raw(io_);
  raw.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local_.port));
  const std::string half = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";
  asio::write(raw, asio::buffer(half));
  const auto start_time = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until(io_, [&] { return transport_->connection_count() == 1; }));
  ASSERT_TRUE(run_until(
      io_, [&] { return transport_->connection_count() == 0; }, 3000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start_time, 150ms);
  EXPECT_EQ(transport_->counters().connections_closed_handshake, 1u);
}

// An upgraded connection is no SIP client yet: one that sends no message,
// or only what does not parse, is closed at the handshake timeout like a
// TCP one (it would otherwise hold its slot until the idle timeout, and
// answering Beast's pings, for ever); one that sent a request stays.
TEST_F(WebSocketTransport, AnUpgradedConnectionThatSendsNoSipMessageIsClosedAtTheHandshakeTimeout) {
  TransportConfig config;
  config.handshake_timeout = 200ms;
  start(config);
  WsClient quiet(io_, io_);
  WsClient babbling(io_, io_);
  WsClient talking(io_, io_);
  const auto start_time = std::chrono::steady_clock::now();
  ASSERT_TRUE(quiet.open(local_.port));
  ASSERT_TRUE(babbling.open(local_.port, {}, "127.0.0.2"));
  ASSERT_TRUE(talking.open(local_.port, {}, "127.0.0.3"));
  quiet.start_reading();
  babbling.start_reading();
  talking.start_reading();
  ASSERT_TRUE(babbling.send("hello\r\n\r\n"));
  ASSERT_TRUE(talking.send(ws_options()));
  ASSERT_TRUE(run_until(
      io_, [&] { return quiet.read_error().has_value() && babbling.read_error().has_value(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - start_time, 150ms);
  io_.run_for(400ms);  // twice the timeout since the talking one connected
  EXPECT_FALSE(talking.read_error().has_value());
  EXPECT_EQ(talking.received().size(), 1u);
  EXPECT_EQ(transport_->connection_count(), 1u);
  EXPECT_EQ(transport_->counters().connections_closed_first_message, 2u);
  EXPECT_EQ(transport_->counters().connections_closed_handshake, 0u);
}

// A live client answers pings and stays; one that never reads (so never
// answers a ping) is closed at the idle timeout.
TEST_F(WebSocketTransport, PingsKeepALiveClientAndASilentOneIdlesOut) {
  TransportConfig config;
  config.idle_timeout = 400ms;
  start(config);
  WsClient live(io_, io_);
  ASSERT_TRUE(live.open(local_.port));
  live.start_reading();  // answers pings while a read is pending
  WsClient deaf(io_, io_);
  ASSERT_TRUE(deaf.open(local_.port));
  EXPECT_TRUE(run_until(
      io_, [&] { return transport_->connection_count() == 1; }, 3000ms));
  io_.run_for(1200ms);
  EXPECT_FALSE(live.read_error().has_value());
  EXPECT_EQ(transport_->connection_count(), 1u);
  EXPECT_GE(transport_->counters().connections_closed_idle, 1u);
}

std::filesystem::path make_certificate(const std::string& tag) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("chorus-" + tag + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
      (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() +
      " -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return {};
  return dir;
}

TEST(WebSocketSecure, OptionsOverWssIsAnswered) {  // RFC 7118 §5 WSS
  const std::filesystem::path dir = make_certificate("wss");
  ASSERT_FALSE(dir.empty()) << "openssl CLI (deploy/setup installs it)";
  asio::io_context io;
  TransportConfig config;
  config.wss_certificate_file = (dir / "cert.pem").string();
  config.wss_private_key_file = (dir / "key.pem").string();
  TransportLayer transport(io, config);
  std::vector<Endpoint> sources;
  transport.set_handler([&](Message request, const Endpoint& source) {
    sources.push_back(source);
    transport.send_response(make_response(request, 200, "OK", "wss"), source);
  });
  const Endpoint local = transport.listen(TransportKind::kWss, "127.0.0.1", 0);
  EXPECT_EQ(transport.local_endpoint(TransportKind::kWss), local);
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_verify_mode(asio::ssl::verify_none);  // self-signed, test only
  WssClient client(io, io, tls);
  ASSERT_TRUE(client.open(local.port));
  client.start_reading();
  ASSERT_TRUE(client.send(ws_options("WSS")));
  ASSERT_TRUE(run_until(io, [&] { return !client.received().empty(); }));
  EXPECT_TRUE(client.received().front().starts_with("SIP/2.0 200 OK\r\n"));
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].transport, TransportKind::kWss);
  transport.close();
  io.run_for(20ms);
  std::filesystem::remove_all(dir);
}

TEST(WebSocketSecure, AWssListenerWithoutCertificateIsAStartupError) {
  asio::io_context io;
  TransportLayer transport(io, TransportConfig{});
  EXPECT_THROW(transport.listen(TransportKind::kWss, "127.0.0.1", 0), std::runtime_error);
}

// RFC 7118 §5: the stack's own requests to a WS client (here a BYE to its
// Contact `sip:alice@<x>.invalid;transport=ws` after an INVITE) go over the
// connection it opened, with Via WS; once that is gone they fail at once.
TEST(WebSocketStack, RequestsToAWsContactUseTheClientsConnection) {
  asio::io_context io;
  StackConfig config;
  config.listeners.push_back({TransportKind::kWs, "127.0.0.1", 0});
  Stack stack(io, config);
  stack.start();
  std::optional<std::string> contact;
  StackHandlers handlers;
  handlers.on_request = [&](const ServerTransaction& tx) {
    tx.respond(200, "OK", "focus");
    contact = std::string(tx.request().contacts().front().uri.text);
  };
  stack.set_handlers(handlers);
  WsClient client(io, io);
  ASSERT_TRUE(client.open(stack.listening().front().port));
  client.start_reading();
  std::string invite = ws_options("WS", "z9hG4bKinv");
  invite.replace(0, 7, "INVITE");
  invite.replace(invite.find("CSeq: 7 OPTIONS"), 15, "CSeq: 1 INVITE");
  ASSERT_TRUE(client.send(invite));
  ASSERT_TRUE(run_until(io, [&] { return contact.has_value() && !client.received().empty(); }));
  ASSERT_TRUE(client.received().front().starts_with("SIP/2.0 200 OK")) << client.received()[0];

  auto bye_to = [&] {
    Message bye = Message::request(Method::kBye, *contact);
    bye.add_header("From", "<sip:room@127.0.0.1>;tag=focus");
    bye.add_header("To", "<sip:alice@example.com>;tag=f1");
    bye.add_header("Call-ID", "ws-test-z9hG4bKinv");
    bye.add_header("CSeq", "2 BYE");
    bye.set_body({}, {});
    return bye;
  };
  std::vector<ClientEvent::Kind> events;
  std::vector<int> statuses;
  const auto callback = [&](const ClientEvent& event) {
    events.push_back(event.kind);
    if (event.response) statuses.push_back(event.response->status());
  };
  ASSERT_NE(stack.send_request(bye_to(), callback), 0u);
  ASSERT_TRUE(run_until(io, [&] { return client.received().size() == 2; }));
  const std::string& bye = client.received()[1];
  EXPECT_TRUE(bye.starts_with("BYE sip:alice@df7jal23ls0d.invalid;transport=ws SIP/2.0\r\n"))
      << bye;
  auto parsed = Message::parse(bye);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value().top_via().transport, "WS");
  // The client answers on the same connection; the transaction completes.
  ASSERT_TRUE(client.send(make_response(parsed.value(), 200, "OK").serialize()));
  ASSERT_TRUE(run_until(io, [&] { return !statuses.empty(); }));
  EXPECT_EQ(statuses, std::vector<int>{200});

  // The client goes away: the next request fails fast with a transport error.
  beast::get_lowest_layer(client.ws()).close();
  ASSERT_TRUE(run_until(io, [&] { return stack.transport().connection_count() == 0; }));
  events.clear();
  const auto start = std::chrono::steady_clock::now();
  stack.send_request(bye_to(), callback);
  ASSERT_TRUE(run_until(
      io, [&] { return !events.empty(); }, 1000ms));
  EXPECT_EQ(events.front(), ClientEvent::Kind::kTransportError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  EXPECT_GE(stack.transport().counters().ws_no_flow, 1u);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
