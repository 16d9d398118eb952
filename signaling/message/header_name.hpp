#pragma once

#include <cstdint>
#include <string_view>

namespace chorus::sip {

// Headers the parser recognises by id, so lookups compare one byte instead
// of a case-insensitive string, and compact forms (RFC 3261 §7.3.3 and the
// IANA registry) map onto their long names.
enum class HeaderId : uint8_t {
  kOther,
  kAccept,
  kAcceptContact,  // a
  kAllow,
  kAllowEvents,  // u
  kAuthorization,
  kCallId,   // i
  kContact,  // m
  kContentDisposition,
  kContentEncoding,  // e
  kContentLength,    // l
  kContentType,      // c
  kCSeq,
  kEvent,  // o
  kExpires,
  kFrom,  // f
  kJoin,
  kMaxForwards,
  kMinExpires,
  kMinSE,
  kProxyAuthenticate,
  kProxyAuthorization,
  kProxyRequire,
  kReason,
  kRecordRoute,
  kReferTo,        // r
  kReferredBy,     // b
  kRejectContact,  // j
  kReplaces,
  kRequestDisposition,  // d
  kRequire,
  kRetryAfter,
  kRoute,
  kSessionExpires,  // x
  kSubject,         // s
  kSubscriptionState,
  kSupported,  // k
  kTargetDialog,
  kTo,  // t
  kUnsupported,
  kVia,  // v
  kWarning,
  kWwwAuthenticate,
  kIdentity,  // y
  kDate,
  kTimestamp,
  kUserAgent,
  kServer,
  kOrganization,
  kPriority,
  kMimeVersion,
  kReplyTo,
  kContentTransferEncoding,
  kCount,
};

// Case-insensitive; compact forms map to their header. kOther if unknown.
HeaderId header_id(std::string_view name);
// The canonical spelling ("Call-ID", "CSeq", "WWW-Authenticate"); "" for kOther.
std::string_view header_canonical_name(HeaderId id);
// RFC 3261 §7.3.1: headers whose value is a comma-separated list and may be
// split / combined. Single-valued headers and the authentication headers
// (whose values contain commas) are not.
bool header_is_list(HeaderId id);

}  // namespace chorus::sip
