// SIP over WebSocket (RFC 7118), WS and WSS listeners on Boost.Beast: the
// HTTP upgrade must ask for the `sip` subprotocol (§4) from an allowed
// Origin; each WebSocket message then carries exactly one SIP message (§5:
// no Content-Length framing). We never dial a WebSocket client: requests to
// it go back over the connection it opened, found by the hosts its requests
// named (ws_flow_key). Stream bounds (caps, handshake / first-message /
// partial-message / idle timeouts) are the TCP/TLS ones; WebSocket pings keep
// a quiet but live client from idling out, once it has sent a SIP message.

#include <algorithm>

// transport_impl.hpp includes Asio through signaling/asio.hpp first.
#include "signaling/transport/transport_impl.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "signaling/message/header_params.hpp"
#include "signaling/transport/transport_routing.hpp"

namespace chorus::sip {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using TlsStream = asio::ssl::stream<tcp::socket>;

// The upgrade request is a GET with a few headers; anything larger is not
// a browser's.
constexpr uint32_t kMaxUpgradeHeader = 8192;
// Hosts a connection may name (top Via sent-by and Contacts): enough for a
// client, bounded for one that makes names up.
constexpr size_t kMaxFlowKeys = 4;

// RFC 3629 well-formed UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
// Text frames must carry it (RFC 6455 §5.6); anything else goes binary.
bool valid_utf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + extra >= n) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      const unsigned char lo = k == 1 ? low : 0x80;
      const unsigned char hi = k == 1 ? high : 0xBF;
      if (next < lo || next > hi) return false;
    }
    i += extra + 1;
  }
  return true;
}

// RFC 6455 §4.2.1 / §11.3.4: Sec-WebSocket-Protocol is a comma list, possibly
// over several header lines; RFC 7118 §4 names the token `sip`.
bool offers_sip(const http::request<http::empty_body>& request) {
  const auto [first, last] = request.equal_range(http::field::sec_websocket_protocol);
  for (auto field = first; field != last; ++field) {
    const std::string_view value(field->value().data(), field->value().size());
    size_t start = 0;
    while (start <= value.size()) {
      size_t end = value.find(',', start);
      if (end == std::string_view::npos) end = value.size();
      std::string_view token = value.substr(start, end - start);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
        token.remove_prefix(1);
      }
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
        token.remove_suffix(1);
      if (iequals(token, "sip")) return true;
      start = end + 1;
    }
  }
  return false;
}

template <class Next>
class WebSocketConnection final : public Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Next, TlsStream>;

  template <class... Args>
  WebSocketConnection(TransportLayer::Impl& owner, uint64_t id, Args&&... next)
      : Connection(owner, id, kTls ? TransportKind::kWss : TransportKind::kWs),
        ws_(std::forward<Args>(next)...) {}

  void start_accepted() override {
    if constexpr (kTls) {
      ws_.next_layer().async_handshake(asio::ssl::stream_base::server,
                                       [self = shared()](const boost::system::error_code& error) {
                                         if (self->closed_) return;
                                         if (error) return self->fail_tls();
                                         self->read_upgrade();
                                       });
    } else {
      read_upgrade();
    }
  }

  // RFC 7118 §5: a WebSocket client is never dialled (send_stream does not
  // ask for it); refuse rather than connect.
  void start_outgoing(const tcp::endpoint&, const std::string&) override { close(); }

  void close() override {
    if (closed_) return;
    closed_ = true;
    drop_outbox();
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    if (auto owner = owner_.lock()) owner->forget(*this);
  }

 private:
  std::shared_ptr<WebSocketConnection> shared() {
    return std::static_pointer_cast<WebSocketConnection>(shared_from_this());
  }

  void fail_tls() {
    if (auto owner = owner_.lock()) ++owner->counters.tls_handshakes_failed;
    close();
  }

  void read_upgrade() {
    parser_.emplace();
    parser_->header_limit(kMaxUpgradeHeader);
    http::async_read(ws_.next_layer(), buffer_, *parser_,
                     [self = shared()](const boost::system::error_code& error, size_t) {
                       if (self->closed_) return;
                       if (error) {
                         // A peer that hangs up is just gone; garbage gets a 400.
                         if (error == http::error::end_of_stream || error == asio::error::eof ||
                             error == asio::error::connection_reset) {
                           return self->close();
                         }
                         return self->refuse(http::status::bad_request, "Bad Upgrade Request");
                       }
                       self->on_upgrade(self->parser_->release());
                     });
  }

  void on_upgrade(http::request<http::empty_body> request) {
    auto owner = owner_.lock();
    if (!owner) return close();
    if (!websocket::is_upgrade(request)) {
      return refuse(http::status::upgrade_required, "WebSocket Upgrade Required");
    }
    // RFC 6455 §10.2: the Origin says which page's script opened this; a
    // client outside a browser sends none.
    if (const auto origin = request.find(http::field::origin); origin != request.end()) {
      const std::string_view text(origin->value().data(), origin->value().size());
      if (!owner->origin_allowed(text))
        return refuse(http::status::forbidden, "Origin Not Allowed");
    }
    // RFC 7118 §4: the client MUST ask for `sip`; we serve nothing else.
    if (!offers_sip(request)) {
      return refuse(http::status::bad_request, "Subprotocol sip Required");
    }
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& response) {
      response.set(http::field::sec_websocket_protocol, "sip");
      response.set(http::field::server, "Chorus");  // not Beast's name and version
    }));
    // Bounds: the handshake is ours (the reaper's handshake_timeout, ready_
    // is set once accepted); Beast pings a quiet client at half the idle
    // timeout and closes one that answers nothing by the full timeout.
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = websocket::stream_base::none();
    timeouts.idle_timeout = owner->config.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(kMaxMessageSize);  // over it: close 1009 (RFC 6455 §7.4.1)
    ws_.auto_fragment(false);
    ws_.control_callback([this](websocket::frame_type, beast::string_view) {
      last_activity_ = Clock::now();  // a pong (or ping) is traffic
    });
    // Beast checks the rest (Sec-WebSocket-Key, version 13) and answers 400 itself.
    ws_.async_accept(request, [self = shared()](const boost::system::error_code& error) {
      if (self->closed_) return;
      if (error) {
        if (auto o = self->owner_.lock()) ++o->counters.ws_handshakes_refused;
        return self->close();
      }
      self->on_ready();
    });
  }

  // Answers the upgrade request with `status` and closes once it is written.
  void refuse(http::status status, std::string_view reason) {
    if (auto owner = owner_.lock()) ++owner->counters.ws_handshakes_refused;
    auto response = std::make_shared<http::response<http::string_body>>(status, 11);
    response->reason(beast::string_view(reason.data(), reason.size()));
    response->set(http::field::content_type, "text/plain");
    if (status == http::status::upgrade_required) {
      response->set(http::field::upgrade, "websocket");
      response->set(http::field::sec_websocket_version, "13");
    }
    response->keep_alive(false);
    response->body() = std::string(reason) + "\n";
    response->prepare_payload();
    http::async_write(
        ws_.next_layer(), *response,
        [self = shared(), response](const boost::system::error_code&, size_t) { self->close(); });
  }

  void on_ready() {
    if (closed_) return;
    ready_ = true;
    last_activity_ = Clock::now();
    buffer_.consume(buffer_.size());
    read();
    flush();
  }

  void read() {
    ws_.async_read_some(buffer_, 0,
                        [self = shared()](const boost::system::error_code& error, size_t) {
                          self->on_read(error);
                        });
  }

  void on_read(const boost::system::error_code& error) {
    if (closed_) return;
    auto owner = owner_.lock();
    if (!owner) return close();
    if (error) {
      if (error == websocket::error::message_too_big) {
        // Beast has sent close 1009 and torn the connection down.
        ++owner->counters.ws_messages_too_big;
        ++owner->counters.oversized;
      } else if (error == beast::error::timeout) {
        ++owner->counters.connections_closed_idle;  // no pong either
      }
      return close();
    }
    last_activity_ = Clock::now();
    if (!ws_.is_message_done()) {
      // A message in pieces: the message clock runs until its last frame.
      if (!partial_since_) partial_since_ = last_activity_;
      return read();
    }
    partial_since_.reset();
    const auto data = buffer_.data();
    const std::string message(static_cast<const char*>(data.data()), data.size());
    buffer_.consume(buffer_.size());
    // Hold ourselves: the handler may close this connection.
    const std::shared_ptr<WebSocketConnection> keep = shared();
    if (owner->deliver(message, remote_)) delivered_ = true;
    if (!closed_) read();
  }

  void flush() override {
    if (!ready_ || writing_ || closed_ || outbox_.empty()) return;
    begin_write();
    // RFC 7118 §5.1: text or binary frames both carry SIP; text when it is
    // valid UTF-8 (what browsers' SIP libraries expect).
    ws_.text(valid_utf8(outbox_.front().wire));
    ws_.async_write(asio::buffer(outbox_.front().wire),
                    [self = shared()](const boost::system::error_code& error, size_t) {
                      self->writing_ = false;
                      if (self->closed_) return;
                      if (error) return self->close();
                      self->last_activity_ = Clock::now();
                      self->written();
                      self->flush();
                    });
  }

  websocket::stream<Next> ws_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
};

}  // namespace

bool TransportLayer::pin_flow(Endpoint& destination) const {
  if (!is_websocket(destination.transport)) return false;
  const std::shared_ptr<Connection> connection = impl_->find_ws_connection(destination);
  if (!connection) return false;
  destination.connection = connection->id();
  destination.transport = connection->kind();
  return true;
}

void TransportLayer::Impl::make_wss_context() {
  const bool own = !config.wss_certificate_file.empty() || !config.wss_private_key_file.empty();
  const std::string& certificate = own ? config.wss_certificate_file : config.tls_certificate_file;
  const std::string& key = own ? config.wss_private_key_file : config.tls_private_key_file;
  if (certificate.empty() || key.empty()) {
    throw std::runtime_error("WSS listener needs a certificate and a private key");
  }
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  context->use_certificate_chain_file(certificate);
  context->use_private_key_file(key, asio::ssl::context::pem);
  wss_server = std::move(context);
}

std::shared_ptr<Connection> TransportLayer::Impl::make_websocket_connection(TransportKind kind,
                                                                            uint64_t id,
                                                                            tcp::socket socket) {
  if (kind == TransportKind::kWss) {
    return std::make_shared<WebSocketConnection<TlsStream>>(*this, id, std::move(socket),
                                                            *wss_server);
  }
  return std::make_shared<WebSocketConnection<tcp::socket>>(*this, id, std::move(socket));
}

bool TransportLayer::Impl::origin_allowed(std::string_view origin) const {
  return std::any_of(config.ws_allowed_origins.begin(), config.ws_allowed_origins.end(),
                     [origin](std::string_view allowed) {
                       if (allowed == "*") return true;
                       if (allowed.ends_with('/')) allowed.remove_suffix(1);
                       return iequals(allowed, origin);
                     });
}

void TransportLayer::Impl::note_ws_flow(const Message& request, const Endpoint& source) {
  const auto found = connections.find(source.connection);
  if (found == connections.end() || !is_websocket(found->second->kind())) return;
  Connection& connection = *found->second;
  const auto claim = [&](std::string_view host, uint16_t port) {
    if (host.empty()) return;
    std::vector<std::string>& keys = connection.flow_keys();
    std::string key = ws_flow_key(host, port);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) return;
    if (keys.size() >= kMaxFlowKeys) return;
    const auto [it, inserted] = ws_flows.try_emplace(key, connection.id());
    if (!inserted && it->second != connection.id()) {
      const auto holder = connections.find(it->second);
      if (holder != connections.end() && !holder->second->closed()) return;
      it->second = connection.id();
    }
    keys.push_back(std::move(key));
  };
  const Via via = request.top_via();
  claim(via.host, via.port);
  for (const NameAddr& contact : request.contacts()) {
    TransportKind kind;
    const auto transport = contact.uri.param("transport");
    if (transport && parse_transport(*transport, kind) && is_websocket(kind)) {
      claim(contact.uri.host, contact.uri.port);
    }
  }
}

std::shared_ptr<Connection> TransportLayer::Impl::find_ws_connection(const Endpoint& destination) {
  const auto live = [&](uint64_t id) -> std::shared_ptr<Connection> {
    const auto it = connections.find(id);
    if (it == connections.end() || it->second->closed()) return nullptr;
    const TransportKind kind = it->second->kind();
    // A ws target may be reached over WSS (RFC 7118 §5.2 writes
    // transport=ws for both); a wss one never over plain WS.
    if (!is_websocket(kind)) return nullptr;
    if (destination.transport == TransportKind::kWss && kind != TransportKind::kWss) return nullptr;
    return it->second;
  };
  if (destination.connection != 0) {
    if (auto connection = live(destination.connection)) return connection;
  }
  if (const auto it = ws_flows.find(ws_flow_key(destination.address, destination.port));
      it != ws_flows.end()) {
    if (auto connection = live(it->second)) return connection;
  }
  for (const TransportKind kind : {TransportKind::kWs, TransportKind::kWss}) {
    const auto it = by_peer.find(peer_key(kind, destination.address, destination.port));
    if (it == by_peer.end()) continue;
    if (auto connection = live(it->second)) return connection;
  }
  return nullptr;
}

}  // namespace chorus::sip
