#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "signaling/transport/endpoint.hpp"
#include "signaling/message/message.hpp"
#include "signaling/transaction/timer.hpp"
#include "signaling/transaction/transaction_state.hpp"

namespace chorus::sip {

// RFC 3261 §17.1.1.1 / table 4. Configurable so tests and LAN deployments can
// shorten them; the defaults are the RFC's.
struct TransactionTimers {
  Duration t1{500};
  Duration t2{4000};
  Duration t4{5000};
  Duration timer_d{32000};     // ≥ 32 s for unreliable transports (§17.1.1.2)
  Duration trying_delay{200};  // §17.2.1: 100 Trying if the TU is slower than this
};

using TransactionId = uint64_t;

// What happened to a client transaction, handed to its callback.
struct ClientEvent {
  enum class Kind : uint8_t {
    kResponse,        // `response` is set: a provisional or final response (also 2xx
                      // retransmissions while an INVITE transaction is Accepted)
    kTimeout,         // Timer B / F fired: no final response (treat as 408, §8.1.3.1)
    kTransportError,  // the transport refused the request (treat as 503, §8.1.3.1)
  };
  Kind kind = Kind::kResponse;
  const Message* response = nullptr;
};
using ClientCallback = std::function<void(const ClientEvent&)>;

// The transport below the transaction layer. Returning false means the
// message could not be handed to the network (RFC 3261 §17.1.4 / §17.2.4).
class TransactionTransport {
 public:
  virtual ~TransactionTransport() = default;
  virtual bool send_request(const Message& request, const Endpoint& destination) = 0;
  // Routed by the transport per RFC 3261 §18.2.2 from the response's top Via
  // and where the request came from.
  virtual bool send_response(const Message& response, const Endpoint& request_source) = 0;
};

// The transaction user (the stack façade) above the layer.
class TransactionUser {
 public:
  virtual ~TransactionUser() = default;
  // A new request (never ACK or CANCEL) created server transaction `id`;
  // answer through TransactionLayer::respond.
  virtual void on_request(TransactionId id, const std::shared_ptr<const Message>& request,
                          const Endpoint& source) = 0;
  // An ACK that matched no server transaction in Completed/Confirmed: the ACK
  // for a 2xx (§17.2.3, §13.3.1.4), or one for a transaction that is gone.
  virtual void on_ack(const Message& ack, const Endpoint& source) = 0;
  // A CANCEL matched INVITE server transaction `invite` that had no final
  // response yet; the layer already answered the CANCEL 200 and the INVITE
  // 487 (§9.2), `terminated`. The TU drops whatever it was preparing for
  // that INVITE. `invite_request` is that INVITE: once answered, the
  // transaction no longer keeps it.
  virtual void on_cancelled(TransactionId invite,
                            const std::shared_ptr<const Message>& invite_request,
                            const Message& cancel, const Message& terminated) = 0;
  // A response that matched no client transaction (§17.1.3): for instance a
  // 2xx retransmission after the INVITE transaction ended (§13.2.2.4).
  virtual void on_stray_response(const Message& response, const Endpoint& source) = 0;
};

// Counters for metrics; monotonic.
struct TransactionStats {
  uint64_t client_created = 0;
  uint64_t server_created = 0;
  uint64_t retransmissions_sent = 0;      // requests (A, E) and responses (G, absorbed repeats)
  uint64_t retransmissions_absorbed = 0;  // incoming duplicates handled without the TU
  uint64_t timeouts = 0;                  // B, F, H
  uint64_t transport_errors = 0;
  uint64_t cancels_matched = 0;
  uint64_t cancels_unmatched = 0;  // answered 481
  uint64_t merged_requests = 0;    // answered 482 (§8.2.2.2)
  uint64_t stray_responses = 0;
  uint64_t screened_dropped = 0;   // new requests the screen dropped
  uint64_t screened_rejected = 0;  // new requests the screen answered statelessly
  uint64_t lingering_evicted = 0;  // finished server transactions dropped early (max_lingering)
};

// What becomes of a request that would create a new server transaction
// (retransmissions and ACKs never reach the screen): the TU's abuse limits
// decide before any state is kept. kReject answers statelessly (RFC 3261
// §8.2.7) with `status` and, when not 0, Retry-After (§20.33).
struct ScreenVerdict {
  enum class Action : uint8_t { kAccept, kDrop, kReject };
  Action action = Action::kAccept;
  int status = 503;
  uint32_t retry_after = 0;
};
using RequestScreen = std::function<ScreenVerdict(const Message& request, const Endpoint& source)>;

// RFC 3261 §17: every client and server transaction of one stack. All input
// (wire messages, TU responses, timers, transport errors) goes through ONE
// FIFO of typed events and is applied to the transaction's explicit state
// machine (transaction_client.cpp, transaction_server.cpp). Single-threaded:
// call it only from the signalling thread.
class TransactionLayer {
 public:
  TransactionLayer(TimerService& timers, TransactionTransport& transport, TransactionUser& user,
                   TransactionTimers config = {});
  ~TransactionLayer();
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  // Every message the transport parsed (requests already Via-stamped, §18.2.1).
  void receive(Message message, const Endpoint& source);

  // Starts a client transaction for `request` (its top Via must carry a fresh
  // RFC 3261 branch, §8.1.1.7). `callback` sees every response, the timeout or
  // a transport error; it is never called after the transaction ends. Must
  // not be ACK (ACK for a 2xx is sent by the TU outside any transaction).
  TransactionId send_request(Message request, const Endpoint& destination, ClientCallback callback);

  // Sends a response through server transaction `id`. False when the
  // transaction is gone or already has its final response (a TU bug or a
  // race with CANCEL). 2xx to INVITE: the transaction moves to Accepted and
  // the TU retransmits the 2xx itself (§13.3.1.4, RFC 6026).
  bool respond(TransactionId id, Message response);
  // True once server transaction `id` has its final response (queued or
  // sent: a CANCEL's 487 included), or is gone: no response of the TU can
  // reach the peer any more.
  bool answered(TransactionId id) const;

  // The request of a live transaction (nullptr if gone).
  std::shared_ptr<const Message> request(TransactionId id) const;
  std::optional<TransactionState> state(TransactionId id) const;
  // Client: the destination; server: where the request came from.
  std::optional<Endpoint> peer(TransactionId id) const;
  // True once a client INVITE transaction has seen a provisional response:
  // the condition for sending CANCEL (§9.1).
  bool may_cancel(TransactionId id) const;
  // A CANCEL for client INVITE `id` left (§9.1): if no final response comes
  // within 64*T1, the transaction ends with a timeout, however many
  // provisionals the callee keeps sending (each would restart Timer C).
  void cancel_sent(TransactionId id);

  size_t size() const { return transactions_.size(); }
  // Transactions not yet past their final response: size() minus those
  // only absorbing retransmissions (Completed / Confirmed / Accepted with a
  // linger timer running, 32 s over UDP). What the overload budget counts.
  size_t pending() const { return transactions_.size() - lingering_; }
  size_t lingering() const { return lingering_; }
  // Server transactions past a non-2xx final response (any non-INVITE, an
  // INVITE refused) linger 32 s over UDP to absorb retransmissions; past
  // this many, the oldest of them ends early (a retransmission of its
  // request is then a new request, answered again). 2xx-answered INVITEs
  // and our own requests are not dropped: calls and our sends bound them.
  // 0: no cap.
  void set_max_lingering(size_t max) { max_lingering_ = max; }
  // Of them the server transactions (requests from peers): what the
  // request caps and the overload budget count, so that our own requests
  // (NOTIFYs to subscribers that never answer, dial-outs) cannot make the
  // focus refuse everyone else.
  size_t pending_server() const { return server_pending_; }
  // Pending server transactions whose request came from `address` (the
  // transport peer), for per-source caps; an IPv6 peer counts as its /64
  // (source_key). Bounded by pending_server().
  size_t server_transactions_from(std::string_view address) const;
  // The key a peer's transactions count under (default sip::source_key: an
  // IPv6 peer as its /64); kept with each transaction, so a change of the
  // function (a reload) never unbalances a count.
  void set_source_key(std::function<std::string(std::string_view)> key) {
    source_key_ = key ? std::move(key) : std::function<std::string(std::string_view)>(source_key);
  }
  // Consulted before a new server transaction is created; empty: accept all.
  void set_screen(RequestScreen screen) { screen_ = std::move(screen); }
  const TransactionStats& stats() const { return stats_; }
  const TransactionTimers& timers_config() const { return config_; }

  // Internal; defined in transaction_machine.hpp.
  struct Transaction;
  struct Event;

 private:
  friend class TransactionMachine;

  void post(Event event);
  void drain();
  void dispatch(Event& event);
  void receive_request(Message message, const Endpoint& source);
  void receive_response(Message message, const Endpoint& source);
  void receive_cancel(Message cancel, const Endpoint& source);
  Transaction* find(TransactionId id);
  const Transaction* find(TransactionId id) const;
  Transaction& create(TransactionKind kind, std::string key, Message request, Endpoint peer);
  void erase(TransactionId id);
  void forget_peer(const std::string& counted_as);  // one pending server transaction less
  // False when the screen dropped or answered the request (no transaction).
  bool admit(const Message& request, const Endpoint& source);

  TimerService& timers_;
  TransactionTransport& transport_;
  TransactionUser& user_;
  TransactionTimers config_;
  TransactionStats stats_;

  std::unordered_map<TransactionId, std::unique_ptr<Transaction>> transactions_;
  std::unordered_map<std::string, TransactionId> by_key_;
  // §8.2.2.2: requests outside a dialog by From tag, Call-ID and CSeq, to
  // recognise the same request arriving again on another path; while the
  // transaction has no final response or accepted the request (2xx).
  std::unordered_map<std::string, TransactionId> by_merge_key_;
  RequestScreen screen_;
  std::unordered_map<std::string, size_t> server_by_peer_;  // source_key → pending
  size_t server_pending_ = 0;
  std::function<std::string(std::string_view)> source_key_ = source_key;
  std::deque<Event> events_;
  bool draining_ = false;
  TransactionId next_id_ = 1;
  size_t lingering_ = 0;
  // Server transactions that may end early, oldest first; an id whose
  // transaction is gone is skipped (and the list compacted when stale ids
  // outnumber live ones).
  std::deque<TransactionId> evictable_;
  size_t evictable_live_ = 0;
  size_t max_lingering_ = 0;
  std::shared_ptr<bool> alive_;  // timer callbacks check it: the layer may be gone
};

// Matching keys (RFC 3261 §17.1.3, §17.2.3). Exposed for tests.
// Server side: branch + sent-by + method (ACK and CANCEL map as the RFC says:
// ACK → INVITE; CANCEL keeps its own method, and `as_invite` asks for the key
// of the INVITE a CANCEL targets, §9.2). RFC 2543 requests (no magic cookie)
// key on Request-URI, Call-ID, From tag, CSeq number, top Via.
std::string server_transaction_key(const Message& request, bool as_invite = false);
// Client side: top Via branch + CSeq method of a request or response.
std::string client_transaction_key(const Message& message);

}  // namespace chorus::sip
