#include "signaling/auth/digest_hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>

namespace chorus::sip {
namespace {

const EVP_MD* evp_for(DigestAlgorithm a) {
  switch (a) {
    case DigestAlgorithm::kMd5:
    case DigestAlgorithm::kMd5Sess:
      return EVP_md5();
    case DigestAlgorithm::kSha256:
    case DigestAlgorithm::kSha256Sess:
      return EVP_sha256();
  }
  return EVP_sha256();
}

}  // namespace

std::string hex_lower(std::span<const unsigned char> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string_view digest_algorithm_name(DigestAlgorithm a) {
  switch (a) {
    case DigestAlgorithm::kMd5:
      return "MD5";
    case DigestAlgorithm::kMd5Sess:
      return "MD5-sess";
    case DigestAlgorithm::kSha256:
      return "SHA-256";
    case DigestAlgorithm::kSha256Sess:
      return "SHA-256-sess";
  }
  return "MD5";
}

std::optional<DigestAlgorithm> digest_algorithm_from_name(std::string_view name) {
  for (auto a : {DigestAlgorithm::kMd5, DigestAlgorithm::kMd5Sess, DigestAlgorithm::kSha256,
                 DigestAlgorithm::kSha256Sess}) {
    std::string_view n = digest_algorithm_name(a);
    if (n.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < n.size() && same; ++i) {
      char x = n[i], y = name[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
      same = x == y;
    }
    if (same) return a;
  }
  return std::nullopt;
}

bool is_session_variant(DigestAlgorithm a) {
  return a == DigestAlgorithm::kMd5Sess || a == DigestAlgorithm::kSha256Sess;
}

std::string digest_hash_hex(DigestAlgorithm a, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out, &size, evp_for(a), nullptr) != 1) {
    // MD5 and SHA-256 are always present in the default provider; failing
    // here means a broken OpenSSL installation, not bad input.
    std::abort();
  }
  return hex_lower({out, size});
}

std::string digest_ha1(DigestAlgorithm a, std::string_view user, std::string_view realm,
                       std::string_view password) {
  std::string text;
  text.reserve(user.size() + realm.size() + password.size() + 2);
  text.append(user).append(":").append(realm).append(":").append(password);
  std::string ha1 = digest_hash_hex(a, text);
  OPENSSL_cleanse(text.data(), text.size());
  return ha1;
}

std::string digest_response(const DigestInput& in) {
  std::string ha1(in.ha1);
  if (is_session_variant(in.algorithm)) {
    // RFC 7616 §3.4.2: HA1 = H(H(user:realm:pass) ":" nonce ":" cnonce).
    std::string session_key = ha1;
    session_key.append(":").append(in.nonce).append(":").append(in.cnonce);
    ha1 = digest_hash_hex(in.algorithm, session_key);
  }
  std::string a2(in.method);
  a2.append(":").append(in.uri);
  if (in.qop == "auth-int") a2.append(":").append(digest_hash_hex(in.algorithm, in.body));
  const std::string ha2 = digest_hash_hex(in.algorithm, a2);
  std::string kd = ha1;
  kd.append(":").append(in.nonce).append(":").append(in.nc).append(":").append(in.cnonce);
  kd.append(":").append(in.qop).append(":").append(ha2);
  std::string response = digest_hash_hex(in.algorithm, kd);
  OPENSSL_cleanse(ha1.data(), ha1.size());
  OPENSSL_cleanse(kd.data(), kd.size());
  return response;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace chorus::sip
