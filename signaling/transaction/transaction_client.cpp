// RFC 3261 §17.1: the client transaction state machines.

#include <algorithm>

#include "signaling/transaction/transaction_machine.hpp"

namespace chorus::sip {
namespace {

using Type = TransactionLayer::Event::Type;
using State = TransactionState;
using Timer = TransactionTimer;

constexpr Duration kTimerC{180000};  // §16.6: "greater than 3 minutes"

}  // namespace

// §17.1.1, figure 5 (with RFC 6026's Accepted state).
void TransactionMachine::client_invite(Transaction& tx, Event& event) {
  const TransactionTimers& t = layer_.config_;
  switch (event.type) {
    case Type::kStart:
      tx.state = State::kCalling;
      if (!send_request(tx, *tx.request, false)) return;
      if (!tx.reliable) {
        tx.interval = t.t1;
        start_timer(tx, Timer::kA, tx.interval);
      }
      start_timer(tx, Timer::kB, 64 * t.t1);
      return;

    case Type::kResponse: {
      const Message& response = *event.message;
      const int status = response.status();
      if (tx.state == State::kCalling || tx.state == State::kProceeding) {
        if (status < 200) {
          // Proceeding: retransmissions stop and Timer B no longer applies.
          tx.state = State::kProceeding;
          tx.provisional_seen = true;
          cancel_timer(tx, Timer::kA);
          if (!tx.cancel_sent) cancel_timer(tx, Timer::kB);
          start_timer(tx, Timer::kC, kTimerC);
          notify(tx, ClientEvent::Kind::kResponse, &response);
        } else if (status < 300) {
          // RFC 6026 §7.2: Accepted; 2xx retransmissions keep reaching the TU,
          // which ACKs each one (§13.2.2.4).
          tx.state = State::kAccepted;
          cancel_timer(tx, Timer::kA);
          cancel_timer(tx, Timer::kB);
          cancel_timer(tx, Timer::kC);
          set_lingering(tx);
          start_timer(tx, Timer::kM, 64 * t.t1);
          notify(tx, ClientEvent::Kind::kResponse, &response);
        } else {
          // §17.1.1.3: the transaction ACKs a non-2xx final itself.
          tx.state = State::kCompleted;
          cancel_timer(tx, Timer::kA);
          cancel_timer(tx, Timer::kB);
          cancel_timer(tx, Timer::kC);
          send_ack(tx, response);
          notify(tx, ClientEvent::Kind::kResponse, &response);
          if (tx.state == State::kCompleted) linger(tx, Timer::kD, t.timer_d);
        }
      } else if (tx.state == State::kAccepted) {
        if (status >= 200 && status < 300) {
          notify(tx, ClientEvent::Kind::kResponse, &response);
        } else {
          ++layer_.stats_.retransmissions_absorbed;
        }
      } else if (tx.state == State::kCompleted) {
        // A retransmitted final: our ACK was lost, send it again.
        ++layer_.stats_.retransmissions_absorbed;
        if (status >= 300 && tx.ack) send_request(tx, *tx.ack, true);
      }
      return;
    }

    case Type::kCancelSent:
      // §9.1: "If no final response has been received after 64*T1 seconds,
      // the client SHOULD consider the INVITE transaction terminated".
      if (tx.cancel_sent || (tx.state != State::kCalling && tx.state != State::kProceeding)) {
        return;
      }
      tx.cancel_sent = true;
      start_timer(tx, Timer::kB, 64 * t.t1);
      return;

    case Type::kTimer:
      switch (event.timer) {
        case Timer::kA:
          if (tx.state != State::kCalling) return;
          if (!send_request(tx, *tx.request, true)) return;
          tx.interval *= 2;
          start_timer(tx, Timer::kA, tx.interval);
          return;
        case Timer::kB:
        case Timer::kC:
          if (tx.state != State::kCalling && tx.state != State::kProceeding) return;
          terminate(tx);
          notify(tx, ClientEvent::Kind::kTimeout);
          return;
        case Timer::kD:
        case Timer::kM:
          terminate(tx);
          return;
        default:
          return;
      }

    case Type::kTransportError:
      if (tx.state == State::kCalling || tx.state == State::kProceeding) {
        terminate(tx);
        notify(tx, ClientEvent::Kind::kTransportError);
      } else {
        terminate(tx);
      }
      return;

    case Type::kRequest:
    case Type::kTuResponse:
      return;  // not for a client transaction
  }
}

// §17.1.1.3: the ACK for a non-2xx final response.
void TransactionMachine::send_ack(Transaction& tx, const Message& response) {
  const Message& request = *tx.request;
  Message ack = Message::request(Method::kAck, request.request_uri_text());
  // Exactly one Via: the top Via of the original request (§17.1.1.3).
  const std::vector<std::string_view> vias = request.header_values("Via");
  if (!vias.empty()) ack.add_header("Via", vias.front());
  for (std::string_view route : request.header_lines("Route")) ack.add_header("Route", route);
  ack.add_header("Max-Forwards", "70");
  if (const auto from = request.header("From")) ack.add_header("From", *from);
  if (const auto to = response.header("To")) ack.add_header("To", *to);
  ack.add_header("Call-ID", request.call_id());
  ack.add_header("CSeq", std::to_string(request.cseq().number) + " ACK");
  ack.set_body({}, {});
  tx.ack = std::make_unique<Message>(std::move(ack));
  send_request(tx, *tx.ack, false);
}

// §17.1.2, figure 6.
void TransactionMachine::client_non_invite(Transaction& tx, Event& event) {
  const TransactionTimers& t = layer_.config_;
  switch (event.type) {
    case Type::kStart:
      tx.state = State::kTrying;
      if (!send_request(tx, *tx.request, false)) return;
      if (!tx.reliable) {
        tx.interval = t.t1;
        start_timer(tx, Timer::kE, tx.interval);
      }
      start_timer(tx, Timer::kF, 64 * t.t1);
      return;

    case Type::kResponse: {
      const Message& response = *event.message;
      if (tx.state == State::kTrying || tx.state == State::kProceeding) {
        if (response.status() < 200) {
          tx.state = State::kProceeding;
          notify(tx, ClientEvent::Kind::kResponse, &response);
        } else {
          tx.state = State::kCompleted;
          cancel_timer(tx, Timer::kE);
          cancel_timer(tx, Timer::kF);
          notify(tx, ClientEvent::Kind::kResponse, &response);
          if (tx.state == State::kCompleted) linger(tx, Timer::kK, t.t4);
        }
      } else {
        ++layer_.stats_.retransmissions_absorbed;  // Completed: absorb
      }
      return;
    }

    case Type::kTimer:
      switch (event.timer) {
        case Timer::kE:
          if (tx.state != State::kTrying && tx.state != State::kProceeding) return;
          if (!send_request(tx, *tx.request, true)) return;
          // Trying: double up to T2; Proceeding: every T2 (§17.1.2.2).
          tx.interval =
              tx.state == State::kTrying ? std::min<Duration>(tx.interval * 2, t.t2) : t.t2;
          start_timer(tx, Timer::kE, tx.interval);
          return;
        case Timer::kF:
          if (tx.state != State::kTrying && tx.state != State::kProceeding) return;
          terminate(tx);
          notify(tx, ClientEvent::Kind::kTimeout);
          return;
        case Timer::kK:
          terminate(tx);
          return;
        default:
          return;
      }

    case Type::kTransportError: {
      const bool tell = tx.state == State::kTrying || tx.state == State::kProceeding;
      terminate(tx);
      if (tell) notify(tx, ClientEvent::Kind::kTransportError);
      return;
    }

    case Type::kRequest:
    case Type::kTuResponse:
    case Type::kCancelSent:
      return;
  }
}

}  // namespace chorus::sip
