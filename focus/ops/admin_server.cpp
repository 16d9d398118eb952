#include "focus/ops/admin_server.hpp"

// signaling/asio.hpp (via admin_server.hpp) first: <utility> before Asio.
#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "focus/ops/admin_json.hpp"
#include "focus/ops/http_linger.hpp"
#include "signaling/transport/endpoint.hpp"

namespace chorus::focus {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr size_t kMaxClientMessage = 4096;  // event streams take no commands
// What an account needs to hold an event stream open (GET /api/events).
constexpr Operation kStreamRight = Operation::kAdminView;

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

class Connection {
 public:
  virtual ~Connection() = default;
  virtual void close() = 0;
  std::string source;  // the peer's address, counted per source while open
};

std::string address_of(const tcp::socket& socket) {
  beast::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  return ec ? std::string() : peer.address().to_string();
}

class EventSession;

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
  Impl(asio::io_context& io_context, Control& c, MetricsSource metrics, AdminConfig config)
      : io(io_context),
        control(c),
        api(c, std::move(metrics), std::move(config)),
        acceptor(io_context),
        levels_timer(io_context),
        accept_retry(io_context) {}

  void accept();
  void on_event(const ControlEvent& event);
  void flush_events();
  void broadcast(const std::shared_ptr<const std::string>& message);
  void arm_levels();
  void add(Connection* connection, std::weak_ptr<Connection> weak) {
    if (connections.emplace(connection, std::move(weak)).second) {
      ++per_source[sip::source_key(connection->source)];
    }
  }
  void remove(Connection* connection) {
    if (connections.erase(connection) == 0) return;
    const auto it = per_source.find(sip::source_key(connection->source));
    if (it != per_source.end() && --it->second == 0) per_source.erase(it);
  }
  void add_stream(EventSession* session, std::weak_ptr<EventSession> weak);
  void remove_stream(EventSession* session);

  asio::io_context& io;
  Control& control;
  AdminApi api;
  tcp::acceptor acceptor;
  asio::steady_timer levels_timer;
  asio::steady_timer accept_retry;
  bool running = false;
  bool levels_armed = false;
  std::string last_levels;
  std::vector<ControlEvent> pending_events;  // this burst, sent by flush_events()
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
  // Open connections by peer address (sip::source_key: an IPv6 peer's /64).
  std::unordered_map<std::string, size_t> per_source;
  std::unordered_map<EventSession*, std::weak_ptr<EventSession>> streams;
  std::unordered_map<std::string, size_t> streams_per_account;  // accounts only, not the token
};

// One WebSocket event stream (RFC 6455) after a successful upgrade.
class EventSession final : public Connection, public std::enable_shared_from_this<EventSession> {
 public:
  EventSession(std::shared_ptr<AdminServer::Impl> server, tcp::socket socket, std::string who)
      : account(std::move(who)), server_(std::move(server)), ws_(std::move(socket)) {
    source = address_of(beast::get_lowest_layer(ws_).socket());
  }
  ~EventSession() override {
    server_->remove(this);
    server_->remove_stream(this);
  }

  void run(http::request<http::string_body> request) {
    request_ = std::move(request);
    server_->add(this, weak_from_this());
    server_->add_stream(this, weak_from_this());
    // The WebSocket's own timeouts take over from the HTTP deadline: ping
    // when idle, give up on a peer that answers nothing (Beast's server
    // defaults: 300 s idle, 30 s handshake).
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(kMaxClientMessage);
    ws_.async_accept(request_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close();
      self->accepted_ = true;
      self->send(
          std::make_shared<const std::string>(dump(snapshot_json(self->server_->control.rooms()))));
      self->read();
    });
  }

  void send(std::shared_ptr<const std::string> message) {
    if (closed_ || !accepted_) return;
    if (queue_.size() >= server_->api.config().max_queued_events) {
      // A consumer this far behind would make us buffer without bound.
      return close();
    }
    queue_.push_back(std::move(message));
    if (!writing_) write();
  }

  const std::string account;  // who opened it; empty: the operator's token

  void close() override {
    if (closed_) return;
    closed_ = true;
    queue_.clear();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  void read() {
    ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      // Clients have nothing to say on this stream; what they send is dropped.
      self->in_.consume(self->in_.size());
      self->read();
    });
  }

  void write() {
    if (closed_ || queue_.empty()) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      self->writing_ = false;
                      if (ec) return self->close();
                      if (!self->queue_.empty()) self->queue_.pop_front();
                      self->write();
                    });
  }

  std::shared_ptr<AdminServer::Impl> server_;
  websocket::stream<beast::tcp_stream> ws_;
  http::request<http::string_body> request_;  // the upgrade, kept for async_accept
  beast::flat_buffer in_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  bool accepted_ = false;
  bool closed_ = false;
};

void AdminServer::Impl::add_stream(EventSession* session, std::weak_ptr<EventSession> weak) {
  if (streams.emplace(session, std::move(weak)).second && !session->account.empty()) {
    ++streams_per_account[session->account];
  }
  arm_levels();
}

void AdminServer::Impl::remove_stream(EventSession* session) {
  if (streams.erase(session) == 0 || session->account.empty()) return;
  const auto it = streams_per_account.find(session->account);
  if (it != streams_per_account.end() && --it->second == 0) streams_per_account.erase(it);
}

// One HTTP/1.1 connection: requests in sequence (keep-alive), each answered
// by AdminApi, or upgraded to an event stream.
class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(std::shared_ptr<AdminServer::Impl> server, tcp::socket socket)
      : server_(std::move(server)), stream_(std::move(socket)), delay_(stream_.get_executor()) {
    source = address_of(stream_.socket());
  }
  ~HttpSession() override {
    if (registered_) server_->remove(this);
  }

  void run() {
    server_->add(this, weak_from_this());
    registered_ = true;
    read();
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    delay_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  const AdminConfig& config() const { return server_->api.config(); }

  void read() {
    if (closed_) return;
    parser_.emplace();
    parser_->body_limit(config().max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(config().max_header_bytes));
    stream_.expires_after(authenticated_
                              ? config().idle_timeout
                              : std::min(config().idle_timeout, config().unauthenticated_timeout));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (closed_) return;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return reply_error(413, "request body too large");
    }
    if (ec == http::error::header_limit) {
      return reply_error(431, "request header too large");
    }
    if (ec) return reply_error(400, "malformed HTTP request");

    http::request<http::string_body> request = parser_->release();
    const std::string_view target(request.target().data(), request.target().size());
    const auto authorization_field = request[http::field::authorization];
    const std::string_view authorization(authorization_field.data(), authorization_field.size());

    const std::string_view method(request.method_string().data(), request.method_string().size());
    // Who asks: the peer, or behind a trusted proxy the X-Forwarded-For
    // client. Every per-source rule below keys on it, never on the peer.
    std::vector<std::string_view> forwarded_for;
    const auto [first_forwarded, end_forwarded] = request.equal_range("X-Forwarded-For");
    for (auto it = first_forwarded; it != end_forwarded; ++it) {
      forwarded_for.emplace_back(it->value().data(), it->value().size());
    }
    const ForwardedClient client = server_->api.client_of(peer_address(), forwarded_for);
    if (!client.fault.empty()) {
      // Our own proxy sent what it should not: say what, count nothing.
      return respond(json_error(400, client.fault), request.version(), request.keep_alive(),
                     request.method() == http::verb::head);
    }
    AdminRequest in;
    in.method = method;
    in.target = target;
    in.authorization = authorization;
    in.body = request.body();
    const std::string& source = client.address;
    in.source = source;
    in.host = header(request, http::field::host);
    in.origin = header(request, http::field::origin);
    in.content_type = header(request, http::field::content_type);

    if (websocket::is_upgrade(request) && AdminApi::is_event_stream(target)) {
      // Browsers send Origin on every WebSocket and no same-origin policy
      // guards one: another site's page could open it with our cached Digest
      // credentials.
      if (std::optional<AdminResponse> refusal =
              server_->api.cross_site_refusal(in, /*upgrade=*/true)) {
        return respond(std::move(*refusal), request.version(), /*keep_alive=*/false,
                       /*head=*/false);
      }
      std::chrono::milliseconds delay{0};
      bool stale = false;
      std::string account;
      const int refusal = server_->api.event_stream_refusal(authorization, target, source, &delay,
                                                            &stale, &account);
      if (delay.count() > 0) {
        // An account under a password attack: as on /api, the answer waits.
        delay_.expires_after(delay);
        delay_.async_wait([self = shared_from_this(), request = std::move(request), refusal, stale,
                           account = std::move(account)](beast::error_code ec) mutable {
          if (ec || self->closed_) return self->close();
          self->upgrade(std::move(request), refusal, stale, std::move(account));
        });
        return;
      }
      return upgrade(std::move(request), refusal, stale, std::move(account));
    }

    std::optional<AdminResponse> cross_site = server_->api.cross_site_refusal(in);
    AdminResponse out = cross_site ? std::move(*cross_site) : server_->api.handle(in);
    if (out.authenticated) authenticated_ = true;
    const unsigned version = request.version();
    // A refused login ends the connection: a client without credentials
    // cannot hold a slot by asking again every idle_timeout. The Digest
    // login's second request simply comes on a new connection.
    const bool keep_alive = request.keep_alive() && out.status != 401 && out.status != 403;
    const bool head = request.method() == http::verb::head;
    if (out.delay.count() > 0) {
      // An account under a password attack: the answer waits, as on SIP.
      // The connection stays bounded by the idle timeout meanwhile.
      delay_.expires_after(out.delay);
      delay_.async_wait([self = shared_from_this(), out = std::move(out), version, keep_alive,
                         head](beast::error_code ec) mutable {
        if (ec || self->closed_) return self->close();
        self->respond(std::move(out), version, keep_alive, head);
      });
      return;
    }
    respond(std::move(out), version, keep_alive, head);
  }

  // The TCP peer (Connection::source): counted per source while open.
  const std::string& peer_address() const { return source; }

  static std::optional<std::string_view> header(const http::request<http::string_body>& request,
                                                http::field field) {
    const auto it = request.find(field);
    if (it == request.end()) return std::nullopt;
    return std::string_view(it->value().data(), it->value().size());
  }

  void reply_error(int status, std::string_view message) {
    // After a parse error the stream position is unknown: answer and close.
    respond(json_error(status, message), 11, /*keep_alive=*/false, /*head=*/false);
  }

  // The event stream's upgrade, or `refusal` (401 with its challenges, or
  // 403) when nonzero.
  void upgrade(http::request<http::string_body> request, int refusal, bool stale,
               std::string account) {
    if (refusal != 0) {
      return respond(server_->api.event_stream_refused(refusal, stale), request.version(),
                     /*keep_alive=*/false, /*head=*/false);
    }
    if (server_->streams.size() >= config().max_event_streams) {
      return reply_error(409, "too many event streams");
    }
    if (!account.empty()) {
      const auto held = server_->streams_per_account.find(account);
      if (held != server_->streams_per_account.end() &&
          held->second >= config().max_event_streams_per_account) {
        return reply_error(409, "too many event streams for this account");
      }
    }
    closed_ = true;  // the socket moves to the event stream
    stream_.expires_never();
    auto session =
        std::make_shared<EventSession>(server_, stream_.release_socket(), std::move(account));
    session->run(std::move(request));
  }

  void respond(AdminResponse out, unsigned version, bool keep_alive, bool head) {
    response_ = http::response<http::string_body>{};
    response_.version(version);
    response_.result(static_cast<unsigned>(out.status));
    response_.set(http::field::server, "Chorus admin");
    response_.set(http::field::content_type, out.content_type);
    response_.set(http::field::cache_control, "no-store");
    response_.set("X-Content-Type-Options", "nosniff");
    if (out.content_type.starts_with("text/html")) {
      // The console is one self-contained page: inline script and style, API
      // calls and the event stream to this origin only.
      response_.set("Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self' ws: wss:; frame-ancestors 'none'");
    }
    if (!out.allow.empty()) response_.set(http::field::allow, out.allow);
    if (out.retry_after_s != 0) {
      response_.set(http::field::retry_after, std::to_string(out.retry_after_s));
    }
    if (out.status == 401) {
      response_.set(http::field::www_authenticate, "Bearer realm=\"chorus\"");
      for (const std::string& challenge : out.challenges) {
        response_.insert(http::field::www_authenticate, challenge);
      }
    }
    response_.keep_alive(keep_alive);
    const size_t length = out.body.size();
    if (!head) response_.body() = std::move(out.body);
    response_.content_length(length);
    stream_.expires_after(config().idle_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                        if (ec || self->closed_) return self->close();
                        if (!keep_alive) {
                          auto& stream = self->stream_;
                          auto& buffer = self->buffer_;
                          const auto idle = self->config().idle_timeout;
                          return linger_then_close(std::move(self), stream, stream, buffer, idle);
                        }
                        self->read();
                      });
  }

  std::shared_ptr<AdminServer::Impl> server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  asio::steady_timer delay_;
  bool registered_ = false;
  bool closed_ = false;
  bool authenticated_ = false;  // a request here was let in (AdminResponse::authenticated)
};

void AdminServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (!self->running) return;
    if (ec) {
      // Accept errors (EMFILE, ENOBUFS) are transient: listen again shortly
      // rather than spin on the io_context.
      self->accept_retry.expires_after(std::chrono::milliseconds(100));
      self->accept_retry.async_wait([self](beast::error_code wait_error) {
        if (!wait_error && self->running) self->accept();
      });
      return;
    }
    // One address holds at most max_connections_per_source of them, so no
    // single client can take every slot from the operator. A trusted proxy
    // carries many clients (whom a connection cannot tell apart before its
    // requests): only the total caps it.
    const std::string peer = address_of(socket);
    const auto from = self->per_source.find(sip::source_key(peer));
    if (self->connections.size() >= self->api.config().max_connections ||
        (from != self->per_source.end() && !self->api.trusted_proxy(peer) &&
         from->second >= self->api.config().max_connections_per_source)) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<HttpSession>(self, std::move(socket))->run();
    }
    self->accept();
  });
}

void AdminServer::Impl::broadcast(const std::shared_ptr<const std::string>& message) {
  // send() may close a session, which erases it from `streams`: iterate a copy.
  std::vector<std::shared_ptr<EventSession>> live;
  live.reserve(streams.size());
  for (const auto& [raw, weak] : streams) {
    if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  for (const auto& session : live) session->send(message);
}

void AdminServer::Impl::on_event(const ControlEvent& event) {
  if (streams.empty()) return;
  if (event.kind == ControlEvent::Kind::kAccountsChanged) {
    // A stream opened by an account that no longer may view the rooms ends
    // now (the operator's token is no account and is not affected).
    std::vector<std::shared_ptr<EventSession>> revoked;
    for (const auto& [session, weak] : streams) {
      if (session->account.empty() || control.account_holds(session->account, kStreamRight))
        continue;
      if (auto live = weak.lock()) revoked.push_back(std::move(live));
    }
    for (const auto& session : revoked) session->close();
    return;
  }
  // Events come in bursts (a join is several changes; talkers flip every
  // few hundred ms in every room): queue them and answer the whole burst
  // with one Control::rooms() snapshot once the current handler returns.
  pending_events.push_back(event);
  if (pending_events.size() > 1) return;
  asio::post(io, [weak = weak_from_this()] {
    if (const auto self = weak.lock()) self->flush_events();
  });
}

void AdminServer::Impl::flush_events() {
  std::vector<ControlEvent> events;
  events.swap(pending_events);
  if (!running || streams.empty() || events.empty()) return;
  const std::vector<ConferenceState> rooms = control.rooms();
  for (const ControlEvent& event : events) {
    broadcast(std::make_shared<const std::string>(dump(event_json(event, rooms))));
  }
}

void AdminServer::Impl::arm_levels() {
  if (levels_armed || !running || streams.empty()) return;
  levels_armed = true;
  levels_timer.expires_after(api.config().levels_interval);
  levels_timer.async_wait([weak = weak_from_this()](beast::error_code ec) {
    const auto self = weak.lock();
    if (!self) return;
    self->levels_armed = false;
    if (ec || !self->running || self->streams.empty()) return;
    std::string levels = dump(levels_json(self->control.rooms()));
    // Only changes go out: a quiet conference costs the streams nothing.
    if (levels != self->last_levels) {
      self->last_levels = levels;
      self->broadcast(std::make_shared<const std::string>(std::move(levels)));
    }
    self->arm_levels();
  });
}

AdminServer::AdminServer(asio::io_context& io, Control& control, MetricsSource metrics,
                         AdminConfig config)
    : impl_(std::make_shared<Impl>(io, control, std::move(metrics), std::move(config))) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  Impl& impl = *impl_;
  if (impl.running) return;
  const AdminConfig& config = impl.api.config();
  const tcp::endpoint endpoint(asio::ip::make_address(config.address), config.port);
  impl.acceptor.open(endpoint.protocol());
  impl.acceptor.set_option(asio::socket_base::reuse_address(true));
  impl.acceptor.bind(endpoint);
  impl.acceptor.listen(asio::socket_base::max_listen_connections);
  impl.running = true;
  impl.control.set_event_listener([weak = std::weak_ptr<Impl>(impl_)](const ControlEvent& event) {
    if (const auto self = weak.lock()) self->on_event(event);
  });
  impl.accept();
}

void AdminServer::stop() {
  Impl& impl = *impl_;
  if (!impl.running) return;
  impl.running = false;
  impl.control.set_event_listener({});
  beast::error_code ignored;
  impl.acceptor.close(ignored);
  impl.levels_timer.cancel();
  impl.accept_retry.cancel();
  std::vector<std::shared_ptr<Connection>> live;
  for (const auto& [raw, weak] : impl.connections) {
    if (auto connection = weak.lock()) live.push_back(std::move(connection));
  }
  for (const auto& connection : live) connection->close();
}

void AdminServer::set_token(std::string token) {
  Impl& impl = *impl_;
  if (token == impl.api.config().token) return;
  impl.api.set_token(std::move(token));
  // A stream keeps no credentials after its upgrade: one opened with the
  // old token would otherwise outlive its revocation.
  std::vector<std::shared_ptr<EventSession>> revoked;
  for (const auto& [session, weak] : impl.streams) {
    if (!session->account.empty()) continue;
    if (auto live = weak.lock()) revoked.push_back(std::move(live));
  }
  for (const auto& session : revoked) session->close();
}

uint16_t AdminServer::port() const {
  beast::error_code ec;
  const tcp::endpoint endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

size_t AdminServer::connections() const {
  return impl_->connections.size();
}

size_t AdminServer::event_streams() const {
  return impl_->streams.size();
}

}  // namespace chorus::focus
