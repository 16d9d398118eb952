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

}  // namespace chorus::rtp
