#include "focus/server.hpp"

#include <spdlog/spdlog.h>

#include "focus/events/event_service.hpp"
#include "focus/ops/log.hpp"
#include "focus/rooms/media_setup.hpp"
#include "focus/rooms/server_call.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "signaling/message/header_session_timer.hpp"
#include "signaling/message/header_tokens.hpp"

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
  // Our codec preference (RFC 3264 §6.1: the answer lists ours in order).
  std::vector<sdp::CodecSpec> codecs;
  for (const std::string& name : options.codecs) {
    for (const sdp::CodecSpec& spec : caps.codecs) {
      if (sip::iequals(spec.encoding, name)) codecs.push_back(spec);
    }
  }
  if (!codecs.empty()) caps.codecs = std::move(codecs);
  caps.srtp = options.srtp;
  return caps;
}

mixer::EngineConfig engine_config(const Options& options, const sdp::LocalCapabilities& caps) {
  mixer::EngineConfig config;
  config.shards = std::max<size_t>(options.media_shards, 1);
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(
      options.media_address.empty() ? options.sip_host : options.media_address, error);
  config.shard.bind_address = error ? boost::asio::ip::make_address(caps.address, error) : address;
  if (error) config.shard.bind_address = boost::asio::ip::address_v4::loopback();
  config.shard.port_first = options.rtp_first;
  config.shard.port_last = options.rtp_last;
  config.mixer.top_k = options.top_k;
  return config;
}

bool supported_option(std::string_view option) {
  for (std::string_view ours : {"replaces", "join", "norefersub", "tdialog", "timer"}) {
    if (sip::iequals(option, ours)) return true;
  }
  return false;
}

}  // namespace

Server::Server(boost::asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      stack_(io, stack_config(options_)),
      engine_(engine_config(options_, capabilities_for(options_))),
      poll_timer_(io),
      capabilities_(capabilities_for(options_)) {
  load_accounts();
  make_event_service();
}

Server::Server(boost::asio::io_context& io, Options options, sip::TimerService& timers)
    : io_(io),
      options_(std::move(options)),
      stack_(io, stack_config(options_), timers),
      engine_(engine_config(options_, capabilities_for(options_))),
      poll_timer_(io),
      capabilities_(capabilities_for(options_)) {
  load_accounts();
  make_event_service();
}

void Server::make_event_service() {
  events_ = std::make_unique<EventService>(
      stack_, random_, [this](std::string_view room) { return room_state(room); },
      [this](const sip::ServerTransaction& tx, std::string_view right) {
        return authorize(tx, right).has_value();
      });
}

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
  running_ = true;
  if (!engine_started_) {
    engine_.start();
    engine_started_ = true;
  }
}

void Server::stop() {
  if (!running_) return;
  running_ = false;
  std::vector<sip::DialogId> ids;
  for (const auto& [id, call] : calls_) ids.push_back(id);
  for (const sip::DialogId& id : ids) end_call(id, /*send_bye=*/true);
  for (const auto& [id, call] : outbound_) {
    if (call->invite_tx != 0 && call->provisional_seen) stack_.cancel(call->invite_tx);
  }
  outbound_.clear();
  events_->stop();
  // UDP BYEs leave synchronously; stream transports send what they can before
  // the stack closes them (best effort: no retransmission after shutdown).
  poll_timer_.cancel();
  polling_ = false;
  if (engine_started_) {
    engine_.stop();
    engine_started_ = false;
  }
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
  response.set_header("Allow-Events", events_->allow_events());
  return response;
}

void Server::on_request(const sip::ServerTransaction& tx) {
  if (reject_early(tx)) return;
  const Message& request = tx.request();
  // Subscription dialogs are the event service's (RFC 6665 §4.1.2.4).
  if (!request.to().tag().empty() && events_->handle_in_dialog(tx)) return;
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
      events_->on_subscribe(tx);  // conference (RFC 4575), dialog (RFC 4235)
      return;
    case Method::kRefer:
      handle_refer(tx, nullptr);
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
  uint32_t session_interval = 0;
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
      session_interval = parsed->delta;
    }
  }

  // Join, Replaces, room policy and authorization decide where the caller
  // goes and as what; a refusal has been answered.
  std::optional<Admission> admission = admit(tx, room);
  if (!admission) return;

  auto call = std::make_unique<Call>(capabilities_);
  call->room = admission->room;
  call->transport = tx.source().transport;
  call->session_expires = std::move(session_expires);
  call->session_interval = session_interval;
  const sdp::LocalMedia media{kPlaceholderPort, 0};
  // With an offer we answer it; without one the 2xx carries our offer and the
  // ACK the answer (RFC 3261 §13.2.1).
  auto negotiated =
      body.empty() ? call->media.create_offer(media) : call->media.answer(body, media);
  if (!negotiated.ok()) {
    tx.respond(400, reason_text("Bad SDP", negotiated.error().message), random_.tag());
    return;
  }
  if (!body.empty() && !negotiated.value().negotiated.accepted) {
    Message response = sip::make_response(request, 488, "Not Acceptable Here", random_.tag());
    response.add_header(
        "Warning", "304 chorus \"" +
                       reason_text("No usable audio stream", negotiated.value().negotiated.reason) +
                       "\"");
    tx.respond(std::move(response));
    return;
  }
  // Without an offer we do not know the peer yet: the stream starts with our
  // first codec and learns the remote address from what arrives (latching).
  sdp::Negotiated chosen = negotiated.value().negotiated;
  if (body.empty()) {
    const sdp::CodecSpec& first = call->media.capabilities().codecs.front();
    chosen.codec = sdp::NegotiatedCodec{
        first.payload_type, first.encoding, first.clock_rate, first.channels, {}};
    chosen.remote_address.clear();
    chosen.srtp.reset();
    chosen.media_index = 0;
  }
  std::optional<mixer::Command> command = add_command(chosen, options_.rtp_timeout);
  if (!command) {
    tx.respond(488, "Not Acceptable Here", random_.tag());
    return;
  }
  call->local_session = negotiated.value().session;
  if (chosen.srtp) {
    call->srtp_keys = {sdp::LocalKey{chosen.srtp->suite, chosen.srtp->local_key_salt}};
    call->remote_srtp_key = chosen.srtp->remote_key_salt;
  }
  call->media_index = chosen.media_index;
  call->rtcp_mux = chosen.rtcp_mux;
  call->codec = chosen.codec.encoding;
  call->clock_rate = chosen.codec.clock_rate;

  const bool slow =
      !options_.slow_room_prefix.empty() && room.starts_with(options_.slow_room_prefix);
  const std::string contact = contact_for(call->room, call->transport);
  Message first = sip::make_response(request, slow ? 180 : 200, {}, random_.tag());
  first.set_header("Contact", contact);
  std::optional<sip::Dialog> dialog =
      sip::Dialog::create_uas(request, first, random_.initial_cseq());
  if (!dialog) {
    tx.respond(400, "Missing Contact", random_.tag());  // §8.1.1.8: a dialog needs one
    return;
  }
  dialog->set_local_contact(contact);
  call->id = dialog->id();
  call->entity = request.from().uri.to_string();
  call->display = std::string(request.from().display_name);
  call->remote_tag = std::string(request.from().tag());
  call->member = admission->member != 0 ? admission->member : ++last_member_;
  call->role = admission->role;
  call->whisper_target = admission->whisper_target;
  call->auth_user = admission->auth_user;
  call->awaiting_pin = admission->awaiting_pin;
  call->hidden = admission->hidden;
  call->replaces = admission->replaces;
  call->settings = command->settings;
  call->settings.muted = admission->muted;
  call->unpark = admission->unpark;
  call->parked = is_service_room(call->room) && !call->unpark;
  if (call->parked) call->settings.hold = mixer::HoldMode::kMusic;
  const sip::DialogId id = call->id;
  if (!add_media(*call, std::move(*command))) {
    reject_unavailable(tx);
    return;
  }
  call->pending = tx;
  call->ring_done = !slow;
  dialogs_.insert(std::move(*dialog));
  Call& ref = *calls_.emplace(id, std::move(call)).first->second;
  if (!slow) return;  // answered when the shard reports the port
  tx.respond(with_capabilities(std::move(first)));
  ref.ringing = tx;
  ringing_[tx.id()] = id;
  ref.ring_timer = stack_.timers().start(options_.ring_delay, [this, id] {
    const auto it = calls_.find(id);
    if (it == calls_.end() || !it->second->ringing) return;
    Call& call = *it->second;
    call.ring_timer = 0;
    call.ring_done = true;
    if (call.rtp_port == 0) return;  // answered when the port arrives
    const sip::ServerTransaction invite = *call.ringing;
    call.ringing.reset();
    call.pending.reset();
    ringing_.erase(invite.id());
    answer_invite(call, invite);
  });
}

bool Server::is_service_room(std::string_view room) const {
  return room == options_.moh_user || room == options_.park_user ||
         (room.size() > options_.park_user.size() + 1 && room.starts_with(options_.park_user) &&
          room[options_.park_user.size()] == '/');
}

bool Server::add_media(Call& call, mixer::Command command) {
  call.conference = conferences_.join(call.room);
  call.participant = conferences_.next_participant();
  call.stream = ++last_stream_;
  if (call.awaiting_pin) {
    // Until the PIN is right the caller neither hears nor is heard.
    call.settings.muted = true;
    call.settings.deaf = true;
  }
  call.settings.role = to_mixer_role(call.role);
  call.settings.whisper_targets.clear();
  if (call.role == MemberRole::kWhisper) {
    if (Call* target = find_member(call.room, call.whisper_target)) {
      call.settings.whisper_targets.push_back(target->participant);
    }
  }
  command.settings = call.settings;
  command.conference = call.conference;
  command.participant = call.participant;
  command.stream.id = call.stream;
  command.stream.jitter.min_delay_ms = options_.jitter_min_ms;
  command.stream.jitter.initial_delay_ms = options_.jitter_initial_ms;
  command.stream.jitter.max_delay_ms = options_.jitter_max_ms;
  if (!engine_.add_participant(command)) {
    LogContext context(call.id.call_id, call.room);
    spdlog::warn("mixer refused the member (no port or full command ring): 503");
    if (conferences_.leave(call.room)) engine_.remove_conference(call.conference);
    return false;
  }
  by_participant_[call.participant] = call.id;
  by_stream_[call.stream] = call.id;
  schedule_poll();
  return true;
}

void Server::set_remote(const Call& call, const sdp::Negotiated& negotiated) {
  // c=0.0.0.0 (RFC 3264 §8.4, old-style hold) or port 0: keep the old peer.
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(negotiated.remote_address, error);
  if (error || address.is_unspecified() || negotiated.remote_rtp_port == 0) return;
  const auto shard = engine_.shard_of(call.conference, call.participant);
  if (!shard) return;
  rtp::Command command;
  command.kind = rtp::CommandKind::kSetRemote;
  command.stream = call.stream;
  command.remote_rtp = {address, negotiated.remote_rtp_port};
  const auto rtcp_address = boost::asio::ip::make_address(negotiated.remote_rtcp_address, error);
  command.remote_rtcp = {error ? address : rtcp_address, negotiated.remote_rtcp_port};
  engine_.shard(*shard).post(command);
}

void Server::reject_unavailable(const sip::ServerTransaction& tx) {
  // RFC 3261 §21.5.4: the mixer is full for now; try again shortly.
  Message response = sip::make_response(tx.request(), 503, "Media Unavailable", random_.tag());
  response.set_header("Retry-After", "5");
  tx.respond(std::move(response));
}

void Server::schedule_poll() {
  if (polling_) return;
  polling_ = true;
  poll_timer_.expires_after(std::chrono::milliseconds(5));
  poll_timer_.async_wait([this](const boost::system::error_code& error) {
    polling_ = false;
    if (error) return;
    poll_engine();
    // Once a second every stream reports its RFC 3550 figures and drop
    // counters (rtp kStats): the admin API's loss/jitter and /metrics.
    if (++polls_since_stats_ >= 200) {
      polls_since_stats_ = 0;
      request_stats();
    }
    if (!calls_.empty()) schedule_poll();
  });
}

void Server::poll_engine() {
  if (!engine_started_) return;
  for (size_t shard = 0; shard < engine_.shard_count(); ++shard) {
    rtp::Event raw;
    std::optional<mixer::Event> event;
    // Bounded: at most a ring's worth per poll, the rest next time.
    for (int n = 0; n < 1024 && engine_.poll_event(shard, raw, event); ++n) {
      if (!event) {
        if (raw.kind == rtp::EventKind::kStats) {
          media_totals_.on_stats(raw.stream, raw.stats);
        } else if (raw.kind == rtp::EventKind::kStreamClosed) {
          media_totals_.on_closed(raw.stream);
        }
        const auto it = by_stream_.find(raw.stream);
        if (it == by_stream_.end()) continue;
        const sip::DialogId id = it->second;
        if (raw.kind == rtp::EventKind::kRtpTimeout) {
          end_call(id, /*send_bye=*/true);
        } else if (raw.kind == rtp::EventKind::kStats) {
          if (const auto call = calls_.find(id); call != calls_.end()) {
            call->second->loss_fraction = raw.stats.fraction_lost / 256.0;
            call->second->jitter_ms = raw.stats.jitter_ms;
            call->second->ssrc = raw.stats.remote_ssrc;
          }
        } else if (raw.kind == rtp::EventKind::kDtmf) {
          if (const auto call = calls_.find(id); call != calls_.end()) {
            on_dtmf(*call->second, raw.digit);
          }
        }
        continue;
      }
      const auto it = by_participant_.find(event->participant);
      if (it == by_participant_.end()) continue;
      const auto found = calls_.find(it->second);
      if (found == calls_.end()) continue;
      Call& call = *found->second;
      switch (event->kind) {
        case mixer::Event::Kind::kParticipantAdded:
          on_media_added(call, static_cast<uint16_t>(event->value));
          break;
        case mixer::Event::Kind::kAddFailed:
          on_media_failed(call);
          break;
        case mixer::Event::Kind::kStartedTalking:
        case mixer::Event::Kind::kStoppedTalking:
          call.talking = event->kind == mixer::Event::Kind::kStartedTalking;
          if (call.talking) call.level = -static_cast<int>(event->value);
          publish(call.room, ControlEvent::Kind::kTalker, call.member);
          break;
        case mixer::Event::Kind::kLevel:
          call.level = -static_cast<int>(event->value);
          break;
        case mixer::Event::Kind::kInbandDtmf:
          on_dtmf(call, static_cast<char>(event->value));
          break;
        default:
          break;
      }
    }
  }
}

void Server::request_stats() {
  for (const auto& [id, call] : calls_) {
    if (call->rtp_port == 0) continue;
    const auto shard = engine_.shard_of(call->conference, call->participant);
    if (!shard) continue;
    rtp::Command command;
    command.kind = rtp::CommandKind::kRequestStats;
    command.stream = call->stream;
    engine_.shard(*shard).post(command);  // a full ring skips one report
  }
}

void Server::on_media_added(Call& call, uint16_t port) {
  if (call.rtp_port != 0) return;
  call.rtp_port = port;
  set_local_port(call.local_session, call.media_index, port, call.rtcp_mux);
  call.local_sdp = call.local_session.serialize();
  if (call.outbound) {
    // A dial-out's 2xx carried the offer: our answer rides on the ACK.
    if (call.ack) {
      call.ack->set_body("application/sdp", call.local_sdp);
      stack_.send_ack(*call.ack);
      publish(call.room, ControlEvent::Kind::kMemberJoined, call.member);
    }
    return;
  }
  if (!call.pending || !call.ring_done) return;
  const sip::ServerTransaction invite = *call.pending;
  call.pending.reset();
  if (call.ringing) {
    ringing_.erase(call.ringing->id());
    call.ringing.reset();
  }
  answer_invite(call, invite);
}

void Server::on_media_failed(Call& call) {
  if (call.pending) {
    const sip::ServerTransaction invite = *call.pending;
    call.pending.reset();
    reject_unavailable(invite);
  }
  end_call(sip::DialogId(call.id), /*send_bye=*/call.outbound);
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
  if (!tx.respond(std::move(response))) {
    end_call(call.id, /*send_bye=*/false);  // the INVITE is gone (CANCEL won the race)
    return;
  }
  dialog->confirm();
  arm_session_timer(call);
  const uint64_t member = call.member;
  const std::string room = call.room;
  {
    LogContext context(call.id.call_id, call.room);
    spdlog::info("member {} joined ({}, {} {}/{}{})", member, call.entity, role_name(call.role),
                 call.codec, call.clock_rate, call.replaces ? ", replacing a dialog" : "");
  }
  if (call.unpark) {
    // A parked call retrieved: it leaves hold and talks with the retriever.
    const auto parked = calls_.find(*call.unpark);
    call.unpark.reset();
    if (parked != calls_.end()) {
      parked->second->parked = false;
      parked->second->settings.hold = mixer::HoldMode::kNone;
      apply_settings(*parked->second);
    }
  }
  if (call.replaces) {
    // RFC 3891 §3: the new dialog is up; the replaced one ends with BYE.
    const sip::DialogId old = *call.replaces;
    call.replaces.reset();
    end_call(old, /*send_bye=*/true);
    publish(room, ControlEvent::Kind::kMemberChanged, member);
    return;
  }
  publish(room, ControlEvent::Kind::kMemberJoined, member);
}

void Server::arm_session_timer(Call& call) {
  if (call.session_timer != 0) {
    stack_.timers().cancel(call.session_timer);
    call.session_timer = 0;
  }
  if (call.session_interval == 0) return;
  // RFC 4028 §10: without a refresh, the session ends before the interval
  // runs out: at SE - min(32, SE/3) the non-refresher sends BYE.
  const uint32_t se = call.session_interval;
  const auto wait = std::chrono::seconds(se - std::min<uint32_t>(32, se / 3));
  const sip::DialogId id = call.id;
  call.session_timer = stack_.timers().start(wait, [this, id] {
    const auto it = calls_.find(id);
    if (it == calls_.end()) return;
    it->second->session_timer = 0;
    end_call(id, /*send_bye=*/true);
  });
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
    case Method::kUpdate:
      if (call == nullptr) {
        tx.respond(dialog.make_response(request, 481));
        return;
      }
      handle_reinvite(tx, dialog, *call);
      return;
    case Method::kInfo:
    case Method::kNotify:
      tx.respond(dialog.make_response(request, 200));
      return;
    case Method::kOptions:
      tx.respond(with_capabilities(dialog.make_response(request, 200)));
      return;
    case Method::kSubscribe:
      // Subscriptions live in their own dialogs (RFC 6665 §4.5.2 allows us
      // to refuse dialog reuse).
      tx.respond(dialog.make_response(request, 403, "Subscribe Outside This Dialog"));
      return;
    case Method::kRefer:
      handle_refer(tx, &dialog);
      return;
    default:
      // PRACK: we never send reliable provisionals (RFC 3262 §3 → 481).
      tx.respond(dialog.make_response(request, 481));
      return;
  }
}

void Server::handle_reinvite(const sip::ServerTransaction& tx, sip::Dialog& dialog, Call& call) {
  // Re-INVITE / UPDATE (RFC 3311): a new offer gets a new answer; without
  // SDP a re-INVITE gets our offer, an UPDATE a plain 200.
  const Message& request = tx.request();
  const std::string_view body = request.body();
  if (call.rtp_port == 0) {
    // RFC 3261 §14.2: an offer while ours is being answered.
    Message response = dialog.make_response(request, 500);
    response.set_header("Retry-After", "1");
    tx.respond(std::move(response));
    return;
  }
  // Any re-INVITE or UPDATE refreshes the session (RFC 4028 §10).
  arm_session_timer(call);
  const sdp::LocalMedia media{call.rtp_port, 0, call.srtp_keys};
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
  auto negotiated = body.empty() ? call.media.create_offer(media) : call.media.answer(body, media);
  if (!negotiated.ok()) {
    tx.respond(
        dialog.make_response(request, 400, reason_text("Bad SDP", negotiated.error().message)));
    return;
  }
  if (!body.empty() && !negotiated.value().negotiated.accepted) {
    tx.respond(dialog.make_response(request, 488));  // the old session stays (§14.2)
    return;
  }
  const sdp::Negotiated& result = negotiated.value().negotiated;
  if (!body.empty() && !change_codec(call, result)) {
    // The old session stays (RFC 3264 §8.3.2 lets the answerer keep it).
    Message response = dialog.make_response(request, 488);
    response.add_header("Warning", "304 chorus \"The mixer cannot take the new codec\"");
    tx.respond(std::move(response));
    return;
  }
  call.local_sdp = negotiated.value().sdp;
  if (!body.empty()) {
    set_remote(call, result);
    update_srtp(call, result);
    // RFC 3264 §8.4: sendonly/inactive holds, sendrecv resumes.
    mixer::HoldMode hold = hold_mode(result);
    if (call.parked) hold = mixer::HoldMode::kMusic;
    if (hold != call.settings.hold) {
      call.settings.hold = hold;
      apply_settings(call);
    }
  }
  Message response = with_capabilities(dialog.make_response(request, 200));
  if (!call.session_expires.empty() && request.method() == Method::kInvite &&
      request.header("Session-Expires")) {
    response.set_header("Session-Expires", call.session_expires);
    response.set_header("Require", "timer");
  }
  response.set_body("application/sdp", call.local_sdp);
  tx.respond(std::move(response));
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
  if (!answer.ok() || !answer.value().accepted) {
    end_call(sip::DialogId(call.id), /*send_bye=*/true);
    return;
  }
  // The stream started with our first codec and without a peer; now the
  // answer names both.
  if (!change_codec(call, answer.value())) {
    end_call(sip::DialogId(call.id), /*send_bye=*/true);
    return;
  }
  set_remote(call, answer.value());
}

void Server::update_srtp(Call& call, const sdp::Negotiated& negotiated) {
  // RFC 4568 §7.1.4: a re-offer may bring a new key (or drop SRTP).
  const std::vector<uint8_t> remote =
      negotiated.srtp ? negotiated.srtp->remote_key_salt : std::vector<uint8_t>{};
  if (remote == call.remote_srtp_key) return;
  const auto keys = srtp_keys(negotiated);
  const auto shard = engine_.shard_of(call.conference, call.participant);
  if (!keys || !shard) return;
  rtp::Command command;
  command.kind = rtp::CommandKind::kSetSrtp;
  command.stream = call.stream;
  command.keys = *keys;
  if (engine_.shard(*shard).post(command)) {
    call.remote_srtp_key = remote;
    if (negotiated.srtp) {
      call.srtp_keys = {sdp::LocalKey{negotiated.srtp->suite, negotiated.srtp->local_key_salt}};
    } else {
      call.srtp_keys.clear();
    }
  }
}

bool Server::change_codec(Call& call, const sdp::Negotiated& negotiated) {
  if (sip::iequals(negotiated.codec.encoding, call.codec) &&
      negotiated.codec.clock_rate == call.clock_rate) {
    return true;
  }
  std::optional<mixer::Command> command = add_command(negotiated, options_.rtp_timeout);
  if (!command) return false;
  command->conference = call.conference;
  command->participant = call.participant;
  command->stream.id = call.stream;
  command->settings = call.settings;
  if (!engine_.set_codec(std::move(*command))) return false;
  call.codec = negotiated.codec.encoding;
  call.clock_rate = negotiated.codec.clock_rate;
  return true;
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

void Server::send_bye(sip::Dialog& dialog) {
  if (dialog.terminated()) return;
  stack_.send_request(dialog.make_request(Method::kBye), [](const sip::ClientEvent&) {});
}

void Server::end_call(const sip::DialogId& id, bool send_bye_request) {
  std::string room;
  uint64_t member = 0;
  bool replaced = false;
  const auto it = calls_.find(id);
  if (it != calls_.end()) {
    Call& call = *it->second;
    {
      LogContext context(call.id.call_id, call.room);
      spdlog::info("member {} left{}", call.member, send_bye_request ? " (BYE sent)" : "");
    }
    if (call.ring_timer != 0) stack_.timers().cancel(call.ring_timer);
    if (call.session_timer != 0) stack_.timers().cancel(call.session_timer);
    if (call.ringing) ringing_.erase(call.ringing->id());
    if (call.pending && call.pending->request().method() == Method::kInvite && !call.ringing) {
      call.pending->respond(503, "Media Unavailable", random_.tag());
    }
    engine_.remove_participant(call.conference, call.participant);
    if (conferences_.leave(call.room)) engine_.remove_conference(call.conference);
    by_participant_.erase(call.participant);
    by_stream_.erase(call.stream);
    room = call.room;
    member = call.member;
    // A member whose place was taken by Replaces stays in the roster.
    for (const auto& [other_id, other] : calls_) {
      replaced = replaced || (other_id != id && other->member == member);
    }
    calls_.erase(it);
  }
  if (sip::Dialog* dialog = dialogs_.find(id)) {
    if (send_bye_request) send_bye(*dialog);
    dialogs_.erase(id);
  }
  if (room.empty()) return;
  if (!replaced) publish(room, ControlEvent::Kind::kMemberLeft, member);
  after_leave(room);
}

void Server::after_leave(const std::string& room) {
  // When the last visible member is gone, hidden members (monitors,
  // whisperers, services) have nobody to listen to: release them too.
  std::vector<sip::DialogId> rest;
  for (const auto& [id, call] : calls_) {
    if (call->room != room) continue;
    if (call->visible()) return;
    rest.push_back(id);
  }
  for (const sip::DialogId& id : rest) end_call(id, /*send_bye=*/true);
  if (!conferences_.find(room)) publish(room, ControlEvent::Kind::kRoomEnded, 0);
}

}  // namespace chorus::focus
