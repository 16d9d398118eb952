#pragma once
// Batched UDP I/O on a socket's native handle: recvmmsg(2) into pooled buffers
// (with each datagram's kernel receive timestamp when the socket asks for
// SO_TIMESTAMPNS), and sendmmsg(2) of everything queued during a tick. Linux only.

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <span>

#include "rtp/asio.hpp"
#include "rtp/buffer_pool.hpp"

namespace chorus::rtp {

// Converts between the kernel's sockaddr and Asio's endpoint without allocating.
boost::asio::ip::udp::endpoint endpoint_from_sockaddr(const sockaddr_storage& addr);
socklen_t sockaddr_from_endpoint(const boost::asio::ip::udp::endpoint& ep, sockaddr_storage& out);

// One shard-wide receive batch: kBatch buffers taken from the pool at
// construction and reused for every recvmmsg.
class UdpReceiveBatch {
 public:
  static constexpr size_t kBatch = 64;

  explicit UdpReceiveBatch(BufferPool& pool);
  ~UdpReceiveBatch();
  UdpReceiveBatch(const UdpReceiveBatch&) = delete;
  UdpReceiveBatch& operator=(const UdpReceiveBatch&) = delete;

  // One recvmmsg(MSG_DONTWAIT); returns the datagrams received (0 on EAGAIN or
  // error). Datagrams stay valid until the next receive().
  size_t receive(int fd);
  std::span<uint8_t> datagram(size_t i) { return {buffers_[i], msgs_[i].msg_len}; }
  const sockaddr_storage& source(size_t i) const { return addrs_[i]; }
  // The kernel's receive time of datagram i (SO_TIMESTAMPNS, CLOCK_REALTIME),
  // when the socket has that option on; false otherwise.
  bool kernel_time(size_t i, timespec& out) const;
  // Set when a datagram was larger than a buffer (MSG_TRUNC): drop it.
  bool truncated(size_t i) const { return (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
  size_t buffer_size() const { return pool_.buffer_size(); }

 private:
  BufferPool& pool_;
  size_t count_ = 0;  // buffers actually obtained
  std::array<uint8_t*, kBatch> buffers_{};
  std::array<mmsghdr, kBatch> msgs_{};
  std::array<iovec, kBatch> iov_{};
  std::array<sockaddr_storage, kBatch> addrs_{};
  struct alignas(cmsghdr) Control {
    std::array<uint8_t, 64> bytes;  // >= CMSG_SPACE(sizeof(timespec))
  };
  std::array<Control, kBatch> control_{};
};

// Datagrams queued for one socket during a tick, flushed with sendmmsg.
class UdpSendQueue {
 public:
  // Per stream and tick: one RTP packet and one RTCP compound at most (the
  // shard flushes after every tick), with room to spare. One queue per
  // stream socket, so it is kept small (issue #16).
  static constexpr size_t kCapacity = 4;

  explicit UdpSendQueue(BufferPool& pool) : pool_(pool) {}
  ~UdpSendQueue();
  UdpSendQueue(const UdpSendQueue&) = delete;
  UdpSendQueue& operator=(const UdpSendQueue&) = delete;

  // A buffer to write the next datagram into (pool buffer size), or an empty
  // span when the queue or the pool is full. commit() queues it.
  std::span<uint8_t> prepare();
  void commit(size_t size, const boost::asio::ip::udp::endpoint& destination);

  // Sends everything queued (sendmmsg, retried for the remainder); returns the
  // datagrams the kernel refused. Buffers go back to the pool.
  size_t flush(int fd);
  size_t queued() const { return count_; }
  // The io_uring path (rtp/uring_io.hpp): the caller sends the messages not
  // yet handed over (a stream may be sent early in the tick, by its room,
  // and again at the tick's end), marks them handed over, and release()s the
  // buffers once every send has completed; messages queued after the
  // hand-over stay queued (the shared-port path marks its batches too).
  std::span<const mmsghdr> unsubmitted() const {
    return {msgs_.data() + submitted_, count_ - submitted_};
  }
  void mark_submitted() { submitted_ = count_; }
  void release();

 private:
  BufferPool& pool_;
  size_t count_ = 0;
  size_t submitted_ = 0;        // io_uring: messages [0, submitted_) handed to the kernel
  uint8_t* pending_ = nullptr;  // prepared, not committed
  std::array<uint8_t*, kCapacity> buffers_{};
  std::array<mmsghdr, kCapacity> msgs_{};
  std::array<iovec, kCapacity> iov_{};
  std::array<boost::asio::ip::udp::endpoint, kCapacity> addrs_{};  // a sockaddr_in/in6 each
};

}  // namespace chorus::rtp
