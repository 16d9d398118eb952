#pragma once
// A moderator's grant for a move into a room on another node (issue #17,
// README "Moving members" → "Room B on another node"). Node A, whose mover
// holds `moderate` (or the operator's token), adds `;grant=G` to the URI it
// REFERs the member to; room B's node, sharing `[cluster] secret`, admits
// the member's INVITE past B's PIN, member limit and waiting room, as a
// local moderator's move would.
//
//   G   = EXPIRY "." NONCE "." MAC
//   MAC = hex(HMAC-SHA256(secret, "chorus-move-grant|" EXPIRY "|" NONCE "|" ROOM))
//
// EXPIRY is Unix seconds (1-20 digits), NONCE 32 lower-case hex digits (16
// random bytes), MAC 64 lower-case hex digits; ROOM, last, is the room name
// as the Request-URI's user part decodes to. A grant counts once: redeem()
// remembers nonces until their expiry, at most kMaxUsed of them (full:
// further grants are refused rather than the table growing).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace chorus::focus {

class MoveGrants {
 public:
  // cluster.secret: "" (grants off) or at least this many bytes.
  static constexpr size_t kMinSecretBytes = 16;
  static constexpr size_t kMaxSecretBytes = 1024;
  // Nonces remembered at once; grants redeemed beyond it are refused.
  static constexpr size_t kMaxUsed = 4096;
  // A grant whose expiry is further ahead than this is refused: it bounds
  // how long a nonce is remembered (cluster.transfer_timeout_ms is at most
  // 300 s; the rest covers clocks a little apart).
  static constexpr uint64_t kMaxLifetimeSeconds = 330;

  enum class Check { kValid, kNoSecret, kMalformed, kForged, kExpired, kTooLong, kReused, kFull };

  explicit MoveGrants(std::string secret = {});

  bool enabled() const { return !secret_.empty(); }

  // The grant for `room` valid until `expiry` (Unix seconds) with `nonce`
  // (32 lower-case hex digits); "" without a secret or with a bad nonce.
  std::string make(std::string_view room, uint64_t expiry, std::string_view nonce) const;
  // The same with a fresh random nonce (OpenSSL's RAND_bytes).
  std::string make(std::string_view room, uint64_t expiry) const;

  // Checks `grant` for `room` at `now` (Unix seconds) without using it.
  Check check(std::string_view grant, std::string_view room, uint64_t now) const;
  // check(), and on kValid marks the nonce used (kReused afterwards).
  Check redeem(std::string_view grant, std::string_view room, uint64_t now);

  size_t used() const { return used_.size(); }

 private:
  struct Parts {
    std::string_view expiry_text;
    uint64_t expiry = 0;
    std::string_view nonce;
    std::string_view mac;
  };
  static std::optional<Parts> parse(std::string_view grant);
  Check check(const Parts& parts, std::string_view room, uint64_t now) const;
  std::string mac(std::string_view expiry, std::string_view nonce, std::string_view room) const;
  void forget_expired(uint64_t now);

  std::string secret_;
  std::unordered_map<std::string, uint64_t> used_;  // nonce → expiry
};

// For logs: "expired", "forged", … (never the grant itself).
std::string_view check_name(MoveGrants::Check check);

}  // namespace chorus::focus
