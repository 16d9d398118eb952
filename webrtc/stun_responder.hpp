#pragma once
// The ICE-lite side of connectivity checks (RFC 8445 §2.5, §7.3): answer a
// STUN Binding request (RFC 5389) whose USERNAME is "<local ufrag>:<remote
// ufrag>" and whose MESSAGE-INTEGRITY is keyed with the local password
// (short-term credentials, §10.1). Decoding, the FINGERPRINT check and
// building the answers are libnice's STUN library (stun/stunagent.h,
// stun/usages/ice.h); MESSAGE-INTEGRITY is checked and signed here with
// nettle's HMAC-SHA1, because libnice's own (stun_sha1 over GnuTLS's
// gnutls_hmac_init) mallocs twice per HMAC.
//
// One responder per member, used on its shard's thread. `on_request` works on
// the caller's buffers: it keeps no pointer past the call and allocates
// nothing, C libraries included (tests/webrtc/stun_alloc_test.cpp counts
// every malloc under ASan). The HMAC context is keyed once per password.
//
// A lite agent is always controlled (§6.1.1): a request claiming
// ICE-CONTROLLED gets 487 Role Conflict, so the full agent takes control.
// Built with Role::kControlling it answers as the full agent does instead:
// the in-repo browser stand-ins (tests, chorus-load --webrtc) answer the
// stream's own return-routability checks (webrtc/check_sender.hpp) with it,
// configured with their own ufrag and password.

#include <nettle/hmac.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

struct _StunMessage;  // libnice's StunMessage (stun/stunmessage.h)

namespace chorus::webrtc {

// RFC 8839 §5.4: ice-ufrag 4–256 characters, ice-pwd 22–256.
inline constexpr size_t kMaxIceCredential = 256;

enum class StunOutcome : uint8_t {
  kSuccess,           // valid check: success response written; latch `from`, refresh consent
  kBadIntegrity,      // MESSAGE-INTEGRITY does not match the local password: 401 written
  kUnknownUsername,   // USERNAME is not "local:remote": 401 written (RFC 5389 §10.1.2)
  kBadRequest,        // no USERNAME or no MESSAGE-INTEGRITY, or not a Binding: 400 written
  kUnknownAttribute,  // a comprehension-required attribute we do not know: 420 written
  kRoleConflict,      // peer claims to be controlled too: 487 written (§7.3.1.1)
  kIgnored,           // indication, response or error class, or a request whose USERNAME
                      // halves are equal ("a:a", a check looped back): not answered (dropped)
  kMalformed,         // not STUN, no magic cookie, bad or missing FINGERPRINT: dropped
};

struct StunResult {
  StunOutcome outcome = StunOutcome::kMalformed;
  size_t response_size = 0;    // bytes written to `out`; 0: send nothing
  bool use_candidate = false;  // the controlling agent nominates this pair (§7.3.1.5)
  uint32_t priority = 0;       // PRIORITY of the check (a peer-reflexive candidate's)
  // The check came from `from` with the right credentials: the caller latches
  // `from` as the member's media address and refreshes its consent timer.
  bool valid() const { return outcome == StunOutcome::kSuccess; }
};

struct StunCounters {
  uint64_t success = 0;
  uint64_t bad_integrity = 0;
  uint64_t unknown_username = 0;
  uint64_t bad_request = 0;
  uint64_t unknown_attribute = 0;
  uint64_t role_conflict = 0;
  uint64_t ignored = 0;
  uint64_t malformed = 0;
  uint64_t no_room = 0;  // `out` too small for the answer
};

// The first part of a Binding request's USERNAME ("<our ufrag>:<their
// ufrag>", RFC 8445 §7.2.2), read without checking anything else: on a
// shared media port it names the member whose responder then checks the
// request. Empty when the datagram is not a Binding request (RFC 5389 §6
// header with the magic cookie) or carries no USERNAME with a ':'. A view
// into `datagram`; no allocation; at most 64 attributes are looked at.
std::string_view stun_local_ufrag(std::span<const uint8_t> datagram);

class StunResponder {
 public:
  // A success response is the header, the request's USERNAME (at most
  // 256 + 1 + 256 bytes, padded), XOR-MAPPED-ADDRESS (IPv6: 20), MESSAGE-
  // INTEGRITY and FINGERPRINT: 20 + 520 + 24 + 24 + 8 = 596 bytes at most.
  static constexpr size_t kMaxResponse = 640;

  // Credentials longer than kMaxIceCredential are truncated (the SDP parser
  // refuses them first). An empty remote ufrag (not known yet) accepts any
  // "<local>:<x>" USERNAME.
  enum class Role : uint8_t { kControlled, kControlling };
  StunResponder(std::string_view local_ufrag, std::string_view local_pwd,
                std::string_view remote_ufrag, Role role = Role::kControlled);
  // ICE restart or re-offer with new credentials (RFC 8445 §9). No allocation.
  void set_credentials(std::string_view local_ufrag, std::string_view local_pwd,
                       std::string_view remote_ufrag);

  // One datagram the demux classified as STUN, received from `from`. Writes the
  // answer (success or error) into `out`; the caller sends result.response_size
  // bytes back to `from`.
  StunResult on_request(std::span<const uint8_t> datagram, const sockaddr_storage& from,
                        socklen_t from_len, std::span<uint8_t> out);

  const StunCounters& counters() const { return counters_; }

 private:
  struct Credential {
    std::array<uint8_t, kMaxIceCredential> bytes{};
    uint16_t size = 0;
    std::span<const uint8_t> view() const { return {bytes.data(), size}; }
    void assign(std::string_view s);
  };
  bool username_matches(std::span<const uint8_t> username) const;
  void integrity(std::span<const uint8_t> message, size_t at,
                 uint8_t (&mac)[SHA1_DIGEST_SIZE]) const;
  bool integrity_matches(const ::_StunMessage& request) const;
  size_t sign(std::span<uint8_t> out, size_t size) const;
  StunResult finish(StunOutcome outcome, size_t size);

  Credential local_ufrag_;
  Credential local_pwd_;
  Credential remote_ufrag_;
  hmac_sha1_ctx keyed_{};  // HMAC-SHA1 keyed with local_pwd_, copied per use
  StunCounters counters_;
  Role role_ = Role::kControlled;
};

}  // namespace chorus::webrtc
