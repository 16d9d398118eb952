#pragma once
// DTLS record framing (RFC 6347 §4.1), enough to split and pack datagrams:
// OpenSSL writes records into a memory BIO without datagram boundaries, and a
// UDP datagram may carry several records (§4.1.1). Views over the caller's
// bytes; nothing allocated, nothing kept.
//
//   0               1               2               3
//   +---------------+---------------+---------------+---------------+
//   | content type  | version major | version minor |     epoch     |
//   +---------------+---------------+---------------+---------------+
//   |     epoch     |           sequence_number (48 bits)           |
//   +---------------+---------------+---------------+---------------+
//   |                sequence_number                |    length     |
//   +---------------+---------------+---------------+---------------+
//   |    length     |  fragment (length bytes) ...
//   +---------------+---------------+---------------+---------------+
//
// A ClientHello is a handshake record (content type 22) of epoch 0 whose
// handshake message type (the fragment's first byte, §4.2.2) is 1.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace chorus::webrtc {

inline constexpr size_t kDtlsRecordHeader = 13;

enum class DtlsContentType : uint8_t {
  kChangeCipherSpec = 20,
  kAlert = 21,
  kHandshake = 22,
  kApplicationData = 23,
};

struct DtlsRecord {
  uint8_t content_type = 0;
  uint16_t version = 0;  // 0xFEFD: DTLS 1.2, 0xFEFF: DTLS 1.0
  uint16_t epoch = 0;
  uint64_t sequence = 0;  // 48 bits
  std::span<const uint8_t> fragment;
  size_t size() const { return kDtlsRecordHeader + fragment.size(); }
};

// The record at the front of `bytes`; nullopt when the header is incomplete
// or its length runs past the end.
std::optional<DtlsRecord> parse_dtls_record(std::span<const uint8_t> bytes);

// How many bytes at the front of `bytes` are whole records that together fit
// in `limit`: what one datagram of at most `limit` bytes can carry. 0 when
// the first record is malformed or alone exceeds `limit`.
size_t dtls_datagram_prefix(std::span<const uint8_t> bytes, size_t limit);

// Every record in `datagram` is well framed (what the demux calls DTLS and a
// handshake may be fed).
bool dtls_well_framed(std::span<const uint8_t> datagram);

// The datagram starts with an epoch-0 handshake record carrying a ClientHello:
// the start (or restart) of a handshake.
bool is_dtls_client_hello(std::span<const uint8_t> datagram);

}  // namespace chorus::webrtc
