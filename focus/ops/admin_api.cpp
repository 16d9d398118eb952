#include "focus/ops/admin_api.hpp"

#include "focus/events/conference_info.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "focus/ops/admin_console.hpp"
#include "focus/ops/admin_json.hpp"
#include "signaling/secure_random.hpp"

namespace chorus::focus {
namespace {

using nlohmann::json;

constexpr size_t kMaxUriLength = 1024;

std::string dump(const json& value) {
  // Names and URIs come from SIP peers and may hold invalid UTF-8: replace
  // rather than throw.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

AdminResponse json_ok(int status, const json& value) {
  AdminResponse response;
  response.status = status;
  response.body = dump(value);
  return response;
}

AdminResponse method_not_allowed(std::string_view allow) {
  AdminResponse response = json_error(405, "method not allowed");
  response.allow = std::string(allow);
  return response;
}

AdminResponse from_result(const ControlResult& result) {
  if (!result.ok()) {
    return json_error(result.status, result.message.empty() ? "failed" : result.message);
  }
  return json_ok(result.status, json{{"ok", true}, {"message", result.message}});
}

std::optional<json> parse_object(std::string_view body) {
  json value = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

std::optional<uint64_t> parse_id(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) return std::nullopt;
  return value;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.1 percent-decoding; `plus_is_space` for form-style queries.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_digit(text[i + 1]);
      const int lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

using H = AdminHandler;
using O = Operation;
constexpr std::array<AdminRoute, 20> kRoutes = {{
    {"GET", "/api/rooms", O::kAdminView, H::kRooms},
    {"GET", "/api/rooms/{room}", O::kAdminView, H::kRoom},
    {"GET", "/api/events", O::kAdminView, H::kEvents},
    {"POST", "/api/events/ticket", O::kAdminView, H::kEventTicket},
    {"POST", "/api/rooms/{room}/dial", O::kAdminDial, H::kDial},
    {"POST", "/api/rooms/{room}/members/{id}/mute", O::kAdminMute, H::kMute},
    {"POST", "/api/rooms/{room}/members/{id}/kick", O::kAdminKick, H::kKick},
    {"POST", "/api/rooms/{room}/members/{id}/role", O::kAdminRole, H::kRole},
    {"POST", "/api/rooms/{room}/members/{id}/hold", O::kAdminHold, H::kHold},
    {"POST", "/api/rooms/{room}/members/{id}/admit", O::kAdminAdmit, H::kAdmit},
    {"POST", "/api/rooms/{room}/members/{id}/refuse", O::kAdminAdmit, H::kRefuse},
    {"POST", "/api/rooms/{room}/members/{id}/pickup", O::kAdminPickup, H::kPickup},
    {"POST", "/api/rooms/{room}/recording", O::kAdminRecord, H::kRecording},
    {"POST", "/api/rooms/{room}/members/{id}/move", O::kAdminMove, H::kMove},
    {"POST", "/api/rooms/{room}/merge", O::kAdminMerge, H::kMerge},
    {"POST", "/api/rooms/{room}/split", O::kAdminSplit, H::kSplit},
    {"POST", "/api/rooms/{room}/sidebars", O::kAdminSidebar, H::kSidebarCreate},
    {"DELETE", "/api/rooms/{room}/sidebars/{sidebar}", O::kAdminSidebar, H::kSidebarDissolve},
    {"PUT", "/api/rooms/{room}/sidebars/{sidebar}/members/{id}", O::kAdminSidebar,
     H::kSidebarMemberPut},
    {"DELETE", "/api/rooms/{room}/sidebars/{sidebar}/members/{id}", O::kAdminSidebar,
     H::kSidebarMemberDelete},
}};

// The route's segments match `segments` ({name} matches any one).
bool path_matches(std::string_view pattern, const std::vector<std::string>& segments) {
  const std::optional<std::vector<std::string>> parts = split_path(pattern);
  if (!parts || parts->size() != segments.size()) return false;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& part = (*parts)[i];
    if (!(part.starts_with('{') && part.ends_with('}')) && part != segments[i]) return false;
  }
  return true;
}

struct RouteMatch {
  const AdminRoute* route = nullptr;
  std::string allow;  // methods of routes matching the path, for a 405
};

RouteMatch match_route(std::string_view method, const std::vector<std::string>& segments) {
  RouteMatch match;
  const bool get = method == "GET" || method == "HEAD";
  for (const AdminRoute& route : kRoutes) {
    if (!path_matches(route.path, segments)) continue;
    if (route.method == method || (get && route.method == "GET")) {
      match.route = &route;
      return match;
    }
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += route.method == "GET" ? "GET, HEAD" : std::string(route.method);
  }
  return match;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The host of a Host header value "name[:port]" or "[v6]:port"; `literal`
// tells an IP literal.
std::string_view host_of(std::string_view host, bool& literal) {
  literal = false;
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    literal = close != std::string_view::npos;
    return host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
  }
  const size_t colon = host.find(':');
  host = host.substr(0, colon);
  // IPv4 literal: digits and dots only (a name must hold a letter in its
  // last label, RFC 1123 §2.1).
  literal = !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
  return host;
}

// The host of a browser's Origin header, RFC 6454 §6.2's serialization
// `scheme "://" host [ ":" port ]` (a name, an IPv4 address, or an IPv6
// address in brackets, kept with them); nullopt for "null" (an opaque
// origin) and anything else: a path, user info, an empty or bad port.
std::optional<std::string_view> origin_host(std::string_view origin) {
  const size_t separator = origin.find("://");
  if (separator == std::string_view::npos || separator == 0) return std::nullopt;
  // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  const std::string_view scheme = origin.substr(0, separator);
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!alpha(scheme.front())) return std::nullopt;
  for (const char c : scheme) {
    if (!alpha(c) && !digit(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  std::string_view rest = origin.substr(separator + 3);
  std::string_view host;
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = rest.substr(0, close + 1);
    const std::string address(host.substr(1, host.size() - 2));
    in6_addr parsed{};
    if (inet_pton(AF_INET6, address.c_str(), &parsed) != 1) return std::nullopt;
  } else {
    host = rest.substr(0, rest.find(':'));
    if (host.empty()) return std::nullopt;
    for (const char c : host) {
      if (!alpha(c) && !digit(c) && c != '-' && c != '.' && c != '_') return std::nullopt;
    }
  }
  rest.remove_prefix(host.size());
  if (rest.empty()) return host;
  if (rest.front() != ':') return std::nullopt;
  const std::string_view port = rest.substr(1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  return host;
}

// A host name without the trailing dot of a fully qualified one.
std::string_view without_root(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  return name;
}

// The IPv6 address of a bracketed host "[…]", else nullopt.
std::optional<in6_addr> ipv6_of(std::string_view host) {
  if (host.size() < 2 || host.front() != '[' || host.back() != ']') return std::nullopt;
  const std::string address(host.substr(1, host.size() - 2));
  in6_addr parsed{};
  if (inet_pton(AF_INET6, address.c_str(), &parsed) != 1) return std::nullopt;
  return parsed;
}

// Two hosts name the same server: names case-insensitively, IPv6 addresses
// by value ([::1] and [0::1] are one).
bool same_host(std::string_view a, std::string_view b) {
  const std::optional<in6_addr> a6 = ipv6_of(a);
  const std::optional<in6_addr> b6 = ipv6_of(b);
  if (a6 || b6) return a6 && b6 && std::memcmp(a6->s6_addr, b6->s6_addr, 16) == 0;
  return iequal(without_root(a), without_root(b));
}

// "localhost", 127.0.0.0/8, [::1] or [::ffff:127.x.y.z]: a page on this
// host, which already reaches the listener (it listens on loopback, or a
// proxy on the host forwards to it).
bool loopback_host(std::string_view host) {
  if (iequal(without_root(host), "localhost")) return true;
  if (const std::optional<in6_addr> v6 = ipv6_of(host)) {
    static constexpr unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(v6->s6_addr, kLoopback, 16) == 0 ||
           (std::memcmp(v6->s6_addr, kMapped, 12) == 0 && v6->s6_addr[12] == 127);
  }
  const std::string address(host);
  in_addr v4{};
  return inet_pton(AF_INET, address.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

// A client address (no brackets) on this host: 127.0.0.0/8, ::1, ::ffff:127.x.y.z.
bool loopback_address(std::string_view address) {
  if (address.find(':') != std::string_view::npos) {
    return loopback_host("[" + std::string(address) + "]");
  }
  const std::string text(address);
  in_addr v4{};
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

bool state_changing(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "DELETE" || method == "PATCH";
}

bool has_control_characters(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

AdminResponse json_error(int status, std::string_view message) {
  AdminResponse response;
  response.status = status;
  response.body = dump(json{{"error", message}});
  return response;
}

std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> segments;
  if (path.empty() || path.front() != '/') return std::nullopt;
  path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return segments;
  while (true) {
    const size_t slash = path.find('/');
    const std::string_view raw = path.substr(0, slash);
    if (raw.empty()) return std::nullopt;
    std::optional<std::string> decoded = percent_decode(raw, false);
    if (!decoded || decoded->empty()) return std::nullopt;
    segments.push_back(std::move(*decoded));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      if (eq == std::string_view::npos) return std::string();
      return percent_decode(pair.substr(eq + 1), true);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::span<const AdminRoute> admin_routes() {
  return kRoutes;
}

AdminApi::AdminApi(Control& control, MetricsSource metrics, AdminConfig config)
    : control_(control),
      metrics_(std::move(metrics)),
      config_(std::move(config)),
      trusted_proxies_(config_.trusted_proxies) {}

ForwardedClient AdminApi::client_of(std::string_view peer,
                                    std::span<const std::string_view> forwarded_for) const {
  return forwarded_client(peer, forwarded_for, trusted_proxies_);
}

bool AdminApi::token_matches(std::string_view presented) const {
  const std::string& expected = config_.token;
  if (expected.empty() || presented.size() != expected.size()) return false;
  // Compare every byte so the time taken does not reveal a matching prefix.
  unsigned char diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>(expected[i] ^ presented[i]);
  }
  return diff == 0;
}

namespace {

// The token of a Bearer Authorization value (possibly empty), or nullopt for
// another scheme.
std::optional<std::string_view> bearer_token(std::string_view authorization) {
  // RFC 6750 §2.1: "Bearer" is case-insensitive (RFC 7235 §2.1 auth-scheme).
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = authorization[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != kScheme[i]) return std::nullopt;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

}  // namespace

AdminApi::TokenCheck AdminApi::check_token(std::string_view authorization, std::string_view source,
                                           const std::optional<std::string>& query_token) {
  std::optional<std::string_view> presented = bearer_token(authorization);
  if (!presented && query_token) presented = *query_token;
  if (!presented) return TokenCheck::kAbsent;
  // A wrong token counts toward the source's lockout; the right one is let
  // in even from a locked source (Control::count_token_attempt says why).
  const bool right = token_matches(*presented);
  control_.count_token_attempt(source, right);
  return right ? TokenCheck::kRight : TokenCheck::kRefused;
}

bool AdminApi::is_event_stream(std::string_view target) {
  return split_target(target).first == "/api/events";
}

int AdminApi::event_stream_refusal(std::string_view authorization, std::string_view target,
                                   std::string_view source, std::chrono::milliseconds* delay,
                                   bool* stale, std::string* account) {
  if (delay != nullptr) *delay = std::chrono::milliseconds(0);
  if (stale != nullptr) *stale = false;
  if (account != nullptr) account->clear();
  const std::string_view query = split_target(target).second;
  if (const std::optional<std::string> ticket = query_param(query, "ticket")) {
    const std::optional<std::string> holder = redeem_event_ticket(*ticket);
    if (!holder) return 401;
    // The account may have lost the right since it asked.
    if (!holder->empty() && !control_.account_holds(*holder, Operation::kAdminView)) return 403;
    if (account != nullptr) *account = *holder;
    return 0;
  }
  const TokenCheck token = check_token(authorization, source, query_param(query, "token"));
  if (token == TokenCheck::kRight) return 0;
  if (token == TokenCheck::kRefused) return 401;
  const AccountCheck check =
      control_.check_account(authorization, "GET", target, Operation::kAdminView, source);
  if (delay != nullptr) *delay = check.delay;
  if (stale != nullptr) *stale = check.stale;
  switch (check.outcome) {
    case AccountCheck::Outcome::kAllowed:
      if (account != nullptr) *account = check.user;
      return 0;
    case AccountCheck::Outcome::kForbidden:
      return 403;
    case AccountCheck::Outcome::kNoCredentials:
    case AccountCheck::Outcome::kWrong:
      break;
  }
  return 401;
}

void AdminApi::set_token(std::string token) {
  config_.token = std::move(token);
  std::erase_if(event_tickets_, [](const auto& entry) { return entry.second.account.empty(); });
}

AdminResponse AdminApi::issue_event_ticket(const std::string& user) {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(event_tickets_, [&](const auto& entry) { return entry.second.expires <= now; });
  // Each account (and the token) holds at most kMaxEventTicketsPerAccount:
  // past it its own oldest goes, never another's.
  const auto oldest = [&](auto&& whose) {
    auto found = event_tickets_.end();
    for (auto it = event_tickets_.begin(); it != event_tickets_.end(); ++it) {
      if (whose(it->second) &&
          (found == event_tickets_.end() || it->second.expires < found->second.expires)) {
        found = it;
      }
    }
    return found;
  };
  const auto own = [&](const EventTicket& held) { return held.account == user; };
  const size_t held = static_cast<size_t>(std::count_if(
      event_tickets_.begin(), event_tickets_.end(), [&](const auto& e) { return own(e.second); }));
  if (held >= kMaxEventTicketsPerAccount) {
    event_tickets_.erase(oldest(own));
  } else if (!user.empty()) {
    // The accounts' tickets together are bounded too; the token's few are
    // outside that bound, so accounts cannot keep the operator out.
    const auto of_accounts = [](const EventTicket& t) { return !t.account.empty(); };
    const size_t accounts =
        static_cast<size_t>(std::count_if(event_tickets_.begin(), event_tickets_.end(),
                                          [&](const auto& e) { return of_accounts(e.second); }));
    if (accounts >= kMaxAccountEventTickets) {
      // Full of other accounts' live tickets: come back when one expires.
      const auto first_expiry = oldest(of_accounts)->second.expires;
      AdminResponse busy = json_error(503, "too many event tickets outstanding; retry later");
      busy.retry_after_s = static_cast<uint32_t>(std::max<int64_t>(
          1, std::chrono::ceil<std::chrono::seconds>(first_expiry - now).count()));
      return busy;
    }
  }
  // 256 bits from the CSPRNG: not guessable within its lifetime.
  std::string ticket;
  for (int i = 0; i < 4; ++i) {
    char word[17];
    std::snprintf(word, sizeof word, "%016llx",
                  static_cast<unsigned long long>(sip::secure_random_u64()));
    ticket += word;
  }
  event_tickets_[ticket] = EventTicket{user, now + config_.event_ticket_lifetime};
  return json_ok(
      201, json{{"ticket", ticket}, {"expires_in_ms", config_.event_ticket_lifetime.count()}});
}

std::optional<std::string> AdminApi::redeem_event_ticket(std::string_view ticket) {
  const auto it = event_tickets_.find(std::string(ticket));
  if (it == event_tickets_.end()) return std::nullopt;
  EventTicket held = std::move(it->second);
  event_tickets_.erase(it);
  if (held.expires <= std::chrono::steady_clock::now()) return std::nullopt;
  return std::move(held.account);
}

AdminResponse AdminApi::event_stream_refused(int status, bool stale) {
  if (status == 401) return unauthorized(stale);
  return json_error(status, status == 403 ? "the account lacks the right to view rooms"
                                          : "the event stream is refused");
}

AdminResponse AdminApi::unauthorized(bool stale) {
  AdminResponse response = json_error(401, "missing or wrong bearer token or account credentials");
  response.challenges = control_.account_challenges(stale);
  return response;
}

std::optional<AdminResponse> AdminApi::cross_site_refusal(const AdminRequest& request,
                                                          bool upgrade) const {
  if (request.host) {
    bool literal = false;
    std::string_view name = host_of(*request.host, literal);
    if (name.ends_with('.')) name.remove_suffix(1);
    const bool known =
        literal || iequal(name, "localhost") ||
        std::any_of(config_.hosts.begin(), config_.hosts.end(),
                    [&](const std::string& allowed) { return iequal(name, allowed); });
    if (!known) {
      return json_error(
          403, "Host " + std::string(name) + " is not this server's (add it to admin.hosts)");
    }
  }
  const bool changing = state_changing(request.method);
  if ((changing || upgrade) && request.origin) {
    // The page must be this server's: the Origin's host is the Host's, a
    // loopback one, or a name in admin.hosts. Scheme and port aside: a TLS
    // proxy in front changes both, and one that rewrites Host (nginx's
    // default $proxy_host, Apache without ProxyPreserveHost) sends ours.
    const std::string_view origin = *request.origin;
    const std::optional<std::string_view> host = origin_host(origin);
    bool known = false;
    if (host) {
      bool literal = false;
      const std::string_view asked = request.host ? host_of(*request.host, literal) : "";
      // A loopback page only for a loopback Host (localhost against
      // 127.0.0.1, a tunnel's port): a page on the operator's own machine
      // is no page of a remote server's.
      known = (request.host && same_host(*host, asked)) ||
              (request.host && loopback_host(asked) && loopback_host(*host)) ||
              std::any_of(config_.hosts.begin(), config_.hosts.end(),
                          [&](const std::string& allowed) { return same_host(*host, allowed); });
    }
    if (!known) {
      return json_error(403, "cross-origin request refused: Origin " + std::string(origin) +
                                 " is not this server (its host is not the Host's, a loopback "
                                 "one, nor in admin.hosts)");
    }
  }
  if (changing) {
    std::string_view type = request.content_type.value_or("");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if ((request.content_type || !request.body.empty()) && !iequal(type, "application/json")) {
      return json_error(403,
                        "a POST, PUT, DELETE or PATCH takes Content-Type: application/json, or no "
                        "body and no Content-Type");
    }
  }
  return std::nullopt;
}

AdminResponse AdminApi::handle(const AdminRequest& request) {
  const auto [path, query] = split_target(request.target);
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/" || path == "/index.html") {
    if (!get) return method_not_allowed("GET, HEAD");
    AdminResponse response;
    response.content_type = "text/html; charset=utf-8";
    response.body = std::string(console_page());
    return response;
  }
  if (path == "/metrics") {
    if (!get) return method_not_allowed("GET, HEAD");
    // The loopback privilege looks at the client, never at a proxy's own
    // loopback address: a remote client forwarded by a proxy on this host
    // needs the token.
    const bool needs_token = config_.metrics_token || (config_.metrics_token_unless_loopback &&
                                                       !loopback_address(request.source));
    if (needs_token && check_token(request.authorization, request.source) != TokenCheck::kRight) {
      return json_error(401, "missing or wrong bearer token");
    }
    AdminResponse response;
    response.authenticated = needs_token;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = render_metrics(collect_metrics(metrics_, control_.rooms()));
    return response;
  }
  if (path == "/api" || path.starts_with("/api/")) return api(request, path);
  return json_error(404, "no such resource");
}

AdminResponse AdminApi::api(const AdminRequest& request, std::string_view path) {
  const TokenCheck token_check = check_token(request.authorization, request.source);
  // A refused token is not tried as an account's credentials: it was no Digest.
  if (token_check == TokenCheck::kRefused) return unauthorized(false);
  const bool token = token_check == TokenCheck::kRight;
  const std::optional<std::vector<std::string>> parsed = split_path(path);
  if (!parsed) return token ? json_error(400, "malformed path") : unauthorized(false);
  const std::vector<std::string>& s = *parsed;
  const RouteMatch match = match_route(request.method, s);
  if (match.route == nullptr) {
    // Without credentials nothing more is said than "authenticate".
    if (!token) return unauthorized(false);
    if (!match.allow.empty()) return method_not_allowed(match.allow);
    return json_error(404, "no such resource");
  }
  const AdminRoute& route = *match.route;
  std::string user;  // empty: the operator's token
  if (!token) {
    const AccountCheck check = control_.check_account(
        request.authorization, request.method, request.target, route.operation, request.source);
    AdminResponse refusal;
    switch (check.outcome) {
      case AccountCheck::Outcome::kNoCredentials:
      case AccountCheck::Outcome::kWrong:
        refusal = unauthorized(check.stale);
        break;
      case AccountCheck::Outcome::kForbidden:
        refusal = json_error(403, "account " + check.user + " lacks the " +
                                      std::string(privilege(route.operation).right) + " right");
        break;
      case AccountCheck::Outcome::kAllowed:
        user = check.user;
        break;
    }
    AdminResponse answer = user.empty() ? std::move(refusal) : act(request, s, route, user);
    answer.delay = check.delay;
    answer.authenticated = !user.empty();
    return answer;
  }
  AdminResponse answer = act(request, s, route, user);
  answer.authenticated = true;
  return answer;
}

AdminResponse AdminApi::act(const AdminRequest& request, const std::vector<std::string>& s,
                            const AdminRoute& route, const std::string& user) {
  switch (route.handler) {
    case AdminHandler::kRooms:
      return json_ok(200, rooms_json(control_.rooms()));
    case AdminHandler::kRoom:
      for (const ConferenceState& state : control_.rooms()) {
        if (state.room == s[2]) return json_ok(200, room_json(state));
      }
      return json_error(404, "no such room");
    case AdminHandler::kEvents:
      return json_error(400, "the event stream needs a WebSocket upgrade");
    case AdminHandler::kEventTicket:
      return issue_event_ticket(user);
    case AdminHandler::kDial:
      return dial(s[2], request.body, user);
    case AdminHandler::kRecording: {
      // {"record": true} starts the room's recording, false stops it.
      const std::optional<json> args = parse_object(request.body);
      if (!args) return json_error(400, "body must be a JSON object");
      const auto it = args->find("record");
      if (it == args->end() || !it->is_boolean()) {
        return json_error(400, "\"record\" must be true or false");
      }
      return from_result(control_.set_recording(s[2], it->get<bool>(), user));
    }
    case AdminHandler::kSidebarCreate:
    case AdminHandler::kSidebarDissolve:
    case AdminHandler::kSidebarMemberPut:
    case AdminHandler::kSidebarMemberDelete:
      return sidebar_action(s, route.handler, request.body);
    case AdminHandler::kMerge:
    case AdminHandler::kSplit:
      return merge_or_split(s[2], route.handler, request.body, user);
    case AdminHandler::kMute:
    case AdminHandler::kKick:
    case AdminHandler::kRole:
    case AdminHandler::kHold:
    case AdminHandler::kAdmit:
    case AdminHandler::kRefuse:
    case AdminHandler::kPickup:
    case AdminHandler::kMove:
      break;
  }
  const std::optional<uint64_t> id = parse_id(s[4]);
  if (!id) return json_error(400, "member id must be a positive integer");
  return member_action(s[2], *id, route.handler, request.body, user);
}

AdminResponse AdminApi::member_action(std::string_view room, uint64_t member, AdminHandler action,
                                      std::string_view body, const std::string& user) {
  if (action == AdminHandler::kKick) return from_result(control_.kick(room, member));
  if (action == AdminHandler::kAdmit) return from_result(control_.admit(room, member));
  if (action == AdminHandler::kRefuse) return from_result(control_.refuse(room, member));
  const std::optional<json> args = parse_object(body);
  if (!args) return json_error(400, "body must be a JSON object");
  if (action == AdminHandler::kMute) {
    const auto it = args->find("muted");
    if (it == args->end() || !it->is_boolean()) {
      return json_error(400, "\"muted\" must be true or false");
    }
    return from_result(control_.set_muted(room, member, it->get<bool>()));
  }
  if (action == AdminHandler::kPickup) {
    const auto it = args->find("uri");
    if (it == args->end() || !it->is_string()) {
      return json_error(400, "\"uri\" must be the SIP URI the call goes to");
    }
    return from_result(control_.pickup(room, member, it->get_ref<const std::string&>(), user));
  }
  if (action == AdminHandler::kMove) {
    // {"to": "ROOM", "pin": "..."}: the PIN only counts for an account
    // without the moderate right (README "Moving members").
    const auto to = args->find("to");
    if (to == args->end() || !to->is_string() || to->get_ref<const std::string&>().empty()) {
      return json_error(400, "\"to\" must name the room the member moves to");
    }
    std::optional<std::string> pin;
    if (const auto p = args->find("pin"); p != args->end()) {
      if (!p->is_string()) return json_error(400, "\"pin\" must be a string");
      pin = p->get<std::string>();
    }
    return from_result(
        control_.move_member(room, member, to->get_ref<const std::string&>(), pin, user));
  }
  if (action == AdminHandler::kHold) {
    const auto it = args->find("hold");
    if (it == args->end() || !it->is_boolean()) {
      return json_error(400, "\"hold\" must be true or false");
    }
    return from_result(control_.set_hold(room, member, it->get<bool>()));
  }
  // role
  const auto role_it = args->find("role");
  if (role_it == args->end() || !role_it->is_string()) {
    return json_error(400, "\"role\" must be participant, monitor, whisper or barge");
  }
  const std::optional<MemberRole> role = parse_role(role_it->get_ref<const std::string&>());
  if (!role) return json_error(400, "\"role\" must be participant, monitor, whisper or barge");
  uint64_t target = 0;
  if (*role == MemberRole::kWhisper) {
    const auto t = args->find("target");
    if (t == args->end() || !t->is_number_unsigned() || t->get<uint64_t>() == 0) {
      return json_error(400, "whisper needs \"target\": the id of the member who hears it");
    }
    target = t->get<uint64_t>();
    if (target == member) return json_error(400, "a member cannot whisper to itself");
  }
  return from_result(control_.set_role(room, member, *role, target));
}

AdminResponse AdminApi::sidebar_action(const std::vector<std::string>& s, AdminHandler action,
                                       std::string_view body) {
  const std::string& room = s[2];
  if (action != AdminHandler::kSidebarCreate) {
    const std::optional<uint64_t> sidebar = parse_id(s[4]);
    if (!sidebar || *sidebar > UINT32_MAX) {
      return json_error(400, "sidebar id must be a positive integer");
    }
    const auto id = static_cast<uint32_t>(*sidebar);
    if (action == AdminHandler::kSidebarDissolve) {
      return from_result(control_.dissolve_sidebar(room, id));
    }
    const std::optional<uint64_t> member = parse_id(s[6]);
    if (!member) return json_error(400, "member id must be a positive integer");
    return from_result(
        control_.set_sidebar_member(room, id, *member, action == AdminHandler::kSidebarMemberPut));
  }
  const std::optional<json> args = parse_object(body);
  if (!args) return json_error(400, "body must be a JSON object");
  SidebarSpec spec;
  const auto name = args->find("name");
  if (name == args->end() || !name->is_string()) {
    return json_error(400, "\"name\" must be a string (1-64 characters)");
  }
  spec.name = name->get<std::string>();
  if (const auto members = args->find("members"); members != args->end()) {
    if (!members->is_array()) return json_error(400, "\"members\" must be an array of member ids");
    for (const json& m : *members) {
      if (!m.is_number_unsigned() || m.get<uint64_t>() == 0) {
        return json_error(400, "\"members\" must be an array of member ids");
      }
      spec.members.push_back(m.get<uint64_t>());
    }
  }
  if (const auto gain = args->find("main_gain_db"); gain != args->end()) {
    if (!gain->is_number())
      return json_error(400, "\"main_gain_db\" must be a number (dB, -60..0)");
    spec.main_gain_db = gain->get<double>();
  }
  if (const auto whisper = args->find("whisper_main"); whisper != args->end()) {
    if (!whisper->is_boolean()) return json_error(400, "\"whisper_main\" must be true or false");
    spec.whisper_main = whisper->get<bool>();
  }
  uint32_t id = 0;
  const ControlResult result = control_.create_sidebar(room, spec, &id);
  if (!result.ok()) return from_result(result);
  json out{{"ok", true}, {"id", id}, {"message", result.message}};
  for (const ConferenceState& state : control_.rooms()) {
    if (state.room != room) continue;
    for (const SidebarState& sidebar : state.sidebars) {
      if (sidebar.id == id) out["uri"] = sidebar.uri;
    }
  }
  return json_ok(201, out);
}

AdminResponse AdminApi::dial(std::string_view room, std::string_view body, std::string_view user) {
  const std::optional<json> args = parse_object(body);
  if (!args) return json_error(400, "body must be a JSON object");
  const auto it = args->find("uri");
  if (it == args->end() || !it->is_string()) return json_error(400, "\"uri\" must be a string");
  const std::string& uri = it->get_ref<const std::string&>();
  // The URI goes into a Request-URI and To header: no CR/LF (header
  // injection), bounded, and a SIP scheme (RFC 3261 §19.1).
  if (uri.empty() || uri.size() > kMaxUriLength || has_control_characters(uri) ||
      uri.find(' ') != std::string::npos ||
      !(uri.starts_with("sip:") || uri.starts_with("sips:"))) {
    return json_error(400, "\"uri\" must be a sip: or sips: URI");
  }
  if (!user.empty() && !control_.dial_out_allowed(user, uri)) {
    return json_error(403, "\"uri\" is outside the account's dial-out patterns");
  }
  return from_result(control_.dial_out(room, uri, user));
}

// {"into": "B"} (merge) or {"to": "B", "members": [ids]} (split), and
// "pin" as a move takes it. 202 names the members moving and those staying.
AdminResponse AdminApi::merge_or_split(std::string_view room, AdminHandler action,
                                       std::string_view body, const std::string& user) {
  const std::optional<json> args = parse_object(body);
  if (!args) return json_error(400, "body must be a JSON object");
  const bool merge = action == AdminHandler::kMerge;
  const auto target = args->find(merge ? "into" : "to");
  if (target == args->end() || !target->is_string() ||
      target->get_ref<const std::string&>().empty()) {
    return json_error(400, merge ? "\"into\" must name the room the members move to"
                                 : "\"to\" must name the room the members move to");
  }
  std::optional<std::string> pin;
  if (const auto p = args->find("pin"); p != args->end()) {
    if (!p->is_string()) return json_error(400, "\"pin\" must be a string");
    pin = p->get<std::string>();
  }
  const std::string& to = target->get_ref<const std::string&>();
  Control::RoomMoveReport report;
  ControlResult result;
  if (merge) {
    result = control_.merge_rooms(room, to, pin, user, &report);
  } else {
    const auto members = args->find("members");
    if (members == args->end() || !members->is_array() || members->empty()) {
      return json_error(400, "\"members\" must be a non-empty array of member ids");
    }
    std::vector<uint64_t> ids;
    for (const json& m : *members) {
      if (!m.is_number_unsigned() || m.get<uint64_t>() == 0) {
        return json_error(400, "\"members\" must be a non-empty array of member ids");
      }
      ids.push_back(m.get<uint64_t>());
    }
    result = control_.split_room(room, to, ids, pin, user, &report);
  }
  if (!result.ok()) return from_result(result);
  json stayed = json::array();
  for (const Control::RoomMoveReport::Stayed& s : report.stayed) {
    stayed.push_back(json{{"id", s.member}, {"status", s.why.status}, {"error", s.why.message}});
  }
  return json_ok(result.status, json{{"ok", true},
                                     {"message", result.message},
                                     {"moving", report.moving},
                                     {"stayed", stayed}});
}

}  // namespace chorus::focus
