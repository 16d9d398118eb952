#include "focus/ops/forwarded_for.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <optional>
#include <vector>

namespace chorus::focus {
namespace {

bool is_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && value <= 65535;
}

// The canonical text of one X-Forwarded-For entry's address, or nullopt.
std::optional<std::string> entry_address(std::string_view entry) {
  std::string_view host = entry;
  int family = AF_INET6;
  if (host.starts_with('[')) {
    // "[v6]" or "[v6]:port" (the form a proxy writes an IPv6 peer with a port).
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && is_port(rest.substr(1)))) return std::nullopt;
    host = host.substr(1, close - 1);
  } else if (const size_t colon = host.find(':');
             colon != std::string_view::npos &&
             host.find(':', colon + 1) == std::string_view::npos) {
    // One colon: "192.0.2.1:port" (a bare IPv6 address holds at least two).
    if (!is_port(host.substr(colon + 1))) return std::nullopt;
    host = host.substr(0, colon);
    family = AF_INET;
  } else if (colon == std::string_view::npos) {
    family = AF_INET;
  }
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string text(host);
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(family, text.c_str(), bytes.data()) != 1) return std::nullopt;
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes.data(), out, sizeof out);
  return std::string(out);
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// What a fault message may quote of a client-written entry: printable, short.
std::string shown(std::string_view entry) {
  std::string out;
  for (const char c : entry.substr(0, 64)) out += (c >= ' ' && c < 0x7f && c != '"') ? c : '?';
  if (entry.size() > 64) out += "...";
  return out;
}

}  // namespace

ForwardedClient forwarded_client(std::string_view peer,
                                 std::span<const std::string_view> forwarded_for,
                                 const AddressSet& trusted_proxies) {
  ForwardedClient client{std::string(peer), {}};
  if (forwarded_for.empty() || !trusted_proxies.contains(peer)) return client;
  std::vector<std::string_view> entries;
  for (std::string_view value : forwarded_for) {
    while (true) {
      const size_t comma = value.find(',');
      const std::string_view entry = trimmed(value.substr(0, comma));
      if (!entry.empty()) entries.push_back(entry);
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  std::optional<std::string> leftmost;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    std::optional<std::string> address = entry_address(*it);
    if (!address) {
      client.fault = "X-Forwarded-For entry \"" + shown(*it) +
                     "\" is not an IP address (optionally with a port)";
      return client;
    }
    if (!trusted_proxies.contains(*address)) {
      client.address = std::move(*address);
      return client;
    }
    leftmost = std::move(address);
  }
  // Every hop is a trusted proxy (one on the same network as the client):
  // the first of them received it from the client itself.
  if (leftmost) client.address = std::move(*leftmost);
  return client;
}

}  // namespace chorus::focus
