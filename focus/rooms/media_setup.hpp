#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mixer/command.hpp"
#include "signaling/sdp/offer_answer.hpp"
#include "signaling/sdp/sdp_session.hpp"

// The glue between an SDP exchange (RFC 3264) and the mixer: what stream a
// negotiated session becomes, and how the bound port gets into our SDP.
namespace chorus::focus {

// Any port in the range stands in until the shard binds the real one.
inline constexpr uint16_t kPlaceholderPort = 9;

// A reason phrase must be one line of text (RFC 3261 §25.1 Reason-Phrase).
std::string reason_text(std::string_view prefix, std::string_view detail);
// A Warning header value with code 304 (RFC 3261 §20.43, "Media type not
// available"): `text` as a quoted-string, its quotes and backslashes escaped
// as quoted-pairs (§25.1), so that text taken from the peer's SDP cannot end
// the string early and leave an unparsable header.
std::string warning_304(std::string_view text);
bool is_sdp(std::string_view content_type);
// RFC 3264 §8.4: what the peer's direction asks of us.
mixer::HoldMode hold_mode(const sdp::Negotiated& negotiated);
// The mixer command for a negotiated stream; nullopt when the codec or the
// keys cannot be carried (the caller answers 488).
std::optional<mixer::Command> add_command(const sdp::Negotiated& negotiated,
                                          std::chrono::milliseconds rtp_timeout);
// The SDES keys (RFC 4568) of a negotiated stream for the shard: sizes 0
// when the stream is plain RTP; nullopt when a key cannot be carried.
std::optional<rtp::SrtpKeys> srtp_keys(const sdp::Negotiated& negotiated);
// A browser member's ICE-lite credentials and DTLS peer fingerprint for the
// stream; nullopt for a plain SIP member.
std::optional<rtp::WebRtcConfig> webrtc_config(const sdp::Negotiated& negotiated);
// Writes the bound port into the audio m= line (and a=rtcp, a=candidate) of
// what we send.
void set_local_port(sdp::Session& session, size_t media_index, uint16_t port, bool rtcp_mux);

}  // namespace chorus::focus
