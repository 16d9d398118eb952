#pragma once
// The public web listener (issue #18): HTTPS (HTTP/1.1, Boost.Beast) serving
// the web phone page of focus/ops/web_site.hpp and nothing else: no admin
// API, no WebSocket (the page's SIP goes to the [sip] wss_port listener).
//
// A separate listener from the admin one (focus/ops/admin_server.hpp), which
// stays on a private address. TLS is required unless the address is
// loopback: browsers give a page the microphone only in a secure context,
// and http://127.0.0.1 / localhost is one. Every read, write and handshake
// has a deadline, requests are size-bounded (413/431), and connections are
// capped in total and per source address. Runs on the signalling io_context.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "focus/ops/web_site.hpp"
#include "signaling/asio.hpp"

namespace chorus::focus {

struct WebConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port (tests)
  // PEM files; both empty: plain HTTP, accepted only on a loopback address.
  std::string certificate;
  std::string private_key;
  std::chrono::milliseconds idle_timeout{15000};
  size_t max_connections = 256;
  size_t max_connections_per_source = 16;
  size_t max_header_bytes = 8192;
  size_t max_body_bytes = 1024;  // GET and HEAD carry none
};

class WebServer {
 public:
  // Throws std::invalid_argument for plain HTTP on a non-loopback address.
  WebServer(boost::asio::io_context& io, std::shared_ptr<const WebSite> site, WebConfig config);
  ~WebServer();  // stop()s
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Loads the certificate, binds and starts accepting. Throws
  // std::system_error when it cannot bind, std::runtime_error on a bad
  // certificate or key.
  void start();
  void stop();

  uint16_t port() const;       // the bound port (after start)
  size_t connections() const;  // open connections
  bool tls() const;

  // True for 127.0.0.0/8 and ::1.
  static bool loopback(const std::string& address);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace chorus::focus
