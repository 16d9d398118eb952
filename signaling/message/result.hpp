#pragma once

#include <string>
#include <utility>
#include <variant>

namespace chorus::sip {

// Why a SIP message could not be parsed. RFC 3261 §8.2 / §21.4: a request that
// is malformed but still answerable gets a 4xx/5xx whose reason phrase names
// the fault ("Bad CSeq", "Missing Call-ID", ...), so a peer can see what it got
// wrong. `answerable` is false when no response can be built at all (no usable
// Via/CSeq/Call-ID/From/To, an unparseable start line, or the message is a
// response — responses to responses do not exist).
struct ParseError {
  std::string reason;
  bool answerable = true;
  int status = 400;  // 400, 505 (Unsupported SIP Version), 513 (Message Too Large), 416 ...
};

// A parse result: either a value or a ParseError. It IS a std::variant, so
// std::get / std::holds_alternative / std::visit work, plus convenience
// accessors.
template <class T>
class Result : public std::variant<T, ParseError> {
 public:
  using std::variant<T, ParseError>::variant;

  bool ok() const { return this->index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(*this); }
  const T& value() const& { return std::get<0>(*this); }
  T&& value() && { return std::get<0>(std::move(*this)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const ParseError& error() const { return std::get<1>(*this); }
};

}  // namespace chorus::sip
