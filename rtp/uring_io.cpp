#include "rtp/uring_io.hpp"

#include <netinet/in.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace chorus::rtp {

namespace {

// user_data: the low two bits say what completed.
constexpr uint64_t kKindReceive = 0;  // | slot << 2 | generation << 32
constexpr uint64_t kKindSend = 1;     // | Stream* (aligned)
constexpr uint64_t kKindIgnore = 2;   // cancels, the probe
constexpr uint64_t kKindMask = 3;
constexpr uint64_t kProbeTag = kKindIgnore | 4;
constexpr uint16_t kBufferGroup = 0;
constexpr size_t kMaxBuffers = 32768;  // the kernel's limit for a buffer ring

__kernel_timespec kernel_timespec(std::chrono::nanoseconds d) {
  __kernel_timespec ts{};
  ts.tv_sec = static_cast<decltype(ts.tv_sec)>(d.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<decltype(ts.tv_nsec)>(d.count() % 1'000'000'000);
  return ts;
}

}  // namespace

std::unique_ptr<UringIo> UringIo::open(size_t sockets, size_t payload_size, int& error) {
  std::unique_ptr<UringIo> io(new UringIo());
  error = io->init(sockets, payload_size);
  if (error != 0) return nullptr;
  return io;
}

UringIo::~UringIo() {
  if (ring_ready_) {
    // Nothing should be left (every stream was removed, which cancels its
    // receive); cancel anything anyway so the kernel stops writing into the
    // buffers before they are freed.
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, kKindIgnore);
      io_uring_submit(&ring_);
    }
    io_uring_queue_exit(&ring_);
  }
  if (buf_ring_ != nullptr) ::munmap(buf_ring_, buf_ring_bytes_);
}

int UringIo::init(size_t sockets, size_t payload_size) {
  const auto sq_entries =
      static_cast<unsigned>(std::bit_ceil(std::clamp<size_t>(2 * sockets + 64, 64, 4096)));
  buffer_count_ = std::bit_ceil(std::clamp<size_t>(sockets, 64, kMaxBuffers));
  io_uring_params params{};
  // Cooperative task running: a datagram arriving between ticks is put in
  // the ring when the shard thread next enters the kernel (its timerfd wait),
  // not by interrupting it.
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  params.cq_entries =
      static_cast<unsigned>(std::bit_ceil(std::min<size_t>(2 * buffer_count_ + sq_entries, 65536)));
  int ret = io_uring_queue_init_params(sq_entries, &ring_, &params);
  if (ret == -EINVAL) {  // a kernel before 5.19: no cooperative task running
    const unsigned cq = params.cq_entries;
    params = {};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = cq;
    ret = io_uring_queue_init_params(sq_entries, &ring_, &params);
  }
  if (ret < 0) return -ret;
  ring_ready_ = true;
  if ((params.features & IORING_FEAT_NODROP) == 0)
    return EOPNOTSUPP;  // a completion must never be lost

  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe == nullptr) return EOPNOTSUPP;
  const bool ops = io_uring_opcode_supported(probe, IORING_OP_RECVMSG) &&
                   io_uring_opcode_supported(probe, IORING_OP_SENDMSG) &&
                   io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL);
  io_uring_free_probe(probe);
  if (!ops) return EOPNOTSUPP;

  buf_ring_bytes_ = buffer_count_ * sizeof(io_uring_buf);
  void* mem =
      ::mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    buf_ring_bytes_ = 0;
    return errno;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = static_cast<uint32_t>(buffer_count_);
  reg.bgid = kBufferGroup;
  ret = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (ret < 0) return -ret;

  // Each buffer: io_uring_recvmsg_out, the source address (IPv4 or IPv6),
  // the SO_TIMESTAMPNS cmsg, the datagram. The address room is rounded up
  // so that the cmsg after it is aligned.
  receive_msg_.msg_namelen =
      (sizeof(sockaddr_in6) + alignof(cmsghdr) - 1) & ~(alignof(cmsghdr) - 1);
  static_assert(sizeof(io_uring_recvmsg_out) % alignof(cmsghdr) == 0);
  receive_msg_.msg_controllen = CMSG_SPACE(sizeof(timespec));
  entry_size_ = (sizeof(io_uring_recvmsg_out) + receive_msg_.msg_namelen +
                 receive_msg_.msg_controllen + payload_size + 63) &
                ~size_t{63};
  buffers_ = std::make_unique<uint8_t[]>(buffer_count_ * entry_size_);
  for (size_t i = 0; i < buffer_count_; ++i) recycle(static_cast<uint16_t>(i));
  io_uring_buf_ring_advance(buf_ring_, recycled_);
  recycled_ = 0;

  sockets_.resize(sockets);
  // One fixed-file entry per slot; without it (an old kernel, the descriptor
  // limit) sockets are used by descriptor.
  fixed_table_ = io_uring_register_files_sparse(&ring_, static_cast<unsigned>(sockets)) == 0;
  free_slots_.reserve(sockets);
  for (size_t i = sockets; i > 0; --i) free_slots_.push_back(static_cast<uint32_t>(i - 1));
  return probe_multishot();
}

// Multishot recvmsg with provided buffers (kernel 6.0) is not an opcode of
// its own: arm one on a socket pair and see a datagram come back with more to
// follow.
int UringIo::probe_multishot() {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) return errno;
  int result = EOPNOTSUPP;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  io_uring_prep_recvmsg_multishot(sqe, pair[0], &receive_msg_, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, kProbeTag);
  if (io_uring_submit(&ring_) == 1) {
    const uint8_t byte = 1;
    [[maybe_unused]] const ssize_t sent = ::send(pair[1], &byte, 1, 0);
    bool live = true;
    // Bounded: the datagram, then (after the cancel) the receive's end.
    for (int i = 0; i < 8 && live; ++i) {
      __kernel_timespec ts = kernel_timespec(std::chrono::milliseconds(200));
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) != 0) break;
      if (cqe->user_data == kProbeTag) {
        const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        if (result == EOPNOTSUPP) {
          if (cqe->res > 0 && more && (cqe->flags & IORING_CQE_F_BUFFER) != 0)
            result = 0;
          else if (cqe->res < 0)
            result = -cqe->res;
        }
        if ((cqe->flags & IORING_CQE_F_BUFFER) != 0)
          recycle(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
        live = more;
        if (more && (sqe = io_uring_get_sqe(&ring_)) != nullptr) {
          io_uring_prep_cancel64(sqe, kProbeTag, 0);
          io_uring_sqe_set_data64(sqe, kKindIgnore);
          io_uring_submit(&ring_);
        }
      }
      io_uring_cqe_seen(&ring_, cqe);
    }
    if (live && result == 0) result = ETIMEDOUT;  // the probe's receive would not end
  }
  io_uring_buf_ring_advance(buf_ring_, recycled_);
  recycled_ = 0;
  ::close(pair[0]);
  ::close(pair[1]);
  return result;
}

uint64_t UringIo::receive_tag(uint32_t slot) const {
  return (static_cast<uint64_t>(sockets_[slot].generation) << 32) |
         (static_cast<uint64_t>(slot) << 2) | kKindReceive;
}

io_uring_sqe* UringIo::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe != nullptr) return sqe;
  submit();  // the submission queue is full: send what it holds first
  sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) std::abort();  // a submit always empties the queue
  return sqe;
}

void UringIo::recycle(uint16_t buffer) {
  io_uring_buf_ring_add(buf_ring_, buffers_.get() + buffer * entry_size_,
                        static_cast<unsigned>(entry_size_), buffer,
                        io_uring_buf_ring_mask(static_cast<uint32_t>(buffer_count_)), recycled_);
  ++recycled_;
}

bool UringIo::add_socket(Stream& stream, int fd, bool rtcp) {
  if (free_slots_.empty()) return false;
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  Socket& s = sockets_[slot];
  s.stream = &stream;
  s.fd = fd;
  s.rtcp = rtcp;
  s.armed = false;
  s.fixed = fixed_table_ && fd >= 0 && io_uring_register_files_update(&ring_, slot, &fd, 1) == 1;
  if (s.fixed) {
    if (static_cast<size_t>(fd) >= slot_of_fd_.size()) slot_of_fd_.resize(fd + 1, 0);
    slot_of_fd_[fd] = static_cast<int32_t>(slot) + 1;
    fixed_sockets_.fetch_add(1, std::memory_order_relaxed);
  }
  ++unarmed_;
  return true;
}

void UringIo::set_file(io_uring_sqe* sqe, uint32_t slot) const {
  if (sockets_[slot].fixed) {
    sqe->fd = static_cast<int>(slot);
    sqe->flags |= IOSQE_FIXED_FILE;
  }
}

void UringIo::remove_stream(const Stream& stream) {
  bool cancelled = false;
  for (uint32_t slot = 0; slot < sockets_.size(); ++slot) {
    Socket& s = sockets_[slot];
    if (s.stream != &stream) continue;
    if (s.armed) {
      io_uring_sqe* sqe = next_sqe();
      io_uring_prep_cancel64(sqe, receive_tag(slot), 0);
      io_uring_sqe_set_data64(sqe, kKindIgnore);
      cancelled = true;
    } else {
      --unarmed_;
    }
    if (s.fixed) {
      // The table holds a reference to the socket: let it go before the
      // socket closes, or its port would stay bound.
      int none = -1;
      io_uring_register_files_update(&ring_, slot, &none, 1);
      slot_of_fd_[s.fd] = 0;
      fixed_sockets_.fetch_sub(1, std::memory_order_relaxed);
    }
    // A new generation: completions still carrying the old tag are dropped.
    s = Socket{nullptr, -1, s.generation + 1, false, false, false};
    free_slots_.push_back(slot);
  }
  if (cancelled) submit();  // now, before the sockets close
}

void UringIo::arm_pending() {
  if (unarmed_ == 0) return;
  for (uint32_t slot = 0; slot < sockets_.size(); ++slot) {
    Socket& s = sockets_[slot];
    if (s.stream == nullptr || s.armed) continue;
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_recvmsg_multishot(sqe, s.fd, &receive_msg_, 0);
    set_file(sqe, slot);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, receive_tag(slot));
    s.armed = true;
  }
  unarmed_ = 0;
}

void UringIo::send(Stream& stream, int fd, const msghdr& msg) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_sendmsg(sqe, fd, &msg, MSG_DONTWAIT);
  if (fd >= 0 && static_cast<size_t>(fd) < slot_of_fd_.size() && slot_of_fd_[fd] != 0)
    set_file(sqe, static_cast<uint32_t>(slot_of_fd_[fd] - 1));
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(&stream) | kKindSend);
  ++sends_in_flight_;
}

void UringIo::submit() {
  int ret;
  do {
    ret = io_uring_submit(&ring_);
  } while (ret == -EINTR);
}

void UringIo::wait(std::chrono::nanoseconds timeout) {
  __kernel_timespec ts = kernel_timespec(timeout);
  io_uring_cqe* cqe = nullptr;
  io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
}

void UringIo::reap(UringSink& sink) {
  // Bounded: completions kept in the kernel's overflow list come out after
  // the ring has room again.
  for (int pass = 0; pass < 8; ++pass) {
    if ((IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0)
      io_uring_get_events(&ring_);
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const uint64_t tag = cqe->user_data;
      const uint64_t kind = tag & kKindMask;
      if (kind == kKindSend) {
        --sends_in_flight_;
        sink.on_sent(*reinterpret_cast<Stream*>(tag & ~kKindMask), cqe->res);
        continue;
      }
      if (kind != kKindReceive) continue;
      const auto slot = static_cast<uint32_t>((tag >> 2) & 0x3FFF'FFFF);
      Socket* s = slot < sockets_.size() && sockets_[slot].stream != nullptr &&
                          sockets_[slot].generation == static_cast<uint32_t>(tag >> 32)
                      ? &sockets_[slot]
                      : nullptr;  // a stream removed since: drop
      if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
        const auto buffer = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        uint8_t* bytes = buffers_.get() + buffer * entry_size_;
        io_uring_recvmsg_out* out = s != nullptr && cqe->res > 0
                                        ? io_uring_recvmsg_validate(bytes, cqe->res, &receive_msg_)
                                        : nullptr;
        if (out != nullptr) {
          sockaddr_storage source{};
          std::memcpy(&source, io_uring_recvmsg_name(out),
                      std::min<size_t>(out->namelen, receive_msg_.msg_namelen));
          timespec when{};
          const timespec* kernel_time = nullptr;
          for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(out, &receive_msg_); c != nullptr;
               c = io_uring_recvmsg_cmsg_nexthdr(out, &receive_msg_, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
                c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
              std::memcpy(&when, CMSG_DATA(c), sizeof when);
              kernel_time = &when;
            }
          }
          const std::span<uint8_t> datagram(
              static_cast<uint8_t*>(io_uring_recvmsg_payload(out, &receive_msg_)),
              io_uring_recvmsg_payload_length(out, cqe->res, &receive_msg_));
          sink.on_received(*s->stream, s->rtcp, datagram, source, kernel_time,
                           (out->flags & MSG_TRUNC) != 0);
        } else if (s != nullptr && cqe->res > 0) {
          // A datagram the kernel delivered in a form that does not parse
          // (name or control longer than asked for): a counted drop.
          sink.on_received(*s->stream, s->rtcp, {}, sockaddr_storage{}, nullptr,
                           /*truncated=*/true);
        }
        recycle(buffer);
      }
      // No more to come from this receive (no buffer left, an error): the
      // next drain arms it again; the datagrams wait in the socket meanwhile.
      if ((cqe->flags & IORING_CQE_F_MORE) == 0 && s != nullptr && s->armed) {
        s->armed = false;
        ++unarmed_;
      }
    }
    io_uring_cq_advance(&ring_, seen);
    if (recycled_ != 0) {
      io_uring_buf_ring_advance(buf_ring_, recycled_);
      recycled_ = 0;
    }
    if (seen == 0 &&
        (IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) == 0)
      break;
  }
}

}  // namespace chorus::rtp
