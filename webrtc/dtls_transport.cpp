#include "webrtc/dtls_transport.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

#include "webrtc/dtls_record.hpp"

namespace chorus::webrtc {

namespace {

// Browsers offer ECDHE with AES-GCM, ChaCha20 or AES-CBC; ECDSA for our own
// certificate, RSA as well when a configured one is RSA.
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA";
// RFC 5764 §4.1.2 / RFC 7714 §14.2, in our order of preference.
constexpr const char* kSrtpProfiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
constexpr char kExporterLabel[] = "EXTRACTOR-dtls_srtp";

[[noreturn]] void fail_setup(const std::string& what) {
  char detail[256] = "no OpenSSL error";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, detail, sizeof(detail));
  ERR_clear_error();
  throw std::runtime_error("DTLS context: " + what + ": " + detail);
}

}  // namespace

const char* dtls_failure_name(DtlsFailure f) {
  switch (f) {
    case DtlsFailure::kNone:
      return "none";
    case DtlsFailure::kFingerprintMismatch:
      return "fingerprint mismatch";
    case DtlsFailure::kNoSrtpProfile:
      return "no SRTP profile";
    case DtlsFailure::kProtocol:
      return "protocol";
    case DtlsFailure::kTimeout:
      return "timeout";
    case DtlsFailure::kExport:
      return "key export";
  }
  return "?";
}

// OpenSSL's C callbacks, with access to the handshake behind SSL app data.
struct DtlsCallbacks {
  // RFC 5763 §5: trust the certificate iff it matches the SDP fingerprint;
  // OpenSSL's own chain verdict (self-signed) is irrelevant.
  static int verify(int /*preverify_ok*/, X509_STORE_CTX* store) {
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* self = ssl ? static_cast<DtlsHandshake*>(SSL_get_app_data(ssl)) : nullptr;
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    if (self == nullptr || leaf == nullptr) return 0;
    if (Fingerprint::of(leaf) == self->remote_) return 1;
    self->fingerprint_mismatch_ = true;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }

  // Retransmission timer (RFC 6347 §4.2.4.1): the configured initial value,
  // then doubled up to the cap. Called with 0 for a new flight.
  static unsigned int timer(SSL* ssl, unsigned int previous_us) {
    auto* self = static_cast<DtlsHandshake*>(SSL_get_app_data(ssl));
    const DtlsConfig& c = self->context_.config();
    const auto initial = static_cast<unsigned int>(
        std::chrono::duration_cast<std::chrono::microseconds>(c.initial_timeout).count());
    const auto cap = static_cast<unsigned int>(
        std::chrono::duration_cast<std::chrono::microseconds>(c.max_timeout).count());
    if (previous_us == 0) return initial;
    ++self->retransmissions_;
    return std::min(cap, previous_us > cap / 2 ? cap : previous_us * 2);
  }
};

DtlsContext::DtlsContext(const DtlsCertificate& certificate, DtlsConfig config)
    : config_(config), local_fingerprint_(certificate.fingerprint()) {
  ctx_ = SSL_CTX_new(DTLS_server_method());
  if (!ctx_) fail_setup("SSL_CTX_new");
  if (SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx_, DTLS1_2_VERSION) != 1) {
    SSL_CTX_free(ctx_);
    fail_setup("DTLS 1.2 only");
  }
  if (SSL_CTX_use_certificate(ctx_, certificate.x509()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx_, certificate.key()) != 1 ||
      SSL_CTX_check_private_key(ctx_) != 1) {
    SSL_CTX_free(ctx_);
    fail_setup("certificate");
  }
  if (SSL_CTX_set_cipher_list(ctx_, kCiphers) != 1) {
    SSL_CTX_free(ctx_);
    fail_setup("cipher list");
  }
  if (SSL_CTX_set1_groups_list(ctx_, "X25519:P-256:P-384") != 1) {
    SSL_CTX_free(ctx_);
    fail_setup("groups");
  }
  // Returns 0 on success (sic, OpenSSL's use_srtp API).
  if (SSL_CTX_set_tlsext_use_srtp(ctx_, kSrtpProfiles) != 0) {
    SSL_CTX_free(ctx_);
    fail_setup("use_srtp profiles");
  }
  // Ask for the client's certificate and judge it only by its fingerprint.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     &DtlsCallbacks::verify);
  SSL_CTX_set_verify_depth(ctx_, 4);
  // Each handshake is a fresh session: no resumption, no tickets.
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx_,
                      SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_read_ahead(ctx_, 1);
}

DtlsContext::~DtlsContext() {
  SSL_CTX_free(ctx_);
}

DtlsHandshake::DtlsHandshake(const DtlsContext& context, const Fingerprint& remote)
    : context_(context), remote_(remote) {
  ssl_ = SSL_new(context.native());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !in_ || !out_) {
    // Out of memory on the worker: the handshake starts failed.
    BIO_free(in_);
    BIO_free(out_);
    in_ = out_ = nullptr;
    ERR_clear_error();
    state_ = DtlsState::kFailed;
    failure_ = DtlsFailure::kProtocol;
    return;
  }
  // An empty memory BIO means "no datagram yet", not end of file.
  BIO_set_mem_eof_return(in_, -1);
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_app_data(ssl_, this);
  SSL_set_accept_state(ssl_);
  SSL_set_mtu(ssl_, static_cast<long>(context.config().mtu));
  DTLS_set_link_mtu(ssl_, static_cast<long>(context.config().mtu));
  DTLS_set_timer_cb(ssl_, &DtlsCallbacks::timer);
}

DtlsHandshake::~DtlsHandshake() {
  SSL_free(ssl_);  // frees both BIOs
  keys_.wipe();
}

void DtlsHandshake::on_datagram(std::span<const uint8_t> datagram) {
  if (ssl_ == nullptr || state_ == DtlsState::kFailed || state_ == DtlsState::kClosed) return;
  if (!dtls_well_framed(datagram) || datagram.size() > 65535) {
    ++ignored_;
    return;
  }
  // One record at a time: OpenSSL reads a BIO write as one datagram and,
  // when a record only makes it retransmit (a repeated ClientHello packed
  // with the client's next flight), may drop the rest of that datagram.
  std::span<const uint8_t> rest = datagram;
  while (const auto record = parse_dtls_record(rest)) {
    if (state_ == DtlsState::kFailed || state_ == DtlsState::kClosed) break;
    const auto bytes = rest.first(record->size());
    rest = rest.subspan(record->size());
    if (BIO_write(in_, bytes.data(), static_cast<int>(bytes.size())) !=
        static_cast<int>(bytes.size())) {
      ++ignored_;
      return;
    }
    advance();
  }
}

void DtlsHandshake::advance() {
  ERR_clear_error();
  if (state_ == DtlsState::kHandshaking) {
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      complete();
    } else {
      const int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        fail(fingerprint_mismatch_ ? DtlsFailure::kFingerprintMismatch : DtlsFailure::kProtocol);
      }
    }
  }
  if (state_ == DtlsState::kConnected) {
    // Records after the handshake: a retransmitted client Finished (OpenSSL
    // answers with our last flight), close_notify, or application data we
    // have no use for (no data channels).
    std::array<uint8_t, 2048> sink;
    for (int i = 0; i < 16; ++i) {
      const int n = SSL_read(ssl_, sink.data(), static_cast<int>(sink.size()));
      if (n > 0) continue;
      const int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_ZERO_RETURN) {
        state_ = DtlsState::kClosed;
      } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        state_ = DtlsState::kClosed;  // fatal alert after completion: the peer is gone
      }
      break;
    }
  }
  // Whatever could not be parsed stays out of the next call.
  (void)BIO_reset(in_);
  ERR_clear_error();
}

void DtlsHandshake::complete() {
  const SRTP_PROTECTION_PROFILE* profile = SSL_get_selected_srtp_profile(ssl_);
  if (profile == nullptr || !srtp_profile_sizes(static_cast<uint16_t>(profile->id))) {
    fail(DtlsFailure::kNoSrtpProfile);
    return;
  }
  const auto sizes = *srtp_profile_sizes(static_cast<uint16_t>(profile->id));
  std::array<uint8_t, 2 * SrtpKeys::kMaxKeySalt> material{};
  const size_t n = 2 * (sizes.key + sizes.salt);
  if (SSL_export_keying_material(ssl_, material.data(), n, kExporterLabel,
                                 sizeof(kExporterLabel) - 1, nullptr, 0, 0) != 1) {
    OPENSSL_cleanse(material.data(), material.size());
    fail(DtlsFailure::kExport);
    return;
  }
  auto keys = split_dtls_srtp_keys(static_cast<uint16_t>(profile->id), {material.data(), n});
  OPENSSL_cleanse(material.data(), material.size());
  if (!keys) {
    fail(DtlsFailure::kExport);
    return;
  }
  keys_ = *keys;
  keys->wipe();
  srtp_profile_ = static_cast<uint16_t>(profile->id);
  state_ = DtlsState::kConnected;
}

void DtlsHandshake::fail(DtlsFailure reason) {
  if (state_ == DtlsState::kFailed) return;
  state_ = DtlsState::kFailed;
  failure_ = reason;
  keys_.wipe();
}

std::optional<DtlsHandshake::Clock::duration> DtlsHandshake::timeout() const {
  if (ssl_ == nullptr || state_ != DtlsState::kHandshaking) return std::nullopt;
  timeval tv{};
  if (DTLSv1_get_timeout(ssl_, &tv) != 1) return std::nullopt;
  return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}

void DtlsHandshake::on_timeout() {
  if (ssl_ == nullptr || state_ != DtlsState::kHandshaking) return;
  ERR_clear_error();
  if (DTLSv1_handle_timeout(ssl_) < 0) fail(DtlsFailure::kTimeout);
  ERR_clear_error();
}

size_t DtlsHandshake::next_datagram(std::span<uint8_t> out) {
  if (out_ == nullptr) return 0;
  char* data = nullptr;
  const long pending = BIO_get_mem_data(out_, &data);
  if (pending <= 0 || data == nullptr) return 0;
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(data),
                                       static_cast<size_t>(pending));
  const size_t limit = std::min(out.size(), context_.config().mtu);
  size_t n = dtls_datagram_prefix(bytes, limit);
  if (n == 0) {
    // OpenSSL wrote something that is not a whole record within the limit
    // (never expected): drop it rather than send half a record.
    (void)BIO_reset(out_);
    return 0;
  }
  const int read = BIO_read(out_, out.data(), static_cast<int>(n));
  return read > 0 ? static_cast<size_t>(read) : 0;
}

}  // namespace chorus::webrtc
