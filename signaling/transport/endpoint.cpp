#include "signaling/transport/endpoint.hpp"

#include <cctype>

namespace chorus::sip {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view transport_name(TransportKind kind) {
  switch (kind) {
    case TransportKind::kUdp:
      return "UDP";
    case TransportKind::kTcp:
      return "TCP";
    case TransportKind::kTls:
      return "TLS";
    case TransportKind::kWs:
      return "WS";
    case TransportKind::kWss:
      return "WSS";
  }
  return "UDP";
}

bool parse_transport(std::string_view text, TransportKind& out) {
  if (iequals(text, "udp")) {
    out = TransportKind::kUdp;
  } else if (iequals(text, "tcp")) {
    out = TransportKind::kTcp;
  } else if (iequals(text, "tls")) {
    out = TransportKind::kTls;
  } else if (iequals(text, "ws")) {
    out = TransportKind::kWs;
  } else if (iequals(text, "wss")) {
    out = TransportKind::kWss;
  } else {
    return false;
  }
  return true;
}

std::string Endpoint::to_string() const {
  std::string out(transport_name(transport));
  out += ' ';
  const bool v6 = address.find(':') != std::string::npos;
  if (v6) out += '[';
  out += address;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace chorus::sip
