#pragma once
// The checks a lite agent sends itself, for return routability (RFC 7675):
// before a member's media goes to an address, and every few seconds while it
// does, the stream sends a Binding request there and waits for the Binding
// success response carrying the same transaction id. A valid check from an
// address proves only that its sender knows our ice-pwd (every member does,
// from our SDP answer), not that the address wants our media; the answer to
// a request with a 96-bit id nobody could predict proves someone at that
// address received it and agrees (RFC 7675 §1, §5.1).
//
// Request (RFC 8445 §7.2.2, as the browser builds its own): USERNAME
// "<remote ufrag>:<local ufrag>" (the browser's ufrag first), PRIORITY,
// ICE-CONTROLLED with a random tie-breaker (a lite agent is controlled,
// §6.1.1), MESSAGE-INTEGRITY keyed with the REMOTE ice-pwd, FINGERPRINT.
// Response: a Binding success whose MESSAGE-INTEGRITY, keyed with the remote
// ice-pwd as well (RFC 5389 §10.1.2), and FINGERPRINT are checked here; the
// caller matches the transaction id and the source address.
//
// Transaction ids and the interval jitter come from AES-128 in counter mode
// under a key drawn from OpenSSL's CSPRNG (RAND_bytes) when the sender is
// built (off the shard thread, with the stream): unpredictable, yet the
// shard thread never calls into OpenSSL's RNG (which may allocate or lock).
// Built by hand like StunResponder::sign, with nettle and zlib: libnice's
// request builder draws ids from its own RNG and mallocs in its HMAC.
// Nothing allocated after construction; used on the owning shard's thread.

#include <nettle/aes.h>
#include <nettle/hmac.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "webrtc/stun_responder.hpp"

namespace chorus::webrtc {

using TransactionId = std::array<uint8_t, 12>;

class CheckSender {
 public:
  // Header 20, USERNAME 4 + 513 padded to 516, PRIORITY 8, ICE-CONTROLLED 12,
  // MESSAGE-INTEGRITY 24, FINGERPRINT 8: 588 bytes at most.
  static constexpr size_t kMaxRequest = 600;
  // RFC 8445 §7.1.1: what our candidate would be, peer-reflexive (type
  // preference 110), local preference 65535, component 1.
  static constexpr uint32_t kPriority = (110u << 24) | (65535u << 8) | 255u;

  // Draws the key from the CSPRNG (aborts without entropy: a predictable id
  // would let a spoofer answer for an address it does not own).
  CheckSender(std::string_view local_ufrag, std::string_view remote_ufrag,
              std::string_view remote_pwd);
  CheckSender(const CheckSender&) = delete;
  CheckSender& operator=(const CheckSender&) = delete;
  // ICE restart (RFC 8445 §9). No allocation.
  void set_credentials(std::string_view local_ufrag, std::string_view remote_ufrag,
                       std::string_view remote_pwd);

  // A fresh, unpredictable 96-bit transaction id.
  TransactionId next_id();
  // One that names its sender to a shared port (rtp::Shard routes a Binding
  // success by it, transaction_tag): `tag` in the first 32 bits (big-endian),
  // 64 unpredictable bits after it.
  TransactionId next_id(uint32_t tag);
  // 32 unpredictable bits (for the consent interval's jitter).
  uint32_t next_random();

  // Writes a Binding request with `id` into `out`; its size, or 0 when
  // `out` is too small.
  size_t request(std::span<uint8_t> out, const TransactionId& id) const;
  // True when `datagram` is a Binding success response to `id` with a
  // MESSAGE-INTEGRITY keyed with the remote password and, if present, a
  // right FINGERPRINT.
  bool answers(std::span<const uint8_t> datagram, const TransactionId& id) const;

 private:
  void refill();

  std::array<uint8_t, kMaxIceCredential * 2 + 1> username_{};
  size_t username_size_ = 0;
  hmac_sha1_ctx keyed_{};  // HMAC-SHA1 keyed with the remote password
  aes128_ctx aes_{};
  std::array<uint8_t, 8> tie_breaker_{};
  uint64_t counter_ = 0;
  std::array<uint8_t, AES_BLOCK_SIZE> block_{};
  size_t used_ = AES_BLOCK_SIZE;
};

// The tag of an id from next_id(tag), read from a STUN message (the
// transaction id follows the 8-byte header start, RFC 5389 §6).
constexpr uint32_t transaction_tag(std::span<const uint8_t> message) {
  return message.size() < 20 ? 0
                             : uint32_t{message[8]} << 24 | uint32_t{message[9]} << 16 |
                                   uint32_t{message[10]} << 8 | uint32_t{message[11]};
}

// STUN Binding success response (RFC 5389 §6): a response the stream's own
// checks wait for, not a request for its responder.
constexpr bool is_binding_success(std::span<const uint8_t> datagram) {
  return datagram.size() >= 20 && datagram[0] == 0x01 && datagram[1] == 0x01;
}

}  // namespace chorus::webrtc
