#pragma once
// DTLS-SRTP, client side (the browser's role: it offers a=setup:actpass and
// we answer passive, RFC 5763 §5), on OpenSSL with memory BIOs like
// DtlsHandshake: received datagrams in, datagrams to send out, no socket.
// Used by chorus-load's --webrtc members and by the tests' browser stand-in;
// the server never runs it.
//
// - The server's certificate is accepted iff its SHA-256 fingerprint equals
//   the one its answer announced (checked when the handshake completes; a
//   client built without an expected fingerprint accepts any and records it).
// - use_srtp offers the configured profiles (default GCM, then AES-CM).
// - Keys come from the exporter ("EXTRACTOR-dtls_srtp"), split for the client:
//   keys().outbound() protects what we send (client_write), inbound()
//   unprotects what the server sends.
//
// A DtlsClient is used on one thread; a DtlsClientContext may be shared by
// the handshakes of one thread (OpenSSL's SSL_CTX is reference-counted and
// read-only once set up).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "webrtc/dtls_certificate.hpp"
#include "webrtc/dtls_transport.hpp"
#include "webrtc/srtp_keys.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace chorus::webrtc {

struct DtlsClientConfig {
  // OpenSSL use_srtp profile names, in our order of preference.
  std::string srtp_profiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
  // Retransmission timer: initial value, doubled per retransmission.
  std::chrono::microseconds initial_timeout{1'000'000};
  size_t mtu = 1200;
};

// The client's SSL_CTX: its certificate, use_srtp, DTLS 1.2 only.
// Start-up object: the constructor throws std::runtime_error.
class DtlsClientContext {
 public:
  DtlsClientContext(const DtlsCertificate& certificate, DtlsClientConfig config = {});
  ~DtlsClientContext();
  DtlsClientContext(const DtlsClientContext&) = delete;
  DtlsClientContext& operator=(const DtlsClientContext&) = delete;

  const DtlsClientConfig& config() const { return config_; }
  const Fingerprint& local_fingerprint() const { return local_fingerprint_; }
  ssl_ctx_st* native() const { return ctx_; }

 private:
  ssl_ctx_st* ctx_ = nullptr;
  DtlsClientConfig config_;
  Fingerprint local_fingerprint_;
};

class DtlsClient {
 public:
  using Clock = std::chrono::steady_clock;

  // `expected`: the fingerprint of the server's a=fingerprint; nullopt
  // accepts any certificate (tests that inspect it afterwards).
  DtlsClient(const DtlsClientContext& context, std::optional<Fingerprint> expected);
  ~DtlsClient();
  DtlsClient(const DtlsClient&) = delete;
  DtlsClient& operator=(const DtlsClient&) = delete;

  // Runs the handshake as far as it goes (the first call writes the
  // ClientHello); what it has to send waits for next_datagram().
  void advance();
  // One received datagram; advances the handshake.
  void on_datagram(std::span<const uint8_t> datagram);
  // Queues a received datagram without advancing (advance() reads it).
  void feed(std::span<const uint8_t> datagram);
  // Time left until the current flight must be retransmitted; nullopt when
  // no timer runs.
  std::optional<Clock::duration> timeout() const;
  // Retransmits the current flight if its timer expired (or `force`).
  void on_timeout(bool force = false);
  // Sends close_notify (RFC 5246 §7.2.1), as a page that hangs up does.
  void close();

  // The next datagram to send (whole records, at most the MTU) packed into
  // `out`; 0 when there is nothing (more) to send.
  size_t next_datagram(std::span<uint8_t> out);

  DtlsState state() const { return state_; }
  DtlsFailure failure() const { return failure_; }
  bool connected() const { return state_ == DtlsState::kConnected; }
  bool failed() const { return state_ == DtlsState::kFailed; }
  // The server certificate's fingerprint (zero before it arrived).
  Fingerprint peer_fingerprint() const;
  // The negotiated use_srtp profile id (0 before or without one).
  uint16_t profile() const;
  // Exports 2 * (key + salt) bytes of the negotiated profile into `out`;
  // false before connecting or when `out` is too small.
  bool export_keying_material(std::span<uint8_t> out) const;
  // The client's keys (outbound = client_write); nullopt unless connected.
  std::optional<SrtpKeys> keys() const;

 private:
  void finish();

  const DtlsClientContext& context_;
  std::optional<Fingerprint> expected_;
  ssl_st* ssl_ = nullptr;
  bio_st* in_ = nullptr;
  bio_st* out_ = nullptr;
  DtlsState state_ = DtlsState::kHandshaking;
  DtlsFailure failure_ = DtlsFailure::kNone;
};

}  // namespace chorus::webrtc
