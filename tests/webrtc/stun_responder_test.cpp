// ICE-lite connectivity checks (RFC 8445 §7.3) built by libnice's agent acting
// as the browser, answered by StunResponder, and the answers parsed back with
// libnice: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY keyed with the local
// password, FINGERPRINT; 401 for bad integrity or an unknown USERNAME.
#include "webrtc/stun_responder.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <array>
#include <cstring>
#include <string>

#include "webrtc/consent_timer.hpp"
#include "webrtc/demux.hpp"

namespace chorus::webrtc {
namespace {

const char kLocalUfrag[] = "ChRs";
const char kLocalPwd[] = "chorus-local-password-0123";
const char kRemoteUfrag[] = "BrWs";

const uint16_t kClientKnown[] = {STUN_ATTRIBUTE_USERNAME,
                                 STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
                                 STUN_ATTRIBUTE_ERROR_CODE,
                                 STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                 STUN_ATTRIBUTE_FINGERPRINT,
                                 STUN_ATTRIBUTE_PRIORITY,
                                 STUN_ATTRIBUTE_USE_CANDIDATE,
                                 STUN_ATTRIBUTE_ICE_CONTROLLING,
                                 STUN_ATTRIBUTE_ICE_CONTROLLED,
                                 STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
                                 0};

sockaddr_storage browser_address(socklen_t& len) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  in->sin_port = htons(51234);
  inet_pton(AF_INET, "127.0.0.9", &in->sin_addr);
  len = sizeof(sockaddr_in);
  return ss;
}

// The browser: a full, controlling agent (RFC 8445 §7.2.2).
struct Browser {
  StunAgent agent;
  StunMessage request;
  std::array<uint8_t, 1024> buf{};
  std::string password;  // the agent keeps a pointer to it until the response
  Browser() {
    stun_agent_init(&agent, kClientKnown, STUN_COMPATIBILITY_RFC5389,
                    static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                     STUN_AGENT_USAGE_USE_FINGERPRINT));
  }
  std::span<const uint8_t> check(const std::string& username, const std::string& pwd,
                                 bool use_candidate = false, bool controlling = true) {
    password = pwd;
    const size_t n = stun_usage_ice_conncheck_create(
        &agent, &request, buf.data(), buf.size(), reinterpret_cast<const uint8_t*>(username.data()),
        username.size(), reinterpret_cast<const uint8_t*>(password.data()), password.size(),
        use_candidate, controlling, 0x6E7F1EFF, 0x1234567890ABCDEFull, nullptr,
        STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    EXPECT_GT(n, 0u);
    return {buf.data(), n};
  }
};

std::string username() {
  return std::string(kLocalUfrag) + ":" + kRemoteUfrag;
}

TEST(StunResponder, ValidCheckGetsSuccessWithXorMappedAddressIntegrityAndFingerprint) {
  StunResponder responder(kLocalUfrag, kLocalPwd, kRemoteUfrag);
  Browser browser;
  const auto req = browser.check(username(), kLocalPwd, /*use_candidate=*/true);
  EXPECT_EQ(classify(req), PacketKind::kStun);

  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  const StunResult r = responder.on_request(req, from, from_len, out);
  ASSERT_EQ(r.outcome, StunOutcome::kSuccess);
  EXPECT_TRUE(r.valid());
  EXPECT_TRUE(r.use_candidate);
  EXPECT_EQ(r.priority, 0x6E7F1EFFu);
  ASSERT_GT(r.response_size, 0u);
  EXPECT_EQ(responder.counters().success, 1u);

  // The browser validates the response: same transaction, MESSAGE-INTEGRITY
  // with the password it used (the agent remembers it), FINGERPRINT.
  StunMessage response;
  ASSERT_EQ(
      stun_agent_validate(&browser.agent, &response, out.data(), r.response_size, nullptr, nullptr),
      STUN_VALIDATION_SUCCESS);
  EXPECT_EQ(stun_message_get_class(&response), STUN_RESPONSE);
  EXPECT_TRUE(stun_message_has_attribute(&response, STUN_ATTRIBUTE_MESSAGE_INTEGRITY));
  EXPECT_TRUE(stun_message_has_attribute(&response, STUN_ATTRIBUTE_FINGERPRINT));
  sockaddr_storage mapped{};
  socklen_t mapped_len = sizeof(mapped);
  ASSERT_EQ(stun_usage_ice_conncheck_process(&response, &mapped, &mapped_len,
                                             STUN_USAGE_ICE_COMPATIBILITY_RFC5245),
            STUN_USAGE_ICE_RETURN_SUCCESS);
  EXPECT_TRUE(stun_message_has_attribute(&response, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS));
  const auto* m = reinterpret_cast<const sockaddr_in*>(&mapped);
  const auto* f = reinterpret_cast<const sockaddr_in*>(&from);
  EXPECT_EQ(m->sin_family, AF_INET);
  EXPECT_EQ(m->sin_port, f->sin_port);
  EXPECT_EQ(m->sin_addr.s_addr, f->sin_addr.s_addr);
}

TEST(StunResponder, Ipv6SourceIsReflectedInXorMappedAddress) {
  StunResponder responder(kLocalUfrag, kLocalPwd, kRemoteUfrag);
  Browser browser;
  const auto req = browser.check(username(), kLocalPwd);
  sockaddr_storage from{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&from);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(61000);
  inet_pton(AF_INET6, "2001:db8::42", &in6->sin6_addr);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  const StunResult r = responder.on_request(req, from, sizeof(sockaddr_in6), out);
  ASSERT_TRUE(r.valid());
  StunMessage response;
  ASSERT_EQ(
      stun_agent_validate(&browser.agent, &response, out.data(), r.response_size, nullptr, nullptr),
      STUN_VALIDATION_SUCCESS);
  sockaddr_storage mapped{};
  socklen_t mapped_len = sizeof(mapped);
  ASSERT_EQ(stun_usage_ice_conncheck_process(&response, &mapped, &mapped_len,
                                             STUN_USAGE_ICE_COMPATIBILITY_RFC5245),
            STUN_USAGE_ICE_RETURN_SUCCESS);
  const auto* m6 = reinterpret_cast<const sockaddr_in6*>(&mapped);
  EXPECT_EQ(m6->sin6_family, AF_INET6);
  EXPECT_EQ(m6->sin6_port, in6->sin6_port);
  EXPECT_EQ(std::memcmp(&m6->sin6_addr, &in6->sin6_addr, 16), 0);
}

TEST(StunResponder, ResponseIntegrityIsKeyedWithTheLocalPassword) {
  // A browser agent that signed with a different password cannot validate the
  // answer: MESSAGE-INTEGRITY is keyed with the local pwd, not copied.
  StunResponder responder(kLocalUfrag, kLocalPwd, kRemoteUfrag);
  Browser browser;
  const auto req = browser.check(username(), kLocalPwd);
  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  const StunResult r = responder.on_request(req, from, from_len, out);
  ASSERT_TRUE(r.valid());
  // Flip one byte of the response's MESSAGE-INTEGRITY region: the browser refuses it.
  std::array<uint8_t, StunResponder::kMaxResponse> tampered = out;
  tampered[r.response_size - 8 - 5] ^= 0x01;  // inside the HMAC (before FINGERPRINT)
  StunMessage response;
  EXPECT_NE(stun_agent_validate(&browser.agent, &response, tampered.data(), r.response_size,
                                nullptr, nullptr),
            STUN_VALIDATION_SUCCESS);
}

// RFC 5389 §10.1.2: MESSAGE-INTEGRITY that does not verify → 401.
TEST(StunResponder, BadMessageIntegrityIsAnswered401AndCounted) {
  StunResponder responder(kLocalUfrag, kLocalPwd, kRemoteUfrag);
  Browser browser;
  const auto req = browser.check(username(), "not-the-password-at-all!!");
  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  const StunResult r = responder.on_request(req, from, from_len, out);
  EXPECT_EQ(r.outcome, StunOutcome::kBadIntegrity);
  EXPECT_FALSE(r.valid());
  ASSERT_GT(r.response_size, 0u);
  EXPECT_EQ(responder.counters().bad_integrity, 1u);
  EXPECT_EQ(responder.counters().success, 0u);

  // An error response without MESSAGE-INTEGRITY (libnice accepts 401s unsigned).
  StunMessage response;
  ASSERT_EQ(
      stun_agent_validate(&browser.agent, &response, out.data(), r.response_size, nullptr, nullptr),
      STUN_VALIDATION_SUCCESS);
  EXPECT_EQ(stun_message_get_class(&response), STUN_ERROR);
  int code = 0;
  ASSERT_EQ(stun_message_find_error(&response, &code), STUN_MESSAGE_RETURN_SUCCESS);
  EXPECT_EQ(code, 401);
  EXPECT_FALSE(stun_message_has_attribute(&response, STUN_ATTRIBUTE_MESSAGE_INTEGRITY));
}

// RFC 5389 §10.1.2: a USERNAME not valid on this server → 401.
TEST(StunResponder, UnknownUsernameIsAnswered401AndCounted) {
  StunResponder responder(kLocalUfrag, kLocalPwd, kRemoteUfrag);
  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  for (const std::string user : {"XXXX:BrWs", "ChRs:Other", "ChRs", "ChRsX:BrWs"}) {
    SCOPED_TRACE(user);
    Browser browser;
    const auto req = browser.check(user, kLocalPwd);
    std::array<uint8_t, StunResponder::kMaxResponse> out{};
    const StunResult r = responder.on_request(req, from, from_len, out);
    EXPECT_EQ(r.outcome, StunOutcome::kUnknownUsername);
    StunMessage response;
    ASSERT_EQ(stun_agent_validate(&browser.agent, &response, out.data(), r.response_size, nullptr,
                                  nullptr),
              STUN_VALIDATION_SUCCESS);
    int code = 0;
    ASSERT_EQ(stun_message_find_error(&response, &code), STUN_MESSAGE_RETURN_SUCCESS);
    EXPECT_EQ(code, 401);
  }
  EXPECT_EQ(responder.counters().unknown_username, 4u);
}

// RFC 8839 §5.4: ufrags up to 256 characters; the answer echoes both.
TEST(StunResponder, LongestCredentialsStillFitTheResponseBuffer) {
  const std::string local(256, 'L');
  const std::string remote(256, 'R');
  const std::string pwd(256, 'p');
  StunResponder responder(local, pwd, remote);
  Browser browser;
  const auto req = browser.check(local + ":" + remote, pwd);
  sockaddr_storage from{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&from);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(1);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  const StunResult r = responder.on_request(req, from, sizeof(sockaddr_in6), out);
  EXPECT_TRUE(r.valid());
  EXPECT_GT(r.response_size, 576u);
  EXPECT_EQ(responder.counters().no_room, 0u);
}

TEST(StunResponder, RemoteUfragNotYetKnownAcceptsAnyRemotePart) {
  StunResponder responder(kLocalUfrag, kLocalPwd, "");
  Browser browser;
  const auto req = browser.check("ChRs:whatever", kLocalPwd);
  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  EXPECT_TRUE(responder.on_request(req, from, from_len, out).valid());
}

// RFC 8445 §7.3.1.1: we are controlled; a peer claiming controlled too gets 487.
TEST(StunResponder, PeerClaimingControlledGetsRoleConflict487) {
  StunResponder responder(kLocalUfrag, kLocalPwd, kRemoteUfrag);
  Browser browser;
  const auto req = browser.check(username(), kLocalPwd, false, /*controlling=*/false);
  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  const StunResult r = responder.on_request(req, from, from_len, out);
  EXPECT_EQ(r.outcome, StunOutcome::kRoleConflict);
  StunMessage response;
  ASSERT_EQ(
      stun_agent_validate(&browser.agent, &response, out.data(), r.response_size, nullptr, nullptr),
      STUN_VALIDATION_SUCCESS);
  int code = 0;
  ASSERT_EQ(stun_message_find_error(&response, &code), STUN_MESSAGE_RETURN_SUCCESS);
  EXPECT_EQ(code, 487);
}

TEST(StunResponder, NonStunAndCorruptFingerprintAreDroppedSilently) {
  StunResponder responder(kLocalUfrag, kLocalPwd, kRemoteUfrag);
  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  const std::array<uint8_t, 24> junk{0x00, 0x01, 0x00, 0x04, 1, 2, 3, 4};
  EXPECT_EQ(responder.on_request(junk, from, from_len, out).outcome, StunOutcome::kMalformed);

  Browser browser;
  auto req = browser.check(username(), kLocalPwd);
  std::array<uint8_t, 1024> copy{};
  std::memcpy(copy.data(), req.data(), req.size());
  copy[req.size() - 1] ^= 0xFF;  // FINGERPRINT's CRC
  const StunResult r = responder.on_request({copy.data(), req.size()}, from, from_len, out);
  EXPECT_EQ(r.outcome, StunOutcome::kMalformed);
  EXPECT_EQ(r.response_size, 0u);
  EXPECT_EQ(responder.counters().malformed, 2u);
}

// RFC 5769 §2.1: the sample request (username "evtj:h6vY", password
// "VOkJxbRl1RmTxUk/WvJxBt"), built by another implementation, is valid.
TEST(StunResponder, Rfc5769SampleRequestIsAnswered) {
  const uint8_t sample[] = {0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
                            0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
                            0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c,
                            0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
                            0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
                            0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
                            0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
                            0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
                            0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};
  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  // The sample's request carries ICE-CONTROLLED (0x8029): it is the
  // controlled side, so we answer 487 — but only after authenticating it.
  StunResponder responder("evtj", "VOkJxbRl1RmTxUk/WvJxBt", "h6vY");
  EXPECT_EQ(responder.on_request(sample, from, from_len, out).outcome, StunOutcome::kRoleConflict);
  StunResponder wrong_pwd("evtj", "VOkJxbRl1RmTxUk/WvJxBx", "h6vY");
  EXPECT_EQ(wrong_pwd.on_request(sample, from, from_len, out).outcome, StunOutcome::kBadIntegrity);
}

// A Binding request assembled attribute by attribute, signed with `key`
// (none: no MESSAGE-INTEGRITY), with an optional unknown comprehension-
// required attribute (0x0033).
std::span<const uint8_t> handmade(Browser& b, const std::string& user, const char* key,
                                  bool unknown_attribute) {
  StunMessage& m = b.request;
  EXPECT_TRUE(stun_agent_init_request(&b.agent, &m, b.buf.data(), b.buf.size(), STUN_BINDING));
  if (!user.empty()) {
    EXPECT_EQ(stun_message_append_bytes(&m, STUN_ATTRIBUTE_USERNAME, user.data(), user.size()),
              STUN_MESSAGE_RETURN_SUCCESS);
  }
  if (unknown_attribute) {
    EXPECT_EQ(stun_message_append32(&m, static_cast<StunAttribute>(0x0033), 7),
              STUN_MESSAGE_RETURN_SUCCESS);
  }
  const size_t n = key == nullptr
                       ? stun_agent_finish_message(&b.agent, &m, nullptr, 0)
                       : stun_agent_finish_message(
                             &b.agent, &m, reinterpret_cast<const uint8_t*>(key), std::strlen(key));
  EXPECT_GT(n, 0u);
  return {b.buf.data(), n};
}

// The answer's ERROR-CODE (RFC 5389 §15.6) and whether it carries
// MESSAGE-INTEGRITY, read from the bytes.
struct RawAnswer {
  int code = 0;
  bool integrity = false;
};
RawAnswer read_raw(std::span<const uint8_t> a) {
  RawAnswer out;
  for (size_t at = 20; at + 4 <= a.size();) {
    const int type = a[at] << 8 | a[at + 1];
    const size_t len = static_cast<size_t>(a[at + 2] << 8 | a[at + 3]);
    if (type == STUN_ATTRIBUTE_ERROR_CODE && len >= 4) out.code = a[at + 6] * 100 + a[at + 7];
    if (type == STUN_ATTRIBUTE_MESSAGE_INTEGRITY) out.integrity = true;
    at += 4 + ((len + 3) & ~size_t{3});
  }
  return out;
}

// RFC 5389 §10.1.2 before §7.3.1: no USERNAME or no MESSAGE-INTEGRITY is
// 400; an unknown comprehension-required attribute is answered 420 only once
// the request is authenticated (a stranger learns nothing from it), and that
// 420 is signed with the local password.
TEST(StunResponder, MissingCredentialsAre400AndUnknownAttributesWaitForAuthentication) {
  StunResponder responder(kLocalUfrag, kLocalPwd, kRemoteUfrag);
  socklen_t from_len = 0;
  const sockaddr_storage from = browser_address(from_len);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  {
    Browser b;
    const StunResult r =
        responder.on_request(handmade(b, username(), nullptr, false), from, from_len, out);
    EXPECT_EQ(r.outcome, StunOutcome::kBadRequest);
    EXPECT_EQ(read_raw({out.data(), r.response_size}).code, 400);
  }
  {
    Browser b;
    const StunResult r =
        responder.on_request(handmade(b, "", kLocalPwd, false), from, from_len, out);
    EXPECT_EQ(r.outcome, StunOutcome::kBadRequest);
  }
  {
    Browser b;
    const StunResult r = responder.on_request(
        handmade(b, username(), "not-the-password-at-all!!", true), from, from_len, out);
    EXPECT_EQ(r.outcome, StunOutcome::kBadIntegrity);
    EXPECT_EQ(read_raw({out.data(), r.response_size}).code, 401);
    EXPECT_FALSE(read_raw({out.data(), r.response_size}).integrity);
  }
  {
    Browser b;
    b.password = kLocalPwd;
    const StunResult r =
        responder.on_request(handmade(b, username(), kLocalPwd, true), from, from_len, out);
    EXPECT_EQ(r.outcome, StunOutcome::kUnknownAttribute);
    ASSERT_GT(r.response_size, 0u);
    EXPECT_EQ(read_raw({out.data(), r.response_size}).code, 420);
    EXPECT_TRUE(read_raw({out.data(), r.response_size}).integrity);
    // The browser's agent checks that MESSAGE-INTEGRITY with its password.
    StunMessage response;
    ASSERT_EQ(
        stun_agent_validate(&b.agent, &response, out.data(), r.response_size, nullptr, nullptr),
        STUN_VALIDATION_SUCCESS);
  }
  EXPECT_EQ(responder.counters().bad_request, 2u);
  EXPECT_EQ(responder.counters().bad_integrity, 1u);
  EXPECT_EQ(responder.counters().unknown_attribute, 1u);
}

TEST(ConsentTimer, ExpiresThirtySecondsAfterTheLastAnswerToOurCheck) {
  using namespace std::chrono;
  const auto t0 = steady_clock::time_point{} + hours(1);
  ConsentTimer consent(t0);
  EXPECT_FALSE(consent.expired(t0 + seconds(29)));
  consent.answered(t0 + seconds(20));
  EXPECT_FALSE(consent.expired(t0 + seconds(49)));
  EXPECT_TRUE(consent.expired(t0 + seconds(50)));
  consent.answered(t0 + seconds(10));  // older than the last: ignored
  EXPECT_EQ(consent.last_answer(), t0 + seconds(20));
  EXPECT_EQ(consent.deadline(), t0 + seconds(50));
}

// RFC 7675: a check or SRTP claiming the latched address can be forged by
// the member itself; only an answer to our own check grants consent.
TEST(ConsentTimer, SignsOfLifeWithoutAnswersDoNotKeepConsent) {
  using namespace std::chrono;
  const auto t0 = steady_clock::time_point{} + hours(1);
  ConsentTimer consent(t0);
  for (int s = 5; s <= 40; s += 5) consent.refresh(t0 + seconds(s));
  EXPECT_EQ(consent.last_refresh(), t0 + seconds(40));
  EXPECT_TRUE(consent.expired(t0 + seconds(30)));
}

}  // namespace
}  // namespace chorus::webrtc

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
