#pragma once
// The admin API without the sockets: one HTTP request in (method, target,
// Authorization, body), one response out. admin_server.cpp feeds it from
// Boost.Beast; tests call it directly.
//
//   GET  /                                  the web console (no token)
//   GET  /metrics                           Prometheus text 0.0.4 (token only
//                                           if AdminConfig::metrics_token)
//   GET  /api/rooms                         every room with its members
//   GET  /api/rooms/{room}
//   POST /api/rooms/{room}/members/{id}/mute  {"muted":true|false}
//   POST /api/rooms/{room}/members/{id}/kick
//   POST /api/rooms/{room}/members/{id}/role  {"role":"participant|monitor|whisper|barge",
//                                              "target":id (whisper only)}
//   POST /api/rooms/{room}/members/{id}/hold  {"hold":true|false}
//   POST /api/rooms/{room}/dial               {"uri":"sip:..."}
//   POST /api/rooms/{room}/recording          {"record":true|false}
//   POST   /api/rooms/{room}/sidebars         {"name":"...", "members":[ids],
//                                              "main_gain_db":-12, "whisper_main":false}
//                                              → 201 {"id":N, "uri":"sip:..."}
//   DELETE /api/rooms/{room}/sidebars/{sb}    members back to the main room
//   PUT    /api/rooms/{room}/sidebars/{sb}/members/{id}   into the sidebar
//   DELETE /api/rooms/{room}/sidebars/{sb}/members/{id}   back to the main room
//   GET  /api/events                        WebSocket (admin_server.cpp)
//   POST /api/events/ticket                 → 201 {"ticket":"...", "expires_in_ms":N}:
//                                              one use of /api/events?ticket=
//
// Every /api request needs credentials: `Authorization: Bearer <token>` (the
// operator: every route), or HTTP Digest (RFC 7616) for a SIP account, which
// then needs the right of the route's operation (admin_routes(),
// focus/privileges.hpp) — 403 without it — and, to dial, a dial-out pattern
// covering the URI. Browsers cannot set headers on a WebSocket: the console
// asks for a ticket (POST /api/events/ticket, with its credentials) and
// opens `?ticket=`, single use and short-lived, so no lasting secret lands
// in a URL (proxy logs, history). `?token=` still works for other clients.
// An empty configured token refuses
// every Bearer request. Errors are {"error":"..."} with
// 400/401/403/404/405/409, and 503 + Retry-After for a ticket while the
// accounts' tickets fill the pool.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "focus/control.hpp"
#include "focus/ops/forwarded_for.hpp"
#include "focus/ops/limits.hpp"
#include "focus/ops/metrics.hpp"

namespace chorus::focus {

struct AdminConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 8088;        // 0: ephemeral (tests)
  std::string token;           // empty: /api refused (401)
  bool metrics_token = false;  // true: /metrics needs the token as well
  // With metrics_token false: /metrics needs the token anyway unless the
  // client (AdminApi::client_of) is a loopback address. What the default of
  // a loopback listener means: open to this host's Prometheus, not to
  // whoever a proxy on this host forwards.
  bool metrics_token_unless_loopback = false;
  // Reverse proxies in front (admin.trusted_proxies: IP addresses or CIDR
  // prefixes): for a request from one of them the client is read from
  // X-Forwarded-For (focus/ops/forwarded_for.hpp). Empty: the TCP peer is
  // the client and X-Forwarded-For is ignored.
  std::vector<std::string> trusted_proxies{};
  // Host names (besides IP literals and "localhost") a request's Host may
  // carry: the name a TLS-terminating proxy or the operators use. Any other
  // name is refused (DNS rebinding: a site whose name resolves to us). A
  // page's Origin may name them too (a proxy that rewrites Host to ours).
  std::vector<std::string> hosts{};
  size_t max_body_bytes = 16 * 1024;
  size_t max_header_bytes = 8 * 1024;
  std::chrono::milliseconds idle_timeout{30'000};  // per read/write on a connection
  // The read deadline instead, until a request on the connection carried
  // credentials that were let in: a client that never logs in cannot hold a
  // connection slot for long (and a 401 or 403 closes it).
  std::chrono::milliseconds unauthenticated_timeout{5'000};
  size_t max_connections = 64;             // HTTP connections and event streams together
  size_t max_connections_per_source = 16;  // of them from one peer address
  size_t max_event_streams = 16;
  // Of them held by one account (the operator's token is not capped): one
  // viewer account cannot take every stream from the operators.
  size_t max_event_streams_per_account = 4;
  size_t max_queued_events = 512;  // per stream; a consumer this far behind is closed
  std::chrono::milliseconds levels_interval{250};           // "levels" messages on event streams
  std::chrono::milliseconds event_ticket_lifetime{30'000};  // unused tickets expire
};

struct AdminRequest {
  std::string_view method;         // "GET", "POST", ...
  std::string_view target;         // origin-form: "/api/rooms?x=y"
  std::string_view authorization;  // the Authorization header value, if any
  std::string_view body;
  // The client's IP address (AdminApi::client_of: the TCP peer, or behind a
  // trusted proxy the X-Forwarded-For client); failed logins count per source.
  std::string_view source;
  // Headers the cross-site checks read (AdminApi::cross_site_refusal);
  // nullopt: the header is absent.
  std::optional<std::string_view> host{};
  std::optional<std::string_view> origin{};
  std::optional<std::string_view> content_type{};
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  // the Allow header of a 405
  // A 401's WWW-Authenticate values besides Bearer: Digest challenges when
  // accounts exist.
  std::vector<std::string> challenges;
  // Send it only after this long: the account named is under a password
  // attack (AccountCheck::delay).
  std::chrono::milliseconds delay{0};
  // The request's credentials were let in (the token, or an account with
  // the route's right): the connection gets the full idle timeout.
  bool authenticated = false;
  // A 503's Retry-After in seconds (0: none).
  uint32_t retry_after_s = 0;
};

// One row per admin API route: what it is and the operation (so the right)
// an account needs for it. The API dispatches through this table only.
enum class AdminHandler : uint8_t {
  kRooms,
  kRoom,
  kEvents,
  kEventTicket,
  kDial,
  kMute,
  kKick,
  kRole,
  kHold,
  kAdmit,
  kRefuse,
  kPickup,
  kRecording,
  kMove,
  kMerge,
  kSplit,
  kSidebarCreate,
  kSidebarDissolve,
  kSidebarMemberPut,
  kSidebarMemberDelete,
};
struct AdminRoute {
  std::string_view method;  // GET routes answer HEAD as well
  std::string_view path;    // segments; {name} matches any one segment
  Operation operation;
  AdminHandler handler;
};
std::span<const AdminRoute> admin_routes();

class AdminApi {
 public:
  AdminApi(Control& control, MetricsSource metrics, AdminConfig config);

  AdminResponse handle(const AdminRequest& request);

  // The client of a request from TCP peer `peer` with these X-Forwarded-For
  // values, read only when `peer` is in AdminConfig::trusted_proxies. The
  // one address every per-source rule keys on: the failed-login lockout and
  // its log line (AdminRequest::source, event_stream_refusal's `source`)
  // and the loopback client's open /metrics. A fault: answer 400 with it.
  ForwardedClient client_of(std::string_view peer,
                            std::span<const std::string_view> forwarded_for) const;
  // `peer` is a trusted proxy: many clients share its connections.
  bool trusted_proxy(std::string_view peer) const { return trusted_proxies_.contains(peer); }

  // The request's refusal (403 naming the fault) when another site may have
  // made a browser send it, checked before any credentials: a Host that is
  // no IP literal, "localhost" nor one of AdminConfig::hosts (DNS
  // rebinding); on a state-changing method (POST, PUT, DELETE, PATCH) or a
  // WebSocket upgrade (`upgrade`), an Origin that is not this server's own
  // (its host, scheme and port aside, must be Host's host, "localhost" or a
  // loopback address when Host is one too, or one of AdminConfig::hosts;
  // "null" or an Origin
  // that is no `scheme://host[:port]` is refused); on a state-changing
  // method, a
  // Content-Type other than application/json, or a body without one (an
  // HTML form can send neither JSON nor no Content-Type). A browser that
  // cached Digest credentials for the console would otherwise let any page
  // it visits act with them. The listener asks before handle(): the checks
  // are about browsers on the wire, not the API.
  std::optional<AdminResponse> cross_site_refusal(const AdminRequest& request,
                                                  bool upgrade = false) const;

  // The target names the event stream (/api/events, any query).
  static bool is_event_stream(std::string_view target);
  // Whether a WebSocket upgrade to the event stream may proceed: 0 when the
  // Bearer header or ?token= matches the configured (non-empty) token, or
  // an account with the view right answers; else the refusal's status (401,
  // or 403 for an account without the right).
  // `source`: the client's address, client_of (failed attempts count per
  // source). `delay` (when given): how long the answer, refusal or upgrade, must
  // wait: an account under a password attack is slowed here as on /api.
  // `stale` (when given): a 401 answers a Digest login whose nonce expired.
  // `account` (when given): the account let in, empty for the token.
  int event_stream_refusal(std::string_view authorization, std::string_view target,
                           std::string_view source = {}, std::chrono::milliseconds* delay = nullptr,
                           bool* stale = nullptr, std::string* account = nullptr);
  // The answer to a refused upgrade: a 401 carries the Bearer and Digest
  // challenges as /api's do (RFC 7235 §3.1), so a client can log in.
  AdminResponse event_stream_refused(int status, bool stale = false);

  const AdminConfig& config() const { return config_; }
  // SIGHUP: the operator's token from now on (the caller runs on the
  // signalling thread, as every request does, so nothing is locked).
  // Tickets the old token obtained are dropped with it.
  void set_token(std::string token);

 private:
  bool token_matches(std::string_view presented) const;
  enum class TokenCheck : uint8_t { kAbsent, kRight, kRefused };
  // The operator's token, from a Bearer `authorization` or else
  // `query_token` (the event stream's ?token=): absent, right, or refused
  // (wrong). A presented token counts per source
  // (Control::count_token_attempt); the right one is let in even from a
  // source locked out for wrong ones.
  TokenCheck check_token(std::string_view authorization, std::string_view source,
                         const std::optional<std::string>& query_token = std::nullopt);
  AdminResponse api(const AdminRequest& request, std::string_view path);
  // The route's handler, once the caller is authorised (`user` empty: the token).
  AdminResponse act(const AdminRequest& request, const std::vector<std::string>& segments,
                    const AdminRoute& route, const std::string& user);
  AdminResponse member_action(std::string_view room, uint64_t member, AdminHandler action,
                              std::string_view body, const std::string& user);
  // `user`: the account asking (empty: the token), whose dial-out patterns apply.
  AdminResponse dial(std::string_view room, std::string_view body, std::string_view user);
  AdminResponse unauthorized(bool stale);
  AdminResponse sidebar_action(const std::vector<std::string>& segments, AdminHandler action,
                               std::string_view body);
  AdminResponse merge_or_split(std::string_view room, AdminHandler action, std::string_view body,
                               const std::string& user);

  // A ticket for one event stream: who asked (empty: the token), until when.
  struct EventTicket {
    std::string account;
    std::chrono::steady_clock::time_point expires;
  };
  // Outstanding tickets: each account (and the token, as one more) holds at
  // most kMaxEventTicketsPerAccount, past which its own oldest goes; the
  // accounts' together at most kMaxAccountEventTickets, past which an
  // account is refused 503 with Retry-After until one expires. So at most
  // 64 + 8 are held, and one account can neither evict another's tickets
  // nor, alone, fill the pool.
  static constexpr size_t kMaxEventTicketsPerAccount = 8;
  static constexpr size_t kMaxAccountEventTickets = 64;
  AdminResponse issue_event_ticket(const std::string& user);
  // The ticket's account when `ticket` is live (it is used up), else nullopt.
  std::optional<std::string> redeem_event_ticket(std::string_view ticket);

  Control& control_;
  MetricsSource metrics_;
  AdminConfig config_;
  AddressSet trusted_proxies_;
  std::unordered_map<std::string, EventTicket> event_tickets_;
};

// Helpers shared with the server and tests.
AdminResponse json_error(int status, std::string_view message);
// Splits "/a/b%20c/" into decoded segments; nullopt on a bad %-escape or an
// empty segment.
std::optional<std::vector<std::string>> split_path(std::string_view path);
// Value of `name` in a query string "a=1&token=x" (%-decoded), or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

}  // namespace chorus::focus
