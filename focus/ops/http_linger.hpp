#pragma once

// The last answer on an HTTP connection whose peer may still be sending: a
// refused body (413), an oversized header block (431), a malformed request
// (400) or a request that asked for Connection: close.
//
// Closing at once would leave the peer's unread bytes in our receive queue,
// and the kernel answers those with a reset: the peer's pending write fails
// (curl reports "send failure" instead of the 413), and on some stacks the
// reset overtakes the answer. So the sending side is shut (the peer sees the
// answer, then end of stream), what still arrives is read and dropped, at most
// kLingerBytes and for at most kLingerTime, and then the connection closes.
// Both bounds hold whatever the peer does: a connection slot is never held
// longer than the idle timeout would have held it.

#include <algorithm>
#include <boost/beast/core.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

namespace chorus::focus {

inline constexpr size_t kLingerBytes = size_t{1} << 20;
inline constexpr std::chrono::milliseconds kLingerTime{2000};

// Reads and drops from `stream` until end of stream, an error, kLingerBytes or
// the timer `tcp` was armed with, then calls session->close(). `stream` and
// `buffer` belong to `session`, which the pending read keeps alive.
template <class Session, class Stream>
void drain_then_close(std::shared_ptr<Session> session, Stream& stream,
                      boost::beast::flat_buffer& buffer, size_t drained) {
  buffer.clear();
  stream.async_read_some(buffer.prepare(4096), [session, &stream, &buffer, drained](
                                                   boost::beast::error_code ec, size_t n) {
    if (ec || drained + n >= kLingerBytes) return session->close();
    drain_then_close(std::move(session), stream, buffer, drained + n);
  });
}

// Shuts the sending side of `tcp` (the TCP layer under `stream`), then drains
// as above for at most min(kLingerTime, idle_timeout).
template <class Session, class Stream>
void linger_then_close(std::shared_ptr<Session> session, Stream& stream,
                       boost::beast::tcp_stream& tcp, boost::beast::flat_buffer& buffer,
                       std::chrono::milliseconds idle_timeout) {
  boost::beast::error_code ignored;
  tcp.socket().shutdown(boost::asio::socket_base::shutdown_send, ignored);
  if (ignored) return session->close();
  tcp.expires_after(std::min(kLingerTime, idle_timeout));
  drain_then_close(std::move(session), stream, buffer, 0);
}

}  // namespace chorus::focus
