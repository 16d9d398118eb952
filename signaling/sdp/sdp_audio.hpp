#pragma once

// A typed, owning view of one audio m= section: the facts offer/answer and
// the media plane act on, with session-level defaults applied (c= and the
// direction attribute, RFC 4566 §5.7 and §6; media level overrides).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "signaling/sdp/sdp_attributes.hpp"
#include "signaling/sdp/sdp_result.hpp"
#include "signaling/sdp/sdp_session.hpp"

namespace chorus::sdp {

struct AudioMedia {
  std::size_t index = 0;  // position among the session's m= sections
  std::uint16_t port = 0;
  std::optional<std::uint32_t> port_count;
  Proto proto = Proto::kRtpAvp;
  std::string proto_text;
  std::vector<int> payload_types;  // in the offerer's order
  std::vector<RtpMap> rtpmaps;     // one per payload type we could resolve (explicit or static)
  std::vector<Fmtp> fmtps;
  std::optional<std::uint32_t> ptime;     // ms
  std::optional<std::uint32_t> maxptime;  // ms
  Direction direction = Direction::kSendRecv;
  bool rtcp_mux = false;
  std::optional<RtcpAttribute> rtcp;
  std::vector<Crypto> cryptos;  // only well-formed ones; see parse_audio
  std::optional<Connection> connection;
  std::vector<ExtMap> extmaps;
  std::vector<SsrcAttribute> ssrcs;

  const RtpMap* rtpmap(int payload_type) const;
  const Fmtp* fmtp(int payload_type) const;
  const ExtMap* extmap(std::string_view uri) const;
  // RFC 3264 §5.1 / RFC 2543: c=0.0.0.0 (or ::) marks old-style hold.
  bool null_connection() const { return connection && connection->is_null_address(); }
};

// Parses media section `index` of `session` (which must be m=audio). Errors
// name the attribute: a malformed rtpmap, fmtp, ptime, rtcp, extmap or crypto
// line makes the whole section unusable, because acting on half-understood
// media descriptions ends in one-way audio. Non-RTP formats are allowed only
// for non-RTP protos.
Result<AudioMedia> parse_audio(const Session& session, std::size_t index);

}  // namespace chorus::sdp
