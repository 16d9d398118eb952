// This machine's UDP packet ceiling on loopback: a reflector thread receives
// each datagram and sends it back, once with one recvfrom/sendto per packet
// and once with recvmmsg/sendmmsg batches (what the shards use). The
// benchmark thread is the client (always batched: bursts of 32). The figure
// that matters is `reflected_per_core_s`: packets reflected per second of the
// reflector thread's own CPU time (CLOCK_THREAD_CPUTIME_ID), i.e. what one
// core can carry. items_per_second is the round-trip rate of the whole loop.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>

namespace {

constexpr size_t kBurst = 32;
constexpr size_t kSize = 172;  // 12-byte RTP header + 20 ms of G.711
constexpr size_t kStopSize = 1;

struct Socket {
  Socket() {
    fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    const int buf = 1 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    timeval tv{1, 0};  // never hang the suite: a lost datagram ends the run
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
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
  void prepare_send(const sockaddr_in& to, size_t size) {
    for (size_t i = 0; i < kBurst; ++i) {
      iov[i] = {bufs[i].data(), size};
      std::memset(&msgs[i], 0, sizeof(mmsghdr));
      addrs[i] = to;
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
};

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Runs until a kStopSize datagram (or a 1 s silence); reports its CPU time.
template <bool kBatched>
void reflector_loop(int fd, std::atomic<uint64_t>& reflected, std::atomic<double>& cpu) {
  const double start = thread_cpu_seconds();
  Batch b;
  uint64_t count = 0;
  for (bool stop = false; !stop;) {
    if constexpr (kBatched) {
      b.prepare_receive();
      // Blocks for the first datagram, then takes what is queued (reactor
      // style: readable → drain).
      const int n = ::recvmmsg(fd, b.msgs.data(), kBurst, MSG_WAITFORONE, nullptr);
      if (n <= 0) break;
      int reply = 0;
      for (int i = 0; i < n; ++i) {
        if (b.msgs[i].msg_len == kStopSize) {
          stop = true;
          break;
        }
        b.iov[i].iov_len = b.msgs[i].msg_len;
        ++reply;
      }
      if (reply > 0) ::sendmmsg(fd, b.msgs.data(), static_cast<unsigned>(reply), 0);
      count += static_cast<uint64_t>(reply);
    } else {
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      const ssize_t n = ::recvfrom(fd, b.bufs[0].data(), b.bufs[0].size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0 || static_cast<size_t>(n) == kStopSize) break;
      ::sendto(fd, b.bufs[0].data(), static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from),
               len);
      ++count;
    }
  }
  reflected = count;
  cpu = thread_cpu_seconds() - start;
}

template <bool kBatched>
void reflect(benchmark::State& state) {
  Socket client, reflector;
  std::atomic<uint64_t> reflected{0};
  std::atomic<double> cpu{0};
  std::thread thread([&] { reflector_loop<kBatched>(reflector.fd, reflected, cpu); });
  Batch out, in;
  uint64_t round_trips = 0;
  for (auto _ : state) {
    out.prepare_send(reflector.addr, kSize);
    if (::sendmmsg(client.fd, out.msgs.data(), kBurst, 0) != static_cast<int>(kBurst)) {
      state.SkipWithError("client sendmmsg short");
      break;
    }
    size_t got = 0;
    while (got < kBurst) {
      in.prepare_receive();
      const int n = ::recvmmsg(client.fd, in.msgs.data(), static_cast<unsigned>(kBurst - got),
                               MSG_WAITFORONE, nullptr);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got != kBurst) {
      state.SkipWithError("reflected datagrams went missing");
      break;
    }
    round_trips += kBurst;
  }
  out.prepare_send(reflector.addr, kStopSize);
  ::sendmmsg(client.fd, out.msgs.data(), 1, 0);
  thread.join();
  state.SetItemsProcessed(static_cast<int64_t>(round_trips));
  state.counters["reflected_per_core_s"] =
      cpu.load() > 0 ? static_cast<double>(reflected.load()) / cpu.load() : 0.0;
}

void BM_UdpReflectSingle(benchmark::State& state) {
  reflect<false>(state);
}
void BM_UdpReflectBatched(benchmark::State& state) {
  reflect<true>(state);
}
BENCHMARK(BM_UdpReflectSingle)->UseRealTime();
BENCHMARK(BM_UdpReflectBatched)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
