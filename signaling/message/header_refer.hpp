#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "signaling/message/header_name_addr.hpp"

namespace chorus::sip {

// Refer-To (RFC 3515 §2.1): a name-addr or addr-spec, URI possibly carrying
// embedded headers (`<sip:b@x?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>`) and
// `method=BYE` (RFC 4579 §5.5), or an action URN (`urn:sip-action:call:mute`,
// RFC 4579 style conference actions).
struct ReferTo {
  NameAddr target;

  // The embedded Replaces header, percent-decoded ("" if none).
  std::optional<std::string> replaces() const { return target.uri.header("Replaces"); }
  // The `method` URI param of a SIP target (default INVITE).
  std::string_view method() const;
  // True for `urn:sip-action:...`; action() then returns "call:mute" etc.
  bool is_action_urn() const;
  std::string_view action() const;
};
std::optional<ReferTo> parse_refer_to(std::string_view value);

// Referred-By (RFC 3892 §3): name-addr/addr-spec with optional cid param.
std::optional<NameAddr> parse_referred_by(std::string_view value);

}  // namespace chorus::sip
