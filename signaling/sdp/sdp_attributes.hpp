#pragma once

// Typed parsers and formatters for the media attributes an audio conference
// server acts on. Each parser takes the attribute VALUE (the text after
// "a=<name>:") and returns a value or nothing/an error; none throws.

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "signaling/sdp/sdp_result.hpp"

namespace chorus::sdp {

// --- direction (RFC 4566 §6, RFC 3264 §5.1) --------------------------------
enum class Direction { kSendRecv, kSendOnly, kRecvOnly, kInactive };

std::string_view direction_name(Direction d);
std::optional<Direction> direction_from_name(std::string_view name);
// The answerer's direction for an offered one (RFC 3264 §6.1):
// sendonly -> recvonly, recvonly -> sendonly, the others unchanged.
Direction mirror(Direction d);
// Intersection of what we want (local) with what the peer allows: we may send
// only if both we want to send and the peer wants to receive, and so on.
Direction restrict_to(Direction wanted, Direction allowed);
inline bool sends(Direction d) {
  return d == Direction::kSendRecv || d == Direction::kSendOnly;
}
inline bool receives(Direction d) {
  return d == Direction::kSendRecv || d == Direction::kRecvOnly;
}

// --- transport protocol of an m= line ----------------------------------------
enum class Proto {
  kRtpAvp,          // RFC 3551
  kRtpAvpf,         // RFC 4585
  kRtpSavp,         // RFC 3711
  kRtpSavpf,        // RFC 5124
  kUdpTlsRtpSavp,   // RFC 5764 (DTLS-SRTP)
  kUdpTlsRtpSavpf,  // RFC 5764
  kOther,
};
Proto proto_from_name(std::string_view name);
std::string_view proto_name(Proto p);  // "" for kOther
inline bool is_rtp(Proto p) {
  return p != Proto::kOther;
}
inline bool is_dtls(Proto p) {
  return p == Proto::kUdpTlsRtpSavp || p == Proto::kUdpTlsRtpSavpf;
}
inline bool is_savp(Proto p) {
  return p == Proto::kRtpSavp || p == Proto::kRtpSavpf;
}

// --- a=rtpmap:<pt> <encoding>/<clock>[/<channels>] (RFC 4566 §6) -------------
struct RtpMap {
  int payload_type = 0;
  std::string encoding;
  std::uint32_t clock_rate = 0;
  std::uint32_t channels = 1;
};
std::optional<RtpMap> parse_rtpmap(std::string_view value);
std::string format_rtpmap(const RtpMap& map);
// RFC 3551 §6 static payload types an offer may use without a=rtpmap.
std::optional<RtpMap> static_rtpmap(int payload_type);

// --- a=fmtp:<pt> <params> -----------------------------------------------------
// Parameters are "k=v;k=v" for most codecs (e.g. opus, RFC 7587 §6.1); an
// item without '=' (telephone-event's "0-15", RFC 4733 §2.4.1) is kept with
// an empty value. Keys keep their case; lookups ignore it.
struct Fmtp {
  int payload_type = 0;
  std::vector<std::pair<std::string, std::string>> params;

  std::optional<std::string_view> get(std::string_view key) const;
  std::string format_params() const;  // "k=v;k2=v2" / "0-15"
};
std::optional<Fmtp> parse_fmtp(std::string_view value);
std::string format_fmtp(const Fmtp& fmtp);
// RFC 4733 §2.4.1 event list "0-15,66,70" -> set of event codes 0..255.
std::optional<std::bitset<256>> parse_event_list(std::string_view list);
std::string format_event_list(const std::bitset<256>& events);

// --- a=crypto (RFC 4568 §9.1) -------------------------------------------------
enum class CryptoSuite {
  kAesCm128HmacSha1_80,  // RFC 4568 §6.2.1
  kAesCm128HmacSha1_32,  // RFC 4568 §6.2.2
  kAeadAes128Gcm,        // RFC 7714 §14.2
  kAeadAes256Gcm,        // RFC 7714 §14.2
};
std::string_view crypto_suite_name(CryptoSuite suite);
std::optional<CryptoSuite> crypto_suite_from_name(std::string_view name);
// Master key + master salt length in bytes (the inline key is both).
std::size_t crypto_key_salt_size(CryptoSuite suite);

struct CryptoKey {
  std::vector<std::uint8_t> key_salt;     // decoded inline key || salt
  std::optional<std::uint64_t> lifetime;  // packets ("2^20" or decimal)
  std::optional<std::uint64_t> mki_value;
  std::optional<std::uint32_t> mki_length;  // bytes, 1..128
};
struct Crypto {
  std::uint32_t tag = 0;  // 1*9DIGIT
  std::string suite;      // kept as text: unknown suites are legal, just not chosen
  std::vector<CryptoKey> keys;
  std::vector<std::string> session_params;  // e.g. "UNENCRYPTED_SRTCP", "KDR=..."

  std::optional<CryptoSuite> known_suite() const { return crypto_suite_from_name(suite); }
};
// Errors say what is wrong (bad tag, bad base64, key length for the suite).
Result<Crypto> parse_crypto(std::string_view value);
std::string format_crypto(const Crypto& crypto);

// --- a=rtcp:<port> [<nettype> <addrtype> <address>] (RFC 3605 §2.1) ----------
struct RtcpAttribute {
  std::uint16_t port = 0;
  std::optional<std::string> net_type;
  std::optional<std::string> addr_type;
  std::optional<std::string> address;
};
std::optional<RtcpAttribute> parse_rtcp(std::string_view value);
std::string format_rtcp(const RtcpAttribute& rtcp);

// --- a=extmap:<id>[/<direction>] <uri> [<attributes>] (RFC 8285 §8) ---------
inline constexpr std::string_view kAudioLevelUri = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
struct ExtMap {
  int id = 0;  // 1..14 one-byte form, up to 255 two-byte form
  std::optional<Direction> direction;
  std::string uri;
  std::string attributes;  // e.g. "vad=on" for RFC 6464
};
std::optional<ExtMap> parse_extmap(std::string_view value);
std::string format_extmap(const ExtMap& ext);

// --- a=ssrc:<ssrc> <attribute>[:<value>] (RFC 5576 §4.1) ---------------------
struct SsrcAttribute {
  std::uint32_t ssrc = 0;
  std::string attribute;
  std::optional<std::string> value;
};
std::optional<SsrcAttribute> parse_ssrc(std::string_view value);

}  // namespace chorus::sdp
