// TCP and TLS transports (RFC 3261 §18.3): Content-Length framing, one
// connection per peer reused in both directions, handshake / first-message /
// partial-message / idle timeouts, caps per source address, on peers'
// connections and on ours, peer verification for ours.

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
                                if (error) return self->fail_handshake();
                                self->on_ready();
                              });
    } else {
      on_ready();
    }
  }

  void start_outgoing(const tcp::endpoint& peer, const std::string& server_name) override {
    if constexpr (kTls) {
      if (!prove_name(server_name)) return fail();
    }
    socket().async_connect(peer, [self = shared()](const boost::system::error_code& error) {
      if (error) return self->fail();
      if constexpr (kTls) {
        self->stream_.async_handshake(asio::ssl::stream_base::client,
                                      [self](const boost::system::error_code& handshake_error) {
                                        if (handshake_error) return self->fail_handshake();
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
    drop_outbox();
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

  void fail_handshake() {
    if (auto owner = owner_.lock()) ++owner->counters.tls_handshakes_failed;
    close();
  }

  // RFC 5922 §7.1: the peer must hold a certificate for the host we meant
  // to reach, an IP literal as an iPAddress SAN, a name as a dNSName SAN
  // (SNI carries the name, RFC 6066 §3); wildcards never match (§7.2). The
  // chain itself is checked by the context (verify_peer). False when the
  // name cannot be set.
  bool prove_name(const std::string& server_name) {
    auto owner = owner_.lock();
    if (!owner || !owner->config.tls_verify_peer) return true;
    std::string name = server_name.empty() ? remote_.address : server_name;
    SSL* ssl = stream_.native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_WILDCARDS |
                                               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    boost::system::error_code error;
    asio::ip::make_address(name, error);
    if (!error) return X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
    if (X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) != 1) return false;
    return SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
  }

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
    begin_write();
    asio::async_write(stream_, asio::buffer(outbox_.front().wire),
                      [self = shared()](const boost::system::error_code& error, size_t) {
                        self->writing_ = false;
                        if (self->closed_) return;
                        if (error) return self->fail();
                        self->last_activity_ = Clock::now();
                        self->written();
                        self->flush();
                      });
  }

  Stream stream_;
};

}  // namespace

asio::ssl::context& TransportLayer::Impl::tls_client_context() {
  if (!tls_client) {
    auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1);
    if (config.tls_verify_peer) {
      boost::system::error_code error;
      if (config.tls_ca_file.empty()) {
        context->set_default_verify_paths(error);
      } else {
        context->load_verify_file(config.tls_ca_file, error);
      }
      // An unreadable CA file trusts nobody: every handshake then fails
      // (counted), nothing falls back to not verifying.
      context->set_verify_mode(asio::ssl::verify_peer);
    } else {
      context->set_verify_mode(asio::ssl::verify_none);
    }
    tls_client = std::move(context);
  }
  return *tls_client;
}

std::shared_ptr<Connection> TransportLayer::Impl::make_connection(TransportKind kind,
                                                                  tcp::socket socket,
                                                                  bool outgoing) {
  const uint64_t id = next_connection_id++;
  std::shared_ptr<Connection> connection;
  if (is_websocket(kind)) {
    connection = make_websocket_connection(kind, id, std::move(socket));
  } else if (kind == TransportKind::kTls) {
    asio::ssl::context& context = outgoing ? tls_client_context() : *tls_server;
    connection = std::make_shared<StreamConnection<TlsStream>>(
        *this, id, TlsStream(std::move(socket), context));
  } else {
    connection = std::make_shared<StreamConnection<tcp::socket>>(*this, id, std::move(socket));
  }
  if (outgoing) {
    ++outgoing_connections;
  } else {
    connection->set_accepted();
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
          boost::system::error_code endpoint_error;
          const tcp::endpoint peer = socket.remote_endpoint(endpoint_error);
          const std::string address = endpoint_error ? "" : peer.address().to_string();
          const std::string counted_as = source_key(address);  // an IPv6 peer: its /64
          const size_t inbound = self->connections.size() - self->outgoing_connections;
          if (inbound >= self->config.max_connections) {
            ++self->counters.connections_refused;
            boost::system::error_code ignored;
            socket.close(ignored);
          } else if (!endpoint_error &&
                     self->per_source[counted_as] >= self->config.max_connections_per_source) {
            ++self->counters.connections_refused_source;
            boost::system::error_code ignored;
            socket.close(ignored);
          } else {
            if (!endpoint_error) {
              ++self->counters.connections_accepted;
              socket.set_option(tcp::no_delay(true), endpoint_error);
              auto connection = self->make_connection(kind, std::move(socket), false);
              ++self->per_source[counted_as];
              Endpoint remote{kind, address, peer.port(), connection->id()};
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

bool TransportLayer::Impl::send_stream(const Endpoint& destination, std::string wire,
                                       std::string_view server_name) {
  if (is_websocket(destination.transport)) {
    // RFC 7118 §5: only the client's own connection reaches it.
    const std::shared_ptr<Connection> flow = find_ws_connection(destination);
    if (!flow) {
      ++counters.ws_no_flow;
      return false;
    }
    return queue(*flow, std::move(wire));
  }
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
    if (outgoing_connections >= config.max_outgoing_connections) {
      ++counters.connections_refused_outgoing;
      return false;
    }
    tcp::socket socket(io);
    connection = make_connection(destination.transport, std::move(socket), true);
    connection->set_remote(
        Endpoint{destination.transport, destination.address, destination.port, connection->id()});
    connection->set_peer_key(key);
    by_peer[key] = connection->id();
    ++counters.connections_opened;
    connection->start_outgoing(tcp::endpoint(address, destination.port), std::string(server_name));
    arm_reaper();
  }
  return queue(*connection, std::move(wire));
}

bool TransportLayer::Impl::queue(Connection& connection, std::string wire, bool pong) {
  // A peer that stopped reading does not get to pile up our memory.
  if (connection.queued_bytes() + wire.size() > config.max_queued_bytes) {
    ++counters.connections_closed_backlog;
    connection.close();
    return false;
  }
  count_sent(wire.size());
  connection.send(std::move(wire), pong);
  return true;
}

void TransportLayer::Impl::on_stream_data(Connection& connection) {
  // Hold it: a handler may close the connection while we deliver.
  const std::shared_ptr<Connection> keep = connection.shared_from_this();
  std::string& inbox = connection.inbox();
  StreamFramer& framer = connection.framer();
  while (!connection.closed()) {
    // RFC 5626 §3.5.1 keep-alive: answer a double CRLF ping with a single CRLF pong.
    const size_t blank = skip_keepalive(inbox);
    if (blank > 0) {
      // A pong already waiting answers this ping too: a peer that pings
      // without reading would otherwise grow our queue two bytes a ping.
      const bool ping = blank >= 4 && inbox.compare(0, 4, "\r\n\r\n") == 0;
      if (ping && !connection.pong_pending() && !queue(connection, "\r\n", /*pong=*/true)) {
        return;  // closed at max_queued_bytes
      }
      inbox.erase(0, blank);
      framer.reset();
    }
    if (inbox.empty()) {
      connection.set_partial_since(std::nullopt);
      return;
    }
    if (!connection.partial_since()) connection.set_partial_since(Clock::now());
    // The framer resumes where the last read left off: rescanning the whole
    // inbox on every read would let a peer trickling a 64 KB header block
    // cost the signalling thread time quadratic in its size.
    const Result<size_t> framed = framer.frame(inbox);
    if (!framed.ok()) {
      // §18.3: without a trustworthy Content-Length the stream cannot be
      // resynchronised; answer if possible, then close.
      ++counters.framing_errors;
      const ParseError& fault = framed.error();
      if (fault.status == 513) ++counters.oversized;
      if (fault.answerable) {
        if (auto answer = build_error_response(inbox, fault)) {
          if (queue(connection, std::move(*answer))) ++counters.parse_errors_answered;
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
      framer.reset();
      return;
    }
    const size_t size = framed.value();
    if (size == 0) return;  // need more bytes (partial_since keeps running)
    const std::string message = inbox.substr(0, size);
    inbox.erase(0, size);
    framer.reset();
    // The next message, if any bytes of it are here, starts now.
    connection.set_partial_since(std::nullopt);
    if (deliver(message, connection.remote())) connection.set_delivered();
  }
}

void TransportLayer::Impl::forget(const Connection& connection) {
  const auto key = by_peer.find(connection.peer_key());
  if (key != by_peer.end() && key->second == connection.id()) by_peer.erase(key);
  for (const std::string& flow : connection.flow_keys()) {
    const auto it = ws_flows.find(flow);
    if (it != ws_flows.end() && it->second == connection.id()) ws_flows.erase(it);
  }
  if (connection.accepted()) {
    const auto source = per_source.find(source_key(connection.remote().address));
    if (source != per_source.end() && --source->second == 0) per_source.erase(source);
  } else {
    --outgoing_connections;
  }
  connections.erase(connection.id());
}

void TransportLayer::Impl::arm_reaper() {
  if (reaper_armed || closed) return;
  reaper_armed = true;
  const Duration shortest =
      std::min({config.handshake_timeout, config.idle_timeout, config.message_timeout});
  const Duration period =
      std::clamp<Duration>(shortest / 4, Duration(20), Duration(std::chrono::seconds(30)));
  reaper.expires_after(period);
  std::weak_ptr<Impl> weak = weak_from_this();
  reaper.async_wait([weak](const boost::system::error_code& error) {
    const std::shared_ptr<Impl> self = weak.lock();
    if (!self || error || self->closed) return;
    self->reaper_armed = false;
    self->reap();
    self->arm_reaper();
  });
}

void TransportLayer::Impl::reap() {
  const TimePoint now = Clock::now();
  std::vector<std::pair<std::shared_ptr<Connection>, uint64_t*>> doomed;
  for (const auto& [id, connection] : connections) {
    if (!connection->ready()) {
      if (now - connection->created() >= config.handshake_timeout) {
        doomed.emplace_back(connection, &counters.connections_closed_handshake);
      }
    } else if (const auto since = connection->partial_since();
               since && now - *since >= config.message_timeout) {
      doomed.emplace_back(connection, &counters.connections_closed_partial);
    } else if (const auto unwritten = connection->unwritten_since();
               unwritten && now - *unwritten >= config.message_timeout) {
      doomed.emplace_back(connection, &counters.connections_closed_stalled);
    } else if (connection->accepted() && !connection->delivered() &&
               now - connection->created() >= config.handshake_timeout) {
      // Accepted is not yet a SIP client: silence, CRLF pings (which keep
      // the idle clock from running out) or garbage would otherwise hold
      // one of max_connections for ever, a few sources holding them all.
      doomed.emplace_back(connection, &counters.connections_closed_first_message);
    } else if (connection->idle() && now - connection->last_activity() >= config.idle_timeout) {
      doomed.emplace_back(connection, &counters.connections_closed_idle);
    }
  }
  for (const auto& [connection, counter] : doomed) {
    ++*counter;
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
