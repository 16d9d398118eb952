#pragma once
// /metrics: the Prometheus text exposition format 0.0.4 of what the focus
// counts: rooms and members, media shards (tick duration histogram, deadline
// misses, ring drops), RTP packets in/out/dropped by reason, SRTP auth
// failures, SIP messages by method and status code, transaction timeouts.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "focus/events/conference_state.hpp"
#include "focus/ops/metrics_media.hpp"
#include "rtp/shard.hpp"
#include "signaling/stack.hpp"

namespace chorus::mixer {
class Engine;
}

namespace chorus::focus {

// One media shard's relaxed counters (rtp::Shard, readable from any thread).
struct ShardMetrics {
  uint32_t index = 0;
  uint64_t ticks = 0;
  uint64_t deadline_misses = 0;
  uint64_t commands_dropped = 0;
  uint64_t events_dropped = 0;
  uint64_t datagrams_received = 0;
  // rtp::Shard::DurationHistogram buckets (microseconds, log2) and its max.
  std::array<uint64_t, rtp::Shard::DurationHistogram::kBuckets> tick_duration_us{};
  uint64_t tick_duration_max_us = 0;
};

// Where /metrics reads from. Every getter runs on the signalling thread when
// /metrics is scraped; an empty one leaves its metric families out.
struct MetricsSource {
  std::function<std::optional<sip::StackStats>()> sip;
  std::function<std::vector<ShardMetrics>()> shards;
  std::function<std::optional<MediaCounters>()> media;
};

struct MetricsSnapshot {
  std::vector<ConferenceState> rooms;
  std::optional<sip::StackStats> sip;
  std::vector<ShardMetrics> shards;
  std::optional<MediaCounters> media;
};

ShardMetrics shard_metrics(const rtp::Shard& shard);
// Every shard of the engine (empty before Engine::start made them).
std::vector<ShardMetrics> shard_metrics(mixer::Engine& engine);

// A source reading the focus's own objects; each must outlive the source.
// `media` may be null (no per-stream totals kept).
MetricsSource make_metrics_source(const sip::Stack& stack, mixer::Engine& engine,
                                  const MediaTotals* media);

MetricsSnapshot collect_metrics(const MetricsSource& source, std::vector<ConferenceState> rooms);

// Prometheus text format 0.0.4 (Content-Type: text/plain; version=0.0.4).
std::string render_metrics(const MetricsSnapshot& snapshot);

// A label value escaped as the format requires (backslash, quote, newline).
std::string escape_label_value(std::string_view value);

}  // namespace chorus::focus
