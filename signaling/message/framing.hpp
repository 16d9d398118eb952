#pragma once

#include <cstddef>
#include <string_view>

#include "signaling/message/message.hpp"
#include "signaling/message/result.hpp"

namespace chorus::sip {

// Stream framing for TCP/TLS (RFC 3261 §18.3): a message on a stream ends
// Content-Length bytes after the blank line, and Content-Length is mandatory.
// Given the bytes received so far, returns the size of the first complete
// message, 0 if more bytes are needed, or an error: a missing or bad
// Content-Length, or a message (or unterminated header block) over
// kMaxMessageSize. CRLF keep-alives (RFC 5626 §3.5.1) before a message are
// counted into the first message's size only if followed by one: use
// skip_keepalive() first.
Result<size_t> frame_stream_message(std::string_view buffered);

// Number of leading CR/LF bytes (keep-alive "\r\n\r\n" pings and stray
// CRLFs between messages) to discard before framing.
size_t skip_keepalive(std::string_view buffered);

}  // namespace chorus::sip
