#include "signaling/stack.hpp"

#include <algorithm>
#include <cassert>

#include "signaling/transaction/timer_asio.hpp"
#include "signaling/transaction/transaction_ids.hpp"
#include "signaling/transport/transport_routing.hpp"

namespace chorus::sip {
namespace {

std::string host_for_uri(std::string_view address) {
  if (address.find(':') != std::string_view::npos && !address.starts_with("[")) {
    return "[" + std::string(address) + "]";
  }
  return std::string(address);
}

}  // namespace

// A 2xx to an INVITE waiting for its ACK (§13.3.1.4): retransmitted at T1,
// 2T1, ... capped at T2 over UDP; given up after 64*T1 on every transport.
struct Stack::PendingOk {
  Message response;
  Endpoint source;
  Duration interval{0};
  TimerId retransmit = 0;
  TimerId give_up = 0;
};

bool ServerTransaction::respond(Message response) const {
  return stack_ != nullptr && stack_->respond(id_, std::move(response));
}

bool ServerTransaction::respond(int status, std::string_view reason,
                                std::string_view to_tag) const {
  if (request_ == nullptr) return false;
  return respond(make_response(*request_, status, reason, to_tag));
}

Stack::Stack(boost::asio::io_context& io, StackConfig config)
    : io_(io),
      config_(std::move(config)),
      own_timers_(std::make_unique<AsioTimerService>(io)),
      timers_(own_timers_.get()),
      transport_(io, config_.transport) {
  TransactionTransport& below = *this;
  TransactionUser& above = *this;
  transactions_ = std::make_unique<TransactionLayer>(*timers_, below, above, config_.timers);
  transport_.set_handler([this](Message message, const Endpoint& source) {
    count_received(message);
    transactions_->receive(std::move(message), source);
  });
}

Stack::Stack(boost::asio::io_context& io, StackConfig config, TimerService& timers)
    : io_(io), config_(std::move(config)), timers_(&timers), transport_(io, config_.transport) {
  TransactionTransport& below = *this;
  TransactionUser& above = *this;
  transactions_ = std::make_unique<TransactionLayer>(*timers_, below, above, config_.timers);
  transport_.set_handler([this](Message message, const Endpoint& source) {
    count_received(message);
    transactions_->receive(std::move(message), source);
  });
}

Stack::~Stack() {
  stop();
  transactions_.reset();  // cancels its timers while the service still exists
}

void Stack::start() {
  for (const StackConfig::Listener& listener : config_.listeners) {
    listening_.push_back(transport_.listen(listener.transport, listener.address, listener.port));
  }
}

void Stack::stop() {
  for (auto& [key, pending] : pending_oks_) {
    timers_->cancel(pending->retransmit);
    timers_->cancel(pending->give_up);
  }
  pending_oks_.clear();
  transport_.close();
}

std::string Stack::sent_by(TransportKind transport) const {
  const Endpoint* chosen = nullptr;
  for (const Endpoint& endpoint : listening_) {
    if (endpoint.transport == transport) {
      chosen = &endpoint;
      break;
    }
  }
  if (chosen == nullptr && !listening_.empty()) chosen = &listening_.front();
  std::string host = config_.advertised_host;
  uint16_t port = default_port(transport);
  if (chosen != nullptr) {
    if (host.empty()) host = chosen->address;
    port = chosen->port;
  }
  if (host.empty() || host == "0.0.0.0" || host == "::") host = "127.0.0.1";
  return host_for_uri(host) + ":" + std::to_string(port);
}

std::string Stack::contact_uri(std::string_view user, TransportKind transport) const {
  // RFC 7118 §5.2 writes transport=ws for WS and WSS alike (a sips: URI
  // means WSS); a plain sip: URI with transport=wss is what WSS clients
  // understand in practice, so WSS says so.
  std::string uri = transport == TransportKind::kTls ? "sips:" : "sip:";
  if (!user.empty()) {
    uri += user;
    uri += '@';
  }
  uri += sent_by(transport);
  if (transport == TransportKind::kTcp) uri += ";transport=tcp";
  if (transport == TransportKind::kWs) uri += ";transport=ws";
  if (transport == TransportKind::kWss) uri += ";transport=wss";
  return uri;
}

void Stack::add_via(Message& request, TransportKind transport) const {
  std::string via = "SIP/2.0/";
  via += transport_name(transport);
  via += ' ';
  via += sent_by(transport);
  via += ";branch=";
  via += make_branch();
  via += ";rport";  // RFC 3581: let NATs between us and the peer be traversed
  request.prepend_header("Via", via);
  if (!request.has_header("Max-Forwards")) request.add_header("Max-Forwards", "70");
  if (!request.has_header("User-Agent") && !config_.user_agent.empty()) {
    request.add_header("User-Agent", config_.user_agent);
  }
}

TransactionId Stack::send_request(Message request, ClientCallback callback) {
  const TransportKind fallback =
      listening_.empty() ? TransportKind::kUdp : listening_.front().transport;
  const std::optional<Endpoint> destination = request_destination(request, fallback);
  if (!destination) return 0;
  return send_request(std::move(request), *destination, std::move(callback));
}

TransactionId Stack::send_request(Message request, const Endpoint& destination,
                                  ClientCallback callback) {
  assert(request.is_request() && request.method() != Method::kAck);
  // A WebSocket client: its connection, pinned for the whole transaction
  // (none: the send fails and the transaction reports a transport error).
  Endpoint target = destination;
  transport_.pin_flow(target);
  add_via(request, target.transport);
  tap(request, MessageDirection::kSent);
  const bool invite = request.method() == Method::kInvite;
  return transactions_->send_request(std::move(request), target,
                                     tapped(std::move(callback), invite));
}

ClientCallback Stack::tapped(ClientCallback callback, bool invite) const {
  // Shown to the tap as they come, except the 2xx retransmissions an
  // Accepted INVITE transaction passes up (one per forked To tag is new).
  // The tags live outside the callback, which the transaction layer copies.
  auto oks = invite ? std::make_shared<std::vector<std::string>>() : nullptr;
  return [this, callback = std::move(callback), oks](const ClientEvent& event) {
    if (tap_ && event.kind == ClientEvent::Kind::kResponse && event.response != nullptr) {
      const Message& response = *event.response;
      bool repeat = false;
      if (oks && response.status() >= 200 && response.status() < 300) {
        const std::string tag(response.to().tag());
        repeat = std::find(oks->begin(), oks->end(), tag) != oks->end();
        if (!repeat && oks->size() < 16) oks->push_back(tag);
      }
      if (!repeat) tap(response, MessageDirection::kReceived);
    }
    if (callback) callback(event);
  };
}

bool Stack::send_ack(Message ack) {
  const TransportKind fallback =
      listening_.empty() ? TransportKind::kUdp : listening_.front().transport;
  const std::optional<Endpoint> destination = request_destination(ack, fallback);
  if (!destination) return false;
  return send_ack(std::move(ack), *destination);
}

bool Stack::send_ack(Message ack, const Endpoint& destination) {
  Endpoint target = destination;
  transport_.pin_flow(target);
  add_via(ack, target.transport);
  if (!transport_.send_request(ack, target)) return false;
  count_sent(ack);
  tap(ack, MessageDirection::kSent);
  return true;
}

TransactionId Stack::cancel(TransactionId invite, ClientCallback callback) {
  if (!transactions_->may_cancel(invite)) return 0;
  const std::shared_ptr<const Message> request = transactions_->request(invite);
  const std::optional<Endpoint> destination = transactions_->peer(invite);
  if (request == nullptr || !destination) return 0;
  // §9.1: same Request-URI, Call-ID, To, From, CSeq number and the single
  // top Via of the INVITE (so it matches the server's INVITE transaction).
  Message cancel = Message::request(Method::kCancel, request->request_uri_text());
  const std::vector<std::string_view> vias = request->header_values("Via");
  if (!vias.empty()) cancel.add_header("Via", vias.front());
  for (std::string_view route : request->header_lines("Route")) cancel.add_header("Route", route);
  cancel.add_header("Max-Forwards", "70");
  if (const auto from = request->header("From")) cancel.add_header("From", *from);
  if (const auto to = request->header("To")) cancel.add_header("To", *to);
  cancel.add_header("Call-ID", request->call_id());
  cancel.add_header("CSeq", std::to_string(request->cseq().number) + " CANCEL");
  cancel.set_body({}, {});
  tap(cancel, MessageDirection::kSent);
  const TransactionId id = transactions_->send_request(std::move(cancel), *destination,
                                                       tapped(std::move(callback), false));
  if (id != 0) transactions_->cancel_sent(invite);
  return id;
}

bool Stack::respond(TransactionId id, Message response) {
  const std::shared_ptr<const Message> request = transactions_->request(id);
  if (request == nullptr) return false;
  if (!response.has_header("Server") && !config_.user_agent.empty()) {
    response.add_header("Server", config_.user_agent);
  }
  const int status = response.status();
  const bool ok_to_invite = request->method() == Method::kInvite && status >= 200 && status < 300;
  std::optional<Message> copy;
  if (ok_to_invite || tap_) copy = response;
  if (!transactions_->respond(id, std::move(response))) return false;
  if (copy) tap(*copy, MessageDirection::kSent);
  if (!ok_to_invite) return true;

  // §13.3.1.4: the UAS core retransmits the 2xx until the ACK arrives.
  const std::string key = ok_key(request->call_id(), request->cseq().number);
  auto pending = std::make_unique<PendingOk>();
  pending->response = std::move(*copy);
  pending->source = transactions_->peer(id).value_or(Endpoint{});
  if (const auto old = pending_oks_.find(key); old != pending_oks_.end()) {
    timers_->cancel(old->second->retransmit);
    timers_->cancel(old->second->give_up);
  }
  const TransactionTimers& t = config_.timers;
  if (!is_reliable(pending->source.transport)) {
    pending->interval = t.t1;
    pending->retransmit = timers_->start(t.t1, [this, key] { retransmit_ok(key); });
  }
  pending->give_up = timers_->start(64 * t.t1, [this, key] { give_up_ok(key); });
  pending_oks_[key] = std::move(pending);
  return true;
}

std::string Stack::ok_key(std::string_view call_id, uint32_t cseq) {
  std::string key(call_id);
  key += '|';
  key += std::to_string(cseq);
  return key;
}

void Stack::retransmit_ok(const std::string& key) {
  const auto it = pending_oks_.find(key);
  if (it == pending_oks_.end()) return;
  PendingOk& pending = *it->second;
  ++ok_retransmissions_;
  if (transport_.send_response(pending.response, pending.source)) count_sent(pending.response);
  pending.interval = std::min<Duration>(pending.interval * 2, config_.timers.t2);
  pending.retransmit = timers_->start(pending.interval, [this, key] { retransmit_ok(key); });
}

void Stack::give_up_ok(const std::string& key) {
  const auto it = pending_oks_.find(key);
  if (it == pending_oks_.end()) return;
  std::unique_ptr<PendingOk> pending = std::move(it->second);
  pending_oks_.erase(it);
  timers_->cancel(pending->retransmit);
  ++ack_timeouts_;
  if (handlers_.on_ack_timeout) handlers_.on_ack_timeout(pending->response);
}

StackStats Stack::stats() const {
  StackStats stats;
  stats.transport = transport_.counters();
  stats.transactions = transactions_->stats();
  stats.ok_retransmissions = ok_retransmissions_;
  stats.acks_matched = acks_matched_;
  stats.ack_timeouts = ack_timeouts_;
  stats.messages = messages_;
  return stats;
}

void Stack::count_received(const Message& message) {
  const auto method = static_cast<size_t>(message.method());
  if (method >= MessageCounters::kMethods) return;
  if (message.is_request()) {
    ++messages_.requests_received[method];
  } else {
    ++messages_.responses_received[{message.method(), message.status()}];
  }
}

void Stack::count_sent(const Message& message) {
  const auto method = static_cast<size_t>(message.method());
  if (method >= MessageCounters::kMethods) return;
  if (message.is_request()) {
    ++messages_.requests_sent[method];
  } else {
    ++messages_.responses_sent[{message.method(), message.status()}];
  }
}

void Stack::on_request(TransactionId id, const std::shared_ptr<const Message>& request,
                       const Endpoint& source) {
  tap(*request, MessageDirection::kReceived);
  if (handlers_.on_request) {
    handlers_.on_request(ServerTransaction(this, id, request, source));
  } else {
    respond(id, make_response(*request, 503, "Service Unavailable", make_tag()));
  }
}

void Stack::on_ack(const Message& ack, const Endpoint& source) {
  const auto it = pending_oks_.find(ok_key(ack.call_id(), ack.cseq().number));
  if (it != pending_oks_.end()) {
    timers_->cancel(it->second->retransmit);
    timers_->cancel(it->second->give_up);
    pending_oks_.erase(it);
    ++acks_matched_;
    tap(ack, MessageDirection::kReceived);  // its retransmissions match nothing
  }
  if (handlers_.on_ack) handlers_.on_ack(ack, source);
}

void Stack::on_cancelled(TransactionId invite, const std::shared_ptr<const Message>& invite_request,
                         const Message& cancel, const Message& terminated) {
  tap(cancel, MessageDirection::kReceived);
  tap(terminated, MessageDirection::kSent);
  if (!handlers_.on_cancel) return;
  const std::optional<Endpoint> source = transactions_->peer(invite);
  if (invite_request == nullptr || !source) return;
  handlers_.on_cancel(ServerTransaction(this, invite, invite_request, *source), cancel);
}

void Stack::on_stray_response(const Message& response, const Endpoint& source) {
  if (handlers_.on_stray_response) handlers_.on_stray_response(response, source);
}

bool Stack::send_request(const Message& request, const Endpoint& destination) {
  if (!transport_.send_request(request, destination)) return false;
  count_sent(request);
  return true;
}

bool Stack::send_response(const Message& response, const Endpoint& request_source) {
  if (!transport_.send_response(response, request_source)) return false;
  count_sent(response);
  return true;
}

}  // namespace chorus::sip
