#include "signaling/transaction/transaction_state.hpp"

namespace chorus::sip {

std::string_view state_name(TransactionState state) {
  switch (state) {
    case TransactionState::kCalling:
      return "Calling";
    case TransactionState::kTrying:
      return "Trying";
    case TransactionState::kProceeding:
      return "Proceeding";
    case TransactionState::kAccepted:
      return "Accepted";
    case TransactionState::kCompleted:
      return "Completed";
    case TransactionState::kConfirmed:
      return "Confirmed";
    case TransactionState::kTerminated:
      return "Terminated";
  }
  return "?";
}

std::string_view timer_name(TransactionTimer timer) {
  switch (timer) {
    case TransactionTimer::kA:
      return "A";
    case TransactionTimer::kB:
      return "B";
    case TransactionTimer::kC:
      return "C";
    case TransactionTimer::kD:
      return "D";
    case TransactionTimer::kE:
      return "E";
    case TransactionTimer::kF:
      return "F";
    case TransactionTimer::kG:
      return "G";
    case TransactionTimer::kH:
      return "H";
    case TransactionTimer::kI:
      return "I";
    case TransactionTimer::kJ:
      return "J";
    case TransactionTimer::kK:
      return "K";
    case TransactionTimer::kL:
      return "L";
    case TransactionTimer::kM:
      return "M";
    case TransactionTimer::kTrying:
      return "Trying";
  }
  return "?";
}

}  // namespace chorus::sip
