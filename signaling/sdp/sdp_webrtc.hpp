#pragma once

// The transport attributes of a browser's audio m= section
// (UDP/TLS/RTP/SAVPF, issue #18): ICE credentials (RFC 8839 §5.4), the
// DTLS certificate fingerprint (RFC 8122 §5) and role (RFC 4145 §4,
// RFC 5763 §5), the mid (RFC 5888 §4) and BUNDLE groups (RFC 8843 §7).
// ICE, fingerprint and setup attributes may sit at session level; the
// media-level ones override them. Candidates are not read: Chorus is an
// ICE-lite agent (RFC 8445 §2.5) and learns the browser's address from its
// connectivity checks.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/sdp/sdp_result.hpp"
#include "signaling/sdp/sdp_session.hpp"

namespace chorus::sdp {

// RFC 8839 §5.4: ufrag 4–256 ice-chars, pwd 22–256 (ice-char: ALPHA,
// DIGIT, '+', '/').
inline constexpr std::size_t kIceUfragMin = 4;
inline constexpr std::size_t kIcePwdMin = 22;
inline constexpr std::size_t kIceMax = 256;
bool is_ice_chars(std::string_view s);

// a=setup (RFC 4145 §4): who opens the DTLS connection.
enum class Setup { kActive, kPassive, kActPass, kHoldConn };
std::optional<Setup> setup_from_name(std::string_view name);
std::string_view setup_name(Setup setup);

using Sha256 = std::array<std::uint8_t, 32>;

// a=fingerprint:<hash-func> <AB:CD:...> (RFC 8122 §5). The hash name is kept
// lower-case; the bytes are those of the colon-separated hex pairs.
struct Fingerprint {
  std::string hash;
  std::vector<std::uint8_t> bytes;
};
std::optional<Fingerprint> parse_fingerprint(std::string_view value);
// "sha-256 " + upper-case hex pairs.
std::string format_sha256_fingerprint(const Sha256& digest);

struct WebRtcTransport {
  std::string ice_ufrag;
  std::string ice_pwd;
  Sha256 fingerprint{};          // the sha-256 one; others are ignored
  Setup setup = Setup::kActive;  // RFC 4145 §4: absent means active
  std::optional<std::string> mid;
  bool rtcp_mux = false;
  bool rtcp_rsize = false;
};

// Reads the transport of m= section `index`. Errors say what a browser
// member needs and the offer lacks: missing or out-of-range ICE credentials,
// no sha-256 fingerprint (naming the hash functions offered), a malformed
// fingerprint, an unknown setup value.
Result<WebRtcTransport> parse_webrtc_transport(const Session& session, std::size_t index);

// The identification tags of the session's a=group:BUNDLE lines, one
// vector per group (RFC 8843 §7.1).
std::vector<std::vector<std::string>> bundle_groups(const Session& session);

}  // namespace chorus::sdp
