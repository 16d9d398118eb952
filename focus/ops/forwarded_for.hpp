#pragma once
// The client of an admin (HTTP) request behind reverse proxies: the address
// every per-source rule of the admin listener keys on (failed-login lockout,
// the abuse log line, the loopback client's open /metrics).
//
// X-Forwarded-For is a de facto header (no RFC; RFC 7239 §5.2's `for` is
// its standard cousin): each proxy appends the address it received the
// request from, so only the entries our own trusted proxies appended can be
// believed; everything left of them is what the client wrote.

#include <span>
#include <string>
#include <string_view>

#include "focus/ops/limits.hpp"

namespace chorus::focus {

struct ForwardedClient {
  // The client's address (canonical text, no brackets or port): the peer
  // when it is no trusted proxy, when no X-Forwarded-For came, or when a
  // header is malformed.
  std::string address;
  // Non-empty: an X-Forwarded-For entry we had to read is not an address;
  // says which (the request is answered 400 with it).
  std::string fault;
};

// `peer`: the TCP peer's address. `forwarded_for`: the value of each
// X-Forwarded-For header in the order received (together one comma-separated
// list, RFC 9110 §5.3). Only when `peer` is in `trusted_proxies` is the list
// read at all: from the right, skipping entries that are trusted proxies
// themselves; the first other one is the client; when every entry is trusted,
// the leftmost. Empty list elements are skipped (RFC 9110 §5.6.1). An entry
// is an IPv4 or IPv6 address, optionally "192.0.2.1:port" or "[2001:db8::1]"
// with an optional ":port"; anything else read on the way is a fault. Entries
// left of the client are not read: they are the client's own words.
ForwardedClient forwarded_client(std::string_view peer,
                                 std::span<const std::string_view> forwarded_for,
                                 const AddressSet& trusted_proxies);

}  // namespace chorus::focus
