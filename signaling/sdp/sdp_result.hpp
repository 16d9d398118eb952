#pragma once

#include <string>
#include <utility>
#include <variant>

namespace chorus::sdp {

// Why a session description (or a part of it) was refused. Parsing network
// input never throws: it returns one of these, naming the faulty line.
struct Error {
  std::string message;
};

// A value or an Error. Deliberately tiny: SDP code must not depend on the
// SIP message layer's result type (see the helper brief), and callers only
// need ok()/value()/error().
template <class T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const Error& error() const { return std::get<1>(state_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> state_;
};

}  // namespace chorus::sdp
