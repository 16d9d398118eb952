#include "signaling/message/framing.hpp"

#include <algorithm>

#include "signaling/message/header_name.hpp"
#include "signaling/message/header_params.hpp"

namespace chorus::sip {
namespace {

bool is_line_end(char c) {
  return c == '\r' || c == '\n';
}

}  // namespace

size_t skip_keepalive(std::string_view buffered) {
  size_t i = 0;
  while (i < buffered.size() && is_line_end(buffered[i])) ++i;
  return i;
}

Result<size_t> frame_stream_message(std::string_view buffered) {
  return StreamFramer{}.frame(buffered);
}

Result<size_t> StreamFramer::frame(std::string_view buffered) {
  // Framed before: only the body was missing, and the headers have not changed.
  if (total_ != 0) return buffered.size() < total_ ? size_t{0} : total_;

  // Leading CRLFs (§7.5, RFC 5626 keep-alives) belong to this message's span.
  while (start_ < buffered.size() && is_line_end(buffered[start_])) {
    ++start_;
    ++examined_;
  }
  if (start_ == buffered.size()) return size_t{0};

  // Find the blank line that ends the header block: CRLF CRLF, or LF LF
  // from a lenient peer.
  size_t header_end = std::string_view::npos;  // index just past the blank line
  for (size_t i = std::max(scanned_, start_); i < buffered.size(); ++i) {
    ++examined_;
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
    // A blank line is recognised at the LF ending the last header line and
    // needs up to two bytes after it, so an LF among the last two bytes may
    // yet begin one (a CRLFCRLF split across reads): look at them again.
    scanned_ = std::max(start_, buffered.size() - std::min<size_t>(buffered.size(), 2));
    if (buffered.size() - start_ > kMaxMessageSize) {
      return ParseError{"Message Too Large", false, 513};
    }
    return size_t{0};
  }

  // Content-Length is mandatory on a stream (RFC 3261 §18.3, §20.14).
  examined_ += header_end - start_;
  std::optional<uint32_t> content_length;
  size_t pos = start_;
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
  if (total - start_ > kMaxMessageSize) return ParseError{"Message Too Large", false, 513};
  // Reads of the body need not parse the headers again.
  total_ = total;
  if (buffered.size() < total) return size_t{0};
  return total;
}

}  // namespace chorus::sip
