#pragma once

// Internal to the transport layer: listeners, stream connections and the
// shared state they report to. Not for use outside transport*.cpp.

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "signaling/message/framing.hpp"
#include "signaling/transport/transport.hpp"

namespace chorus::sip {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

class Connection;

struct TransportLayer::Impl : std::enable_shared_from_this<TransportLayer::Impl> {
  Impl(asio::io_context& io_context, TransportConfig cfg);

  struct UdpListener {
    UdpListener(asio::io_context& io, uint64_t listener_id) : socket(io), id(listener_id) {}
    udp::socket socket;
    uint64_t id;
    Endpoint local;
    std::vector<char> buffer = std::vector<char>(kMaxMessageSize + 1);
    udp::endpoint sender;
  };
  struct StreamListener {
    explicit StreamListener(asio::io_context& io) : acceptor(io) {}
    tcp::acceptor acceptor;
    Endpoint local;
  };

  // The stream listeners of a transport other than UDP.
  std::vector<std::unique_ptr<StreamListener>>& listeners_of(TransportKind kind) {
    switch (kind) {
      case TransportKind::kTls:
        return tls_listeners;
      case TransportKind::kWs:
        return ws_listeners;
      case TransportKind::kWss:
        return wss_listeners;
      default:
        return tcp_listeners;
    }
  }
  const std::vector<std::unique_ptr<StreamListener>>& listeners_of(TransportKind kind) const {
    return const_cast<Impl*>(this)->listeners_of(kind);
  }

  // transport.cpp
  void receive_udp(UdpListener& listener);
  // A complete message from any transport: parse, answer or drop on error,
  // stamp Via, hand to the handler. True when it parsed and was handed on.
  bool deliver(std::string_view wire, const Endpoint& source);
  bool send_udp(const Endpoint& destination, const std::string& wire);
  void count_sent(size_t bytes);

  // transport_stream.cpp
  void accept(StreamListener& listener, TransportKind kind);
  bool send_stream(const Endpoint& destination, std::string wire,
                   std::string_view server_name = {});
  // Frames and delivers what `connection` buffered; false if it was closed.
  void on_stream_data(Connection& connection);
  void forget(const Connection& connection);
  void arm_reaper();
  // Closes connections past handshake_timeout (a peer's: also without a
  // message delivered by then), message_timeout or idle_timeout.
  void reap();
  // The client context for outgoing TLS, made on first use.
  asio::ssl::context& tls_client_context();
  void close_all();
  // Registers the connection in `connections`, counted as ours
  // (outgoing_connections) or as a peer's (accepted).
  std::shared_ptr<Connection> make_connection(TransportKind kind, tcp::socket socket, bool outgoing);

  // transport_websocket.cpp (RFC 7118)
  // An accepted WS/WSS connection: (TLS handshake,) HTTP upgrade with the
  // `sip` subprotocol and an allowed Origin, then one SIP message per
  // WebSocket message.
  std::shared_ptr<Connection> make_websocket_connection(TransportKind kind, uint64_t id,
                                                        tcp::socket socket);
  // The server context for WSS listeners, made by listen().
  void make_wss_context();
  bool origin_allowed(std::string_view origin) const;
  // Requests from a WebSocket client name the hosts it can be reached at
  // (top Via sent-by, Contact): each becomes a key of its connection, so our
  // requests to a `;transport=ws` URI find it (RFC 7118 §5). A key held by
  // another live connection stays with that one (no hijacking).
  void note_ws_flow(const Message& request, const Endpoint& source);
  // The live WS/WSS connection `destination` names (by id, flow key or
  // address), or null.
  std::shared_ptr<Connection> find_ws_connection(const Endpoint& destination);
  // Queues `wire` on `connection`, or closes it (false) when that would
  // pass config.max_queued_bytes. Every stream write goes through here.
  bool queue(Connection& connection, std::string wire, bool pong = false);

  asio::io_context& io;
  TransportConfig config;
  TransportCounters counters;
  MessageHandler handler;
  std::vector<std::unique_ptr<UdpListener>> udp_listeners;
  std::vector<std::unique_ptr<StreamListener>> tcp_listeners;
  std::vector<std::unique_ptr<StreamListener>> tls_listeners;
  std::vector<std::unique_ptr<StreamListener>> ws_listeners;
  std::vector<std::unique_ptr<StreamListener>> wss_listeners;
  std::unique_ptr<asio::ssl::context> tls_server;
  std::unique_ptr<asio::ssl::context> wss_server;
  std::unique_ptr<asio::ssl::context> tls_client;
  // Every stream connection, ours and peers'. Ours are counted apart
  // (max_outgoing_connections), so peers holding every one of their
  // max_connections cannot keep us from reaching anyone.
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
  size_t outgoing_connections = 0;
  std::unordered_map<std::string, uint64_t> by_peer;  // "TCP 1.2.3.4:5060" → connection
  std::unordered_map<std::string, size_t> per_source;  // source_key → accepted connections
  std::unordered_map<std::string, uint64_t> ws_flows;  // ws_flow_key → WS/WSS connection
  uint64_t next_connection_id = 1;
  asio::steady_timer reaper;
  bool reaper_armed = false;
  bool closed = false;
};

// One TCP, TLS, WS or WSS connection (RFC 3261 §18.3 framing of TCP/TLS
// happens in the Impl; a WebSocket connection delivers whole messages).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(TransportLayer::Impl& owner, uint64_t id, TransportKind kind)
      : owner_(owner.weak_from_this()), id_(id), kind_(kind) {}
  virtual ~Connection() = default;

  virtual void start_accepted() = 0;
  // TLS: the peer must prove `server_name` (a host name or an IP literal)
  // when the layer verifies peers.
  virtual void start_outgoing(const tcp::endpoint& peer, const std::string& server_name) = 0;
  virtual void close() = 0;

  // Only Impl::queue() calls this: it holds the cap on queued_bytes().
  // `pong`: a keep-alive CRLF (RFC 5626 §3.5.1), of which at most one waits.
  void send(std::string wire, bool pong = false) {
    queued_bytes_ += wire.size();
    pong_pending_ = pong_pending_ || pong;
    outbox_.push_back(Queued{std::move(wire), Clock::now(), pong});
    flush();
  }
  // Bytes waiting to be written, the one being written included.
  size_t queued_bytes() const { return queued_bytes_; }
  // A pong is queued and not yet written: it answers any ping that comes
  // before it goes, so a peer that pings without reading holds two bytes.
  bool pong_pending() const { return pong_pending_; }
  // While a write is under way: when the oldest byte still unwritten was
  // queued (or the first write began, if that was later: bytes queued while
  // connecting were not late). Measured from there rather than from the
  // current write, a peer that reads a trickle, finishing write after write
  // but never catching up, still counts as stalled.
  std::optional<TimePoint> unwritten_since() const {
    if (!writing_ || outbox_.empty()) return std::nullopt;
    return std::max(outbox_.front().since, *first_write_began_);
  }

  uint64_t id() const { return id_; }
  TransportKind kind() const { return kind_; }
  const Endpoint& remote() const { return remote_; }
  void set_remote(Endpoint remote) { remote_ = std::move(remote); }
  const std::string& peer_key() const { return peer_key_; }
  void set_peer_key(std::string key) { peer_key_ = std::move(key); }
  bool closed() const { return closed_; }
  bool ready() const { return ready_; }
  bool accepted() const { return accepted_; }
  void set_accepted() { accepted_ = true; }
  // A message that parsed has come in on it. A peer's connection without
  // one is closed at handshake_timeout: until then it is no SIP client, and
  // CRLF keep-alives, which keep it from idling out, do not make it one.
  bool delivered() const { return delivered_; }
  void set_delivered() { delivered_ = true; }
  bool idle() const { return outbox_.empty() && !writing_; }
  TimePoint created() const { return created_; }
  TimePoint last_activity() const { return last_activity_; }
  std::string& inbox() { return inbox_; }
  // Where framing of the inbox's first message has got to (TCP/TLS); reset
  // whenever bytes leave the front of the inbox.
  StreamFramer& framer() { return framer_; }
  // When the first byte of the message still incomplete in the inbox arrived.
  std::optional<TimePoint> partial_since() const { return partial_since_; }
  void set_partial_since(std::optional<TimePoint> when) { partial_since_ = when; }
  // WS/WSS: the flow keys this connection holds in Impl::ws_flows.
  std::vector<std::string>& flow_keys() { return flow_keys_; }
  const std::vector<std::string>& flow_keys() const { return flow_keys_; }

 protected:
  virtual void flush() = 0;
  // One message waiting to be written and when it was queued.
  struct Queued {
    std::string wire;
    TimePoint since;
    bool pong = false;
  };

  // For flush(): a write of outbox_.front() begins / has completed.
  void begin_write() {
    if (!first_write_began_) first_write_began_ = Clock::now();
    writing_ = true;
  }
  void written() {
    queued_bytes_ -= outbox_.front().wire.size();
    if (outbox_.front().pong) pong_pending_ = false;
    outbox_.pop_front();
  }
  // For close(): nothing more goes out.
  void drop_outbox() {
    outbox_.clear();
    queued_bytes_ = 0;
    pong_pending_ = false;
  }

  std::weak_ptr<TransportLayer::Impl> owner_;
  uint64_t id_;
  TransportKind kind_;
  Endpoint remote_;
  std::string peer_key_;
  std::string inbox_;
  StreamFramer framer_;
  std::deque<Queued> outbox_;
  size_t queued_bytes_ = 0;
  bool pong_pending_ = false;
  std::optional<TimePoint> first_write_began_;
  std::array<char, 8192> chunk_{};
  bool ready_ = false;
  bool writing_ = false;
  bool closed_ = false;
  bool accepted_ = false;
  bool delivered_ = false;
  TimePoint created_ = Clock::now();
  TimePoint last_activity_ = created_;
  std::optional<TimePoint> partial_since_;
  std::vector<std::string> flow_keys_;
};

std::string peer_key(TransportKind kind, std::string_view address, uint16_t port);

}  // namespace chorus::sip
