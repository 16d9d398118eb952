#include "webrtc/dtls_client.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "webrtc/dtls_record.hpp"

namespace chorus::webrtc {

namespace {

constexpr char kExporterLabel[] = "EXTRACTOR-dtls_srtp";

[[noreturn]] void fail_setup(const std::string& what) {
  char detail[256] = "no OpenSSL error";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, detail, sizeof(detail));
  ERR_clear_error();
  throw std::runtime_error("DTLS client context: " + what + ": " + detail);
}

// The server's certificate is judged by its fingerprint once the handshake
// completes (DtlsClient::finish); OpenSSL's chain verdict (self-signed) is
// irrelevant.
int accept_any(int, X509_STORE_CTX*) {
  return 1;
}

unsigned int timer(SSL* ssl, unsigned int previous_us) {
  const auto* context = static_cast<const DtlsClientContext*>(SSL_get_app_data(ssl));
  const auto initial = static_cast<unsigned int>(context->config().initial_timeout.count());
  if (previous_us == 0) return initial;
  return std::min(previous_us * 2, 60'000'000u);
}

}  // namespace

DtlsClientContext::DtlsClientContext(const DtlsCertificate& certificate, DtlsClientConfig config)
    : config_(std::move(config)), local_fingerprint_(certificate.fingerprint()) {
  ctx_ = SSL_CTX_new(DTLS_client_method());
  if (!ctx_) fail_setup("SSL_CTX_new");
  if (SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx_, DTLS1_2_VERSION) != 1) {
    SSL_CTX_free(ctx_);
    fail_setup("DTLS 1.2 only");
  }
  if (SSL_CTX_use_certificate(ctx_, certificate.x509()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx_, certificate.key()) != 1) {
    SSL_CTX_free(ctx_);
    fail_setup("certificate");
  }
  // Returns 0 on success (sic, OpenSSL's use_srtp API).
  if (SSL_CTX_set_tlsext_use_srtp(ctx_, config_.srtp_profiles.c_str()) != 0) {
    SSL_CTX_free(ctx_);
    fail_setup("use_srtp profiles");
  }
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, &accept_any);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU);
}

DtlsClientContext::~DtlsClientContext() {
  SSL_CTX_free(ctx_);
}

DtlsClient::DtlsClient(const DtlsClientContext& context, std::optional<Fingerprint> expected)
    : context_(context), expected_(expected) {
  ssl_ = SSL_new(context.native());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !in_ || !out_) {
    SSL_free(ssl_);
    BIO_free(in_);
    BIO_free(out_);
    ssl_ = nullptr;
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
  SSL_set_connect_state(ssl_);
  SSL_set_app_data(ssl_, const_cast<DtlsClientContext*>(&context_));
  SSL_set_mtu(ssl_, static_cast<long>(context.config().mtu));
  DTLS_set_link_mtu(ssl_, static_cast<long>(context.config().mtu));
  DTLS_set_timer_cb(ssl_, &timer);
}

DtlsClient::~DtlsClient() {
  SSL_free(ssl_);  // frees both BIOs
}

void DtlsClient::advance() {
  if (ssl_ == nullptr || state_ != DtlsState::kHandshaking) return;
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    finish();
  } else {
    const int e = SSL_get_error(ssl_, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      state_ = DtlsState::kFailed;
      failure_ = DtlsFailure::kProtocol;
    }
  }
  ERR_clear_error();
}

void DtlsClient::feed(std::span<const uint8_t> datagram) {
  if (ssl_ == nullptr || datagram.empty() || datagram.size() > 65535) return;
  BIO_write(in_, datagram.data(), static_cast<int>(datagram.size()));
}

void DtlsClient::on_datagram(std::span<const uint8_t> datagram) {
  feed(datagram);
  advance();
}

void DtlsClient::finish() {
  if (expected_ && peer_fingerprint() != *expected_) {
    state_ = DtlsState::kFailed;
    failure_ = DtlsFailure::kFingerprintMismatch;
    return;
  }
  if (!srtp_profile_sizes(profile())) {
    state_ = DtlsState::kFailed;
    failure_ = DtlsFailure::kNoSrtpProfile;
    return;
  }
  state_ = DtlsState::kConnected;
}

std::optional<DtlsClient::Clock::duration> DtlsClient::timeout() const {
  if (ssl_ == nullptr || state_ != DtlsState::kHandshaking) return std::nullopt;
  timeval tv{};
  if (DTLSv1_get_timeout(ssl_, &tv) != 1) return std::nullopt;
  return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}

void DtlsClient::on_timeout(bool force) {
  if (ssl_ == nullptr) return;
  if (!force && state_ != DtlsState::kHandshaking) return;
  ERR_clear_error();
  if (DTLSv1_handle_timeout(ssl_) < 0 && state_ == DtlsState::kHandshaking) {
    state_ = DtlsState::kFailed;
    failure_ = DtlsFailure::kTimeout;
  }
  ERR_clear_error();
}

void DtlsClient::close() {
  if (ssl_ == nullptr) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
  state_ = DtlsState::kClosed;
}

size_t DtlsClient::next_datagram(std::span<uint8_t> out) {
  if (out_ == nullptr) return 0;
  char* data = nullptr;
  const long pending = BIO_get_mem_data(out_, &data);
  if (pending <= 0 || data == nullptr) return 0;
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(data),
                                       static_cast<size_t>(pending));
  size_t n = dtls_datagram_prefix(bytes, std::min(out.size(), context_.config().mtu));
  if (n == 0) n = std::min(bytes.size(), out.size());  // not framed as expected: send as is
  const int read = BIO_read(out_, out.data(), static_cast<int>(n));
  return read > 0 ? static_cast<size_t>(read) : 0;
}

Fingerprint DtlsClient::peer_fingerprint() const {
  if (ssl_ == nullptr) return {};
  X509* peer = SSL_get1_peer_certificate(ssl_);
  Fingerprint f = peer ? Fingerprint::of(peer) : Fingerprint{};
  X509_free(peer);
  return f;
}

uint16_t DtlsClient::profile() const {
  const auto* p = ssl_ ? SSL_get_selected_srtp_profile(ssl_) : nullptr;
  return p ? static_cast<uint16_t>(p->id) : 0;
}

bool DtlsClient::export_keying_material(std::span<uint8_t> out) const {
  const auto sizes = srtp_profile_sizes(profile());
  if (!sizes) return false;
  const size_t n = 2 * (sizes->key + sizes->salt);
  if (out.size() < n) return false;
  return SSL_export_keying_material(ssl_, out.data(), n, kExporterLabel, sizeof(kExporterLabel) - 1,
                                    nullptr, 0, 0) == 1;
}

std::optional<SrtpKeys> DtlsClient::keys() const {
  if (state_ != DtlsState::kConnected) return std::nullopt;
  const auto sizes = srtp_profile_sizes(profile());
  if (!sizes) return std::nullopt;
  std::array<uint8_t, 2 * SrtpKeys::kMaxKeySalt> material{};
  const size_t n = 2 * (sizes->key + sizes->salt);
  if (!export_keying_material(material)) return std::nullopt;
  auto keys = split_dtls_srtp_keys(profile(), {material.data(), n}, /*we_are_server=*/false);
  OPENSSL_cleanse(material.data(), material.size());
  return keys;
}

}  // namespace chorus::webrtc
