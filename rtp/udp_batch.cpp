#include "rtp/udp_batch.hpp"

#include <netinet/in.h>

#include <cassert>
#include <cerrno>
#include <cstring>

namespace chorus::rtp {

using boost::asio::ip::udp;

udp::endpoint endpoint_from_sockaddr(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
    return {boost::asio::ip::address_v4(ntohl(in.sin_addr.s_addr)), ntohs(in.sin_port)};
  }
  if (addr.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
    boost::asio::ip::address_v6::bytes_type bytes;
    std::memcpy(bytes.data(), in6.sin6_addr.s6_addr, bytes.size());
    return {boost::asio::ip::address_v6(bytes, in6.sin6_scope_id), ntohs(in6.sin6_port)};
  }
  return {};
}

socklen_t sockaddr_from_endpoint(const udp::endpoint& ep, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof(out));
  // Asio's endpoint already stores a sockaddr; copy it rather than rebuild it.
  const auto size = static_cast<socklen_t>(ep.size());
  std::memcpy(&out, ep.data(), size);
  return size;
}

UdpReceiveBatch::UdpReceiveBatch(BufferPool& pool) : pool_(pool) {
  for (size_t i = 0; i < kBatch; ++i) {
    uint8_t* buffer = pool_.acquire();
    if (buffer == nullptr) break;
    buffers_[i] = buffer;
    ++count_;
  }
}

UdpReceiveBatch::~UdpReceiveBatch() {
  for (size_t i = 0; i < count_; ++i) pool_.release(buffers_[i]);
}

size_t UdpReceiveBatch::receive(int fd) {
  if (count_ == 0) return 0;
  for (size_t i = 0; i < count_; ++i) {
    iov_[i].iov_base = buffers_[i];
    iov_[i].iov_len = pool_.buffer_size();
    msgs_[i].msg_hdr.msg_name = &addrs_[i];
    msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_control = control_[i].bytes.data();
    msgs_[i].msg_hdr.msg_controllen = control_[i].bytes.size();
    msgs_[i].msg_hdr.msg_flags = 0;
    msgs_[i].msg_len = 0;
  }
  int n;
  do {
    n = ::recvmmsg(fd, msgs_.data(), static_cast<unsigned>(count_), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? 0 : static_cast<size_t>(n);
}

bool UdpReceiveBatch::kernel_time(size_t i, timespec& out) const {
  // CMSG_NXTHDR takes a non-const header; the walk only reads.
  auto* hdr = const_cast<msghdr*>(&msgs_[i].msg_hdr);
  for (cmsghdr* c = CMSG_FIRSTHDR(hdr); c != nullptr; c = CMSG_NXTHDR(hdr, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
        c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      std::memcpy(&out, CMSG_DATA(c), sizeof out);
      return true;
    }
  }
  return false;
}

UdpSendQueue::~UdpSendQueue() {
  for (size_t i = 0; i < count_; ++i) pool_.release(buffers_[i]);
  if (pending_ != nullptr) pool_.release(pending_);
}

std::span<uint8_t> UdpSendQueue::prepare() {
  if (pending_ == nullptr) {
    if (count_ == kCapacity) return {};
    pending_ = pool_.acquire();
    if (pending_ == nullptr) return {};
  }
  return {pending_, pool_.buffer_size()};
}

void UdpSendQueue::commit(size_t size, const udp::endpoint& destination) {
  assert(pending_ != nullptr && size <= pool_.buffer_size() && count_ < kCapacity);
  buffers_[count_] = pending_;
  pending_ = nullptr;
  iov_[count_].iov_base = buffers_[count_];
  iov_[count_].iov_len = size;
  mmsghdr& m = msgs_[count_];
  std::memset(&m, 0, sizeof(m));
  addrs_[count_] = destination;
  m.msg_hdr.msg_name = addrs_[count_].data();
  m.msg_hdr.msg_namelen = static_cast<socklen_t>(addrs_[count_].size());
  m.msg_hdr.msg_iov = &iov_[count_];
  m.msg_hdr.msg_iovlen = 1;
  ++count_;
}

size_t UdpSendQueue::flush(int fd) {
  size_t sent = 0;
  size_t refused = 0;
  while (sent < count_) {
    const int n =
        ::sendmmsg(fd, msgs_.data() + sent, static_cast<unsigned>(count_ - sent), MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      // EAGAIN (socket buffer full) or a per-destination error (ICMP
      // unreachable reported on this datagram): skip it, keep the rest.
      ++refused;
      ++sent;
    }
  }
  submitted_ = count_;
  release();
  return refused;
}

void UdpSendQueue::release() {
  for (size_t i = 0; i < submitted_; ++i) pool_.release(buffers_[i]);
  // Datagrams queued after the hand-over stay for the next flush: a WebRTC
  // stream answers a STUN check received while the tick's io_uring sends
  // complete (Shard::flush_all reaps receives too).
  size_t kept = 0;
  for (size_t i = submitted_; i < count_; ++i, ++kept) {
    buffers_[kept] = buffers_[i];
    iov_[kept] = iov_[i];
    addrs_[kept] = addrs_[i];
    msgs_[kept] = msgs_[i];
    msgs_[kept].msg_hdr.msg_name = addrs_[kept].data();
    msgs_[kept].msg_hdr.msg_iov = &iov_[kept];
  }
  count_ = kept;
  submitted_ = 0;
}

}  // namespace chorus::rtp
