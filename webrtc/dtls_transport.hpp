#pragma once
// DTLS-SRTP, server side (RFC 5763/5764 over DTLS 1.2, RFC 6347), on OpenSSL
// with memory BIOs and no socket: a handshake consumes received datagrams
// and produces datagrams to send. We answer a=setup:passive, so the browser
// is the DTLS client and we are the server.
//
// - The peer's certificate is accepted iff its SHA-256 fingerprint equals the
//   one its SDP announced (RFC 5763 §5; self-signed chains are the norm):
//   otherwise the handshake fails with a bad_certificate alert.
// - use_srtp offers SRTP_AEAD_AES_128_GCM then SRTP_AES128_CM_SHA1_80; a
//   client that negotiates neither fails the handshake.
// - On completion the keys are exported ("EXTRACTOR-dtls_srtp") and split
//   (srtp_keys.hpp).
// - Retransmission (RFC 6347 §4.2.4): timeout() says when the current flight
//   is due again; on_timeout() resends it. The initial timeout and its cap
//   are configured (DTLS_set_timer_cb), doubling in between.
//
// Crypto: none of this runs on a shard's tick. DtlsWorker (dtls_worker.hpp)
// owns the handshakes on its own thread. A DtlsHandshake is used on one thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "webrtc/dtls_certificate.hpp"
#include "webrtc/srtp_keys.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace chorus::webrtc {

struct DtlsConfig {
  // RFC 6347 §4.2.4.1: 1 s initial, doubled per retransmission, at most 60 s.
  std::chrono::milliseconds initial_timeout{1000};
  std::chrono::milliseconds max_timeout{60000};
  // Largest datagram we send (records are fragmented and packed below it).
  size_t mtu = 1200;
};

// The SSL_CTX every handshake of the process shares: certificate, verify
// callback, use_srtp profiles, DTLS 1.2 only, ECDHE cipher suites.
// Start-up object: the constructor throws std::runtime_error.
class DtlsContext {
 public:
  explicit DtlsContext(const DtlsCertificate& certificate, DtlsConfig config = {});
  ~DtlsContext();
  DtlsContext(const DtlsContext&) = delete;
  DtlsContext& operator=(const DtlsContext&) = delete;

  const DtlsConfig& config() const { return config_; }
  const Fingerprint& local_fingerprint() const { return local_fingerprint_; }
  ssl_ctx_st* native() const { return ctx_; }

 private:
  ssl_ctx_st* ctx_ = nullptr;
  DtlsConfig config_;
  Fingerprint local_fingerprint_;
};

enum class DtlsState : uint8_t { kHandshaking, kConnected, kFailed, kClosed };

enum class DtlsFailure : uint8_t {
  kNone,
  kFingerprintMismatch,  // the peer's certificate is not the one its SDP named
  kNoSrtpProfile,        // handshake done without use_srtp agreement
  kProtocol,             // alert, malformed handshake, unsupported version or cipher
  kTimeout,              // retransmissions exhausted (or the owner's deadline)
  kExport,               // keying material could not be exported
};

const char* dtls_failure_name(DtlsFailure f);

class DtlsHandshake {
 public:
  using Clock = std::chrono::steady_clock;

  // `remote`: the fingerprint from the peer's a=fingerprint.
  DtlsHandshake(const DtlsContext& context, const Fingerprint& remote);
  ~DtlsHandshake();
  DtlsHandshake(const DtlsHandshake&) = delete;
  DtlsHandshake& operator=(const DtlsHandshake&) = delete;

  // One received datagram (one or more records). Advances the handshake;
  // what it has to send waits for next_datagram(). Ill-framed input is
  // dropped (counted in ignored()) without disturbing the handshake.
  void on_datagram(std::span<const uint8_t> datagram);

  // Time left until the current flight must be retransmitted; nullopt when no
  // timer runs (nothing sent yet, or done).
  std::optional<Clock::duration> timeout() const;
  // The timer expired: retransmit the flight (or fail once retransmissions
  // are exhausted, OpenSSL's limit).
  void on_timeout();
  // Ends the handshake as failed (the owner's overall deadline).
  void fail(DtlsFailure reason);

  // The next datagram to send, packed into `out` (whole records, at most the
  // configured MTU); 0 when there is nothing (more) to send.
  size_t next_datagram(std::span<uint8_t> out);

  DtlsState state() const { return state_; }
  DtlsFailure failure() const { return failure_; }
  // Valid once state() == kConnected (and until wiped by the owner).
  SrtpKeys& keys() { return keys_; }
  uint16_t srtp_profile() const { return srtp_profile_; }
  uint64_t ignored() const { return ignored_; }
  uint32_t retransmissions() const { return retransmissions_; }

 private:
  friend struct DtlsCallbacks;
  void advance();
  void complete();

  const DtlsContext& context_;
  Fingerprint remote_;
  ssl_st* ssl_ = nullptr;
  bio_st* in_ = nullptr;   // records received (owned by ssl_)
  bio_st* out_ = nullptr;  // records to send (owned by ssl_)
  DtlsState state_ = DtlsState::kHandshaking;
  DtlsFailure failure_ = DtlsFailure::kNone;
  bool fingerprint_mismatch_ = false;
  SrtpKeys keys_;
  uint16_t srtp_profile_ = 0;
  uint64_t ignored_ = 0;
  uint32_t retransmissions_ = 0;
};

}  // namespace chorus::webrtc
