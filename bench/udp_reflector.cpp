// This machine's UDP packet ceiling on loopback: a reflector that receives
// each datagram and sends it back, once with one recvfrom/sendto per packet
// and once with recvmmsg/sendmmsg batches (what the shards use). The client
// side is identical in both (batched), so the difference is the reflector's.
// Items/s is packets reflected per second of this thread's CPU: one core.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace {

constexpr size_t kBurst = 32;
constexpr size_t kSize = 172;  // 12-byte RTP header + 20 ms of G.711

struct Socket {
  Socket() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    const int buf = 1 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  }
  ~Socket() { ::close(fd); }
  int fd;
  sockaddr_in addr{};
};

// Batched I/O state for one side.
struct Batch {
  std::array<std::array<uint8_t, 2048>, kBurst> bufs{};
  std::array<mmsghdr, kBurst> msgs{};
  std::array<iovec, kBurst> iov{};
  std::array<sockaddr_in, kBurst> addrs{};

  void prepare_receive() {
    for (size_t i = 0; i < kBurst; ++i) {
      iov[i] = {bufs[i].data(), bufs[i].size()};
      std::memset(&msgs[i], 0, sizeof(mmsghdr));
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
  // After a receive of n: send each back to where it came from.
  void prepare_reply(int n) {
    for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;
  }
  void prepare_send(const sockaddr_in& to) {
    for (size_t i = 0; i < kBurst; ++i) {
      iov[i] = {bufs[i].data(), kSize};
      std::memset(&msgs[i], 0, sizeof(mmsghdr));
      addrs[i] = to;
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
};

// Receives exactly `want` datagrams on a non-blocking socket (spinning on
// EAGAIN; loopback delivers synchronously, so this is short).
size_t client_receive(int fd, Batch& b, size_t want) {
  size_t got = 0;
  for (int spins = 0; got < want && spins < 100000; ++spins) {
    b.prepare_receive();
    const int n = ::recvmmsg(fd, b.msgs.data(), static_cast<unsigned>(want - got), 0, nullptr);
    if (n > 0) got += static_cast<size_t>(n);
  }
  return got;
}

template <bool kBatched>
void reflect(benchmark::State& state) {
  Socket client, reflector;
  Batch out, in, refl;
  uint64_t reflected = 0;
  for (auto _ : state) {
    out.prepare_send(reflector.addr);
    const int sent = ::sendmmsg(client.fd, out.msgs.data(), kBurst, 0);
    if (sent != static_cast<int>(kBurst)) {
      state.SkipWithError("client sendmmsg short");
      break;
    }
    size_t done = 0;
    for (int spins = 0; done < kBurst && spins < 100000; ++spins) {
      if constexpr (kBatched) {
        refl.prepare_receive();
        const int n = ::recvmmsg(reflector.fd, refl.msgs.data(), kBurst, 0, nullptr);
        if (n <= 0) continue;
        refl.prepare_reply(n);
        ::sendmmsg(reflector.fd, refl.msgs.data(), static_cast<unsigned>(n), 0);
        done += static_cast<size_t>(n);
      } else {
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        const ssize_t n = ::recvfrom(reflector.fd, refl.bufs[0].data(), refl.bufs[0].size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &len);
        if (n <= 0) continue;
        ::sendto(reflector.fd, refl.bufs[0].data(), static_cast<size_t>(n), 0,
                 reinterpret_cast<sockaddr*>(&from), len);
        ++done;
      }
    }
    reflected += done;
    if (client_receive(client.fd, in, done) != done) {
      state.SkipWithError("reflected datagrams went missing");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(reflected));
  state.counters["burst"] = kBurst;
}

void BM_UdpReflectSingle(benchmark::State& state) {
  reflect<false>(state);
}
void BM_UdpReflectBatched(benchmark::State& state) {
  reflect<true>(state);
}
BENCHMARK(BM_UdpReflectSingle);
BENCHMARK(BM_UdpReflectBatched);

}  // namespace

BENCHMARK_MAIN();
