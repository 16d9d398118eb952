#pragma once
// How a stream is set up: codec clock, telephone-event payload type, header
// extension ids, RTCP multiplexing, jitter buffer.

#include <array>
#include <bitset>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "rtp/jitter_buffer.hpp"

namespace chorus::rtp {

// Chosen by the signalling side, unique per shard; names the stream in
// commands and events.
using StreamId = uint32_t;

// An ICE credential (RFC 8839 §5.4: ufrag 4–256 characters, pwd 22–256) in
// fixed storage, so that a StreamConfig copies without allocating.
struct IceCredential {
  static constexpr size_t kMax = 256;
  std::array<char, kMax> bytes{};
  uint16_t size = 0;
  // Longer values are refused by the SDP layer first; here they are cut.
  void assign(std::string_view s) {
    size = static_cast<uint16_t>(s.size() < kMax ? s.size() : kMax);
    for (size_t i = 0; i < size; ++i) bytes[i] = s[i];
  }
  std::string_view view() const { return {bytes.data(), size}; }
};

// A browser member (issue #18): media over ICE-lite (RFC 8445 §2.5) and
// DTLS-SRTP (RFC 5763/5764, we are the DTLS server, a=setup:passive). The
// stream answers STUN checks carrying "<local_ufrag>:<remote_ufrag>" keyed
// with local_pwd, sends its own (return routability) keyed with remote_pwd,
// and accepts only the DTLS client whose certificate hashes
// to remote_fingerprint (sha-256, from the offer's a=fingerprint).
struct WebRtcConfig {
  IceCredential local_ufrag;
  IceCredential local_pwd;
  IceCredential remote_ufrag;  // empty: not known yet (any remote part accepted)
  // The browser's ice-pwd: keys the stream's own checks (return routability,
  // webrtc/check_sender.hpp) and the answers to them.
  IceCredential remote_pwd;
  std::array<uint8_t, 32> remote_fingerprint{};

  // A re-offer keeps the ICE state when these match (RFC 8839 §4.4.1.1.1).
  bool same_ice(const WebRtcConfig& o) const {
    return local_ufrag.view() == o.local_ufrag.view() && local_pwd.view() == o.local_pwd.view() &&
           remote_ufrag.view() == o.remote_ufrag.view() && remote_pwd.view() == o.remote_pwd.view();
  }
};

struct StreamConfig {
  StreamId id = 0;
  // The RTP clock of the audio payload (G.711: 8000; G.722: 8000 though it
  // samples at 16000, RFC 3551 §4.5.2; Opus: 48000, RFC 7587 §4.1).
  uint32_t clock_rate = 8000;
  uint32_t samples_per_tick = 160;  // RTP timestamp advance per 20 ms
  uint8_t telephone_event_pt = 0;   // RFC 4733; 0 = none
  // Payload types accepted for the jitter buffer (the SDP answer's audio
  // formats, comfort noise included); others are dropped as unknown_pt.
  std::bitset<128> payload_types = std::bitset<128>().set();
  uint8_t audio_level_ext_id = 0;  // RFC 6464 id from a=extmap; 0 = none
  bool rtcp_mux = true;            // RFC 5761; otherwise RTCP on port + 1
  JitterConfig jitter;
  // The largest payload the jitter buffer keeps per packet: the codec's
  // largest 20 ms frame (mixer::max_payload_bytes; the engine sets it from
  // the codec). Larger packets are dropped as too_large.
  uint16_t max_payload = JitterBuffer::kMaxPayload;
  // Payload bytes per frame the jitter buffer's arena budgets for
  // (mixer::jitter_frame_budget; 0 = max_payload). A packet the arena has
  // no room for is dropped as too_large as well.
  uint16_t frame_budget = 0;
  // The peer's SSRC when its SDP signals one (RFC 5576 a=ssrc). The
  // shared-port mode routes packets from an address it does not know to
  // this stream by it (a NAT'd member); nothing else uses it.
  std::optional<uint32_t> signalled_ssrc;
  // Inactivity before an RTP-timeout event (RTP or RTCP received both count);
  // zero = the shard's default.
  std::chrono::milliseconds rtp_timeout{0};
  // Set for a browser member (UDP/TLS/RTP/SAVPF); SDES keys (set_srtp) are
  // not used then: the keys come from the DTLS handshake.
  std::optional<WebRtcConfig> webrtc;
};

}  // namespace chorus::rtp
