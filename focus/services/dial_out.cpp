// Calls the focus places (REFER dial-out, the admin API, the RFC 5359
// services): an offerless INVITE (RFC 3261 §13.2.1), so the callee's 2xx
// offers and our ACK answers once the shard reports the port; progress goes
// back to the referrer as sipfrag NOTIFYs (RFC 3515 §2.4.5).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cassert>

#include "focus/events/event_service.hpp"
#include "focus/ops/log.hpp"
#include "focus/rooms/media_setup.hpp"
#include "focus/server.hpp"
#include "signaling/message/uri.hpp"
#include "signaling/usage/refer.hpp"

namespace chorus::focus {

using sip::Message;
using sip::Method;

namespace {

// A dial-out that ends before it is a member gives its place under the
// call cap back here; one that became a member gives it back in end_call,
// as every call does.
void release_call_cap(AbuseGuard& guard, Call& call) {
  if (call.sip.limit_key.empty()) return;
  guard.call_removed(call.sip.limit_key);
  call.sip.limit_key.clear();
}

// The dial timer's callback holds the Server: every path that takes a call
// out of dialing_ stops it, so it never outlives its attempt (nor, on a
// TimerService the Server does not own, the Server).
void stop_dial_timer(sip::TimerService& timers, Call& call) {
  if (call.sip.dial_timer == 0) return;
  timers.cancel(call.sip.dial_timer);
  call.sip.dial_timer = 0;
}

}  // namespace

void Server::start_dial_out(DialOut request) {
  {
    LogContext context({}, request.room);
    spdlog::info("dialing out to {}{}", request.target,
                 request.referred_by.empty() ? "" : " referred by " + request.referred_by);
  }
  auto call = std::make_unique<Call>(capabilities_);
  call->sip.outbound = true;
  call->roster.room = request.room;
  call->roster.hidden = request.hidden;
  call->roster.entity = request.target;
  call->roster.member = ++last_member_;
  call->sip.referral = request.referral;
  call->roster.joined_by = request.referred_by;
  call->sip.dial_account = request.account;
  call->sip.dial_source = request.source;
  call->sip.dial_source_proven = request.source_proven;
  call->sip.limit_key = request.limit_key;
  // A service call (music on hold, park) is parked: it hears music.
  call->roster.parked = request.hold == mixer::HoldMode::kMusic;
  const auto target = sip::parse_uri(request.target);
  if (target && target->param("transport") && sip::iequals(*target->param("transport"), "tcp")) {
    call->sip.transport = sip::TransportKind::kTcp;
  }
  const std::string call_id = random_.tag() + random_.tag() + "@chorus";
  const std::string local_tag = random_.tag();
  Message invite = Message::request(Method::kInvite, request.target);
  invite.set_header("From", "<" + conference_uri(request.room) + ">;tag=" + local_tag);
  invite.set_header("To", "<" + request.target + ">");
  invite.set_header("Call-ID", call_id);
  invite.set_header("CSeq", std::to_string(random_.initial_cseq()) + " INVITE");
  invite.set_header("Contact", contact_for(request.room, call->sip.transport));
  invite.set_header("Allow", kAllow);
  invite.set_header("Supported", kSupported);
  if (!request.referred_by.empty()) invite.set_header("Referred-By", request.referred_by);
  bool replaces = false;
  for (const auto& [name, value] : request.headers) {
    // Vetted where the referrer was answered (handle_refer: 400 for any
    // other): a name off the allowlist or a CR/LF here would forge this
    // INVITE's dialog or smuggle a second request behind it.
    assert(embedded_header_fault(name, value).empty());
    invite.add_header(name, value);
    replaces = replaces || sip::iequals(name, "Replaces");
  }
  // RFC 3891 §3: a UA that ignores Replaces would simply ring; Require makes
  // it refuse (420) instead of alerting someone the referrer chose.
  if (replaces) invite.set_header("Require", "replaces");
  call->sip.id = sip::DialogId{call_id, local_tag, ""};
  call->sip.invite = invite;
  call->sip.relay = events_->bind_call(call_id, request.room);
  const sip::DialogId id = call->id();
  if (!request.limit_key.empty()) guard_.call_added(request.limit_key);
  dialing_.emplace(id, std::move(call));
  const sip::TransactionId tx = stack_.send_request(
      std::move(invite),
      [this, id](const sip::ClientEvent& event) { on_dial_out_response(id, event); });
  const auto it = dialing_.find(id);
  if (it == dialing_.end()) return;  // answered synchronously (transport error)
  if (tx == 0) {
    if (it->second->sip.referral) {
      notify_referrer(*it->second->sip.referral, 503, "Service Unavailable");
    }
    release_call_cap(guard_, *it->second);
    dialing_.erase(it);
    return;
  }
  it->second->sip.invite_tx = tx;
  if (options_.dial_timeout.count() > 0) {
    // Unanswered this long: CANCEL.
    it->second->sip.dial_timer = stack_.timers().start(options_.dial_timeout, [this, id] {
      const auto ringing = dialing_.find(id);
      if (ringing == dialing_.end()) return;
      ringing->second->sip.dial_timer = 0;
      if (ringing->second->sip.cancelling) return;
      spdlog::info("dial-out to {} in {} unanswered after {} ms", ringing->second->roster.entity,
                   ringing->second->room(), options_.dial_timeout.count());
      cancel_dial_out(*ringing->second);
    });
  }
  publish(request.room, ControlEvent::Kind::kMemberJoined, it->second->member());
}

void Server::on_dial_out_response(const sip::DialogId& pending, const sip::ClientEvent& event) {
  const auto it = dialing_.find(pending);
  if (event.kind != sip::ClientEvent::Kind::kResponse || event.response == nullptr) {
    if (it == dialing_.end()) return;
    const bool timeout = event.kind == sip::ClientEvent::Kind::kTimeout;
    if (it->second->sip.referral) {
      notify_referrer(*it->second->sip.referral, timeout ? 408 : 503,
                      timeout ? "Request Timeout" : "Service Unavailable");
    }
    const std::string room = it->second->room();
    const uint64_t member = it->second->member();
    release_call_cap(guard_, *it->second);
    stop_dial_timer(stack_.timers(), *it->second);
    dialing_.erase(it);
    publish(room, ControlEvent::Kind::kMemberLeft, member);
    return;
  }
  const Message& response = *event.response;
  const int status = response.status();
  if (it == dialing_.end()) {
    // A 2xx retransmission for a call already up: ACK it again (§13.2.2.4).
    if (status / 100 != 2) return;
    const sip::DialogId id{pending.call_id, pending.local_tag, std::string(response.to().tag())};
    const Call* call = rooms_.find_call(id);
    if (call != nullptr && call->sip.ack && call->media.rtp_port != 0) {
      stack_.send_ack(*call->sip.ack);
    }
    return;
  }
  Call& call = *it->second;
  if (status < 200) {
    const std::string_view tag = response.to().tag();
    auto& tags = call.sip.early_remote_tags;
    if (status > 100 && !tag.empty() && tags.size() < SipLeg::kMaxEarlyDialogs &&
        std::find(tags.begin(), tags.end(), tag) == tags.end()) {
      tags.emplace_back(tag);
    }
    if (call.sip.cancelling && !call.sip.cancel_sent && call.sip.invite_tx != 0) {
      // The CANCEL that waited for a provisional (§9.1).
      call.sip.cancel_sent = stack_.cancel(call.sip.invite_tx) != 0;
    }
    if (status > 100 && !call.sip.provisional_seen) {
      call.sip.provisional_seen = true;
      if (call.sip.referral) notify_referrer(*call.sip.referral, status, response.reason_phrase());
      publish(call.room(), ControlEvent::Kind::kMemberChanged, call.member());
    }
    return;
  }
  if (status >= 300 && status < 400 && follow_redirect(call, response)) return;
  if (status >= 300) {
    if (call.sip.referral) notify_referrer(*call.sip.referral, status, response.reason_phrase());
    const std::string room = call.room();
    const uint64_t member = call.member();
    release_call_cap(guard_, call);
    stop_dial_timer(stack_.timers(), call);
    dialing_.erase(it);
    publish(room, ControlEvent::Kind::kMemberLeft, member);
    return;
  }
  // 2xx: the dialog exists; the callee's offer is in the 2xx.
  std::unique_ptr<Call> owned = std::move(it->second);
  dialing_.erase(it);
  stop_dial_timer(stack_.timers(), *owned);
  std::optional<sip::Dialog> dialog = sip::Dialog::create_uac(*owned->sip.invite, response);
  if (!dialog) {
    // A 2xx without Contact or To-tag makes no dialog to ACK or BYE in: the
    // attempt failed, and the referrer and the room hear so.
    spdlog::warn("dial-out to {} in {}: its 2xx makes no dialog (no To-tag or Contact)",
                 owned->roster.entity, owned->room());
    if (owned->sip.referral) notify_referrer(*owned->sip.referral, 502, "Bad Gateway");
    release_call_cap(guard_, *owned);
    publish(owned->room(), ControlEvent::Kind::kMemberLeft, owned->member());
    return;
  }
  dialog->set_local_contact(contact_for(owned->room(), owned->sip.transport));
  // The INVITE usage of the new dialog (rooms/invite_usage.cpp): it builds
  // the ACK and starts a session timer if the callee's 2xx asks for one.
  std::unique_ptr<sip::InviteSession> session =
      sip::InviteSession::create_uac(*owned->sip.invite, session_config());
  sip::InviteResponseOutcome outcome =
      session->on_response(*dialog, response, stack_.timers().now(), random_);
  dialog->add_usage(std::move(session));
  owned->sip.id = dialog->id();
  owned->sip.ack = outcome.ack ? std::move(*outcome.ack)
                               : dialog->make_ack(owned->sip.invite->cseq().number);
  owned->sip.remote_tag = dialog->id().remote_tag;
  if (const auto display = response.to().display_name; !display.empty()) {
    owned->roster.display = std::string(display);
  }
  auto fail = [&](int code, std::string_view reason) {
    // §13.2.2.4: a 2xx is always ACKed; then the session ends with BYE.
    stack_.send_ack(*owned->sip.ack);
    dialog->confirm();
    send_bye(*dialog);
    if (owned->sip.referral) notify_referrer(*owned->sip.referral, code, reason);
    release_call_cap(guard_, *owned);
    publish(owned->room(), ControlEvent::Kind::kMemberLeft, owned->member());
  };
  if (owned->sip.cancelling) {
    // Answered while our CANCEL was on its way: the 2xx wins (§9.1), so the
    // call is ACKed and ended at once.
    fail(487, "Request Terminated");
    return;
  }
  const std::string_view body = response.body();
  if (body.empty() || !is_sdp(response.content_type())) {
    fail(488, "Not Acceptable Here");
    return;
  }
  auto negotiated = owned->media.offer_answer.answer(body, sdp::LocalMedia{kPlaceholderPort, 0});
  if (!negotiated.ok() || !negotiated.value().negotiated.accepted) {
    fail(488, "Not Acceptable Here");
    return;
  }
  // The same path from a negotiated SDP to the media engine as a dial-in.
  const sdp::Negotiated chosen = negotiated.value().negotiated;
  std::optional<Referral> referral = owned->sip.referral;
  owned->sip.referral.reset();
  const sip::DialogId id = owned->id();
  switch (start_media(owned, negotiated.value(), chosen)) {
    case MediaStart::kQueued:
      break;
    case MediaStart::kUnsupported:
      owned->sip.referral = referral;
      fail(488, "Not Acceptable Here");
      return;
    case MediaStart::kBusy:
      owned->sip.referral = referral;
      fail(503, "Service Unavailable");
      return;
  }
  dialog->confirm();
  dialogs_.insert(std::move(*dialog));
  if (referral) {
    // RFC 5359 §2.3 F17: the final sipfrag carries the 200's From, To and
    // Call-ID, so the referrer (the holder) can later build the Replaces
    // that takes the call back from the service.
    const std::array<std::pair<std::string, std::string>, 3> frag = {{
        {"From", std::string(response.header("From").value_or(""))},
        {"To", std::string(response.header("To").value_or(""))},
        {"Call-ID", std::string(response.call_id())},
    }};
    notify_referrer(*referral, 200, "OK", frag);
  }
  if (Call* placed = rooms_.find_call(id)) arm_session_deadline(*placed);
}

bool Server::follow_redirect(Call& call, const Message& response) {
  // Once per dial-out, and never for a call carrying Replaces: the dialog
  // it names lives at the original target (RFC 5359 services, pickup).
  if (call.sip.redirected || call.sip.cancelling || !call.sip.invite ||
      call.sip.invite->has_header("Replaces")) {
    return false;
  }
  std::optional<sip::Uri> next;
  for (const auto& contact : response.contacts()) {
    auto uri = sip::parse_uri(contact.uri_text);
    if (uri && uri->is_sip()) {
      next = std::move(uri);
      break;
    }
  }
  if (!next) return false;
  const std::string target = sip::request_target(*next);
  const LogContext context({}, call.room());
  // The new target passes the same authorisation as the original (RFC 5850
  // §4: a redirect must not take the focus where the requester could not).
  if (!call.sip.dial_account.empty() && !dial_out_allowed(call.sip.dial_account, target)) {
    spdlog::info("dial-out {}: not following {} to {}: outside account {}'s dial-out patterns",
                 call.roster.entity, response.status(), target, call.sip.dial_account);
    return false;
  }
  if (call.sip.dial_account.empty() && call.roster.hidden) return false;
  // Charged to where the new INVITE goes first: a Contact's maddr (RFC 3261
  // §19.1.1), not its host, as for every other request (first_hop_host).
  if (!call.sip.dial_source.empty() &&
      !guard_.may_reflect(call.sip.dial_source, first_hop_host({}, *next),
                          call.sip.dial_source_proven)) {
    spdlog::info("dial-out {}: not following {} to {}: reflection limit", call.roster.entity,
                 response.status(), target);
    return false;
  }
  // RFC 3261 §8.1.3.4: a new request to the Contact, as the original with
  // the Request-URI changed and the next CSeq (Call-ID, From, To kept).
  Message invite = *call.sip.invite;
  invite.set_request_uri(target);
  invite.set_header("CSeq", std::to_string(invite.cseq().number + 1) + " INVITE");
  const auto transport = next->param("transport");
  call.sip.transport = transport && sip::iequals(*transport, "tcp") ? sip::TransportKind::kTcp
                                                                     : sip::TransportKind::kUdp;
  invite.set_header("Contact", contact_for(call.room(), call.sip.transport));
  spdlog::info("dial-out {}: following {} to {}", call.roster.entity, response.status(), target);
  call.sip.redirected = true;
  call.sip.invite = invite;
  call.sip.provisional_seen = false;
  call.sip.early_remote_tags.clear();
  const sip::DialogId id = call.id();
  const sip::TransactionId tx = stack_.send_request(
      std::move(invite),
      [this, id](const sip::ClientEvent& event) { on_dial_out_response(id, event); });
  if (tx == 0) return false;
  call.sip.invite_tx = tx;
  return true;
}

void Server::notify_referrer(const Referral& referral, int status, std::string_view reason,
                             std::span<const std::pair<std::string, std::string>> frag_headers) {
  sip::Dialog* dialog = dialogs_.find(referral.dialog);
  if (dialog == nullptr) return;
  sip::Subscription* subscription = sip::find_subscription(*dialog, "refer", referral.event_id);
  if (subscription == nullptr) return;
  Message notify = sip::make_refer_notify(*dialog, *subscription, status, reason,
                                          stack_.timers().now(), frag_headers);
  stack_.send_request(std::move(notify), [](const sip::ClientEvent&) {});
  if (status >= 200) release_referral_dialog(referral.dialog, *dialog);
}

void Server::release_referral_dialog(const sip::DialogId& id, sip::Dialog& dialog) {
  // A call's dialog keeps its call's usages and drops its ended REFER
  // subscriptions (a member REFERring its own mute a thousand times leaves
  // none behind); an out-of-dialog REFER's dialog lives only for its
  // subscription.
  if (rooms_.find_call(id) != nullptr) {
    dialog.remove_terminated_usages(sip::UsageKind::kSubscription);
    return;
  }
  dialog.remove_terminated_usages();
  if (!dialog.has_live_usages()) dialogs_.erase(id);
}

void Server::expire_referrals() {
  // A referral's outcome normally ends its subscription (notify_referrer);
  // one that never came (a lost completion, a path that forgot it) would
  // keep the subscription and an out-of-dialog REFER's dialog for good.
  const sip::TimePoint now = stack_.timers().now();
  std::vector<sip::DialogId> due;
  dialogs_.for_each([&](const sip::Dialog& dialog) {
    for (const auto& usage : dialog.usages()) {
      if (usage->kind() != sip::UsageKind::kSubscription || usage->terminated()) continue;
      const auto& subscription = static_cast<const sip::Subscription&>(*usage);
      if (subscription.event() == "refer" && subscription.expires_at() <= now) {
        due.push_back(dialog.id());
        return;
      }
    }
  });
  for (const sip::DialogId& id : due) {
    sip::Dialog* dialog = dialogs_.find(id);
    if (dialog == nullptr) continue;
    sip::DeadlineActions actions;
    for (const auto& usage : dialog->usages()) {
      if (usage->kind() != sip::UsageKind::kSubscription || usage->terminated()) continue;
      auto& subscription = static_cast<sip::Subscription&>(*usage);
      if (subscription.event() == "refer") subscription.on_deadline(*dialog, now, actions);
    }
    for (Message& notify : actions.requests) {
      stack_.send_request(std::move(notify), [](const sip::ClientEvent&) {});
    }
    ++referrals_expired_;
    spdlog::info("REFER subscription of dialog {} expired before its outcome", id.call_id);
    release_referral_dialog(id, *dialog);
  }
}

}  // namespace chorus::focus
