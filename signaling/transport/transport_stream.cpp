// TCP and TLS transports (RFC 3261 §18.3): Content-Length framing, one
// connection per peer reused in both directions, idle reaping.

#include <algorithm>

#include "signaling/message/framing.hpp"
#include "signaling/transport/transport_impl.hpp"

namespace chorus::sip {
namespace {

using TlsStream = asio::ssl::stream<tcp::socket>;

template <class Stream>
class StreamConnection final : public Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  StreamConnection(TransportLayer::Impl& owner, uint64_t id, Stream stream)
      : Connection(owner, id, kTls ? TransportKind::kTls : TransportKind::kTcp),
        stream_(std::move(stream)) {}

  void start_accepted() override {
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = shared()](const boost::system::error_code& error) {
                                if (error) return self->fail();
                                self->on_ready();
                              });
    } else {
      on_ready();
    }
  }

  void start_outgoing(const tcp::endpoint& peer) override {
    socket().async_connect(peer, [self = shared()](const boost::system::error_code& error) {
      if (error) return self->fail();
      if constexpr (kTls) {
        self->stream_.async_handshake(asio::ssl::stream_base::client,
                                      [self](const boost::system::error_code& handshake_error) {
                                        if (handshake_error) return self->fail();
                                        self->on_ready();
                                      });
      } else {
        self->on_ready();
      }
    });
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    outbox_.clear();
    boost::system::error_code ignored;
    socket().close(ignored);
    if (auto owner = owner_.lock()) owner->forget(*this);
  }

 private:
  std::shared_ptr<StreamConnection> shared() {
    return std::static_pointer_cast<StreamConnection>(shared_from_this());
  }

  tcp::socket& socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  void on_ready() {
    if (closed_) return;
    ready_ = true;
    last_activity_ = Clock::now();
    read();
    flush();
  }

  void fail() { close(); }

  void read() {
    stream_.async_read_some(asio::buffer(chunk_),
                            [self = shared()](const boost::system::error_code& error, size_t size) {
                              if (self->closed_) return;
                              if (error) return self->fail();
                              self->last_activity_ = Clock::now();
                              self->inbox_.append(self->chunk_.data(), size);
                              auto owner = self->owner_.lock();
                              if (!owner) return;
                              owner->on_stream_data(*self);
                              if (!self->closed_) self->read();
                            });
  }

  void flush() override {
    if (!ready_ || writing_ || closed_ || outbox_.empty()) return;
    writing_ = true;
    asio::async_write(stream_, asio::buffer(outbox_.front()),
                      [self = shared()](const boost::system::error_code& error, size_t) {
                        self->writing_ = false;
                        if (self->closed_) return;
                        if (error) return self->fail();
                        self->last_activity_ = Clock::now();
                        self->outbox_.pop_front();
                        self->flush();
                      });
  }

  Stream stream_;
};

}  // namespace

std::shared_ptr<Connection> TransportLayer::Impl::make_connection(TransportKind kind,
                                                                  tcp::socket socket) {
  const uint64_t id = next_connection_id++;
  std::shared_ptr<Connection> connection;
  if (kind == TransportKind::kTls) {
    asio::ssl::context& context = tls_server ? *tls_server : *tls_client;
    connection = std::make_shared<StreamConnection<TlsStream>>(
        *this, id, TlsStream(std::move(socket), context));
  } else {
    connection = std::make_shared<StreamConnection<tcp::socket>>(*this, id, std::move(socket));
  }
  connections.emplace(id, connection);
  return connection;
}

void TransportLayer::Impl::accept(StreamListener& listener, TransportKind kind) {
  std::weak_ptr<Impl> weak = weak_from_this();
  listener.acceptor.async_accept(
      [weak, &listener, kind](const boost::system::error_code& error, tcp::socket socket) {
        const std::shared_ptr<Impl> self = weak.lock();
        if (!self || self->closed || error == asio::error::operation_aborted) return;
        if (!error) {
          if (self->connections.size() >= self->config.max_connections) {
            ++self->counters.connections_refused;
            boost::system::error_code ignored;
            socket.close(ignored);
          } else {
            boost::system::error_code endpoint_error;
            const tcp::endpoint peer = socket.remote_endpoint(endpoint_error);
            if (!endpoint_error) {
              ++self->counters.connections_accepted;
              socket.set_option(tcp::no_delay(true), endpoint_error);
              auto connection = self->make_connection(kind, std::move(socket));
              Endpoint remote{kind, peer.address().to_string(), peer.port(), connection->id()};
              // Responses and requests to this peer reuse the connection
              // (RFC 3261 §18.2.2, RFC 5923 style reuse).
              std::string key = peer_key(kind, remote.address, remote.port);
              self->by_peer[key] = connection->id();
              connection->set_peer_key(std::move(key));
              connection->set_remote(std::move(remote));
              connection->start_accepted();
            }
          }
        }
        if (!self->closed) self->accept(listener, kind);
      });
}

bool TransportLayer::Impl::send_stream(const Endpoint& destination, std::string wire) {
  std::shared_ptr<Connection> connection;
  if (destination.connection != 0) {
    const auto it = connections.find(destination.connection);
    if (it != connections.end() && !it->second->closed()) connection = it->second;
  }
  const std::string key = peer_key(destination.transport, destination.address, destination.port);
  if (!connection) {
    const auto it = by_peer.find(key);
    if (it != by_peer.end()) {
      const auto found = connections.find(it->second);
      if (found != connections.end() && !found->second->closed()) connection = found->second;
    }
  }
  if (!connection) {
    boost::system::error_code error;
    const asio::ip::address address = asio::ip::make_address(destination.address, error);
    if (error || destination.port == 0) return false;
    if (connections.size() >= config.max_connections) {
      ++counters.connections_refused;
      return false;
    }
    if (destination.transport == TransportKind::kTls && !tls_client) {
      auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      context->set_default_verify_paths();
      context->set_verify_mode(asio::ssl::verify_peer);
      tls_client = std::move(context);
    }
    tcp::socket socket(io);
    connection = make_connection(destination.transport, std::move(socket));
    connection->set_remote(
        Endpoint{destination.transport, destination.address, destination.port, connection->id()});
    connection->set_peer_key(key);
    by_peer[key] = connection->id();
    ++counters.connections_opened;
    connection->start_outgoing(tcp::endpoint(address, destination.port));
  }
  count_sent(wire.size());
  connection->send(std::move(wire));
  return true;
}

void TransportLayer::Impl::on_stream_data(Connection& connection) {
  // Hold it: a handler may close the connection while we deliver.
  const std::shared_ptr<Connection> keep = connection.shared_from_this();
  std::string& inbox = connection.inbox();
  while (!connection.closed()) {
    // RFC 5626 §3.5.1 keep-alive: answer a double CRLF ping with a single CRLF pong.
    const size_t blank = skip_keepalive(inbox);
    if (blank > 0) {
      if (inbox.compare(0, std::min<size_t>(blank, 4), "\r\n\r\n") == 0 && blank >= 4) {
        connection.send("\r\n");
      }
      inbox.erase(0, blank);
    }
    if (inbox.empty()) return;
    const Result<size_t> framed = frame_stream_message(inbox);
    if (!framed.ok()) {
      // §18.3: without a trustworthy Content-Length the stream cannot be
      // resynchronised; answer if possible, then close.
      ++counters.framing_errors;
      const ParseError& fault = framed.error();
      if (fault.status == 513) ++counters.oversized;
      if (fault.answerable) {
        if (auto answer = build_error_response(inbox, fault)) {
          ++counters.parse_errors_answered;
          count_sent(answer->size());
          connection.send(std::move(*answer));
        }
      } else {
        ++counters.parse_drops;
      }
      // Let the answer drain, then drop the connection: stop reading now.
      auto weak = std::weak_ptr<Connection>(keep);
      asio::post(io, [weak] {
        if (auto c = weak.lock()) c->close();
      });
      inbox.clear();
      return;
    }
    const size_t size = framed.value();
    if (size == 0) return;  // need more bytes
    const std::string message = inbox.substr(0, size);
    inbox.erase(0, size);
    deliver(message, connection.remote());
  }
}

void TransportLayer::Impl::forget(const Connection& connection) {
  const auto key = by_peer.find(connection.peer_key());
  if (key != by_peer.end() && key->second == connection.id()) by_peer.erase(key);
  connections.erase(connection.id());
}

void TransportLayer::Impl::arm_reaper() {
  if (reaper_armed || closed) return;
  reaper_armed = true;
  const Duration period = std::clamp<Duration>(config.idle_timeout / 4, Duration(50),
                                               Duration(std::chrono::seconds(30)));
  reaper.expires_after(period);
  std::weak_ptr<Impl> weak = weak_from_this();
  reaper.async_wait([weak](const boost::system::error_code& error) {
    const std::shared_ptr<Impl> self = weak.lock();
    if (!self || error || self->closed) return;
    self->reaper_armed = false;
    self->reap_idle();
    self->arm_reaper();
  });
}

void TransportLayer::Impl::reap_idle() {
  const TimePoint now = Clock::now();
  std::vector<std::shared_ptr<Connection>> idle;
  for (const auto& [id, connection] : connections) {
    if (connection->idle() && now - connection->last_activity() >= config.idle_timeout) {
      idle.push_back(connection);
    }
  }
  for (const auto& connection : idle) {
    ++counters.connections_closed_idle;
    connection->close();
  }
}

void TransportLayer::Impl::close_all() {
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(connections.size());
  for (const auto& [id, connection] : connections) all.push_back(connection);
  for (const auto& connection : all) connection->close();
}

}  // namespace chorus::sip
