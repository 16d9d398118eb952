// The INVITE usage of every call dialog: one implementation, the
// signaling library's sip::InviteSession (RFC 3261 §13-§15, RFC 3311 UPDATE,
// RFC 4028 session timers, §14.1 glare back-off), with the focus as its
// handler. The session decides what the protocol answers on its own (491
// glare, 500 + Retry-After while an offer is pending, 422, 481 after BYE)
// and which deadlines are due; the focus answers what the session delivers
// (re-offers: codec, address, keys, hold) and sends what the deadlines ask
// for (refresh UPDATE or re-INVITE, retry after glare, BYE on expiry).
//
// Every answer to a request the session delivered goes back through
// InviteSession::respond (session_response below), so the session never
// waits for an answer the focus already gave.

#include <spdlog/spdlog.h>

#include <chrono>

#include "focus/ops/log.hpp"
#include "focus/rooms/media_setup.hpp"
#include "focus/server.hpp"

namespace chorus::focus {

using sip::Message;
using sip::Method;

sip::InviteSession::Config Server::session_config() const {
  sip::InviteSession::Config config;
  config.session_timer.enabled = true;
  config.session_timer.min_se = options_.min_se;
  config.session_timer.session_expires = options_.session_expires;
  config.refresh_with_update = options_.session_refresh_with_update;
  // A BYE ends the call's dialog with all it carries: the implicit
  // subscription of an in-dialog REFER gets its final NOTIFY.
  config.bye_ends_dialog = true;
  return config;
}

sip::InviteSession* Server::invite_session(const sip::Dialog& dialog) {
  sip::DialogUsage* usage = dialog.find_usage(sip::UsageKind::kInviteSession);
  return static_cast<sip::InviteSession*>(usage);
}

Message Server::session_response(Call& call, sip::Dialog& dialog, const Message& request,
                                 int status, std::string_view reason, std::string_view sdp) {
  sip::InviteSession* session = invite_session(dialog);
  Message response = session != nullptr ? session->respond(dialog, request, status, reason, sdp,
                                                           stack_.timers().now())
                                         : dialog.make_response(request, status, reason);
  if (session == nullptr && !sdp.empty()) response.set_body("application/sdp", sdp);
  // A 2xx restarts the session timer (RFC 4028 §10); the next deadline moves.
  arm_session_deadline(call);
  return response;
}

void Server::on_session_request(const sip::ServerTransaction& tx, sip::Dialog& dialog,
                                Call* call) {
  const Message& request = tx.request();
  sip::InviteSession* session = invite_session(dialog);
  if (session == nullptr || call == nullptr) {
    // A dialog without an INVITE usage (an out-of-dialog REFER's): nothing
    // to re-INVITE or BYE (RFC 5057 §5.3).
    tx.respond(dialog.make_response(request, 481));
    return;
  }
  sip::InviteRequestOutcome out =
      session->on_request(dialog, request, stack_.timers().now(), random_);
  if (out.pending_invite_response) {
    // §15.1.2: a BYE while a re-INVITE of the peer waits for the shard.
    if (call->sip.pending_reoffer) {
      call->sip.pending_reoffer->respond(std::move(*out.pending_invite_response));
      call->sip.pending_reoffer.reset();
    }
  }
  if (out.response) tx.respond(std::move(*out.response));
  if (out.terminated) {
    for (Message& notify : out.final_notifies) {
      stack_.send_request(std::move(notify), [](const sip::ClientEvent&) {});
    }
    end_call(sip::DialogId(dialog.id()), /*send_bye=*/false);
    return;
  }
  if (!out.deliver) {
    // Answered by the session (491 glare, 500 offer pending, 422).
    return;
  }
  handle_reinvite(tx, dialog, *call);
}

void Server::handle_reinvite(const sip::ServerTransaction& tx, sip::Dialog& dialog, Call& call) {
  // Re-INVITE / UPDATE (RFC 3311): a new offer gets a new answer; without
  // SDP a re-INVITE gets our offer, an UPDATE a plain 200.
  const Message& request = tx.request();
  const std::string_view body = request.body();
  if (body.empty() && request.method() == Method::kUpdate) {
    // An offer-less UPDATE: a session refresh (RFC 4028 §7.4). It changes
    // no media, so a change still under way (even a switch back the engine
    // keeps refusing) never makes the session expire.
    tx.respond(with_capabilities(session_response(call, dialog, request, 200)));
    return;
  }
  if (call.media.rtp_port == 0 || call.sip.pending_reoffer || call.media.pending_codec != 0 ||
      codec_back_unsent(call)) {
    // RFC 3261 §14.2: the shard has not finished the last change yet (or
    // not even taken the switch back after a cancelled one).
    Message response = session_response(call, dialog, request, 500, "Media Change Pending");
    response.set_header("Retry-After", "1");
    tx.respond(std::move(response));
    return;
  }
  const sdp::LocalMedia media{call.media.rtp_port, 0, call.media.srtp_keys};
  if (!body.empty() && !is_sdp(request.content_type())) {
    Message response = session_response(call, dialog, request, 415);
    response.set_header("Accept", "application/sdp");
    tx.respond(std::move(response));
    return;
  }
  // Kept until the shard confirms a codec change: a refusal restores it.
  sdp::OfferAnswer before = call.media.offer_answer;
  auto negotiated = body.empty() ? call.media.offer_answer.create_offer(media)
                                 : call.media.offer_answer.answer(body, media);
  if (!negotiated.ok()) {
    tx.respond(session_response(call, dialog, request, 400,
                                reason_text("Bad SDP", negotiated.error().message)));
    return;
  }
  if (!body.empty() && !negotiated.value().negotiated.accepted) {
    call.media.offer_answer = std::move(before);
    tx.respond(session_response(call, dialog, request, 488));  // the old session stays (§14.2)
    return;
  }
  const sdp::Negotiated& result = negotiated.value().negotiated;
  std::string answer = std::move(negotiated.value().sdp);
  if (!body.empty()) {
    // RFC 7866 §6.1, as in the first answer (on_media_added).
    if (auto session = sdp::Session::parse(answer);
        session && mark_recorded(call, session.value(), body)) {
      answer = session.value().serialize();
    }
  }
  std::optional<mixer::CommandId> codec_change = 0;
  const std::string old_codec = call.media.codec;
  const uint32_t old_rate = call.media.clock_rate;
  if (!body.empty()) {
    codec_change = change_codec(call, result);
    if (!codec_change) {
      // The old session stays (RFC 3264 §8.3.2 lets the answerer keep it).
      call.media.offer_answer = std::move(before);
      Message response = session_response(call, dialog, request, 488);
      response.add_header("Warning", warning_304("The mixer cannot take the new codec"));
      tx.respond(std::move(response));
      return;
    }
  }
  if (*codec_change != 0) {
    // Answered once the shard confirms the new codec (on_codec_result); a
    // refusal restores the old session and answers 488.
    call.media.previous_offer_answer = std::move(before);
    call.media.previous_codec = old_codec;
    call.media.previous_clock_rate = old_rate;
    call.media.previous_local_sdp = call.media.local_sdp;
    call.media.pending_negotiated = result;
    call.media.local_sdp = answer;
    call.sip.pending_reoffer = tx;
    return;
  }
  call.media.local_sdp = answer;
  if (!body.empty()) apply_reoffer(call, result);
  answer_reoffer(call, tx);
}

void Server::apply_reoffer(Call& call, const sdp::Negotiated& result) {
  set_remote(call, result);
  update_srtp(call, result);
  if (result.webrtc && (result.webrtc->ice_restart || result.webrtc->fingerprint_changed)) {
    // RFC 8839 §4.4.1.1.1 / RFC 5763 §5: new ICE credentials or a new
    // certificate. The answer already carries ours; the stream restarts
    // ICE (a new check latches) or DTLS (SRTP off until the new keys).
    LogContext context(call.id().call_id, call.room());
    spdlog::info("member {}: browser re-offer with {}", call.member(),
                 result.webrtc->ice_restart ? "an ICE restart" : "a new DTLS fingerprint");
    if (const auto webrtc = webrtc_config(result); webrtc && call.media.participant != 0) {
      set_webrtc(call, *webrtc);
    }
  }
  // RFC 3264 §8.4: sendonly/inactive holds (no RTP to the member), sendrecv
  // resumes; a hold of the focus's own stays.
  call.media.peer_hold = hold_mode(result);
  const mixer::HoldMode hold = call.effective_hold();
  if (hold != call.media.settings.hold) {
    call.media.settings.hold = hold;
    apply_settings(call);
  }
}

void Server::answer_reoffer(Call& call, const sip::ServerTransaction& tx) {
  sip::Dialog* dialog = dialogs_.find(call.id());
  if (dialog == nullptr) return;
  tx.respond(with_capabilities(
      session_response(call, *dialog, tx.request(), 200, {}, call.media.local_sdp)));
}

void Server::cancel_reoffer(const sip::ServerTransaction& invite) {
  const Message& request = invite.request();
  const sip::DialogId id = sip::dialog_id_of_request(request);
  Call* call = rooms_.find_call(id);
  if (call == nullptr || !call->sip.pending_reoffer ||
      call->sip.pending_reoffer->id() != invite.id()) {
    return;
  }
  // RFC 3261 §9.2: after the 487 the session is what it was before this
  // re-INVITE. Its codec change is with the shard already; on_codec_result
  // undoes it when it completes, and until then a new re-INVITE gets 500.
  call->sip.pending_reoffer.reset();
  call->sip.reoffer_cancelled = true;
  if (sip::Dialog* dialog = dialogs_.find(id)) {
    // The stack sent the 487; the session hears of it too, or it would
    // take the INVITE for still pending and refuse every later one.
    session_response(*call, *dialog, request, 487);
  }
  LogContext context(id.call_id, call->room());
  spdlog::info("member {}: re-INVITE cancelled while the shard changes the codec", call->member());
}

void Server::on_ack(const Message& ack) {
  const sip::DialogSet::RequestMatch match = dialogs_.match_request(ack);
  if (match.dialog == nullptr) return;  // stray ACK: nothing to answer (§17.2.3)
  sip::Dialog& dialog = *match.dialog;
  dialog.check_request(ack);
  Call* found = rooms_.find_call(dialog.id());
  if (found == nullptr) return;
  Call& call = *found;
  if (sip::InviteSession* session = invite_session(dialog)) {
    session->on_request(dialog, ack, stack_.timers().now(), random_);
  }
  if (!call.media.offer_answer.has_pending_offer()) return;
  // Our 2xx carried the offer; the ACK must carry the answer (§13.2.1).
  const auto answer = ack.body().empty()
                          ? sdp::Result<sdp::Negotiated>(sdp::Error{"no answer"})
                          : call.media.offer_answer.process_answer(ack.body());
  if (!answer.ok() || !answer.value().accepted) {
    end_call(sip::DialogId(call.id()), /*send_bye=*/true);
    return;
  }
  // The stream started with our first codec and without a peer; now the
  // answer names both. A codec the shard refuses ends the call
  // (on_codec_result: nothing is pending to answer).
  if (!change_codec(call, answer.value())) {
    end_call(sip::DialogId(call.id()), /*send_bye=*/true);
    return;
  }
  set_remote(call, answer.value());
}

void Server::arm_session_deadline(Call& call) {
  if (call.sip.session_deadline != 0) {
    stack_.timers().cancel(call.sip.session_deadline);
    call.sip.session_deadline = 0;
  }
  const sip::Dialog* dialog = dialogs_.find(call.id());
  if (dialog == nullptr) return;
  const sip::InviteSession* session = invite_session(*dialog);
  if (session == nullptr) return;
  const std::optional<sip::TimePoint> at = session->next_deadline();
  if (!at) return;
  const sip::TimePoint now = stack_.timers().now();
  const auto delay = *at > now ? std::chrono::ceil<std::chrono::milliseconds>(*at - now)
                               : std::chrono::milliseconds(0);
  const sip::DialogId id = call.id();
  call.sip.session_deadline = stack_.timers().start(delay, [this, id] { on_session_deadline(id); });
}

void Server::on_session_deadline(const sip::DialogId& id) {
  Call* call = rooms_.find_call(id);
  if (call == nullptr) return;
  call->sip.session_deadline = 0;
  sip::Dialog* dialog = dialogs_.find(id);
  sip::InviteSession* session = dialog != nullptr ? invite_session(*dialog) : nullptr;
  if (session == nullptr) return;
  sip::DeadlineActions actions;
  session->on_deadline(*dialog, stack_.timers().now(), actions);
  if (actions.session_expired) {
    // RFC 4028 §10: the refresher stayed silent; the BYE is in `requests`.
    {
      LogContext context(id.call_id, call->room());
      spdlog::info("member {}: session expired without a refresh (RFC 4028 §10)",
                   call->member());
    }
    for (Message& request : actions.requests) {
      stack_.send_request(std::move(request), [](const sip::ClientEvent&) {});
    }
    end_call(id, /*send_bye=*/false);
    return;
  }
  // The refresh UPDATE (RFC 4028 §7.4).
  for (Message& request : actions.requests) send_in_session(id, std::move(request));
  if (actions.session_refresh_due || actions.reinvite_retry_due) send_session_reinvite(*call);
  if (Call* still = rooms_.find_call(id)) arm_session_deadline(*still);
}

void Server::send_in_session(const sip::DialogId& id, Message request) {
  request.set_header("Allow", kAllow);
  if (!request.header("Supported")) request.set_header("Supported", kSupported);
  stack_.send_request(std::move(request), [this, id](const sip::ClientEvent& event) {
    on_session_response(id, event);
  });
}

void Server::send_session_reinvite(Call& call) {
  sip::Dialog* dialog = dialogs_.find(call.id());
  sip::InviteSession* session = dialog != nullptr ? invite_session(*dialog) : nullptr;
  if (session == nullptr) return;
  // §14.1: never two INVITE transactions at once in either direction. A
  // re-INVITE of the peer under way refreshes the session itself; a media
  // change still pending is waited out (the next deadline retries).
  if (session->local_invite_pending() || session->remote_invite_pending() ||
      call.media.rtp_port == 0 || call.media.pending_codec != 0 ||
      call.media.offer_answer.has_pending_offer()) {
    return;
  }
  const sdp::LocalMedia media{call.media.rtp_port, 0, call.media.srtp_keys};
  auto offer = call.media.offer_answer.create_offer(media);
  if (!offer.ok()) return;
  call.media.offered_sdp = offer.value().sdp;
  send_in_session(call.id(), session->make_reinvite(*dialog, offer.value().sdp));
}

void Server::on_session_response(const sip::DialogId& id, const sip::ClientEvent& event) {
  Call* call = rooms_.find_call(id);
  sip::Dialog* dialog = dialogs_.find(id);
  sip::InviteSession* session = dialog != nullptr ? invite_session(*dialog) : nullptr;
  if (call == nullptr || session == nullptr) return;  // ended meanwhile
  if (event.kind != sip::ClientEvent::Kind::kResponse || event.response == nullptr) {
    // §14.1 / RFC 4028 §10: a refresh that times out (or cannot be sent)
    // ends the session, as a 408 would.
    {
      LogContext context(id.call_id, call->room());
      spdlog::info("member {}: no answer to our in-dialog request: BYE", call->member());
    }
    end_call(id, /*send_bye=*/true);
    return;
  }
  const Message& response = *event.response;
  sip::InviteResponseOutcome out =
      session->on_response(*dialog, response, stack_.timers().now(), random_);
  if (out.ack) stack_.send_ack(std::move(*out.ack));
  if (out.rejected && call->media.offer_answer.has_pending_offer()) {
    // 491, 488, ...: our offer is void, the session stays as it was.
    call->media.offer_answer.withdraw_offer();
    call->media.offered_sdp.clear();
  }
  if (out.terminated) {
    if (out.bye) stack_.send_request(std::move(*out.bye), [](const sip::ClientEvent&) {});
    end_call(id, /*send_bye=*/false);
    return;
  }
  if (out.answer_received && call->media.offer_answer.has_pending_offer()) {
    // The answer to the offer of our re-INVITE: same path as a re-offer.
    auto answer = call->media.offer_answer.process_answer(response.body());
    if (!answer.ok() || !answer.value().accepted) {
      end_call(id, /*send_bye=*/true);
      return;
    }
    call->media.local_sdp = std::move(call->media.offered_sdp);
    call->media.offered_sdp.clear();
    const std::optional<mixer::CommandId> change = change_codec(*call, answer.value());
    if (!change) {
      end_call(id, /*send_bye=*/true);
      return;
    }
    if (*change == 0) {
      apply_reoffer(*call, answer.value());
    } else {
      // Applied when the shard takes the codec (on_codec_result); a refusal
      // ends the call, as nothing is left to answer.
      call->media.pending_negotiated = answer.value();
    }
  }
  if (out.refresh_by_reinvite) send_session_reinvite(*call);
  arm_session_deadline(*call);
}

}  // namespace chorus::focus
