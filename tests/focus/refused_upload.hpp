#pragma once

// A client that keeps sending a body the server has already refused: the
// request head and the body's first kilobyte, then the answer read to the end
// of stream, then the rest of the body in 4 KiB writes. A server that closes
// at once with bytes unread resets the connection and fails those writes; one
// that lingers (focus/ops/http_linger.hpp) reads and drops them.

#include <sys/socket.h>

#include <algorithm>
#include <string>

#include "signaling/asio.hpp"

namespace chorus::focus::test {

struct RefusedUpload {
  std::string answer;                     // every byte read before the end
  boost::system::error_code read_end;     // eof when the server half-closed
  boost::system::error_code write_error;  // the first failed write, if any
  size_t body_written = 0;
};

inline RefusedUpload upload_refused_body(boost::asio::ip::tcp::socket& socket,
                                         const std::string& head, size_t body_bytes) {
  namespace asio = boost::asio;
  RefusedUpload out;
  const std::string chunk(4096, 'u');
  const size_t first = std::min<size_t>(1024, body_bytes);
  asio::write(socket, asio::buffer(head + std::string(first, 'u')), out.write_error);
  if (out.write_error) return out;
  out.body_written = first;
  char buf[4096];
  while (true) {
    const size_t n = socket.read_some(asio::buffer(buf), out.read_end);
    if (out.read_end) break;
    out.answer.append(buf, n);
  }
  while (out.body_written < body_bytes) {
    const size_t n = std::min(chunk.size(), body_bytes - out.body_written);
    asio::write(socket, asio::buffer(chunk.data(), n), out.write_error);
    if (out.write_error) return out;
    out.body_written += n;
  }
  boost::system::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  return out;
}

}  // namespace chorus::focus::test
