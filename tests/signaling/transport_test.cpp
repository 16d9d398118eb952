// Transports on 127.0.0.1: UDP and TCP round trips, stream framing (split and
// coalesced messages, oversized input), Via received/rport stamping (RFC 3581)
// and response routing (RFC 3261 §18.2.2); stream bounds (handshake, first
// message, partial message, idle, per-source cap, our connections apart from
// peers'), outgoing TLS verification (RFC 5922) and
// sips: never leaving over anything but TLS (RFC 3261 §26.2.2).

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <unistd.h>

#include <boost/asio/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

#include "signaling/asio.hpp"
#include "signaling/message/message.hpp"
#include "signaling/transport/transport.hpp"
#include "signaling/transport/transport_routing.hpp"

namespace chorus::sip {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using namespace std::chrono_literals;

std::string options_text(std::string_view via_sent_by, std::string_view via_params = "",
                         std::string_view transport = "UDP",
                         std::string_view branch = "z9hG4bKt1") {
  std::string text = "OPTIONS sip:room@127.0.0.1 SIP/2.0\r\n";
  text += "Via: SIP/2.0/" + std::string(transport) + " " + std::string(via_sent_by) +
          ";branch=" + std::string(branch) + std::string(via_params) + "\r\n";
  text +=
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@example.com>;tag=f1\r\n"
      "To: <sip:room@127.0.0.1>\r\n"
      "Call-ID: transport-test\r\n"
      "CSeq: 7 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n";
  return text;
}

Message parse(const std::string& text) {
  auto result = Message::parse(text);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().reason);
  return std::move(result).value();
}

// ---- pure routing functions

TEST(ViaStamping, ReceivedAddedWhenSentByDiffersFromSource) {
  Message request = parse(options_text("10.0.0.9:5070"));
  stamp_via(request, Endpoint{TransportKind::kUdp, "127.0.0.1", 40000, 1});
  EXPECT_EQ(request.top_via().received(), "127.0.0.1");
  EXPECT_FALSE(request.top_via().has_rport());
}

TEST(ViaStamping, NothingAddedWhenSentByIsTheSourceAndNoRport) {
  Message request = parse(options_text("127.0.0.1:5070"));
  stamp_via(request, Endpoint{TransportKind::kUdp, "127.0.0.1", 5070, 1});
  EXPECT_FALSE(request.top_via().received().has_value());
}

// RFC 3581 §4: rport requested → rport=<source port> and received (always).
TEST(ViaStamping, RportFilledWithSourcePortAndReceivedAlwaysAdded) {
  Message request = parse(options_text("127.0.0.1:5070", ";rport"));
  stamp_via(request, Endpoint{TransportKind::kUdp, "127.0.0.1", 40001, 1});
  const Via via = request.top_via();
  EXPECT_EQ(via.rport(), 40001);
  EXPECT_EQ(via.received(), "127.0.0.1");
  EXPECT_EQ(via.branch(), "z9hG4bKt1");
}

TEST(ResponseRouting, UdpUsesReceivedAndRport) {
  Message request = parse(options_text("10.0.0.9:5070", ";rport"));
  const Endpoint source{TransportKind::kUdp, "192.0.2.1", 31000, 1};
  stamp_via(request, source);
  const Endpoint to = response_destination(request.top_via(), source);
  EXPECT_EQ(to.address, "192.0.2.1");
  EXPECT_EQ(to.port, 31000);
  EXPECT_EQ(to.connection, 1u);
}

TEST(ResponseRouting, UdpUsesReceivedAndSentByPortWithoutRport) {
  Message request = parse(options_text("10.0.0.9:5070"));
  const Endpoint source{TransportKind::kUdp, "192.0.2.1", 31000, 1};
  stamp_via(request, source);
  const Endpoint to = response_destination(request.top_via(), source);
  EXPECT_EQ(to.address, "192.0.2.1");
  EXPECT_EQ(to.port, 5070);
}

TEST(ResponseRouting, UdpDefaultsTo5060AndIgnoresMaddr) {
  const Endpoint source{TransportKind::kUdp, "10.0.0.9", 31000, 1};
  Message plain = parse(options_text("10.0.0.9"));
  EXPECT_EQ(response_destination(plain.top_via(), source).port, 5060);
  // A maddr would send the answers to a host the request chose.
  for (const char* maddr : {";maddr=239.0.0.1", ";maddr=198.51.100.7"}) {
    Message request = parse(options_text("10.0.0.9:5080", maddr));
    stamp_via(request, source);
    const Endpoint to = response_destination(request.top_via(), source);
    EXPECT_EQ(to.address, "10.0.0.9") << maddr;
    EXPECT_EQ(to.port, 5080) << maddr;
  }
}

// A request from the attacker's own address whose Via claims a received
// and an rport of its choosing: the answers (and an INVITE's retransmitted
// 4xx and 2xx) still go where the packet came from, never to the victim.
TEST(ResponseRouting, AReceivedOrRportTheSenderWroteIsReplacedByItsSource) {
  const Endpoint source{TransportKind::kUdp, "192.0.2.1", 5060, 1};
  for (const char* claim : {";received=198.51.100.7;rport=9", ";received=198.51.100.7", ";rport=9",
                            ";received=127.0.0.1;rport"}) {
    Message request = parse(options_text("192.0.2.1:5060", claim));
    stamp_via(request, source);
    const Endpoint to = response_destination(request.top_via(), source);
    EXPECT_EQ(to.address, "192.0.2.1") << claim;
    EXPECT_EQ(to.port, 5060) << claim;
  }
  // Behind NAT, with a claim: the NAT binding the packet came from.
  Message natted = parse(options_text("10.0.0.9:5070", ";received=198.51.100.7;rport=9"));
  const Endpoint binding{TransportKind::kUdp, "192.0.2.1", 31000, 1};
  stamp_via(natted, binding);
  const Endpoint to = response_destination(natted.top_via(), binding);
  EXPECT_EQ(to.address, "192.0.2.1");
  EXPECT_EQ(to.port, 31000);
}

TEST(ResponseRouting, ReliableKeepsTheConnectionAndFallsBackToSentByPort) {
  Message request = parse(options_text("10.0.0.9:5090", ";rport", "TCP"));
  const Endpoint source{TransportKind::kTcp, "192.0.2.7", 45000, 42};
  stamp_via(request, source);
  const Endpoint to = response_destination(request.top_via(), source);
  EXPECT_EQ(to.connection, 42u);
  EXPECT_EQ(to.transport, TransportKind::kTcp);
  EXPECT_EQ(to.address, "192.0.2.7");
  EXPECT_EQ(to.port, 5090) << "a new connection goes to the sent-by port, not the ephemeral one";
}

TEST(RequestRouting, RouteBeforeRequestUriWithTransportParam) {
  Message request = parse(options_text("127.0.0.1:5070"));
  EXPECT_EQ(request_destination(request, TransportKind::kUdp),
            (Endpoint{TransportKind::kUdp, "127.0.0.1", 5060, 0}));
  request.add_header("Route", "<sip:192.0.2.5:5099;transport=tcp;lr>");
  EXPECT_EQ(request_destination(request, TransportKind::kUdp),
            (Endpoint{TransportKind::kTcp, "192.0.2.5", 5099, 0}));
}

// RFC 3261 §26.2.2: a sips: Request-URI goes over TLS on every hop, even
// when the route it takes is a sip: URI asking for UDP.
TEST(RequestRouting, SipsRequestUriIsNeverDowngradedByARoute) {
  Message request = parse(options_text("127.0.0.1:5070"));
  request.set_request_uri("sips:bob@127.0.0.1:5071");
  request.add_header("Route", "<sip:192.0.2.5:5099;transport=udp;lr>");
  EXPECT_EQ(request_destination(request, TransportKind::kUdp),
            (Endpoint{TransportKind::kTls, "192.0.2.5", 5099, 0}));
  EXPECT_TRUE(requires_tls(request));
  EXPECT_EQ(next_hop_host(request), "192.0.2.5");
}

TEST(RequestRouting, SipsIsTlsOn5061AndHostnamesAreNotResolved) {
  Message request = parse(options_text("127.0.0.1:5070"));
  request.set_request_uri("sips:bob@[::1]");
  EXPECT_EQ(request_destination(request, TransportKind::kUdp),
            (Endpoint{TransportKind::kTls, "::1", 5061, 0}));
  request.set_request_uri("sip:bob@example.com");
  EXPECT_EQ(request_destination(request, TransportKind::kUdp), std::nullopt);
  request.set_request_uri("sip:bob@localhost:5062");
  EXPECT_EQ(request_destination(request, TransportKind::kUdp)->address, "127.0.0.1");
}

// ---- live transports on loopback

class LiveTransportTest : public ::testing::Test {
 protected:
  LiveTransportTest() : transport_(io_, config()) {
    transport_.set_handler([this](Message message, const Endpoint& source) {
      received_.push_back(std::move(message));
      sources_.push_back(source);
      if (on_message_) on_message_(received_.back(), source);
    });
  }

  static TransportConfig config() {
    TransportConfig config;
    config.idle_timeout = 300ms;
    return config;
  }

  template <class Predicate>
  bool run_until(Predicate done, std::chrono::milliseconds limit = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(5ms);
    }
    return true;
  }

  // Reads from a blocking-free TCP client until `count` complete messages
  // (by blank line + Content-Length: 0) or the time limit.
  std::string read_tcp(tcp::socket& client, size_t min_bytes) {
    std::string data;
    run_until([&] {
      boost::system::error_code error;
      const size_t available = client.available(error);
      if (available > 0) {
        std::string chunk(available, '\0');
        client.read_some(asio::buffer(chunk), error);
        data += chunk;
      }
      return data.size() >= min_bytes || error;
    });
    return data;
  }

  asio::io_context io_;
  TransportLayer transport_;
  std::vector<Message> received_;
  std::vector<Endpoint> sources_;
  std::function<void(const Message&, const Endpoint&)> on_message_;
};

TEST_F(LiveTransportTest, UdpRoundTripStampsViaAndRoutesResponseToRport) {
  const Endpoint local = transport_.listen(TransportKind::kUdp, "127.0.0.1", 0);
  ASSERT_NE(local.port, 0);
  udp::socket client(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  on_message_ = [this](const Message& request, const Endpoint& source) {
    EXPECT_TRUE(transport_.send_response(make_response(request, 200, "OK", "tt"), source));
  };
  // The client claims a sent-by it does not have (a NAT): rport must win.
  client.send_to(asio::buffer(options_text("203.0.113.5:5999", ";rport")),
                 udp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
  ASSERT_TRUE(run_until([&] { return !received_.empty(); }));
  const Via via = received_[0].top_via();
  EXPECT_EQ(via.received(), "127.0.0.1");
  EXPECT_EQ(via.rport(), client.local_endpoint().port());
  EXPECT_EQ(sources_[0].transport, TransportKind::kUdp);

  std::array<char, 4096> buffer{};
  udp::endpoint from;
  const size_t size = client.receive_from(asio::buffer(buffer), from);
  const Message response = parse(std::string(buffer.data(), size));
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.top_via().rport(), client.local_endpoint().port());
  EXPECT_EQ(from.port(), local.port) << "answered from the socket the request came in on";
  EXPECT_EQ(transport_.counters().responses_sent_by_class[2], 1u);
  EXPECT_EQ(transport_.counters().requests_received, 1u);
}

TEST_F(LiveTransportTest, UdpGarbageIsDroppedAndCountedButAnswerableFaultsGet400) {
  const Endpoint local = transport_.listen(TransportKind::kUdp, "127.0.0.1", 0);
  udp::socket client(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const udp::endpoint server(asio::ip::make_address("127.0.0.1"), local.port);
  client.send_to(asio::buffer(std::string("\x01\x02 not sip at all\r\n\r\n")), server);
  ASSERT_TRUE(run_until([&] { return transport_.counters().parse_drops == 1; }));

  std::string bad_cseq = options_text("127.0.0.1:5070");
  bad_cseq.replace(bad_cseq.find("CSeq: 7 OPTIONS"), 15, "CSeq: x OPTIONS");
  client.send_to(asio::buffer(bad_cseq), server);
  ASSERT_TRUE(run_until([&] { return transport_.counters().parse_errors_answered == 1; }));
  std::array<char, 4096> buffer{};
  udp::endpoint from;
  const size_t size = client.receive_from(asio::buffer(buffer), from);
  // The answer copies the broken CSeq, so check the status line as text.
  const std::string response(buffer.data(), size);
  const std::string status_line = response.substr(0, response.find("\r\n"));
  EXPECT_TRUE(status_line.starts_with("SIP/2.0 400 ")) << status_line;
  EXPECT_NE(status_line.find("CSeq"), std::string::npos) << status_line;
  EXPECT_NE(response.find("Call-ID: transport-test"), std::string::npos);
  EXPECT_TRUE(received_.empty());
}

TEST_F(LiveTransportTest, TcpSplitAndCoalescedMessagesAreFramedAndAnsweredOnTheConnection) {
  const Endpoint local = transport_.listen(TransportKind::kTcp, "127.0.0.1", 0);
  tcp::socket client(io_);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
  on_message_ = [this](const Message& request, const Endpoint& source) {
    EXPECT_TRUE(transport_.send_response(make_response(request, 200, "OK", "tt"), source));
  };
  const std::string one = options_text("10.1.1.1:5060", "", "TCP", "z9hG4bKsplit");
  // Split: three writes with the event loop running in between.
  asio::write(client, asio::buffer(one.substr(0, 10)));
  io_.run_for(20ms);
  asio::write(client, asio::buffer(one.substr(10, 100)));
  io_.run_for(20ms);
  EXPECT_TRUE(received_.empty());
  asio::write(client, asio::buffer(one.substr(110)));
  ASSERT_TRUE(run_until([&] { return received_.size() == 1; }));
  EXPECT_EQ(sources_[0].transport, TransportKind::kTcp);
  EXPECT_NE(sources_[0].connection, 0u);
  // Coalesced: two messages (with a CRLF keep-alive between) in one write.
  const std::string two = options_text("10.1.1.1:5060", "", "TCP", "z9hG4bKco1") + "\r\n\r\n" +
                          options_text("10.1.1.1:5060", "", "TCP", "z9hG4bKco2");
  asio::write(client, asio::buffer(two));
  ASSERT_TRUE(run_until([&] { return received_.size() == 3; }));
  EXPECT_EQ(received_[1].top_via().branch(), "z9hG4bKco1");
  EXPECT_EQ(received_[2].top_via().branch(), "z9hG4bKco2");
  // The three responses come back on the same connection (§18.2.2), even
  // though the Via sent-by names another host.
  const std::string replies = read_tcp(client, 3 * 200);
  size_t count = 0;
  for (size_t at = replies.find("SIP/2.0 200"); at != std::string::npos;
       at = replies.find("SIP/2.0 200", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 3u) << replies;
  EXPECT_EQ(transport_.connection_count(), 1u);
}

TEST_F(LiveTransportTest, TcpOversizedMessageClosesTheConnection) {
  const Endpoint local = transport_.listen(TransportKind::kTcp, "127.0.0.1", 0);
  tcp::socket client(io_);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
  std::string huge = options_text("127.0.0.1:5060", "", "TCP");
  huge.insert(huge.find("Content-Length"), "X-Padding: " + std::string(70000, 'a') + "\r\n");
  boost::system::error_code error;
  asio::write(client, asio::buffer(huge), error);
  ASSERT_TRUE(run_until([&] { return transport_.counters().framing_errors == 1; }));
  ASSERT_TRUE(run_until([&] { return transport_.connection_count() == 0; }));
  EXPECT_TRUE(received_.empty());
  // The peer sees the close (possibly after an error response).
  std::string rest;
  run_until([&] {
    std::array<char, 1024> chunk{};
    boost::system::error_code read_error;
    if (client.available(read_error) == 0 && !read_error) {
      client.non_blocking(true);
      client.read_some(asio::buffer(chunk), read_error);
      client.non_blocking(false);
      if (read_error == asio::error::would_block) return false;
    } else {
      client.read_some(asio::buffer(chunk), read_error);
    }
    return read_error == asio::error::eof || read_error == asio::error::connection_reset;
  });
}

TEST_F(LiveTransportTest, TcpMissingContentLengthIsAFramingError) {
  const Endpoint local = transport_.listen(TransportKind::kTcp, "127.0.0.1", 0);
  tcp::socket client(io_);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
  std::string text = options_text("127.0.0.1:5060", "", "TCP");
  text.erase(text.find("Content-Length: 0\r\n"), 19);
  asio::write(client, asio::buffer(text));
  ASSERT_TRUE(run_until([&] { return transport_.counters().framing_errors == 1; }));
  EXPECT_TRUE(received_.empty());
}

TEST_F(LiveTransportTest, OutgoingTcpConnectionIsReusedPerPeerAndReapedWhenIdle) {
  asio::io_context& io = io_;
  TransportLayer peer(io, config());
  std::vector<Message> at_peer;
  peer.set_handler(
      [&](Message message, const Endpoint&) { at_peer.push_back(std::move(message)); });
  const Endpoint peer_local = peer.listen(TransportKind::kTcp, "127.0.0.1", 0);
  transport_.listen(TransportKind::kTcp, "127.0.0.1", 0);
  const Endpoint to{TransportKind::kTcp, "127.0.0.1", peer_local.port, 0};
  ASSERT_TRUE(
      transport_.send_request(parse(options_text("127.0.0.1:1", "", "TCP", "z9hG4bKr1")), to));
  ASSERT_TRUE(
      transport_.send_request(parse(options_text("127.0.0.1:1", "", "TCP", "z9hG4bKr2")), to));
  ASSERT_TRUE(run_until([&] { return at_peer.size() == 2; }));
  EXPECT_EQ(transport_.counters().connections_opened, 1u);
  EXPECT_EQ(peer.counters().connections_accepted, 1u);
  // idle_timeout is 300 ms in this fixture: both ends close it.
  ASSERT_TRUE(run_until(
      [&] { return transport_.connection_count() == 0 && peer.connection_count() == 0; }));
  EXPECT_GE(transport_.counters().connections_closed_idle + peer.counters().connections_closed_idle,
            1u);
}

TEST_F(LiveTransportTest, SendToBadAddressFailsWithoutThrowing) {
  transport_.listen(TransportKind::kUdp, "127.0.0.1", 0);
  const Message request = parse(options_text("127.0.0.1:5070"));
  EXPECT_FALSE(
      transport_.send_request(request, Endpoint{TransportKind::kUdp, "not-an-ip", 5060, 0}));
  EXPECT_FALSE(transport_.send_request(request, Endpoint{TransportKind::kUdp, "::1", 5060, 0}))
      << "no IPv6 UDP listener";
  EXPECT_GE(transport_.counters().send_errors, 2u);
}

TEST_F(LiveTransportTest, SipsRequestToAUdpOrTcpDestinationIsRefusedAndNothingIsSent) {
  TransportLayer peer(io_, config());
  std::vector<Message> at_peer;
  peer.set_handler([&](Message message, const Endpoint&) { at_peer.push_back(std::move(message)); });
  const Endpoint udp_peer = peer.listen(TransportKind::kUdp, "127.0.0.1", 0);
  const Endpoint tcp_peer = peer.listen(TransportKind::kTcp, "127.0.0.1", 0);
  transport_.listen(TransportKind::kUdp, "127.0.0.1", 0);
  Message request = parse(options_text("127.0.0.1:1"));
  request.set_request_uri("sips:bob@127.0.0.1:" + std::to_string(udp_peer.port));
  EXPECT_FALSE(transport_.send_request(request, udp_peer));
  EXPECT_FALSE(transport_.send_request(request, tcp_peer));
  EXPECT_EQ(transport_.counters().sips_refused, 2u);
  // The same request as sip: goes (the peer is reachable: the refusal was the scheme's).
  request.set_request_uri("sip:bob@127.0.0.1:" + std::to_string(udp_peer.port));
  EXPECT_TRUE(transport_.send_request(request, udp_peer));
  ASSERT_TRUE(run_until([&] { return at_peer.size() == 1; }));
  io_.run_for(50ms);
  EXPECT_EQ(at_peer.size(), 1u);
  EXPECT_EQ(transport_.connection_count(), 0u) << "no TCP connection was opened for the sips request";
}

// ---- stream connection bounds, each on its own with short timeouts

TransportConfig bounded(Duration handshake, Duration message, Duration idle,
                        size_t per_source = 64) {
  TransportConfig config;
  config.handshake_timeout = handshake;
  config.message_timeout = message;
  config.idle_timeout = idle;
  config.max_connections_per_source = per_source;
  return config;
}

// True once the server has closed `client` (EOF or reset), within `limit`.
bool closed_by_peer(asio::io_context& io, tcp::socket& client, std::chrono::milliseconds limit,
                    const std::function<void()>& every_50ms = {}) {
  client.non_blocking(true);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto next_tick = std::chrono::steady_clock::now() + 50ms;
  while (std::chrono::steady_clock::now() < deadline) {
    io.run_for(5ms);
    std::array<char, 256> sink{};
    boost::system::error_code error;
    client.read_some(asio::buffer(sink), error);
    if (error == asio::error::eof || error == asio::error::connection_reset) return true;
    if (every_50ms && std::chrono::steady_clock::now() >= next_tick) {
      every_50ms();
      next_tick += 50ms;
    }
  }
  return false;
}

// A client socket bound to `source` (an address of 127.0.0.0/8), connected
// to `server`.
std::unique_ptr<tcp::socket> connect_from(asio::io_context& io, const char* source,
                                          const tcp::endpoint& server) {
  auto socket = std::make_unique<tcp::socket>(io);
  socket->open(tcp::v4());
  socket->bind(tcp::endpoint(asio::ip::make_address(source), 0));
  socket->connect(server);
  return socket;
}

TEST(StreamBounds, TlsConnectionThatNeverHandshakesIsClosedAfterTheHandshakeTimeout) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("chorus-hs-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string();
  const std::string key = (dir / "key.pem").string();
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + key +
      " -out " + cert + " -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << "openssl CLI (deploy/setup installs it)";
  asio::io_context io;
  TransportConfig config = bounded(200ms, 10s, 10s);
  config.tls_certificate_file = cert;
  config.tls_private_key_file = key;
  TransportLayer transport(io, config);
  const Endpoint local = transport.listen(TransportKind::kTls, "127.0.0.1", 0);
  tcp::socket client(io);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(closed_by_peer(io, client, 3000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_EQ(transport.counters().connections_closed_handshake, 1u);
  EXPECT_EQ(transport.counters().connections_closed_idle, 0u);
  EXPECT_EQ(transport.connection_count(), 0u);
  std::filesystem::remove_all(dir);
}

TEST(StreamBounds, HalfAMessageTrickledByteByByteIsClosedAfterTheMessageTimeout) {
  asio::io_context io;
  TransportLayer transport(io, bounded(10s, 300ms, 10s));
  const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
  tcp::socket client(io);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
  const std::string text = options_text("127.0.0.1:5060", "", "TCP");
  size_t sent = 0;
  // One byte every 50 ms keeps the connection busy (never idle) but the
  // message never completes.
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(closed_by_peer(io, client, 5000ms, [&] {
    boost::system::error_code ignored;
    if (sent + 1 < text.size()) client.write_some(asio::buffer(text.data() + sent++, 1), ignored);
  }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
  EXPECT_EQ(transport.counters().connections_closed_partial, 1u);
  EXPECT_EQ(transport.counters().connections_closed_idle, 0u);
  EXPECT_EQ(transport.counters().requests_received, 0u);
}

TEST(StreamBounds, CompleteMessagesRestartTheMessageClockAndASilentConnectionIdlesOut) {
  asio::io_context io;
  TransportLayer transport(io, bounded(10s, 300ms, 400ms));
  size_t received = 0;
  transport.set_handler([&](Message, const Endpoint&) { ++received; });
  const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
  tcp::socket client(io);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
  // Complete messages, each sent in two halves 100 ms apart, for 1 s: the
  // message clock restarts with each, so the connection stays.
  const std::string text = options_text("127.0.0.1:5060", "", "TCP");
  int halves = 0;
  const auto busy_until = std::chrono::steady_clock::now() + 900ms;
  EXPECT_FALSE(closed_by_peer(io, client, 1000ms, [&] {
    if (std::chrono::steady_clock::now() >= busy_until && halves % 2 == 0) return;
    const size_t mid = text.size() / 2;
    boost::system::error_code ignored;
    if (halves++ % 2 == 0) {
      asio::write(client, asio::buffer(text.data(), mid), ignored);
    } else {
      asio::write(client, asio::buffer(text.data() + mid, text.size() - mid), ignored);
    }
  }));
  EXPECT_GE(received, 4u);
  EXPECT_EQ(transport.counters().connections_closed_partial, 0u);
  // Then silence: the idle timeout closes it.
  ASSERT_TRUE(closed_by_peer(io, client, 3000ms));
  EXPECT_EQ(transport.counters().connections_closed_idle, 1u);
}

// A transport on `config` and a TCP peer that sent it one request and then
// stopped reading (a small receive window): `source` is where the
// transport can write toward it.
struct StalledPeer {
  explicit StalledPeer(const TransportConfig& config) : transport(io, config), client(io) {
    transport.set_handler([this](Message, const Endpoint& from) { source = from; });
    const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
    client.open(tcp::v4());
    client.set_option(asio::socket_base::receive_buffer_size(4096));
    client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
    asio::write(client, asio::buffer(options_text("127.0.0.1:5060", "", "TCP")));
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (!source && std::chrono::steady_clock::now() < until) io.run_for(10ms);
  }
  // 60 KiB at a time (what a response echoing big Vias might be), up to
  // `count` or the first refusal, the io polled between; how many went.
  size_t send(size_t count) {
    const std::string chunk(60 * 1024, 'x');
    size_t sent = 0;
    while (sent < count && transport.send_raw(*source, chunk)) {
      ++sent;
      io.poll();
    }
    return sent;
  }
  asio::io_context io;
  TransportLayer transport;
  tcp::socket client;
  std::optional<Endpoint> source;
};

TEST(StreamBounds, WhatIsQueuedTowardAPeerThatStopsReadingIsBounded) {
  TransportConfig config = bounded(10s, 10s, 10s);
  config.max_queued_bytes = 256 * 1024;
  StalledPeer peer(config);
  ASSERT_TRUE(peer.source.has_value());
  // The kernel's buffers fill, then our queue, then the connection goes.
  EXPECT_LT(peer.send(1000), 1000u);
  EXPECT_EQ(peer.transport.counters().connections_closed_backlog, 1u);
  peer.io.run_for(50ms);
  EXPECT_EQ(peer.transport.connection_count(), 0u);
}

TEST(StreamBounds, AWriteThatNeverCompletesIsClosedAfterTheMessageTimeout) {
  TransportConfig config = bounded(10s, 300ms, 10s);
  config.max_queued_bytes = 64u << 20;
  StalledPeer peer(config);
  ASSERT_TRUE(peer.source.has_value());
  // More than loopback's socket buffers hold (24 MB): a write stalls.
  ASSERT_EQ(peer.send(400), 400u);
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (peer.transport.counters().connections_closed_stalled == 0 &&
         std::chrono::steady_clock::now() < until) {
    peer.io.run_for(20ms);
  }
  EXPECT_EQ(peer.transport.counters().connections_closed_stalled, 1u);
  EXPECT_EQ(peer.transport.counters().connections_closed_backlog, 0u);
  EXPECT_EQ(peer.transport.connection_count(), 0u);
}

TEST(StreamBounds, ConnectionsPerSourceAreCappedAndOtherSourcesStillConnect) {
  asio::io_context io;
  TransportLayer transport(io, bounded(10s, 10s, 10s, 2));
  const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
  const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), local.port);
  auto a = connect_from(io, "127.0.0.1", server);
  auto b = connect_from(io, "127.0.0.1", server);
  io.run_for(50ms);
  auto c = connect_from(io, "127.0.0.1", server);
  EXPECT_TRUE(closed_by_peer(io, *c, 2000ms)) << "third connection from one source refused";
  auto d = connect_from(io, "127.0.0.2", server);
  io.run_for(100ms);
  EXPECT_EQ(transport.counters().connections_refused_source, 1u);
  EXPECT_EQ(transport.counters().connections_accepted, 3u);
  EXPECT_EQ(transport.connection_count(), 3u);
  // A slot freed by a closed connection can be taken again.
  a->close();
  io.run_for(100ms);
  auto e = connect_from(io, "127.0.0.1", server);
  io.run_for(100ms);
  EXPECT_EQ(transport.counters().connections_accepted, 4u);
  EXPECT_EQ(transport.counters().connections_refused_source, 1u);
}

// A connection a peer opens holds a slot only if it speaks SIP: one that
// stays silent, or sends nothing but CRLF keep-alives (RFC 5626 §3.5.1:
// traffic, which restarts the idle timeout, but no message), is closed once
// the handshake timeout has passed without a complete message. Before, both
// stayed until idle_timeout (the pinging one for ever), so a few sources
// could hold every one of max_connections.
TEST(StreamBounds, AConnectionThatSendsNoSipMessageIsClosedAfterTheHandshakeTimeout) {
  asio::io_context io;
  TransportConfig config = bounded(200ms, 10s, 10s, 2);
  config.max_connections = 4;
  TransportLayer transport(io, config);
  size_t received = 0;
  transport.set_handler([&](Message, const Endpoint&) { ++received; });
  const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
  const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), local.port);
  const auto start = std::chrono::steady_clock::now();
  auto silent = connect_from(io, "127.0.0.1", server);
  auto pinging = connect_from(io, "127.0.0.2", server);
  auto talking = connect_from(io, "127.0.0.3", server);
  asio::write(*talking, asio::buffer(options_text("127.0.0.3:5060", "", "TCP")));
  const auto ping = [&] {
    boost::system::error_code ignored;
    asio::write(*pinging, asio::buffer(std::string("\r\n\r\n")), ignored);
  };
  ASSERT_TRUE(closed_by_peer(io, *silent, 3000ms, ping)) << "a silent connection is closed";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  ASSERT_TRUE(closed_by_peer(io, *pinging, 1000ms, ping)) << "keep-alives are not a message";
  EXPECT_EQ(transport.counters().connections_closed_first_message, 2u);
  EXPECT_EQ(transport.counters().connections_closed_idle, 0u);
  EXPECT_EQ(transport.counters().connections_closed_handshake, 0u);
  // The one that sent a request stays, well past the timeout.
  EXPECT_FALSE(closed_by_peer(io, *talking, 600ms));
  EXPECT_EQ(received, 1u);
  EXPECT_EQ(transport.connection_count(), 1u);
  EXPECT_EQ(transport.counters().connections_closed_first_message, 2u);
}

// A message that does not parse is no proof either: the connection is
// answered 400 and still closed when the timeout passes.
TEST(StreamBounds, AMessageThatDoesNotParseDoesNotKeepTheConnection) {
  asio::io_context io;
  TransportLayer transport(io, bounded(200ms, 10s, 10s));
  size_t received = 0;
  transport.set_handler([&](Message, const Endpoint&) { ++received; });
  const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
  tcp::socket client(io);
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
  std::string broken = options_text("127.0.0.1:5060", "", "TCP");
  broken.replace(broken.find("Call-ID"), 7, "Xall-ID");  // no Call-ID: 400 Missing Call-ID
  asio::write(client, asio::buffer(broken));
  ASSERT_TRUE(closed_by_peer(io, client, 3000ms));
  EXPECT_EQ(transport.counters().parse_errors_answered, 1u);
  EXPECT_EQ(transport.counters().connections_closed_first_message, 1u);
  EXPECT_EQ(received, 0u);
}

// Peers holding every inbound slot do not keep the focus from opening its
// own connections (NOTIFYs to TCP subscribers, BYEs, dial-outs): those are
// counted apart, under max_outgoing_connections, and take no inbound slot.
// Before, one max_connections covered both and this send was refused.
TEST(StreamBounds, OutgoingConnectionsStillOpenWhenPeersHoldEveryInboundSlot) {
  asio::io_context io;
  TransportConfig config = bounded(10s, 10s, 10s, 2);
  config.max_connections = 4;
  config.max_outgoing_connections = 1;
  TransportLayer transport(io, config);
  const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
  const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), local.port);
  TransportLayer peer(io, bounded(10s, 10s, 10s));
  size_t at_peer = 0;
  peer.set_handler([&](Message, const Endpoint&) { ++at_peer; });
  const Endpoint peer_local = peer.listen(TransportKind::kTcp, "127.0.0.1", 0);
  const Endpoint other_peer_local = peer.listen(TransportKind::kTcp, "127.0.0.1", 0);

  std::vector<std::unique_ptr<tcp::socket>> holders;
  for (const char* source : {"127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"}) {
    holders.push_back(connect_from(io, source, server));
  }
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (transport.connection_count() < 4 && std::chrono::steady_clock::now() < deadline) {
    io.run_for(5ms);
  }
  ASSERT_EQ(transport.connection_count(), 4u);
  auto refused = connect_from(io, "127.0.0.3", server);
  EXPECT_TRUE(closed_by_peer(io, *refused, 2000ms)) << "every inbound slot is taken";
  EXPECT_EQ(transport.counters().connections_refused, 1u);

  const Endpoint to{TransportKind::kTcp, "127.0.0.1", peer_local.port, 0};
  ASSERT_TRUE(
      transport.send_request(parse(options_text("127.0.0.1:1", "", "TCP", "z9hG4bKout1")), to));
  const auto sent_by = std::chrono::steady_clock::now() + 3s;
  while (at_peer == 0 && std::chrono::steady_clock::now() < sent_by) io.run_for(5ms);
  EXPECT_EQ(at_peer, 1u);
  EXPECT_EQ(transport.counters().connections_opened, 1u);
  EXPECT_EQ(transport.connection_count(), 5u);

  // Ours have their own cap: the second peer is one connection too many.
  const Endpoint other{TransportKind::kTcp, "127.0.0.1", other_peer_local.port, 0};
  EXPECT_FALSE(
      transport.send_request(parse(options_text("127.0.0.1:1", "", "TCP", "z9hG4bKout2")), other));
  EXPECT_EQ(transport.counters().connections_refused_outgoing, 1u);
  EXPECT_EQ(transport.counters().connections_refused, 1u);
  // A freed inbound slot goes to a peer again, whatever ours hold.
  holders.front()->close();
  const auto freed_by = std::chrono::steady_clock::now() + 2s;
  while (transport.connection_count() > 4 && std::chrono::steady_clock::now() < freed_by) {
    io.run_for(5ms);
  }
  auto late = connect_from(io, "127.0.0.3", server);
  EXPECT_FALSE(closed_by_peer(io, *late, 300ms));
  EXPECT_EQ(transport.counters().connections_accepted, 5u);
  EXPECT_EQ(transport.connection_count(), 5u);
}

// ---- outgoing TLS verification (RFC 5922 §7): certificates made for the test

class TlsVerification : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("chorus-verify-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(make_ca("ca") && make_ca("rogue-ca")) << "openssl CLI (deploy/setup installs it)";
    ASSERT_TRUE(make_leaf("good", "ca", "DNS:localhost,IP:127.0.0.1"));
    ASSERT_TRUE(make_leaf("wrong-name", "ca", "DNS:focus.example.org,IP:192.0.2.9"));
    ASSERT_TRUE(make_leaf("wildcard", "ca", "DNS:*.localhost"));
    ASSERT_TRUE(make_leaf("untrusted", "rogue-ca", "DNS:localhost,IP:127.0.0.1"));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  bool make_ca(const std::string& name) {
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        path(name + ".key") + " -out " + path(name + ".pem") + " -days 1 -subj /CN=" + name +
        " >/dev/null 2>&1";
    return std::system(command.c_str()) == 0;
  }
  bool make_leaf(const std::string& name, const std::string& ca, const std::string& san) {
    std::ofstream(path(name + ".ext")) << "subjectAltName=" << san << "\n";
    const std::string command =
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        path(name + ".key") + " -out " + path(name + ".csr") + " -subj /CN=" + name +
        " >/dev/null 2>&1 && openssl x509 -req -in " + path(name + ".csr") + " -CA " +
        path(ca + ".pem") + " -CAkey " + path(ca + ".key") + " -CAcreateserial -days 1 -out " +
        path(name + ".pem") + " -extfile " + path(name + ".ext") + " >/dev/null 2>&1";
    return std::system(command.c_str()) == 0;
  }

  // A TLS peer with certificate `leaf`; our side sends an OPTIONS to
  // sips:room@<host>:<port>. True when the peer received it.
  bool delivered(const std::string& leaf, const std::string& host, bool verify = true) {
    asio::io_context io;
    TransportConfig peer_config;
    peer_config.tls_certificate_file = path(leaf + ".pem");
    peer_config.tls_private_key_file = path(leaf + ".key");
    TransportLayer peer(io, peer_config);
    size_t received = 0;
    peer.set_handler([&](Message, const Endpoint&) { ++received; });
    const Endpoint at = peer.listen(TransportKind::kTls, "127.0.0.1", 0);
    TransportConfig ours;
    ours.tls_ca_file = path("ca.pem");
    ours.tls_verify_peer = verify;
    TransportLayer transport(io, ours);
    Message request = parse(options_text("127.0.0.1:5061", "", "TLS"));
    request.set_request_uri("sips:room@" + host + ":" + std::to_string(at.port));
    const std::optional<Endpoint> to = request_destination(request, TransportKind::kUdp);
    EXPECT_TRUE(to && to->transport == TransportKind::kTls);
    EXPECT_TRUE(transport.send_request(request, *to)) << "queued until the handshake";
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (received == 0 && transport.counters().tls_handshakes_failed == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      io.run_for(5ms);
    }
    io.run_for(20ms);
    handshakes_failed_ = transport.counters().tls_handshakes_failed;
    transport.close();
    peer.close();
    io.run_for(10ms);
    return received == 1;
  }

  std::filesystem::path dir_;
  uint64_t handshakes_failed_ = 0;
};

TEST_F(TlsVerification, ACertificateFromTheConfiguredCaNamingTheHostConnects) {
  EXPECT_TRUE(delivered("good", "localhost"));
  EXPECT_TRUE(delivered("good", "127.0.0.1")) << "an IP target matches an iPAddress SAN";
  EXPECT_EQ(handshakes_failed_, 0u);
}

TEST_F(TlsVerification, ACertificateForAnotherNameIsRefused) {
  EXPECT_FALSE(delivered("wrong-name", "localhost"));
  EXPECT_EQ(handshakes_failed_, 1u);
  EXPECT_FALSE(delivered("wrong-name", "127.0.0.1"));
  EXPECT_EQ(handshakes_failed_, 1u);
}

TEST_F(TlsVerification, AWildcardNeverMatches) {  // RFC 5922 §7.2
  EXPECT_FALSE(delivered("wildcard", "localhost"));
  EXPECT_EQ(handshakes_failed_, 1u);
}

TEST_F(TlsVerification, ACertificateFromAnUntrustedCaIsRefused) {
  EXPECT_FALSE(delivered("untrusted", "localhost"));
  EXPECT_EQ(handshakes_failed_, 1u);
}

TEST_F(TlsVerification, VerificationOffOnlyByTheExplicitSetting) {
  EXPECT_TRUE(TransportConfig{}.tls_verify_peer) << "on by default";
  EXPECT_TRUE(delivered("untrusted", "localhost", false));
  EXPECT_TRUE(delivered("wrong-name", "localhost", false));
}

TEST_F(LiveTransportTest, TlsListenerWithoutCertificateIsAStartupError) {
  EXPECT_THROW(transport_.listen(TransportKind::kTls, "127.0.0.1", 0), std::runtime_error);
}

// RFC 3261 §26.2.1 TLS: a request over TLS is framed, delivered with its
// connection and answered on it. The certificate is made for the test.
TEST(TlsTransport, RequestAndResponseOverTls) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("chorus-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string();
  const std::string key = (dir / "key.pem").string();
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + key +
      " -out " + cert + " -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "openssl CLI unavailable";

  asio::io_context io;
  TransportConfig config;
  config.tls_certificate_file = cert;
  config.tls_private_key_file = key;
  TransportLayer transport(io, config);
  std::vector<Endpoint> sources;
  transport.set_handler([&](Message request, const Endpoint& source) {
    sources.push_back(source);
    EXPECT_TRUE(transport.send_response(make_response(request, 200, "OK", "tls"), source));
  });
  const Endpoint local = transport.listen(TransportKind::kTls, "127.0.0.1", 0);
  EXPECT_EQ(transport.local_endpoint(TransportKind::kTls), local);

  asio::ssl::context client_context(asio::ssl::context::tls_client);
  client_context.set_verify_mode(asio::ssl::verify_none);  // self-signed, test only
  asio::ssl::stream<tcp::socket> client(io, client_context);
  bool connected = false;
  client.next_layer().async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port),
      [&](const boost::system::error_code& error) {
        ASSERT_FALSE(error) << error.message();
        client.async_handshake(asio::ssl::stream_base::client,
                               [&](const boost::system::error_code& handshake_error) {
                                 ASSERT_FALSE(handshake_error) << handshake_error.message();
                                 connected = true;
                               });
      });
  auto run_until = [&](auto done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) io.run_for(5ms);
    return done();
  };
  ASSERT_TRUE(run_until([&] { return connected; }));
  const std::string text = options_text("127.0.0.1:5061", "", "TLS", "z9hG4bKtls");
  asio::async_write(client, asio::buffer(text), [](const boost::system::error_code&, size_t) {});
  std::array<char, 4096> buffer{};
  std::string reply;
  std::function<void()> read = [&] {
    client.async_read_some(asio::buffer(buffer),
                           [&](const boost::system::error_code& error, size_t size) {
                             if (error) return;
                             reply.append(buffer.data(), size);
                             read();
                           });
  };
  read();
  ASSERT_TRUE(run_until([&] { return reply.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_TRUE(reply.starts_with("SIP/2.0 200 OK\r\n")) << reply;
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].transport, TransportKind::kTls);
  EXPECT_NE(sources[0].connection, 0u);
  transport.close();
  io.run_for(20ms);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
