#pragma once
// What runs on a shard every tick: the mixer.

#include <chrono>
#include <cstdint>

#include "rtp/command.hpp"

namespace chorus::rtp {

class TickHandler {
 public:
  virtual ~TickHandler() = default;
  // On the shard thread, after the shard applied the commands queued for this
  // tick; `deadline` is the tick's absolute (scheduled) time. Sends made here
  // are flushed (one sendmmsg per socket) when it returns.
  virtual void on_tick(uint64_t tick, std::chrono::steady_clock::time_point deadline) = 0;
  // A kUser command, on the shard thread at the tick boundary.
  virtual void on_command(const Command& /*command*/) {}
};

}  // namespace chorus::rtp
