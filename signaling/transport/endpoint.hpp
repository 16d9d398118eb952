#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chorus::sip {

// The transport protocols of RFC 3261 §18 we speak, and SIP over WebSocket
// (RFC 7118: WS plain, WSS over TLS).
enum class TransportKind : uint8_t { kUdp, kTcp, kTls, kWs, kWss };

// "UDP", "TCP", "TLS", "WS", "WSS" (Via form).
std::string_view transport_name(TransportKind kind);
// Accepts the Via / ;transport= spellings, case-insensitively ("udp", "TCP",
// "ws", "wss", ...).
bool parse_transport(std::string_view text, TransportKind& out);
inline bool is_reliable(TransportKind kind) {
  return kind != TransportKind::kUdp;
}
inline bool is_websocket(TransportKind kind) {
  return kind == TransportKind::kWs || kind == TransportKind::kWss;
}
// True for the transports that run over TLS (RFC 3261 §26.2.2 lets a sips:
// request travel over these only).
inline bool is_secure(TransportKind kind) {
  return kind == TransportKind::kTls || kind == TransportKind::kWss;
}
// Default port of a transport (RFC 3261 §19.1.2): 5061 for TLS, 5060
// otherwise; WebSocket uses HTTP's (RFC 7118 §5.2 via RFC 6455 §3: 80, 443).
inline uint16_t default_port(TransportKind kind) {
  switch (kind) {
    case TransportKind::kTls:
      return 5061;
    case TransportKind::kWs:
      return 80;
    case TransportKind::kWss:
      return 443;
    default:
      return 5060;
  }
}

// Where a message came from or goes to. `address` is a numeric IP in text
// form, except toward a WebSocket client: there it may be the host its Via or
// Contact named (often an RFC 7118 §5.2 `.invalid` name), which only selects
// the connection that client came in on.
// `connection` says which local transport object carried it (0: none/any):
// for TCP/TLS/WS/WSS the connection a message arrived on, so a response goes
// back on it (RFC 3261 §18.2.2); for UDP the listening socket (1-based), so we answer
// from the address the peer sent to.
struct Endpoint {
  TransportKind transport = TransportKind::kUdp;
  std::string address;
  uint16_t port = 0;
  uint64_t connection = 0;

  std::string to_string() const;  // "UDP 127.0.0.1:5060"
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The party a per-source limit counts an address under. One IPv6 subscriber
// holds a whole /64 (RFC 6177) and can send from any address in it, so an
// IPv6 address counts as its /64 ("2001:db8:1:2::/64"); an IPv4-mapped one
// ("::ffff:192.0.2.1") as the IPv4 address; an IPv4 address, and text that
// is no IP address (an "account:<user>" key, a WebSocket host name), as
// itself. Brackets and a zone ("fe80::1%eth0") are ignored.
std::string source_key(std::string_view address);

}  // namespace chorus::sip
