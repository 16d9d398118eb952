// libFuzzer target for DTLS record framing and the DTLS-SRTP server
// handshake (webrtc/dtls_record.hpp, webrtc/dtls_transport.hpp): arbitrary
// datagrams fed to a fresh server handshake, as a browser (or anyone who can
// reach the media port) could send them.
//
// Input: a sequence of datagrams, each a 2-byte big-endian length and that
// many bytes (the last one may be short). A length with its top bit set
// (0x8000) fires the retransmission timer before its datagram is fed.
// Properties: nothing crashes or leaks; every datagram the server sends is
// whole, well-framed records within the MTU; keys exist only when connected.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "webrtc/demux.hpp"
#include "webrtc/dtls_certificate.hpp"
#include "webrtc/dtls_record.hpp"
#include "webrtc/dtls_transport.hpp"

namespace {

using namespace chorus::webrtc;

volatile uint32_t g_sink = 0;

const DtlsContext& context() {
  static const DtlsCertificate cert = DtlsCertificate::generate("fuzz");
  static const DtlsContext ctx(cert);
  return ctx;
}

void framing(std::span<const uint8_t> d) {
  g_sink = g_sink + dtls_well_framed(d) + is_dtls_client_hello(d) +
           static_cast<uint32_t>(dtls_datagram_prefix(d, 1200));
  std::span<const uint8_t> rest = d;
  while (const auto r = parse_dtls_record(rest)) {
    for (uint8_t b : r->fragment) g_sink = g_sink + b;
    g_sink = g_sink + r->content_type + r->epoch + static_cast<uint32_t>(r->sequence);
    rest = rest.subspan(r->size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any fingerprint: the fuzzer cannot sign, so a handshake never completes
  // with a certificate; everything before that is reachable.
  Fingerprint remote;
  remote.sha256.fill(0x11);
  DtlsHandshake server(context(), remote);
  std::array<uint8_t, 1500> out;
  size_t pos = 0;
  for (int datagrams = 0; datagrams < 64 && pos + 2 <= size; ++datagrams) {
    const uint16_t header = static_cast<uint16_t>(data[pos] << 8 | data[pos + 1]);
    pos += 2;
    const size_t n = std::min<size_t>(header & 0x7FFF, size - pos);
    const std::span<const uint8_t> d(data + pos, n);
    pos += n;
    framing(d);
    if (header & 0x8000) server.on_timeout();
    if (classify(d) == PacketKind::kDtls) server.on_datagram(d);
    for (int i = 0; i < 64; ++i) {
      const size_t m = server.next_datagram(out);
      if (m == 0) break;
      if (m > context().config().mtu || !dtls_well_framed(std::span(out).first(m))) {
        __builtin_trap();
      }
    }
    if (server.state() != DtlsState::kConnected && server.keys().key_salt_size != 0) {
      __builtin_trap();
    }
  }
  g_sink = g_sink + static_cast<uint32_t>(server.state()) + static_cast<uint32_t>(server.failure());
  return 0;
}
