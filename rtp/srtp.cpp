#include "rtp/srtp.hpp"

#include <srtp2/srtp.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <climits>
#include <cstring>
#include <utility>

namespace chorus::rtp {
namespace {

static_assert(SrtpSession::kProtectOverhead >= SRTP_MAX_TRAILER_LEN + 4,
              "protect_rtcp may write SRTP_MAX_TRAILER_LEN + 4 bytes past the packet");

// srtp_init() registers the crypto kernel once per process; after that the
// kernel is read-only, so sessions may be created on any thread. A function
// local static is initialised exactly once even with concurrent callers.
bool srtp_library_ready() {
  static const bool ready = srtp_init() == srtp_err_status_ok;
  return ready;
}

srtp_t as_ctx(void* p) {
  return static_cast<srtp_t>(p);
}

void set_policies(SrtpSuite suite, srtp_policy_t& policy) {
  switch (suite) {
    case SrtpSuite::kAesCm128HmacSha1_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case SrtpSuite::kAesCm128HmacSha1_32:
      // RFC 4568 §6.2.2: only the SRTP tag is 32 bits; SRTCP keeps 80.
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case SrtpSuite::kAeadAes128Gcm:
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
      break;
    case SrtpSuite::kAeadAes256Gcm:
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
      break;
  }
}

SrtpError map_error(srtp_err_status_t status) {
  switch (status) {
    case srtp_err_status_ok:
      return SrtpError::kNone;
    case srtp_err_status_auth_fail:
    case srtp_err_status_cipher_fail:
      return SrtpError::kAuthFailed;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return SrtpError::kReplay;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
    case srtp_err_status_no_ctx:
      return SrtpError::kMalformed;
    default:
      return SrtpError::kOther;
  }
}

// Replay window (RFC 3711 §3.3.2): libsrtp's minimum is 64; a larger window
// tolerates more reordering on long paths without weakening protection.
constexpr unsigned long kReplayWindow = 1024;

srtp_t create_ctx(SrtpSuite suite, std::span<const uint8_t> key_salt,
                  SrtpSession::Direction direction) {
  if (!srtp_library_ready()) return nullptr;
  std::array<unsigned char, SRTP_MAX_KEY_LEN> key{};
  if (key_salt.size() != srtp_key_salt_size(suite) || key_salt.size() > key.size()) return nullptr;
  std::memcpy(key.data(), key_salt.data(), key_salt.size());

  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof(policy));
  set_policies(suite, policy);
  policy.ssrc.type =
      direction == SrtpSession::Direction::kInbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy.key = key.data();
  policy.window_size = kReplayWindow;
  policy.allow_repeat_tx = 0;
  policy.next = nullptr;

  srtp_t ctx = nullptr;
  const srtp_err_status_t status = srtp_create(&ctx, &policy);
  explicit_bzero(key.data(), key.size());  // no copy of the master key outlives this call
  if (status != srtp_err_status_ok) return nullptr;
  return ctx;
}

}  // namespace

std::optional<SrtpSuite> srtp_suite_from_name(std::string_view name) {
  if (name == "AES_CM_128_HMAC_SHA1_80") return SrtpSuite::kAesCm128HmacSha1_80;
  if (name == "AES_CM_128_HMAC_SHA1_32") return SrtpSuite::kAesCm128HmacSha1_32;
  if (name == "AEAD_AES_128_GCM") return SrtpSuite::kAeadAes128Gcm;
  if (name == "AEAD_AES_256_GCM") return SrtpSuite::kAeadAes256Gcm;
  return std::nullopt;
}

std::string_view srtp_suite_name(SrtpSuite suite) {
  switch (suite) {
    case SrtpSuite::kAesCm128HmacSha1_80:
      return "AES_CM_128_HMAC_SHA1_80";
    case SrtpSuite::kAesCm128HmacSha1_32:
      return "AES_CM_128_HMAC_SHA1_32";
    case SrtpSuite::kAeadAes128Gcm:
      return "AEAD_AES_128_GCM";
    case SrtpSuite::kAeadAes256Gcm:
      return "AEAD_AES_256_GCM";
  }
  return {};
}

size_t srtp_key_salt_size(SrtpSuite suite) {
  switch (suite) {
    case SrtpSuite::kAesCm128HmacSha1_80:
    case SrtpSuite::kAesCm128HmacSha1_32:
      return SRTP_AES_ICM_128_KEY_LEN_WSALT;  // 16 + 14 (RFC 4568 §6.2)
    case SrtpSuite::kAeadAes128Gcm:
      return SRTP_AES_GCM_128_KEY_LEN_WSALT;  // 16 + 12 (RFC 7714 §12)
    case SrtpSuite::kAeadAes256Gcm:
      return SRTP_AES_GCM_256_KEY_LEN_WSALT;  // 32 + 12
  }
  return 0;
}

bool srtp_suite_supported(SrtpSuite suite) {
  // Probe once per suite: creating a session fails when the cipher is not in
  // libsrtp's crypto kernel (GCM needs an OpenSSL or NSS build).
  static const std::array<bool, 4> supported = [] {
    std::array<bool, 4> result{};
    const std::array<uint8_t, SRTP_MAX_KEY_LEN> zero_key{};
    for (size_t i = 0; i < result.size(); ++i) {
      const auto s = static_cast<SrtpSuite>(i);
      srtp_t ctx = create_ctx(s, std::span(zero_key).first(srtp_key_salt_size(s)),
                              SrtpSession::Direction::kOutbound);
      result[i] = ctx != nullptr;
      if (ctx) srtp_dealloc(ctx);
    }
    return result;
  }();
  const auto index = static_cast<size_t>(suite);
  return index < supported.size() && supported[index];
}

std::string_view srtp_library_version() {
  return srtp_get_version_string();
}

#ifndef CHORUS_SRTP_BACKEND
#define CHORUS_SRTP_BACKEND "libsrtp2 (backend not recorded by the build)"
#endif

std::string_view srtp_backend() {
  return CHORUS_SRTP_BACKEND;
}

std::optional<SrtpSession> SrtpSession::create(SrtpSuite suite, std::span<const uint8_t> key_salt,
                                               Direction direction) {
  srtp_t ctx = create_ctx(suite, key_salt, direction);
  if (!ctx) return std::nullopt;
  return SrtpSession(ctx, suite, direction);
}

SrtpSession::SrtpSession(SrtpSession&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)),
      suite_(other.suite_),
      direction_(other.direction_),
      last_error_(other.last_error_),
      ssrcs_(other.ssrcs_),
      ssrc_count_(std::exchange(other.ssrc_count_, 0)),
      ssrcs_evicted_(other.ssrcs_evicted_),
      evicted_(other.evicted_) {}

SrtpSession& SrtpSession::operator=(SrtpSession&& other) noexcept {
  if (this != &other) {
    if (ctx_) srtp_dealloc(as_ctx(ctx_));
    ctx_ = std::exchange(other.ctx_, nullptr);
    suite_ = other.suite_;
    direction_ = other.direction_;
    last_error_ = other.last_error_;
    ssrcs_ = other.ssrcs_;
    ssrc_count_ = std::exchange(other.ssrc_count_, 0);
    ssrcs_evicted_ = other.ssrcs_evicted_;
    evicted_ = other.evicted_;
  }
  return *this;
}

void SrtpSession::keep_inbound_ssrc(const uint8_t* ssrc, int32_t seq) {
  uint32_t raw = 0;
  std::memcpy(&raw, ssrc, sizeof raw);
  const auto newer = [](int32_t seq, int32_t than) {
    return than < 0 || static_cast<int16_t>(static_cast<uint16_t>(seq - than)) > 0;
  };
  // Most recent last: a known SSRC moves to the back (nearly always it is
  // already there).
  for (size_t i = ssrc_count_; i-- > 0;) {
    if (ssrcs_[i].ssrc != raw) continue;
    KeptSsrc kept = ssrcs_[i];
    if (seq >= 0 && newer(seq, kept.seq)) kept.seq = seq;
    // libsrtp's window (64) is past the floor: it refuses what is behind.
    if (kept.floor >= 0 && kept.seq >= 0 &&
        static_cast<int16_t>(static_cast<uint16_t>(kept.seq - kept.floor)) > 128) {
      kept.floor = -1;
    }
    std::rotate(ssrcs_.begin() + static_cast<std::ptrdiff_t>(i),
                ssrcs_.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                ssrcs_.begin() + static_cast<std::ptrdiff_t>(ssrc_count_));
    ssrcs_[ssrc_count_ - 1] = kept;
    return;
  }
  // Back after its eviction (ahead of where it was): kept again, with a
  // floor where it was.
  int32_t floor = -1;
  for (Evicted& e : evicted_) {
    if (!e.live || e.kept.ssrc != raw) continue;
    e.live = false;
    floor = e.kept.seq;
  }
  if (ssrc_count_ == ssrcs_.size()) {
    // libsrtp compares the SSRC as the header carries it.
    srtp_remove_stream(as_ctx(ctx_), ssrcs_[0].ssrc);
    evicted_[ssrcs_evicted_ % evicted_.size()] = Evicted{ssrcs_[0], true};
    ++ssrcs_evicted_;
    std::rotate(ssrcs_.begin(), ssrcs_.begin() + 1, ssrcs_.end());
    --ssrc_count_;
  }
  ssrcs_[ssrc_count_++] = KeptSsrc{raw, seq, floor};
}

bool SrtpSession::refused_after_eviction(const uint8_t* ssrc, int32_t seq) const {
  if (ssrcs_evicted_ == 0) return false;
  uint32_t raw = 0;
  std::memcpy(&raw, ssrc, sizeof raw);
  for (size_t i = 0; i < ssrc_count_; ++i) {
    if (ssrcs_[i].ssrc != raw) continue;
    const int32_t floor = ssrcs_[i].floor;
    return floor >= 0 && seq >= 0 && static_cast<int16_t>(static_cast<uint16_t>(seq - floor)) <= 0;
  }
  for (const Evicted& e : evicted_) {
    if (!e.live || e.kept.ssrc != raw) continue;
    // RTCP waits for the RTP; RTP must be ahead of the last one taken.
    if (seq < 0 || e.kept.seq < 0) return true;
    return static_cast<int16_t>(static_cast<uint16_t>(seq - e.kept.seq)) <= 0;
  }
  return false;
}

SrtpSession::~SrtpSession() {
  if (ctx_) srtp_dealloc(as_ctx(ctx_));
}

bool SrtpSession::protect_rtp(uint8_t* buf, size_t& len, size_t capacity) {
  assert(direction_ == Direction::kOutbound);
  if (!ctx_ || len < 12) return (last_error_ = SrtpError::kMalformed), false;
  if (capacity < len || capacity - len < SRTP_MAX_TRAILER_LEN || len > INT_MAX / 2) {
    return (last_error_ = SrtpError::kNoSpace), false;
  }
  int n = static_cast<int>(len);
  last_error_ = map_error(srtp_protect(as_ctx(ctx_), buf, &n));
  if (last_error_ != SrtpError::kNone) return false;
  len = static_cast<size_t>(n);
  return true;
}

bool SrtpSession::unprotect_rtp(uint8_t* buf, size_t& len) {
  assert(direction_ == Direction::kInbound);
  // A fixed header is the least libsrtp needs; it validates CSRC and
  // extension lengths itself and authenticates before decrypting.
  if (!ctx_ || len < 12 || len > INT_MAX / 2 || (buf[0] >> 6) != 2) {
    return (last_error_ = SrtpError::kMalformed), false;
  }
  const int32_t seq = (buf[2] << 8) | buf[3];
  if (refused_after_eviction(buf + 8, seq)) return (last_error_ = SrtpError::kReplay), false;
  int n = static_cast<int>(len);
  last_error_ = map_error(srtp_unprotect(as_ctx(ctx_), buf, &n));
  if (last_error_ != SrtpError::kNone) return false;
  len = static_cast<size_t>(n);
  keep_inbound_ssrc(buf + 8, seq);
  return true;
}

bool SrtpSession::protect_rtcp(uint8_t* buf, size_t& len, size_t capacity) {
  assert(direction_ == Direction::kOutbound);
  if (!ctx_ || len < 8) return (last_error_ = SrtpError::kMalformed), false;
  if (capacity < len || capacity - len < SRTP_MAX_TRAILER_LEN + 4 || len > INT_MAX / 2) {
    return (last_error_ = SrtpError::kNoSpace), false;
  }
  int n = static_cast<int>(len);
  last_error_ = map_error(srtp_protect_rtcp(as_ctx(ctx_), buf, &n));
  if (last_error_ != SrtpError::kNone) return false;
  len = static_cast<size_t>(n);
  return true;
}

bool SrtpSession::unprotect_rtcp(uint8_t* buf, size_t& len) {
  assert(direction_ == Direction::kInbound);
  if (!ctx_ || len < 8 || len > INT_MAX / 2 || (buf[0] >> 6) != 2) {
    return (last_error_ = SrtpError::kMalformed), false;
  }
  if (refused_after_eviction(buf + 4, -1)) return (last_error_ = SrtpError::kReplay), false;
  int n = static_cast<int>(len);
  last_error_ = map_error(srtp_unprotect_rtcp(as_ctx(ctx_), buf, &n));
  if (last_error_ != SrtpError::kNone) return false;
  len = static_cast<size_t>(n);
  keep_inbound_ssrc(buf + 4, -1);
  return true;
}

}  // namespace chorus::rtp
