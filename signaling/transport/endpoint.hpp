#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chorus::sip {

// The transport protocols of RFC 3261 §18 we speak.
enum class TransportKind : uint8_t { kUdp, kTcp, kTls };

std::string_view transport_name(TransportKind kind);  // "UDP", "TCP", "TLS" (Via form)
// Accepts the Via / ;transport= spellings, case-insensitively ("udp", "TCP", ...).
bool parse_transport(std::string_view text, TransportKind& out);
inline bool is_reliable(TransportKind kind) {
  return kind != TransportKind::kUdp;
}
// Default port of a transport (RFC 3261 §19.1.2): 5061 for TLS, 5060 otherwise.
inline uint16_t default_port(TransportKind kind) {
  return kind == TransportKind::kTls ? 5061 : 5060;
}

// Where a message came from or goes to. `address` is a numeric IP in text form.
// `connection` says which local transport object carried it (0: none/any):
// for TCP/TLS the connection a message arrived on, so a response goes back on
// it (RFC 3261 §18.2.2); for UDP the listening socket (1-based), so we answer
// from the address the peer sent to.
struct Endpoint {
  TransportKind transport = TransportKind::kUdp;
  std::string address;
  uint16_t port = 0;
  uint64_t connection = 0;

  std::string to_string() const;  // "UDP 127.0.0.1:5060"
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

}  // namespace chorus::sip
