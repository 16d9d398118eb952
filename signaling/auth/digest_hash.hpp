#pragma once

// The hash functions of HTTP/SIP digest authentication (RFC 7616 §3.4.1,
// RFC 8760 for SIP) over OpenSSL EVP, and the RFC's H()/KD() composition.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace chorus::sip {

enum class DigestAlgorithm { kMd5, kMd5Sess, kSha256, kSha256Sess };

std::string_view digest_algorithm_name(DigestAlgorithm a);  // "MD5", "SHA-256-sess", ...
// Case-insensitive (RFC 7616 §3.3); nullopt for anything else (e.g. SHA-512-256).
std::optional<DigestAlgorithm> digest_algorithm_from_name(std::string_view name);
bool is_session_variant(DigestAlgorithm a);

// `bytes` as lower-case hex, two digits per byte.
std::string hex_lower(std::span<const unsigned char> bytes);

// H(data) as lower-case hex: 32 chars for MD5, 64 for SHA-256.
std::string digest_hash_hex(DigestAlgorithm a, std::string_view data);

// HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2), the value an
// account may store instead of its password. Same for -sess variants; the
// session key is derived per nonce in digest_response().
std::string digest_ha1(DigestAlgorithm a, std::string_view user, std::string_view realm,
                       std::string_view password);

struct DigestInput {
  DigestAlgorithm algorithm = DigestAlgorithm::kMd5;
  std::string_view ha1;  // hex, from digest_ha1()
  std::string_view nonce;
  std::string_view nc;  // 8 hex digits
  std::string_view cnonce;
  std::string_view qop;  // "auth" or "auth-int"
  std::string_view method;
  std::string_view uri;
  std::string_view body;  // only for auth-int
};
// response = KD(HA1', nonce:nc:cnonce:qop:HA2) with HA1' the -sess session key
// where applicable (RFC 7616 §3.4.1-3.4.3).
std::string digest_response(const DigestInput& in);

// Timing-safe equality of two strings of possibly different lengths.
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace chorus::sip
