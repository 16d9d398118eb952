#pragma once
// Monotonic media totals for /metrics, built from the per-participant
// snapshots the shards post (mixer kStats after kReportStats) and the final
// counters a removal's completion carries. A live participant contributes its
// latest snapshot; a removed one is folded into the retired sum, so totals
// never go backwards when members leave, and no entry outlives its call.

#include <cstdint>
#include <unordered_map>

#include "rtp/event.hpp"

namespace chorus::focus {

// Only the counters of rtp::StreamStats that add up across streams.
struct MediaCounters {
  uint64_t packets_received = 0;
  uint64_t bytes_received = 0;
  uint64_t rtcp_received = 0;
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t rtcp_sent = 0;
  rtp::DropCounters drops;

  void add(const rtp::StreamStats& stats);
  void add(const MediaCounters& other);
};

// Signalling thread only (where the shard events are polled).
class MediaTotals {
 public:
  using Key = uint64_t;  // the mixer participant id
  // A kStats event for a live participant (a newer snapshot replaces the older one).
  void on_stats(Key participant, const rtp::StreamStats& stats);
  // The removal completed: its final counters become part of the retired sum.
  void on_closed(Key participant, const rtp::StreamStats& final_stats);
  // The participant never held a stream (its add failed): forget it.
  void forget(Key participant) { live_.erase(participant); }
  MediaCounters totals() const;
  size_t live_streams() const { return live_.size(); }

 private:
  std::unordered_map<Key, rtp::StreamStats> live_;
  MediaCounters retired_;
};

}  // namespace chorus::focus
