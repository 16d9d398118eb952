#pragma once

// Internal to the transaction layer: the per-transaction record, the typed
// event of the layer's FIFO, and the state machines that consume them.

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "signaling/transaction/transaction.hpp"

namespace chorus::sip {

struct TransactionLayer::Transaction {
  TransactionId id = 0;
  TransactionKind kind = TransactionKind::kClientInvite;
  TransactionState state = TransactionState::kTrying;
  std::string key;
  std::string merge_key;  // server, outside a dialog: see by_merge_key_
  std::shared_ptr<const Message> request;
  Endpoint peer;  // client: destination; server: where the request came from
  std::string counted_as;  // server: the per-peer key it counts under (source key)
  bool reliable = false;

  std::optional<Message> last_response;  // server: for retransmission
  std::unique_ptr<Message> ack;          // client INVITE: the ACK for a non-2xx final
  ClientCallback callback;               // client only
  Duration interval{0};                  // current A / E / G interval
  std::array<TimerId, kTransactionTimerCount> timer_ids{};
  bool provisional_seen = false;  // client INVITE: may send CANCEL (§9.1)
  bool cancel_sent = false;       // client INVITE: CANCELled; Timer B bounds the wait
  bool final_queued = false;      // server: the TU already handed a final response
  bool layer_answers = false;     // server: answered here (CANCEL, merged request), not by the TU
  // Past its final response and only absorbing retransmissions until a
  // linger timer (D, I, J, K, L, M) ends it: not pending work.
  bool lingering = false;
  bool evictable = false;  // lingering and listed in evictable_ (may end early)
};

struct TransactionLayer::Event {
  enum class Type : uint8_t {
    kStart,           // a transaction was just created
    kRequest,         // a retransmitted request (or ACK) matched the transaction
    kResponse,        // a response matched a client transaction
    kTuResponse,      // the TU responds through a server transaction
    kTimer,           // one of the §17 timers fired
    kTransportError,  // the transport refused a message of this transaction
    kCancelSent,      // client INVITE: the TU sent a CANCEL for it (§9.1)
  };
  Event() = default;
  Event(Type t, TransactionId tx, std::optional<Message> m = std::nullopt)
      : type(t), id(tx), message(std::move(m)) {}

  Type type = Type::kStart;
  TransactionId id = 0;
  std::optional<Message> message;
  TransactionTimer timer = TransactionTimer::kA;
  TimerId timer_id = 0;
};

// The four RFC 3261 §17 state machines. Each handler is a switch over the
// transaction's state, and every timer is named as in the RFC.
class TransactionMachine {
 public:
  using Transaction = TransactionLayer::Transaction;
  using Event = TransactionLayer::Event;

  explicit TransactionMachine(TransactionLayer& layer) : layer_(layer) {}

  void handle(Transaction& tx, Event& event);

 private:
  // transaction_client.cpp
  void client_invite(Transaction& tx, Event& event);
  void client_non_invite(Transaction& tx, Event& event);
  void send_ack(Transaction& tx, const Message& response);
  // transaction_server.cpp
  void server_invite(Transaction& tx, Event& event);
  void server_non_invite(Transaction& tx, Event& event);

  // shared (transaction_layer.cpp)
  void start_timer(Transaction& tx, TransactionTimer timer, Duration delay);
  // Marks the transaction as only absorbing retransmissions from now on.
  void set_lingering(Transaction& tx);
  // set_lingering, and the transaction may end early under max_lingering.
  void set_evictable(Transaction& tx);
  void cancel_timer(Transaction& tx, TransactionTimer timer);
  void terminate(Transaction& tx);
  // Timer K/D/I/J are zero on reliable transports: then the state is left at once.
  void linger(Transaction& tx, TransactionTimer timer, Duration unreliable_delay);
  bool send_request(Transaction& tx, const Message& request, bool retransmission);
  bool send_response(Transaction& tx, const Message& response, bool retransmission);
  void notify(Transaction& tx, ClientEvent::Kind kind, const Message* response = nullptr);

  TransactionLayer& layer_;
};

}  // namespace chorus::sip
