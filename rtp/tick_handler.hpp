#pragma once
// What runs on a shard every tick: the mixer.

#include <chrono>
#include <cstdint>

namespace chorus::rtp {

class TickHandler {
 public:
  virtual ~TickHandler() = default;
  // On the shard thread at the tick boundary, after the sockets were drained
  // and before stream housekeeping: the handler applies its commands (it owns
  // the command ring; the shard has none).
  virtual void on_commands(uint64_t /*tick*/) {}
  // On the shard thread after housekeeping; `deadline` is the tick's absolute
  // (scheduled) time. Sends made here are flushed (one sendmmsg per socket)
  // when it returns.
  virtual void on_tick(uint64_t tick, std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace chorus::rtp
