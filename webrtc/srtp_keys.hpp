#pragma once
// SRTP master keys from a DTLS-SRTP handshake (RFC 5764 §4.2), in the form
// rtp::SrtpSession::create takes: one key||salt per direction.
//
// The exporter ("EXTRACTOR-dtls_srtp", 2 * (key + salt) bytes) is laid out
//   client_write_key | server_write_key | client_write_salt | server_write_salt
// We are the DTLS server (a=setup:passive, RFC 5763 §5): the client's keys
// unprotect what the browser sends, the server's protect what we send.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "rtp/srtp.hpp"  // SrtpSuite only (no link to chorus_rtp)

namespace chorus::webrtc {

// RFC 5764 §4.1.2 / RFC 7714 §14.2 protection profile ids (use_srtp).
inline constexpr uint16_t kSrtpAes128CmSha1_80 = 0x0001;
inline constexpr uint16_t kSrtpAeadAes128Gcm = 0x0007;

struct SrtpKeys {
  static constexpr size_t kMaxKeySalt = 30;  // AES-CM-128: 16 + 14; GCM-128: 16 + 12

  rtp::SrtpSuite suite = rtp::SrtpSuite::kAesCm128HmacSha1_80;
  uint8_t key_salt_size = 0;
  std::array<uint8_t, kMaxKeySalt> inbound_storage{};   // client write key || salt
  std::array<uint8_t, kMaxKeySalt> outbound_storage{};  // server write key || salt

  // For SrtpSession::create(suite, inbound(), Direction::kInbound).
  std::span<const uint8_t> inbound() const { return {inbound_storage.data(), key_salt_size}; }
  // For SrtpSession::create(suite, outbound(), Direction::kOutbound).
  std::span<const uint8_t> outbound() const { return {outbound_storage.data(), key_salt_size}; }

  // Zeroes the key material (OPENSSL_cleanse); call once the sessions exist.
  void wipe();
};

// Key and salt lengths of a negotiated profile; nullopt for profiles we do not offer.
struct SrtpProfileSizes {
  rtp::SrtpSuite suite;
  size_t key;
  size_t salt;
};
std::optional<SrtpProfileSizes> srtp_profile_sizes(uint16_t profile_id);

// Splits exported keying material for the given profile (`material` must be
// exactly 2 * (key + salt) bytes). `we_are_server` picks which half is ours.
std::optional<SrtpKeys> split_dtls_srtp_keys(uint16_t profile_id, std::span<const uint8_t> material,
                                             bool we_are_server = true);

}  // namespace chorus::webrtc
