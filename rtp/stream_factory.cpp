#include "rtp/stream_factory.hpp"

#include <sys/socket.h>

#include <optional>
#include <random>

#include "rtp/shard.hpp"

namespace chorus::rtp {

using boost::asio::ip::udp;

namespace {

// Socket receive buffer: a few ticks of a busy stream's packets, so a tick
// that runs long does not cost packets.
constexpr int kSocketReceiveBuffer = 256 * 1024;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

StreamFactory::StreamFactory(Shard& shard)
    : shard_(shard),
      shared_(shard.config().port_mode == PortMode::kShared),
      ports_(shard.config().port_first, shard.config().port_last),
      rng_state_((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}() ^
                 shard.config().index) {}

uint32_t StreamFactory::next_ssrc() {
  // RFC 3550 §8.1: random SSRCs; 0 is avoided only for readability in traces.
  uint32_t ssrc;
  do {
    ssrc = static_cast<uint32_t>(splitmix64(rng_state_));
  } while (ssrc == 0);
  return ssrc;
}

std::unique_ptr<Stream> StreamFactory::open(const StreamConfig& config) {
  const ShardConfig& sc = shard_.config();
  const std::chrono::milliseconds timeout =
      config.rtp_timeout.count() > 0 ? config.rtp_timeout : sc.rtp_timeout;
  if (sc.port_mode == PortMode::kShared) {
    // No port of its own: the shard's socket, routes by source address.
    return std::make_unique<Stream>(shard_, config, shard_.shared_port(), next_ssrc(), timeout,
                                    Stream::Clock::now());
  }
  const udp protocol = sc.bind_address.is_v6() ? udp::v6() : udp::v4();
  for (size_t attempt = 0; attempt < ports_.capacity(); ++attempt) {
    const std::optional<uint16_t> port = ports_.allocate();
    if (!port) return nullptr;
    boost::system::error_code ec;
    udp::socket rtp(shard_.io());
    rtp.open(protocol, ec);
    if (!ec) rtp.bind(udp::endpoint(sc.bind_address, *port), ec);
    std::optional<udp::socket> rtcp;
    if (!ec && !config.rtcp_mux) {
      rtcp.emplace(shard_.io());
      rtcp->open(protocol, ec);
      if (!ec) rtcp->bind(udp::endpoint(sc.bind_address, static_cast<uint16_t>(*port + 1)), ec);
    }
    if (ec) {
      // Someone outside the shard holds the port: try the next one.
      ports_.release(*port);
      continue;
    }
    boost::system::error_code ignored;
    rtp.non_blocking(true, ignored);
    rtp.set_option(udp::socket::receive_buffer_size(kSocketReceiveBuffer), ignored);
    if (rtcp) rtcp->non_blocking(true, ignored);
    // Receive timestamps: datagrams are read on the tick, arrival times kept.
    const int on = 1;
    ::setsockopt(rtp.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    if (rtcp) ::setsockopt(rtcp->native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    return std::make_unique<Stream>(shard_, config, std::move(rtp), std::move(rtcp), next_ssrc(),
                                    timeout, Stream::Clock::now());
  }
  return nullptr;
}

}  // namespace chorus::rtp
