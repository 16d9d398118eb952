#pragma once

// A SIP-over-WebSocket client for tests (RFC 7118): a Beast WebSocket
// client on the test's io_context, every step async and driven by
// run_until, so the transport under test runs on the same thread.

#include <chrono>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "signaling/asio.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace chorus::sip::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;
using namespace std::chrono_literals;

template <class Predicate>
inline bool run_until(asio::io_context& io, Predicate done,
                      std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(5ms);
  }
  return true;
}

struct Upgrade {
  std::optional<std::string> subprotocol = "sip";
  std::optional<std::string> origin;
};

// A WebSocket client on the test's io_context (every step async, driven
// by run_until). Next: tcp::socket or an ssl::stream over one.
template <class Next>
class Client {
 public:
  template <class... Args>
  explicit Client(asio::io_context& io, Args&&... args)
      : io_(io), ws_(std::forward<Args>(args)...) {}

  // Connects and upgrades; false when refused (status() says how).
  bool open(uint16_t port, const Upgrade& upgrade = {}, const char* from = "127.0.0.1") {
    auto& socket = beast::get_lowest_layer(ws_);
    socket.open(tcp::v4());
    socket.bind(tcp::endpoint(asio::ip::make_address(from), 0));
    boost::system::error_code error;
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), error);
    if (error) return false;
    if constexpr (!std::is_same_v<Next, tcp::socket>) {
      bool done = false;
      ws_.next_layer().async_handshake(asio::ssl::stream_base::client,
                                       [&](const boost::system::error_code& e) {
                                         error = e;
                                         done = true;
                                       });
      if (!run_until(io_, [&] { return done; }) || error) return false;
    }
    ws_.set_option(websocket::stream_base::decorator([upgrade](websocket::request_type& request) {
      if (upgrade.subprotocol)
        request.set(http::field::sec_websocket_protocol, *upgrade.subprotocol);
      if (upgrade.origin) request.set(http::field::origin, *upgrade.origin);
    }));
    bool done = false;
    ws_.async_handshake(response_, "127.0.0.1", "/", [&](const boost::system::error_code& e) {
      error = e;
      done = true;
    });
    if (!run_until(io_, [&] { return done; })) return false;
    return !error;
  }

  unsigned status() const { return response_.result_int(); }
  std::string server() const { return std::string(response_[http::field::server]); }
  std::string protocol() const {
    return std::string(response_[http::field::sec_websocket_protocol]);
  }

  bool send(const std::string& text) {
    bool done = false;
    boost::system::error_code error;
    ws_.text(true);
    ws_.async_write(asio::buffer(text), [&](const boost::system::error_code& e, size_t) {
      error = e;
      done = true;
    });
    return run_until(io_, [&] { return done; }) && !error;
  }

  // Starts reading messages in the background into received() until an
  // error (kept in read_error()).
  void start_reading() {
    ws_.async_read(buffer_, [this](const boost::system::error_code& error, size_t) {
      if (error) {
        read_error_ = error;
        return;
      }
      received_.push_back(beast::buffers_to_string(buffer_.data()));
      text_.push_back(ws_.got_text());
      buffer_.consume(buffer_.size());
      start_reading();
    });
  }
  const std::vector<std::string>& received() const { return received_; }
  const std::vector<bool>& text() const { return text_; }
  const std::optional<boost::system::error_code>& read_error() const { return read_error_; }
  websocket::close_reason close_reason() const { return ws_.reason(); }
  websocket::stream<Next>& ws() { return ws_; }

 private:
  asio::io_context& io_;
  websocket::stream<Next> ws_;
  websocket::response_type response_;
  beast::flat_buffer buffer_;
  std::vector<std::string> received_;
  std::vector<bool> text_;
  std::optional<boost::system::error_code> read_error_;
};

using WsClient = Client<tcp::socket>;
using WssClient = Client<asio::ssl::stream<tcp::socket>>;

}  // namespace chorus::sip::test
