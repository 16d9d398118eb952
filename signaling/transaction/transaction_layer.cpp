#include <cassert>
#include <utility>

#include "signaling/transaction/transaction.hpp"
#include "signaling/transaction/transaction_ids.hpp"
#include "signaling/transaction/transaction_machine.hpp"

namespace chorus::sip {
namespace {

std::string_view key_method(const Message& request, bool as_invite) {
  if (as_invite || request.method() == Method::kAck) return "INVITE";
  return request.method_text();
}

void append_sent_by(std::string& key, const Via& via) {
  key += via.host;
  key += ':';
  key += std::to_string(via.port);
}

// §8.2.2.2's identity of a request outside a dialog (empty: inside one).
std::string merge_key(const Message& request) {
  if (!request.to().tag().empty()) return {};
  std::string key(request.from().tag());
  key += '|';
  key += request.call_id();
  key += '|';
  key += std::to_string(request.cseq().number);
  key += '|';
  key += request.method_text();
  return key;
}

}  // namespace

std::string server_transaction_key(const Message& request, bool as_invite) {
  const Via via = request.top_via();
  std::string key;
  if (via.rfc3261_branch()) {
    // §17.2.3: branch + sent-by + method (ACK matches its INVITE).
    key = "3261|";
    key += via.branch();
    key += '|';
    append_sent_by(key, via);
  } else {
    // §17.2.3 RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number
    // and the whole top Via. (The To tag rule for ACK is relaxed: an ACK
    // reaching a Completed INVITE transaction is the one for its final.)
    key = "2543|";
    key += request.request_uri_text();
    key += '|';
    key += request.call_id();
    key += '|';
    key += request.from().tag();
    key += '|';
    key += std::to_string(request.cseq().number);
    key += '|';
    append_sent_by(key, via);
    key += '|';
    key += via.params_text;
  }
  key += '|';
  key += key_method(request, as_invite);
  return key;
}

std::string client_transaction_key(const Message& message) {
  std::string key(message.top_via().branch());
  key += '|';
  key += message.cseq().method_text;
  return key;
}

TransactionLayer::TransactionLayer(TimerService& timers, TransactionTransport& transport,
                                   TransactionUser& user, TransactionTimers config)
    : timers_(timers),
      transport_(transport),
      user_(user),
      config_(config),
      alive_(std::make_shared<bool>(true)) {}

TransactionLayer::~TransactionLayer() {
  for (auto& [id, tx] : transactions_) {
    for (TimerId timer : tx->timer_ids) {
      if (timer != 0) timers_.cancel(timer);
    }
  }
}

void TransactionLayer::receive(Message message, const Endpoint& source) {
  if (message.is_response()) {
    receive_response(std::move(message), source);
  } else if (message.method() == Method::kCancel) {
    receive_cancel(std::move(message), source);
  } else {
    receive_request(std::move(message), source);
  }
  drain();
}

void TransactionLayer::receive_response(Message message, const Endpoint& source) {
  const auto it = by_key_.find(client_transaction_key(message));
  if (it == by_key_.end()) {
    ++stats_.stray_responses;
    user_.on_stray_response(message, source);
    return;
  }
  post(Event{Event::Type::kResponse, it->second, std::move(message)});
}

void TransactionLayer::receive_request(Message message, const Endpoint& source) {
  std::string key = server_transaction_key(message);
  if (const auto it = by_key_.find(key); it != by_key_.end()) {
    Transaction& tx = *transactions_.at(it->second);
    if (message.method() == Method::kAck && tx.state == TransactionState::kAccepted) {
      // RFC 6026 §7.1: an ACK for the 2xx that reuses the INVITE's branch goes to the TU.
      user_.on_ack(message, source);
      return;
    }
    post(Event{Event::Type::kRequest, tx.id, std::move(message)});
    return;
  }
  if (message.method() == Method::kAck) {
    user_.on_ack(message, source);  // §17.2.3: ACK for a 2xx is the TU's business
    return;
  }
  if (!admit(message, source)) return;
  const TransactionKind kind = message.method() == Method::kInvite
                                   ? TransactionKind::kServerInvite
                                   : TransactionKind::kServerNonInvite;
  std::string merge = merge_key(message);
  const bool merged = !merge.empty() && by_merge_key_.contains(merge);
  Transaction& tx = create(kind, std::move(key), std::move(message), source);
  ++stats_.server_created;
  const TransactionId id = tx.id;
  if (merged) {
    // §8.2.2.2: the request of a transaction in progress, arriving again on
    // another path (a fork that met itself): 482, and the TU never sees it.
    // Its own retransmissions match this transaction and get the 482 again.
    tx.layer_answers = true;
    ++stats_.merged_requests;
    const std::shared_ptr<const Message> request = tx.request;
    post(Event{Event::Type::kStart, id});
    respond(id, make_response(*request, 482, "Loop Detected", make_tag()));
    return;
  }
  if (!merge.empty()) {
    tx.merge_key = merge;
    by_merge_key_.emplace(std::move(merge), id);
  }
  post(Event{Event::Type::kStart, id});
}

void TransactionLayer::receive_cancel(Message cancel, const Endpoint& source) {
  std::string key = server_transaction_key(cancel);
  if (const auto it = by_key_.find(key); it != by_key_.end()) {
    post(Event{Event::Type::kRequest, it->second, std::move(cancel)});  // retransmitted CANCEL
    return;
  }
  if (!admit(cancel, source)) return;
  // §9.2: the CANCEL gets its own non-INVITE server transaction; its response
  // says whether the INVITE it names exists.
  const auto invite = by_key_.find(server_transaction_key(cancel, /*as_invite=*/true));
  Transaction* invite_tx = invite == by_key_.end() ? nullptr : find(invite->second);
  if (invite_tx != nullptr && invite_tx->kind != TransactionKind::kServerInvite) {
    invite_tx = nullptr;
  }
  Transaction& cancel_tx =
      create(TransactionKind::kServerNonInvite, std::move(key), std::move(cancel), source);
  cancel_tx.layer_answers = true;
  ++stats_.server_created;
  const std::shared_ptr<const Message> request = cancel_tx.request;
  const TransactionId cancel_id = cancel_tx.id;
  post(Event{Event::Type::kStart, cancel_id});
  if (invite_tx == nullptr) {
    ++stats_.cancels_unmatched;
    respond(cancel_id, make_response(*request, 481, "Call/Transaction Does Not Exist", make_tag()));
    return;
  }
  ++stats_.cancels_matched;
  // The 200 to CANCEL carries the To tag the INVITE's responses use, if any.
  std::string tag;
  if (invite_tx->last_response) tag = std::string(invite_tx->last_response->to().tag());
  if (tag.empty()) tag = make_tag();
  // Read before the 200 goes: the CANCEL's transaction finishing may end
  // the oldest finished ones (max_lingering), this INVITE among them.
  const TransactionId invite_id = invite_tx->id;
  const bool cancellable =
      !invite_tx->final_queued && invite_tx->state == TransactionState::kProceeding;
  // Held here: the answered transaction lets its request go.
  const std::shared_ptr<const Message> invite_request = invite_tx->request;
  invite_tx = nullptr;
  respond(cancel_id, make_response(*request, 200, "OK", tag));
  if (cancellable && find(invite_id) != nullptr) {
    Message terminated = make_response(*invite_request, 487, "Request Terminated", tag);
    const Message sent = terminated;
    respond(invite_id, std::move(terminated));
    user_.on_cancelled(invite_id, invite_request, *request, sent);
  }
}

TransactionId TransactionLayer::send_request(Message request, const Endpoint& destination,
                                             ClientCallback callback) {
  assert(request.is_request() && request.method() != Method::kAck);
  assert(request.top_via().rfc3261_branch());
  const TransactionKind kind = request.method() == Method::kInvite
                                   ? TransactionKind::kClientInvite
                                   : TransactionKind::kClientNonInvite;
  std::string key = client_transaction_key(request);
  Transaction& tx = create(kind, std::move(key), std::move(request), destination);
  tx.callback = std::move(callback);
  ++stats_.client_created;
  const TransactionId id = tx.id;
  post(Event{Event::Type::kStart, id});
  drain();
  return id;
}

bool TransactionLayer::respond(TransactionId id, Message response) {
  Transaction* tx = find(id);
  if (tx == nullptr || tx->state == TransactionState::kTerminated) return false;
  if (tx->kind != TransactionKind::kServerInvite && tx->kind != TransactionKind::kServerNonInvite) {
    return false;
  }
  const int status = response.status();
  if (status < 100 || status > 699) return false;
  if (tx->final_queued) {
    // RFC 6026 §7.1: further 2xx for an Accepted INVITE pass straight through.
    const bool accepted_2xx = tx->kind == TransactionKind::kServerInvite &&
                              tx->state == TransactionState::kAccepted && status >= 200 &&
                              status < 300;
    if (!accepted_2xx) return false;
  }
  if (status >= 200) tx->final_queued = true;
  if (status >= 300 && !tx->merge_key.empty()) {
    // Refused: a resubmission with the same CSeq (some UAs do so after a
    // 401/407, against §22.2) is a new request again, not a merged one.
    by_merge_key_.erase(tx->merge_key);
    tx->merge_key.clear();
  }
  post(Event{Event::Type::kTuResponse, id, std::move(response)});
  drain();
  return true;
}

bool TransactionLayer::answered(TransactionId id) const {
  const Transaction* tx = find(id);
  return tx == nullptr || tx->final_queued || tx->state == TransactionState::kTerminated;
}

std::shared_ptr<const Message> TransactionLayer::request(TransactionId id) const {
  const Transaction* tx = find(id);
  return tx == nullptr ? nullptr : tx->request;
}

std::optional<TransactionState> TransactionLayer::state(TransactionId id) const {
  const Transaction* tx = find(id);
  if (tx == nullptr) return std::nullopt;
  return tx->state;
}

std::optional<Endpoint> TransactionLayer::peer(TransactionId id) const {
  const Transaction* tx = find(id);
  if (tx == nullptr) return std::nullopt;
  return tx->peer;
}

void TransactionLayer::cancel_sent(TransactionId id) {
  post(Event{Event::Type::kCancelSent, id});
  drain();
}

bool TransactionLayer::may_cancel(TransactionId id) const {
  const Transaction* tx = find(id);
  return tx != nullptr && tx->kind == TransactionKind::kClientInvite &&
         tx->state == TransactionState::kProceeding && tx->provisional_seen;
}

TransactionLayer::Transaction* TransactionLayer::find(TransactionId id) {
  const auto it = transactions_.find(id);
  return it == transactions_.end() ? nullptr : it->second.get();
}

const TransactionLayer::Transaction* TransactionLayer::find(TransactionId id) const {
  const auto it = transactions_.find(id);
  return it == transactions_.end() ? nullptr : it->second.get();
}

TransactionLayer::Transaction& TransactionLayer::create(TransactionKind kind, std::string key,
                                                        Message request, Endpoint peer) {
  auto tx = std::make_unique<Transaction>();
  tx->id = next_id_++;
  tx->kind = kind;
  tx->key = std::move(key);
  tx->request = std::make_shared<const Message>(std::move(request));
  tx->reliable = is_reliable(peer.transport);
  tx->peer = std::move(peer);
  Transaction& ref = *tx;
  if (kind == TransactionKind::kServerInvite || kind == TransactionKind::kServerNonInvite) {
    ref.counted_as = source_key_(ref.peer.address);
    ++server_by_peer_[ref.counted_as];
    ++server_pending_;
  }
  // A client key collision means the TU reused a branch: a bug (§8.1.1.7).
  // A server key collision cannot happen (we looked it up first).
  by_key_[ref.key] = ref.id;
  transactions_.emplace(ref.id, std::move(tx));
  return ref;
}

void TransactionLayer::erase(TransactionId id) {
  const auto it = transactions_.find(id);
  if (it == transactions_.end()) return;
  for (TimerId timer : it->second->timer_ids) {
    if (timer != 0) timers_.cancel(timer);
  }
  const auto key = by_key_.find(it->second->key);
  if (key != by_key_.end() && key->second == id) by_key_.erase(key);
  if (!it->second->merge_key.empty()) by_merge_key_.erase(it->second->merge_key);
  const TransactionKind kind = it->second->kind;
  if (it->second->evictable) --evictable_live_;
  if (it->second->lingering) {
    --lingering_;
  } else if (kind == TransactionKind::kServerInvite || kind == TransactionKind::kServerNonInvite) {
    forget_peer(it->second->counted_as);
  }
  transactions_.erase(it);
}

void TransactionLayer::forget_peer(const std::string& counted_as) {
  --server_pending_;
  const auto peer = server_by_peer_.find(counted_as);
  if (peer != server_by_peer_.end() && --peer->second == 0) server_by_peer_.erase(peer);
}

size_t TransactionLayer::server_transactions_from(std::string_view address) const {
  const auto it = server_by_peer_.find(source_key_(address));
  return it == server_by_peer_.end() ? 0 : it->second;
}

bool TransactionLayer::admit(const Message& request, const Endpoint& source) {
  if (!screen_) return true;
  const ScreenVerdict verdict = screen_(request, source);
  switch (verdict.action) {
    case ScreenVerdict::Action::kAccept:
      return true;
    case ScreenVerdict::Action::kDrop:
      ++stats_.screened_dropped;
      return false;
    case ScreenVerdict::Action::kReject: {
      ++stats_.screened_rejected;
      // §8.2.7: a stateless answer; the request leaves no state behind.
      Message response = make_response(request, verdict.status, {}, make_tag());
      if (verdict.retry_after != 0) {
        response.set_header("Retry-After", std::to_string(verdict.retry_after));
      }
      transport_.send_response(response, source);
      return false;
    }
  }
  return true;
}

void TransactionLayer::post(Event event) {
  events_.push_back(std::move(event));
}

void TransactionLayer::drain() {
  if (draining_) return;  // re-entered from a callback: the outer loop continues
  draining_ = true;
  while (!events_.empty()) {
    Event event = std::move(events_.front());
    events_.pop_front();
    dispatch(event);
  }
  draining_ = false;
}

void TransactionLayer::dispatch(Event& event) {
  Transaction* tx = find(event.id);
  if (tx == nullptr) return;
  if (event.type == Event::Type::kTimer) {
    auto& slot = tx->timer_ids[static_cast<size_t>(event.timer)];
    if (slot != event.timer_id) return;  // cancelled or restarted since it fired
    slot = 0;
  }
  const bool start_server =
      event.type == Event::Type::kStart &&
      (tx->kind == TransactionKind::kServerInvite || tx->kind == TransactionKind::kServerNonInvite);
  TransactionMachine(*this).handle(*tx, event);
  if (start_server && tx->state != TransactionState::kTerminated && !tx->layer_answers) {
    const std::shared_ptr<const Message> request = tx->request;
    const Endpoint source = tx->peer;
    user_.on_request(tx->id, request, source);
  }
  // The TU callbacks may have created transactions (rehash) but never erase
  // one, so `tx` is still valid here.
  if (tx->state == TransactionState::kTerminated) erase(event.id);
}

// ---- helpers shared by the machines

void TransactionMachine::handle(Transaction& tx, Event& event) {
  switch (tx.kind) {
    case TransactionKind::kClientInvite:
      client_invite(tx, event);
      break;
    case TransactionKind::kClientNonInvite:
      client_non_invite(tx, event);
      break;
    case TransactionKind::kServerInvite:
      server_invite(tx, event);
      break;
    case TransactionKind::kServerNonInvite:
      server_non_invite(tx, event);
      break;
  }
}

void TransactionMachine::start_timer(Transaction& tx, TransactionTimer timer, Duration delay) {
  cancel_timer(tx, timer);
  const TransactionId id = tx.id;
  TransactionLayer* layer = &layer_;
  std::weak_ptr<bool> alive = layer_.alive_;
  // The callback needs its own timer id; start() returns it only afterwards.
  auto timer_id = std::make_shared<TimerId>(0);
  const TimerId started = layer_.timers_.start(delay, [layer, alive, id, timer, timer_id] {
    if (alive.expired()) return;
    TransactionLayer::Event event;
    event.type = TransactionLayer::Event::Type::kTimer;
    event.id = id;
    event.timer = timer;
    event.timer_id = *timer_id;
    layer->post(std::move(event));
    layer->drain();
  });
  *timer_id = started;
  tx.timer_ids[static_cast<size_t>(timer)] = started;
}

void TransactionMachine::cancel_timer(Transaction& tx, TransactionTimer timer) {
  auto& slot = tx.timer_ids[static_cast<size_t>(timer)];
  if (slot != 0) {
    layer_.timers_.cancel(slot);
    slot = 0;
  }
}

void TransactionMachine::terminate(Transaction& tx) {
  tx.state = TransactionState::kTerminated;
  for (size_t i = 0; i < kTransactionTimerCount; ++i) {
    cancel_timer(tx, static_cast<TransactionTimer>(i));
  }
}

void TransactionMachine::linger(Transaction& tx, TransactionTimer timer,
                                Duration unreliable_delay) {
  if (tx.reliable || unreliable_delay <= Duration::zero()) {
    terminate(tx);
  } else {
    set_lingering(tx);
    start_timer(tx, timer, unreliable_delay);
  }
}

void TransactionMachine::set_lingering(Transaction& tx) {
  if (tx.lingering) return;
  tx.lingering = true;
  ++layer_.lingering_;
  // Per-peer counts are of pending server transactions too.
  if (tx.kind == TransactionKind::kServerInvite || tx.kind == TransactionKind::kServerNonInvite) {
    layer_.forget_peer(tx.counted_as);
  }
}

void TransactionMachine::set_evictable(Transaction& tx) {
  set_lingering(tx);
  if (tx.evictable) return;
  tx.evictable = true;
  ++layer_.evictable_live_;
  std::deque<TransactionId>& order = layer_.evictable_;
  order.push_back(tx.id);
  if (order.size() > 2 * layer_.evictable_live_ + 64) {
    std::erase_if(order, [this](TransactionId id) {
      const Transaction* other = layer_.find(id);
      return other == nullptr || !other->evictable;
    });
  }
  if (layer_.max_lingering_ == 0) return;
  while (layer_.evictable_live_ > layer_.max_lingering_ && !order.empty()) {
    const TransactionId oldest = order.front();
    if (oldest == tx.id) break;  // only this one is left to drop: keep it
    order.pop_front();
    Transaction* victim = layer_.find(oldest);
    if (victim == nullptr || !victim->evictable) continue;
    terminate(*victim);
    layer_.erase(oldest);  // never `tx`, the transaction being handled
    ++layer_.stats_.lingering_evicted;
  }
}

bool TransactionMachine::send_request(Transaction& tx, const Message& request,
                                      bool retransmission) {
  if (retransmission) ++layer_.stats_.retransmissions_sent;
  if (layer_.transport_.send_request(request, tx.peer)) return true;
  ++layer_.stats_.transport_errors;
  layer_.post(Event{Event::Type::kTransportError, tx.id});
  return false;
}

bool TransactionMachine::send_response(Transaction& tx, const Message& response,
                                       bool retransmission) {
  if (retransmission) ++layer_.stats_.retransmissions_sent;
  if (layer_.transport_.send_response(response, tx.peer)) return true;
  ++layer_.stats_.transport_errors;
  layer_.post(Event{Event::Type::kTransportError, tx.id});
  return false;
}

void TransactionMachine::notify(Transaction& tx, ClientEvent::Kind kind, const Message* response) {
  if (kind == ClientEvent::Kind::kTimeout) ++layer_.stats_.timeouts;
  if (!tx.callback) return;
  // Hold the callback: it may be replaced while running (never erased).
  ClientCallback callback = tx.callback;
  callback(ClientEvent{kind, response});
}

}  // namespace chorus::sip
