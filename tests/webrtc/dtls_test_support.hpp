#pragma once
// The browser's side of DTLS-SRTP for tests: webrtc/dtls_client.hpp (an
// OpenSSL DTLS 1.2 client with use_srtp over memory BIOs) with its own
// self-signed certificate, speaking in whole datagrams like DtlsHandshake.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "webrtc/dtls_certificate.hpp"
#include "webrtc/dtls_client.hpp"
#include "webrtc/srtp_keys.hpp"

namespace chorus::webrtc::testing {

using Datagram = std::vector<uint8_t>;

// webrtc::DtlsClient (the library chorus-load uses too) with a certificate
// of its own, accepting any server certificate (tests read it afterwards),
// speaking in vectors of datagrams.
class DtlsTestClient {
 public:
  explicit DtlsTestClient(
      const char* srtp_profiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80",
      unsigned int initial_timeout_us = 1'000'000)
      : cert_(DtlsCertificate::generate("browser")),
        context_(cert_, config(srtp_profiles, initial_timeout_us)),
        client_(context_, std::nullopt) {}

  const Fingerprint& fingerprint() const { return cert_.fingerprint(); }

  // Runs the handshake as far as it goes; returns the datagrams to send.
  std::vector<Datagram> step() {
    client_.advance();
    return drain();
  }
  void receive(const Datagram& d) { client_.feed(d); }
  // The client's own retransmission timer, forced.
  std::vector<Datagram> retransmit() {
    client_.on_timeout(/*force=*/true);
    return drain();
  }
  bool timer_expired() const {
    const auto left = client_.timeout();
    return left && *left == std::chrono::steady_clock::duration::zero();
  }

  // Sends close_notify (RFC 5246 §7.2.1), as a page that hangs up does.
  std::vector<Datagram> close() {
    client_.close();
    return drain();
  }

  bool connected() const {
    return client_.connected() || (client_.state() == DtlsState::kClosed && was_connected_);
  }
  bool failed() const { return client_.failed(); }
  Fingerprint peer_fingerprint() const { return client_.peer_fingerprint(); }
  uint16_t profile() const { return client_.profile(); }
  // The client's view: its outbound keys are the client_write ones.
  SrtpKeys keys() const {
    const auto sizes = srtp_profile_sizes(profile());
    if (!sizes) throw std::runtime_error("no profile");
    std::array<uint8_t, 2 * SrtpKeys::kMaxKeySalt> m{};
    if (!client_.export_keying_material(m)) throw std::runtime_error("export");
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
  static DtlsClientConfig config(const char* profiles, unsigned int timeout_us) {
    DtlsClientConfig c;
    c.srtp_profiles = profiles;
    c.initial_timeout = std::chrono::microseconds(timeout_us);
    return c;
  }
  std::vector<Datagram> drain() {
    if (client_.connected()) was_connected_ = true;
    std::vector<Datagram> out;
    std::array<uint8_t, 1500> buf;
    while (const size_t n = client_.next_datagram(buf))
      out.emplace_back(buf.begin(), buf.begin() + n);
    return out;
  }

  DtlsCertificate cert_;
  DtlsClientContext context_;
  DtlsClient client_;
  bool was_connected_ = false;
};

}  // namespace chorus::webrtc::testing
