#include "signaling/sdp/offer_answer.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <bitset>
#include <cassert>

#include "signaling/sdp/sdp_audio.hpp"
#include "signaling/sdp/sdp_base64.hpp"
#include "signaling/sdp/sdp_text.hpp"

namespace chorus::sdp {
namespace {

constexpr std::string_view kTelephoneEvent = "telephone-event";

// Our ICE credentials (RFC 8445 §5.3: ufrag at least 24 bits of randomness,
// pwd at least 128). 8 ice-chars (48 bits) keep ufrags of concurrent
// members apart; 24 ice-chars are 144 bits.
constexpr std::size_t kLocalUfragSize = 8;
constexpr std::size_t kLocalPwdSize = 24;

// RFC 8445 §5.1.2.1: priority = 2^24 * type preference + 2^8 * local
// preference + (256 - component id); host candidates have type preference
// 126, and we have one component (RTP and RTCP muxed).
std::uint32_t host_priority(std::uint32_t local_preference) {
  return (std::uint32_t{126} << 24) | (local_preference << 8) | (256 - 1);
}

std::string host_candidate(std::string_view foundation, std::uint32_t local_preference,
                           std::string_view address, std::uint16_t port) {
  std::string out(foundation);
  out += " 1 udp " + std::to_string(host_priority(local_preference)) + ' ';
  out += address;
  out += ' ' + std::to_string(port) + " typ host";
  return out;
}

bool is_ipv6(std::string_view address) {
  return address.find(':') != std::string_view::npos;
}

Connection connection_for(std::string_view address) {
  Connection c;
  c.addr_type = is_ipv6(address) ? "IP6" : "IP4";
  c.address = std::string(address);
  return c;
}

bool codec_matches(const CodecSpec& spec, const RtpMap& map) {
  return iequals(spec.encoding, map.encoding) && spec.clock_rate == map.clock_rate &&
         spec.channels == map.channels;
}

Attribute attr(std::string name, std::optional<std::string> value = std::nullopt) {
  return Attribute{std::move(name), std::move(value)};
}

// Media section refused per RFC 3264 §6: port 0, same proto and formats.
// Its a=mid stays (RFC 8829 §5.3.1: a rejected section keeps its mid, so a
// browser can match the answer's sections to its transceivers).
Media rejected_copy(const Media& offered) {
  Media m;
  m.media = offered.media;
  m.port = 0;
  m.proto = offered.proto;
  m.formats = offered.formats;
  if (const Attribute* mid = offered.find_attribute("mid")) m.attributes.push_back(*mid);
  return m;
}

// Remote offer/answer direction, with old-style hold folded in: c=0.0.0.0
// means the peer does not want to receive (RFC 3264 §8.4).
Direction effective_remote_direction(const AudioMedia& a) {
  if (a.null_connection()) return restrict_to(a.direction, Direction::kSendOnly);
  return a.direction;
}

void fill_remote_transport(const AudioMedia& a, Negotiated& n) {
  n.remote_address = a.connection ? a.connection->address : std::string();
  n.remote_rtp_port = a.port;
  if (n.rtcp_mux) {
    n.remote_rtcp_address = n.remote_address;
    n.remote_rtcp_port = a.port;
  } else if (a.rtcp) {
    // RFC 3605 §2.1: a=rtcp overrides the port+1 rule, optionally the address.
    n.remote_rtcp_port = a.rtcp->port;
    n.remote_rtcp_address = a.rtcp->address ? *a.rtcp->address : n.remote_address;
  } else {
    n.remote_rtcp_address = n.remote_address;
    n.remote_rtcp_port = a.port == 65535 ? 0 : static_cast<std::uint16_t>(a.port + 1);
  }
  // One SSRC only: with several (an RFC 5576 group) which one carries the
  // audio is not for us to guess.
  n.remote_ssrc.reset();
  for (const SsrcAttribute& s : a.ssrcs) {
    if (!n.remote_ssrc) {
      n.remote_ssrc = s.ssrc;
    } else if (*n.remote_ssrc != s.ssrc) {
      n.remote_ssrc.reset();
      break;
    }
  }
  n.remote_direction = effective_remote_direction(a);
  n.remote_hold = !receives(n.remote_direction);
  n.remote_ptime = a.ptime;
}

// A crypto line we can honour: a suite we run, one key without MKI, and no
// session parameters (RFC 4568 §6.3: an answerer that cannot honour every
// session parameter must not accept the line).
bool usable_crypto(const Crypto& c, CryptoSuite suite) {
  return c.known_suite() == suite && c.keys.size() == 1 && !c.keys[0].mki_value &&
         c.session_params.empty();
}

// RFC 4566 §5.7: every media section needs a c=, its own or the session's.
bool usable_connection(const AudioMedia& a) {
  return a.connection && a.connection->net_type == "IN" &&
         (a.connection->addr_type == "IP4" || a.connection->addr_type == "IP6");
}

std::uint16_t rtcp_port_of(const LocalMedia& media) {
  if (media.rtcp_port != 0) return media.rtcp_port;
  return media.rtp_port == 65535 ? 0 : static_cast<std::uint16_t>(media.rtp_port + 1);
}

}  // namespace

std::vector<CodecSpec> default_codecs() {
  return {
      // RFC 7587 §7: always opus/48000/2 in SDP, whatever is actually sent.
      CodecSpec{"opus", 48000, 2, 111, "useinbandfec=1"},
      CodecSpec{"G722", 8000, 1, 9, ""},
      CodecSpec{"PCMU", 8000, 1, 0, ""},
      CodecSpec{"PCMA", 8000, 1, 8, ""},
  };
}

RandomSource openssl_random() {
  return [](std::span<std::uint8_t> out) {
    return out.empty() || RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
  };
}

OfferAnswer::OfferAnswer(LocalCapabilities capabilities, RandomSource random)
    : caps_(std::move(capabilities)), random_(std::move(random)) {
  if (!random_) random_ = openssl_random();
#ifndef NDEBUG
  // Caller misuse, not network input: payload types we offer must be unique
  // dynamic-or-static RTP types (RFC 3551 §3).
  std::bitset<128> used;
  auto claim = [&used](int pt) {
    assert(pt >= 0 && pt < 128 && !used.test(static_cast<std::size_t>(pt)));
    used.set(static_cast<std::size_t>(pt));
  };
  for (const auto& spec : caps_.codecs) claim(spec.payload_type);
  if (caps_.telephone_event) {
    claim(caps_.telephone_event_pt_8000);
    claim(caps_.telephone_event_pt_48000);
  }
  assert(parse_event_list(caps_.telephone_events).has_value());
#endif
  // RFC 4566 §5.2 suggests an NTP timestamp; any number unique per session
  // works. 62 random bits keep it positive in every signed parser.
  std::uint8_t bytes[8] = {};
  std::uint64_t id = 0;
  if (random_(bytes)) {
    for (std::uint8_t b : bytes) id = (id << 8) | b;
  }
  id &= (std::uint64_t{1} << 62) - 1;
  if (id == 0) id = 1;
  session_id_ = std::to_string(id);
  version_ = id % 100000;  // versions start anywhere (RFC 4566 §5.2); keep them short
}

Session OfferAnswer::base_session() const {
  Session s;
  s.origin.username = caps_.origin_user;
  s.origin.session_id = session_id_;
  s.origin.addr_type = is_ipv6(caps_.address) ? "IP6" : "IP4";
  s.origin.address = caps_.address;
  s.name = caps_.session_name;
  s.connection = connection_for(caps_.address);
  s.timings.push_back(Timing{});
  return s;
}

void OfferAnswer::stamp_origin(Session& session) {
  session.origin.session_version = 0;
  std::string body = session.serialize();
  // RFC 3264 §8: a new description carries version + 1; an unchanged one
  // (e.g. a session refresh re-INVITE) keeps the version.
  if (!last_body_.empty() && body != last_body_) ++version_;
  last_body_ = std::move(body);
  session.origin.session_version = version_;
}

std::optional<std::string> OfferAnswer::ice_chars(std::size_t size) {
  static constexpr char kIceChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<std::uint8_t> bytes(size);
  if (!random_(bytes)) return std::nullopt;
  std::string out;
  for (std::uint8_t b : bytes) out += kIceChars[b & 63];  // 64 symbols: uniform
  return out;
}

std::optional<std::vector<std::uint8_t>> OfferAnswer::local_key(const LocalMedia& media,
                                                                CryptoSuite suite) {
  for (const auto& given : media.srtp_keys) {
    if (given.suite == suite && given.key_salt.size() == crypto_key_salt_size(suite)) {
      return given.key_salt;
    }
  }
  std::vector<std::uint8_t> key(crypto_key_salt_size(suite));
  if (!random_(key)) return std::nullopt;
  return key;
}

// --- answerer -------------------------------------------------------------------

Result<OfferAnswerOutput> OfferAnswer::answer(std::string_view remote_offer,
                                              const LocalMedia& media, Direction wanted) {
  auto parsed = Session::parse(remote_offer);
  if (!parsed) return parsed.error();
  return answer(parsed.value(), media, wanted);
}

Result<OfferAnswerOutput> OfferAnswer::answer(const Session& offer, const LocalMedia& media,
                                              Direction wanted) {
  OfferAnswerOutput out;
  out.session = base_session();
  Negotiated& n = out.negotiated;
  n.reason = "no audio stream";
  n.local = media;
  n.local_ptime = caps_.ptime;

  for (std::size_t i = 0; i < offer.media.size(); ++i) {
    const Media& offered = offer.media[i];
    auto reject = [&](std::string why) {
      out.session.media.push_back(rejected_copy(offered));
      if (!n.accepted && offered.media == "audio") n.reason = std::move(why);
    };
    if (offered.media != "audio") {
      reject("not audio");
      continue;
    }
    if (n.accepted) {
      reject("one audio stream only");  // the mixer serves one stream per participant
      continue;
    }
    auto parsed = parse_audio(offer, i);
    if (!parsed) {
      reject(parsed.error().message);
      continue;
    }
    const AudioMedia& a = parsed.value();
    if (a.port == 0) {
      reject("stream disabled by the offerer");
      continue;
    }
    if (!is_rtp(a.proto)) {
      reject("unsupported transport " + a.proto_text);
      continue;
    }
    // A browser (RFC 8829 §5.2): ICE, DTLS-SRTP with us as the DTLS server,
    // RTP and RTCP on one port.
    std::optional<WebRtcTransport> dtls;
    if (is_dtls(a.proto)) {
      if (caps_.dtls_fingerprint.empty()) {
        reject("DTLS-SRTP not configured");
        continue;
      }
      auto transport = parse_webrtc_transport(offer, i);
      if (!transport) {
        reject(transport.error().message);
        continue;
      }
      if (transport->setup == Setup::kPassive || transport->setup == Setup::kHoldConn) {
        // RFC 5763 §5: we answer passive only; the peer must open DTLS.
        reject("a=setup:" + std::string(setup_name(transport->setup)) +
               " offered: we cannot be the DTLS client");
        continue;
      }
      if (!transport->rtcp_mux) {
        reject("a=rtcp-mux required for " + a.proto_text);
        continue;
      }
      dtls = std::move(transport).value();
    }
    if (!usable_connection(a)) {
      reject("no usable c= line (IN IP4 or IN IP6)");
      continue;
    }
    if (is_savp(a.proto) && caps_.srtp == SrtpPolicy::kOff) {
      reject("SRTP offered but disabled");
      continue;
    }
    if (!is_savp(a.proto) && !dtls && caps_.srtp == SrtpPolicy::kRequired) {
      reject("plain RTP offered but SRTP required");
      continue;
    }

    // Codec (RFC 3264 §6.1): answer with formats from the offer only.
    std::optional<RtpMap> chosen;
    if (caps_.honour_offerer_order) {
      for (int pt : a.payload_types) {
        const RtpMap* map = a.rtpmap(pt);
        if (!map) continue;
        for (const auto& spec : caps_.codecs) {
          if (codec_matches(spec, *map)) {
            chosen = *map;
            break;
          }
        }
        if (chosen) break;
      }
    } else {
      for (const auto& spec : caps_.codecs) {
        for (int pt : a.payload_types) {
          const RtpMap* map = a.rtpmap(pt);
          if (map && codec_matches(spec, *map)) {
            chosen = *map;
            break;
          }
        }
        if (chosen) break;
      }
    }
    if (!chosen) {
      reject("no common codec");
      continue;
    }
    const CodecSpec* spec = nullptr;
    for (const auto& s : caps_.codecs) {
      if (codec_matches(s, *chosen)) spec = &s;
    }

    // SDES (RFC 4568 §7.1.2): one offered line we accept, answered with our key.
    std::optional<NegotiatedSrtp> srtp;
    std::optional<Crypto> crypto_answer;
    // No a=crypto with DTLS-SRTP: its keys come from the handshake.
    const bool try_srtp = !dtls && caps_.srtp != SrtpPolicy::kOff && !a.cryptos.empty();
    if (try_srtp) {
      for (CryptoSuite suite : caps_.crypto_suites) {
        for (const auto& c : a.cryptos) {
          if (!usable_crypto(c, suite)) continue;
          auto key = local_key(media, suite);
          if (!key) return Error{"no random bytes for an SRTP key"};
          srtp = NegotiatedSrtp{suite, c.tag, c.keys[0].key_salt, *key};
          Crypto answer_line;
          answer_line.tag = c.tag;
          answer_line.suite = c.suite;
          answer_line.keys.push_back(
              CryptoKey{std::move(*key), std::nullopt, std::nullopt, std::nullopt});
          crypto_answer = std::move(answer_line);
          break;
        }
        if (srtp) break;
      }
    }
    if (is_savp(a.proto) && !srtp) {
      reject("no acceptable crypto suite");
      continue;
    }

    // We accept this stream.
    n = Negotiated{};
    n.accepted = true;
    n.media_index = i;
    n.local = media;
    n.local_ptime = caps_.ptime;
    n.codec.payload_type = chosen->payload_type;
    n.codec.encoding = chosen->encoding;
    n.codec.clock_rate = chosen->clock_rate;
    n.codec.channels = chosen->channels;
    if (const Fmtp* f = a.fmtp(chosen->payload_type)) n.codec.fmtp = f->params;
    n.rtcp_mux = dtls || (caps_.rtcp_mux && a.rtcp_mux);
    fill_remote_transport(a, n);
    if (dtls) {
      // RFC 8839 §4.2.1: c= and the port are only ICE's default candidate
      // (a browser writes 0.0.0.0:9, which is no hold); we send nowhere
      // until a connectivity check proved the path (RFC 7675).
      n.remote_address.clear();
      n.remote_rtp_port = 0;
      n.remote_rtcp_address.clear();
      n.remote_rtcp_port = 0;
      n.remote_direction = a.direction;
      n.remote_hold = !receives(n.remote_direction);
      NegotiatedWebRtc w;
      w.remote_ufrag = dtls->ice_ufrag;
      w.remote_pwd = dtls->ice_pwd;
      w.remote_fingerprint = dtls->fingerprint;
      w.remote_setup = dtls->setup;
      w.mid = dtls->mid.value_or("");
      if (webrtc_ && webrtc_->remote_ufrag == w.remote_ufrag &&
          webrtc_->remote_pwd == w.remote_pwd) {
        // Same credentials: no ICE restart, ours stay (RFC 8839 §4.4.1.1.2).
        w.local_ufrag = webrtc_->local_ufrag;
        w.local_pwd = webrtc_->local_pwd;
      } else {
        auto ufrag = ice_chars(kLocalUfragSize);
        auto pwd = ice_chars(kLocalPwdSize);
        if (!ufrag || !pwd) return Error{"no random bytes for ICE credentials"};
        w.local_ufrag = std::move(*ufrag);
        w.local_pwd = std::move(*pwd);
        w.ice_restart = webrtc_.has_value();
      }
      w.fingerprint_changed = webrtc_ && webrtc_->remote_fingerprint != w.remote_fingerprint;
      n.webrtc = std::move(w);
    }
    // RFC 3264 §6.1: sendonly -> recvonly, recvonly -> sendonly, inactive -> inactive.
    n.local_direction = restrict_to(wanted, mirror(n.remote_direction));
    n.srtp = std::move(srtp);

    Media m;
    m.media = "audio";
    m.port = media.rtp_port;
    m.proto = offered.proto;
    m.formats.push_back(std::to_string(chosen->payload_type));
    m.attributes.push_back(attr("rtpmap", format_rtpmap(*chosen)));
    if (spec && !spec->fmtp.empty()) {
      m.attributes.push_back(attr("fmtp", std::to_string(chosen->payload_type) + ' ' + spec->fmtp));
    }

    // RFC 4733 §2.5.1.2: telephone-event at the rate of the chosen codec.
    if (caps_.telephone_event) {
      auto ours = parse_event_list(caps_.telephone_events);
      for (int pt : a.payload_types) {
        const RtpMap* map = a.rtpmap(pt);
        if (!map || !iequals(map->encoding, kTelephoneEvent) ||
            map->clock_rate != chosen->clock_rate) {
          continue;
        }
        std::bitset<256> events = ours ? *ours : std::bitset<256>{};
        std::optional<std::bitset<256>> theirs;
        if (const Fmtp* f = a.fmtp(pt); f && !f->params.empty()) {
          theirs = parse_event_list(f->params[0].first);
        }
        // No fmtp means 0-15 (RFC 4733 §2.4.1).
        events &= theirs ? *theirs : *parse_event_list("0-15");
        if (events.none()) break;
        n.telephone_event_pt = pt;
        n.telephone_event_rate = map->clock_rate;
        m.formats.push_back(std::to_string(pt));
        m.attributes.push_back(attr("rtpmap", format_rtpmap(*map)));
        m.attributes.push_back(attr("fmtp", std::to_string(pt) + ' ' + format_event_list(events)));
        break;
      }
    }
    m.attributes.push_back(attr("ptime", std::to_string(caps_.ptime)));
    m.attributes.push_back(attr(std::string(direction_name(n.local_direction))));
    if (n.rtcp_mux) {
      m.attributes.push_back(attr("rtcp-mux"));
    } else {
      m.attributes.push_back(attr("rtcp", std::to_string(rtcp_port_of(media))));
    }
    if (crypto_answer) m.attributes.push_back(attr("crypto", format_crypto(*crypto_answer)));
    if (n.webrtc) {
      const NegotiatedWebRtc& w = *n.webrtc;
      // RFC 5506 §5: reduced-size RTCP only when offered.
      if (dtls->rtcp_rsize) m.attributes.push_back(attr("rtcp-rsize"));
      if (dtls->mid) m.attributes.push_back(attr("mid", *dtls->mid));
      m.attributes.push_back(attr("ice-ufrag", w.local_ufrag));
      m.attributes.push_back(attr("ice-pwd", w.local_pwd));
      m.attributes.push_back(attr("fingerprint", caps_.dtls_fingerprint));
      m.attributes.push_back(attr("setup", "passive"));  // RFC 5763 §5
      // ICE-lite (RFC 8445 §2.5): host candidates only, all of them now.
      m.attributes.push_back(
          attr("candidate", host_candidate("1", 65535, caps_.address, media.rtp_port)));
      if (!caps_.ice_public_address.empty() && caps_.ice_public_address != caps_.address) {
        m.attributes.push_back(attr(
            "candidate", host_candidate("2", 65534, caps_.ice_public_address, media.rtp_port)));
      }
      m.attributes.push_back(attr("end-of-candidates"));  // RFC 8840 §4.1
    }
    if (caps_.audio_level) {
      if (const ExtMap* ext = a.extmap(kAudioLevelUri); ext && ext->id <= 14) {
        // RFC 8285 §6: the answer reuses the offered id.
        n.audio_level_ext_id = ext->id;
        ExtMap answer_ext{ext->id, std::nullopt, ext->uri, ext->attributes};
        m.attributes.push_back(attr("extmap", format_extmap(answer_ext)));
      }
    }
    out.session.media.push_back(std::move(m));
  }

  if (n.accepted && n.webrtc) {
    // RFC 8445 §5.1.1: a lite agent says so at session level.
    out.session.attributes.push_back(attr("ice-lite"));
    // RFC 8843 §7.3: the answer's BUNDLE group holds the accepted sections
    // only: the audio one.
    const std::string& mid = n.webrtc->mid;
    for (const auto& group : bundle_groups(offer)) {
      if (!mid.empty() && std::find(group.begin(), group.end(), mid) != group.end()) {
        out.session.attributes.push_back(attr("group", "BUNDLE " + mid));
        break;
      }
    }
  }
  webrtc_ = n.accepted ? n.webrtc : std::optional<NegotiatedWebRtc>{};

  stamp_origin(out.session);
  out.sdp = out.session.serialize();
  return out;
}

// --- offerer --------------------------------------------------------------------

Result<OfferAnswerOutput> OfferAnswer::create_offer(const LocalMedia& media, Direction wanted) {
  PendingOffer pending;
  pending.media = media;
  pending.wanted = wanted;

  Media m;
  m.media = "audio";
  m.port = media.rtp_port;
  m.proto = caps_.srtp == SrtpPolicy::kRequired ? "RTP/SAVP" : "RTP/AVP";
  bool any_48k = false;
  for (const auto& spec : caps_.codecs) {
    m.formats.push_back(std::to_string(spec.payload_type));
    any_48k = any_48k || spec.clock_rate == 48000;
  }
  for (const auto& spec : caps_.codecs) {
    RtpMap map{spec.payload_type, spec.encoding, spec.clock_rate, spec.channels};
    m.attributes.push_back(attr("rtpmap", format_rtpmap(map)));
    if (!spec.fmtp.empty()) {
      m.attributes.push_back(attr("fmtp", std::to_string(spec.payload_type) + ' ' + spec.fmtp));
    }
  }
  if (caps_.telephone_event) {
    auto add_te = [&](int pt, std::uint32_t rate) {
      m.formats.push_back(std::to_string(pt));
      m.attributes.push_back(attr("rtpmap", format_rtpmap(RtpMap{pt, "telephone-event", rate, 1})));
      m.attributes.push_back(attr("fmtp", std::to_string(pt) + ' ' + caps_.telephone_events));
    };
    add_te(caps_.telephone_event_pt_8000, 8000);
    if (any_48k) add_te(caps_.telephone_event_pt_48000, 48000);
  }
  m.attributes.push_back(attr("ptime", std::to_string(caps_.ptime)));
  m.attributes.push_back(attr(std::string(direction_name(wanted))));
  if (caps_.rtcp_mux) m.attributes.push_back(attr("rtcp-mux"));
  // RFC 3605: say where RTCP goes in case the answerer does not mux.
  m.attributes.push_back(attr("rtcp", std::to_string(rtcp_port_of(media))));
  if (caps_.srtp != SrtpPolicy::kOff) {
    std::uint32_t tag = 1;
    for (CryptoSuite suite : caps_.crypto_suites) {
      auto key = local_key(media, suite);
      if (!key) return Error{"no random bytes for an SRTP key"};
      Crypto c;
      c.tag = tag++;
      c.suite = std::string(crypto_suite_name(suite));
      c.keys.push_back(CryptoKey{std::move(*key), std::nullopt, std::nullopt, std::nullopt});
      m.attributes.push_back(attr("crypto", format_crypto(c)));
      pending.cryptos.push_back(std::move(c));
    }
  }
  if (caps_.audio_level) {
    ExtMap ext{caps_.audio_level_ext_id, std::nullopt, std::string(kAudioLevelUri), ""};
    m.attributes.push_back(attr("extmap", format_extmap(ext)));
  }

  OfferAnswerOutput out;
  out.session = base_session();
  out.session.media.push_back(std::move(m));
  stamp_origin(out.session);
  out.sdp = out.session.serialize();
  Negotiated& n = out.negotiated;
  n.reason = "offer pending";
  n.local = media;
  n.local_ptime = caps_.ptime;
  n.local_direction = wanted;
  pending.session = out.session;
  pending.audio_index = 0;
  pending_ = std::move(pending);
  return out;
}

Result<Negotiated> OfferAnswer::process_answer(std::string_view remote_answer) {
  if (!pending_) return Error{"no offer pending"};
  auto parsed = Session::parse(remote_answer);
  if (!parsed) return parsed.error();
  const PendingOffer pending = std::move(*pending_);
  pending_.reset();
  const Session& answer = parsed.value();
  // RFC 3264 §6: the answer has exactly as many m= lines as the offer.
  if (answer.media.size() != pending.session.media.size()) {
    return Error{"answer has " + std::to_string(answer.media.size()) + " m= lines, offer had " +
                 std::to_string(pending.session.media.size())};
  }
  const std::size_t index = pending.audio_index;
  Negotiated n;
  n.media_index = index;
  n.local = pending.media;
  n.local_ptime = caps_.ptime;
  if (answer.media[index].media != "audio") return Error{"answer changed the media type"};
  if (answer.media[index].port == 0) {
    n.reason = "stream rejected by the peer";
    return n;
  }
  auto parsed_audio = parse_audio(answer, index);
  if (!parsed_audio) return parsed_audio.error();
  const AudioMedia& a = parsed_audio.value();
  if (is_dtls(a.proto) || !is_rtp(a.proto)) return Error{"answer changed the transport"};
  if (!usable_connection(a)) return Error{"answer has no usable c= line"};

  // Codec: the first answered format that matches something we offered.
  const Media& offered = pending.session.media[index];
  std::optional<RtpMap> chosen;
  for (int pt : a.payload_types) {
    const RtpMap* map = a.rtpmap(pt);
    if (!map || iequals(map->encoding, kTelephoneEvent)) continue;
    for (const auto& spec : caps_.codecs) {
      if (codec_matches(spec, *map)) {
        chosen = *map;
        break;
      }
    }
    if (chosen) break;
  }
  if (!chosen) return Error{"answer has no codec we offered"};
  n.codec.payload_type = chosen->payload_type;
  n.codec.encoding = chosen->encoding;
  n.codec.clock_rate = chosen->clock_rate;
  n.codec.channels = chosen->channels;
  if (const Fmtp* f = a.fmtp(chosen->payload_type)) n.codec.fmtp = f->params;
  for (int pt : a.payload_types) {
    const RtpMap* map = a.rtpmap(pt);
    if (map && caps_.telephone_event && iequals(map->encoding, kTelephoneEvent) &&
        map->clock_rate == chosen->clock_rate) {
      n.telephone_event_pt = pt;
      n.telephone_event_rate = map->clock_rate;
      break;
    }
  }

  // SDES: the answer names one of our tags with the same suite (RFC 4568 §7.1.3).
  if (!a.cryptos.empty() && caps_.srtp != SrtpPolicy::kOff) {
    if (a.cryptos.size() != 1) return Error{"answer has more than one a=crypto"};
    const Crypto& c = a.cryptos.front();
    const Crypto* ours = nullptr;
    for (const auto& o : pending.cryptos) {
      if (o.tag == c.tag) ours = &o;
    }
    if (!ours || ours->suite != c.suite) return Error{"answer a=crypto matches no offered tag"};
    auto suite = c.known_suite();
    if (!suite || c.keys.size() != 1 || c.keys[0].mki_value || !c.session_params.empty()) {
      return Error{"answer a=crypto not usable"};
    }
    n.srtp = NegotiatedSrtp{*suite, c.tag, c.keys[0].key_salt, ours->keys[0].key_salt};
  }
  if (!n.srtp && (caps_.srtp == SrtpPolicy::kRequired || is_savp(a.proto))) {
    n.reason = "peer did not agree to SRTP";
    return n;
  }

  n.rtcp_mux = caps_.rtcp_mux && a.rtcp_mux;
  fill_remote_transport(a, n);
  n.local_direction = restrict_to(pending.wanted, mirror(n.remote_direction));
  if (caps_.audio_level && offered.has_attribute("extmap")) {
    if (const ExtMap* ext = a.extmap(kAudioLevelUri)) n.audio_level_ext_id = ext->id;
  }
  n.accepted = true;
  return n;
}

}  // namespace chorus::sdp
