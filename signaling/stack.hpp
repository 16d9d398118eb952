#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "signaling/asio.hpp"
#include "signaling/transport/endpoint.hpp"
#include "signaling/message/message.hpp"
#include "signaling/transaction/timer.hpp"
#include "signaling/transaction/transaction.hpp"
#include "signaling/transport/transport.hpp"

namespace chorus::sip {

struct StackConfig {
  struct Listener {
    TransportKind transport = TransportKind::kUdp;
    std::string address = "127.0.0.1";
    uint16_t port = 5060;  // 0: ephemeral (tests)
  };
  std::vector<Listener> listeners;
  // Host written in Via sent-by and Contact; empty: the listener's address
  // (set it when listening on 0.0.0.0 or behind a NAT).
  std::string advertised_host;
  TransportConfig transport;
  TransactionTimers timers;
  std::string user_agent = "Chorus/0.1";  // Server / User-Agent header
};

class Stack;

// A received request and the server transaction to answer it through.
// Cheap to copy; stays usable after the callback returns (e.g. to answer
// later); answering a transaction that is gone returns false.
class ServerTransaction {
 public:
  ServerTransaction() = default;
  ServerTransaction(Stack* stack, TransactionId id, std::shared_ptr<const Message> request,
                    Endpoint source)
      : stack_(stack), id_(id), request_(std::move(request)), source_(std::move(source)) {}

  TransactionId id() const { return id_; }
  const Message& request() const { return *request_; }
  const std::shared_ptr<const Message>& request_ptr() const { return request_; }
  const Endpoint& source() const { return source_; }

  // Sends `response` through the transaction. A 2xx to INVITE is then
  // retransmitted by the stack until its ACK arrives (RFC 3261 §13.3.1.4).
  bool respond(Message response) const;
  // make_response(request, status, reason, to_tag) and send it.
  bool respond(int status, std::string_view reason = {}, std::string_view to_tag = {}) const;

 private:
  Stack* stack_ = nullptr;
  TransactionId id_ = 0;
  std::shared_ptr<const Message> request_;
  Endpoint source_;
};

enum class MessageDirection : uint8_t { kReceived, kSent };

struct StackHandlers {
  // Every new request except ACK and CANCEL (the stack handles those).
  std::function<void(const ServerTransaction&)> on_request;
  // An ACK for a 2xx (its retransmissions already stopped), or a stray ACK.
  std::function<void(const Message& ack, const Endpoint& source)> on_ack;
  // A CANCEL hit an unanswered INVITE; the stack sent 200 (CANCEL) and 487 (INVITE).
  std::function<void(const ServerTransaction& invite, const Message& cancel)> on_cancel;
  // Our 2xx to an INVITE got no ACK within 64*T1 (§13.3.1.4: end the session).
  std::function<void(const Message& response)> on_ack_timeout;
  // A response no client transaction wanted (e.g. a late 2xx retransmission).
  std::function<void(const Message& response, const Endpoint& source)> on_stray_response;
};

// A tap on what the transaction user exchanges, each message once and in
// order (retransmissions and stray responses are not shown): requests
// received and sent (ACK and CANCEL included), responses sent (the 487 the
// stack sends after a CANCEL too) and received. For observers only; it must
// not send anything itself.
using MessageTap = std::function<void(const Message& message, MessageDirection direction)>;

// SIP messages by method and status code, for metrics. Counted as they cross
// the transport (retransmissions included); extension methods count as
// Method::kUnknown, so the tables stay bounded whatever arrives.
struct MessageCounters {
  static constexpr size_t kMethods = static_cast<size_t>(Method::kPublish) + 1;
  std::array<uint64_t, kMethods> requests_received{};
  std::array<uint64_t, kMethods> requests_sent{};
  // (CSeq method, status code) → messages.
  std::map<std::pair<Method, int>, uint64_t> responses_received;
  std::map<std::pair<Method, int>, uint64_t> responses_sent;
};

struct StackStats {
  TransportCounters transport;
  MessageCounters messages;
  TransactionStats transactions;
  uint64_t ok_retransmissions = 0;  // 2xx to INVITE sent again while waiting for ACK
  uint64_t acks_matched = 0;
  uint64_t ack_timeouts = 0;
};

// The SIP stack façade the focus uses: transports + transactions + the
// TU-level 2xx reliability of RFC 3261 §13.3.1.4, on one io_context thread.
class Stack final : private TransactionUser, private TransactionTransport {
 public:
  // Timers on the io_context's steady clock.
  Stack(boost::asio::io_context& io, StackConfig config);
  // Timers on an injected service (tests).
  Stack(boost::asio::io_context& io, StackConfig config, TimerService& timers);
  ~Stack() override;
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  void set_handlers(StackHandlers handlers) { handlers_ = std::move(handlers); }
  // Installs (or with an empty function removes) the message tap. Nothing
  // is copied for it while none is set.
  void set_message_tap(MessageTap tap) { tap_ = std::move(tap); }

  // Binds every configured listener; throws std::system_error /
  // std::runtime_error on failure (start-up).
  void start();
  // Closes transports and forgets pending 2xx retransmissions.
  void stop();
  const std::vector<Endpoint>& listening() const { return listening_; }

  // Sends a request in a new client transaction: prepends our Via (fresh
  // branch, rport), adds Max-Forwards 70 and User-Agent if missing. The next
  // hop comes from Route / Request-URI (numeric hosts only), or is given.
  // Returns 0 (and calls nothing) when there is no usable next hop.
  TransactionId send_request(Message request, ClientCallback callback);
  TransactionId send_request(Message request, const Endpoint& destination, ClientCallback callback);
  // ACK for a 2xx (§13.2.2.4): no transaction; Via with a fresh branch.
  bool send_ack(Message ack);
  bool send_ack(Message ack, const Endpoint& destination);
  // CANCEL for client INVITE `invite` once it saw a provisional (§9.1).
  // Returns the CANCEL's transaction id or 0.
  TransactionId cancel(TransactionId invite, ClientCallback callback = {});

  // "sip:user@host:port;transport=tcp" for our Contact on that transport.
  std::string contact_uri(std::string_view user, TransportKind transport) const;
  // Our sent-by host:port for a transport (falls back to any listener).
  std::string sent_by(TransportKind transport) const;

  StackStats stats() const;
  TimerService& timers() { return *timers_; }
  boost::asio::io_context& io() { return io_; }
  TransactionLayer& transactions() { return *transactions_; }
  const TransactionLayer& transactions() const { return *transactions_; }
  TransportLayer& transport() { return transport_; }
  const StackConfig& config() const { return config_; }

 private:
  friend class ServerTransaction;
  struct PendingOk;

  bool respond(TransactionId id, Message response);
  void add_via(Message& request, TransportKind transport) const;
  void retransmit_ok(const std::string& key);
  void give_up_ok(const std::string& key);
  static std::string ok_key(std::string_view call_id, uint32_t cseq);
  void count_received(const Message& message);
  void count_sent(const Message& message);

  // TransactionUser
  void on_request(TransactionId id, const std::shared_ptr<const Message>& request,
                  const Endpoint& source) override;
  void on_ack(const Message& ack, const Endpoint& source) override;
  void on_cancelled(TransactionId invite, const std::shared_ptr<const Message>& invite_request,
                    const Message& cancel, const Message& terminated) override;
  void tap(const Message& message, MessageDirection direction) const {
    if (tap_) tap_(message, direction);
  }
  // `callback`, which also shows each new response to on_message (a 2xx
  // retransmission to an INVITE once).
  ClientCallback tapped(ClientCallback callback, bool invite) const;
  void on_stray_response(const Message& response, const Endpoint& source) override;
  // TransactionTransport
  bool send_request(const Message& request, const Endpoint& destination) override;
  bool send_response(const Message& response, const Endpoint& request_source) override;

  boost::asio::io_context& io_;
  StackConfig config_;
  std::unique_ptr<TimerService> own_timers_;
  TimerService* timers_;
  TransportLayer transport_;
  std::unique_ptr<TransactionLayer> transactions_;
  StackHandlers handlers_;
  MessageTap tap_;
  std::vector<Endpoint> listening_;
  std::unordered_map<std::string, std::unique_ptr<PendingOk>> pending_oks_;
  uint64_t ok_retransmissions_ = 0;
  uint64_t acks_matched_ = 0;
  uint64_t ack_timeouts_ = 0;
  MessageCounters messages_;
};

}  // namespace chorus::sip
