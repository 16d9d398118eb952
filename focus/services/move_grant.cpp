#include "focus/services/move_grant.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "signaling/auth/digest_hash.hpp"

namespace chorus::focus {

namespace {

constexpr size_t kNonceBytes = 16;
constexpr size_t kNonceDigits = 2 * kNonceBytes;
constexpr size_t kMacDigits = 64;  // SHA-256
constexpr size_t kMaxExpiryDigits = 20;

bool is_lower_hex(std::string_view text, size_t size) {
  if (text.size() != size) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// 1-20 digits, no sign, no leading zero, fits 64 bits.
bool parse_expiry(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > kMaxExpiryDigits || (text.size() > 1 && text[0] == '0')) {
    return false;
  }
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

}  // namespace

MoveGrants::MoveGrants(std::string secret) : secret_(std::move(secret)) {}

std::string MoveGrants::mac(std::string_view expiry, std::string_view nonce,
                            std::string_view room) const {
  std::string input = "chorus-move-grant|";
  input += expiry;
  input += '|';
  input += nonce;
  input += '|';
  input += room;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), out,
           &size) == nullptr) {
    std::abort();  // SHA-256 unavailable: an impossible state for a server
  }
  return sip::hex_lower({out, size});
}

std::string MoveGrants::make(std::string_view room, uint64_t expiry, std::string_view nonce) const {
  if (!enabled() || !is_lower_hex(nonce, kNonceDigits)) return {};
  const std::string when = std::to_string(expiry);
  return when + "." + std::string(nonce) + "." + mac(when, nonce, room);
}

std::string MoveGrants::make(std::string_view room, uint64_t expiry) const {
  std::array<unsigned char, kNonceBytes> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) std::abort();  // no entropy
  return make(room, expiry, sip::hex_lower(raw));
}

// EXPIRY "." NONCE "." MAC split and checked for form; nullopt when malformed.
std::optional<MoveGrants::Parts> MoveGrants::parse(std::string_view grant) {
  const size_t first = grant.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = grant.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  Parts parts;
  parts.expiry_text = grant.substr(0, first);
  parts.nonce = grant.substr(first + 1, second - first - 1);
  parts.mac = grant.substr(second + 1);
  if (!parse_expiry(parts.expiry_text, parts.expiry) || !is_lower_hex(parts.nonce, kNonceDigits) ||
      !is_lower_hex(parts.mac, kMacDigits)) {
    return std::nullopt;
  }
  return parts;
}

MoveGrants::Check MoveGrants::check(std::string_view grant, std::string_view room,
                                    uint64_t now) const {
  if (!enabled()) return Check::kNoSecret;
  const std::optional<Parts> parts = parse(grant);
  return parts ? check(*parts, room, now) : Check::kMalformed;
}

MoveGrants::Check MoveGrants::check(const Parts& parts, std::string_view room, uint64_t now) const {
  // The room is inside the MAC: a grant for another room fails here as an
  // altered one does. Constant time: no timing tells how much matched.
  const std::string want = mac(parts.expiry_text, parts.nonce, room);
  if (CRYPTO_memcmp(want.data(), parts.mac.data(), kMacDigits) != 0) return Check::kForged;
  if (now > parts.expiry) return Check::kExpired;
  if (parts.expiry - now > kMaxLifetimeSeconds) return Check::kTooLong;
  if (used_.contains(std::string(parts.nonce))) return Check::kReused;
  return Check::kValid;
}

void MoveGrants::forget_expired(uint64_t now) {
  std::erase_if(used_, [now](const auto& entry) { return now > entry.second; });
}

MoveGrants::Check MoveGrants::redeem(std::string_view grant, std::string_view room, uint64_t now) {
  if (!enabled()) return Check::kNoSecret;
  const std::optional<Parts> parts = parse(grant);
  if (!parts) return Check::kMalformed;
  const Check verdict = check(*parts, room, now);
  if (verdict != Check::kValid) return verdict;
  if (used_.size() >= kMaxUsed) forget_expired(now);
  if (used_.size() >= kMaxUsed) return Check::kFull;
  used_.emplace(std::string(parts->nonce), parts->expiry);
  return Check::kValid;
}

std::string_view check_name(MoveGrants::Check check) {
  switch (check) {
    case MoveGrants::Check::kValid:
      return "valid";
    case MoveGrants::Check::kNoSecret:
      return "no cluster.secret on this node";
    case MoveGrants::Check::kMalformed:
      return "malformed";
    case MoveGrants::Check::kForged:
      return "bad signature (another secret, another room, or altered)";
    case MoveGrants::Check::kExpired:
      return "expired";
    case MoveGrants::Check::kTooLong:
      return "expiry too far ahead";
    case MoveGrants::Check::kReused:
      return "already used";
    case MoveGrants::Check::kFull:
      return "too many grants in use";
  }
  return "unknown";
}

}  // namespace chorus::focus
