// libFuzzer target: the SIP-over-WebSocket path (RFC 7118) of the transport
// layer, over a real loopback connection to a WS listener: the HTTP upgrade
// parser and checks, Beast's frame parser, message reassembly, the 64 KiB
// bound and SIP parsing of each WebSocket message, answered (200 to every
// request) over the same connection.
//
// Input: byte 0 picks the mode.
//   even: the rest is sent raw as the upgrade request (then EOF).
//   odd:  a valid upgrade (`sip` subprotocol), then the rest as records
//         [flags][length (2 bytes, big-endian)][payload]:
//           flags & 0x40: the payload is sent as raw bytes (any frame bytes);
//           else a masked client frame: FIN = flags & 0x80, RSV = flags & 0x30,
//           opcode = flags & 0x0f, mask key = 0 (payload as given).
//         A record cut short takes the bytes that are left.
// Afterwards the client shuts its side; the input ends when the server has
// closed the connection, or after 200 ms.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "signaling/asio.hpp"
#include "signaling/message/message.hpp"
#include "signaling/transport/transport.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr size_t kMaxInput = 70000;

struct Harness {
  Harness() : transport(io, config()) {
    transport.set_handler([this](chorus::sip::Message message, const chorus::sip::Endpoint& from) {
      if (message.is_request() && message.method() != chorus::sip::Method::kAck) {
        transport.send_response(chorus::sip::make_response(message, 200, "OK", "fz"), from);
      }
    });
    local = transport.listen(chorus::sip::TransportKind::kWs, "127.0.0.1", 0);
  }

  static chorus::sip::TransportConfig config() {
    chorus::sip::TransportConfig c;
    c.ws_allowed_origins = {"https://phone.example.com"};
    c.max_connections_per_source = 1000000;
    return c;
  }

  template <class Predicate>
  bool run_until(Predicate done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.run_for(1ms);
    }
    return true;
  }

  asio::io_context io;
  chorus::sip::TransportLayer transport;
  chorus::sip::Endpoint local;
};

Harness& harness() {
  static Harness* h = new Harness();  // lives for the whole process
  return *h;
}

void append_frame(std::string& out, uint8_t flags, std::string_view payload) {
  out += static_cast<char>(flags & 0xbf);
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>((payload.size() >> 8) & 0xff);
    out += static_cast<char>(payload.size() & 0xff);
  }
  out.append(4, '\0');  // mask key 0: the payload goes as given
  out.append(payload);
}

// Reads until the end of the 101 response (or a refusal) or the deadline.
bool read_upgrade_response(Harness& h, tcp::socket& client) {
  std::string got;
  h.run_until(
      [&] {
        boost::system::error_code error;
        char chunk[512];
        const size_t n = client.read_some(asio::buffer(chunk), error);
        if (!error) got.append(chunk, n);
        return got.find("\r\n\r\n") != std::string::npos ||
               (error && error != asio::error::would_block);
      },
      200ms);
  return got.starts_with("HTTP/1.1 101");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > kMaxInput) return 0;
  Harness& h = harness();
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  tcp::socket client(h.io);
  boost::system::error_code error;
  client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), h.local.port), error);
  if (error) return 0;
  client.non_blocking(true);
  std::string wire;
  if ((data[0] & 1) == 0) {
    wire.assign(input);
  } else {
    const std::string upgrade =
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: sip\r\nOrigin: https://phone.example.com\r\n\r\n";
    client.non_blocking(false);
    asio::write(client, asio::buffer(upgrade), error);
    client.non_blocking(true);
    if (!error && read_upgrade_response(h, client)) {
      size_t at = 0;
      while (at < input.size()) {
        const auto flags = static_cast<uint8_t>(input[at]);
        size_t length = 0;
        if (at + 2 < input.size()) {
          length = (static_cast<uint8_t>(input[at + 1]) << 8) | static_cast<uint8_t>(input[at + 2]);
        }
        at = std::min(at + 3, input.size());
        const std::string_view payload = input.substr(at, length);
        at += payload.size();
        if (flags & 0x40) {
          wire.append(payload);
        } else {
          append_frame(wire, flags, payload);
        }
      }
    }
  }
  // Write what the server will take, reading its answers meanwhile so
  // neither side blocks; then half-close and wait for the server to close.
  size_t sent = 0;
  bool closed = false;
  h.run_until(
      [&] {
        boost::system::error_code e;
        char sink[4096];
        client.read_some(asio::buffer(sink), e);
        if (e && e != asio::error::would_block) return true;  // the server closed
        if (sent < wire.size()) {
          sent += client.write_some(asio::buffer(wire.data() + sent, wire.size() - sent), e);
          if (e && e != asio::error::would_block) return true;
        }
        return sent >= wire.size();
      },
      200ms);
  client.shutdown(tcp::socket::shutdown_send, error);
  h.run_until(
      [&] {
        boost::system::error_code e;
        char sink[4096];
        client.read_some(asio::buffer(sink), e);
        closed = e && e != asio::error::would_block;
        return closed && h.transport.connection_count() == 0;
      },
      200ms);
  client.close(error);
  h.run_until([&] { return h.transport.connection_count() == 0; }, 100ms);
  return 0;
}
