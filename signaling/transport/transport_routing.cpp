#include "signaling/transport/transport_routing.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <string>

namespace chorus::sip {

std::string_view strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool is_ip_literal(std::string_view host) {
  const std::string text(strip_brackets(host));
  unsigned char scratch[16];
  return inet_pton(AF_INET, text.c_str(), scratch) == 1 ||
         inet_pton(AF_INET6, text.c_str(), scratch) == 1;
}

void stamp_via(Message& request, const Endpoint& source) {
  const Via via = request.top_via();
  // Copy what we need before mutating: the views die with the mutation.
  const bool rport = via.has_rport();
  const bool differs = strip_brackets(via.host) != source.address;
  // A received or rport value arriving in the request is the sender's own
  // claim; only what the packet shows may route the response.
  const bool claimed = via.received().has_value() || (rport && via.rport().has_value());
  if (differs || rport || claimed) request.set_top_via_param("received", source.address);
  if (rport) request.set_top_via_param("rport", std::to_string(source.port));
}

Endpoint response_destination(const Via& via, const Endpoint& source) {
  TransportKind via_transport = source.transport;
  parse_transport(via.transport, via_transport);
  const uint16_t sent_by_port = via.port != 0 ? via.port : default_port(via_transport);
  const std::optional<std::string_view> received = via.received();
  Endpoint out;
  out.transport = source.transport;
  if (is_reliable(source.transport)) {
    out.connection = source.connection;
    out.address = std::string(strip_brackets(received ? *received : via.host));
    out.port = sent_by_port;
    return out;
  }
  out.connection = source.connection;  // UDP: the local socket it arrived on
  if (received && via.rport()) {
    out.address = std::string(strip_brackets(*received));
    out.port = *via.rport();
  } else if (received) {
    out.address = std::string(strip_brackets(*received));
    out.port = sent_by_port;
  } else {
    out.address = std::string(strip_brackets(via.host));
    out.port = sent_by_port;
  }
  return out;
}

std::string ws_flow_key(std::string_view host, uint16_t port) {
  std::string key(strip_brackets(host));
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  key += ' ';
  key += std::to_string(port);
  return key;
}

bool requires_tls(const Message& request) {
  if (request.request_uri().is_sips()) return true;
  const std::vector<NameAddr> routes = request.routes();
  return !routes.empty() && routes.front().uri.is_sips();
}

std::string next_hop_host(const Message& request) {
  const std::vector<NameAddr> routes = request.routes();
  const Uri& target = routes.empty() ? request.request_uri() : routes.front().uri;
  return std::string(strip_brackets(target.host));
}

std::optional<Endpoint> request_destination(const Message& request,
                                            TransportKind default_transport) {
  const std::vector<NameAddr> routes = request.routes();
  const Uri& target = routes.empty() ? request.request_uri() : routes.front().uri;
  if (!target.is_sip()) return std::nullopt;
  const bool tls_only = requires_tls(request);
  Endpoint out;
  out.transport = tls_only ? TransportKind::kTls : default_transport;
  if (const auto transport = target.param("transport")) {
    TransportKind kind;
    if (!parse_transport(*transport, kind)) return std::nullopt;
    if (!tls_only) {
      out.transport = kind;
    } else if (is_websocket(kind)) {
      out.transport = TransportKind::kWss;  // RFC 7118 §5.2: sips + ws is WSS
    }
  }
  if (is_websocket(out.transport)) {
    // RFC 7118 §5.2: we never dial a WebSocket client; the host (often an
    // invented .invalid name) and port only name the flow it came in on.
    out.address = std::string(strip_brackets(target.host));
    out.port = target.port;
    return out;
  }
  std::string_view host = target.host;
  if (const auto maddr = target.param("maddr")) host = *maddr;
  if (host == "localhost") host = "127.0.0.1";
  if (!is_ip_literal(host)) return std::nullopt;
  out.address = std::string(strip_brackets(host));
  out.port = target.port != 0 ? target.port : default_port(out.transport);
  return out;
}

}  // namespace chorus::sip
