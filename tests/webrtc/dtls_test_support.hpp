#pragma once
// The browser's side of DTLS-SRTP for tests: an OpenSSL DTLS 1.2 client with
// its own self-signed certificate and use_srtp, over memory BIOs, speaking in
// whole datagrams like DtlsHandshake does.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "webrtc/dtls_certificate.hpp"
#include "webrtc/dtls_record.hpp"
#include "webrtc/srtp_keys.hpp"

namespace chorus::webrtc::testing {

using Datagram = std::vector<uint8_t>;

class DtlsTestClient {
 public:
  explicit DtlsTestClient(
      const char* srtp_profiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80",
      unsigned int initial_timeout_us = 1'000'000)
      : cert_(DtlsCertificate::generate("browser")), timeout_us_(initial_timeout_us) {
    ctx_ = SSL_CTX_new(DTLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
    SSL_CTX_use_certificate(ctx_, cert_.x509());
    SSL_CTX_use_PrivateKey(ctx_, cert_.key());
    if (SSL_CTX_set_tlsext_use_srtp(ctx_, srtp_profiles) != 0) {
      throw std::runtime_error("client use_srtp");
    }
    // The browser checks our fingerprint the same way; here we record it.
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
    SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(ssl_, 1200);
    DTLS_set_link_mtu(ssl_, 1200);
    SSL_set_app_data(ssl_, this);
    DTLS_set_timer_cb(ssl_, [](SSL* s, unsigned int prev) -> unsigned int {
      auto* self = static_cast<DtlsTestClient*>(SSL_get_app_data(s));
      return prev == 0 ? self->timeout_us_ : prev * 2;
    });
  }
  ~DtlsTestClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }

  const Fingerprint& fingerprint() const { return cert_.fingerprint(); }

  // Runs the handshake as far as it goes; returns the datagrams to send.
  std::vector<Datagram> step() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      connected_ = true;
    } else {
      const int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) failed_ = true;
    }
    ERR_clear_error();
    return drain();
  }
  void receive(const Datagram& d) { BIO_write(in_, d.data(), static_cast<int>(d.size())); }
  // The client's own retransmission timer, forced.
  std::vector<Datagram> retransmit() {
    DTLSv1_handle_timeout(ssl_);
    return drain();
  }
  bool timer_expired() {
    timeval tv{};
    return DTLSv1_get_timeout(ssl_, &tv) == 1 && tv.tv_sec == 0 && tv.tv_usec == 0;
  }

  // Sends close_notify (RFC 5246 §7.2.1), as a page that hangs up does.
  std::vector<Datagram> close() {
    SSL_shutdown(ssl_);
    return drain();
  }

  bool connected() const { return connected_; }
  bool failed() const { return failed_; }
  Fingerprint peer_fingerprint() const {
    X509* peer = SSL_get1_peer_certificate(ssl_);
    Fingerprint f = peer ? Fingerprint::of(peer) : Fingerprint{};
    X509_free(peer);
    return f;
  }
  uint16_t profile() const {
    const auto* p = SSL_get_selected_srtp_profile(ssl_);
    return p ? static_cast<uint16_t>(p->id) : 0;
  }
  // The client's view: its outbound keys are the client_write ones.
  SrtpKeys keys() const {
    const auto sizes = srtp_profile_sizes(profile());
    if (!sizes) throw std::runtime_error("no profile");
    std::array<uint8_t, 2 * SrtpKeys::kMaxKeySalt> m{};
    const size_t n = 2 * (sizes->key + sizes->salt);
    static const char kLabel[] = "EXTRACTOR-dtls_srtp";
    if (SSL_export_keying_material(ssl_, m.data(), n, kLabel, sizeof(kLabel) - 1, nullptr, 0, 0) !=
        1) {
      throw std::runtime_error("export");
    }
    // RFC 5764 §4.2, spelled out independently of split_dtls_srtp_keys:
    // client key | server key | client salt | server salt.
    const size_t k = sizes->key, s = sizes->salt;
    SrtpKeys keys;
    keys.suite = sizes->suite;
    keys.key_salt_size = static_cast<uint8_t>(k + s);
    std::copy_n(m.begin(), k, keys.outbound_storage.begin());  // client writes
    std::copy_n(m.begin() + 2 * k, s, keys.outbound_storage.begin() + k);
    std::copy_n(m.begin() + k, k, keys.inbound_storage.begin());  // server writes
    std::copy_n(m.begin() + 2 * k + s, s, keys.inbound_storage.begin() + k);
    return keys;
  }

 private:
  std::vector<Datagram> drain() {
    std::vector<Datagram> out;
    char* data = nullptr;
    long pending = BIO_get_mem_data(out_, &data);
    while (pending > 0) {
      const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(data),
                                           static_cast<size_t>(pending));
      size_t n = dtls_datagram_prefix(bytes, 1200);
      if (n == 0) n = static_cast<size_t>(pending);
      Datagram d(n);
      BIO_read(out_, d.data(), static_cast<int>(n));
      out.push_back(std::move(d));
      pending = BIO_get_mem_data(out_, &data);
    }
    return out;
  }

  DtlsCertificate cert_;
  unsigned int timeout_us_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  bool connected_ = false;
  bool failed_ = false;
};

}  // namespace chorus::webrtc::testing
