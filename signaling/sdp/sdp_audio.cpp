#include "signaling/sdp/sdp_audio.hpp"

#include "signaling/sdp/sdp_text.hpp"

namespace chorus::sdp {
namespace {

Error attribute_error(const char* name, std::string_view why = "malformed") {
  std::string m = "bad a=";
  m += name;
  m += ": ";
  m += why;
  return Error{std::move(m)};
}

}  // namespace

const RtpMap* AudioMedia::rtpmap(int payload_type) const {
  for (const auto& m : rtpmaps) {
    if (m.payload_type == payload_type) return &m;
  }
  return nullptr;
}

const Fmtp* AudioMedia::fmtp(int payload_type) const {
  for (const auto& f : fmtps) {
    if (f.payload_type == payload_type) return &f;
  }
  return nullptr;
}

const ExtMap* AudioMedia::extmap(std::string_view uri) const {
  for (const auto& e : extmaps) {
    if (e.uri == uri) return &e;
  }
  return nullptr;
}

Result<AudioMedia> parse_audio(const Session& session, std::size_t index) {
  if (index >= session.media.size()) return Error{"no such m= section"};
  const Media& m = session.media[index];
  if (m.media != "audio") return Error{"m= section " + std::to_string(index) + " is not audio"};

  AudioMedia audio;
  audio.index = index;
  audio.port = m.port;
  audio.port_count = m.port_count;
  audio.proto = proto_from_name(m.proto);
  audio.proto_text = m.proto;
  if (is_rtp(audio.proto)) {
    for (const auto& f : m.formats) {
      auto pt = parse_u32(f, 127);
      if (!pt) return Error{"bad m= format '" + f + "' for " + m.proto};
      audio.payload_types.push_back(static_cast<int>(*pt));
    }
  }
  if (const Connection* c = session.connection_for(index)) audio.connection = *c;

  // Session-level direction is the default; a media-level one overrides it.
  for (const auto& a : session.attributes) {
    if (auto d = direction_from_name(a.name); d && !a.value) audio.direction = *d;
  }

  bool media_direction_seen = false;
  for (const auto& a : m.attributes) {
    const std::string_view value = a.value ? std::string_view(*a.value) : std::string_view();
    if (auto d = direction_from_name(a.name)) {
      if (a.value) return attribute_error("direction", "takes no value");
      if (media_direction_seen) return attribute_error("direction", "more than one");
      media_direction_seen = true;
      audio.direction = *d;
    } else if (a.name == "rtpmap") {
      auto map = parse_rtpmap(value);
      if (!map) return attribute_error("rtpmap");
      if (audio.rtpmap(map->payload_type))
        return attribute_error("rtpmap", "duplicate payload type");
      audio.rtpmaps.push_back(std::move(*map));
    } else if (a.name == "fmtp") {
      auto fmtp = parse_fmtp(value);
      if (!fmtp) return attribute_error("fmtp");
      if (audio.fmtp(fmtp->payload_type)) return attribute_error("fmtp", "duplicate payload type");
      audio.fmtps.push_back(std::move(*fmtp));
    } else if (a.name == "ptime" || a.name == "maxptime") {
      // Some stacks write "20.0"; the integral part is what counts.
      std::string_view v = trim(value);
      if (auto dot = v.find('.'); dot != std::string_view::npos && all_digits(v.substr(dot + 1))) {
        v = v.substr(0, dot);
      }
      auto ms = parse_u32(v, 10'000);
      if (!ms || *ms == 0) return attribute_error(a.name == "ptime" ? "ptime" : "maxptime");
      (a.name == "ptime" ? audio.ptime : audio.maxptime) = *ms;
    } else if (a.name == "rtcp-mux") {
      audio.rtcp_mux = true;
    } else if (a.name == "rtcp") {
      auto rtcp = parse_rtcp(value);
      if (!rtcp) return attribute_error("rtcp");
      audio.rtcp = std::move(*rtcp);
    } else if (a.name == "crypto") {
      auto crypto = parse_crypto(value);
      if (!crypto) return attribute_error("crypto", crypto.error().message);
      audio.cryptos.push_back(std::move(crypto).value());
    } else if (a.name == "extmap") {
      auto ext = parse_extmap(value);
      if (!ext) return attribute_error("extmap");
      audio.extmaps.push_back(std::move(*ext));
    } else if (a.name == "ssrc") {
      auto ssrc = parse_ssrc(value);
      if (!ssrc) return attribute_error("ssrc");
      audio.ssrcs.push_back(std::move(*ssrc));
    }
  }
  // RFC 3551 static payload types need no rtpmap; fill them in so callers
  // look up one table.
  for (int pt : audio.payload_types) {
    if (!audio.rtpmap(pt)) {
      if (auto map = static_rtpmap(pt)) audio.rtpmaps.push_back(*map);
    }
  }
  return audio;
}

}  // namespace chorus::sdp
