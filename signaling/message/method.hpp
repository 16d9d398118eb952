#pragma once

#include <cstdint>
#include <string_view>

namespace chorus::sip {

// The request methods Chorus knows (RFC 3261 §7.1 plus the extensions it
// uses: RFC 3262 PRACK, RFC 3311 UPDATE, RFC 3428 MESSAGE, RFC 3515 REFER,
// RFC 3903 PUBLISH, RFC 6086 INFO, RFC 6665 SUBSCRIBE/NOTIFY). Anything else is
// kUnknown; keep its text (Message::method_text) to answer 501.
enum class Method : uint8_t {
  kUnknown,
  kInvite,
  kAck,
  kBye,
  kCancel,
  kOptions,
  kRegister,
  kSubscribe,
  kNotify,
  kRefer,
  kInfo,
  kUpdate,
  kPrack,
  kMessage,
  kPublish,
};

// Methods are case-sensitive (RFC 3261 §7.1): "invite" is an unknown method.
Method parse_method(std::string_view text);
// The canonical upper-case name; "" for kUnknown.
std::string_view method_name(Method method);
// RFC 3261 §25.1 token: the only characters a method name may contain.
bool is_token(std::string_view text);

}  // namespace chorus::sip
