#include "signaling/transport/endpoint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
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

std::string source_key(std::string_view address) {
  std::string_view bare = address;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  bare = bare.substr(0, bare.find('%'));
  if (bare.find(':') == std::string_view::npos || bare.size() >= INET6_ADDRSTRLEN) {
    return std::string(address);
  }
  const std::string text(bare);
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) != 1) return std::string(address);
  char out[INET6_ADDRSTRLEN] = {};
  constexpr std::array<unsigned char, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped.begin(), kMapped.end(), bytes.begin())) {
    inet_ntop(AF_INET, bytes.data() + 12, out, sizeof out);
    return out;
  }
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  inet_ntop(AF_INET6, bytes.data(), out, sizeof out);
  return std::string(out) + "/64";
}

}  // namespace chorus::sip
