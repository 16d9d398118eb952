#include "focus/server.hpp"

#include <algorithm>
#include <cctype>

#include "signaling/header_session_timer.hpp"
#include "signaling/header_tokens.hpp"

namespace chorus::focus {
namespace {

using sip::Message;
using sip::Method;

// RFC 4028 §4: the smallest session interval we accept (Min-SE default).
constexpr uint32_t kMinSessionExpires = 90;

sip::StackConfig stack_config(const Options& options) {
  sip::StackConfig config;
  if (options.udp)
    config.listeners.push_back({sip::TransportKind::kUdp, options.sip_host, options.sip_port});
  if (options.tcp)
    config.listeners.push_back({sip::TransportKind::kTcp, options.sip_host, options.sip_port});
  if (!options.tls_certificate.empty() && !options.tls_private_key.empty()) {
    config.listeners.push_back({sip::TransportKind::kTls, options.sip_host, options.tls_port});
    config.transport.tls_certificate_file = options.tls_certificate;
    config.transport.tls_private_key_file = options.tls_private_key;
  }
  return config;
}

sdp::LocalCapabilities capabilities_for(const Options& options) {
  sdp::LocalCapabilities caps;
  caps.address = options.media_address.empty() ? options.sip_host : options.media_address;
  if (caps.address == "0.0.0.0" || caps.address == "::") caps.address = "127.0.0.1";
  return caps;
}

// A reason phrase must be one line of text (RFC 3261 §25.1 Reason-Phrase).
std::string reason_text(std::string_view prefix, std::string_view detail) {
  std::string out(prefix);
  if (!detail.empty()) {
    out += ": ";
    for (char c : detail.substr(0, 100)) {
      out += (c == '\r' || c == '\n' || static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
    }
  }
  return out;
}

bool is_sdp(std::string_view content_type) {
  const std::string_view type = content_type.substr(0, content_type.find(';'));
  std::string lower;
  for (char c : type) {
    if (c != ' ' && c != '\t')
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return lower == "application/sdp";
}

bool supported_option(std::string_view option) {
  for (std::string_view ours : {"replaces", "join", "norefersub", "tdialog", "timer"}) {
    if (sip::iequals(option, ours)) return true;
  }
  return false;
}

}  // namespace

struct Server::Call {
  sip::DialogId id;
  std::string room;
  sip::TransportKind transport = sip::TransportKind::kUdp;
  uint16_t rtp_port = 0;
  sdp::OfferAnswer media;
  std::string local_sdp;
  std::string session_expires;  // echoed in the 2xx (RFC 4028 §9), "" if none
  std::optional<sip::ServerTransaction> ringing;
  sip::TimerId ring_timer = 0;

  explicit Call(sdp::LocalCapabilities caps) : media(std::move(caps)) {}
};

Server::Server(boost::asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      stack_(io, stack_config(options_)),
      ports_(options_.rtp_first, options_.rtp_last),
      capabilities_(capabilities_for(options_)) {}

Server::Server(boost::asio::io_context& io, Options options, sip::TimerService& timers)
    : io_(io),
      options_(std::move(options)),
      stack_(io, stack_config(options_), timers),
      ports_(options_.rtp_first, options_.rtp_last),
      capabilities_(capabilities_for(options_)) {}

Server::~Server() {
  stop();
}

void Server::start() {
  sip::StackHandlers handlers;
  handlers.on_request = [this](const sip::ServerTransaction& tx) { on_request(tx); };
  handlers.on_ack = [this](const Message& ack, const sip::Endpoint&) { on_ack(ack); };
  handlers.on_cancel = [this](const sip::ServerTransaction& invite, const Message&) {
    on_cancel(invite);
  };
  handlers.on_ack_timeout = [this](const Message& response) { on_ack_timeout(response); };
  stack_.set_handlers(std::move(handlers));
  stack_.start();
}

void Server::stop() {
  std::vector<sip::DialogId> ids;
  for (const auto& [id, call] : calls_) ids.push_back(id);
  for (const sip::DialogId& id : ids) end_call(id, /*send_bye=*/true);
  stack_.stop();
}

std::string Server::contact_for(std::string_view room, sip::TransportKind transport) const {
  // RFC 4579 §2.4: the focus marks its Contact with isfocus.
  return "<" + stack_.contact_uri(room, transport) + ">;isfocus";
}

Message Server::with_capabilities(Message response) const {
  response.set_header("Allow", kAllow);
  response.set_header("Accept", kAccept);
  response.set_header("Supported", kSupported);
  return response;
}

void Server::on_request(const sip::ServerTransaction& tx) {
  if (reject_early(tx)) return;
  const Message& request = tx.request();
  const sip::DialogSet::RequestMatch match = dialogs_.match_request(request);
  if (match.reject) {
    tx.respond(*match.reject);  // §12.2.2: To tag naming no dialog → 481
    return;
  }
  if (match.dialog != nullptr) {
    handle_in_dialog(tx, *match.dialog);
    return;
  }
  switch (request.method()) {
    case Method::kOptions:
      // RFC 3261 §11.2: what we would answer to an INVITE, minus the session.
      tx.respond(with_capabilities(sip::make_response(request, 200, "OK", random_.tag())));
      return;
    case Method::kInvite:
      handle_new_invite(tx);
      return;
    case Method::kSubscribe:
      // No event package is served yet (RFC 6665 §4.2.1.1 → 489).
      tx.respond(489, "Bad Event", random_.tag());
      return;
    case Method::kRefer:
      // Out-of-dialog REFER would make the focus dial out: not without
      // authorization (toll fraud), and dial-out is not wired yet.
      tx.respond(403, "Dial-out Not Authorized", random_.tag());
      return;
    default:
      // BYE, INFO, UPDATE, NOTIFY, PRACK outside any dialog (§12.2.2).
      tx.respond(481, "Call/Transaction Does Not Exist", random_.tag());
      return;
  }
}

bool Server::reject_early(const sip::ServerTransaction& tx) {
  const Message& request = tx.request();
  const std::string tag = random_.tag();
  if (request.max_forwards() == 0u) {
    tx.respond(483, "Too Many Hops", tag);
    return true;
  }
  const Method method = request.method();
  if (method == Method::kUnknown) {
    Message response = sip::make_response(request, 501, "Not Implemented", tag);
    response.set_header("Allow", kAllow);
    tx.respond(std::move(response));
    return true;
  }
  if (method == Method::kRegister || method == Method::kPublish || method == Method::kMessage) {
    // A conference URI is no registrar, presence agent or pager (§8.2.1).
    Message response = sip::make_response(request, 405, "Method Not Allowed", tag);
    response.set_header("Allow", kAllow);
    tx.respond(std::move(response));
    return true;
  }
  // §8.2.2.3: every option in Require must be one we support.
  std::string unsupported;
  for (std::string_view line : request.header_lines("Require")) {
    const auto tokens = sip::parse_token_list(line);
    if (!tokens) {
      tx.respond(400, "Bad Require", tag);
      return true;
    }
    for (std::string_view token : *tokens) {
      if (supported_option(token)) continue;
      if (!unsupported.empty()) unsupported += ", ";
      unsupported += token;
    }
  }
  if (!unsupported.empty()) {
    Message response = sip::make_response(request, 420, "Bad Extension", tag);
    response.set_header("Unsupported", unsupported);
    tx.respond(std::move(response));
    return true;
  }
  if (!request.request_uri().is_sip()) {
    tx.respond(416, "Unsupported URI Scheme", tag);  // §8.2.2.1
    return true;
  }
  return false;
}

void Server::handle_new_invite(const sip::ServerTransaction& tx) {
  const Message& request = tx.request();
  const std::string room = request.request_uri().user_decoded();
  if (room.empty()) {
    tx.respond(404, "Missing Conference Name", random_.tag());
    return;
  }
  const std::string_view body = request.body();
  if (!body.empty() && !is_sdp(request.content_type())) {
    Message response = sip::make_response(request, 415, "Unsupported Media Type", random_.tag());
    response.set_header("Accept", "application/sdp");
    tx.respond(std::move(response));
    return;
  }
  std::string session_expires;
  if (const auto value = request.header("Session-Expires")) {
    const auto parsed = sip::parse_session_expires(*value);
    if (!parsed) {
      tx.respond(400, "Bad Session-Expires", random_.tag());
      return;
    }
    if (parsed->delta < kMinSessionExpires) {
      // RFC 4028 §8.1: too brief → 422 with our minimum.
      Message response =
          sip::make_response(request, 422, "Session Interval Too Small", random_.tag());
      response.set_header("Min-SE", std::to_string(kMinSessionExpires));
      tx.respond(std::move(response));
      return;
    }
    // RFC 4028 §9: the UAC chose; if it supports timer it refreshes.
    bool uac_supports_timer = false;
    for (std::string_view line : request.header_lines("Supported")) {
      if (const auto tokens = sip::parse_token_list(line)) {
        uac_supports_timer = uac_supports_timer || sip::token_list_contains(*tokens, "timer");
      }
    }
    if (uac_supports_timer) {
      session_expires = std::to_string(parsed->delta) + ";refresher=uac";
    }
  }

  const std::optional<uint16_t> port = ports_.allocate();
  if (!port) {
    Message response = sip::make_response(request, 503, "No Media Ports Free", random_.tag());
    response.set_header("Retry-After", "5");
    tx.respond(std::move(response));
    return;
  }
  auto call = std::make_unique<Call>(capabilities_);
  call->room = room;
  call->transport = tx.source().transport;
  call->rtp_port = *port;
  call->session_expires = std::move(session_expires);
  const sdp::LocalMedia media{*port, 0};
  // With an offer we answer it; without one the 2xx carries our offer and the
  // ACK the answer (RFC 3261 §13.2.1).
  auto negotiated =
      body.empty() ? call->media.create_offer(media) : call->media.answer(body, media);
  if (!negotiated.ok()) {
    ports_.release(*port);
    tx.respond(400, reason_text("Bad SDP", negotiated.error().message), random_.tag());
    return;
  }
  if (!body.empty() && !negotiated.value().negotiated.accepted) {
    ports_.release(*port);
    Message response = sip::make_response(request, 488, "Not Acceptable Here", random_.tag());
    response.add_header(
        "Warning", "304 chorus \"" +
                       reason_text("No usable audio stream", negotiated.value().negotiated.reason) +
                       "\"");
    tx.respond(std::move(response));
    return;
  }
  call->local_sdp = negotiated.value().sdp;

  const bool slow =
      !options_.slow_room_prefix.empty() && room.starts_with(options_.slow_room_prefix);
  const std::string contact = contact_for(request.request_uri().user, call->transport);
  Message first = sip::make_response(request, slow ? 180 : 200, {}, random_.tag());
  first.set_header("Contact", contact);
  std::optional<sip::Dialog> dialog =
      sip::Dialog::create_uas(request, first, random_.initial_cseq());
  if (!dialog) {
    ports_.release(*port);
    tx.respond(400, "Missing Contact", random_.tag());  // §8.1.1.8: a dialog needs one
    return;
  }
  dialog->set_local_contact(contact);
  call->id = dialog->id();
  const sip::DialogId id = call->id;
  dialogs_.insert(std::move(*dialog));
  Call& ref = *calls_.emplace(id, std::move(call)).first->second;
  if (!slow) {
    answer_invite(ref, tx);
    return;
  }
  tx.respond(with_capabilities(std::move(first)));
  ref.ringing = tx;
  ringing_[tx.id()] = id;
  ref.ring_timer = stack_.timers().start(options_.ring_delay, [this, id] {
    const auto it = calls_.find(id);
    if (it == calls_.end() || !it->second->ringing) return;
    Call& call = *it->second;
    call.ring_timer = 0;
    const sip::ServerTransaction invite = *call.ringing;
    call.ringing.reset();
    ringing_.erase(invite.id());
    answer_invite(call, invite);
  });
}

void Server::answer_invite(Call& call, const sip::ServerTransaction& tx) {
  sip::Dialog* dialog = dialogs_.find(call.id);
  if (dialog == nullptr) return;
  Message response = with_capabilities(dialog->make_response(tx.request(), 200));
  if (!call.session_expires.empty() && tx.request().method() == Method::kInvite) {
    response.set_header("Session-Expires", call.session_expires);
    response.set_header("Require", "timer");
  }
  response.set_body("application/sdp", call.local_sdp);
  if (tx.respond(std::move(response))) {
    dialog->confirm();
  } else {
    end_call(call.id, /*send_bye=*/false);  // the INVITE is gone (CANCEL won the race)
  }
}

void Server::handle_in_dialog(const sip::ServerTransaction& tx, sip::Dialog& dialog) {
  if (std::optional<Message> reject = dialog.check_request(tx.request())) {
    tx.respond(std::move(*reject));  // §12.2.2: CSeq out of order → 500
    return;
  }
  const Message& request = tx.request();
  const auto call_it = calls_.find(dialog.id());
  Call* call = call_it == calls_.end() ? nullptr : call_it->second.get();
  switch (request.method()) {
    case Method::kBye: {
      tx.respond(dialog.make_response(request, 200));
      end_call(dialog.id(), /*send_bye=*/false);
      return;
    }
    case Method::kInvite:
    case Method::kUpdate: {
      // Re-INVITE / UPDATE (RFC 3311): a new offer gets a new answer;
      // without SDP a re-INVITE gets our offer, an UPDATE a plain 200.
      if (call == nullptr) {
        tx.respond(dialog.make_response(request, 481));
        return;
      }
      const std::string_view body = request.body();
      const sdp::LocalMedia media{call->rtp_port, 0};
      if (body.empty() && request.method() == Method::kUpdate) {
        tx.respond(dialog.make_response(request, 200));
        return;
      }
      if (!body.empty() && !is_sdp(request.content_type())) {
        Message response = dialog.make_response(request, 415);
        response.set_header("Accept", "application/sdp");
        tx.respond(std::move(response));
        return;
      }
      auto negotiated =
          body.empty() ? call->media.create_offer(media) : call->media.answer(body, media);
      if (!negotiated.ok()) {
        tx.respond(
            dialog.make_response(request, 400, reason_text("Bad SDP", negotiated.error().message)));
        return;
      }
      if (!body.empty() && !negotiated.value().negotiated.accepted) {
        tx.respond(dialog.make_response(request, 488));  // the old session stays (§14.2)
        return;
      }
      call->local_sdp = negotiated.value().sdp;
      Message response = with_capabilities(dialog.make_response(request, 200));
      response.set_body("application/sdp", call->local_sdp);
      tx.respond(std::move(response));
      return;
    }
    case Method::kInfo:
    case Method::kNotify:
      tx.respond(dialog.make_response(request, 200));
      return;
    case Method::kOptions:
      tx.respond(with_capabilities(dialog.make_response(request, 200)));
      return;
    case Method::kSubscribe:
      tx.respond(dialog.make_response(request, 489, "Bad Event"));
      return;
    case Method::kRefer:
      tx.respond(dialog.make_response(request, 403, "Refer Not Authorized"));
      return;
    default:
      // PRACK: we never send reliable provisionals (RFC 3262 §3 → 481).
      tx.respond(dialog.make_response(request, 481));
      return;
  }
}

void Server::on_ack(const Message& ack) {
  const sip::DialogSet::RequestMatch match = dialogs_.match_request(ack);
  if (match.dialog == nullptr) return;  // stray ACK: nothing to answer (§17.2.3)
  match.dialog->check_request(ack);
  const auto it = calls_.find(match.dialog->id());
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (!call.media.has_pending_offer()) return;
  // Our 2xx carried the offer; the ACK must carry the answer (§13.2.1).
  const auto answer = ack.body().empty() ? sdp::Result<sdp::Negotiated>(sdp::Error{"no answer"})
                                         : call.media.process_answer(ack.body());
  if (!answer.ok() || !answer.value().accepted) end_call(call.id, /*send_bye=*/true);
}

void Server::on_cancel(const sip::ServerTransaction& invite) {
  const auto it = ringing_.find(invite.id());
  if (it == ringing_.end()) return;
  const sip::DialogId id = it->second;
  end_call(id, /*send_bye=*/false);  // the stack already answered 487
}

void Server::on_ack_timeout(const Message& response) {
  // §13.3.1.4: no ACK for our 2xx within 64*T1 → end the session with BYE.
  const sip::DialogId id{std::string(response.call_id()), std::string(response.to().tag()),
                         std::string(response.from().tag())};
  end_call(id, /*send_bye=*/true);
}

void Server::end_call(const sip::DialogId& id, bool send_bye) {
  const auto it = calls_.find(id);
  if (it != calls_.end()) {
    Call& call = *it->second;
    if (call.ring_timer != 0) stack_.timers().cancel(call.ring_timer);
    if (call.ringing) ringing_.erase(call.ringing->id());
    ports_.release(call.rtp_port);
    calls_.erase(it);
  }
  if (sip::Dialog* dialog = dialogs_.find(id)) {
    if (send_bye && !dialog->terminated()) {
      stack_.send_request(dialog->make_request(Method::kBye), [](const sip::ClientEvent&) {});
    }
    dialogs_.erase(id);
  }
}

}  // namespace chorus::focus
