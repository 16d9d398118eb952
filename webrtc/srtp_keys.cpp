#include "webrtc/srtp_keys.hpp"

#include <openssl/crypto.h>

#include <cstring>

namespace chorus::webrtc {

void SrtpKeys::wipe() {
  OPENSSL_cleanse(inbound_storage.data(), inbound_storage.size());
  OPENSSL_cleanse(outbound_storage.data(), outbound_storage.size());
  key_salt_size = 0;
}

std::optional<SrtpProfileSizes> srtp_profile_sizes(uint16_t profile_id) {
  switch (profile_id) {
    case kSrtpAes128CmSha1_80:  // RFC 5764 §4.1.2
      return SrtpProfileSizes{rtp::SrtpSuite::kAesCm128HmacSha1_80, 16, 14};
    case kSrtpAeadAes128Gcm:  // RFC 7714 §14.2: 96-bit salt
      return SrtpProfileSizes{rtp::SrtpSuite::kAeadAes128Gcm, 16, 12};
    default:
      return std::nullopt;
  }
}

std::optional<SrtpKeys> split_dtls_srtp_keys(uint16_t profile_id, std::span<const uint8_t> material,
                                             bool we_are_server) {
  const auto sizes = srtp_profile_sizes(profile_id);
  if (!sizes) return std::nullopt;
  const size_t k = sizes->key;
  const size_t s = sizes->salt;
  if (material.size() != 2 * (k + s) || k + s > SrtpKeys::kMaxKeySalt) return std::nullopt;
  const uint8_t* client_key = material.data();
  const uint8_t* server_key = client_key + k;
  const uint8_t* client_salt = server_key + k;
  const uint8_t* server_salt = client_salt + s;
  SrtpKeys keys;
  keys.suite = sizes->suite;
  keys.key_salt_size = static_cast<uint8_t>(k + s);
  uint8_t* in = keys.inbound_storage.data();
  uint8_t* out = keys.outbound_storage.data();
  if (!we_are_server) std::swap(in, out);
  std::memcpy(in, client_key, k);
  std::memcpy(in + k, client_salt, s);
  std::memcpy(out, server_key, k);
  std::memcpy(out + k, server_salt, s);
  return keys;
}

}  // namespace chorus::webrtc
