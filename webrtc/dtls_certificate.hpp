#pragma once
// The process's DTLS certificate (RFC 5763 §5: self-signed is the norm; the
// peer trusts it through the a=fingerprint the signalling carried) and the
// SDP fingerprint attribute (RFC 8122 §5).
//
// Start-up objects: generate() and load_pem() throw std::runtime_error.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct x509_st;
struct evp_pkey_st;

namespace chorus::webrtc {

// A sha-256 certificate fingerprint. Browsers send and accept sha-256;
// an SDP with only other hash functions is refused by the caller.
struct Fingerprint {
  std::array<uint8_t, 32> sha256{};

  // The value of a=fingerprint: "sha-256 AB:CD:...:EF" (hash name
  // case-insensitive, 32 colon-separated hex pairs of either case).
  static std::optional<Fingerprint> parse(std::string_view sdp_value);
  // "sha-256 " + upper-case hex pairs, for a=fingerprint.
  std::string to_sdp() const;
  // SHA-256 over the certificate's DER encoding (RFC 8122 §5).
  static Fingerprint of(x509_st* certificate);

  bool operator==(const Fingerprint&) const = default;
};

class DtlsCertificate {
 public:
  // ECDSA P-256 key, self-signed X.509 v3 certificate valid from one day ago
  // for `days` (browsers check the fingerprint, not the dates).
  static DtlsCertificate generate(std::string_view common_name = "chorus", int days = 365);
  // A configured certificate and its private key (PEM files; the key must
  // match the certificate). Any key type OpenSSL signs with (ECDSA, RSA).
  static DtlsCertificate load_pem(const std::string& certificate_path,
                                  const std::string& private_key_path);

  x509_st* x509() const { return cert_.get(); }
  evp_pkey_st* key() const { return key_.get(); }
  const Fingerprint& fingerprint() const { return fingerprint_; }

 private:
  struct X509Free {
    void operator()(x509_st* p) const;
  };
  struct KeyFree {
    void operator()(evp_pkey_st* p) const;
  };
  DtlsCertificate(std::unique_ptr<x509_st, X509Free> cert,
                  std::unique_ptr<evp_pkey_st, KeyFree> key);

  std::unique_ptr<x509_st, X509Free> cert_;
  std::unique_ptr<evp_pkey_st, KeyFree> key_;
  Fingerprint fingerprint_;
};

}  // namespace chorus::webrtc
