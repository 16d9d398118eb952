#pragma once

#include <optional>
#include <string_view>

#include "signaling/transport/endpoint.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {

// RFC 3261 §18.2.1 and RFC 3581 §4: on receipt of a request, add
// `received=<source IP>` to the top Via when sent-by differs from the packet's
// source (always when `rport` is present), and fill `rport=<source port>`
// when the client asked for it with an empty `rport`. A `received` or an
// `rport` value the sender wrote itself is overwritten with what the packet
// shows: otherwise a request from the attacker's own address could send
// its responses (and their retransmissions) to any host and port.
void stamp_via(Message& request, const Endpoint& source);

// RFC 3261 §18.2.2 and RFC 3581 §4: where a response goes, from the top Via
// of the response (as stamped on receipt) and where its request came from.
//  - reliable: back on the request's connection (`connection` kept); if that
//    is gone, a new connection to received (or sent-by host) : sent-by port;
//  - received + rport: to received : rport (the NAT binding);
//  - received: to received : sent-by port;
//  - otherwise to sent-by host : port (the packet's own source host).
// A `maddr` is ignored: it names a multicast group in §18.2.2, and honoured
// it would let any request send its responses to a host of its choosing
// (reflection); a conference focus has no multicast peers.
Endpoint response_destination(const Via& top_via, const Endpoint& request_source);

// RFC 7118 §5: a WebSocket client cannot be dialled; it is reached over the
// connection it opened. Requests arriving over WS/WSS register the hosts
// their top Via sent-by and Contact name (`.invalid` names, typically) as
// keys of that flow; this is the key for a host and the port as written (0:
// none), case-folded.
std::string ws_flow_key(std::string_view host, uint16_t port);

// RFC 3261 §8.1.2 / §16.12 (loose routing): the next hop of an outgoing
// request — the first Route URI if any, else the Request-URI; its maddr,
// port and `transport` param. A sips: Request-URI or next hop always means
// TLS, whatever the route's scheme or transport param says (§26.2.2: a SIPS
// request is never downgraded on any hop). Only numeric hosts (and
// "localhost") are resolved: the focus answers and calls back peers by the
// addresses they gave; DNS (RFC 3263) is not done on the signalling thread.
// A `transport=ws`/`wss` target is not resolved at all: the result carries
// its host and port as written (port 0 when none), which the transport
// layer maps to the client's connection (ws_flow_key).
std::optional<Endpoint> request_destination(const Message& request,
                                            TransportKind default_transport);

// True when the request must travel over TLS only (sips: Request-URI or
// next hop, RFC 3261 §26.2.2).
bool requires_tls(const Message& request);
// The host the next hop of `request` must prove in its certificate (RFC
// 5922 §7.1): the first Route's host, else the Request-URI's, brackets
// stripped; empty when there is none.
std::string next_hop_host(const Message& request);

// True when `host` is a numeric IPv4 or IPv6 address (brackets allowed).
bool is_ip_literal(std::string_view host);
// "[::1]" → "::1"; other text unchanged.
std::string_view strip_brackets(std::string_view host);

}  // namespace chorus::sip
