#pragma once
// The browser's side of ICE connectivity checks (RFC 8445 §7.2.2), as a
// full, controlling agent: Binding requests with USERNAME "<remote
// ufrag>:<local ufrag>" (the answerer's ufrag first), MESSAGE-INTEGRITY
// keyed with the remote (the lite agent's) password, PRIORITY,
// ICE-CONTROLLING, USE-CANDIDATE when nominating, and FINGERPRINT. Built by
// libnice's STUN library (stun/usages/ice.h), as StunResponder answers.
// Used by chorus-load's --webrtc members and by tests; the server's own
// checks (return routability, consent) are built by CheckSender instead,
// without libnice's RNG and allocating HMAC.
//
// Responses are not validated against the agent (the caller matches the
// transaction id and reads the class): a request's transaction is forgotten
// as soon as it is built, so the agent never fills its table of 200.

#include <stun/stunagent.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace chorus::webrtc {

// STUN message types (RFC 5389 §6) of a Binding transaction.
inline constexpr uint16_t kStunBindingRequest = 0x0001;
inline constexpr uint16_t kStunBindingSuccess = 0x0101;
inline constexpr uint16_t kStunBindingError = 0x0111;

class StunClient {
 public:
  // `tie_breaker`: the ICE-CONTROLLING value (RFC 8445 §7.1.3).
  explicit StunClient(uint64_t tie_breaker = 0x1234567890ABCDEFull);
  StunClient(const StunClient&) = delete;
  StunClient& operator=(const StunClient&) = delete;

  // Writes a check into `out` and returns its size (0 when `out` is too
  // small). `username` is "<remote ufrag>:<local ufrag>", `password` the
  // remote ice-pwd. The request's transaction id goes to `transaction`.
  size_t check(std::span<uint8_t> out, std::string_view username, std::string_view password,
               bool use_candidate, uint32_t priority, std::array<uint8_t, 12>* transaction);

 private:
  StunAgent agent_;
  uint64_t tie_breaker_;
};

// The message type of a STUN datagram (0 when shorter than a header).
uint16_t stun_message_type(std::span<const uint8_t> datagram);
// The 96-bit transaction id of a STUN datagram (zero when too short).
std::array<uint8_t, 12> stun_transaction_id(std::span<const uint8_t> datagram);
// The ERROR-CODE attribute's code (RFC 5389 §15.6), 0 without one.
int stun_error_code(std::span<const uint8_t> datagram);

}  // namespace chorus::webrtc
