#include "signaling/message/method.hpp"

#include <array>
#include <utility>

#include "signaling/message/header_params.hpp"

namespace chorus::sip {
namespace {

constexpr std::array<std::pair<std::string_view, Method>, 14> kMethods{{
    {"INVITE", Method::kInvite},
    {"ACK", Method::kAck},
    {"BYE", Method::kBye},
    {"CANCEL", Method::kCancel},
    {"OPTIONS", Method::kOptions},
    {"REGISTER", Method::kRegister},
    {"SUBSCRIBE", Method::kSubscribe},
    {"NOTIFY", Method::kNotify},
    {"REFER", Method::kRefer},
    {"INFO", Method::kInfo},
    {"UPDATE", Method::kUpdate},
    {"PRACK", Method::kPrack},
    {"MESSAGE", Method::kMessage},
    {"PUBLISH", Method::kPublish},
}};

}  // namespace

Method parse_method(std::string_view text) {
  for (const auto& [name, method] : kMethods) {
    if (name == text) return method;
  }
  return Method::kUnknown;
}

std::string_view method_name(Method method) {
  for (const auto& [name, m] : kMethods) {
    if (m == method) return name;
  }
  return {};
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

}  // namespace chorus::sip
