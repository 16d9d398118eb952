#include "signaling/sdp/sdp_session.hpp"

#include <algorithm>
#include <charconv>
#include <string>

#include "signaling/sdp/sdp_text.hpp"

namespace chorus::sdp {
namespace {

Error line_error(char type, std::size_t line_no, std::string_view why) {
  std::string message = "bad ";
  message += type;
  message += "= line ";
  message += std::to_string(line_no);
  message += ": ";
  message += why;
  return Error{std::move(message)};
}

std::optional<Connection> parse_connection(std::string_view value) {
  auto fields = split_fields(value);
  if (fields.size() != 3) return std::nullopt;
  if (!is_token(fields[0]) || !is_token(fields[1])) return std::nullopt;
  Connection c;
  c.net_type = std::string(fields[0]);
  c.addr_type = std::string(fields[1]);
  std::string_view address = fields[2];
  // Multicast "224.2.1.1/127/3" (RFC 4566 §5.7): keep the suffix verbatim.
  if (auto slash = address.find('/'); slash != std::string_view::npos) {
    std::string_view suffix = address.substr(slash + 1);
    address = address.substr(0, slash);
    if (suffix.empty() || !std::all_of(suffix.begin(), suffix.end(),
                                       [](char ch) { return is_digit(ch) || ch == '/'; })) {
      return std::nullopt;
    }
    c.address_suffix = std::string(suffix);
  }
  if (address.empty() || !is_visible(address)) return std::nullopt;
  c.address = std::string(address);
  return c;
}

std::optional<Origin> parse_origin(std::string_view value) {
  auto fields = split_fields(value);
  if (fields.size() != 6) return std::nullopt;
  Origin o;
  if (!is_visible(fields[0])) return std::nullopt;
  o.username = std::string(fields[0]);
  if (fields[1].empty() || !all_digits(fields[1]) || fields[1].size() > 64) return std::nullopt;
  o.session_id = std::string(fields[1]);
  auto version = parse_u64(fields[2]);
  if (!version) return std::nullopt;
  o.session_version = *version;
  if (!is_token(fields[3]) || !is_token(fields[4]) || !is_visible(fields[5])) return std::nullopt;
  o.net_type = std::string(fields[3]);
  o.addr_type = std::string(fields[4]);
  o.address = std::string(fields[5]);
  return o;
}

std::optional<Bandwidth> parse_bandwidth(std::string_view value) {
  auto colon = value.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view type = value.substr(0, colon);
  if (!is_token(type)) return std::nullopt;
  auto kbps = parse_u64(value.substr(colon + 1));
  if (!kbps) return std::nullopt;
  return Bandwidth{std::string(type), *kbps};
}

std::optional<Timing> parse_timing(std::string_view value) {
  auto fields = split_fields(value);
  if (fields.size() != 2) return std::nullopt;
  auto start = parse_u64(fields[0]);
  auto stop = parse_u64(fields[1]);
  if (!start || !stop) return std::nullopt;
  return Timing{*start, *stop, {}};
}

std::optional<Attribute> parse_attribute(std::string_view value) {
  auto colon = value.find(':');
  std::string_view name = value.substr(0, colon);
  if (!is_token(name)) return std::nullopt;
  Attribute a{std::string(name), std::nullopt};
  if (colon != std::string_view::npos) a.value = std::string(value.substr(colon + 1));
  return a;
}

std::optional<Media> parse_media_line(std::string_view value, std::string& why) {
  auto fields = split_fields(value);
  if (fields.size() < 4) {
    why = "needs <media> <port> <proto> <fmt>...";
    return std::nullopt;
  }
  if (fields.size() - 3 > kMaxFormatsPerMedia) {
    why = "too many formats";
    return std::nullopt;
  }
  Media m;
  if (!is_token(fields[0])) {
    why = "bad media type";
    return std::nullopt;
  }
  m.media = std::string(fields[0]);
  std::string_view port = fields[1];
  std::optional<std::string_view> count;
  if (auto slash = port.find('/'); slash != std::string_view::npos) {
    count = port.substr(slash + 1);
    port = port.substr(0, slash);
  }
  auto port_value = parse_u64(port);
  if (!port_value || *port_value > 65535) {
    why = "bad port";
    return std::nullopt;
  }
  m.port = static_cast<std::uint16_t>(*port_value);
  if (count) {
    auto n = parse_u64(*count);
    if (!n || *n == 0 || *n > 65535) {
      why = "bad port count";
      return std::nullopt;
    }
    m.port_count = static_cast<std::uint32_t>(*n);
  }
  // proto is token *("/" token) (RFC 4566 §9).
  std::string_view proto = fields[2];
  std::size_t start = 0;
  while (true) {
    auto slash = proto.find('/', start);
    if (!is_token(proto.substr(start, slash - start))) {
      why = "bad proto";
      return std::nullopt;
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  m.proto = std::string(proto);
  for (std::size_t i = 3; i < fields.size(); ++i) {
    if (!is_token(fields[i])) {
      why = "bad format";
      return std::nullopt;
    }
    m.formats.emplace_back(fields[i]);
  }
  return m;
}

void append_line(std::string& out, char type, std::string_view value) {
  out += type;
  out += '=';
  out += value;
  out += "\r\n";
}

void append_connection(std::string& out, const Connection& c) {
  out += "c=";
  out += c.net_type;
  out += ' ';
  out += c.addr_type;
  out += ' ';
  out += c.address;
  if (!c.address_suffix.empty()) {
    out += '/';
    out += c.address_suffix;
  }
  out += "\r\n";
}

void append_bandwidth(std::string& out, const Bandwidth& b) {
  out += "b=";
  out += b.type;
  out += ':';
  out += std::to_string(b.kbps);
  out += "\r\n";
}

void append_attribute(std::string& out, const Attribute& a) {
  out += "a=";
  out += a.name;
  if (a.value) {
    out += ':';
    out += *a.value;
  }
  out += "\r\n";
}

const Attribute* find_in(const std::vector<Attribute>& attributes, std::string_view name) {
  for (const auto& a : attributes) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

}  // namespace

const Attribute* Media::find_attribute(std::string_view name) const {
  return find_in(attributes, name);
}

std::vector<std::string_view> Media::attribute_values(std::string_view name) const {
  std::vector<std::string_view> values;
  for (const auto& a : attributes) {
    if (a.name == name) values.emplace_back(a.value ? std::string_view(*a.value) : "");
  }
  return values;
}

const Attribute* Session::find_attribute(std::string_view name) const {
  return find_in(attributes, name);
}

const Connection* Session::connection_for(std::size_t index) const {
  if (index < media.size() && !media[index].connections.empty()) {
    return &media[index].connections.front();
  }
  return connection ? &*connection : nullptr;
}

Result<Session> Session::parse(std::string_view text) {
  if (text.size() > kMaxSdpSize) return Error{"SDP larger than " + std::to_string(kMaxSdpSize)};
  if (text.empty()) return Error{"empty SDP"};

  Session s;
  bool have_version = false;
  bool have_origin = false;
  bool have_name = false;
  Media* current = nullptr;     // nullptr while in the session section
  std::size_t other_lines = 0;  // per section, bounded
  std::size_t line_no = 0;
  std::size_t pos = 0;

  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Some stacks pad lines with trailing blanks; they carry no meaning.
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty()) {
      // Tolerate blank lines only at the very end (a body with an extra CRLF).
      if (text.substr(pos).find_first_not_of("\r\n \t") == std::string_view::npos) break;
      return Error{"empty line " + std::to_string(line_no)};
    }
    if (line.size() > kMaxLineLength) return Error{"line " + std::to_string(line_no) + " too long"};
    if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') {
      return Error{"malformed line " + std::to_string(line_no) + " (expected <type>=<value>)"};
    }
    const char type = line[0];
    std::string_view value = line.substr(2);
    if (!is_text(value)) return line_error(type, line_no, "control character");

    if (!have_version) {
      // RFC 4566 §5: the description starts with v=0.
      if (type != 'v') return Error{"line 1 must be v=0"};
      if (value != "0") return line_error(type, line_no, "unsupported version");
      have_version = true;
      continue;
    }

    auto bump_other = [&]() { return ++other_lines <= kMaxOtherLinesPerSection; };

    switch (type) {
      case 'v':
        return line_error(type, line_no, "duplicate");
      case 'o': {
        if (current || have_origin) return line_error(type, line_no, "duplicate or misplaced");
        auto origin = parse_origin(value);
        if (!origin) return line_error(type, line_no, "expected 6 fields with numeric id/version");
        s.origin = std::move(*origin);
        have_origin = true;
        break;
      }
      case 's':
        if (current || have_name) return line_error(type, line_no, "duplicate or misplaced");
        s.name = std::string(value);
        have_name = true;
        break;
      case 'i':
        if (current) {
          if (current->title) return line_error(type, line_no, "duplicate");
          current->title = std::string(value);
        } else {
          if (s.info) return line_error(type, line_no, "duplicate");
          s.info = std::string(value);
        }
        break;
      case 'u':
        if (current || s.uri) return line_error(type, line_no, "duplicate or misplaced");
        s.uri = std::string(value);
        break;
      case 'e':
      case 'p':
        if (current) return line_error(type, line_no, "not allowed in a media section");
        if (!bump_other()) return line_error(type, line_no, "too many lines");
        (type == 'e' ? s.emails : s.phones).emplace_back(value);
        break;
      case 'c': {
        auto c = parse_connection(value);
        if (!c) return line_error(type, line_no, "expected <nettype> <addrtype> <address>");
        if (current) {
          if (!bump_other()) return line_error(type, line_no, "too many lines");
          current->connections.push_back(std::move(*c));
        } else {
          if (s.connection) return line_error(type, line_no, "duplicate");
          s.connection = std::move(*c);
        }
        break;
      }
      case 'b': {
        auto b = parse_bandwidth(value);
        if (!b) return line_error(type, line_no, "expected <bwtype>:<bandwidth>");
        if (!bump_other()) return line_error(type, line_no, "too many lines");
        (current ? current->bandwidths : s.bandwidths).push_back(std::move(*b));
        break;
      }
      case 't': {
        if (current) return line_error(type, line_no, "not allowed in a media section");
        auto t = parse_timing(value);
        if (!t) return line_error(type, line_no, "expected <start> <stop>");
        if (!bump_other()) return line_error(type, line_no, "too many lines");
        s.timings.push_back(std::move(*t));
        break;
      }
      case 'r':
        if (current || s.timings.empty()) return line_error(type, line_no, "r= without t=");
        if (!bump_other()) return line_error(type, line_no, "too many lines");
        s.timings.back().repeats.emplace_back(value);
        break;
      case 'z':
        if (current || s.zone) return line_error(type, line_no, "duplicate or misplaced");
        s.zone = std::string(value);
        break;
      case 'k':
        if (current) {
          if (current->key) return line_error(type, line_no, "duplicate");
          current->key = std::string(value);
        } else {
          if (s.key) return line_error(type, line_no, "duplicate");
          s.key = std::string(value);
        }
        break;
      case 'a': {
        auto a = parse_attribute(value);
        if (!a) return line_error(type, line_no, "bad attribute name");
        auto& list = current ? current->attributes : s.attributes;
        if (list.size() >= kMaxAttributesPerSection) {
          return line_error(type, line_no, "too many attributes");
        }
        list.push_back(std::move(*a));
        break;
      }
      case 'm': {
        if (s.media.size() >= kMaxMediaSections)
          return line_error(type, line_no, "too many m= sections");
        std::string why;
        auto m = parse_media_line(value, why);
        if (!m) return line_error(type, line_no, why);
        s.media.push_back(std::move(*m));
        current = &s.media.back();
        other_lines = 0;
        break;
      }
      default:
        // RFC 4566 §5: a type letter we do not understand invalidates the
        // whole description.
        return line_error(type, line_no, "unknown type");
    }
  }
  if (!have_version) return Error{"missing v= line"};
  if (!have_origin) return Error{"missing o= line"};
  if (!have_name) return Error{"missing s= line"};
  return s;
}

std::string Session::serialize() const {
  std::string out;
  out.reserve(512 + media.size() * 256);
  out += "v=" + std::to_string(version) + "\r\n";
  out += "o=";
  out += origin.username;
  out += ' ';
  out += origin.session_id;
  out += ' ';
  out += std::to_string(origin.session_version);
  out += ' ';
  out += origin.net_type;
  out += ' ';
  out += origin.addr_type;
  out += ' ';
  out += origin.address;
  out += "\r\n";
  // RFC 4566 §5.3 wants a non-empty s=; a single space is the "no name" form.
  append_line(out, 's', name.empty() ? std::string_view(" ") : std::string_view(name));
  if (info) append_line(out, 'i', *info);
  if (uri) append_line(out, 'u', *uri);
  for (const auto& e : emails) append_line(out, 'e', e);
  for (const auto& p : phones) append_line(out, 'p', p);
  if (connection) append_connection(out, *connection);
  for (const auto& b : bandwidths) append_bandwidth(out, b);
  if (timings.empty()) {
    out += "t=0 0\r\n";
  } else {
    for (const auto& t : timings) {
      out += "t=" + std::to_string(t.start) + ' ' + std::to_string(t.stop) + "\r\n";
      for (const auto& r : t.repeats) append_line(out, 'r', r);
    }
  }
  if (zone) append_line(out, 'z', *zone);
  if (key) append_line(out, 'k', *key);
  for (const auto& a : attributes) append_attribute(out, a);
  for (const auto& m : media) {
    out += "m=";
    out += m.media;
    out += ' ';
    out += std::to_string(m.port);
    if (m.port_count) out += '/' + std::to_string(*m.port_count);
    out += ' ';
    out += m.proto;
    for (const auto& f : m.formats) {
      out += ' ';
      out += f;
    }
    out += "\r\n";
    if (m.title) append_line(out, 'i', *m.title);
    for (const auto& c : m.connections) append_connection(out, c);
    for (const auto& b : m.bandwidths) append_bandwidth(out, b);
    if (m.key) append_line(out, 'k', *m.key);
    for (const auto& a : m.attributes) append_attribute(out, a);
  }
  return out;
}

}  // namespace chorus::sdp
