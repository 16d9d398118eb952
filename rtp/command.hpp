#pragma once
// Commands from the signalling thread to a shard, carried by value through a
// bounded SPSC ring and applied on the shard thread at the next tick boundary.

#include <array>
#include <cstdint>

#include "rtp/asio.hpp"
#include "rtp/srtp.hpp"
#include "rtp/stream_config.hpp"

namespace chorus::rtp {

// RFC 4568 key||salt for each direction; size 0 = none.
struct SrtpKeys {
  static constexpr size_t kMaxKeySalt = 46;  // AES-256 + 14-byte salt, the largest suite
  SrtpSuite suite{};
  std::array<uint8_t, kMaxKeySalt> inbound{};  // what the remote protects with
  uint8_t inbound_size = 0;
  std::array<uint8_t, kMaxKeySalt> outbound{};  // what we protect with
  uint8_t outbound_size = 0;
};

enum class CommandKind : uint8_t {
  kOpenStream,    // config → event kStreamOpened (with the port) or kStreamOpenFailed
  kCloseStream,   // → final kStats then kStreamClosed
  kSetRemote,     // the SDP address (remote_rtp, remote_rtcp when not muxed)
  kSetSrtp,       // keys; inbound_size 0 and outbound_size 0 = plain RTP
  kRequestStats,  // → kStats
  kUser,          // handed to TickHandler::on_command (the mixer's own commands)
};

struct Command {
  CommandKind kind = CommandKind::kUser;
  StreamId stream = 0;
  StreamConfig config;
  boost::asio::ip::udp::endpoint remote_rtp;
  boost::asio::ip::udp::endpoint remote_rtcp;  // unspecified port 0 = rtp port + 1
  SrtpKeys keys;
  uint32_t user_code = 0;
  std::array<uint64_t, 4> user_args{};
};

}  // namespace chorus::rtp
