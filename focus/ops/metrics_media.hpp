#pragma once
// Monotonic media totals for /metrics, built from the per-stream snapshots the
// shards post (rtp::EventKind::kStats on kRequestStats and on close). A live
// stream contributes its latest snapshot; a closed one is folded into the
// retired sum, so totals never go backwards when members leave.

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
  // A kStats event for `stream` (a newer snapshot replaces the older one).
  void on_stats(rtp::StreamId stream, const rtp::StreamStats& stats);
  // kStreamClosed: the stream's last snapshot becomes part of the retired sum.
  void on_closed(rtp::StreamId stream);
  MediaCounters totals() const;
  size_t live_streams() const { return live_.size(); }

 private:
  std::unordered_map<rtp::StreamId, rtp::StreamStats> live_;
  MediaCounters retired_;
};

}  // namespace chorus::focus
