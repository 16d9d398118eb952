#pragma once
// How a shard reads and writes its stream sockets (issue #16): recvmmsg and
// sendmmsg per socket and tick, or io_uring batching every socket of the
// shard into a few submissions per tick (rtp/uring_io.hpp).

#include <cstdint>
#include <optional>
#include <string_view>

namespace chorus::rtp {

enum class IoBackend : uint8_t {
  kAuto,   // io_uring when the shard's start-up probe passes, else recvmmsg/sendmmsg
  kUring,  // io_uring asked for explicitly; still falls back when the probe fails
  kMmsg,   // recvmmsg/sendmmsg, io_uring never tried
};

constexpr std::string_view io_backend_name(IoBackend io) {
  switch (io) {
    case IoBackend::kAuto:
      return "auto";
    case IoBackend::kUring:
      return "uring";
    case IoBackend::kMmsg:
      return "mmsg";
  }
  return "mmsg";
}

constexpr std::optional<IoBackend> parse_io_backend(std::string_view name) {
  for (const IoBackend io : {IoBackend::kAuto, IoBackend::kUring, IoBackend::kMmsg})
    if (io_backend_name(io) == name) return io;
  return std::nullopt;
}

// How a shard's streams meet the network (issue #16). Per-member: every
// stream binds its own port (and RTCP on port + 1 without rtcp-mux); the
// default, and what NAT'd peers need. Shared: one socket per shard, members
// told apart by source address (ShardConfig::port_mode; rtp/route_table.hpp).
enum class PortMode : uint8_t {
  kPerMember,
  kShared,
};

constexpr std::string_view port_mode_name(PortMode mode) {
  return mode == PortMode::kShared ? "shared" : "per-member";
}

constexpr std::optional<PortMode> parse_port_mode(std::string_view name) {
  for (const PortMode m : {PortMode::kPerMember, PortMode::kShared})
    if (port_mode_name(m) == name) return m;
  return std::nullopt;
}

}  // namespace chorus::rtp
