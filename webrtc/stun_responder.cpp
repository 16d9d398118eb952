#include "webrtc/stun_responder.hpp"

#include <nettle/memops.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace chorus::webrtc {

namespace {

// Attributes a Binding request may carry that we understand (RFC 5389 §15,
// RFC 8445 §16.1). Comprehension-optional ones (0x8000–0xFFFF: FINGERPRINT,
// ICE-CONTROLLING, Chrome's GOOG-NETWORK-INFO, ...) never trigger 420.
const uint16_t kKnownAttributes[] = {
    STUN_ATTRIBUTE_USERNAME,       STUN_ATTRIBUTE_MESSAGE_INTEGRITY, STUN_ATTRIBUTE_ERROR_CODE,
    STUN_ATTRIBUTE_PRIORITY,       STUN_ATTRIBUTE_USE_CANDIDATE,     STUN_ATTRIBUTE_FINGERPRINT,
    STUN_ATTRIBUTE_ICE_CONTROLLED, STUN_ATTRIBUTE_ICE_CONTROLLING,   0};

// The agent holds no state for a responder: its saved transaction ids are
// only written when it sends requests, which a lite agent never does. One per
// thread, so members cost no 11 KB agent each. It decodes, checks the
// FINGERPRINT and builds answers, but ignores credentials: libnice's own
// HMAC-SHA1 goes through GnuTLS's gnutls_hmac_init, which mallocs on every
// MESSAGE-INTEGRITY, so the responder checks and signs with nettle's
// HMAC-SHA1 on a context keyed once per password (no allocation).
StunAgent& thread_agent() {
  thread_local StunAgent agent = [] {
    StunAgent a;
    stun_agent_init(&a, kKnownAttributes, STUN_COMPATIBILITY_RFC5389,
                    static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                     STUN_AGENT_USAGE_USE_FINGERPRINT |
                                                     STUN_AGENT_USAGE_IGNORE_CREDENTIALS));
    return a;
  }();
  return agent;
}

constexpr size_t kHeader = 20;
constexpr size_t kIntegrityAttribute = 4 + SHA1_DIGEST_SIZE;  // RFC 5389 §15.4
constexpr size_t kFingerprintAttribute = 8;                   // RFC 5389 §15.5
constexpr uint32_t kFingerprintXor = 0x5354554e;

void put16(uint8_t* p, size_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// A lite agent stays controlled: with the smallest tie-breaker, a peer that
// also claims ICE-CONTROLLED gets 487 and takes the controlling role
// (RFC 8445 §7.3.1.1, controlled agent: "less than ... 487"; libnice 0.1.21
// reports both outcomes as STUN_USAGE_ICE_RETURN_ROLE_CONFLICT).
constexpr uint64_t kTieBreaker = 0;

}  // namespace

std::string_view stun_local_ufrag(std::span<const uint8_t> d) {
  constexpr size_t kHeader = 20;
  if (d.size() < kHeader || d[0] != 0x00 || d[1] != 0x01) return {};  // Binding request
  if (d[4] != 0x21 || d[5] != 0x12 || d[6] != 0xA4 || d[7] != 0x42) return {};
  const size_t length = static_cast<size_t>(d[2] << 8 | d[3]);
  const size_t end = std::min(d.size(), kHeader + length);
  size_t at = kHeader;
  for (int i = 0; i < 64 && at + 4 <= end; ++i) {
    const uint16_t type = static_cast<uint16_t>(d[at] << 8 | d[at + 1]);
    const size_t len = static_cast<size_t>(d[at + 2] << 8 | d[at + 3]);
    if (at + 4 + len > end) return {};
    if (type == STUN_ATTRIBUTE_USERNAME) {
      const auto* name = reinterpret_cast<const char*>(d.data() + at + 4);
      const std::string_view username(name, len);
      const size_t colon = username.find(':');
      return colon == std::string_view::npos ? std::string_view{} : username.substr(0, colon);
    }
    at += 4 + ((len + 3) & ~size_t{3});
  }
  return {};
}

void StunResponder::Credential::assign(std::string_view s) {
  size = static_cast<uint16_t>(std::min(s.size(), bytes.size()));
  std::memcpy(bytes.data(), s.data(), size);
}

StunResponder::StunResponder(std::string_view local_ufrag, std::string_view local_pwd,
                             std::string_view remote_ufrag, Role role)
    : role_(role) {
  set_credentials(local_ufrag, local_pwd, remote_ufrag);
}

void StunResponder::set_credentials(std::string_view local_ufrag, std::string_view local_pwd,
                                    std::string_view remote_ufrag) {
  local_ufrag_.assign(local_ufrag);
  local_pwd_.assign(local_pwd);
  remote_ufrag_.assign(remote_ufrag);
  hmac_sha1_set_key(&keyed_, local_pwd_.size, local_pwd_.bytes.data());
}

// RFC 5389 §15.4: HMAC-SHA1 over the message up to the MESSAGE-INTEGRITY
// attribute, the header's length counting that attribute as the last one.
void StunResponder::integrity(std::span<const uint8_t> message, size_t at,
                              uint8_t (&mac)[SHA1_DIGEST_SIZE]) const {
  std::array<uint8_t, kHeader> header;
  std::memcpy(header.data(), message.data(), kHeader);
  put16(header.data() + 2, at + kIntegrityAttribute - kHeader);
  hmac_sha1_ctx ctx = keyed_;
  hmac_sha1_update(&ctx, kHeader, header.data());
  hmac_sha1_update(&ctx, at - kHeader, message.data() + kHeader);
  hmac_sha1_digest(&ctx, SHA1_DIGEST_SIZE, mac);
}

// The request's MESSAGE-INTEGRITY against the local password; constant time.
bool StunResponder::integrity_matches(const StunMessage& request) const {
  uint16_t len = 0;
  const auto* value = static_cast<const uint8_t*>(
      stun_message_find(&request, STUN_ATTRIBUTE_MESSAGE_INTEGRITY, &len));
  if (value == nullptr || len != SHA1_DIGEST_SIZE) return false;
  const std::span<const uint8_t> message(request.buffer, request.buffer_len);
  const auto at = static_cast<size_t>(value - 4 - request.buffer);
  uint8_t mac[SHA1_DIGEST_SIZE];
  integrity(message, at, mac);
  return memeql_sec(mac, value, SHA1_DIGEST_SIZE) != 0;
}

// libnice finished the answer with FINGERPRINT only (it ignores credentials):
// put MESSAGE-INTEGRITY keyed with the local password before it (RFC 5389
// §10.1.2) and compute the FINGERPRINT again over the signed message. The
// new size, or 0 when `out` has no room.
size_t StunResponder::sign(std::span<uint8_t> out, size_t size) const {
  if (size < kHeader + kFingerprintAttribute) return 0;
  const size_t at = size - kFingerprintAttribute;
  if (out[at] != 0x80 || out[at + 1] != 0x28) return 0;  // not ending in FINGERPRINT
  const size_t end = at + kIntegrityAttribute + kFingerprintAttribute;
  if (end > out.size()) return 0;
  uint8_t mac[SHA1_DIGEST_SIZE];
  integrity(out, at, mac);
  put16(out.data() + at, STUN_ATTRIBUTE_MESSAGE_INTEGRITY);
  put16(out.data() + at + 2, SHA1_DIGEST_SIZE);
  std::memcpy(out.data() + at + 4, mac, SHA1_DIGEST_SIZE);
  const size_t fp = at + kIntegrityAttribute;
  put16(out.data() + 2, end - kHeader);
  const uint32_t crc =
      static_cast<uint32_t>(crc32(0, out.data(), static_cast<uInt>(fp))) ^ kFingerprintXor;
  put16(out.data() + fp, STUN_ATTRIBUTE_FINGERPRINT);
  put16(out.data() + fp + 2, 4);
  put16(out.data() + fp + 4, crc >> 16);
  put16(out.data() + fp + 6, crc & 0xFFFF);
  return end;
}

namespace {

// USERNAME "<ufrag>:<ufrag>" with both parts the same (RFC 8445 §7.2.2 names
// two agents, whose ufrags differ).
bool halves_equal(std::span<const uint8_t> username) {
  if (username.size() % 2 == 0) return false;
  const size_t half = username.size() / 2;
  return username[half] == ':' &&
         std::equal(username.begin(), username.begin() + static_cast<std::ptrdiff_t>(half),
                    username.begin() + static_cast<std::ptrdiff_t>(half) + 1);
}

}  // namespace

// RFC 8445 §7.3: USERNAME = "<our ufrag>:<their ufrag>".
bool StunResponder::username_matches(std::span<const uint8_t> username) const {
  const auto local = local_ufrag_.view();
  if (username.size() <= local.size() || username[local.size()] != ':') return false;
  if (!std::equal(local.begin(), local.end(), username.begin())) return false;
  const auto remote = username.subspan(local.size() + 1);
  if (remote_ufrag_.size == 0) return true;
  return std::ranges::equal(remote, remote_ufrag_.view());
}

StunResult StunResponder::finish(StunOutcome outcome, size_t size) {
  switch (outcome) {
    case StunOutcome::kSuccess:
      ++counters_.success;
      break;
    case StunOutcome::kBadIntegrity:
      ++counters_.bad_integrity;
      break;
    case StunOutcome::kUnknownUsername:
      ++counters_.unknown_username;
      break;
    case StunOutcome::kBadRequest:
      ++counters_.bad_request;
      break;
    case StunOutcome::kUnknownAttribute:
      ++counters_.unknown_attribute;
      break;
    case StunOutcome::kRoleConflict:
      ++counters_.role_conflict;
      break;
    case StunOutcome::kIgnored:
      ++counters_.ignored;
      break;
    case StunOutcome::kMalformed:
      ++counters_.malformed;
      break;
  }
  StunResult r;
  r.outcome = outcome;
  r.response_size = size;
  return r;
}

StunResult StunResponder::on_request(std::span<const uint8_t> datagram,
                                     const sockaddr_storage& from, socklen_t from_len,
                                     std::span<uint8_t> out) {
  StunAgent& agent = thread_agent();
  StunMessage request;
  StunMessage response;
  const StunValidationStatus status =
      stun_agent_validate(&agent, &request, datagram.data(), datagram.size(), nullptr, nullptr);

  // Builds an error response to `request` without MESSAGE-INTEGRITY (the
  // request was not authenticated, RFC 5389 §10.1.2) but with FINGERPRINT.
  auto error = [&](StunOutcome outcome, StunError code) {
    if (!stun_agent_init_error(&agent, &response, out.data(), out.size(), &request, code)) {
      ++counters_.no_room;
      return finish(outcome, 0);
    }
    const size_t n = stun_agent_finish_message(&agent, &response, nullptr, 0);
    if (n == 0) ++counters_.no_room;
    return finish(outcome, n);
  };
  // An answer to an authenticated request carries MESSAGE-INTEGRITY.
  auto signed_answer = [&](StunOutcome outcome, size_t n) {
    const size_t size = n == 0 ? 0 : sign(out, n);
    if (size == 0) {
      ++counters_.no_room;
      return finish(outcome, 0);
    }
    return finish(outcome, size);
  };

  switch (status) {
    case STUN_VALIDATION_SUCCESS:
    case STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE:
      break;
    case STUN_VALIDATION_NOT_STUN:
    case STUN_VALIDATION_INCOMPLETE_STUN:
    case STUN_VALIDATION_BAD_REQUEST:  // no cookie, bad or missing FINGERPRINT (§7.3)
      return finish(StunOutcome::kMalformed, 0);
    case STUN_VALIDATION_UNMATCHED_RESPONSE:
      return finish(StunOutcome::kIgnored, 0);
    default:
      return finish(StunOutcome::kMalformed, 0);
  }
  // From here `request` is a parsed STUN message.
  if (stun_message_get_class(&request) != STUN_REQUEST) return finish(StunOutcome::kIgnored, 0);

  // RFC 5389 §10.1.2, in its order: USERNAME and MESSAGE-INTEGRITY present
  // (400), USERNAME ours (401), MESSAGE-INTEGRITY right (401); only then
  // unknown attributes (§7.3.1: 420, signed).
  uint16_t username_len = 0;
  const auto* username = static_cast<const uint8_t*>(
      stun_message_find(&request, STUN_ATTRIBUTE_USERNAME, &username_len));
  // "a:a": a request whose two ufrags are one is a check that loops back to
  // its sender (ours reflected at us, or a peer's at itself): answering it,
  // even with an error, only feeds the loop. Dropped unanswered.
  if (username != nullptr && halves_equal({username, username_len})) {
    return finish(StunOutcome::kIgnored, 0);
  }
  if (username == nullptr ||
      !stun_message_has_attribute(&request, STUN_ATTRIBUTE_MESSAGE_INTEGRITY)) {
    return error(StunOutcome::kBadRequest, STUN_ERROR_BAD_REQUEST);
  }
  if (!username_matches({username, username_len})) {
    return error(StunOutcome::kUnknownUsername, STUN_ERROR_UNAUTHORIZED);
  }
  if (!integrity_matches(request))
    return error(StunOutcome::kBadIntegrity, STUN_ERROR_UNAUTHORIZED);
  if (status == STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE) {
    return signed_answer(StunOutcome::kUnknownAttribute,
                         stun_agent_build_unknown_attributes_error(&agent, &response, out.data(),
                                                                   out.size(), &request));
  }

  bool controlling = role_ == Role::kControlling;
  size_t len = out.size() - kIntegrityAttribute;  // room for the signature
  const StunUsageIceReturn ret = stun_usage_ice_conncheck_create_reply(
      &agent, &request, &response, out.data(), &len, &from, from_len, &controlling,
      role_ == Role::kControlling ? ~kTieBreaker : kTieBreaker,
      STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
  if (ret == STUN_USAGE_ICE_RETURN_INVALID_METHOD) return finish(StunOutcome::kBadRequest, len);
  if ((ret != STUN_USAGE_ICE_RETURN_SUCCESS && ret != STUN_USAGE_ICE_RETURN_ROLE_CONFLICT) ||
      len == 0) {
    if (ret == STUN_USAGE_ICE_RETURN_MEMORY_ERROR) ++counters_.no_room;
    return finish(StunOutcome::kMalformed, 0);
  }
  if (stun_message_get_class(&response) == STUN_ERROR) {
    return signed_answer(StunOutcome::kRoleConflict, len);
  }
  StunResult r = signed_answer(StunOutcome::kSuccess, len);
  if (!r.valid()) return r;
  r.use_candidate = stun_usage_ice_conncheck_use_candidate(&request);
  r.priority = stun_usage_ice_conncheck_priority(&request);
  return r;
}

}  // namespace chorus::webrtc
