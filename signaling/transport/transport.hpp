#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/asio.hpp"
#include "signaling/transport/endpoint.hpp"
#include "signaling/message/message.hpp"
#include "signaling/transaction/timer.hpp"

namespace chorus::sip {

struct TransportConfig {
  // Stream connections (TCP, TLS) are bounded in time and number, so a peer
  // that opens connections and sends nothing, or half a message, holds
  // nothing for long (RFC 3261 §18.3 leaves these numbers to us).
  // A connection not ready within this (TLS: the handshake; ours: connect
  // and handshake) is closed. So is one a peer opened (TCP, TLS, WS, WSS)
  // that has not delivered a complete, parseable SIP message by then, its
  // TLS or WebSocket handshake included: otherwise a connection that never
  // speaks SIP, or only sends CRLF keep-alives (which are traffic, not
  // messages), would hold its slot for ever.
  Duration handshake_timeout{std::chrono::seconds(10)};
  // No traffic for this long: closed (both the ones peers opened and ours).
  Duration idle_timeout{std::chrono::minutes(5)};
  // A message whose first byte arrived this long ago and is still not
  // complete closes its connection (a slow sender cannot keep it open by
  // trickling bytes).
  Duration message_timeout{std::chrono::seconds(30)};
  // Refuse connections peers open beyond this many (counted).
  size_t max_connections = 4096;
  // Our own connections (requests, responses and NOTIFYs toward a TCP or TLS
  // peer we are not connected to) are counted apart, up to this many: peers
  // holding every inbound slot cannot keep the focus from reaching anyone,
  // and our sends never take a slot from a peer. At most max_connections +
  // max_outgoing_connections stream connections exist at once.
  size_t max_outgoing_connections = 4096;
  // Refuse connections from an address that already holds this many.
  size_t max_connections_per_source = 64;
  // Bytes queued toward one connection that is not taking them (a peer that
  // stopped reading): one more message closes it. So does a byte still
  // unwritten message_timeout after it was queued (a peer reading a trickle
  // that never catches up), though every single write completes.
  size_t max_queued_bytes = 1 << 20;
  // TLS (RFC 3261 §26.2.1): PEM files; both needed for a TLS listener.
  std::string tls_certificate_file;
  std::string tls_private_key_file;
  // Outgoing TLS: the peer's certificate chain must verify against
  // tls_ca_file (PEM; empty: the system's trust store) and name the target
  // host in its subjectAltName (RFC 5922 §7.1; no wildcards, §7.2). Off only
  // when tls_verify_peer is set false.
  bool tls_verify_peer = true;
  std::string tls_ca_file;
  // SIP over WebSocket (RFC 7118). WSS listeners use these PEM files, or
  // the TLS ones above when these are empty (a browser must trust the
  // certificate, so it is often a different one from SIP TLS's).
  std::string wss_certificate_file;
  std::string wss_private_key_file;
  // Origins (RFC 6454 serialisation, "https://host[:port]", compared
  // case-insensitively) whose pages may open a WS/WSS connection; "*" allows
  // every origin. A handshake carrying an Origin not listed is refused with
  // 403, so an empty list admits no browser page; a handshake without Origin
  // (a non-browser client) is always admitted (RFC 6455 §10.2).
  std::vector<std::string> ws_allowed_origins;
};

// Monotonic counters, exposed for metrics.
struct TransportCounters {
  uint64_t messages_received = 0;
  uint64_t bytes_received = 0;
  uint64_t requests_received = 0;
  uint64_t responses_received = 0;
  uint64_t messages_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t requests_sent = 0;
  std::array<uint64_t, 7> responses_sent_by_class{};  // [1] = 1xx ... [6] = 6xx
  uint64_t parse_errors_answered = 0;                 // malformed requests answered 400/505/513 ...
  uint64_t parse_drops = 0;                           // malformed input nobody can be told about
  uint64_t oversized = 0;                             // over kMaxMessageSize
  uint64_t framing_errors = 0;                        // streams closed on bad framing (§18.3)
  uint64_t send_errors = 0;
  uint64_t connections_accepted = 0;
  uint64_t connections_opened = 0;
  uint64_t connections_refused = 0;           // max_connections reached
  uint64_t connections_refused_source = 0;    // max_connections_per_source reached
  uint64_t connections_refused_outgoing = 0;  // max_outgoing_connections reached
  uint64_t connections_closed_idle = 0;
  uint64_t connections_closed_handshake = 0;      // not ready within handshake_timeout
  uint64_t connections_closed_first_message = 0;  // a peer's: no SIP message by then either
  uint64_t connections_closed_partial = 0;    // a message not complete within message_timeout
  uint64_t connections_closed_backlog = 0;    // max_queued_bytes waiting toward the peer
  uint64_t connections_closed_stalled = 0;    // a byte queued message_timeout ago, unwritten
  uint64_t tls_handshakes_failed = 0;         // incl. peer certificates we refused
  uint64_t sips_refused = 0;                  // sips: request not over TLS (RFC 3261 §26.2.2)
  uint64_t ws_handshakes_refused = 0;  // not an upgrade, no `sip` subprotocol, Origin refused
  uint64_t ws_messages_too_big = 0;    // closed with 1009: a message over kMaxMessageSize
  uint64_t ws_no_flow = 0;             // a request toward a WS client whose connection is gone
};

// UDP, TCP and TLS transports of RFC 3261 §18 and SIP over WebSocket (RFC
// 7118, WS and WSS listeners only) on one io_context (the signalling
// thread). Parses what arrives (UDP: one datagram = one message; TCP/TLS:
// framed by Content-Length; WS: one WebSocket message = one SIP message),
// answers or drops what does not parse,
// stamps Via received/rport on requests, and hands every message to the
// handler with where it came from. Sends requests to an Endpoint and routes
// responses per §18.2.2. Outgoing stream connections are reused per peer.
class TransportLayer {
 public:
  using MessageHandler = std::function<void(Message message, const Endpoint& source)>;

  TransportLayer(boost::asio::io_context& io, TransportConfig config = {});
  ~TransportLayer();
  TransportLayer(const TransportLayer&) = delete;
  TransportLayer& operator=(const TransportLayer&) = delete;

  void set_handler(MessageHandler handler);

  // Binds a listener (port 0: an ephemeral port) and returns its local
  // endpoint. Throws std::system_error when the address cannot be bound, or
  // std::runtime_error for TLS/WSS without certificate/key — start-up errors.
  Endpoint listen(TransportKind transport, std::string_view address, uint16_t port);

  // The first listener of that transport (for Via sent-by and Contact).
  std::optional<Endpoint> local_endpoint(TransportKind transport) const;

  // False if the message cannot be handed to the network right now (bad
  // address, no listener of that transport, connection limit, a sips:
  // Request-URI toward a transport other than TLS/WSS, a WebSocket client
  // whose connection is gone: WS/WSS is never dialled). Stream sends
  // are queued; a connection that fails later drops its queue (counted).
  bool send_request(const Message& request, const Endpoint& destination);
  bool send_response(const Message& response, const Endpoint& request_source);
  // `server_name`: the host a new TLS connection must prove (empty: the
  // destination's address).
  bool send_raw(const Endpoint& destination, std::string wire, std::string_view server_name = {});

  // RFC 7118 §5: toward a WebSocket client (transport=ws/wss), finds the
  // connection it came in on and writes it into `destination` with its
  // actual transport (a ws URI may be reached over WSS). False, leaving it
  // unchanged, when there is none (the send will then fail).
  bool pin_flow(Endpoint& destination) const;

  // A complete message as if it had arrived from `source` (fuzzers and
  // tests drive the whole stack without sockets this way).
  void inject(std::string_view wire, const Endpoint& source);

  // Closes every listener and connection; pending handlers complete with
  // operation_aborted.
  void close();

  const TransportCounters& counters() const;
  size_t connection_count() const;
  // Bytes queued toward all stream connections and not yet written.
  size_t queued_bytes() const;

  struct Impl;  // internal (transport_impl.hpp)

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace chorus::sip
