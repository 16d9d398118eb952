#include "webrtc/dtls_certificate.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstdio>
#include <stdexcept>

namespace chorus::webrtc {

namespace {

[[noreturn]] void fail(const std::string& what) {
  char detail[256] = "no OpenSSL error";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, detail, sizeof(detail));
  ERR_clear_error();
  throw std::runtime_error("DTLS certificate: " + what + ": " + detail);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<Fingerprint> Fingerprint::parse(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) {
    v.remove_suffix(1);
  }
  const size_t space = v.find(' ');
  if (space == std::string_view::npos || !iequals(v.substr(0, space), "sha-256")) {
    return std::nullopt;
  }
  std::string_view hex = v.substr(space + 1);
  while (!hex.empty() && hex.front() == ' ') hex.remove_prefix(1);
  Fingerprint f;
  if (hex.size() != 32 * 3 - 1) return std::nullopt;
  for (size_t i = 0; i < 32; ++i) {
    const int hi = hex_value(hex[i * 3]);
    const int lo = hex_value(hex[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 31 && hex[i * 3 + 2] != ':') return std::nullopt;
    f.sha256[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return f;
}

std::string Fingerprint::to_sdp() const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string s = "sha-256 ";
  for (size_t i = 0; i < sha256.size(); ++i) {
    if (i > 0) s += ':';
    s += kHex[sha256[i] >> 4];
    s += kHex[sha256[i] & 0xF];
  }
  return s;
}

Fingerprint Fingerprint::of(x509_st* certificate) {
  Fingerprint f;
  unsigned int n = 0;
  if (X509_digest(certificate, EVP_sha256(), f.sha256.data(), &n) != 1 || n != 32) {
    ERR_clear_error();
    return Fingerprint{};  // all zero: matches no peer's
  }
  return f;
}

void DtlsCertificate::X509Free::operator()(x509_st* p) const {
  X509_free(p);
}
void DtlsCertificate::KeyFree::operator()(evp_pkey_st* p) const {
  EVP_PKEY_free(p);
}

DtlsCertificate::DtlsCertificate(std::unique_ptr<x509_st, X509Free> cert,
                                 std::unique_ptr<evp_pkey_st, KeyFree> key)
    : cert_(std::move(cert)), key_(std::move(key)), fingerprint_(Fingerprint::of(cert_.get())) {}

DtlsCertificate DtlsCertificate::generate(std::string_view common_name, int days) {
  std::unique_ptr<evp_pkey_st, KeyFree> key(EVP_EC_gen("P-256"));
  if (!key) fail("generating the P-256 key");
  std::unique_ptr<x509_st, X509Free> cert(X509_new());
  if (!cert) fail("X509_new");
  // RFC 5280 §4.1.2.2: a positive serial of up to 20 octets; 8 random ones.
  uint8_t serial[8];
  if (RAND_bytes(serial, sizeof(serial)) != 1) fail("RAND_bytes");
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  const bool serial_ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  if (!serial_ok) fail("serial number");
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string cn(common_name);
  if (X509_set_version(cert.get(), 2) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -24L * 3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600) ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key.get()) != 1) {
    fail("building the certificate");
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) fail("signing the certificate");
  return DtlsCertificate(std::move(cert), std::move(key));
}

DtlsCertificate DtlsCertificate::load_pem(const std::string& certificate_path,
                                          const std::string& private_key_path) {
  FILE* f = std::fopen(certificate_path.c_str(), "r");
  if (!f) throw std::runtime_error("DTLS certificate: cannot open " + certificate_path);
  std::unique_ptr<x509_st, X509Free> cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!cert) fail("reading " + certificate_path);
  f = std::fopen(private_key_path.c_str(), "r");
  if (!f) throw std::runtime_error("DTLS certificate: cannot open " + private_key_path);
  std::unique_ptr<evp_pkey_st, KeyFree> key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!key) fail("reading " + private_key_path);
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    fail(private_key_path + " does not match " + certificate_path);
  }
  return DtlsCertificate(std::move(cert), std::move(key));
}

}  // namespace chorus::webrtc
