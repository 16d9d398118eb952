#include "webrtc/check_sender.hpp"

#include <nettle/memops.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace chorus::webrtc {

namespace {

constexpr size_t kHeader = 20;
constexpr size_t kIntegrity = 4 + SHA1_DIGEST_SIZE;  // RFC 5389 §15.4
constexpr size_t kFingerprint = 8;                   // RFC 5389 §15.5
constexpr uint32_t kFingerprintXor = 0x5354554e;
constexpr uint16_t kUsername = 0x0006;
constexpr uint16_t kMessageIntegrity = 0x0008;
constexpr uint16_t kPriorityAttribute = 0x0024;
constexpr uint16_t kIceControlled = 0x8029;
constexpr uint16_t kFingerprintAttribute = 0x8028;
constexpr uint8_t kCookie[4] = {0x21, 0x12, 0xA4, 0x42};

void put16(uint8_t* p, size_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v & 0xFFFF);
}
uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// RFC 5389 §15.4: HMAC-SHA1 over the message up to the MESSAGE-INTEGRITY
// attribute at `at`, the header's length counting that attribute as the last.
void integrity(const hmac_sha1_ctx& keyed, const uint8_t* message, size_t at,
               uint8_t (&mac)[SHA1_DIGEST_SIZE]) {
  std::array<uint8_t, kHeader> header;
  std::memcpy(header.data(), message, kHeader);
  put16(header.data() + 2, at + kIntegrity - kHeader);
  hmac_sha1_ctx ctx = keyed;
  hmac_sha1_update(&ctx, kHeader, header.data());
  hmac_sha1_update(&ctx, at - kHeader, message + kHeader);
  hmac_sha1_digest(&ctx, SHA1_DIGEST_SIZE, mac);
}

uint32_t fingerprint(const uint8_t* message, size_t at) {
  return static_cast<uint32_t>(crc32(0, message, static_cast<uInt>(at))) ^ kFingerprintXor;
}

}  // namespace

CheckSender::CheckSender(std::string_view local_ufrag, std::string_view remote_ufrag,
                         std::string_view remote_pwd) {
  std::array<uint8_t, AES128_KEY_SIZE + 8> seed{};
  if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) std::abort();
  aes128_set_encrypt_key(&aes_, seed.data());
  std::memcpy(tie_breaker_.data(), seed.data() + AES128_KEY_SIZE, tie_breaker_.size());
  OPENSSL_cleanse(seed.data(), seed.size());
  set_credentials(local_ufrag, remote_ufrag, remote_pwd);
}

void CheckSender::set_credentials(std::string_view local_ufrag, std::string_view remote_ufrag,
                                  std::string_view remote_pwd) {
  const size_t remote = std::min(remote_ufrag.size(), kMaxIceCredential);
  const size_t local = std::min(local_ufrag.size(), kMaxIceCredential);
  std::memcpy(username_.data(), remote_ufrag.data(), remote);
  username_[remote] = ':';
  std::memcpy(username_.data() + remote + 1, local_ufrag.data(), local);
  username_size_ = remote + 1 + local;
  const size_t pwd = std::min(remote_pwd.size(), kMaxIceCredential);
  hmac_sha1_set_key(&keyed_, pwd, reinterpret_cast<const uint8_t*>(remote_pwd.data()));
}

void CheckSender::refill() {
  std::array<uint8_t, AES_BLOCK_SIZE> in{};
  uint64_t c = ++counter_;
  for (size_t i = 0; i < 8; ++i, c >>= 8) in[15 - i] = static_cast<uint8_t>(c);
  aes128_encrypt(&aes_, AES_BLOCK_SIZE, block_.data(), in.data());
  used_ = 0;
}

TransactionId CheckSender::next_id() {
  // One whole block per id: its 12 bytes share no block with another id.
  refill();
  TransactionId id;
  std::memcpy(id.data(), block_.data(), id.size());
  used_ = AES_BLOCK_SIZE;
  return id;
}

TransactionId CheckSender::next_id(uint32_t tag) {
  TransactionId id = next_id();
  for (size_t i = 0; i < 4; ++i) id[i] = static_cast<uint8_t>(tag >> (24 - 8 * i));
  return id;
}

uint32_t CheckSender::next_random() {
  if (used_ + 4 > AES_BLOCK_SIZE) refill();
  uint32_t v = 0;
  std::memcpy(&v, block_.data() + used_, sizeof v);
  used_ += sizeof v;
  return v;
}

size_t CheckSender::request(std::span<uint8_t> out, const TransactionId& id) const {
  const size_t padded = (username_size_ + 3) & ~size_t{3};
  const size_t size = kHeader + 4 + padded + 8 + 12 + kIntegrity + kFingerprint;
  if (out.size() < size) return 0;
  uint8_t* p = out.data();
  std::memset(p, 0, size);
  put16(p, 0x0001);  // Binding request
  std::memcpy(p + 4, kCookie, 4);
  std::memcpy(p + 8, id.data(), id.size());
  size_t at = kHeader;
  put16(p + at, kUsername);
  put16(p + at + 2, username_size_);
  std::memcpy(p + at + 4, username_.data(), username_size_);
  at += 4 + padded;
  put16(p + at, kPriorityAttribute);
  put16(p + at + 2, 4);
  put32(p + at + 4, kPriority);
  at += 8;
  put16(p + at, kIceControlled);
  put16(p + at + 2, 8);
  std::memcpy(p + at + 4, tie_breaker_.data(), tie_breaker_.size());
  at += 12;
  uint8_t mac[SHA1_DIGEST_SIZE];
  integrity(keyed_, p, at, mac);
  put16(p + at, kMessageIntegrity);
  put16(p + at + 2, SHA1_DIGEST_SIZE);
  std::memcpy(p + at + 4, mac, SHA1_DIGEST_SIZE);
  at += kIntegrity;
  put16(p + 2, at + kFingerprint - kHeader);
  put16(p + at, kFingerprintAttribute);
  put16(p + at + 2, 4);
  put32(p + at + 4, fingerprint(p, at));
  return size;
}

bool CheckSender::answers(std::span<const uint8_t> d, const TransactionId& id) const {
  if (!is_binding_success(d) || std::memcmp(d.data() + 4, kCookie, 4) != 0) return false;
  if (!std::equal(id.begin(), id.end(), d.begin() + 8)) return false;
  const size_t length = get16(d.data() + 2);
  if (length % 4 != 0 || kHeader + length != d.size()) return false;
  // RFC 5389 §15.4: attributes after MESSAGE-INTEGRITY are ignored but for
  // FINGERPRINT, which must then be the last.
  size_t integrity_at = 0;
  for (size_t at = kHeader; at + 4 <= d.size();) {
    const uint16_t type = get16(d.data() + at);
    const size_t len = get16(d.data() + at + 2);
    if (at + 4 + len > d.size()) return false;
    if (type == kMessageIntegrity && integrity_at == 0) {
      if (len != SHA1_DIGEST_SIZE) return false;
      integrity_at = at;
    } else if (type == kFingerprintAttribute) {
      if (len != 4 || at + kFingerprint != d.size()) return false;
      const uint32_t crc =
          static_cast<uint32_t>(get16(d.data() + at + 4)) << 16 | get16(d.data() + at + 6);
      if (crc != fingerprint(d.data(), at)) return false;
    }
    at += 4 + ((len + 3) & ~size_t{3});
  }
  if (integrity_at == 0) return false;
  uint8_t mac[SHA1_DIGEST_SIZE];
  integrity(keyed_, d.data(), integrity_at, mac);
  return memeql_sec(mac, d.data() + integrity_at + 4, SHA1_DIGEST_SIZE) != 0;
}

}  // namespace chorus::webrtc
