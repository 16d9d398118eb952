#include "signaling/dialog/invite_session.hpp"

#include <algorithm>
#include <cassert>
#include <string>

#include "signaling/message/header_misc.hpp"
#include "signaling/usage/subscription.hpp"

namespace chorus::sip {
namespace {

constexpr std::string_view kSdpType = "application/sdp";

// RFC 3261 §14.2: "500 ... with a Retry-After header field with a randomly
// chosen value of between 0 and 10 seconds".
Message retry_later(const Dialog& dialog, const Message& request, DialogRandom& random,
                    std::string_view reason) {
  Message r = dialog.make_response(request, 500, reason);
  r.set_header("Retry-After", std::to_string(random.uniform(0, 10)));
  return r;
}

}  // namespace

bool has_sdp(const Message& message) {
  if (message.body().empty()) return false;
  const auto type = parse_content_type(message.content_type());
  return type && type->is(kSdpType);
}

std::unique_ptr<InviteSession> InviteSession::create_uas(const Message& initial_invite,
                                                         const Config& config) {
  std::unique_ptr<InviteSession> s(new InviteSession());
  s->role_ = DialogRole::kUas;
  s->config_ = config;
  s->uas_invite_ = initial_invite;
  s->uas_invite_had_offer_ = has_sdp(initial_invite);
  if (s->uas_invite_had_offer_) s->offer_state_ = OfferState::kRemoteOffer;
  s->uas_timer_ = negotiate_session_timer_uas(initial_invite, config.session_timer);
  return s;
}

std::unique_ptr<InviteSession> InviteSession::create_uac(const Message& initial_invite,
                                                         const Config& config) {
  std::unique_ptr<InviteSession> s(new InviteSession());
  s->role_ = DialogRole::kUac;
  s->config_ = config;
  s->uac_invite_cseq_ = initial_invite.cseq().number;
  s->uac_invite_had_offer_ = has_sdp(initial_invite);
  if (s->uac_invite_had_offer_) s->offer_state_ = OfferState::kLocalOffer;
  if (const auto se = initial_invite.header("Session-Expires")) {
    if (const auto parsed = parse_session_expires(*se)) s->requested_interval_ = parsed->delta;
  }
  return s;
}

std::optional<TimePoint> InviteSession::next_deadline() const {
  if (state_ == InviteState::kTerminated) return std::nullopt;
  std::optional<TimePoint> earliest = timer_.next_deadline();
  if (retry_at_ && (!earliest || *retry_at_ < *earliest)) earliest = retry_at_;
  return earliest;
}

void InviteSession::on_deadline(Dialog& dialog, TimePoint now, DeadlineActions& out) {
  if (state_ == InviteState::kTerminated) return;
  if (retry_at_ && *retry_at_ <= now) {
    retry_at_.reset();
    out.reinvite_retry_due = true;
  }
  switch (timer_.poll(now)) {
    case SessionTimer::Due::kNone:
      break;
    case SessionTimer::Due::kRefresh:
      if (config_.refresh_with_update && !update_unsupported_ && !uac_update_cseq_ &&
          !uac_invite_cseq_) {
        // RFC 4028 §7.4: an offer-less UPDATE refreshes without touching
        // the media session.
        out.requests.push_back(make_update(dialog));
      } else {
        out.session_refresh_due = true;
      }
      break;
    case SessionTimer::Due::kExpire:
      // RFC 4028 §10: no refresh arrived in time; end the session.
      out.requests.push_back(make_bye(dialog));
      out.session_expired = true;
      break;
  }
}

void InviteSession::terminate() {
  state_ = InviteState::kTerminated;
  timer_.stop();
  retry_at_.reset();
}

InviteRequestOutcome InviteSession::on_request(Dialog& dialog, const Message& request,
                                               TimePoint now, DialogRandom& random) {
  (void)now;
  InviteRequestOutcome out;
  const Method method = request.method();

  if (state_ == InviteState::kTerminated) {
    // RFC 5057 §5.3: the invite usage is gone; requests that belong to it
    // get 481. An ACK is simply absorbed.
    if (method != Method::kAck) {
      out.response = dialog.make_response(request, 481, "Session Does Not Exist");
    }
    return out;
  }

  switch (method) {
    case Method::kInvite: {
      if (uas_invite_) {
        // §14.2: an INVITE while the peer's previous one has no final answer.
        out.response = retry_later(dialog, request, random, "Previous INVITE Pending");
        return out;
      }
      const bool offer = has_sdp(request);
      if (uac_invite_cseq_ || (offer && offer_state_ == OfferState::kLocalOffer)) {
        // §14.2 glare: our INVITE (or UPDATE offer, RFC 3311 §5.2) is in
        // progress.
        out.response = dialog.make_response(request, 491);
        return out;
      }
      if (offer_state_ == OfferState::kRemoteOffer) {
        // RFC 3311 §5.2 applied to INVITE: an offer of the peer is unanswered.
        out.response = retry_later(dialog, request, random, "Offer Pending");
        return out;
      }
      auto timer = negotiate_session_timer_uas(request, config_.session_timer);
      if (timer.reject) {
        Message r = dialog.make_response(request, 422);
        apply_session_timer(timer, r);
        out.response = std::move(r);
        return out;
      }
      uas_invite_ = request;
      uas_invite_had_offer_ = offer;
      uas_timer_ = timer;
      if (offer) offer_state_ = OfferState::kRemoteOffer;
      out.deliver = true;
      return out;
    }
    case Method::kAck: {
      if (awaiting_ack_cseq_ && request.cseq().number == *awaiting_ack_cseq_) {
        awaiting_ack_cseq_.reset();
        out.ack_received = true;
        // §13.2.1: our 2xx carried the offer (the INVITE had none); the ACK
        // carries the answer. An ACK without one leaves no negotiated
        // session: the application ends the call (§13.3.1.4 / RFC 6337 §3.1).
        if (offer_state_ == OfferState::kLocalOffer) {
          out.ack_without_answer = !has_sdp(request);
          offer_state_ = OfferState::kStable;
        }
      }
      return out;
    }
    case Method::kUpdate: {
      const bool offer = has_sdp(request);
      if (offer && offer_state_ == OfferState::kLocalOffer) {
        out.response = dialog.make_response(request, 491);  // RFC 3311 §5.2
        return out;
      }
      if (offer && offer_state_ == OfferState::kRemoteOffer) {
        out.response = retry_later(dialog, request, random, "Offer Pending");  // RFC 3311 §5.2
        return out;
      }
      auto timer = negotiate_session_timer_uas(request, config_.session_timer);
      if (timer.reject) {
        Message r = dialog.make_response(request, 422);
        apply_session_timer(timer, r);
        out.response = std::move(r);
        return out;
      }
      uas_timer_ = timer;
      if (offer) offer_state_ = OfferState::kRemoteOffer;
      out.deliver = true;
      return out;
    }
    case Method::kBye: {
      // §15.1.2: answer 200, and 487 to a request of the peer still pending.
      if (uas_invite_) {
        out.pending_invite_response = dialog.make_response(*uas_invite_, 487);
        uas_invite_.reset();
      }
      out.response = dialog.make_response(request, 200);
      out.terminated = true;
      terminate();
      if (config_.bye_ends_dialog) {
        for (const auto& usage : dialog.usages()) {
          if (usage->kind() != UsageKind::kSubscription || usage->terminated()) continue;
          auto& sub = static_cast<Subscription&>(*usage);
          out.final_notifies.push_back(
              sub.make_final_notify(dialog, "noresource", sub.full_state()));
        }
      }
      return out;
    }
    default:
      // INFO and friends: the application decides.
      out.deliver = true;
      return out;
  }
}

Message InviteSession::respond(Dialog& dialog, const Message& request, int status,
                               std::string_view reason, std::string_view sdp, TimePoint now) {
  Message r = dialog.make_response(request, status, reason);
  if (!sdp.empty()) r.set_body(kSdpType, sdp);
  const Method method = request.method();
  const bool is_final = status >= 200;
  const bool ok = status >= 200 && status < 300;

  if (method == Method::kInvite && uas_invite_ &&
      request.cseq().number == uas_invite_->cseq().number) {
    if (status == 422 && uas_timer_) apply_session_timer(*uas_timer_, r);
    if (!is_final) return r;
    if (ok) {
      if (offer_state_ == OfferState::kRemoteOffer) {
        // The 2xx answers the offer (an answer-less 2xx is the
        // application's bug; do not wedge the session in kRemoteOffer).
        offer_state_ = OfferState::kStable;
      } else if (offer_state_ == OfferState::kStable && !uas_invite_had_offer_ && !sdp.empty()) {
        offer_state_ = OfferState::kLocalOffer;  // §13.2.1: the answer comes in the ACK
      }
      if (uas_timer_ && uas_timer_->use_timer) {
        apply_session_timer(*uas_timer_, r);
        timer_.start(uas_timer_->interval, uas_timer_->uas_refreshes(), now);
      }
      awaiting_ack_cseq_ = request.cseq().number;
      dialog.confirm();
      state_ = InviteState::kConfirmed;
    } else {
      if (uas_invite_had_offer_ && offer_state_ == OfferState::kRemoteOffer) {
        offer_state_ = OfferState::kStable;  // the offer was rejected with the request
      }
      if (state_ == InviteState::kEarly) {
        // §13.3.1.3: a failed initial INVITE ends the session and its
        // early dialog.
        terminate();
        dialog.terminate();
      }
    }
    uas_invite_.reset();
    uas_timer_.reset();
    return r;
  }

  if (method == Method::kUpdate && is_final) {
    if (offer_state_ == OfferState::kRemoteOffer) {
      // RFC 3311 §5.2: a 2xx carries the answer; any failure rejects the offer.
      offer_state_ = OfferState::kStable;
    }
    if (ok && uas_timer_ && uas_timer_->use_timer) {
      apply_session_timer(*uas_timer_, r);
      timer_.start(uas_timer_->interval, uas_timer_->uas_refreshes(), now);
    }
    uas_timer_.reset();
  }
  return r;
}

Message InviteSession::make_reinvite(Dialog& dialog, std::string_view sdp) {
  assert(!uac_invite_cseq_ && "an INVITE of ours is already in progress");
  Message m = dialog.make_request(Method::kInvite);
  if (!sdp.empty()) {
    m.set_body(kSdpType, sdp);
    offer_state_ = OfferState::kLocalOffer;
  }
  uac_invite_had_offer_ = !sdp.empty();
  if (timer_.active()) {
    // RFC 4028 §7.4: every refresh re-states the interval; the refresher
    // stays whoever sends the refreshes (us, as UAC of this transaction).
    // RFC 4028 §7.4: a refresh keeps the current refresher (refresher=uac
    // if that is us, the UAC of this transaction) and an interval at least
    // what a 422 demanded.
    requested_interval_ = std::max(timer_.interval(), interval_floor_);
    // §7.3: Min-SE carries the largest Min-SE any 422 told us.
    add_session_timer_request_headers(m, requested_interval_,
                                      std::max(config_.session_timer.min_se, interval_floor_),
                                      timer_.we_refresh());
  }
  uac_invite_cseq_ = m.cseq().number;
  retry_at_.reset();
  return m;
}

Message InviteSession::make_update(Dialog& dialog, std::string_view sdp) {
  Message m = dialog.make_request(Method::kUpdate);
  if (!sdp.empty()) {
    m.set_body(kSdpType, sdp);
    offer_state_ = OfferState::kLocalOffer;
  }
  uac_update_had_offer_ = !sdp.empty();
  if (timer_.active()) {
    // RFC 4028 §7.4: a refresh keeps the current refresher (refresher=uac
    // if that is us, the UAC of this transaction) and an interval at least
    // what a 422 demanded.
    requested_interval_ = std::max(timer_.interval(), interval_floor_);
    // §7.3: Min-SE carries the largest Min-SE any 422 told us.
    add_session_timer_request_headers(m, requested_interval_,
                                      std::max(config_.session_timer.min_se, interval_floor_),
                                      timer_.we_refresh());
  }
  uac_update_cseq_ = m.cseq().number;
  return m;
}

void InviteSession::answered_in_ack() {
  if (offer_state_ == OfferState::kRemoteOffer && !uas_invite_) offer_state_ = OfferState::kStable;
}

Message InviteSession::make_bye(Dialog& dialog) {
  Message m = dialog.make_request(Method::kBye);
  terminate();
  return m;
}

void InviteSession::start_timer_from_uac_result(const Message& response, uint32_t requested,
                                                TimePoint now) {
  const SessionTimerUacResult t = session_timer_from_response(response, requested);
  if (t.use_timer) {
    timer_.start(t.interval, t.we_refresh, now);
  } else if (response.status() >= 200 && response.status() < 300) {
    // §7.2: a 2xx without Session-Expires means no session timer.
    timer_.stop();
  }
}

InviteResponseOutcome InviteSession::on_response(Dialog& dialog, const Message& response,
                                                 TimePoint now, DialogRandom& random) {
  // The dialog may end here (481, a failed initial INVITE) and terminate
  // this usage with it, so note the state first.
  const InviteState before = state_;
  InviteResponseOutcome out = handle_response(dialog, response, now, random, before);
  if (before != InviteState::kTerminated && state_ == InviteState::kTerminated) {
    out.terminated = true;
  }
  return out;
}

InviteResponseOutcome InviteSession::handle_response(Dialog& dialog, const Message& response,
                                                     TimePoint now, DialogRandom& random,
                                                     InviteState before) {
  InviteResponseOutcome out;
  const int status = response.status();
  const Method method = response.method();
  const uint32_t cseq = response.cseq().number;
  const bool ok = status >= 200 && status < 300;
  dialog.on_response(response);

  if (method == Method::kInvite) {
    if (ok && uac_acked_cseq_ && cseq == *uac_acked_cseq_) {
      // §13.2.2.4: a retransmitted 2xx gets the same ACK again.
      out.ack = dialog.make_ack(cseq);
      return out;
    }
    if (!uac_invite_cseq_ || cseq != *uac_invite_cseq_ || status < 200) return out;
    uac_invite_cseq_.reset();
    if (ok) {
      uac_acked_cseq_ = cseq;
      out.ack = dialog.make_ack(cseq);
      if (uac_invite_had_offer_) {
        if (offer_state_ == OfferState::kLocalOffer && has_sdp(response)) {
          offer_state_ = OfferState::kStable;
          out.answer_received = true;
        }
      } else if (has_sdp(response)) {
        offer_state_ = OfferState::kRemoteOffer;
        out.offer_received = true;
      }
      start_timer_from_uac_result(response, requested_interval_, now);
      if (state_ != InviteState::kTerminated) state_ = InviteState::kConfirmed;
      return out;
    }
    // A failure: the offer it carried is void.
    if (uac_invite_had_offer_ && offer_state_ == OfferState::kLocalOffer) {
      offer_state_ = OfferState::kStable;
    }
    if (before == InviteState::kEarly) {
      // §13.2.2.3: the initial INVITE failed.
      out.terminated = true;
      terminate();
      return out;
    }
    out.rejected = true;
    if (status == 491) {
      // §14.1: retry after a random interval.
      retry_at_ = now + random.glare_backoff(dialog.owns_call_id());
      out.retry_at = retry_at_;
    } else if (status == 422) {
      const auto t = session_timer_from_response(response, requested_interval_);
      requested_interval_ = t.retry_interval;
      interval_floor_ = t.retry_interval;
      retry_at_ = now;
      out.retry_at = retry_at_;
    } else if (status == 481) {
      out.terminated = true;  // Dialog::on_response ended the dialog already
      terminate();
    } else if (status == 408) {
      // §14.1: a 408 to a re-INVITE ends the dialog with a BYE.
      out.bye = make_bye(dialog);
      out.terminated = true;
    }
    return out;
  }

  if (method == Method::kUpdate) {
    if (!uac_update_cseq_ || cseq != *uac_update_cseq_ || status < 200) return out;
    uac_update_cseq_.reset();
    if (ok) {
      if (uac_update_had_offer_ && offer_state_ == OfferState::kLocalOffer && has_sdp(response)) {
        offer_state_ = OfferState::kStable;
        out.answer_received = true;
      }
      start_timer_from_uac_result(response, requested_interval_, now);
      return out;
    }
    if (uac_update_had_offer_ && offer_state_ == OfferState::kLocalOffer) {
      offer_state_ = OfferState::kStable;
    }
    out.rejected = true;
    if (status == 491) {
      retry_at_ = now + random.glare_backoff(dialog.owns_call_id());
      out.retry_at = retry_at_;
    } else if (status == 481 || status == 408) {
      out.terminated = true;
      if (status == 408) out.bye = make_bye(dialog);
      terminate();
    } else if ((status == 405 || status == 501) && !uac_update_had_offer_ && timer_.active()) {
      // RFC 4028 §7.4 allows either method; a peer without UPDATE gets
      // re-INVITE refreshes.
      update_unsupported_ = true;
      out.refresh_by_reinvite = true;
    }
    return out;
  }
  return out;
}

}  // namespace chorus::sip
