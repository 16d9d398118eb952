#pragma once

#include <cstddef>
#include <string_view>

#include "signaling/message/message.hpp"
#include "signaling/message/result.hpp"

namespace chorus::sip {

// Stream framing for TCP/TLS (RFC 3261 §18.3): a message on a stream ends
// Content-Length bytes after the blank line, and Content-Length is mandatory.
// Given the bytes received so far, frame() returns the size of the first
// complete message, 0 if more bytes are needed, or an error: a missing or bad
// Content-Length, or a message (or unterminated header block) over
// kMaxMessageSize. CRLF keep-alives (RFC 5626 §3.5.1) before a message are
// counted into the first message's size only if followed by one: use
// skip_keepalive() first.
//
// A connection's bytes arrive a read at a time and each read asks again, so
// the framer remembers how far it has got into the first message of the
// buffer: each byte is searched for the blank line a bounded number of times
// and the header block is parsed once. Otherwise a peer sending a 64 KB
// header block a byte per segment costs ~2·10⁹ byte checks of the signalling
// thread. One framer belongs to one buffer that only grows at its end until
// the caller removes bytes from its front, and then calls reset().
class StreamFramer {
 public:
  Result<size_t> frame(std::string_view buffered);
  // Bytes were removed from the front of the buffer (a message consumed,
  // keep-alives or a broken stream discarded): start again at the new front.
  void reset() {
    start_ = 0;
    scanned_ = 0;
    total_ = 0;
  }
  // How many bytes the framer has looked at since it was made, over all
  // messages: the work a peer can make it do, which tests bound.
  size_t bytes_examined() const { return examined_; }

 private:
  size_t start_ = 0;    // leading CR/LF bytes seen so far
  size_t scanned_ = 0;  // the blank-line search resumes here
  size_t total_ = 0;    // once the header block is framed: its size + Content-Length
  size_t examined_ = 0;
};

// The same, for a buffer framed in one go.
Result<size_t> frame_stream_message(std::string_view buffered);

// Number of leading CR/LF bytes (keep-alive "\r\n\r\n" pings and stray
// CRLFs between messages) to discard before framing.
size_t skip_keepalive(std::string_view buffered);

}  // namespace chorus::sip
