#include "focus/server.hpp"

#include <spdlog/spdlog.h>

#include "focus/events/event_service.hpp"
#include "focus/ops/log.hpp"
#include "focus/rooms/admission.hpp"
#include "focus/rooms/media_setup.hpp"
#include "mixer/engine.hpp"
#include "mixer/huge_page_pool.hpp"
#include "rtp/io_backend.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "signaling/message/header_misc.hpp"
#include "signaling/message/header_session_timer.hpp"
#include "signaling/message/header_tokens.hpp"
#include "signaling/transaction/timer_asio.hpp"

namespace chorus::focus {
namespace {

using sip::Message;
using sip::Method;

constexpr auto kTrimPeriod = std::chrono::minutes(5);
constexpr auto kTrimWhenIdle = std::chrono::seconds(2);

sip::StackConfig stack_config(const Options& options) {
  sip::StackConfig config;
  if (options.udp)
    config.listeners.push_back({sip::TransportKind::kUdp, options.sip_host, options.sip_port});
  if (options.tcp)
    config.listeners.push_back({sip::TransportKind::kTcp, options.sip_host, options.sip_port});
  if (!options.tls_certificate.empty() && !options.tls_private_key.empty()) {
    config.listeners.push_back({sip::TransportKind::kTls, options.sip_host, options.tls_port});
  }
  if (options.ws_port != 0) {
    config.listeners.push_back({sip::TransportKind::kWs, options.sip_host, options.ws_port});
  }
  if (options.wss_port != 0) {
    config.listeners.push_back({sip::TransportKind::kWss, options.sip_host, options.wss_port});
  }
  config.transport.tls_certificate_file = options.tls_certificate;
  config.transport.tls_private_key_file = options.tls_private_key;
  config.transport.wss_certificate_file = options.wss_certificate;
  config.transport.wss_private_key_file = options.wss_private_key;
  config.transport.ws_allowed_origins = options.ws_allowed_origins;
  config.transport.tls_verify_peer = options.tls_verify_peer;
  config.transport.tls_ca_file = options.tls_ca_file;
  config.transport.handshake_timeout = options.handshake_timeout;
  config.transport.idle_timeout = options.idle_timeout;
  config.transport.message_timeout = options.message_timeout;
  config.transport.max_connections = options.max_connections;
  config.transport.max_outgoing_connections = options.max_outgoing_connections;
  config.transport.max_connections_per_source = options.max_connections_per_source;
  config.transport.max_queued_bytes = options.max_queued_bytes;
  return config;
}

// Without a configured certificate one is generated (RFC 5763 §5:
// self-signed; the browser trusts the a=fingerprint its SDP carried), once
// per process: Servers of one process (tests, the session fuzzer) share it
// and its context, which cost milliseconds to make.
struct GeneratedDtls {
  std::shared_ptr<const webrtc::DtlsCertificate> certificate;
  std::shared_ptr<const webrtc::DtlsContext> context;
};

const GeneratedDtls& generated_dtls() {
  static const GeneratedDtls generated = [] {
    auto certificate =
        std::make_shared<const webrtc::DtlsCertificate>(webrtc::DtlsCertificate::generate());
    auto context = std::make_shared<const webrtc::DtlsContext>(*certificate);
    return GeneratedDtls{std::move(certificate), std::move(context)};
  }();
  return generated;
}

std::shared_ptr<const webrtc::DtlsCertificate> dtls_certificate_for(const Options& options) {
  if (options.dtls_certificate.empty()) return generated_dtls().certificate;
  return std::make_shared<const webrtc::DtlsCertificate>(
      webrtc::DtlsCertificate::load_pem(options.dtls_certificate, options.dtls_private_key));
}

std::shared_ptr<const webrtc::DtlsContext> dtls_context_for(
    const Options& options, const webrtc::DtlsCertificate& certificate) {
  if (options.dtls_certificate.empty()) return generated_dtls().context;
  return std::make_shared<const webrtc::DtlsContext>(certificate);
}

sdp::LocalCapabilities capabilities_for(const Options& options,
                                        const webrtc::Fingerprint* fingerprint = nullptr) {
  sdp::LocalCapabilities caps;
  caps.address = options.media_address.empty() ? options.sip_host : options.media_address;
  if (caps.address == "0.0.0.0" || caps.address == "::") caps.address = "127.0.0.1";
  if (fingerprint != nullptr) caps.dtls_fingerprint = fingerprint->to_sdp();
  caps.ice_public_address = options.media_public_address;
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

mixer::EngineConfig engine_config(const Options& options, const sdp::LocalCapabilities& caps,
                                  const webrtc::DtlsContext& dtls) {
  mixer::EngineConfig config;
  // Browser members' DTLS handshakes (issue #18): the Server holds the
  // context and declares it before the engine, so it outlives the worker.
  config.dtls_context = &dtls;
  config.shards = options.media_shards;  // 0: one shard per core
  config.pin_shards = options.media_pin_shards;
  config.shard.realtime_priority = options.media_realtime_priority;
  config.shard.io = rtp::parse_io_backend(options.media_io).value_or(rtp::IoBackend::kMmsg);
  config.shard.port_mode =
      rtp::parse_port_mode(options.media_port_mode).value_or(rtp::PortMode::kPerMember);
  config.shard.max_streams = options.media_max_streams_per_shard;
  // The receive batch plus up to 4 queued datagrams per stream and tick.
  config.shard.buffer_count = std::max<size_t>(4096, 4 * config.shard.max_streams + 256);
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(
      options.media_address.empty() ? options.sip_host : options.media_address, error);
  config.shard.bind_address = error ? boost::asio::ip::make_address(caps.address, error) : address;
  if (error) config.shard.bind_address = boost::asio::ip::address_v4::loopback();
  config.shard.port_first = options.rtp_first;
  config.shard.port_last = options.rtp_last;
  config.mixer.top_k = options.top_k;
  config.music_file = options.moh_file;  // rooms created from now on
  // Test hooks (0: the engine's own sizes).
  if (options.test_command_ring_slots != 0) {
    config.command_ring_slots = options.test_command_ring_slots;
  }
  if (options.test_retry_queue_limit != 0) {
    config.retry_queue_limit = options.test_retry_queue_limit;
  }
  return config;
}

std::unique_ptr<mixer::MediaEngine> make_engine(const Options& options,
                                                const webrtc::DtlsContext& dtls) {
  return std::make_unique<mixer::Engine>(engine_config(options, capabilities_for(options), dtls));
}

bool supported_option(std::string_view option) {
  for (std::string_view ours :
       {"replaces", "join", "norefersub", "tdialog", "timer", "action-ref"}) {
    if (sip::iequals(option, ours)) return true;
  }
  return false;
}

}  // namespace

Server::Server(boost::asio::io_context& io, Options options)
    : Server(io, options, nullptr, nullptr) {}

Server::Server(boost::asio::io_context& io, Options options, sip::TimerService& timers)
    : Server(io, std::move(options), &timers, nullptr) {}

Server::Server(boost::asio::io_context& io, Options options, sip::TimerService& timers,
               std::unique_ptr<mixer::MediaEngine> engine)
    : Server(io, std::move(options), &timers, std::move(engine)) {}

Server::Server(boost::asio::io_context& io, Options options, sip::TimerService* timers,
               std::unique_ptr<mixer::MediaEngine> engine)
    : io_(io),
      options_(std::move(options)),
      own_timers_(timers != nullptr ? nullptr : std::make_unique<sip::AsioTimerService>(io)),
      stack_(io, stack_config(options_), timers != nullptr ? *timers : *own_timers_),
      dtls_certificate_(dtls_certificate_for(options_)),
      dtls_context_(dtls_context_for(options_, *dtls_certificate_)),
      engine_(engine ? std::move(engine) : make_engine(options_, *dtls_context_)),
      recorder_(std::make_unique<record::Writer>()),
      poll_timer_(io),
      trim_timer_(io),
      capabilities_(capabilities_for(options_, &dtls_certificate_->fingerprint())),
      guard_(options_.limits) {
  grants_ = MoveGrants(options_.cluster_secret);
  load_accounts();
  make_event_service();
}

void Server::schedule_memory_trim(std::chrono::steady_clock::duration delay) {
  const auto due = std::chrono::steady_clock::now() + delay;
  if (trim_due_ != std::chrono::steady_clock::time_point{} && trim_due_ <= due) return;
  trim_due_ = due;
  trim_timer_.expires_at(due);
  trim_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error) return;  // cancelled (stop, or re-armed earlier)
    trim_due_ = {};
    give_memory_back();
    if (running_) schedule_memory_trim(kTrimPeriod);
  });
}

void Server::give_memory_back() {
  // Empty chunks of the members' buffer pools first, then the C heap: each
  // thread's arena keeps what it freed, and a busy hour leaves tens of MB of
  // free pages behind. A few ms here, on the signalling thread; the shards
  // never allocate on their tick.
  mixer::HugePagePool::trim_all();
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

void Server::make_event_service() {
  events_ = std::make_unique<EventService>(
      stack_, random_, [this](std::string_view room) { return subscribed_state(room); },
      [this](const sip::ServerTransaction& tx, Operation operation) {
        return authorize(tx, operation);
      });
}

Server::~Server() {
  stop();
}

void Server::start() {
  // Browsers pin this in a=fingerprint; a generated one changes every start.
  spdlog::info("DTLS certificate ({}): {}",
               options_.dtls_certificate.empty() ? "generated" : options_.dtls_certificate,
               capabilities_.dtls_fingerprint);
  sip::StackHandlers handlers;
  handlers.on_request = [this](const sip::ServerTransaction& tx) { on_request(tx); };
  handlers.on_ack = [this](const Message& ack, const sip::Endpoint&) { on_ack(ack); };
  handlers.on_cancel = [this](const sip::ServerTransaction& invite, const Message&) {
    on_cancel(invite);
  };
  handlers.on_ack_timeout = [this](const Message& response) { on_ack_timeout(response); };
  stack_.set_handlers(std::move(handlers));
  // Abuse limits before any state is kept: rate and transaction caps.
  // A peer's transactions count under its count key: an exempt or trusted
  // address as itself, anyone else by its IPv6 /64.
  stack_.transactions().set_max_lingering(options_.limits.max_lingering_transactions);
  stack_.transactions().set_source_key(
      [this](std::string_view address) { return guard_.count_key(address); });
  stack_.transactions().set_screen([this](const Message& request, const sip::Endpoint& peer) {
    const sip::TransactionLayer& layer = stack_.transactions();
    return guard_.screen(request, peer, layer.pending_server(),
                         layer.server_transactions_from(peer.address));
  });
  stack_.start();
  running_ = true;
  schedule_memory_trim(kTrimPeriod);
  housekeep();
  if (!engine_started_) {
    engine_->start();
    engine_started_ = true;
    log_shard_scheduling();
  }
  recorder_->start();
}

void Server::log_shard_scheduling() {
  for (size_t i = 0; i < engine_->shard_count(); ++i) {
    const mixer::ShardStatus st = engine_->shard_status(i);
    if (st.realtime_priority > 0) {
      if (st.realtime_error == 0) {
        spdlog::info("media shard {}: SCHED_FIFO priority {}", i, st.realtime_priority);
      } else {
        spdlog::warn(
            "media shard {}: SCHED_FIFO priority {} refused ({}): running on the normal "
            "scheduler (grant CAP_SYS_NICE, or set media.realtime_priority = 0)",
            i, st.realtime_priority, std::strerror(st.realtime_error));
      }
    }
    if (st.port_mode == "shared") {
      spdlog::info("media shard {}: shared port {} (receive buffer {} KiB, send {} KiB)", i,
                   st.shared_port, st.shared_receive_buffer / 1024, st.shared_send_buffer / 1024);
      // The kernel reports twice what it books; a tick of 2 datagrams per
      // member needs about 2 KiB of that per member.
      if (static_cast<size_t>(st.shared_receive_buffer) < 4 * st.max_streams * 1024) {
        spdlog::warn(
            "media shard {}: shared port receive buffer {} KiB is short for {} members: raise "
            "net.core.rmem_max (or grant CAP_NET_ADMIN) to at least {} KiB",
            i, st.shared_receive_buffer / 1024, st.max_streams, 4 * st.max_streams);
      }
    }
    if (st.io_error != 0) {
      spdlog::warn(
          "media shard {}: io_uring unavailable ({}): using recvmmsg/sendmmsg (media.io = \"{}\")",
          i, std::strerror(st.io_error), options_.media_io);
    }
    if (st.cpu >= 0) {
      if (st.pin_error == 0) {
        spdlog::info("media shard {}: pinned to CPU {}", i, st.cpu);
      } else {
        spdlog::warn("media shard {}: pinning to CPU {} refused ({}): running unpinned", i, st.cpu,
                     std::strerror(st.pin_error));
      }
    }
  }
}

void Server::stop() {
  if (!running_) return;
  running_ = false;
  if (housekeeping_timer_ != 0) stack_.timers().cancel(housekeeping_timer_);
  housekeeping_timer_ = 0;
  for (const auto& [tx, timer] : deferred_) stack_.timers().cancel(timer);
  deferred_.clear();
  std::vector<sip::DialogId> ids;
  for (const Room* room : rooms_.all()) {
    for (const Call* call : room->calls()) ids.push_back(call->id());
  }
  for (const sip::DialogId& id : ids) end_call(id, /*send_bye=*/true);
  for (const auto& [id, call] : dialing_) {
    // Its callback holds this Server, and the TimerService may be the caller's.
    if (call->sip.dial_timer != 0) stack_.timers().cancel(call->sip.dial_timer);
    // Not twice: ending the rooms above CANCELled the dial-outs into them.
    if (call->sip.invite_tx != 0 && call->sip.provisional_seen && !call->sip.cancel_sent) {
      stack_.cancel(call->sip.invite_tx);
    }
  }
  dialing_.clear();
  events_->stop();
  // UDP BYEs leave synchronously; stream transports send what they can before
  // the stack closes them (best effort: no retransmission after shutdown).
  poll_timer_.cancel();
  polling_ = false;
  trim_timer_.cancel();
  if (engine_started_) {
    poll_engine();  // the removals just submitted, while the shards still run
    engine_->stop();
    engine_started_ = false;
  }
  // The shards closed every recording ring: the writer finishes the files.
  recorder_->stop();
  poll_recorder();
  stack_.stop();
}

std::string Server::contact_for(std::string_view room, sip::TransportKind transport) const {
  // RFC 4579 §2.4: the focus marks its Contact with isfocus. The music-on-
  // hold and park services add the feature tags RFC 5359 §2.3 shows
  // (RFC 3840 automaton; RFC 4235's +sip.byeless and +sip.rendering): an
  // automaton that never hangs up by itself and renders nothing it gets.
  std::string contact = "<" + stack_.contact_uri(room, transport) + ">;isfocus";
  if (is_service_room(room)) contact += ";automaton;+sip.byeless;+sip.rendering=\"no\"";
  return contact;
}

Message Server::with_capabilities(Message response) const {
  response.set_header("Allow", kAllow);
  response.set_header("Accept", kAccept);
  response.set_header("Supported", kSupported);
  response.set_header("Allow-Events", events_->allow_events());
  return response;
}

void Server::on_request(const sip::ServerTransaction& tx) {
  if (defer_slowed(tx)) return;
  handle_request(tx);
}

void Server::handle_request(const sip::ServerTransaction& tx) {
  if (reject_early(tx)) return;
  const Message& request = tx.request();
  // Subscription dialogs are the event service's (RFC 6665 §4.1.2.4).
  if (!request.to().tag().empty() &&
      events_->handle_in_dialog(
          tx, guard_.count_key(source_of(tx)),
          [this](const sip::ServerTransaction& subscribe, bool creates, const sip::Dialog& dialog) {
            return creates ? refuse_subscription(subscribe, &dialog)
                           : refuse_retarget(subscribe, dialog);
          })) {
    return;
  }
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
      if (refuse_subscription(tx)) return;
      // conference (RFC 4575), dialog (RFC 4235)
      events_->on_subscribe(tx, guard_.count_key(source_of(tx)));
      return;
    case Method::kRefer:
      handle_refer(tx, nullptr);
      return;
    case Method::kUnknown:  // reject_early let only these through
      handle_remote_control(tx);
      return;
    default:
      // BYE, INFO, UPDATE, NOTIFY, PRACK outside any dialog (§12.2.2).
      tx.respond(481, "Call/Transaction Does Not Exist", random_.tag());
      return;
  }
}

namespace {

// ANSWER, PICKUP and REJECT (services/remote_control.cpp): extension
// methods the parser reads as kUnknown; method names are case-sensitive.
bool is_remote_control(std::string_view method) {
  return method == "ANSWER" || method == "PICKUP" || method == "REJECT";
}

}  // namespace

bool Server::reject_early(const sip::ServerTransaction& tx) {
  const Message& request = tx.request();
  const std::string tag = random_.tag();
  if (request.max_forwards() == 0u) {
    tx.respond(483, "Too Many Hops", tag);
    return true;
  }
  const Method method = request.method();
  if (method == Method::kUnknown && !is_remote_control(request.method_text())) {
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
  if (refuse_overload(tx)) return;
  const std::string room = request.request_uri().user_decoded();
  if (room.empty()) {
    tx.respond(404, "Missing Conference Name", random_.tag());
    return;
  }
  if (has_control_character(room)) {
    tx.respond(400, std::string(kBadRoomNameReason), random_.tag());
    return;
  }
  if (!sip::accepts_body(request, "application", "sdp")) {
    // RFC 3261 §21.4.7: our answer is an SDP body the caller says it cannot take.
    tx.respond(406, "Not Acceptable: the answer is application/sdp", random_.tag());
    return;
  }
  const std::string_view body = request.body();
  if (!body.empty() && !is_sdp(request.content_type())) {
    Message response = sip::make_response(request, 415, "Unsupported Media Type", random_.tag());
    response.set_header("Accept", "application/sdp");
    tx.respond(std::move(response));
    return;
  }
  if (const auto value = request.header("Session-Expires")) {
    if (!sip::parse_session_expires(*value)) {
      tx.respond(400, "Bad Session-Expires", random_.tag());
      return;
    }
  }
  // The INVITE usage (RFC 4028 §9 policy applied at once): a Session-Expires
  // below our Min-SE from a caller that supports timers gets 422.
  std::unique_ptr<sip::InviteSession> session =
      sip::InviteSession::create_uas(request, session_config());
  if (session->initial_rejected_by_timer()) {
    Message response =
        sip::make_response(request, 422, "Session Interval Too Small", random_.tag());
    sip::apply_session_timer(*session->pending_timer_decision(), response);
    tx.respond(std::move(response));
    return;
  }

  // Join, Replaces, room policy and authorization decide where the caller
  // goes and as what; a refusal has been answered.
  std::optional<Admission> admission = admit(tx, room);
  if (!admission) return;
  // Per-source call cap: the account when one authenticated, else the
  // address of the first untrusted hop.
  const std::string limit_key = admission->auth_user.empty() ? guard_.count_key(source_of(tx))
                                                             : "account:" + admission->auth_user;
  if (!guard_.may_add_call(limit_key)) {
    reply_limited(tx, "Too Many Calls From This Source", 5);
    return;
  }

  auto call = std::make_unique<Call>(capabilities_);
  call->roster.room = admission->room;
  call->sip.relay = events_->bind_call(std::string(request.call_id()), call->room(), &request);
  call->sip.transport = tx.source().transport;
  call->sip.limit_key = limit_key;
  const sdp::LocalMedia media{kPlaceholderPort, 0};
  // With an offer we answer it; without one the 2xx carries our offer and the
  // ACK the answer (RFC 3261 §13.2.1).
  auto negotiated = body.empty() ? call->media.offer_answer.create_offer(media)
                                 : call->media.offer_answer.answer(body, media);
  if (!negotiated.ok()) {
    tx.respond(400, reason_text("Bad SDP", negotiated.error().message), random_.tag());
    return;
  }
  if (!body.empty() && !negotiated.value().negotiated.accepted) {
    Message response = sip::make_response(request, 488, "Not Acceptable Here", random_.tag());
    response.add_header("Warning", warning_304(reason_text("No usable audio stream",
                                                           negotiated.value().negotiated.reason)));
    tx.respond(std::move(response));
    return;
  }
  // Without an offer we do not know the peer yet: the stream starts with our
  // first codec and learns the remote address from what arrives (latching).
  sdp::Negotiated chosen = negotiated.value().negotiated;
  if (body.empty()) {
    const sdp::CodecSpec& first = call->media.offer_answer.capabilities().codecs.front();
    chosen.codec = sdp::NegotiatedCodec{
        first.payload_type, first.encoding, first.clock_rate, first.channels, {}};
    chosen.remote_address.clear();
    chosen.srtp.reset();
    chosen.media_index = 0;
  }

  const bool slow =
      !options_.slow_room_prefix.empty() && room.starts_with(options_.slow_room_prefix);
  const bool waiting = admission->waiting != nullptr;
  const std::string contact = contact_for(call->room(), call->sip.transport);
  Message first = sip::make_response(request, slow || waiting ? 180 : 200, {}, random_.tag());
  first.set_header("Contact", contact);
  std::optional<sip::Dialog> dialog =
      sip::Dialog::create_uas(request, first, random_.initial_cseq());
  if (!dialog) {
    tx.respond(400, "Missing Contact", random_.tag());  // §8.1.1.8: a dialog needs one
    return;
  }
  dialog->set_local_contact(contact);
  dialog->add_usage(std::move(session));
  call->sip.id = dialog->id();
  call->sip.remote_tag = std::string(request.from().tag());
  call->sip.replaces = admission->replaces;
  RosterEntry& roster = call->roster;
  roster.entity = request.from().uri.to_string();
  roster.display = std::string(request.from().display_name);
  roster.member = admission->member != 0 ? admission->member : ++last_member_;
  roster.role = admission->role;
  roster.whisper_target = admission->whisper_target;
  roster.auth_user = admission->auth_user;
  roster.awaiting_pin = admission->awaiting_pin;
  roster.pin_deadline = admission->pin_deadline;
  roster.hidden = admission->hidden;
  roster.unpark = admission->unpark;
  roster.parked = is_service_room(roster.room) && !roster.unpark;
  if (waiting) {
    roster.waiting = true;
    roster.waiting_music = admission->waiting->waiting_music;
    roster.waiting_until = stack_.timers().now() + admission->waiting->waiting_timeout;
  }
  call->media.settings.muted = admission->muted;
  // Into a sidebar (README "Sidebars"): the one the Request-URI names, else
  // the one a Join's dialog is in (RFC 3911 §4: that dialog's conversation).
  // Either way the room's admission above applied, and the sidebar must
  // exist (it lives in the room).
  const auto sidebar = request.request_uri().param("sidebar");
  if (sidebar || admission->sidebar != 0) {
    const Room* open = rooms_.find(roster.room);
    uint32_t id = admission->sidebar;
    bool valid = true;
    if (sidebar) {
      const auto [end, ec] =
          std::from_chars(sidebar->data(), sidebar->data() + sidebar->size(), id);
      valid = ec == std::errc() && end == sidebar->data() + sidebar->size();
    }
    if (!valid || open == nullptr || open->sidebar(id) == nullptr || roster.hidden) {
      tx.respond(404, "No Such Sidebar", random_.tag());
      return;
    }
    roster.join_sidebar = id;
  }

  switch (start_media(call, negotiated.value(), chosen)) {
    case MediaStart::kQueued:
      break;
    case MediaStart::kUnsupported:
      tx.respond(488, "Not Acceptable Here", random_.tag());
      return;
    case MediaStart::kBusy:
      reject_unavailable(tx);
      return;
  }
  // The call now belongs to its room; it is answered when the shard reports
  // the port (on_media_added).
  Call& ref = *rooms_.find_call(dialog->id());
  ref.sip.pending = tx;
  ref.sip.ring_done = !slow && !waiting;
  const sip::DialogId id = ref.id();
  pending_invites_[tx.id()] = id;
  guard_.call_added(limit_key);
  dialogs_.insert(std::move(*dialog));
  if (waiting) {
    // The waiting room: 180 now (183 with our SDP once the shard has the
    // port, for the music), repeated, until a moderator acts or time is up.
    tx.respond(with_capabilities(std::move(first)));
    ref.sip.ringing = tx;
    {
      const LogContext context(id.call_id, ref.room());
      spdlog::info("member {} waits for a moderator", ref.member());
    }
    arm_waiting_timer(ref);
    publish(ref.room(), ControlEvent::Kind::kMemberJoined, ref.member());
    return;
  }
  if (!slow) {
    // §8.2.6.1: the answer waits for the shard's port; say so at once, so
    // the caller stops retransmitting and may CANCEL (§9.1).
    tx.respond(100, "Trying");
    return;
  }
  tx.respond(with_capabilities(std::move(first)));
  ref.sip.ringing = tx;
  ref.sip.ring_timer = stack_.timers().start(options_.ring_delay, [this, id] {
    Call* call = rooms_.find_call(id);
    if (call == nullptr || !call->sip.ringing) return;
    call->sip.ring_timer = 0;
    call->sip.ring_done = true;
    if (call->media.rtp_port == 0) return;  // answered when the port arrives
    const sip::ServerTransaction invite = *call->sip.ringing;
    call->sip.ringing.reset();
    call->sip.pending.reset();
    pending_invites_.erase(invite.id());
    answer_invite(*call, invite);
  });
}

bool Server::is_service_room(std::string_view room) const {
  return room == options_.moh_user || room == options_.park_user ||
         (room.size() > options_.park_user.size() + 1 && room.starts_with(options_.park_user) &&
          room[options_.park_user.size()] == '/');
}

void Server::reject_unavailable(const sip::ServerTransaction& tx) {
  // RFC 3261 §21.5.4: the mixer is full for now; try again shortly.
  Message response = sip::make_response(tx.request(), 503, "Media Unavailable", random_.tag());
  response.set_header("Retry-After", "5");
  tx.respond(std::move(response));
}

void Server::answer_invite(Call& call, const sip::ServerTransaction& tx) {
  sip::Dialog* dialog = dialogs_.find(call.id());
  if (dialog == nullptr) return;
  // The session confirms the dialog and starts the RFC 4028 timer it
  // negotiated (Session-Expires, Require: timer in the 2xx).
  Message response = with_capabilities(
      session_response(call, *dialog, tx.request(), 200, {}, call.media.local_sdp));
  if (!tx.respond(std::move(response))) {
    end_call(sip::DialogId(call.id()), /*send_bye=*/false);  // CANCEL won the race
    return;
  }
  // Answered: a caller without the PIN may key it in from now on, for as
  // long as the room allows.
  arm_pin_timer(call);
  const uint64_t member = call.member();
  const std::string room = call.room();
  {
    LogContext context(call.id().call_id, call.room());
    spdlog::info("member {} joined ({}, {} {}/{}{})", member, call.roster.entity,
                 role_name(call.roster.role), call.media.codec, call.media.clock_rate,
                 call.sip.replaces ? ", replacing a dialog" : "");
  }
  if (call.roster.unpark) {
    // A parked call retrieved: it leaves hold and talks with the retriever.
    Call* parked = rooms_.find_call(*call.roster.unpark);
    call.roster.unpark.reset();
    if (parked != nullptr) {
      parked->roster.parked = false;
      parked->media.settings.hold = parked->effective_hold();
      apply_settings(*parked);
    }
  }
  if (call.sip.replaces) {
    // RFC 3891 §3: the new dialog is up; the replaced one ends with BYE.
    const sip::DialogId old = *call.sip.replaces;
    call.sip.replaces.reset();
    end_call(old, /*send_bye=*/true);
    publish(room, ControlEvent::Kind::kMemberChanged, member);
    return;
  }
  publish(room, ControlEvent::Kind::kMemberJoined, member);
}

void Server::handle_in_dialog(const sip::ServerTransaction& tx, sip::Dialog& dialog) {
  if (std::optional<Message> reject = dialog.check_request(tx.request())) {
    tx.respond(std::move(*reject));  // §12.2.2: CSeq out of order → 500
    return;
  }
  const Message& request = tx.request();
  Call* call = rooms_.find_call(dialog.id());
  switch (request.method()) {
    case Method::kBye:
    case Method::kInvite:
    case Method::kUpdate:
      on_session_request(tx, dialog, call);  // rooms/invite_usage.cpp
      return;
    case Method::kNotify:
      if (on_transfer_notify(tx, dialog)) return;  // services/move_remote.cpp
      [[fallthrough]];
    case Method::kInfo:
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

void Server::on_cancel(const sip::ServerTransaction& invite) {
  // The stack already answered 487 (RFC 3261 §9.2): whatever the INVITE
  // started is dropped.
  if (const auto it = pending_invites_.find(invite.id()); it != pending_invites_.end()) {
    const sip::DialogId id = it->second;
    end_call(id, /*send_bye=*/false);
    return;
  }
  // Still waiting out account_delay: it is never handled.
  if (const auto it = deferred_.find(invite.id()); it != deferred_.end()) {
    stack_.timers().cancel(it->second);
    deferred_.erase(it);
    return;
  }
  cancel_reoffer(invite);  // rooms/invite_usage.cpp
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
  if (std::unique_ptr<Call> call = rooms_.release(id)) {
    {
      LogContext context(call->id().call_id, call->room());
      spdlog::info("member {} left{}", call->member(), send_bye_request ? " (BYE sent)" : "");
    }
    if (call->sip.ring_timer != 0) stack_.timers().cancel(call->sip.ring_timer);
    if (call->sip.pin_timer != 0) stack_.timers().cancel(call->sip.pin_timer);
    if (call->sip.session_deadline != 0) stack_.timers().cancel(call->sip.session_deadline);
    if (call->sip.pending) pending_invites_.erase(call->sip.pending->id());
    if (call->sip.ringing) pending_invites_.erase(call->sip.ringing->id());
    if (call->sip.pending && call->sip.pending->request().method() == Method::kInvite &&
        !call->sip.ringing) {
      call->sip.pending->respond(503, "Media Unavailable", random_.tag());
    }
    if (call->sip.ringing) {
      // Never answered (ringing, or in the waiting room): its INVITE gets a
      // final answer instead of a BYE, which an early dialog cannot take.
      call->sip.ringing->respond(480, "Temporarily Unavailable", call->id().local_tag);
      send_bye_request = false;
    }
    if (call->sip.pending_reoffer) {
      call->sip.pending_reoffer->respond(487, "Request Terminated", random_.tag());
    }
    remove_media(*call);
    if (call->media.pending_move != 0 && call->media.move_referral) {
      // Its move's completion will find no call: the mover hears now, and
      // the REFER's dialog goes with its subscription.
      notify_referrer(*call->media.move_referral, 487, "Request Terminated");
    }
    announce_leave(*call);
    if (!call->sip.limit_key.empty()) guard_.call_removed(call->sip.limit_key);
    room = call->room();
    member = call->member();
    // A member whose place was taken by Replaces stays in the roster.
    if (const Room* r = rooms_.find(room)) replaced = r->count_member(member) > 0;
    // The last call gone: the room goes now, so what is published next
    // sees no room (the packages' final "noresource" NOTIFY, RFC 6665 §4.2.2).
    close_room_if_empty(room);
  }
  if (sip::Dialog* dialog = dialogs_.find(id)) {
    if (send_bye_request) send_bye(*dialog);
    dialogs_.erase(id);
  }
  // A member REFERred to another node that hangs up before reporting.
  if (remote_moves_.contains(id)) finish_remote_move(id, 487, "Member Left");
  late_remote_moves_.erase(id);
  if (room.empty()) return;
  if (!replaced) publish(room, ControlEvent::Kind::kMemberLeft, member);
  after_leave(room);
  if (running_ && rooms_.call_count() == 0) schedule_memory_trim(kTrimWhenIdle);
}

void Server::after_leave(std::string room_name) {
  // When the last visible member is gone, hidden members (monitors,
  // whisperers, services) have nobody to listen to: release them too.
  Room* room = rooms_.find(room_name);
  if (room != nullptr) {
    if (room->has_visible()) return;
    std::vector<sip::DialogId> rest;
    for (const Call* call : room->calls()) rest.push_back(call->id());
    for (const sip::DialogId& id : rest) end_call(id, /*send_bye=*/true);
  }
  close_room_if_empty(room_name);
  if (const Room* kept = rooms_.find(room_name); kept != nullptr) {
    // A move on its way in keeps it; should that move fail, the room ends
    // as this leave would have ended it (close_unused).
    if (kept->empty() && move_pending_into(room_name)) ends_deferred_.insert(room_name);
    return;
  }
  end_room(room_name);
}

void Server::end_room(const std::string& room) {
  ends_deferred_.erase(room);
  // The conference is over: calls still ringing into it are CANCELled,
  // rather than reopening it, alone, when someone answers.
  std::vector<Call*> ringing;
  for (const auto& [id, call] : dialing_) {
    if (call->room() == room && !call->sip.cancelling) ringing.push_back(call.get());
  }
  for (Call* call : ringing) cancel_dial_out(*call);
  publish(room, ControlEvent::Kind::kRoomEnded, 0);
}

FocusGauges Server::gauges() const {
  FocusGauges g;
  g.calls = rooms_.call_count();
  g.rooms = rooms_.room_count();
  g.dialogs = dialogs_.size();
  g.dialing = dialing_.size();
  g.subscriptions = events_ ? events_->subscription_count() : 0;
  g.relay_subscriptions = events_ ? events_->relay_subscriber_count() : 0;
  g.relay_overflows = events_ ? events_->relay_overflows() : 0;
  g.transactions = stack_.transactions().size();
  g.media_totals_entries = media_totals_.live_streams();
  g.unsent_removes = unsent_removes_.size();
  g.unsent_changes = unsent_changes_.size();
  g.removes_in_flight = removes_in_flight_;
  g.remote_moves = remote_moves_.size();
  g.media_commands_failed = media_commands_failed_;
  g.media_removes_retried = media_removes_retried_;
  g.referrals_expired = referrals_expired_;
  g.pin_timeouts = pin_timeouts_;
  g.joins_refused_busy = joins_refused_busy_;
  for (const Room* room : rooms_.all()) g.recordings_active += room->recording().active ? 1 : 0;
  g.recordings_failed = recorder_->recordings_failed();
  g.recordings_finished = recorder_->recordings_finished();
  g.limits = guard_.counters();
  g.limit_sources_tracked = guard_.tracked_sources();
  g.limit_locked_pairs = guard_.locked_pairs();
  g.limit_deferred = deferred_.size();
  g.cpu_percent = guard_.cpu_percent();
  return g;
}

}  // namespace chorus::focus
