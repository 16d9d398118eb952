#pragma once
// chorus-load --webrtc: one participant's browser-side transport. After the
// SIP answer it runs ICE as the controlling full agent against Chorus's
// ICE-lite answer (a nominating Binding check to the answer's candidate,
// retransmitted until answered), then a DTLS 1.2 client handshake
// (webrtc/dtls_client.hpp) checked against the answer's a=fingerprint, and
// hands the exported SRTP keys to the participant. Once keyed it sends a
// consent check (RFC 7675) every kConsentInterval. Like a browser it answers
// Chorus's own checks (return routability: media goes only to an address
// that answered, rtp/stream.hpp), and it opens DTLS once it answered the
// first (or kServerCheckWait after its own check succeeded), so its
// ClientHello does not arrive before the address is verified. The handshake
// happens once, at join; the measured steady state is SRTP only.

#include <netinet/in.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>

#include "webrtc/dtls_certificate.hpp"
#include "webrtc/dtls_client.hpp"
#include "webrtc/stun_client.hpp"
#include "webrtc/stun_responder.hpp"

namespace chorus::load {

// What every --webrtc participant of a run shares (one thread): the client
// certificate and its DTLS context, the STUN agent.
struct WebRtcShared {
  WebRtcShared();
  webrtc::DtlsCertificate certificate;
  webrtc::DtlsClientContext dtls;
  webrtc::StunClient stun;
};

class WebRtcPeer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kCheckInterval = std::chrono::milliseconds(500);
  static constexpr auto kConsentInterval = std::chrono::seconds(5);
  static constexpr auto kHandshakeDeadline = std::chrono::seconds(15);
  static constexpr auto kServerCheckWait = std::chrono::milliseconds(300);

  enum class Phase : uint8_t {
    kOffered,      // offer sent, no answer yet
    kReady,        // answer applied: waiting for a handshake slot
    kChecking,     // Binding check sent, waiting for its success response
    kHandshaking,  // DTLS in progress
    kKeyed,        // SRTP keys exported: media flows
    kFailed,
  };

  WebRtcPeer(WebRtcShared& shared, std::mt19937& rng);

  // For the offer.
  const std::string& local_ufrag() const { return local_ufrag_; }
  const std::string& local_pwd() const { return local_pwd_; }
  std::string fingerprint_sdp() const { return shared_.certificate.fingerprint().to_sdp(); }

  // The answer's credentials and fingerprint; the phase becomes kReady.
  void set_answer(std::string ufrag, std::string pwd, const webrtc::Fingerprint& fingerprint);

  // Starts ICE then DTLS on `fd` towards `remote` (both outlive the peer's use).
  void start(int fd, const sockaddr_in& remote, Clock::time_point now);
  // A STUN or DTLS datagram received (the caller demuxes, RFC 7983).
  void on_datagram(std::span<const uint8_t> datagram, Clock::time_point now);
  // Timers: check retransmission, DTLS retransmission, consent, deadline.
  void poll(Clock::time_point now);

  Phase phase() const { return phase_; }
  bool in_progress() const { return phase_ == Phase::kChecking || phase_ == Phase::kHandshaking; }
  // Keys once kKeyed (taken once by the participant).
  std::optional<webrtc::SrtpKeys> take_keys();
  std::string failure() const { return failure_; }
  double handshake_ms() const { return handshake_ms_; }
  uint64_t consent_checks() const { return consent_checks_; }
  uint64_t consent_answered() const { return consent_answered_; }
  uint64_t server_checks_answered() const { return server_checks_answered_; }

 private:
  void send_check(bool nominate, Clock::time_point now);
  void answer_server_check(std::span<const uint8_t> request);
  void open_dtls();
  void flush_dtls();
  void fail(std::string why);
  void send(std::span<const uint8_t> bytes);

  WebRtcShared& shared_;
  std::string local_ufrag_;
  std::string local_pwd_;
  std::string remote_ufrag_;
  std::string remote_pwd_;
  webrtc::Fingerprint remote_fingerprint_;
  std::unique_ptr<webrtc::DtlsClient> dtls_;
  std::optional<webrtc::SrtpKeys> keys_;
  Phase phase_ = Phase::kOffered;
  int fd_ = -1;
  sockaddr_in remote_{};
  std::array<uint8_t, 12> transaction_{};
  Clock::time_point started_;
  Clock::time_point next_check_;
  std::string failure_;
  double handshake_ms_ = 0;
  uint64_t consent_checks_ = 0;
  uint64_t consent_answered_ = 0;
  uint64_t server_checks_answered_ = 0;
  std::optional<Clock::time_point> checked_;  // our check succeeded (kChecking)
  // Answers Chorus's checks with our credentials, as the controlling agent.
  std::unique_ptr<webrtc::StunResponder> responder_;
};

}  // namespace chorus::load
