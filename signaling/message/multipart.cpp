#include "signaling/message/multipart.hpp"

#include <string>

#include "signaling/message/header_params.hpp"
#include "signaling/message/method.hpp"

namespace chorus::sip {
namespace {

// Finds "--boundary" at the start of a line at or after `from`.
size_t find_delimiter(std::string_view body, std::string_view dash_boundary, size_t from) {
  size_t pos = from;
  while (true) {
    pos = body.find(dash_boundary, pos);
    if (pos == std::string_view::npos) return pos;
    if (pos == 0 || body[pos - 1] == '\n') return pos;
    ++pos;
  }
}

// Parses a part: header lines, a blank line, content (RFC 2046 §5.1.1: a
// part with no header lines starts with the blank line).
std::optional<BodyPart> parse_part(std::string_view text) {
  BodyPart part;
  size_t pos = 0;
  while (true) {
    if (pos >= text.size()) return std::nullopt;  // no blank line
    size_t lf = text.find('\n', pos);
    if (lf == std::string_view::npos) return std::nullopt;
    std::string_view line = text.substr(pos, lf - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t line_start = pos;
    pos = lf + 1;
    if (line.empty()) break;
    if (is_ws(line.front())) {
      if (part.headers.empty()) return std::nullopt;
      // Folded: extend the previous value up to the end of this line.
      auto& value = part.headers.back().second;
      const size_t begin = static_cast<size_t>(value.data() - text.data());
      value = trim(text.substr(begin, line_start + line.size() - begin));
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto name = trim(line.substr(0, colon));
    if (!is_token(name)) return std::nullopt;
    auto value = trim(line.substr(colon + 1));
    if (value.empty()) value = line.substr(line.size());
    part.headers.emplace_back(name, value);
  }
  part.body = text.substr(pos);
  return part;
}

}  // namespace

std::optional<std::string_view> BodyPart::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::optional<std::vector<BodyPart>> parse_multipart(std::string_view body,
                                                     std::string_view boundary) {
  // RFC 2046 §5.1.1: boundary is 1-70 characters.
  if (boundary.empty() || boundary.size() > 70) return std::nullopt;
  std::string dash_boundary = "--";
  dash_boundary += boundary;

  size_t pos = find_delimiter(body, dash_boundary, 0);
  if (pos == std::string_view::npos) return std::nullopt;
  std::vector<BodyPart> parts;
  while (true) {
    pos += dash_boundary.size();
    if (body.substr(pos, 2) == "--") {
      if (parts.empty()) return std::nullopt;
      return parts;  // close delimiter; the epilogue is ignored
    }
    // transport-padding then CRLF
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) == "\r\n") {
      pos += 2;
    } else if (body.substr(pos, 1) == "\n") {
      pos += 1;
    } else {
      return std::nullopt;
    }
    const size_t next = find_delimiter(body, dash_boundary, pos);
    if (next == std::string_view::npos) return std::nullopt;  // no close delimiter
    // The CRLF preceding the delimiter is part of the delimiter.
    size_t end = next;
    if (end > pos && body[end - 1] == '\n') --end;
    if (end > pos && body[end - 1] == '\r') --end;
    auto part = parse_part(body.substr(pos, end - pos));
    if (!part) {
      // A part that is only a blank-line-less body cannot be told apart
      // from a malformed one: refuse.
      return std::nullopt;
    }
    parts.push_back(*part);
    pos = next;
  }
}

std::optional<BodyPart> find_part(const std::vector<BodyPart>& parts,
                                  std::string_view type_slash_subtype) {
  for (const auto& part : parts) {
    auto type = trim(part.content_type());
    const size_t semi = type.find(';');
    type = trim(type.substr(0, semi));
    if (iequals(type, type_slash_subtype)) return part;
  }
  return std::nullopt;
}

}  // namespace chorus::sip
