#include "signaling/message/framing.hpp"

#include "signaling/message/header_name.hpp"
#include "signaling/message/header_params.hpp"

namespace chorus::sip {

size_t skip_keepalive(std::string_view buffered) {
  size_t i = 0;
  while (i < buffered.size() && (buffered[i] == '\r' || buffered[i] == '\n')) ++i;
  return i;
}

Result<size_t> frame_stream_message(std::string_view buffered) {
  // Leading CRLFs (§7.5, RFC 5626 keep-alives) belong to this message's span.
  const size_t start = skip_keepalive(buffered);
  if (start == buffered.size()) return size_t{0};

  // Find the blank line that ends the header block: CRLF CRLF, or LF LF
  // from a lenient peer.
  size_t header_end = std::string_view::npos;  // index just past the blank line
  for (size_t i = start; i < buffered.size(); ++i) {
    if (buffered[i] != '\n') continue;
    if (i + 1 < buffered.size() && buffered[i + 1] == '\n') {
      header_end = i + 2;
      break;
    }
    if (i + 2 < buffered.size() && buffered[i + 1] == '\r' && buffered[i + 2] == '\n') {
      header_end = i + 3;
      break;
    }
  }
  if (header_end == std::string_view::npos) {
    if (buffered.size() - start > kMaxMessageSize) {
      return ParseError{"Message Too Large", false, 513};
    }
    return size_t{0};
  }

  // Content-Length is mandatory on a stream (RFC 3261 §18.3, §20.14).
  std::optional<uint32_t> content_length;
  size_t pos = start;
  // Skip the start line.
  pos = buffered.find('\n', pos) + 1;
  while (pos < header_end) {
    size_t lf = buffered.find('\n', pos);
    std::string_view line = buffered.substr(pos, lf - pos);
    pos = lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || is_ws(line.front())) continue;  // blank or folded
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (header_id(trim(line.substr(0, colon))) != HeaderId::kContentLength) continue;
    auto value = parse_uint32(trim(line.substr(colon + 1)));
    if (!value || (content_length && *content_length != *value)) {
      return ParseError{"Bad Content-Length", false, 400};
    }
    content_length = value;
  }
  if (!content_length) return ParseError{"Missing Content-Length", false, 400};
  const size_t total = header_end + *content_length;
  if (total - start > kMaxMessageSize) return ParseError{"Message Too Large", false, 513};
  if (buffered.size() < total) return size_t{0};
  return total;
}

}  // namespace chorus::sip
