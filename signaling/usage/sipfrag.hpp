#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace chorus::sip {

// message/sipfrag (RFC 3420) as REFER progress reports use it (RFC 3515 §2.4.5):
// the body of each NOTIFY is a status line, optionally followed by header lines.
// Chorus only produces and reads the status line; the headers of a fragment are
// kept as text for whoever wants them.
inline constexpr std::string_view kSipfragContentType = "message/sipfrag;version=2.0";

struct SipfragStatus {
  int status = 0;            // 100..699
  std::string reason;        // reason phrase, may be empty
  std::string_view headers;  // the header lines after the status line (view into the input)
};

// "SIP/2.0 <status> <reason>\r\n". A reason containing CR or LF is cut at the first
// one so a caller-supplied phrase can never inject header lines into the fragment.
std::string make_sipfrag(int status, std::string_view reason);
// The same with header lines after the status line (RFC 3420 §2: a
// fragment may carry any of the response's headers), each "Name: value";
// a header whose name or value holds CR or LF is left out.
std::string make_sipfrag(int status, std::string_view reason,
                         std::span<const std::pair<std::string, std::string>> headers);

// Reads the status line of a sipfrag body. Returns nullopt when the fragment does
// not start with a SIP/2.0 status line (a sipfrag may legally carry a request line
// or only headers; REFER progress never does, RFC 3515 §2.4.5).
std::optional<SipfragStatus> parse_sipfrag_status(std::string_view body);

// Whether a Content-Type value names message/sipfrag (case-insensitive, any params).
bool is_sipfrag_content_type(std::string_view content_type);

}  // namespace chorus::sip
