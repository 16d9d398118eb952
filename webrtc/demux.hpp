#pragma once
// Which protocol a datagram on a WebRTC media socket carries, from its first
// byte (RFC 7983 §7, updating RFC 5764 §5.1.2):
//
//                  +----------------+
//                  |        [0..3] -+--> STUN
//                  |      [16..19] -+--> ZRTP      (dropped)
//   datagram  ---> |      [20..63] -+--> DTLS
//                  |      [64..79] -+--> TURN channel (dropped: lite agent)
//                  |    [128..191] -+--> RTP / RTCP
//                  |           else +--> drop
//                  +----------------+
//
// With rtcp-mux (RFC 5761 §4) RTP and RTCP share the port: the second byte of
// RTCP is its packet type, 192–223 (SR 200, RR 201, SDES 202, BYE 203, APP
// 204, RTPFB 205, PSFB 206, XR 207), which RTP avoids by never using payload
// types 64–95 (with the marker bit set they would read 192–223).
// Pure functions over the caller's bytes: nothing allocated, nothing kept.

#include <cstddef>
#include <cstdint>
#include <span>

namespace chorus::webrtc {

enum class PacketKind : uint8_t { kStun, kDtls, kRtp, kRtcp, kDrop };

// Smallest datagram of each kind worth looking at: the STUN header (RFC 5389
// §6), the DTLS record header (RFC 6347 §4.1), the fixed RTP header (RFC 3550
// §5.1) and an RTCP header plus SSRC (§6.4).
inline constexpr size_t kMinStun = 20;
inline constexpr size_t kMinDtls = 13;
inline constexpr size_t kMinRtp = 12;
inline constexpr size_t kMinRtcp = 8;

// RFC 5761 §4: the second byte of an RTCP packet (its packet type).
constexpr bool is_rtcp_packet_type(uint8_t second_byte) {
  return second_byte >= 192 && second_byte <= 223;
}

constexpr PacketKind classify(std::span<const uint8_t> datagram) {
  if (datagram.empty()) return PacketKind::kDrop;
  const uint8_t b = datagram[0];
  if (b <= 3) return datagram.size() >= kMinStun ? PacketKind::kStun : PacketKind::kDrop;
  if (b >= 20 && b <= 63)
    return datagram.size() >= kMinDtls ? PacketKind::kDtls : PacketKind::kDrop;
  if (b >= 128 && b <= 191) {
    if (datagram.size() < 2) return PacketKind::kDrop;
    if (is_rtcp_packet_type(datagram[1])) {
      return datagram.size() >= kMinRtcp ? PacketKind::kRtcp : PacketKind::kDrop;
    }
    return datagram.size() >= kMinRtp ? PacketKind::kRtp : PacketKind::kDrop;
  }
  return PacketKind::kDrop;
}

}  // namespace chorus::webrtc
