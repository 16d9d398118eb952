#include "webrtc/stun_client.hpp"

#include <stun/usages/ice.h>

#include <algorithm>
#include <string>

namespace chorus::webrtc {

namespace {

const uint16_t kKnownAttributes[] = {
    STUN_ATTRIBUTE_USERNAME,       STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
    STUN_ATTRIBUTE_ERROR_CODE,     STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
    STUN_ATTRIBUTE_FINGERPRINT,    STUN_ATTRIBUTE_PRIORITY,
    STUN_ATTRIBUTE_USE_CANDIDATE,  STUN_ATTRIBUTE_ICE_CONTROLLING,
    STUN_ATTRIBUTE_ICE_CONTROLLED, 0};

}  // namespace

StunClient::StunClient(uint64_t tie_breaker) : tie_breaker_(tie_breaker) {
  stun_agent_init(&agent_, kKnownAttributes, STUN_COMPATIBILITY_RFC5389,
                  static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                   STUN_AGENT_USAGE_USE_FINGERPRINT));
}

size_t StunClient::check(std::span<uint8_t> out, std::string_view username,
                         std::string_view password, bool use_candidate, uint32_t priority,
                         std::array<uint8_t, 12>* transaction) {
  StunMessage request;
  const size_t n = stun_usage_ice_conncheck_create(
      &agent_, &request, out.data(), out.size(), reinterpret_cast<const uint8_t*>(username.data()),
      username.size(), reinterpret_cast<const uint8_t*>(password.data()), password.size(),
      use_candidate, /*controlling=*/true, priority, tie_breaker_, nullptr,
      STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
  if (n == 0) return 0;
  // libnice's StunTransactionId is the cookie and the 96-bit id (16 bytes).
  StunTransactionId id;
  stun_message_id(&request, id);
  stun_agent_forget_transaction(&agent_, id);
  if (transaction != nullptr) *transaction = stun_transaction_id(out.first(n));
  return n;
}

uint16_t stun_message_type(std::span<const uint8_t> d) {
  return d.size() >= 20 ? static_cast<uint16_t>(d[0] << 8 | d[1]) : 0;
}

std::array<uint8_t, 12> stun_transaction_id(std::span<const uint8_t> d) {
  std::array<uint8_t, 12> id{};
  if (d.size() >= 20) std::copy_n(d.begin() + 8, id.size(), id.begin());
  return id;
}

int stun_error_code(std::span<const uint8_t> d) {
  for (size_t at = 20; at + 4 <= d.size();) {
    const uint16_t type = static_cast<uint16_t>(d[at] << 8 | d[at + 1]);
    const size_t len = static_cast<size_t>(d[at + 2] << 8 | d[at + 3]);
    if (type == 0x0009 && len >= 4 && at + 8 <= d.size()) return (d[at + 6] & 7) * 100 + d[at + 7];
    at += 4 + ((len + 3) & ~size_t{3});
  }
  return 0;
}

}  // namespace chorus::webrtc
