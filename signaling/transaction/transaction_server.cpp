// RFC 3261 §17.2: the server transaction state machines.

#include <algorithm>

#include "signaling/transaction/transaction_machine.hpp"

namespace chorus::sip {
namespace {

using Type = TransactionLayer::Event::Type;
using State = TransactionState;
using Timer = TransactionTimer;

}  // namespace

// §17.2.1, figure 7, with RFC 6026's Accepted state for 2xx.
void TransactionMachine::server_invite(Transaction& tx, Event& event) {
  const TransactionTimers& t = layer_.config_;
  switch (event.type) {
    case Type::kStart:
      tx.state = State::kProceeding;
      start_timer(tx, Timer::kTrying, t.trying_delay);
      return;

    case Type::kRequest: {
      const Message& request = *event.message;
      ++layer_.stats_.retransmissions_absorbed;
      if (request.method() == Method::kAck) {
        if (tx.state == State::kCompleted) {
          // The ACK for our non-2xx: stop retransmitting, absorb stray ACKs for T4.
          tx.state = State::kConfirmed;
          cancel_timer(tx, Timer::kG);
          cancel_timer(tx, Timer::kH);
          linger(tx, Timer::kI, t.t4);
        }
        return;
      }
      // A retransmitted INVITE: repeat the last response we sent (Proceeding:
      // the provisional; Completed: the final). Accepted: absorbed — the TU
      // retransmits its 2xx on its own schedule (RFC 6026 §7.1).
      if ((tx.state == State::kProceeding || tx.state == State::kCompleted) && tx.last_response) {
        send_response(tx, *tx.last_response, true);
      }
      return;
    }

    case Type::kTuResponse: {
      Message& response = *event.message;
      const int status = response.status();
      if (tx.state == State::kProceeding) {
        cancel_timer(tx, Timer::kTrying);
        if (status < 200) {
          tx.last_response = response;
          send_response(tx, response, false);
        } else if (status < 300) {
          tx.state = State::kAccepted;
          tx.last_response = response;
          set_lingering(tx);
          start_timer(tx, Timer::kL, 64 * t.t1);
          send_response(tx, response, false);
        } else {
          tx.state = State::kCompleted;
          tx.last_response = response;
          // Completed only repeats the final and waits for the ACK (Timer H,
          // 32 s): the request, up to a 64 KB datagram, goes now (as in
          // Completed of a non-INVITE), so a flood of refused INVITEs holds
          // only their responses.
          // A re-INVITE (To tag) refused stays until its ACK: ended early,
          // its ACK would reach the dialog as if it answered our offer.
          const bool in_dialog = tx.request && !tx.request->to().tag().empty();
          tx.request.reset();
          // Not pending any more: only the ACK (or Timer H) is awaited, so a
          // flood of refused INVITEs no longer fills the request caps.
          if (in_dialog) {
            set_lingering(tx);
          } else {
            set_evictable(tx);
          }
          if (!tx.reliable) {
            tx.interval = t.t1;
            start_timer(tx, Timer::kG, tx.interval);
          }
          start_timer(tx, Timer::kH, 64 * t.t1);
          send_response(tx, response, false);
        }
      } else if (tx.state == State::kAccepted && status >= 200 && status < 300) {
        send_response(tx, response, true);  // the TU's own 2xx retransmission
      }
      return;
    }

    case Type::kTimer:
      switch (event.timer) {
        case Timer::kTrying:
          // §17.2.1: the TU has been silent for 200 ms; quench the client's
          // INVITE retransmissions with a 100 (no To tag, §8.2.6.1).
          if (tx.state == State::kProceeding && !tx.last_response) {
            tx.last_response = make_response(*tx.request, 100, "Trying");
            send_response(tx, *tx.last_response, false);
          }
          return;
        case Timer::kG:
          if (tx.state != State::kCompleted) return;
          if (!send_response(tx, *tx.last_response, true)) return;
          tx.interval = std::min<Duration>(tx.interval * 2, t.t2);
          start_timer(tx, Timer::kG, tx.interval);
          return;
        case Timer::kH:
          // No ACK ever came (§17.2.1): give up.
          if (tx.state != State::kCompleted) return;
          ++layer_.stats_.timeouts;
          terminate(tx);
          return;
        case Timer::kI:
        case Timer::kL:
          terminate(tx);
          return;
        default:
          return;
      }

    case Type::kTransportError:
      // §17.2.4: nothing more can be sent; the TU learns it from its own
      // failure to get an ACK (2xx) or not at all (non-2xx).
      if (tx.state != State::kAccepted) terminate(tx);
      return;

    case Type::kResponse:
    case Type::kCancelSent:
      return;
  }
}

// §17.2.2, figure 8.
void TransactionMachine::server_non_invite(Transaction& tx, Event& event) {
  const TransactionTimers& t = layer_.config_;
  switch (event.type) {
    case Type::kStart:
      tx.state = State::kTrying;
      return;

    case Type::kRequest:
      ++layer_.stats_.retransmissions_absorbed;
      // Trying: absorbed silently; Proceeding/Completed: repeat the last response.
      if ((tx.state == State::kProceeding || tx.state == State::kCompleted) && tx.last_response) {
        send_response(tx, *tx.last_response, true);
      }
      return;

    case Type::kTuResponse: {
      if (tx.state != State::kTrying && tx.state != State::kProceeding) return;
      tx.last_response = std::move(*event.message);
      if (tx.last_response->status() < 200) {
        tx.state = State::kProceeding;
        send_response(tx, *tx.last_response, false);
      } else {
        tx.state = State::kCompleted;
        // Completed only repeats the response (a few hundred bytes per
        // transaction while Timer J runs, 32 s over UDP): the request goes.
        tx.request.reset();
        if (send_response(tx, *tx.last_response, false)) {
          linger(tx, Timer::kJ, 64 * t.t1);
          if (tx.lingering) set_evictable(tx);
        }
      }
      return;
    }

    case Type::kTimer:
      if (event.timer == Timer::kJ) terminate(tx);
      return;

    case Type::kTransportError:
      terminate(tx);
      return;

    case Type::kResponse:
    case Type::kCancelSent:
      return;
  }
}

}  // namespace chorus::sip
