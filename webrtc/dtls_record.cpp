#include "webrtc/dtls_record.hpp"

namespace chorus::webrtc {

std::optional<DtlsRecord> parse_dtls_record(std::span<const uint8_t> bytes) {
  if (bytes.size() < kDtlsRecordHeader) return std::nullopt;
  const size_t length = (size_t{bytes[11]} << 8) | bytes[12];
  if (bytes.size() - kDtlsRecordHeader < length) return std::nullopt;
  DtlsRecord r;
  r.content_type = bytes[0];
  r.version = static_cast<uint16_t>((bytes[1] << 8) | bytes[2]);
  r.epoch = static_cast<uint16_t>((bytes[3] << 8) | bytes[4]);
  r.sequence = 0;
  for (size_t i = 5; i < 11; ++i) r.sequence = (r.sequence << 8) | bytes[i];
  r.fragment = bytes.subspan(kDtlsRecordHeader, length);
  return r;
}

size_t dtls_datagram_prefix(std::span<const uint8_t> bytes, size_t limit) {
  size_t used = 0;
  while (used < bytes.size()) {
    const auto r = parse_dtls_record(bytes.subspan(used));
    if (!r || used + r->size() > limit) break;
    used += r->size();
  }
  return used;
}

bool dtls_well_framed(std::span<const uint8_t> datagram) {
  if (datagram.empty()) return false;
  return dtls_datagram_prefix(datagram, datagram.size()) == datagram.size();
}

bool is_dtls_client_hello(std::span<const uint8_t> datagram) {
  const auto r = parse_dtls_record(datagram);
  return r && r->content_type == static_cast<uint8_t>(DtlsContentType::kHandshake) &&
         r->epoch == 0 && !r->fragment.empty() && r->fragment[0] == 1;
}

}  // namespace chorus::webrtc
