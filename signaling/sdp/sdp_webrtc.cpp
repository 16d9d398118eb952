#include "signaling/sdp/sdp_webrtc.hpp"

#include <algorithm>

#include "signaling/sdp/sdp_text.hpp"

namespace chorus::sdp {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The media-level attribute if there is one, else the session-level one.
const Attribute* find_either(const Session& session, const Media& media, std::string_view name) {
  if (const Attribute* a = media.find_attribute(name)) return a;
  return session.find_attribute(name);
}

std::string_view value_of(const Attribute* a) {
  return a && a->value ? std::string_view(*a->value) : std::string_view();
}

}  // namespace

bool is_ice_chars(std::string_view s) {
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '+' && c != '/') return false;
  }
  return true;
}

std::optional<Setup> setup_from_name(std::string_view name) {
  if (iequals(name, "active")) return Setup::kActive;
  if (iequals(name, "passive")) return Setup::kPassive;
  if (iequals(name, "actpass")) return Setup::kActPass;
  if (iequals(name, "holdconn")) return Setup::kHoldConn;
  return std::nullopt;
}

std::string_view setup_name(Setup setup) {
  switch (setup) {
    case Setup::kActive:
      return "active";
    case Setup::kPassive:
      return "passive";
    case Setup::kActPass:
      return "actpass";
    case Setup::kHoldConn:
      return "holdconn";
  }
  return "";
}

std::optional<Fingerprint> parse_fingerprint(std::string_view value) {
  const auto fields = split_fields(value);
  if (fields.size() != 2 || !is_token(fields[0])) return std::nullopt;
  Fingerprint fp;
  for (char c : fields[0]) fp.hash += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  // RFC 8122 §5: 2UHEX *(":" 2UHEX); lower case is accepted too.
  const std::string_view hex = fields[1];
  if (hex.size() % 3 != 2) return std::nullopt;
  for (std::size_t i = 0; i < hex.size(); i += 3) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0 || (i + 2 < hex.size() && hex[i + 2] != ':')) return std::nullopt;
    fp.bytes.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return fp;
}

std::string format_sha256_fingerprint(const Sha256& digest) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "sha-256 ";
  for (std::size_t i = 0; i < digest.size(); ++i) {
    if (i != 0) out += ':';
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0F];
  }
  return out;
}

Result<WebRtcTransport> parse_webrtc_transport(const Session& session, std::size_t index) {
  if (index >= session.media.size()) return Error{"no such m= section"};
  const Media& m = session.media[index];
  WebRtcTransport t;

  // RFC 8839 §5.4.
  const Attribute* ufrag = find_either(session, m, "ice-ufrag");
  const Attribute* pwd = find_either(session, m, "ice-pwd");
  if (!ufrag || !pwd) return Error{"ICE credentials missing (a=ice-ufrag, a=ice-pwd)"};
  t.ice_ufrag = std::string(value_of(ufrag));
  t.ice_pwd = std::string(value_of(pwd));
  if (t.ice_ufrag.size() < kIceUfragMin || t.ice_ufrag.size() > kIceMax ||
      !is_ice_chars(t.ice_ufrag)) {
    return Error{"bad a=ice-ufrag: 4-256 ice-chars required (RFC 8839 5.4)"};
  }
  if (t.ice_pwd.size() < kIcePwdMin || t.ice_pwd.size() > kIceMax || !is_ice_chars(t.ice_pwd)) {
    return Error{"bad a=ice-pwd: 22-256 ice-chars required (RFC 8839 5.4)"};
  }

  // RFC 8122 §5: several lines may name several hash functions; media-level
  // lines replace the session-level ones. We need sha-256 (what browsers
  // send and what the DTLS side checks).
  std::vector<std::string_view> values = m.attribute_values("fingerprint");
  if (values.empty()) {
    for (const Attribute& a : session.attributes) {
      if (a.name == "fingerprint") values.push_back(value_of(&a));
    }
  }
  if (values.empty()) return Error{"no a=fingerprint (DTLS-SRTP needs one, RFC 5763 5)"};
  std::string offered;
  bool found = false;
  for (std::string_view v : values) {
    auto fp = parse_fingerprint(v);
    if (!fp) return Error{"bad a=fingerprint"};
    if (fp->hash != "sha-256") {
      offered += (offered.empty() ? "" : ", ") + fp->hash;
      continue;
    }
    if (fp->bytes.size() != t.fingerprint.size()) return Error{"bad a=fingerprint: sha-256 length"};
    std::copy(fp->bytes.begin(), fp->bytes.end(), t.fingerprint.begin());
    found = true;
    break;
  }
  if (!found) return Error{"no sha-256 a=fingerprint (offered: " + offered + ")"};

  if (const Attribute* setup = find_either(session, m, "setup")) {
    auto s = setup_from_name(trim(value_of(setup)));
    if (!s) return Error{"bad a=setup"};
    t.setup = *s;
  }
  if (const Attribute* mid = m.find_attribute("mid"); mid && mid->value) {
    t.mid = *mid->value;
  }
  t.rtcp_mux = m.has_attribute("rtcp-mux");
  t.rtcp_rsize = m.has_attribute("rtcp-rsize");
  return t;
}

std::vector<std::vector<std::string>> bundle_groups(const Session& session) {
  std::vector<std::vector<std::string>> groups;
  for (const Attribute& a : session.attributes) {
    if (a.name != "group" || !a.value) continue;
    const auto fields = split_fields(*a.value);
    if (fields.empty() || !iequals(fields[0], "BUNDLE")) continue;
    std::vector<std::string> tags;
    for (std::size_t i = 1; i < fields.size(); ++i) tags.emplace_back(fields[i]);
    groups.push_back(std::move(tags));
  }
  return groups;
}

}  // namespace chorus::sdp
