// The abuse limits around a request (README "Security / Limits"): the
// account slow-down, global overload, subscription caps and reflection
// toward third parties. Rate and transaction caps run earlier, in the
// transaction layer's screen (Server::start); failed digest attempts in
// Server::authorize.

#include "focus/events/event_service.hpp"
#include "focus/server.hpp"
#include "signaling/message/header_auth.hpp"

namespace chorus::focus {

using sip::Message;

void Server::reply_limited(const sip::ServerTransaction& tx, std::string_view reason,
                           uint32_t retry_after) {
  // RFC 3261 §21.5.4: temporarily unable; Retry-After says when to come back.
  Message response = sip::make_response(tx.request(), 503, reason, random_.tag());
  response.set_header("Retry-After", std::to_string(retry_after));
  tx.respond(std::move(response));
}

bool Server::defer_slowed(const sip::ServerTransaction& tx) {
  if (options_.accounts.empty() || options_.limits.account_delay.count() == 0) return false;
  const Message& request = tx.request();
  std::string source;
  for (std::string_view line : request.header_lines("Authorization")) {
    const auto parsed = sip::parse_auth_header(line);
    if (!parsed) continue;
    const std::string_view user = parsed->param("username").value_or("");
    if (user.empty() || !guard_.account_slowed(user)) continue;
    if (source.empty()) source = source_of(tx);
    // A locked pair is refused at once (as a wrong password) in authorize.
    if (guard_.auth_locked(source, user)) continue;
    guard_.account_delayed(source, user);
    if (deferred_.size() >= kMaxDeferred) {
      challenge(tx, false);  // as for a wrong password: no oracle
      return true;
    }
    // Every attempt on this account, right or wrong, from anywhere, waits
    // account_delay: guessing slows down, the owner still gets in.
    const sip::TransactionId id = tx.id();
    deferred_[id] = stack_.timers().start(options_.limits.account_delay, [this, tx, id] {
      if (deferred_.erase(id) == 0) return;
      // Answered meanwhile (a CANCEL's 487, §9.2): handling it now would
      // set up a call nobody is waiting for.
      if (stack_.transactions().answered(id)) return;
      handle_request(tx);
    });
    return true;
  }
  return false;
}

bool Server::refuse_overload(const sip::ServerTransaction& tx) {
  const std::string source = source_of(tx);
  std::string why;
  if (!guard_.overloaded(rooms_.call_count() + dialing_.size(),
                         stack_.transactions().pending_server(), guard_.exempt(source), &why)) {
    return false;
  }
  guard_.log("overload-" + why, source);
  reply_limited(tx, "Overloaded", 5);
  return true;
}

bool Server::refuse_subscription(const sip::ServerTransaction& tx, const sip::Dialog* dialog) {
  const std::string source = source_of(tx);
  if (!guard_.may_subscribe(source, events_->subscriptions_from(guard_.count_key(source)),
                            events_->subscription_count())) {
    reply_limited(tx, "Too Many Subscriptions", 10);
    return true;
  }
  // NOTIFYs go to the dialog's first hop: toward anyone but the
  // subscriber's own address they are rate-limited (no reflection of
  // spoofed SUBSCRIBEs), and toward that address too when it came over
  // UDP, where the victim's address is the one to spoof.
  const std::vector<sip::NameAddr> contacts = tx.request().contacts();
  if (dialog == nullptr) {
    if (contacts.empty()) return false;
    return refuse_reflection(tx,
                             first_hop_host(tx.request().record_routes(), contacts.front().uri));
  }
  // In a dialog the route set is the dialog's (a Record-Route in a
  // mid-dialog request changes nothing, RFC 3261 §12.2), else the target
  // is the Contact this request brings or the one the dialog has.
  std::vector<sip::NameAddr> routes;
  if (!dialog->route_set().empty()) {
    if (auto first = sip::parse_name_addr(dialog->route_set().front())) {
      routes.push_back(std::move(*first));
    }
  }
  if (!contacts.empty()) return refuse_reflection(tx, first_hop_host(routes, contacts.front().uri));
  const std::optional<sip::Uri> target = sip::parse_uri(dialog->remote_target());
  if (!target) return false;
  return refuse_reflection(tx, first_hop_host(routes, *target));
}

bool Server::refuse_retarget(const sip::ServerTransaction& tx, const sip::Dialog& dialog) {
  // A refresh may move the remote target (RFC 6665 §4.1.2.1; an
  // unsubscribe too, for its final NOTIFY): toward a new host it passes the
  // same check as a new subscription, without the caps. A refresh keeping
  // its Contact, or in a dialog whose NOTIFYs follow a route set, is no new
  // reflection.
  if (!dialog.route_set().empty()) return false;
  const std::vector<sip::NameAddr> contacts = tx.request().contacts();
  if (contacts.empty() || contacts.front().uri_text == dialog.remote_target()) return false;
  return refuse_reflection(tx, first_hop_host({}, contacts.front().uri));
}

std::string Server::first_hop_host(const std::vector<sip::NameAddr>& routes,
                                   const sip::Uri& target) {
  // The first route, loose or strict, is where the request goes first; a
  // maddr parameter overrides the host (RFC 3261 §19.1.1).
  const sip::Uri& hop = routes.empty() ? target : routes.front().uri;
  // Decoded, as the dial-out patterns read it: an escaped maddr is charged
  // under the host it names, not under a spelling of its own.
  if (const auto maddr = hop.param("maddr")) return sip::percent_decode(*maddr);
  return std::string(hop.host);
}

bool Server::refuse_reflection(const sip::ServerTransaction& tx, std::string_view host) {
  if (guard_.may_reflect(source_of(tx), host, source_proven(tx))) return false;
  reply_limited(tx, "Too Many Requests Toward Third Parties", 1);
  return true;
}

void Server::housekeep() {
  housekeeping_timer_ = stack_.timers().start(std::chrono::seconds(1), [this] { housekeep(); });
  poll_recorder();  // a recording may finish or fail after its room closed
  expire_referrals();
  const size_t load = stack_.transactions().size() + rooms_.call_count() + dialing_.size() +
                      (events_ ? events_->subscription_count() : 0);
  load_peak_ = std::max(load_peak_, load);
  // Seconds since the load last fell by more than a few (a steady trickle of
  // OPTIONS or calls moves it by one or two either way).
  if (load + 5 < quiet_from_) {
    quiet_from_ = load;
    quiet_seconds_ = 0;
  } else {
    ++quiet_seconds_;
    quiet_from_ = std::max(quiet_from_, load);
  }
  // A flood drained (its peak kTrimAfter above now); then every further 50
  // gone while it keeps draining (calls ending, subscriptions expiring); and
  // once more when the drain is over (the load held still for a few
  // seconds), so the tail of the drain goes back too.
  const bool flood_drained = load_peak_ >= load + kTrimAfter;
  const bool draining_on = trimmed_at_ != 0 && trimmed_at_ >= load + 50;
  const bool drain_over = trimmed_at_ > load && quiet_seconds_ >= kQuietSeconds;
  if (flood_drained || draining_on || drain_over) {
    give_memory_back();
    load_peak_ = load;
    trimmed_at_ = drain_over ? 0 : load;
  }
}

}  // namespace chorus::focus
