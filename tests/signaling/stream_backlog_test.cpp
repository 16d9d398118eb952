// What a TCP peer can make us hold toward it: keep-alive pongs (RFC 5626
// §3.5.1) to a peer that pings without reading, and the queue toward a peer
// that reads a trickle but never catches up. Live, on 127.0.0.1.

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include "signaling/asio.hpp"
#include "signaling/message/message.hpp"
#include "signaling/transport/transport.hpp"

namespace chorus::sip {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

std::string options_text(std::string_view branch) {
  return "OPTIONS sip:room@127.0.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=" +
         std::string(branch) +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=f1\r\n"
         "To: <sip:room@127.0.0.1>\r\n"
         "Call-ID: stream-backlog-test\r\n"
         "CSeq: 7 OPTIONS\r\n"
         "Content-Length: 0\r\n\r\n";
}

TransportConfig config_with(Duration message_timeout) {
  TransportConfig config;
  config.handshake_timeout = 10s;
  config.idle_timeout = 10s;
  config.message_timeout = message_timeout;
  // Big enough that the cap itself never closes these connections.
  config.max_queued_bytes = 64u << 20;
  return config;
}

// A transport and a TCP client that sent it one request: `source` is where
// the transport writes toward the client. A small receive window unless
// `receive_buffer` is nullopt (the kernel's autotuning).
struct Peer {
  explicit Peer(const TransportConfig& config, std::optional<int> receive_buffer = 4096)
      : transport(io, config), client(io) {
    transport.set_handler([this](Message, const Endpoint& from) {
      source = from;
      ++requests;
    });
    const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
    client.open(tcp::v4());
    if (receive_buffer) {
      client.set_option(asio::socket_base::receive_buffer_size(*receive_buffer));
    }
    client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), local.port));
    asio::write(client, asio::buffer(options_text("z9hG4bKfirst")));
    client.non_blocking(true);
    run_until([&] { return source.has_value(); }, 2s);
  }

  template <class Done>
  bool run_until(Done done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.run_for(5ms);
    }
    return true;
  }

  // 60 KiB messages toward the client, the io polled between: more than
  // loopback's socket buffers hold, so the rest waits in our queue.
  size_t fill(size_t count) {
    const std::string chunk(60 * 1024, 'x');
    size_t sent = 0;
    while (sent < count && transport.send_raw(*source, chunk)) {
      ++sent;
      io.poll();
    }
    return sent;
  }

  // Writes all of `data` without blocking, running the io while the
  // transport has not read enough of it to make room.
  void write_all(const std::string& data) {
    size_t written = 0;
    const auto deadline = std::chrono::steady_clock::now() + 4s;
    while (written < data.size() && std::chrono::steady_clock::now() < deadline) {
      boost::system::error_code error;
      written +=
          client.write_some(asio::buffer(data.data() + written, data.size() - written), error);
      io.run_for(1ms);
    }
    ASSERT_EQ(written, data.size());
  }

  asio::io_context io;
  TransportLayer transport;
  tcp::socket client;
  std::optional<Endpoint> source;
  size_t requests = 0;
};

TEST(StreamKeepAlive, APingIsAnsweredWithAPong) {  // RFC 5626 §3.5.1
  Peer peer(config_with(10s));
  ASSERT_TRUE(peer.source.has_value());
  peer.write_all("\r\n\r\n");
  std::string got;
  peer.run_until(
      [&] {
        std::array<char, 16> sink{};
        boost::system::error_code error;
        const size_t n = peer.client.read_some(asio::buffer(sink), error);
        got.append(sink.data(), n);
        return !got.empty();
      },
      2s);
  EXPECT_EQ(got, "\r\n");
  // The pong can reach the client before the io has run the write's
  // completion, which is what empties our queue: give it that turn.
  EXPECT_TRUE(peer.run_until([&] { return peer.transport.queued_bytes() == 0; }, 1s))
      << peer.transport.queued_bytes() << " bytes still queued";
}

// A peer that pings without reading, each ping on its own (a tiny framed
// message between two, which we drop, ends a run of CRLFs): one pong waits
// for it, whatever the number of pings, and the connection stays.
TEST(StreamKeepAlive, PingsFromAPeerThatDoesNotReadLeaveAtMostOnePongWaiting) {
  Peer peer(config_with(10s));
  ASSERT_TRUE(peer.source.has_value());
  ASSERT_EQ(peer.fill(400), 400u);
  peer.io.run_for(50ms);
  const size_t before = peer.transport.queued_bytes();
  ASSERT_GT(before, 0u) << "the socket buffers took everything: nothing waits in our queue";
  const std::string tiny = "A\r\nl: 0\r\n\r\n";  // framed, then unparseable: dropped
  std::string pings;
  for (int i = 0; i < 20000; ++i) {
    pings += "\r\n\r\n";
    if (i % 2 == 0) pings += tiny;
    if (i % 1000 == 999) pings += options_text("z9hG4bKping" + std::to_string(i));
  }
  peer.write_all(pings);
  ASSERT_TRUE(peer.run_until([&] { return peer.requests == 21; }, 3s)) << peer.requests;
  EXPECT_EQ(peer.transport.counters().parse_drops, 10000u);
  EXPECT_LE(peer.transport.queued_bytes(), before + 2);
  EXPECT_EQ(peer.transport.connection_count(), 1u);
  EXPECT_EQ(peer.transport.counters().connections_closed_backlog, 0u);
}

// The peer reads all along, at 4 MB/s, so writes keep completing (the kernel
// takes a burst whenever the peer has made room), but 24 MB were queued at
// once: what waits in our queue is as old as when it was queued, and
// message_timeout closes the connection long before the peer catches up.
TEST(StreamBounds, APeerThatReadsATrickleButNeverCatchesUpIsClosed) {
  Peer peer(config_with(1s), std::nullopt);
  ASSERT_TRUE(peer.source.has_value());
  ASSERT_EQ(peer.fill(400), 400u);
  constexpr double kBytesPerSecond = 4e6;
  size_t read = 0;
  const auto start = std::chrono::steady_clock::now();
  const bool closed = peer.run_until(
      [&] {
        const std::chrono::duration<double> since = std::chrono::steady_clock::now() - start;
        std::array<char, 65536> sink{};
        boost::system::error_code error;
        while (!error && static_cast<double>(read) < since.count() * kBytesPerSecond) {
          read += peer.client.read_some(asio::buffer(sink), error);
        }
        return peer.transport.counters().connections_closed_stalled > 0;
      },
      4s);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(closed) << read << " bytes read";
  // It did take bytes all along: several MB, far more than one message.
  EXPECT_GT(read, 1u << 20);
  EXPECT_GE(took, 900ms);
  EXPECT_EQ(peer.transport.counters().connections_closed_stalled, 1u);
  EXPECT_EQ(peer.transport.counters().connections_closed_backlog, 0u);
  EXPECT_EQ(peer.transport.connection_count(), 0u);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
