#include "focus/rooms/media_setup.hpp"

#include <algorithm>
#include <cctype>

#include "signaling/asio.hpp"

namespace chorus::focus {
namespace {

std::optional<rtp::SrtpSuite> to_rtp_suite(sdp::CryptoSuite suite) {
  switch (suite) {
    case sdp::CryptoSuite::kAesCm128HmacSha1_80:
      return rtp::SrtpSuite::kAesCm128HmacSha1_80;
    case sdp::CryptoSuite::kAesCm128HmacSha1_32:
      return rtp::SrtpSuite::kAesCm128HmacSha1_32;
    case sdp::CryptoSuite::kAeadAes128Gcm:
      return rtp::SrtpSuite::kAeadAes128Gcm;
    case sdp::CryptoSuite::kAeadAes256Gcm:
      return rtp::SrtpSuite::kAeadAes256Gcm;
  }
  return std::nullopt;
}

}  // namespace

std::optional<rtp::SrtpKeys> srtp_keys(const sdp::Negotiated& negotiated) {
  rtp::SrtpKeys keys;
  if (!negotiated.srtp) return keys;  // sizes 0: plain RTP
  const auto suite = to_rtp_suite(negotiated.srtp->suite);
  const auto& in = negotiated.srtp->remote_key_salt;
  const auto& out = negotiated.srtp->local_key_salt;
  if (!suite || in.size() > rtp::SrtpKeys::kMaxKeySalt || out.size() > rtp::SrtpKeys::kMaxKeySalt) {
    return std::nullopt;
  }
  keys.suite = *suite;
  std::copy(in.begin(), in.end(), keys.inbound.begin());
  keys.inbound_size = static_cast<uint8_t>(in.size());
  std::copy(out.begin(), out.end(), keys.outbound.begin());
  keys.outbound_size = static_cast<uint8_t>(out.size());
  return keys;
}

std::optional<rtp::WebRtcConfig> webrtc_config(const sdp::Negotiated& negotiated) {
  if (!negotiated.webrtc) return std::nullopt;
  const sdp::NegotiatedWebRtc& w = *negotiated.webrtc;
  rtp::WebRtcConfig config;
  // The SDP layer refused credentials longer than IceCredential holds.
  config.local_ufrag.assign(w.local_ufrag);
  config.local_pwd.assign(w.local_pwd);
  config.remote_ufrag.assign(w.remote_ufrag);
  config.remote_pwd.assign(w.remote_pwd);
  config.remote_fingerprint = w.remote_fingerprint;
  return config;
}

// A reason phrase must be one line of text (RFC 3261 §25.1 Reason-Phrase).
std::string reason_text(std::string_view prefix, std::string_view detail) {
  std::string out(prefix);
  if (!detail.empty()) {
    out += ": ";
    for (char c : detail.substr(0, 100)) {
      // No control character (DEL too): a header line or reason phrase
      // carrying one is refused by the message writer.
      const auto u = static_cast<unsigned char>(c);
      out += (u < 0x20 || u == 0x7f) ? ' ' : c;
    }
  }
  return out;
}

std::string warning_304(std::string_view text) {
  std::string out = "304 chorus \"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

bool is_sdp(std::string_view content_type) {
  const std::string_view type = content_type.substr(0, content_type.find(';'));
  std::string lower;
  for (char c : type) {
    if (c != ' ' && c != '\t')
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return lower == "application/sdp";
}

// RFC 3264 §8.4: what the peer's direction asks of us. sendonly: it holds us
// and hears music; inactive: nothing flows at all.
mixer::HoldMode hold_mode(const sdp::Negotiated& negotiated) {
  // RFC 3264 §6.1: a sendonly or inactive offer (or the old c=0.0.0.0 hold)
  // says the member will not receive: the focus sends it no RTP (RTCP goes
  // on, §5.1) and mixes none of what it sends (its phone's hold music).
  switch (negotiated.remote_direction) {
    case sdp::Direction::kSendOnly:
    case sdp::Direction::kInactive:
      return mixer::HoldMode::kInactive;
    default:
      return negotiated.remote_hold ? mixer::HoldMode::kInactive : mixer::HoldMode::kNone;
  }
}

// The mixer command for a negotiated stream; nullopt when the codec or the
// keys cannot be carried (the caller answers 488).
std::optional<mixer::Command> add_command(const sdp::Negotiated& negotiated,
                                          std::chrono::milliseconds rtp_timeout) {
  const auto codec = mixer::codec_from_name(negotiated.codec.encoding);
  if (!codec) return std::nullopt;
  mixer::Command command;
  command.kind = mixer::Command::Kind::kAddParticipant;
  command.codec = mixer::default_params(*codec);
  command.payload_type = static_cast<uint8_t>(negotiated.codec.payload_type);
  command.stream.clock_rate = negotiated.codec.clock_rate;
  command.stream.samples_per_tick = mixer::rtp_timestamp_step(command.codec);
  command.stream.payload_types.reset();
  command.stream.payload_types.set(command.payload_type & 0x7F);
  if (negotiated.telephone_event_pt) {
    command.stream.telephone_event_pt = static_cast<uint8_t>(*negotiated.telephone_event_pt);
    command.stream.payload_types.set(command.stream.telephone_event_pt & 0x7F);
  }
  command.stream.payload_types.set(13);  // comfort noise (RFC 3389)
  if (negotiated.audio_level_ext_id) {
    command.stream.audio_level_ext_id = static_cast<uint8_t>(*negotiated.audio_level_ext_id);
  }
  command.stream.rtcp_mux = negotiated.rtcp_mux;
  command.stream.signalled_ssrc = negotiated.remote_ssrc;
  command.stream.rtp_timeout = rtp_timeout;
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(negotiated.remote_address, error);
  if (!error && !address.is_unspecified() && negotiated.remote_rtp_port != 0) {
    command.has_remote = true;
    command.remote_rtp = {address, negotiated.remote_rtp_port};
    const auto rtcp_address = boost::asio::ip::make_address(negotiated.remote_rtcp_address, error);
    command.remote_rtcp = {error ? address : rtcp_address, negotiated.remote_rtcp_port};
  }
  command.stream.webrtc = webrtc_config(negotiated);
  if (negotiated.srtp) {
    const auto keys = srtp_keys(negotiated);
    if (!keys) return std::nullopt;
    command.has_srtp = true;
    command.srtp = *keys;
  }
  command.settings.hold = hold_mode(negotiated);
  return command;
}

// The shard binds the port only after the SDP was built: write it into the
// audio m= line (and the explicit a=rtcp, if any) of what we send.
void set_local_port(sdp::Session& session, size_t media_index, uint16_t port, bool rtcp_mux) {
  if (media_index >= session.media.size()) return;
  sdp::Media& media = session.media[media_index];
  media.port = port;
  for (sdp::Attribute& attribute : media.attributes) {
    if (attribute.name == "candidate" && attribute.value) {
      // RFC 8839 §5.1: <foundation> <component> <transport> <priority>
      // <address> <port> typ host: the port is the sixth field.
      std::string& text = *attribute.value;
      size_t start = 0;
      for (int field = 0; field < 5 && start != std::string::npos; ++field) {
        start = text.find(' ', start);
        if (start != std::string::npos) ++start;
      }
      if (start == std::string::npos) continue;
      const size_t end = std::min(text.find(' ', start), text.size());
      text.replace(start, end - start, std::to_string(port));
      continue;
    }
    if (attribute.name != "rtcp" || !attribute.value) continue;
    const std::string rest =
        attribute.value->substr(std::min(attribute.value->find(' '), attribute.value->size()));
    attribute.value = std::to_string(rtcp_mux ? port : port + 1) + rest;  // RFC 3605 §2.1
  }
}

}  // namespace chorus::focus
