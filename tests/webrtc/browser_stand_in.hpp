#pragma once
// The browser's ICE side for tests against a WebRTC stream: libnice's STUN
// agent as a full, controlling agent (RFC 8445 §7.2.2) building Binding
// requests with USERNAME "<our ufrag>:<its ufrag>", MESSAGE-INTEGRITY keyed
// with our password, PRIORITY, ICE-CONTROLLING and USE-CANDIDATE; plus a
// reader of the answer's type and ERROR-CODE. Pair with DtlsTestClient
// (dtls_test_support.hpp) for the DTLS-SRTP side.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "webrtc/stun_client.hpp"

namespace chorus::webrtc::testing {

// webrtc::StunClient (the library chorus-load uses too), speaking vectors.
class StunClient {
 public:
  // A check for "<local_ufrag>:<remote_ufrag>" keyed with `pwd` ("local":
  // the lite agent under test).
  std::vector<uint8_t> check(const std::string& local_ufrag, const std::string& remote_ufrag,
                             const std::string& pwd, bool use_candidate = true) {
    std::array<uint8_t, 1024> buf{};
    const size_t n = client_.check(buf, local_ufrag + ":" + remote_ufrag, pwd, use_candidate,
                                   0x6E7F1EFF, nullptr);
    return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)};
  }

 private:
  webrtc::StunClient client_;
};

// STUN message type (RFC 5389 §6): 0x0101 Binding success, 0x0111 error.
inline uint16_t stun_type(const std::vector<uint8_t>& d) {
  return webrtc::stun_message_type(d);
}

// The ERROR-CODE attribute's code (RFC 5389 §15.6), 0 without one.
inline int stun_error_code(const std::vector<uint8_t>& d) {
  return webrtc::stun_error_code(std::span<const uint8_t>(d));
}

}  // namespace chorus::webrtc::testing
