#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace chorus::sip {

// The four machines of RFC 3261 §17 (with the RFC 6026 "Accepted" state for
// INVITE transactions that saw a 2xx).
enum class TransactionKind : uint8_t {
  kClientInvite,     // §17.1.1, figure 5
  kClientNonInvite,  // §17.1.2, figure 6
  kServerInvite,     // §17.2.1, figure 7
  kServerNonInvite,  // §17.2.2, figure 8
};

enum class TransactionState : uint8_t {
  kCalling,     // client INVITE: request sent, nothing heard
  kTrying,      // non-INVITE: request sent (client) / received (server)
  kProceeding,  // provisional seen (client) / INVITE received or 1xx sent (server)
  kAccepted,    // RFC 6026 §7.1/§7.2: a 2xx went through an INVITE transaction
  kCompleted,   // final non-2xx (INVITE) or any final (non-INVITE)
  kConfirmed,   // server INVITE: ACK for the non-2xx final arrived
  kTerminated,
};

// The timers of RFC 3261 §17 (table 4) and RFC 6026 (L, M), plus the 200 ms
// "send 100 Trying if the TU is silent" deadline of §17.2.1.
enum class TransactionTimer : uint8_t {
  kA,       // client INVITE retransmit (unreliable), T1 doubling
  kB,       // client INVITE timeout, 64*T1
  kC,       // client INVITE: give up on a call that rings forever (§16.6 bullet 11 idea), 3 min
  kD,       // client INVITE: wait for response retransmissions, 32 s (unreliable) / 0
  kE,       // client non-INVITE retransmit, T1 doubling up to T2
  kF,       // client non-INVITE timeout, 64*T1
  kG,       // server INVITE final-response retransmit, T1 doubling up to T2
  kH,       // server INVITE: wait for ACK, 64*T1
  kI,       // server INVITE: absorb ACK retransmissions, T4 (unreliable) / 0
  kJ,       // server non-INVITE: absorb request retransmissions, 64*T1 / 0
  kK,       // client non-INVITE: absorb response retransmissions, T4 / 0
  kL,       // server INVITE Accepted: absorb INVITE retransmissions, 64*T1
  kM,       // client INVITE Accepted: pass 2xx retransmissions to the TU, 64*T1
  kTrying,  // server INVITE: 100 Trying if the TU has not answered in 200 ms
};
inline constexpr size_t kTransactionTimerCount = 14;

std::string_view state_name(TransactionState state);
std::string_view timer_name(TransactionTimer timer);

}  // namespace chorus::sip
