#pragma once

// Session Description Protocol, RFC 4566: the generic line-level model.
//
// `Session` owns all of its text (std::string members), so copies never
// dangle. Parsing accepts CRLF or bare LF line ends and produces CRLF on
// output (RFC 4566 §5). Every line is kept: attributes this code does not
// interpret are preserved in order and re-serialized unchanged. Typed views
// of audio media (rtpmap, fmtp, crypto, ...) live in sdp_audio.hpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/sdp/sdp_result.hpp"

namespace chorus::sdp {

// Size limits applied while parsing network input. An SDP beyond them is
// refused rather than partially accepted.
inline constexpr std::size_t kMaxSdpSize = 64 * 1024;
inline constexpr std::size_t kMaxLineLength = 4096;
inline constexpr std::size_t kMaxAttributesPerSection = 256;
inline constexpr std::size_t kMaxMediaSections = 32;
inline constexpr std::size_t kMaxFormatsPerMedia = 128;
inline constexpr std::size_t kMaxOtherLinesPerSection = 32;  // e=, p=, b=, t=, r=, c=

// o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
// (RFC 4566 §5.2). sess-id and sess-version are digit strings of arbitrary
// length in the grammar; the version is kept as an integer because the
// offer/answer layer increments it (RFC 3264 §8).
struct Origin {
  std::string username = "-";
  std::string session_id = "0";
  std::uint64_t session_version = 0;
  std::string net_type = "IN";
  std::string addr_type = "IP4";
  std::string address = "127.0.0.1";
};

// c=<nettype> <addrtype> <connection-address> (RFC 4566 §5.7). For
// multicast the address may carry "/ttl[/count]"; that suffix is kept in
// `address_suffix` (without the leading '/').
struct Connection {
  std::string net_type = "IN";
  std::string addr_type = "IP4";
  std::string address;
  std::string address_suffix;

  // RFC 3264 §8.4 / RFC 2543 hold: c=0.0.0.0 means "do not send to me".
  bool is_null_address() const { return address == "0.0.0.0" || address == "::"; }
};

// b=<bwtype>:<bandwidth> (RFC 4566 §5.8).
struct Bandwidth {
  std::string type;
  std::uint64_t kbps = 0;
};

// t=<start-time> <stop-time> and its r= repeat lines (RFC 4566 §5.9, §5.10).
// Repeat lines are kept verbatim; a conference server never schedules.
struct Timing {
  std::uint64_t start = 0;
  std::uint64_t stop = 0;
  std::vector<std::string> repeats;
};

// a=<attribute> or a=<attribute>:<value> (RFC 4566 §5.13).
struct Attribute {
  std::string name;
  std::optional<std::string> value;
};

// One m= section (RFC 4566 §5.14) with its own i=, c=, b=, k= and a= lines.
struct Media {
  std::string media;  // "audio", "video", "application", ...
  std::uint16_t port = 0;
  std::optional<std::uint32_t> port_count;  // m=audio 49170/2 ...
  std::string proto;                        // "RTP/AVP", "RTP/SAVPF", ...
  std::vector<std::string> formats;         // payload types for RTP protos
  std::optional<std::string> title;         // i=
  std::vector<Connection> connections;      // c= (more than one only for multicast)
  std::vector<Bandwidth> bandwidths;        // b=
  std::optional<std::string> key;           // k= (obsolete; preserved)
  std::vector<Attribute> attributes;        // a=, in order

  // First attribute with this name, or nullptr.
  const Attribute* find_attribute(std::string_view name) const;
  bool has_attribute(std::string_view name) const { return find_attribute(name) != nullptr; }
  // Values of every attribute with this name ("" for a flag attribute).
  std::vector<std::string_view> attribute_values(std::string_view name) const;
};

struct Session {
  int version = 0;                       // v=
  Origin origin;                         // o=
  std::string name = "-";                // s=
  std::optional<std::string> info;       // i=
  std::optional<std::string> uri;        // u=
  std::vector<std::string> emails;       // e=
  std::vector<std::string> phones;       // p=
  std::optional<Connection> connection;  // c=
  std::vector<Bandwidth> bandwidths;     // b=
  std::vector<Timing> timings;           // t= (+ r=); empty serializes as "t=0 0"
  std::optional<std::string> zone;       // z= (verbatim)
  std::optional<std::string> key;        // k=
  std::vector<Attribute> attributes;     // session-level a=
  std::vector<Media> media;              // m= sections, in order

  // Parses an SDP body. Errors name the line, e.g. "bad m= line 7: ...".
  static Result<Session> parse(std::string_view text);

  // RFC 4566 text with CRLF line ends, fields in the order of §5.
  std::string serialize() const;

  const Attribute* find_attribute(std::string_view name) const;
  bool has_attribute(std::string_view name) const { return find_attribute(name) != nullptr; }

  // The c= that applies to media section `index`: its own first c=, else the
  // session-level one (RFC 4566 §5.7), else nullptr.
  const Connection* connection_for(std::size_t index) const;
};

}  // namespace chorus::sdp
