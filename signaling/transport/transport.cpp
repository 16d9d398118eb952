#include "signaling/transport/transport.hpp"

#include <stdexcept>
#include <system_error>

#include "signaling/transaction/transaction_ids.hpp"
#include "signaling/transport/transport_impl.hpp"
#include "signaling/transport/transport_routing.hpp"

namespace chorus::sip {
namespace {

// Receive buffer asked for on every UDP listener. The kernel default
// (net.core.rmem_default, 208 KiB) holds only about 90 small datagrams on
// loopback (each costs its skb's truesize, not its length): a burst of
// INVITEs with their ACKs and BYEs while the signalling thread is busy
// overflowed it (bench/storm: hundreds of drops per 500-INVITE storm). A lost
// INVITE or BYE is retransmitted, but a lost ACK for a 2xx is not (RFC 3261
// §13.2.2.4: the UAC only re-ACKs a retransmitted 2xx), so the call hung on
// until the 2xx retransmissions timed out. The kernel caps the value at
// net.core.rmem_max.
constexpr int kUdpReceiveBuffer = 4 * 1024 * 1024;

Endpoint to_endpoint(TransportKind kind, const asio::ip::address& address, uint16_t port,
                     uint64_t connection) {
  return Endpoint{kind, address.to_string(), port, connection};
}

}  // namespace

std::string peer_key(TransportKind kind, std::string_view address, uint16_t port) {
  return Endpoint{kind, std::string(address), port, 0}.to_string();
}

TransportLayer::Impl::Impl(asio::io_context& io_context, TransportConfig cfg)
    : io(io_context), config(std::move(cfg)), reaper(io_context) {}

TransportLayer::TransportLayer(asio::io_context& io, TransportConfig config)
    : impl_(std::make_shared<Impl>(io, std::move(config))) {}

TransportLayer::~TransportLayer() {
  close();
}

void TransportLayer::set_handler(MessageHandler handler) {
  impl_->handler = std::move(handler);
}

Endpoint TransportLayer::listen(TransportKind transport, std::string_view address, uint16_t port) {
  Impl& impl = *impl_;
  const asio::ip::address ip = asio::ip::make_address(std::string(address));
  if (transport == TransportKind::kUdp) {
    auto listener = std::make_unique<Impl::UdpListener>(impl.io, impl.udp_listeners.size() + 1);
    const udp::endpoint local(ip, port);
    listener->socket.open(local.protocol());
    boost::system::error_code ignored;  // a smaller buffer still works
    listener->socket.set_option(udp::socket::receive_buffer_size(kUdpReceiveBuffer), ignored);
    listener->socket.bind(local);
    const udp::endpoint bound = listener->socket.local_endpoint();
    listener->local = to_endpoint(transport, bound.address(), bound.port(), listener->id);
    Impl::UdpListener& ref = *listener;
    impl.udp_listeners.push_back(std::move(listener));
    impl.receive_udp(ref);
    return ref.local;
  }
  if (transport == TransportKind::kWss && !impl.wss_server) impl.make_wss_context();
  if (transport == TransportKind::kTls && !impl.tls_server) {
    if (impl.config.tls_certificate_file.empty() || impl.config.tls_private_key_file.empty()) {
      throw std::runtime_error("TLS listener needs a certificate and a private key");
    }
    auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1);
    context->use_certificate_chain_file(impl.config.tls_certificate_file);
    context->use_private_key_file(impl.config.tls_private_key_file, asio::ssl::context::pem);
    impl.tls_server = std::move(context);
  }
  auto listener = std::make_unique<Impl::StreamListener>(impl.io);
  const tcp::endpoint local(ip, port);
  listener->acceptor.open(local.protocol());
  listener->acceptor.set_option(tcp::acceptor::reuse_address(true));
  listener->acceptor.bind(local);
  listener->acceptor.listen();
  const tcp::endpoint bound = listener->acceptor.local_endpoint();
  listener->local = to_endpoint(transport, bound.address(), bound.port(), 0);
  Impl::StreamListener& ref = *listener;
  impl.listeners_of(transport).push_back(std::move(listener));
  impl.accept(ref, transport);
  impl.arm_reaper();
  return ref.local;
}

std::optional<Endpoint> TransportLayer::local_endpoint(TransportKind transport) const {
  if (transport == TransportKind::kUdp) {
    if (!impl_->udp_listeners.empty()) return impl_->udp_listeners.front()->local;
    return std::nullopt;
  }
  const auto& listeners = impl_->listeners_of(transport);
  if (!listeners.empty()) return listeners.front()->local;
  return std::nullopt;
}

bool TransportLayer::send_request(const Message& request, const Endpoint& destination) {
  if (!is_secure(destination.transport) && requires_tls(request)) {
    // RFC 3261 §26.2.2: whoever picked this destination, a sips: request
    // never leaves over UDP, TCP or WS.
    ++impl_->counters.sips_refused;
    ++impl_->counters.send_errors;
    return false;
  }
  if (!send_raw(destination, request.serialize(), next_hop_host(request))) return false;
  ++impl_->counters.requests_sent;
  return true;
}

bool TransportLayer::send_response(const Message& response, const Endpoint& request_source) {
  const Via via = response.top_via();
  const Endpoint destination = response_destination(via, request_source);
  if (!send_raw(destination, response.serialize(), strip_brackets(via.host))) return false;
  const int klass = response.status() / 100;
  if (klass >= 1 && klass <= 6) ++impl_->counters.responses_sent_by_class[klass];
  return true;
}

bool TransportLayer::send_raw(const Endpoint& destination, std::string wire,
                              std::string_view server_name) {
  Impl& impl = *impl_;
  if (impl.closed || wire.size() > kMaxMessageSize) {
    ++impl.counters.send_errors;
    return false;
  }
  const bool ok = destination.transport == TransportKind::kUdp
                      ? impl.send_udp(destination, wire)
                      : impl.send_stream(destination, std::move(wire), server_name);
  if (!ok) ++impl.counters.send_errors;
  return ok;
}

void TransportLayer::inject(std::string_view wire, const Endpoint& source) {
  if (!impl_->closed) impl_->deliver(wire, source);
}

void TransportLayer::close() {
  Impl& impl = *impl_;
  if (impl.closed) return;
  impl.closed = true;
  boost::system::error_code ignored;
  for (auto& listener : impl.udp_listeners) listener->socket.close(ignored);
  for (auto& listener : impl.tcp_listeners) listener->acceptor.close(ignored);
  for (auto& listener : impl.tls_listeners) listener->acceptor.close(ignored);
  for (auto& listener : impl.ws_listeners) listener->acceptor.close(ignored);
  for (auto& listener : impl.wss_listeners) listener->acceptor.close(ignored);
  impl.reaper.cancel();
  impl.close_all();
}

const TransportCounters& TransportLayer::counters() const {
  return impl_->counters;
}

size_t TransportLayer::connection_count() const {
  return impl_->connections.size();
}

size_t TransportLayer::queued_bytes() const {
  size_t total = 0;
  for (const auto& [id, connection] : impl_->connections) total += connection->queued_bytes();
  return total;
}

// ---- UDP (RFC 3261 §18.1.1 / §18.2.1): one datagram is one message.

void TransportLayer::Impl::receive_udp(UdpListener& listener) {
  std::weak_ptr<Impl> weak = weak_from_this();
  listener.socket.async_receive_from(
      asio::buffer(listener.buffer), listener.sender,
      [weak, &listener](const boost::system::error_code& error, size_t size) {
        const std::shared_ptr<Impl> self = weak.lock();
        if (!self || self->closed || error == asio::error::operation_aborted) return;
        if (!error) {
          const Endpoint source = to_endpoint(TransportKind::kUdp, listener.sender.address(),
                                              listener.sender.port(), listener.id);
          self->deliver(std::string_view(listener.buffer.data(), size), source);
        }
        // ICMP errors (connection_refused on Linux) are per-datagram: keep going.
        if (!self->closed) self->receive_udp(listener);
      });
}

bool TransportLayer::Impl::send_udp(const Endpoint& destination, const std::string& wire) {
  boost::system::error_code error;
  const asio::ip::address address = asio::ip::make_address(destination.address, error);
  if (error) return false;
  UdpListener* from = nullptr;
  // Answer from the socket the request came in on; else any of the right family.
  if (destination.connection >= 1 && destination.connection <= udp_listeners.size()) {
    from = udp_listeners[destination.connection - 1].get();
    if (from->local.address.find(':') != std::string::npos) {
      if (!address.is_v6()) from = nullptr;
    } else if (!address.is_v4()) {
      from = nullptr;
    }
  }
  for (size_t i = 0; from == nullptr && i < udp_listeners.size(); ++i) {
    const bool v6 = udp_listeners[i]->local.address.find(':') != std::string::npos;
    if (v6 == address.is_v6()) from = udp_listeners[i].get();
  }
  if (from == nullptr) return false;
  from->socket.send_to(asio::buffer(wire), udp::endpoint(address, destination.port), 0, error);
  if (error) return false;
  count_sent(wire.size());
  return true;
}

void TransportLayer::Impl::count_sent(size_t bytes) {
  ++counters.messages_sent;
  counters.bytes_sent += bytes;
}

bool TransportLayer::Impl::deliver(std::string_view wire, const Endpoint& source) {
  ++counters.messages_received;
  counters.bytes_received += wire.size();
  if (wire.size() > kMaxMessageSize) {
    ++counters.oversized;
    // Too large to trust even its headers: RFC 3261 §18.1.1 lets UDP drop it.
    ++counters.parse_drops;
    return false;
  }
  Result<Message> parsed = Message::parse(wire);
  if (!parsed.ok()) {
    const ParseError& fault = parsed.error();
    if (fault.status == 513) ++counters.oversized;
    std::optional<std::string> answer;
    if (fault.answerable) answer = build_error_response(wire, fault, make_tag());
    if (!answer) {
      ++counters.parse_drops;
      return false;
    }
    // The Via may be what is broken: answer to where the bytes came from.
    Endpoint back = source;
    const bool sent = source.transport == TransportKind::kUdp ? send_udp(back, *answer)
                                                              : send_stream(back, *answer);
    if (sent) {
      ++counters.parse_errors_answered;
      ++counters.responses_sent_by_class[fault.status / 100 <= 6 ? fault.status / 100 : 0];
    } else {
      ++counters.send_errors;
    }
    return false;
  }
  Message message = std::move(parsed).value();
  if (message.is_request()) {
    ++counters.requests_received;
    if (is_websocket(source.transport)) note_ws_flow(message, source);
    stamp_via(message, source);
  } else {
    ++counters.responses_received;
  }
  if (handler) handler(std::move(message), source);
  return true;
}

}  // namespace chorus::sip
