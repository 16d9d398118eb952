// REFER to the conference URI (RFC 3515, RFC 4579 §5.5): dial-out with
// sipfrag progress, removal (method=BYE), the RFC 5359 music-on-hold and
// park flows (Refer-To with Replaces), and action URNs with Target-Dialog
// (RFC 4538). Dial-out INVITEs carry no offer: the callee's 2xx offers and
// our ACK answers (RFC 3261 §13.2.1), so the mixer stream is built for the
// codec the callee picked.

#include <array>

#include <spdlog/spdlog.h>

#include "focus/events/event_service.hpp"
#include "focus/ops/log.hpp"
#include "focus/rooms/media_setup.hpp"
#include "focus/rooms/server_call.hpp"
#include "signaling/message/header_dialog_ref.hpp"
#include "signaling/message/header_refer.hpp"
#include "signaling/usage/refer.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::focus {

using sip::Message;
using sip::Method;

namespace {

// Headers a Refer-To URI may not set in the INVITE it causes (RFC 3261
// §19.1.5: they would forge the dialog or the transport).
bool forbidden_embedded(std::string_view name) {
  static constexpr std::array<std::string_view, 14> kForbidden = {"From",
                                                                  "To",
                                                                  "Call-ID",
                                                                  "CSeq",
                                                                  "Via",
                                                                  "Contact",
                                                                  "Max-Forwards",
                                                                  "Route",
                                                                  "Record-Route",
                                                                  "Content-Length",
                                                                  "Content-Type",
                                                                  "Authorization",
                                                                  "Proxy-Authorization",
                                                                  "body"};
  for (std::string_view forbidden : kForbidden) {
    if (sip::iequals(name, forbidden)) return true;
  }
  return false;
}

// "sip:user@host" as a URI we can send to, without embedded headers or the
// method parameter.
std::string plain_target(const sip::Uri& uri) {
  std::string out = std::string(uri.scheme) + ":";
  if (!uri.user.empty()) out += std::string(uri.user) + "@";
  out += uri.host_port();
  for (const sip::Param& param : uri.params()) {
    if (sip::iequals(param.name, "method")) continue;
    out += ";" + std::string(param.name);
    if (!param.value.empty()) out += "=" + std::string(param.value);
  }
  return out;
}

}  // namespace

void Server::handle_refer(const sip::ServerTransaction& tx, sip::Dialog* dialog) {
  const Message& request = tx.request();
  const std::string local_tag = dialog != nullptr ? dialog->id().local_tag : random_.tag();
  if (std::optional<Message> bad = sip::check_refer(request, local_tag)) {
    tx.respond(std::move(*bad));  // RFC 3515 §2.4.1: one parsable Refer-To
    return;
  }
  const auto refer_to = sip::parse_refer_to(*request.header("Refer-To"));
  // Which room: the dialog's, or the Request-URI's user part.
  std::string room;
  if (dialog != nullptr) {
    if (const auto it = calls_.find(dialog->id()); it != calls_.end()) room = it->second->room;
  }
  if (room.empty()) room = request.request_uri().user_decoded();
  if (room.empty()) {
    tx.respond(404, "Missing Conference Name", local_tag);
    return;
  }

  if (refer_to->is_action_urn()) {
    handle_action_urn(tx, dialog, refer_to->action());
    return;
  }
  const sip::Uri& target = refer_to->target.uri;
  if (!target.is_sip()) {
    tx.respond(416, "Unsupported URI Scheme in Refer-To", local_tag);
    return;
  }

  if (sip::iequals(refer_to->method(), "BYE")) {
    // RFC 4579 §5.8: remove the member the URI names.
    Call* member = nullptr;
    const std::string wanted = plain_target(target);
    for (auto& [id, call] : calls_) {
      if (call->room != room || call->hidden) continue;
      const auto entity = sip::parse_uri(call->entity);
      const sip::Dialog* member_dialog = dialogs_.find(id);
      const auto contact =
          member_dialog != nullptr ? sip::parse_uri(member_dialog->remote_target()) : std::nullopt;
      if ((entity && sip::uri_equivalent(*entity, target)) ||
          (contact && sip::uri_equivalent(*contact, target)) || call->entity == wanted) {
        member = call.get();
      }
    }
    if (member == nullptr) {
      tx.respond(404, "No Such Member", local_tag);
      return;
    }
    if (!authorize(tx, sip::kRightRemove)) return;
    const sip::DialogId member_id = member->id;
    sip::ReferOutcome outcome =
        dialog != nullptr
            ? sip::accept_refer(*dialog, request, stack_.timers().now())
            : sip::accept_refer(dialogs_, request, random_,
                                contact_for(room, tx.source().transport), stack_.timers().now());
    tx.respond(std::move(outcome.response));
    if (!outcome.accepted) return;
    std::optional<Referral> referral;
    if (outcome.subscription != nullptr && outcome.dialog != nullptr) {
      referral = Referral{outcome.dialog->id(), outcome.subscription->id()};
      if (outcome.notify) stack_.send_request(std::move(*outcome.notify), [](const auto&) {});
    }
    end_call(member_id, /*send_bye=*/true);
    if (referral) notify_referrer(*referral, 200, "OK");
    return;
  }
  if (!sip::iequals(refer_to->method(), "INVITE")) {
    tx.respond(400, reason_text("Unsupported Refer-To method", refer_to->method()), local_tag);
    return;
  }

  // Dial-out. With Replaces to the music-on-hold or park service the target
  // only accepts if it holds that dialog (RFC 3891 §3: else 481, no
  // alerting), so those need no account; any other dial-out does (toll fraud).
  const bool replaces = refer_to->replaces().has_value();
  const bool service = is_service_room(room);
  if (!(replaces && service)) {
    if (!authorize(tx, sip::kRightDialOut)) return;
  }
  sip::ReferOutcome outcome =
      dialog != nullptr
          ? sip::accept_refer(*dialog, request, stack_.timers().now())
          : sip::accept_refer(dialogs_, request, random_, contact_for(room, tx.source().transport),
                              stack_.timers().now());
  tx.respond(std::move(outcome.response));
  if (!outcome.accepted) return;
  DialOut out;
  out.room = room;
  out.target = plain_target(target);
  for (auto& [name, value] : target.headers()) {
    if (!forbidden_embedded(name)) out.headers.emplace_back(name, value);
  }
  // RFC 3892: the INVITE says who asked for it.
  if (const auto by = request.header("Referred-By")) {
    out.referred_by = std::string(*by);
  } else {
    out.referred_by = "<" + request.from().uri.to_string() + ">";
  }
  if (outcome.subscription != nullptr && outcome.dialog != nullptr) {
    out.referral = Referral{outcome.dialog->id(), outcome.subscription->id()};
    if (outcome.notify) stack_.send_request(std::move(*outcome.notify), [](const auto&) {});
  }
  out.hidden = false;
  out.hold = service ? mixer::HoldMode::kMusic : mixer::HoldMode::kNone;
  // Each parked call waits in a room of its own (park/<n>) so that its
  // retrieval can join it there.
  if (room == options_.park_user)
    out.room = options_.park_user + "/" + std::to_string(++last_park_);
  start_dial_out(std::move(out));
}

void Server::handle_action_urn(const sip::ServerTransaction& tx, sip::Dialog* dialog,
                               std::string_view action) {
  const Message& request = tx.request();
  const std::string local_tag = dialog != nullptr ? dialog->id().local_tag : random_.tag();
  // The URNs we act on and the right each needs.
  struct Action {
    std::string_view name;
    std::string_view right;
  };
  static constexpr std::array<Action, 7> kActions = {{
      {"call:mute", sip::kRightModerate},
      {"call:unmute", sip::kRightModerate},
      {"call:hold", sip::kRightModerate},
      {"call:unhold", sip::kRightModerate},
      {"call:terminate", sip::kRightRemove},
      {"conference:remove", sip::kRightRemove},
      {"conference:add", sip::kRightModerate},
  }};
  const Action* known = nullptr;
  for (const Action& candidate : kActions) {
    if (sip::iequals(candidate.name, action)) known = &candidate;
  }
  if (known == nullptr) {
    tx.respond(501, reason_text("Unsupported Action", action), local_tag);
    return;
  }
  const auto target_dialog = request.header("Target-Dialog");
  if (!target_dialog) {
    tx.respond(400, "Missing Target-Dialog", local_tag);  // RFC 4538: it names the member
    return;
  }
  const sip::DialogSet::Referenced found = dialogs_.find_target_dialog(*target_dialog);
  // RFC 4538 §4: local/remote as the sender sees them; the sender may be the
  // member itself or a moderator holding the ids, so try both readings.
  sip::Dialog* named = found.dialog;
  if (named == nullptr) named = dialogs_.find_join(*target_dialog).dialog;
  if (named == nullptr) {
    if (const auto parsed = sip::parse_target_dialog(*target_dialog)) {
      named =
          dialogs_.find(sip::DialogId{std::string(parsed->call_id), std::string(parsed->local_tag),
                                      std::string(parsed->remote_tag)});
    } else {
      tx.respond(400, "Bad Target-Dialog", local_tag);
      return;
    }
  }
  const auto it = named != nullptr ? calls_.find(named->id()) : calls_.end();
  if (it == calls_.end()) {
    tx.respond(481, "Target Dialog Does Not Exist", local_tag);
    return;
  }
  Call& member = *it->second;
  // A member may act on its own call from inside its own dialog.
  const bool self = dialog != nullptr && dialog->id() == member.id;
  if (!self && !authorize(tx, known->right)) return;
  const std::string room = member.room;
  const uint64_t id = member.member;
  const sip::DialogId member_dialog = member.id;
  tx.respond(dialog != nullptr ? dialog->make_response(request, 200)
                               : sip::make_response(request, 200, "OK", local_tag));
  if (action == "call:mute") {
    set_muted(room, id, true);
  } else if (action == "call:unmute") {
    set_muted(room, id, false);
  } else if (action == "call:hold") {
    set_hold(room, id, true);
  } else if (action == "call:unhold") {
    set_hold(room, id, false);
  } else if (action == "conference:add") {
    // Into the conversation: off hold, unmuted, a full participant.
    set_hold(room, id, false);
    set_muted(room, id, false);
    set_role(room, id, MemberRole::kParticipant, 0);
  } else {
    end_call(member_dialog, /*send_bye=*/true);
  }
}

void Server::start_dial_out(DialOut request) {
  {
    LogContext context({}, request.room);
    spdlog::info("dialing out to {}{}", request.target,
                 request.referred_by.empty() ? "" : " referred by " + request.referred_by);
  }
  auto call = std::make_unique<Call>(capabilities_);
  call->outbound = true;
  call->room = request.room;
  call->hidden = request.hidden;
  call->entity = request.target;
  call->member = ++last_member_;
  call->referral = request.referral;
  call->joined_by = request.referred_by;
  call->settings.hold = request.hold;
  call->parked = request.hold == mixer::HoldMode::kMusic;
  const auto target = sip::parse_uri(request.target);
  if (target && target->param("transport") && sip::iequals(*target->param("transport"), "tcp")) {
    call->transport = sip::TransportKind::kTcp;
  }
  const std::string call_id = random_.tag() + random_.tag() + "@chorus";
  const std::string local_tag = random_.tag();
  Message invite = Message::request(Method::kInvite, request.target);
  invite.set_header("From", "<" + conference_uri(request.room) + ">;tag=" + local_tag);
  invite.set_header("To", "<" + request.target + ">");
  invite.set_header("Call-ID", call_id);
  invite.set_header("CSeq", std::to_string(random_.initial_cseq()) + " INVITE");
  invite.set_header("Contact", contact_for(request.room, call->transport));
  invite.set_header("Allow", kAllow);
  invite.set_header("Supported", kSupported);
  if (!request.referred_by.empty()) invite.set_header("Referred-By", request.referred_by);
  for (const auto& [name, value] : request.headers) invite.add_header(name, value);
  call->id = sip::DialogId{call_id, local_tag, ""};
  call->invite = invite;
  const sip::DialogId id = call->id;
  outbound_.emplace(id, std::move(call));
  const sip::TransactionId tx = stack_.send_request(
      std::move(invite),
      [this, id](const sip::ClientEvent& event) { on_dial_out_response(id, event); });
  const auto it = outbound_.find(id);
  if (it == outbound_.end()) return;  // answered synchronously (transport error)
  if (tx == 0) {
    if (it->second->referral) notify_referrer(*it->second->referral, 503, "Service Unavailable");
    outbound_.erase(it);
    return;
  }
  it->second->invite_tx = tx;
  publish(request.room, ControlEvent::Kind::kMemberJoined, it->second->member);
}

void Server::on_dial_out_response(const sip::DialogId& pending, const sip::ClientEvent& event) {
  const auto it = outbound_.find(pending);
  if (event.kind != sip::ClientEvent::Kind::kResponse || event.response == nullptr) {
    if (it == outbound_.end()) return;
    const bool timeout = event.kind == sip::ClientEvent::Kind::kTimeout;
    if (it->second->referral) {
      notify_referrer(*it->second->referral, timeout ? 408 : 503,
                      timeout ? "Request Timeout" : "Service Unavailable");
    }
    const std::string room = it->second->room;
    const uint64_t member = it->second->member;
    outbound_.erase(it);
    publish(room, ControlEvent::Kind::kMemberLeft, member);
    return;
  }
  const Message& response = *event.response;
  const int status = response.status();
  if (it == outbound_.end()) {
    // A 2xx retransmission for a call already up: ACK it again (§13.2.2.4).
    if (status / 100 != 2) return;
    const sip::DialogId id{pending.call_id, pending.local_tag, std::string(response.to().tag())};
    const auto call = calls_.find(id);
    if (call != calls_.end() && call->second->ack && call->second->rtp_port != 0) {
      stack_.send_ack(*call->second->ack);
    }
    return;
  }
  Call& call = *it->second;
  if (status < 200) {
    if (status > 100 && !call.provisional_seen) {
      call.provisional_seen = true;
      if (call.referral) notify_referrer(*call.referral, status, response.reason_phrase());
      publish(call.room, ControlEvent::Kind::kMemberChanged, call.member);
    }
    return;
  }
  if (status >= 300) {
    if (call.referral) notify_referrer(*call.referral, status, response.reason_phrase());
    const std::string room = call.room;
    const uint64_t member = call.member;
    outbound_.erase(it);
    publish(room, ControlEvent::Kind::kMemberLeft, member);
    return;
  }
  // 2xx: the dialog exists; the callee's offer is in the 2xx.
  std::unique_ptr<Call> owned = std::move(it->second);
  outbound_.erase(it);
  std::optional<sip::Dialog> dialog = sip::Dialog::create_uac(*owned->invite, response);
  if (!dialog) return;  // a 2xx without Contact/To-tag cannot make a dialog
  dialog->set_local_contact(contact_for(owned->room, owned->transport));
  const uint32_t invite_cseq = owned->invite->cseq().number;
  owned->id = dialog->id();
  owned->ack = dialog->make_ack(invite_cseq);
  owned->remote_tag = dialog->id().remote_tag;
  if (const auto display = response.to().display_name; !display.empty()) {
    owned->display = std::string(display);
  }
  auto fail = [&](int code, std::string_view reason) {
    // §13.2.2.4: a 2xx is always ACKed; then the session ends with BYE.
    stack_.send_ack(*owned->ack);
    dialog->confirm();
    send_bye(*dialog);
    if (owned->referral) notify_referrer(*owned->referral, code, reason);
    publish(owned->room, ControlEvent::Kind::kMemberLeft, owned->member);
  };
  const std::string_view body = response.body();
  if (body.empty() || !is_sdp(response.content_type())) {
    fail(488, "Not Acceptable Here");
    return;
  }
  auto negotiated = owned->media.answer(body, sdp::LocalMedia{kPlaceholderPort, 0});
  if (!negotiated.ok() || !negotiated.value().negotiated.accepted) {
    fail(488, "Not Acceptable Here");
    return;
  }
  const sdp::Negotiated& chosen = negotiated.value().negotiated;
  std::optional<mixer::Command> command = add_command(chosen, options_.rtp_timeout);
  if (!command) {
    fail(488, "Not Acceptable Here");
    return;
  }
  owned->local_session = negotiated.value().session;
  if (chosen.srtp) {
    owned->srtp_keys = {sdp::LocalKey{chosen.srtp->suite, chosen.srtp->local_key_salt}};
    owned->remote_srtp_key = chosen.srtp->remote_key_salt;
  }
  owned->media_index = chosen.media_index;
  owned->rtcp_mux = chosen.rtcp_mux;
  owned->codec = chosen.codec.encoding;
  owned->clock_rate = chosen.codec.clock_rate;
  const mixer::HoldMode hold = owned->settings.hold;
  owned->settings = command->settings;
  if (hold != mixer::HoldMode::kNone) owned->settings.hold = hold;
  if (!add_media(*owned, std::move(*command))) {
    fail(503, "Service Unavailable");
    return;
  }
  dialog->confirm();
  dialogs_.insert(std::move(*dialog));
  if (owned->referral) notify_referrer(*owned->referral, 200, "OK");
  owned->referral.reset();
  const sip::DialogId id = owned->id;
  calls_.emplace(id, std::move(owned));
}

void Server::notify_referrer(const Referral& referral, int status, std::string_view reason) {
  sip::Dialog* dialog = dialogs_.find(referral.dialog);
  if (dialog == nullptr) return;
  sip::Subscription* subscription = sip::find_subscription(*dialog, "refer", referral.event_id);
  if (subscription == nullptr) return;
  Message notify =
      sip::make_refer_notify(*dialog, *subscription, status, reason, stack_.timers().now());
  stack_.send_request(std::move(notify), [](const sip::ClientEvent&) {});
  // An out-of-dialog REFER's dialog lives only for its subscription.
  if (status >= 200 && calls_.find(referral.dialog) == calls_.end()) {
    dialog->remove_terminated_usages();
    if (!dialog->has_live_usages()) dialogs_.erase(referral.dialog);
  }
}

void Server::on_room_changed(const std::string& room, ControlEvent::Kind kind) {
  switch (kind) {
    case ControlEvent::Kind::kTalker:
      events_->publish_talkers(room);  // rate-limited (RFC 4575 §4.6 is silent; we cap it)
      return;
    case ControlEvent::Kind::kRoomEnded:
      events_->room_ended(room);
      return;
    default:
      events_->publish(room);
      return;
  }
}

}  // namespace chorus::focus
