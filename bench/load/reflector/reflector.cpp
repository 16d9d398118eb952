// chorus-reflector: sends every UDP datagram back to its source, with
// recvmmsg/sendmmsg batches on one 127.0.0.1 port and one thread. It does
// the least a media server must (receive and send each packet), so its CPU
// per participant is the packet ceiling bench/capacity compares against.
//
//   chorus-reflector [--port N]    (0 = ephemeral; prints "port N" when ready)
//   SIGINT / SIGTERM end it and print the datagram count.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

constexpr size_t kBatch = 64;
constexpr size_t kDatagram = 2048;

volatile sig_atomic_t stop_requested = 0;
void on_signal(int) {
  stop_requested = 1;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: chorus-reflector [--port N]\n");
      return 2;
    }
  }
  if (port < 0 || port > 65535) return 2;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 1;
  const int buffer = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("chorus-reflector: bind");
    return 1;
  }
  socklen_t len = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len);
  std::printf("port %u\n", ntohs(address.sin_port));
  std::fflush(stdout);

  static std::array<std::array<uint8_t, kDatagram>, kBatch> buffers;
  std::array<mmsghdr, kBatch> messages{};
  std::array<iovec, kBatch> iov{};
  std::array<sockaddr_in, kBatch> sources{};
  unsigned long long reflected = 0;
  while (stop_requested == 0) {
    for (size_t i = 0; i < kBatch; ++i) {
      iov[i] = {buffers[i].data(), buffers[i].size()};
      std::memset(&messages[i], 0, sizeof(mmsghdr));
      messages[i].msg_hdr.msg_name = &sources[i];
      messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const int n = ::recvmmsg(fd, messages.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) continue;
    for (int i = 0; i < n; ++i) {
      // Send back exactly what came: the length received, to its source.
      iov[static_cast<size_t>(i)].iov_len = messages[static_cast<size_t>(i)].msg_len;
    }
    int sent = 0;
    while (sent < n) {
      const int m = ::sendmmsg(fd, messages.data() + sent, static_cast<unsigned>(n - sent), 0);
      if (m <= 0) break;
      sent += m;
    }
    reflected += static_cast<unsigned long long>(n);
  }
  std::printf("reflected %llu\n", reflected);
  ::close(fd);
  return 0;
}
