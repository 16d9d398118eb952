#pragma once
// Builds a shard's streams off the shard thread (the signalling thread), so
// the tick only adopts them: allocates the even port (+1 for RTCP unless
// rtcp-mux) from the pool this factory owns, opens and binds the sockets in
// the shard's io_context, and chooses the SSRC. The port goes back to the
// pool only through release(), which the owner calls once the shard has
// reported the stream closed (never while a socket might still be open).
//
// In the shared-port mode (ShardConfig::port_mode) a stream binds nothing:
// it uses the shard's one socket, and the pool stays untouched.
//
// One factory per shard, used by one thread (the signalling thread).

#include <cstddef>
#include <cstdint>
#include <memory>

#include "rtp/port_pool.hpp"
#include "rtp/stream.hpp"
#include "rtp/stream_config.hpp"

namespace chorus::rtp {

class Shard;

class StreamFactory {
 public:
  explicit StreamFactory(Shard& shard);
  StreamFactory(const StreamFactory&) = delete;
  StreamFactory& operator=(const StreamFactory&) = delete;

  // A stream with bound sockets, not yet attached to the shard; nullptr when
  // every port of the range is in use or cannot be bound.
  std::unique_ptr<Stream> open(const StreamConfig& config);
  // A port of a stream the shard has closed (or that never reached it). In
  // the shared-port mode streams take no port from the pool: nothing to do.
  void release(uint16_t port) {
    if (!shared_) ports_.release(port);
  }

  const PortPool& ports() const { return ports_; }
  size_t ports_free() const { return ports_.capacity() - ports_.in_use(); }

 private:
  uint32_t next_ssrc();

  Shard& shard_;
  bool shared_;
  PortPool ports_;
  uint64_t rng_state_;
};

}  // namespace chorus::rtp
