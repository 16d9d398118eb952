// libFuzzer target for what webrtc/ reads off a media socket before DTLS:
// the RFC 7983 demux and the ICE-lite STUN responder (libnice's STUN
// library underneath), plus the SDP fingerprint value it is keyed with.
//
// The first input byte picks the path:
//   0: the rest is a datagram, answered as received
//   1: the rest is a list of attributes (type: 2 bytes, length: 1 byte, value),
//      put in a Binding request signed with the right password (USERNAME and
//      MESSAGE-INTEGRITY valid, FINGERPRINT added), so the fuzzer reaches the
//      reply path behind authentication
//   2: the rest is an a=fingerprint value
// Properties: nothing crashes; an answer fits the buffer and is STUN again;
// a valid check carries no more than the responder's buffer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "webrtc/demux.hpp"
#include "webrtc/dtls_certificate.hpp"
#include "webrtc/stun_responder.hpp"

namespace {

using namespace chorus::webrtc;

constexpr std::string_view kUfrag = "ChRs";
constexpr std::string_view kPwd = "chorus-local-password-0123";
constexpr std::string_view kUser = "ChRs:BrWs";

volatile uint32_t g_sink = 0;

void answer(std::span<const uint8_t> datagram, bool ipv6) {
  static StunResponder responder(kUfrag, kPwd, "BrWs");
  sockaddr_storage from{};
  socklen_t len = 0;
  if (ipv6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&from);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(5004);
    inet_pton(AF_INET6, "2001:db8::7", &in6->sin6_addr);
    len = sizeof(sockaddr_in6);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&from);
    in->sin_family = AF_INET;
    in->sin_port = htons(5004);
    inet_pton(AF_INET, "192.0.2.7", &in->sin_addr);
    len = sizeof(sockaddr_in);
  }
  g_sink = g_sink + static_cast<uint32_t>(classify(datagram));
  std::array<uint8_t, StunResponder::kMaxResponse> out;
  const StunResult r = responder.on_request(datagram, from, len, out);
  if (r.response_size > out.size()) __builtin_trap();
  if (r.response_size > 0) {
    if (classify(std::span(out).first(r.response_size)) != PacketKind::kStun) __builtin_trap();
    for (size_t i = 0; i < r.response_size; ++i) g_sink = g_sink + out[i];
  }
  g_sink = g_sink + r.priority + r.use_candidate;
}

void signed_request(std::span<const uint8_t> attributes) {
  static const uint16_t kKnown[] = {STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY, 0};
  StunAgent agent;
  stun_agent_init(&agent, kKnown, STUN_COMPATIBILITY_RFC5389,
                  static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                   STUN_AGENT_USAGE_USE_FINGERPRINT));
  std::array<uint8_t, 1500> buf;
  StunMessage msg;
  if (!stun_agent_init_request(&agent, &msg, buf.data(), buf.size(), STUN_BINDING)) return;
  size_t pos = 0;
  while (pos + 3 <= attributes.size()) {
    const auto type = static_cast<uint16_t>(attributes[pos] << 8 | attributes[pos + 1]);
    const size_t n = std::min<size_t>(attributes[pos + 2], attributes.size() - pos - 3);
    // Never let the input add its own integrity or fingerprint: those are ours.
    if (type != STUN_ATTRIBUTE_MESSAGE_INTEGRITY && type != STUN_ATTRIBUTE_FINGERPRINT) {
      if (stun_message_append_bytes(&msg, static_cast<StunAttribute>(type),
                                    attributes.data() + pos + 3,
                                    n) != STUN_MESSAGE_RETURN_SUCCESS) {
        return;
      }
    }
    pos += 3 + n;
  }
  if (stun_message_append_bytes(&msg, STUN_ATTRIBUTE_USERNAME, kUser.data(), kUser.size()) !=
      STUN_MESSAGE_RETURN_SUCCESS) {
    return;
  }
  const size_t len = stun_agent_finish_message(
      &agent, &msg, reinterpret_cast<const uint8_t*>(kPwd.data()), kPwd.size());
  if (len == 0) return;
  answer({buf.data(), len}, (attributes.empty() ? 0 : attributes[0]) & 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> input(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      answer(input, data[0] & 0x80);
      break;
    case 1:
      signed_request(input);
      break;
    case 2: {
      const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
      if (const auto f = Fingerprint::parse(text)) {
        if (Fingerprint::parse(f->to_sdp()) != f) __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
