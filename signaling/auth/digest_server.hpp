#pragma once

// Digest authentication as a server (RFC 3261 §22, RFC 7616, RFC 8760).
//
// Nonces are stateless and tamper-proof:
//   nonce = hex( issued_at[8, big-endian seconds] || random[8] ||
//                HMAC-SHA256(secret, issued_at || random || realm)[0..16) )
// so any node holding the secret can check one without a table. The only
// state is nonce-count replay tracking (RFC 7616 §3.4.5), bounded in size.
// Passwords and HA1 values never leave this object and are never logged.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/auth/digest_hash.hpp"

namespace chorus::sip {

// Named rights an account can hold (architecture: privileged operations).
// "admin" implies every other right.
inline constexpr std::string_view kRightMonitor = "monitor";
inline constexpr std::string_view kRightWhisper = "whisper";
inline constexpr std::string_view kRightBarge = "barge";
inline constexpr std::string_view kRightReplace = "replace";
inline constexpr std::string_view kRightDialOut = "dial-out";
inline constexpr std::string_view kRightRemove = "remove";
inline constexpr std::string_view kRightAdmin = "admin";
inline constexpr std::string_view kRightDialogSubscribe = "dialog-subscribe";
// Mute, unmute, hold and resume other members (action URNs, RFC 4579 style).
inline constexpr std::string_view kRightModerate = "moderate";
// Refer a call to the music-on-hold or park service (RFC 5359 §2.3, §2.15).
inline constexpr std::string_view kRightPark = "park";
// Take a call the focus is still placing (directed pickup, RFC 5359 §2.16).
inline constexpr std::string_view kRightPickup = "pickup";
// Start and stop a room's recording (README "Recording").
inline constexpr std::string_view kRightRecord = "record";
// Move members from one room to another (README "Moving members"); with
// "moderate" as well, past the target room's PIN and member limit.
inline constexpr std::string_view kRightMove = "move";

struct DigestAccount {
  std::string user;
  // Either a password, or precomputed HA1 values (hex) per algorithm family;
  // an HA1 is realm-bound, so it must have been computed for this realm.
  std::optional<std::string> password;
  std::optional<std::string> ha1_md5;
  std::optional<std::string> ha1_sha256;
  std::set<std::string, std::less<>> rights;
};

struct DigestConfig {
  std::string realm;
  // Offered in this order, one challenge each (RFC 8760 §2.4: most preferred
  // first). -sess variants may be added.
  std::vector<DigestAlgorithm> algorithms = {DigestAlgorithm::kSha256, DigestAlgorithm::kMd5};
  std::chrono::seconds nonce_lifetime{300};
  std::size_t max_tracked_nonces = 4096;
  // HMAC key for nonces. Empty: 32 random bytes at construction (nonces
  // then survive only as long as the process, which is fine for one node).
  std::string secret;
};

struct DigestResult {
  bool ok = false;
  std::string user;    // set when the username was readable
  bool stale = false;  // right credentials, expired nonce: re-challenge with stale=true
  std::string why;     // for logs and reason phrases; never contains secrets
  std::optional<DigestAlgorithm> algorithm;
};

class DigestServer {
 public:
  // Seconds on a monotonic scale; injectable for tests.
  using Clock = std::function<std::uint64_t()>;

  explicit DigestServer(DigestConfig config, Clock clock = {});

  // Replaces an account of the same user name.
  void add_account(DigestAccount account);
  bool has_account(std::string_view user) const;
  // Whether `user` exists and holds `right` (or "admin").
  bool has_right(std::string_view user, std::string_view right) const;

  // WWW-Authenticate (or Proxy-Authenticate) values, one per configured
  // algorithm, each with a fresh nonce and qop="auth".
  std::vector<std::string> challenges(bool stale = false);

  // Checks an Authorization header value for this request. `body` is used
  // only when the client chose qop=auth-int.
  DigestResult verify(std::string_view authorization, std::string_view method,
                      std::string_view request_uri, std::string_view body = {});

  const std::string& realm() const { return config_.realm; }
  std::size_t tracked_nonces() const { return nonce_counts_.size(); }

  // Exposed for tests and for callers that build their own challenge.
  std::string make_nonce();

 private:
  struct NonceState {
    std::uint64_t issued_at = 0;
    std::uint32_t highest_nc = 0;
    std::uint64_t window = 0;  // bit i: nc (highest_nc - i) already used
  };
  enum class NonceCheck { kValid, kExpired, kForged };
  NonceCheck check_nonce(std::string_view nonce, std::uint64_t& issued_at) const;
  bool accept_nc(const std::string& nonce, std::uint64_t issued_at, std::uint32_t nc);
  void evict_for_space(std::uint64_t now);
  std::string hmac_tag(const std::uint8_t* data, std::size_t size) const;
  std::optional<std::string> ha1_for(const DigestAccount& account, DigestAlgorithm a) const;

  DigestConfig config_;
  Clock clock_;
  std::map<std::string, DigestAccount, std::less<>> accounts_;
  std::map<std::string, NonceState, std::less<>> nonce_counts_;
  // Nonces issued at or before this time may have been evicted from the
  // replay table; they are treated as stale rather than fresh.
  std::uint64_t evicted_through_ = 0;
  bool evicted_any_ = false;
};

}  // namespace chorus::sip
