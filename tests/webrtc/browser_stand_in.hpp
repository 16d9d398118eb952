#pragma once
// The browser's ICE side for tests against a WebRTC stream: libnice's STUN
// agent as a full, controlling agent (RFC 8445 §7.2.2) building Binding
// requests with USERNAME "<our ufrag>:<its ufrag>", MESSAGE-INTEGRITY keyed
// with our password, PRIORITY, ICE-CONTROLLING and USE-CANDIDATE; plus a
// reader of the answer's type and ERROR-CODE. Pair with DtlsTestClient
// (dtls_test_support.hpp) for the DTLS-SRTP side.
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace chorus::webrtc::testing {

class StunClient {
 public:
  StunClient() {
    static const uint16_t known[] = {
        STUN_ATTRIBUTE_USERNAME,       STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
        STUN_ATTRIBUTE_ERROR_CODE,     STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
        STUN_ATTRIBUTE_FINGERPRINT,    STUN_ATTRIBUTE_PRIORITY,
        STUN_ATTRIBUTE_USE_CANDIDATE,  STUN_ATTRIBUTE_ICE_CONTROLLING,
        STUN_ATTRIBUTE_ICE_CONTROLLED, 0};
    stun_agent_init(&agent_, known, STUN_COMPATIBILITY_RFC5389,
                    static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                     STUN_AGENT_USAGE_USE_FINGERPRINT));
  }
  // A check for "<local_ufrag>:<remote_ufrag>" keyed with `pwd`.
  std::vector<uint8_t> check(const std::string& local_ufrag, const std::string& remote_ufrag,
                             const std::string& pwd, bool use_candidate = true) {
    password_ = pwd;  // the agent keeps a pointer until the response
    const std::string username = local_ufrag + ":" + remote_ufrag;
    StunMessage request;
    std::array<uint8_t, 1024> buf{};
    const size_t n = stun_usage_ice_conncheck_create(
        &agent_, &request, buf.data(), buf.size(),
        reinterpret_cast<const uint8_t*>(username.data()), username.size(),
        reinterpret_cast<const uint8_t*>(password_.data()), password_.size(), use_candidate,
        /*controlling=*/true, 0x6E7F1EFF, 0x1234567890ABCDEFull, nullptr,
        STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)};
  }

 private:
  StunAgent agent_;
  std::string password_;
};

// STUN message type (RFC 5389 §6): 0x0101 Binding success, 0x0111 error.
inline uint16_t stun_type(const std::vector<uint8_t>& d) {
  return d.size() >= 2 ? static_cast<uint16_t>(d[0] << 8 | d[1]) : 0;
}

// The ERROR-CODE attribute's code (RFC 5389 §15.6), 0 without one.
inline int stun_error_code(const std::vector<uint8_t>& d) {
  for (size_t at = 20; at + 4 <= d.size();) {
    const uint16_t type = static_cast<uint16_t>(d[at] << 8 | d[at + 1]);
    const size_t len = static_cast<size_t>(d[at + 2] << 8 | d[at + 3]);
    if (type == 0x0009 && len >= 4 && at + 8 <= d.size()) return (d[at + 6] & 7) * 100 + d[at + 7];
    at += 4 + ((len + 3) & ~size_t{3});
  }
  return 0;
}

}  // namespace chorus::webrtc::testing
