#include "signaling/sdp/sdp_attributes.hpp"

#include <array>

#include "signaling/sdp/sdp_base64.hpp"
#include "signaling/sdp/sdp_text.hpp"

namespace chorus::sdp {

// --- direction ----------------------------------------------------------------

std::string_view direction_name(Direction d) {
  switch (d) {
    case Direction::kSendRecv:
      return "sendrecv";
    case Direction::kSendOnly:
      return "sendonly";
    case Direction::kRecvOnly:
      return "recvonly";
    case Direction::kInactive:
      return "inactive";
  }
  return "sendrecv";
}

std::optional<Direction> direction_from_name(std::string_view name) {
  if (name == "sendrecv") return Direction::kSendRecv;
  if (name == "sendonly") return Direction::kSendOnly;
  if (name == "recvonly") return Direction::kRecvOnly;
  if (name == "inactive") return Direction::kInactive;
  return std::nullopt;
}

Direction mirror(Direction d) {
  switch (d) {
    case Direction::kSendOnly:
      return Direction::kRecvOnly;
    case Direction::kRecvOnly:
      return Direction::kSendOnly;
    default:
      return d;
  }
}

Direction restrict_to(Direction wanted, Direction allowed) {
  const bool send = sends(wanted) && sends(allowed);
  const bool recv = receives(wanted) && receives(allowed);
  if (send && recv) return Direction::kSendRecv;
  if (send) return Direction::kSendOnly;
  if (recv) return Direction::kRecvOnly;
  return Direction::kInactive;
}

// --- proto --------------------------------------------------------------------

namespace {
constexpr std::array<std::pair<Proto, std::string_view>, 6> kProtos = {{
    {Proto::kRtpAvp, "RTP/AVP"},
    {Proto::kRtpAvpf, "RTP/AVPF"},
    {Proto::kRtpSavp, "RTP/SAVP"},
    {Proto::kRtpSavpf, "RTP/SAVPF"},
    {Proto::kUdpTlsRtpSavp, "UDP/TLS/RTP/SAVP"},
    {Proto::kUdpTlsRtpSavpf, "UDP/TLS/RTP/SAVPF"},
}};
}  // namespace

Proto proto_from_name(std::string_view name) {
  // RFC 4566 §5.14 proto names are case-sensitive in the registry, but some
  // stacks send lower case; matching case-insensitively loses nothing.
  for (const auto& [proto, text] : kProtos) {
    if (iequals(name, text)) return proto;
  }
  return Proto::kOther;
}

std::string_view proto_name(Proto p) {
  for (const auto& [proto, text] : kProtos) {
    if (proto == p) return text;
  }
  return "";
}

// --- rtpmap -------------------------------------------------------------------

namespace {
std::optional<int> parse_payload_type(std::string_view s) {
  auto v = parse_u32(s, 127);
  if (!v) return std::nullopt;
  return static_cast<int>(*v);
}
}  // namespace

std::optional<RtpMap> parse_rtpmap(std::string_view value) {
  auto fields = split_fields(value);
  if (fields.size() != 2) return std::nullopt;
  auto pt = parse_payload_type(fields[0]);
  if (!pt) return std::nullopt;
  std::string_view rest = fields[1];
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  RtpMap map;
  map.payload_type = *pt;
  std::string_view encoding = rest.substr(0, slash);
  if (!is_token(encoding) || encoding.find('/') != std::string_view::npos) return std::nullopt;
  map.encoding = std::string(encoding);
  rest = rest.substr(slash + 1);
  slash = rest.find('/');
  auto clock = parse_u32(rest.substr(0, slash), 10'000'000);
  if (!clock || *clock == 0) return std::nullopt;
  map.clock_rate = *clock;
  if (slash != std::string_view::npos) {
    auto channels = parse_u32(rest.substr(slash + 1), 255);
    if (!channels || *channels == 0) return std::nullopt;
    map.channels = *channels;
  }
  return map;
}

std::string format_rtpmap(const RtpMap& map) {
  std::string out =
      std::to_string(map.payload_type) + ' ' + map.encoding + '/' + std::to_string(map.clock_rate);
  if (map.channels != 1) out += '/' + std::to_string(map.channels);
  return out;
}

std::optional<RtpMap> static_rtpmap(int payload_type) {
  // RFC 3551 §6 Table 4, the audio entries a conference server can meet.
  switch (payload_type) {
    case 0:
      return RtpMap{0, "PCMU", 8000, 1};
    case 3:
      return RtpMap{3, "GSM", 8000, 1};
    case 4:
      return RtpMap{4, "G723", 8000, 1};
    case 8:
      return RtpMap{8, "PCMA", 8000, 1};
    // G.722's RTP clock is 8000 although it samples at 16 kHz (RFC 3551 §4.5.2).
    case 9:
      return RtpMap{9, "G722", 8000, 1};
    case 13:
      return RtpMap{13, "CN", 8000, 1};
    case 18:
      return RtpMap{18, "G729", 8000, 1};
    default:
      return std::nullopt;
  }
}

// --- fmtp ---------------------------------------------------------------------

std::optional<std::string_view> Fmtp::get(std::string_view key) const {
  for (const auto& [k, v] : params) {
    if (iequals(k, key)) return std::string_view(v);
  }
  return std::nullopt;
}

std::string Fmtp::format_params() const {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += ';';
    out += k;
    if (!v.empty()) {
      out += '=';
      out += v;
    }
  }
  return out;
}

std::optional<Fmtp> parse_fmtp(std::string_view value) {
  auto space = value.find_first_of(" \t");
  if (space == std::string_view::npos) return std::nullopt;
  auto pt = parse_payload_type(value.substr(0, space));
  if (!pt) return std::nullopt;
  Fmtp fmtp;
  fmtp.payload_type = *pt;
  std::string_view rest = trim(value.substr(space));
  if (rest.empty()) return std::nullopt;
  constexpr std::size_t kMaxParams = 64;
  while (!rest.empty()) {
    auto semi = rest.find(';');
    std::string_view item = trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (item.empty()) continue;  // "a=1;" and "a=1; b=2" both occur
    if (fmtp.params.size() >= kMaxParams) return std::nullopt;
    auto eq = item.find('=');
    std::string_view key = trim(item.substr(0, eq));
    std::string_view val =
        eq == std::string_view::npos ? std::string_view() : trim(item.substr(eq + 1));
    if (key.empty()) return std::nullopt;
    fmtp.params.emplace_back(std::string(key), std::string(val));
  }
  if (fmtp.params.empty()) return std::nullopt;
  return fmtp;
}

std::string format_fmtp(const Fmtp& fmtp) {
  return std::to_string(fmtp.payload_type) + ' ' + fmtp.format_params();
}

std::optional<std::bitset<256>> parse_event_list(std::string_view list) {
  std::bitset<256> events;
  list = trim(list);
  if (list.empty()) return std::nullopt;
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    auto dash = item.find('-');
    auto first = parse_u32(item.substr(0, dash), 255);
    if (!first) return std::nullopt;
    std::uint32_t last = *first;
    if (dash != std::string_view::npos) {
      auto l = parse_u32(item.substr(dash + 1), 255);
      if (!l || *l < *first) return std::nullopt;
      last = *l;
    }
    for (std::uint32_t e = *first; e <= last; ++e) events.set(e);
  }
  return events;
}

std::string format_event_list(const std::bitset<256>& events) {
  std::string out;
  std::size_t e = 0;
  while (e < events.size()) {
    if (!events.test(e)) {
      ++e;
      continue;
    }
    std::size_t last = e;
    while (last + 1 < events.size() && events.test(last + 1)) ++last;
    if (!out.empty()) out += ',';
    out += std::to_string(e);
    if (last > e) out += '-' + std::to_string(last);
    e = last + 1;
  }
  return out;
}

// --- crypto -------------------------------------------------------------------

namespace {
constexpr std::array<std::pair<CryptoSuite, std::string_view>, 4> kSuites = {{
    {CryptoSuite::kAesCm128HmacSha1_80, "AES_CM_128_HMAC_SHA1_80"},
    {CryptoSuite::kAesCm128HmacSha1_32, "AES_CM_128_HMAC_SHA1_32"},
    {CryptoSuite::kAeadAes128Gcm, "AEAD_AES_128_GCM"},
    {CryptoSuite::kAeadAes256Gcm, "AEAD_AES_256_GCM"},
}};

std::optional<CryptoKey> parse_key_param(std::string_view param, std::string& why) {
  constexpr std::string_view kInline = "inline:";
  if (param.substr(0, kInline.size()) != kInline) {
    why = "unsupported key method (only inline, RFC 4568 §6.1)";
    return std::nullopt;
  }
  std::string_view info = param.substr(kInline.size());
  auto bar = info.find('|');
  CryptoKey key;
  auto decoded = base64_decode(info.substr(0, bar));
  if (!decoded || decoded->empty()) {
    why = "bad base64 key";
    return std::nullopt;
  }
  key.key_salt = std::move(*decoded);
  info = bar == std::string_view::npos ? std::string_view() : info.substr(bar + 1);
  int extra = 0;
  while (!info.empty() || bar != std::string_view::npos) {
    if (++extra > 2) {
      why = "too many key parameters";
      return std::nullopt;
    }
    bar = info.find('|');
    std::string_view part = info.substr(0, bar);
    info = bar == std::string_view::npos ? std::string_view() : info.substr(bar + 1);
    if (auto colon = part.find(':'); colon != std::string_view::npos) {
      // MKI: <value>:<length>, length 1..128 bytes (RFC 4568 §9.1).
      auto value = parse_u64(part.substr(0, colon));
      auto length = parse_u32(part.substr(colon + 1), 128);
      if (key.mki_value || !value || !length || *length == 0) {
        why = "bad MKI";
        return std::nullopt;
      }
      key.mki_value = *value;
      key.mki_length = *length;
    } else {
      if (key.lifetime || key.mki_value) {
        why = "bad lifetime";
        return std::nullopt;
      }
      if (part.substr(0, 2) == "2^") {
        auto exponent = parse_u32(part.substr(2), 63);
        if (!exponent) {
          why = "bad lifetime";
          return std::nullopt;
        }
        key.lifetime = std::uint64_t{1} << *exponent;
      } else {
        auto lifetime = parse_u64(part);
        if (!lifetime || *lifetime == 0) {
          why = "bad lifetime";
          return std::nullopt;
        }
        key.lifetime = *lifetime;
      }
    }
    if (bar == std::string_view::npos) break;
  }
  return key;
}

std::string format_lifetime(std::uint64_t lifetime) {
  if ((lifetime & (lifetime - 1)) == 0) {
    int exponent = 0;
    while ((std::uint64_t{1} << exponent) != lifetime) ++exponent;
    return "2^" + std::to_string(exponent);
  }
  return std::to_string(lifetime);
}
}  // namespace

std::string_view crypto_suite_name(CryptoSuite suite) {
  for (const auto& [s, name] : kSuites) {
    if (s == suite) return name;
  }
  return "";
}

std::optional<CryptoSuite> crypto_suite_from_name(std::string_view name) {
  for (const auto& [s, text] : kSuites) {
    if (name == text) return s;
  }
  return std::nullopt;
}

std::size_t crypto_key_salt_size(CryptoSuite suite) {
  switch (suite) {
    case CryptoSuite::kAesCm128HmacSha1_80:
    case CryptoSuite::kAesCm128HmacSha1_32:
      return 16 + 14;  // RFC 4568 §6.2
    case CryptoSuite::kAeadAes128Gcm:
      return 16 + 12;  // RFC 7714 §12
    case CryptoSuite::kAeadAes256Gcm:
      return 32 + 12;  // RFC 7714 §12
  }
  return 0;
}

Result<Crypto> parse_crypto(std::string_view value) {
  auto fields = split_fields(value);
  if (fields.size() < 3) return Error{"crypto needs <tag> <suite> <key-params>"};
  Crypto crypto;
  if (fields[0].size() > 9) return Error{"bad crypto tag"};
  auto tag = parse_u64(fields[0]);
  if (!tag) return Error{"bad crypto tag"};
  crypto.tag = static_cast<std::uint32_t>(*tag);
  if (!is_token(fields[1])) return Error{"bad crypto suite"};
  crypto.suite = std::string(fields[1]);
  const auto suite = crypto_suite_from_name(crypto.suite);
  std::string_view params = fields[2];
  constexpr std::size_t kMaxKeys = 16;
  while (!params.empty()) {
    auto semi = params.find(';');
    std::string why;
    auto key = parse_key_param(params.substr(0, semi), why);
    if (!key) return Error{"crypto tag " + std::to_string(crypto.tag) + ": " + why};
    if (suite && key->key_salt.size() != crypto_key_salt_size(*suite)) {
      return Error{"crypto tag " + std::to_string(crypto.tag) + ": key is " +
                   std::to_string(key->key_salt.size()) + " bytes, " + crypto.suite + " needs " +
                   std::to_string(crypto_key_salt_size(*suite))};
    }
    if (crypto.keys.size() >= kMaxKeys) return Error{"too many crypto keys"};
    crypto.keys.push_back(std::move(*key));
    if (semi == std::string_view::npos) break;
    params = params.substr(semi + 1);
    if (params.empty()) return Error{"empty crypto key parameter"};
  }
  for (std::size_t i = 3; i < fields.size(); ++i) crypto.session_params.emplace_back(fields[i]);
  return crypto;
}

std::string format_crypto(const Crypto& crypto) {
  std::string out = std::to_string(crypto.tag) + ' ' + crypto.suite + ' ';
  bool first = true;
  for (const auto& key : crypto.keys) {
    if (!first) out += ';';
    first = false;
    out += "inline:";
    out += base64_encode(key.key_salt);
    if (key.lifetime) out += '|' + format_lifetime(*key.lifetime);
    if (key.mki_value && key.mki_length) {
      out += '|' + std::to_string(*key.mki_value) + ':' + std::to_string(*key.mki_length);
    }
  }
  for (const auto& p : crypto.session_params) out += ' ' + p;
  return out;
}

// --- rtcp ---------------------------------------------------------------------

std::optional<RtcpAttribute> parse_rtcp(std::string_view value) {
  auto fields = split_fields(value);
  if (fields.size() != 1 && fields.size() != 4) return std::nullopt;
  auto port = parse_u32(fields[0], 65535);
  if (!port) return std::nullopt;
  RtcpAttribute rtcp;
  rtcp.port = static_cast<std::uint16_t>(*port);
  if (fields.size() == 4) {
    if (!is_token(fields[1]) || !is_token(fields[2]) || !is_visible(fields[3])) return std::nullopt;
    rtcp.net_type = std::string(fields[1]);
    rtcp.addr_type = std::string(fields[2]);
    rtcp.address = std::string(fields[3]);
  }
  return rtcp;
}

std::string format_rtcp(const RtcpAttribute& rtcp) {
  std::string out = std::to_string(rtcp.port);
  if (rtcp.net_type && rtcp.addr_type && rtcp.address) {
    out += ' ' + *rtcp.net_type + ' ' + *rtcp.addr_type + ' ' + *rtcp.address;
  }
  return out;
}

// --- extmap -------------------------------------------------------------------

std::optional<ExtMap> parse_extmap(std::string_view value) {
  auto space = value.find_first_of(" \t");
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view id_part = value.substr(0, space);
  ExtMap ext;
  if (auto slash = id_part.find('/'); slash != std::string_view::npos) {
    auto d = direction_from_name(id_part.substr(slash + 1));
    if (!d) return std::nullopt;
    ext.direction = *d;
    id_part = id_part.substr(0, slash);
  }
  // RFC 8285 §5: 1-14 (one-byte), 1-255 (two-byte); 15 is reserved.
  auto id = parse_u32(id_part, 255);
  if (!id || *id == 0 || *id == 15) return std::nullopt;
  ext.id = static_cast<int>(*id);
  std::string_view rest = trim(value.substr(space));
  auto next = rest.find_first_of(" \t");
  std::string_view uri = rest.substr(0, next);
  if (!is_visible(uri)) return std::nullopt;
  ext.uri = std::string(uri);
  if (next != std::string_view::npos) ext.attributes = std::string(trim(rest.substr(next)));
  return ext;
}

std::string format_extmap(const ExtMap& ext) {
  std::string out = std::to_string(ext.id);
  if (ext.direction) {
    out += '/';
    out += direction_name(*ext.direction);
  }
  out += ' ' + ext.uri;
  if (!ext.attributes.empty()) out += ' ' + ext.attributes;
  return out;
}

// --- ssrc ---------------------------------------------------------------------

std::optional<SsrcAttribute> parse_ssrc(std::string_view value) {
  auto space = value.find_first_of(" \t");
  if (space == std::string_view::npos) return std::nullopt;
  auto ssrc = parse_u32(value.substr(0, space), 0xFFFFFFFFu);
  if (!ssrc) return std::nullopt;
  std::string_view rest = trim(value.substr(space));
  auto colon = rest.find(':');
  std::string_view name = rest.substr(0, colon);
  if (!is_token(name)) return std::nullopt;
  SsrcAttribute a{*ssrc, std::string(name), std::nullopt};
  if (colon != std::string_view::npos) a.value = std::string(rest.substr(colon + 1));
  return a;
}

}  // namespace chorus::sdp
