#pragma once
// io_uring for every stream socket of one shard (issue #16). Receives: one
// multishot recvmsg per socket (kernel 6.0+) picking buffers from a shared
// provided-buffer ring, so datagrams land between ticks without a wake-up and
// their completions are reaped at the tick's drain, each buffer carrying the
// io_uring_recvmsg_out header, the source address and the SO_TIMESTAMPNS
// cmsg ahead of the payload. Sends: one sendmsg SQE per queued datagram of
// every stream, all submitted with one io_uring_enter after the mixer tick.
//
// Completions name their socket by slot and generation: a slot freed when its
// stream detaches gets a new generation, so a completion still in the ring for
// the old stream is recognised and dropped (its buffer recycled) instead of
// reaching a freed or different Stream. Sends carry the Stream pointer: the
// shard waits for every send of a tick before the tick ends, while the streams
// are attached.
//
// Sockets are registered with the ring (a sparse fixed-file table, one entry
// per slot) where the kernel allows it, so that a receive or send does not
// look its file up and take a reference per operation; a socket whose
// registration fails is used by descriptor.
//
// open() is the start-up probe: the ring, the opcodes (io_uring_get_probe),
// the buffer ring and a multishot recvmsg on a socket pair must all work, or
// the shard keeps recvmmsg/sendmmsg. Single-threaded: the shard thread (or its
// owner before start() / after stop()).

#include <liburing.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <span>
#include <vector>

namespace chorus::rtp {

class Stream;

// Where the shard hears about completions.
class UringSink {
 public:
  // A datagram read on `stream`'s RTP (rtcp=false) or RTCP socket. The bytes
  // are valid during the call only. kernel_time: SO_TIMESTAMPNS, or nullptr.
  virtual void on_received(Stream& stream, bool rtcp, std::span<uint8_t> datagram,
                           const sockaddr_storage& source, const timespec* kernel_time,
                           bool truncated) = 0;
  // One sendmsg finished: bytes sent, or -errno.
  virtual void on_sent(Stream& stream, int result) = 0;

 protected:
  ~UringSink() = default;
};

class UringIo {
 public:
  // A ring for `sockets` sockets receiving datagrams of up to payload_size
  // bytes; nullptr with `error` set (an errno) when io_uring cannot serve here
  // (no syscall, seccomp, io_uring_disabled, a kernel without multishot recvmsg).
  static std::unique_ptr<UringIo> open(size_t sockets, size_t payload_size, int& error);
  ~UringIo();
  UringIo(const UringIo&) = delete;
  UringIo& operator=(const UringIo&) = delete;

  // A socket of `stream` joins; its receive is armed by the next arm_pending().
  // False when every slot is taken.
  bool add_socket(Stream& stream, int fd, bool rtcp);
  // The stream's sockets leave: their receives are cancelled now (so the
  // kernel lets go of the sockets) and their completions dropped from now on.
  void remove_stream(const Stream& stream);
  // Arms a multishot recvmsg on every socket that has none: new sockets, and
  // those whose receive the kernel ended (no buffer left, an error).
  void arm_pending();
  // Queues one sendmsg (MSG_DONTWAIT) of `msg`, which must stay valid until
  // its completion has been reaped.
  void send(Stream& stream, int fd, const msghdr& msg);
  // Submits everything queued with one io_uring_enter.
  void submit();
  // Hands every completion in the ring to `sink`, in ring order (which is
  // arrival order per socket), and gives the receive buffers back.
  void reap(UringSink& sink);
  // Blocks until a completion is there or `timeout` passes.
  void wait(std::chrono::nanoseconds timeout);
  size_t sends_in_flight() const { return sends_in_flight_; }
  // Sockets used through the fixed-file table (tests, metrics).
  size_t fixed_sockets() const { return fixed_sockets_.load(std::memory_order_relaxed); }
  size_t buffer_count() const { return buffer_count_; }

 private:
  struct Socket {
    Stream* stream = nullptr;  // nullptr: a free slot
    int fd = -1;
    uint32_t generation = 0;
    bool rtcp = false;
    bool armed = false;
    bool fixed = false;  // registered at index `slot` of the fixed-file table
  };

  UringIo() = default;
  int init(size_t sockets, size_t payload_size);
  int probe_multishot();
  io_uring_sqe* next_sqe();
  void recycle(uint16_t buffer);
  uint64_t receive_tag(uint32_t slot) const;
  // The SQE's file: the fixed-file index where registered, else the fd.
  void set_file(io_uring_sqe* sqe, uint32_t slot) const;

  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  std::unique_ptr<uint8_t[]> buffers_;
  size_t buffer_count_ = 0;  // a power of two
  size_t entry_size_ = 0;    // header + name + control + payload
  uint16_t recycled_ = 0;    // added to the buffer ring, not yet made visible
  msghdr receive_msg_{};     // the layout every multishot recvmsg uses
  std::vector<Socket> sockets_;
  std::vector<uint32_t> free_slots_;
  std::vector<int32_t> slot_of_fd_;       // fd -> slot + 1 of a fixed socket, 0: by descriptor
  bool fixed_table_ = false;              // the sparse fixed-file table was registered
  std::atomic<size_t> fixed_sockets_{0};  // read by other threads (tests, metrics)
  size_t unarmed_ = 0;  // live slots without a receive
  size_t sends_in_flight_ = 0;
};

}  // namespace chorus::rtp
