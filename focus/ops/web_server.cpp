#include "focus/ops/web_server.hpp"

// signaling/asio.hpp (via web_server.hpp) first: <utility> before Asio.
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include "focus/ops/http_linger.hpp"
#include "signaling/transport/endpoint.hpp"

namespace chorus::focus {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

class WebConnection {
 public:
  virtual ~WebConnection() = default;
  virtual void close() = 0;
};

struct WebServer::Impl : std::enable_shared_from_this<WebServer::Impl> {
  Impl(asio::io_context& io_context, std::shared_ptr<const WebSite> s, WebConfig c)
      : io(io_context),
        site(std::move(s)),
        config(std::move(c)),
        acceptor(io_context),
        accept_retry(io_context) {}

  void accept();
  void add(WebConnection* connection, std::weak_ptr<WebConnection> weak,
           const std::string& source) {
    connections.emplace(connection, std::move(weak));
    ++per_source[source];
  }
  void remove(WebConnection* connection, const std::string& source) {
    connections.erase(connection);
    if (const auto it = per_source.find(source); it != per_source.end() && --it->second == 0) {
      per_source.erase(it);
    }
  }

  asio::io_context& io;
  std::shared_ptr<const WebSite> site;
  WebConfig config;
  std::unique_ptr<asio::ssl::context> tls;  // null: plain HTTP (loopback only)
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  bool running = false;
  std::unordered_map<WebConnection*, std::weak_ptr<WebConnection>> connections;
  std::unordered_map<std::string, size_t> per_source;
};

namespace {

beast::tcp_stream& tcp_layer(beast::tcp_stream& stream) {
  return stream;
}
beast::tcp_stream& tcp_layer(beast::ssl_stream<beast::tcp_stream>& stream) {
  return stream.next_layer();
}

}  // namespace

// One connection: an optional TLS handshake, then requests in sequence
// (keep-alive), each answered from the WebSite.
template <class Stream>
class WebSession final : public WebConnection,
                         public std::enable_shared_from_this<WebSession<Stream>> {
 public:
  template <class... Args>
  WebSession(std::shared_ptr<WebServer::Impl> server, std::string source, Args&&... args)
      : server_(std::move(server)),
        source_(std::move(source)),
        stream_(std::forward<Args>(args)...) {}
  ~WebSession() override { server_->remove(this, source_); }

  void run() {
    server_->add(this, this->weak_from_this(), source_);
    tcp_layer(stream_).expires_after(server_->config.idle_timeout);
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->close();
                                self->read();
                              });
    } else {
      read();
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    tcp_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_layer(stream_).socket().close(ignored);
  }

 private:
  void read() {
    if (closed_) return;
    parser_.emplace();
    parser_->body_limit(server_->config.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_->config.max_header_bytes));
    tcp_layer(stream_).expires_after(server_->config.idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (closed_) return;
    if (ec == http::error::body_limit) return reply_error(413, "request body too large\n");
    if (ec == http::error::header_limit) return reply_error(431, "request header too large\n");
    if (ec == http::error::bad_target || ec == http::error::bad_method ||
        ec == http::error::bad_version || ec == http::error::bad_field ||
        ec == http::error::bad_value || ec == http::error::bad_line_ending) {
      return reply_error(400, "malformed HTTP request\n");
    }
    if (ec) return close();  // end of stream, timeout, reset, TLS error
    const http::request<http::string_body> request = parser_->release();
    const WebResponse out = server_->site->handle(
        std::string_view(request.method_string().data(), request.method_string().size()),
        std::string_view(request.target().data(), request.target().size()));
    respond(out, request.version(), request.keep_alive(), request.method() == http::verb::head);
  }

  void reply_error(int status, std::string_view message) {
    // After a parse error the stream position is unknown: answer and close.
    respond(
        WebResponse{
            status, "text/plain; charset=utf-8", std::make_shared<const std::string>(message), {}},
        11, /*keep_alive=*/false, /*head=*/false);
  }

  void respond(const WebResponse& out, unsigned version, bool keep_alive, bool head) {
    response_ = http::response<http::string_body>{};
    response_.version(version);
    response_.result(static_cast<unsigned>(out.status));
    response_.set(http::field::server, "Chorus");
    response_.set(http::field::content_type, out.content_type);
    // The page and JsSIP change with the build: revalidate, never serve stale.
    response_.set(http::field::cache_control, "no-cache");
    response_.set("X-Content-Type-Options", "nosniff");
    const std::string_view csp = WebSite::content_security_policy();
    response_.set("Content-Security-Policy", beast::string_view(csp.data(), csp.size()));
    response_.set("Referrer-Policy", "no-referrer");
    response_.set("X-Frame-Options", "DENY");
    response_.set("Permissions-Policy", "microphone=(self), camera=(), geolocation=()");
    response_.set("Cross-Origin-Opener-Policy", "same-origin");
    if (!out.allow.empty()) response_.set(http::field::allow, out.allow);
    response_.keep_alive(keep_alive);
    const size_t length = out.body ? out.body->size() : 0;
    if (!head && out.body) response_.body() = *out.body;
    response_.content_length(length);
    tcp_layer(stream_).expires_after(server_->config.idle_timeout);
    http::async_write(stream_, response_,
                      [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                        if (ec || self->closed_) return self->close();
                        if (!keep_alive) {
                          auto& stream = self->stream_;
                          auto& buffer = self->buffer_;
                          const auto idle = self->server_->config.idle_timeout;
                          return linger_then_close(std::move(self), stream, tcp_layer(stream),
                                                   buffer, idle);
                        }
                        self->read();
                      });
  }

  std::shared_ptr<WebServer::Impl> server_;
  std::string source_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool closed_ = false;
};

void WebServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (!self->running) return;
    if (ec) {
      // EMFILE, ENOBUFS: transient; listen again shortly instead of spinning.
      self->accept_retry.expires_after(std::chrono::milliseconds(100));
      self->accept_retry.async_wait([self](beast::error_code wait_error) {
        if (!wait_error && self->running) self->accept();
      });
      return;
    }
    beast::error_code peer_error;
    const tcp::endpoint peer = socket.remote_endpoint(peer_error);
    // Counted per source_key: an IPv6 peer as its /64.
    const std::string source =
        peer_error ? std::string() : sip::source_key(peer.address().to_string());
    const auto count = self->per_source.find(source);
    if (peer_error || self->connections.size() >= self->config.max_connections ||
        (count != self->per_source.end() &&
         count->second >= self->config.max_connections_per_source)) {
      beast::error_code ignored;
      socket.close(ignored);
    } else if (self->tls) {
      std::make_shared<WebSession<beast::ssl_stream<beast::tcp_stream>>>(
          self, source, std::move(socket), *self->tls)
          ->run();
    } else {
      std::make_shared<WebSession<beast::tcp_stream>>(self, source, std::move(socket))->run();
    }
    self->accept();
  });
}

bool WebServer::loopback(const std::string& address) {
  beast::error_code ec;
  const asio::ip::address parsed = asio::ip::make_address(address, ec);
  return !ec && parsed.is_loopback();
}

WebServer::WebServer(asio::io_context& io, std::shared_ptr<const WebSite> site, WebConfig config)
    : impl_(std::make_shared<Impl>(io, std::move(site), std::move(config))) {
  const WebConfig& c = impl_->config;
  if (c.certificate.empty() != c.private_key.empty()) {
    throw std::invalid_argument("web.certificate and web.private_key go together");
  }
  if (c.certificate.empty() && !loopback(c.address)) {
    throw std::invalid_argument(
        "web.address " + c.address +
        " is not loopback: the web listener needs web.certificate and web.private_key (browsers "
        "allow the microphone only on HTTPS pages)");
  }
}

WebServer::~WebServer() {
  stop();
}

void WebServer::start() {
  Impl& impl = *impl_;
  if (impl.running) return;
  if (!impl.config.certificate.empty()) {
    auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    beast::error_code ec;
    tls->use_certificate_chain_file(impl.config.certificate, ec);
    if (!ec) tls->use_private_key_file(impl.config.private_key, asio::ssl::context::pem, ec);
    if (ec) {
      throw std::runtime_error("web.certificate / web.private_key: " + ec.message());
    }
    impl.tls = std::move(tls);
  }
  const tcp::endpoint endpoint(asio::ip::make_address(impl.config.address), impl.config.port);
  impl.acceptor.open(endpoint.protocol());
  impl.acceptor.set_option(asio::socket_base::reuse_address(true));
  impl.acceptor.bind(endpoint);
  impl.acceptor.listen(asio::socket_base::max_listen_connections);
  impl.running = true;
  impl.accept();
}

void WebServer::stop() {
  Impl& impl = *impl_;
  if (!impl.running) return;
  impl.running = false;
  beast::error_code ignored;
  impl.acceptor.close(ignored);
  impl.accept_retry.cancel();
  std::vector<std::shared_ptr<WebConnection>> live;
  for (const auto& [raw, weak] : impl.connections) {
    if (auto connection = weak.lock()) live.push_back(std::move(connection));
  }
  for (const auto& connection : live) connection->close();
}

uint16_t WebServer::port() const {
  beast::error_code ec;
  const tcp::endpoint endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

size_t WebServer::connections() const {
  return impl_->connections.size();
}

bool WebServer::tls() const {
  return impl_->tls != nullptr;
}

}  // namespace chorus::focus
