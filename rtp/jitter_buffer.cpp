#include "rtp/jitter_buffer.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace chorus::rtp {

namespace {

// A packet further than this from the playout point (either way) is a jump of
// the sender's timeline (clock restart), not jitter: ~5 s at 20 ms.
constexpr int64_t kJumpFrames = 250;
// Recompute the target delay every this many packets (nth_element over the window).
constexpr uint32_t kRecomputeEvery = 16;
// Playout drift thresholds, in frames (see pull()). Holding early keeps late
// packets rare; skipping needs a wider margin so the two never oscillate.
constexpr double kHoldAbove = 0.5;
constexpr double kSkipBelow = -1.25;
// While a talkspurt is under way a skip drops speech, so it waits for a larger
// excess (or for the next silence).
constexpr double kSpeechSkipBelow = -2.25;
// Skips while a talkspurt is under way are spaced at least this many ticks.
constexpr uint32_t kMinTicksBetweenSpeechSkips = 10;

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t ms_to_samples(uint32_t ms, uint32_t clock_rate) {
  return static_cast<int64_t>(ms) * clock_rate / 1000;
}

}  // namespace

JitterBuffer::JitterBuffer(const JitterConfig& config, uint32_t clock_rate,
                           uint32_t samples_per_tick)
    : config_(config),
      clock_rate_(clock_rate),
      spt_(samples_per_tick),
      window_(std::clamp<size_t>(config.window_packets, kRecomputeEvery, kJitterWindow)),
      ring_(std::make_unique<std::array<Entry, kCapacity>>()) {
  assert(clock_rate > 0 && samples_per_tick > 0);
  if (config_.max_delay_ms < config_.min_delay_ms) config_.max_delay_ms = config_.min_delay_ms;
  // The ring bounds the delay it can hold.
  const uint32_t ring_ms =
      static_cast<uint32_t>((kCapacity - 2) * static_cast<uint64_t>(spt_) * 1000 / clock_rate_);
  config_.max_delay_ms = std::min(config_.max_delay_ms, ring_ms);
  config_.min_delay_ms = std::min(config_.min_delay_ms, config_.max_delay_ms);
  config_.initial_delay_ms =
      std::clamp(config_.initial_delay_ms, config_.min_delay_ms, config_.max_delay_ms);
  config_.percentile = std::clamp(config_.percentile, 0.0, 1.0);
  target_samples_ = ms_to_samples(config_.initial_delay_ms, clock_rate_);
}

void JitterBuffer::reset() {
  for (Entry& e : *ring_) e.used = false;
  count_ = 0;
  started_ = false;
  transit_count_ = 0;
  transit_next_ = 0;
  since_recompute_ = 0;
  have_jump_candidate_ = false;
  target_samples_ = ms_to_samples(config_.initial_delay_ms, clock_rate_);
}

void JitterBuffer::start(const JitterPacket& packet, Clock::time_point arrival) {
  started_ = true;
  ssrc_ = packet.ssrc;
  epoch_ = arrival;
  base_ts_ = packet.timestamp;
  last_ext_ts_ = packet.timestamp;
  last_ext_seq_ = packet.sequence;
  min_transit_ = 0;  // the first packet's transit, by choice of epoch and base
  // Frame 0 (this packet) plays after the target delay: the ticks before it
  // are pre-roll silence.
  play_frame_ = -floor_div(target_samples_ + spt_ / 2, spt_);
  newest_frame_ = 0;
  last_played_seq_ = -1;
  last_played_frame_ = play_frame_ - 1;
  empty_run_ = 0;
  in_silence_ = true;
  ticks_since_adjust_ = 0;
  have_jump_candidate_ = false;
  phase_pending_ = true;
}

int64_t JitterBuffer::unwrap_timestamp(uint32_t ts) const {
  // RFC 3550 timestamps wrap at 2^32; the nearest extension to the newest wins.
  return last_ext_ts_ + static_cast<int32_t>(ts - static_cast<uint32_t>(last_ext_ts_));
}

int64_t JitterBuffer::unwrap_sequence(uint16_t seq) const {
  return last_ext_seq_ + static_cast<int16_t>(seq - static_cast<uint16_t>(last_ext_seq_));
}

int64_t JitterBuffer::samples_since_epoch(Clock::time_point t) const {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - epoch_).count();
  return static_cast<int64_t>(us) * clock_rate_ / 1'000'000;
}

double JitterBuffer::ideal_play_frame(Clock::time_point now) const {
  return static_cast<double>(samples_since_epoch(now) - min_transit_ - target_samples_) /
         static_cast<double>(spt_);
}

JitterBuffer::Entry* JitterBuffer::find(int64_t frame) {
  Entry& e = (*ring_)[static_cast<size_t>(frame) % kCapacity];
  return e.used && e.frame == frame ? &e : nullptr;
}

const JitterBuffer::Entry* JitterBuffer::next_after(int64_t frame) const {
  if (count_ == 0) return nullptr;
  for (int64_t f = frame + 1; f < frame + static_cast<int64_t>(kCapacity); ++f) {
    const Entry& e = (*ring_)[static_cast<size_t>(f) % kCapacity];
    if (e.used && e.frame == f) return &e;
  }
  return nullptr;
}

void JitterBuffer::note_transit(int64_t transit) {
  transits_[transit_next_] = transit;
  transit_next_ = (transit_next_ + 1) % window_;
  transit_count_ = std::min(transit_count_ + 1, window_);
  if (transit < min_transit_) min_transit_ = transit;  // at once: a faster path is news
  if (++since_recompute_ >= kRecomputeEvery) {
    since_recompute_ = 0;
    recompute_target();
  }
}

void JitterBuffer::recompute_target() {
  const size_t n = transit_count_;
  if (n == 0) return;
  int64_t min = transits_[0];
  for (size_t i = 0; i < n; ++i) {
    scratch_[i] = transits_[i];
    min = std::min(min, transits_[i]);
  }
  min_transit_ = min;  // the window forgets old minima: follows clock drift
  for (size_t i = 0; i < n; ++i) scratch_[i] -= min;
  const auto k = static_cast<size_t>(config_.percentile * static_cast<double>(n - 1));
  std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(k),
                   scratch_.begin() + static_cast<std::ptrdiff_t>(n));
  // The playout point may run up to kHoldAbove frames early before a hold
  // corrects it, so that much is added to the percentile, plus a quarter
  // frame so that the earliest packets still have a cushion over it.
  const auto margin = static_cast<int64_t>((kHoldAbove + 0.25) * static_cast<double>(spt_));
  target_samples_ =
      std::clamp(scratch_[k] + margin, ms_to_samples(config_.min_delay_ms, clock_rate_),
                 ms_to_samples(config_.max_delay_ms, clock_rate_));
}

void JitterBuffer::store(Entry& e, const JitterPacket& packet, int64_t frame, int64_t ext_seq,
                         Clock::time_point arrival) {
  if (e.used) --count_;  // cannot happen while the invariant holds; keep the count right
  e.used = true;
  e.frame = frame;
  e.ext_seq = ext_seq;
  e.timestamp = packet.timestamp;
  e.payload_type = packet.payload_type;
  e.marker = packet.marker;
  e.size = static_cast<uint16_t>(packet.payload.size());
  e.audio_level = packet.audio_level;
  e.arrival = arrival;
  if (!packet.payload.empty()) std::memcpy(e.bytes.data(), packet.payload.data(), e.size);
  ++count_;
  ++stats_.stored;
}

InsertResult JitterBuffer::insert(const JitterPacket& packet, Clock::time_point arrival) {
  if (packet.payload.size() > kMaxPayload) {
    ++stats_.too_large;
    return InsertResult::kTooLarge;
  }
  bool was_reset = false;
  bool just_started = false;  // start() placed the playout point: no talkspurt re-sync
  if (!started_) {
    start(packet, arrival);
    just_started = true;
  } else if (packet.ssrc != ssrc_) {
    // A new source (RFC 3550 §8.2: SSRC change) has its own timeline.
    ++stats_.ssrc_changes;
    ++stats_.resets;
    reset();
    start(packet, arrival);
    was_reset = true;
  }

  int64_t ext_ts = unwrap_timestamp(packet.timestamp);
  int64_t ext_seq = unwrap_sequence(packet.sequence);
  int64_t frame = floor_div(ext_ts - base_ts_ + spt_ / 2, spt_);

  if (frame < play_frame_ - kJumpFrames || frame > play_frame_ + kJumpFrames) {
    // Far off the timeline. Two in sequence mean the sender restarted its
    // clock (as RFC 3550 A.1 does for sequence jumps); one alone is a stray.
    const bool confirms = have_jump_candidate_ && ext_seq == jump_candidate_seq_ + 1;
    if (!confirms) {
      have_jump_candidate_ = true;
      jump_candidate_seq_ = ext_seq;
      if (frame < play_frame_) {
        ++stats_.too_late;
        return InsertResult::kTooLate;
      }
      ++stats_.too_early;
      return InsertResult::kTooEarly;
    }
    ++stats_.resets;
    reset();
    start(packet, arrival);
    was_reset = true;
    ext_ts = unwrap_timestamp(packet.timestamp);
    ext_seq = unwrap_sequence(packet.sequence);
    frame = 0;
  }
  have_jump_candidate_ = false;
  // Every packet on the timeline informs the delay estimate, late ones most of all.
  note_transit(samples_since_epoch(arrival) - (ext_ts - base_ts_));

  if (frame < play_frame_) {
    ++stats_.too_late;
    return InsertResult::kTooLate;
  }
  // One slot stays free so the payload handed out by the last pull() is never
  // overwritten before the next pull().
  if (frame >= play_frame_ + static_cast<int64_t>(kCapacity) - 1) {
    ++stats_.too_early;
    return InsertResult::kTooEarly;
  }
  Entry& e = (*ring_)[static_cast<size_t>(frame) % kCapacity];
  if (e.used && e.frame == frame) {
    ++stats_.duplicates;
    return InsertResult::kDuplicate;
  }

  const bool talkspurt_start =
      packet.marker && in_silence_ && count_ == 0 && !was_reset && !just_started;
  store(e, packet, frame, ext_seq, arrival);
  last_ext_ts_ = std::max(last_ext_ts_, ext_ts);
  last_ext_seq_ = std::max(last_ext_seq_, ext_seq);
  newest_frame_ = std::max(newest_frame_, frame);

  if (talkspurt_start) {
    // RFC 3551 §4.1: the marker starts a talkspurt after silence, the moment to
    // re-sync the delay without cutting speech: this packet waits the target.
    const auto ideal = static_cast<int64_t>(std::floor(ideal_play_frame(arrival) + 0.5));
    const int64_t resynced = std::clamp(ideal, last_played_frame_ + 1, frame);
    if (resynced != play_frame_) {
      play_frame_ = resynced;
      ++stats_.talkspurt_resyncs;
    }
  }
  return was_reset ? InsertResult::kStoredAfterReset : InsertResult::kStored;
}

Slot JitterBuffer::pull(Clock::time_point now) {
  Slot slot;
  if (!started_) {
    ++stats_.slots_not_started;
    slot.kind = SlotKind::kNotStarted;
    return slot;
  }
  ++ticks_since_adjust_;
  if (phase_pending_) {
    // First pull since start(): play frame 0 at the earliest tick that is at
    // most kHoldAbove frames ahead of its ideal time (never before frame 0).
    phase_pending_ = false;
    const auto placed = static_cast<int64_t>(std::floor(ideal_play_frame(now) + kHoldAbove));
    play_frame_ = std::min<int64_t>(placed, 0);
    last_played_frame_ = play_frame_ - 1;
  }

  // Keep the playout point at "now - min transit - target" (see the header).
  const double dev = static_cast<double>(play_frame_) - ideal_play_frame(now);
  Entry* e = find(play_frame_);
  if (dev > kHoldAbove) {
    // Too thin: hold one frame (the decoder conceals, or silence continues).
    ++stats_.frames_inserted;
    ticks_since_adjust_ = 0;
    slot.kind = in_silence_ ? SlotKind::kSilence : SlotKind::kLost;
    (slot.kind == SlotKind::kSilence ? stats_.slots_silence : stats_.slots_lost)++;
    return slot;
  }
  const bool quiet = e == nullptr || in_silence_;
  if ((quiet && dev < kSkipBelow) ||
      (dev < kSpeechSkipBelow && ticks_since_adjust_ >= kMinTicksBetweenSpeechSkips)) {
    // Too deep: skip one frame, preferably one with nothing in it.
    if (e != nullptr) {
      e->used = false;
      --count_;
      last_played_seq_ = std::max(last_played_seq_, e->ext_seq);
    }
    ++stats_.frames_skipped;
    ticks_since_adjust_ = 0;
    ++play_frame_;
    e = find(play_frame_);
  }

  if (e != nullptr) {
    e->used = false;
    --count_;
    last_played_seq_ = e->ext_seq;
    last_played_frame_ = play_frame_;
    empty_run_ = 0;
    in_silence_ = false;
    delay_sum_ms_ += std::chrono::duration<double, std::milli>(now - e->arrival).count();
    ++delay_count_;
    ++play_frame_;
    ++stats_.slots_packet;
    slot.kind = SlotKind::kPacket;
    slot.payload_type = e->payload_type;
    slot.marker = e->marker;
    slot.timestamp = e->timestamp;
    slot.payload = std::span<const uint8_t>(e->bytes.data(), e->size);
    slot.audio_level = e->audio_level;
    return slot;
  }

  // Nothing for this frame: a loss, or DTX (the sender paused, RFC 3551 §4.1).
  ++empty_run_;
  bool lost;
  const Entry* next = next_after(play_frame_);
  if (next != nullptr && last_played_seq_ >= 0) {
    // Sequence numbers count packets sent, timestamps count time: the first
    // `missing` frames after the last played one were sent and lost, the rest
    // of the gap was never sent.
    const int64_t missing = next->ext_seq - last_played_seq_ - 1;
    lost = play_frame_ - last_played_frame_ <= missing;
  } else if (next != nullptr) {
    lost = false;  // pre-roll before the first packet
  } else {
    lost = !in_silence_ && empty_run_ <= config_.max_conceal_ticks;
  }
  if (!lost) in_silence_ = true;
  if (lost && next != nullptr && next->frame == play_frame_ + 1) {
    // The next frame's packet stays stored (it plays next tick); insert()
    // never reuses its entry before then.
    slot.next_payload = std::span<const uint8_t>(next->bytes.data(), next->size);
    slot.next_payload_type = next->payload_type;
  }
  ++play_frame_;
  slot.kind = lost ? SlotKind::kLost : SlotKind::kSilence;
  (lost ? stats_.slots_lost : stats_.slots_silence)++;
  return slot;
}

double JitterBuffer::target_delay_ms() const {
  return static_cast<double>(target_samples_) * 1000.0 / clock_rate_;
}

double JitterBuffer::current_depth_ms() const {
  if (count_ == 0) return 0;
  const int64_t frames = std::max<int64_t>(0, newest_frame_ - play_frame_ + 1);
  return static_cast<double>(frames * spt_) * 1000.0 / clock_rate_;
}

double JitterBuffer::average_delay_ms() const {
  return delay_count_ == 0 ? 0.0 : delay_sum_ms_ / static_cast<double>(delay_count_);
}

}  // namespace chorus::rtp
