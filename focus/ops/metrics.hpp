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
#include "focus/ops/limits.hpp"
#include "focus/ops/metrics_media.hpp"
#include "mixer/media_engine.hpp"
#include "signaling/stack.hpp"

namespace chorus::focus {

class Server;

// One media shard as the engine reports it (relaxed counters).
using ShardMetrics = mixer::ShardStatus;

// What the focus itself holds (calls, rooms, dialogs, subscriptions …):
// gauges that return to their baseline once every call has ended.
struct FocusMetrics {
  uint64_t calls = 0;
  uint64_t rooms = 0;
  uint64_t dialogs = 0;
  uint64_t dialing = 0;
  uint64_t subscriptions = 0;
  uint64_t transactions = 0;
  uint64_t media_totals_entries = 0;
  uint64_t unsent_removes = 0;
  uint64_t unsent_changes = 0;
  uint64_t removes_in_flight = 0;
  uint64_t media_commands_failed = 0;
  uint64_t joins_refused_busy = 0;
  uint64_t relay_subscriptions = 0;
  uint64_t relay_overflows = 0;
  uint64_t recordings_active = 0;    // rooms being recorded (README "Recording")
  uint64_t recordings_failed = 0;    // recordings stopped by a write error
  uint64_t recordings_finished = 0;  // recordings whose files are complete
  // 20 ms recording frames the taps could not queue (silence in the files).
  uint64_t recording_frames_dropped = 0;
  uint64_t referrals_expired = 0;  // REFER subscriptions ended by expiry
  uint64_t pin_timeouts = 0;       // calls ended because their PIN was not keyed in time
  // Abuse limits (README "Security / Limits").
  LimitCounters limits;
  uint64_t limit_sources_tracked = 0;
  uint64_t limit_locked_pairs = 0;
  uint64_t limit_deferred = 0;
  double cpu_percent = 0;
};

// Where /metrics reads from. Every getter runs on the signalling thread when
// /metrics is scraped; an empty one leaves its metric families out.
struct MetricsSource {
  std::function<std::optional<sip::StackStats>()> sip;
  std::function<std::vector<ShardMetrics>()> shards;
  std::function<std::optional<MediaCounters>()> media;
  std::function<std::optional<FocusMetrics>()> focus;
  std::function<std::optional<mixer::DtlsStats>()> dtls;  // WebRTC (issue #18)
};

struct MetricsSnapshot {
  std::vector<ConferenceState> rooms;
  std::optional<sip::StackStats> sip;
  std::vector<ShardMetrics> shards;
  std::optional<MediaCounters> media;
  std::optional<FocusMetrics> focus;
  std::optional<mixer::DtlsStats> dtls;
};

// Every shard of the engine.
std::vector<ShardMetrics> shard_metrics(const mixer::MediaEngine& engine);

// A source reading the focus's own objects; each must outlive the source.
// `media` may be null (no per-stream totals kept).
MetricsSource make_metrics_source(const sip::Stack& stack, const mixer::MediaEngine& engine,
                                  const MediaTotals* media);
// Everything a running Server has: SIP, shards, media totals, focus gauges.
MetricsSource make_metrics_source(Server& server);

MetricsSnapshot collect_metrics(const MetricsSource& source, std::vector<ConferenceState> rooms);

// Prometheus text format 0.0.4 (Content-Type: text/plain; version=0.0.4).
std::string render_metrics(const MetricsSnapshot& snapshot);

// A label value escaped as the format requires (backslash, quote, newline).
std::string escape_label_value(std::string_view value);

}  // namespace chorus::focus
