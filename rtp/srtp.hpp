#pragma once
// SRTP / SRTCP (RFC 3711, RFC 7714 AES-GCM) through libsrtp2, keyed by SDES
// (RFC 4568) inline key||salt. One SrtpSession protects or unprotects one
// direction of one stream. Key material is never logged or kept after
// create(); libsrtp holds the derived session keys.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace chorus::rtp {

enum class SrtpSuite { kAesCm128HmacSha1_80, kAesCm128HmacSha1_32, kAeadAes128Gcm, kAeadAes256Gcm };

// RFC 4568 §6.2 / RFC 7714 §14.2 crypto-suite names.
std::optional<SrtpSuite> srtp_suite_from_name(std::string_view sdp_name);
std::string_view srtp_suite_name(SrtpSuite suite);
// Master key + master salt bytes (30 for AES-CM-128, 28 / 44 for GCM-128 / 256).
size_t srtp_key_salt_size(SrtpSuite suite);
// Whether the installed libsrtp2 implements the suite (GCM needs an OpenSSL or
// NSS crypto backend); probed once by creating a session.
bool srtp_suite_supported(SrtpSuite suite);
// libsrtp's own version string, e.g. "libsrtp2 2.5.0".
std::string_view srtp_library_version();
// Which libsrtp2 build is linked and on which crypto, e.g. "libsrtp2 2.5.0-3
// on OpenSSL, static (Debian source)" or the system package on NSS (CMake's
// choice: deploy/build-libsrtp2).
std::string_view srtp_backend();

// Why the last call on a session failed.
enum class SrtpError : uint8_t { kNone, kMalformed, kAuthFailed, kReplay, kNoSpace, kOther };

class SrtpSession {
 public:
  enum class Direction { kInbound, kOutbound };

  // nullopt when the suite is unsupported or key_salt has the wrong size.
  static std::optional<SrtpSession> create(SrtpSuite suite, std::span<const uint8_t> key_salt,
                                           Direction direction);

  SrtpSession(SrtpSession&& other) noexcept;
  SrtpSession& operator=(SrtpSession&& other) noexcept;
  SrtpSession(const SrtpSession&) = delete;
  SrtpSession& operator=(const SrtpSession&) = delete;
  ~SrtpSession();

  // In place. protect: len grows by the auth tag (and the SRTCP index); the
  // buffer needs kProtectOverhead bytes of room past len (libsrtp may write
  // that far), otherwise false with kNoSpace.
  static constexpr size_t kProtectOverhead = 144 + 4;  // SRTP_MAX_TRAILER_LEN + SRTCP index
  bool protect_rtp(uint8_t* buf, size_t& len, size_t capacity);
  bool unprotect_rtp(uint8_t* buf, size_t& len);  // false: auth fail / replay / malformed
  bool protect_rtcp(uint8_t* buf, size_t& len, size_t capacity);
  bool unprotect_rtcp(uint8_t* buf, size_t& len);

  SrtpSuite suite() const { return suite_; }
  Direction direction() const { return direction_; }
  SrtpError last_error() const { return last_error_; }

  // An inbound session keeps libsrtp's per-SSRC state (replay window, ROC)
  // for at most this many SSRCs: libsrtp clones a stream for every new SSRC
  // that authenticates and keeps it for the session's life, walking the
  // list on every packet, so a peer cycling SSRCs would grow memory and
  // per-packet cost without bound. The SSRC seen least recently first is
  // dropped (RTP and RTCP SSRCs alike). A dropped SSRC's replay window is
  // gone with it, so it is remembered (the last kRememberedEvictions of
  // them) with the last RTP sequence number taken: an RTP packet of it
  // behind that (a recorded one played back) is refused as a replay, one
  // ahead brings the SSRC back (a source an SBC spliced away returning);
  // its RTCP is refused until its RTP is back. A new key starts over.
  static constexpr size_t kMaxInboundSsrcs = 4;
  static constexpr size_t kRememberedEvictions = 32;
  size_t inbound_ssrcs() const { return ssrc_count_; }
  uint64_t ssrcs_evicted() const { return ssrcs_evicted_; }

 private:
  SrtpSession(void* ctx, SrtpSuite suite, Direction direction)
      : ctx_(ctx), suite_(suite), direction_(direction) {}
  // After a packet of `ssrc` (as on the wire) authenticated.
  // seq: the RTP sequence number (host order), or -1 for RTCP.
  void keep_inbound_ssrc(const uint8_t* ssrc, int32_t seq);
  // Whether a packet of `ssrc` (as on the wire; `seq` as above) must be
  // refused because the SSRC had its state dropped in this session.
  bool refused_after_eviction(const uint8_t* ssrc, int32_t seq) const;
  struct KeptSsrc {
    uint32_t ssrc = 0;  // network byte order
    int32_t seq = -1;   // the last RTP sequence number taken, -1: none yet
    // Back after an eviction: RTP at or behind this (where it was) is
    // refused until the stream is past libsrtp's replay window beyond it.
    int32_t floor = -1;
    bool operator==(const KeptSsrc&) const = default;
  };
  void* ctx_;  // srtp_t (kept opaque so users need not include <srtp2/srtp.h>)
  SrtpSuite suite_;
  Direction direction_;
  SrtpError last_error_ = SrtpError::kNone;
  std::array<KeptSsrc, kMaxInboundSsrcs> ssrcs_{};  // oldest use first
  size_t ssrc_count_ = 0;
  uint64_t ssrcs_evicted_ = 0;
  // A ring; an entry whose SSRC came back is cleared (`live` false).
  struct Evicted {
    KeptSsrc kept;
    bool live = false;
  };
  std::array<Evicted, kRememberedEvictions> evicted_{};
};

}  // namespace chorus::rtp
