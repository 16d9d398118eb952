#pragma once
// The browser's ICE side for tests against a WebRTC stream: libnice's STUN
// agent as a full, controlling agent (RFC 8445 §7.2.2) building Binding
// requests with USERNAME "<our ufrag>:<its ufrag>", MESSAGE-INTEGRITY keyed
// with our password, PRIORITY, ICE-CONTROLLING and USE-CANDIDATE; plus a
// reader of the answer's type and ERROR-CODE; and CheckAnswerer, the
// browser's answers to the stream's own checks. Pair with DtlsTestClient
// (dtls_test_support.hpp) for the DTLS-SRTP side.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "webrtc/stun_client.hpp"
#include "webrtc/stun_responder.hpp"

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

// The browser's side of the stream's return-routability checks (RFC 7675,
// webrtc/check_sender.hpp): Chromium answers a lite agent's Binding requests
// as the full, controlling agent, signing with its own ice-pwd. A
// StunResponder with the browser's credentials and the controlling role
// does the same. A stand-in that does not answer (a spoofed victim address)
// never receives the member's media.
class CheckAnswerer {
 public:
  // `browser_ufrag`/`browser_pwd`: the stand-in's own (the stream's
  // remote_ufrag/remote_pwd); `server_ufrag`: the stream's local ufrag.
  CheckAnswerer(std::string_view browser_ufrag, std::string_view browser_pwd,
                std::string_view server_ufrag)
      : responder_(browser_ufrag, browser_pwd, server_ufrag,
                   webrtc::StunResponder::Role::kControlling) {}

  static bool is_request(std::span<const uint8_t> d) {
    return webrtc::stun_message_type(d) == webrtc::kStunBindingRequest;
  }
  // The answer to a Binding request from `from` (the stream); empty for
  // anything else or a check that is not ours.
  std::vector<uint8_t> answer(std::span<const uint8_t> datagram, const sockaddr_storage& from,
                              socklen_t from_len) {
    if (!is_request(datagram)) return {};
    std::vector<uint8_t> out(webrtc::StunResponder::kMaxResponse);
    const webrtc::StunResult r = responder_.on_request(datagram, from, from_len, out);
    if (!r.valid()) return {};
    ++answered_;
    out.resize(r.response_size);
    return out;
  }
  uint64_t answered() const { return answered_; }
  const webrtc::StunCounters& counters() const { return responder_.counters(); }

 private:
  webrtc::StunResponder responder_;
  uint64_t answered_ = 0;
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
