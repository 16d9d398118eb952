#include "rtp/jitter_buffer.hpp"

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <memory>
#include <cassert>
#include <cmath>
#include <cstring>

namespace chorus::rtp {

namespace {

// A packet further than this from the playout point (either way) is a jump of
// the sender's timeline (clock restart), not jitter: ~5 s at 20 ms.
constexpr int64_t kJumpFrames = 250;
// |transit| bound, in samples (see note_transit).
constexpr int64_t kTransitLimit = int64_t{1} << 30;
// Recompute the target delay every this many packets (nth_element over the window).
constexpr uint32_t kRecomputeEvery = 16;
// Playout drift thresholds, in frames (see pull()). The first placement and
// the hold let the playout point run up to hold_above_ frames ahead of its
// ideal ("now - min transit - target"). Ticks quantise the playout by a
// whole frame, so a stream waits anywhere in a band one frame wide; the band
// leans as early as the cushion allows: the earliest-placed packet still
// waits kCushion frame beyond the jitter percentile, and never more than
// kMaxHoldAbove frame before its ideal time. At zero jitter and the
// one-frame minimum target a stream therefore waits 3 to 23 ms whatever the
// phase of its arrivals against the ticks (issue #16: with the ~1.5 ms of
// mixing and transport, G.711's mouth-to-ear stays under 25 ms and Opus's,
// with 13 ms of look-ahead, under 40 ms); once the jitter sets the target
// (percentile + kTargetMargin), the band is the percentile + 3 ms to
// + 23 ms. Skipping needs a wider margin below so the two never oscillate.
constexpr double kMaxHoldAbove = 0.85;
constexpr double kCushion = 0.15;
constexpr double kTargetMargin = 0.75;
// Placements stay a hair (20 us at 20 ms) inside the hold threshold, so a
// packet placed exactly on it is not held by rounding at the next tick.
constexpr double kPlaceInside = 1e-3;
constexpr double kSkipBelow = -1.25;
// While a talkspurt is under way a skip drops speech, so it waits for a larger
// excess (or for the next silence).
constexpr double kSpeechSkipBelow = -2.25;
// Skips while a talkspurt is under way are spaced at least this many ticks.
constexpr uint32_t kMinTicksBetweenSpeechSkips = 10;
// A stream that never pauses (no DTX, no marker to re-sync on: a phone
// without VAD, a sender of encoded silence) would otherwise keep up to
// kSpeechSkipBelow frames of needless delay for the whole call once its
// ideal playout point moved earlier: its first packets came late (a
// sender's start-up, work queued before them), so the minimum transit
// dropped after the placement, or a jitter episode ended and the target
// fell. When the playout point has stayed more than kReclaimBelow frames
// below the band's lower edge (hold_above_ - 1) for kReclaimAfterTicks
// pulls in a row, one frame is skipped even in speech: at most one frame a
// second, 1.25 frames below the hold threshold, so a skip never invites a
// hold. While the stream settles (pulls kSettleFrom to kSettleTicks: late
// first packets are the usual cause, and by then the target no longer
// counts them, 4 recomputes over 64 packets having pushed them past the
// percentile) the threshold is kSettleReclaimBelow, a twentieth of a frame
// (1 ms) below the edge, after kSettleReclaimAfterTicks pulls: a skip lands
// just inside the band, and only a target that grows since (a hold is due
// then anyway) can push it out again.
constexpr double kReclaimBelow = -0.25;
constexpr uint32_t kReclaimAfterTicks = 50;  // 1 s at 20 ms
constexpr uint32_t kSettleFrom = 4 * kRecomputeEvery + 6;  // ~1.4 s
constexpr uint32_t kSettleTicks = 250;                     // 5 s
constexpr double kSettleReclaimBelow = -0.05;
constexpr uint32_t kSettleReclaimAfterTicks = 10;

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t ms_to_samples(uint32_t ms, uint32_t clock_rate) {
  return static_cast<int64_t>(ms) * clock_rate / 1000;
}

}  // namespace

JitterBuffer::JitterBuffer(const JitterConfig& config, uint32_t clock_rate,
                           uint32_t samples_per_tick, size_t max_payload, size_t frame_budget)
    : config_(config),
      clock_rate_(clock_rate),
      spt_(samples_per_tick),
      window_(std::clamp<size_t>(config.window_packets, kRecomputeEvery, kJitterWindow)),
      capacity_(kMinCapacity),
      mask_(kMinCapacity - 1),
      max_payload_(std::clamp<size_t>(max_payload, 1, UINT16_MAX)) {
  assert(clock_rate > 0 && samples_per_tick > 0);
  if (config_.max_delay_ms < config_.min_delay_ms) config_.max_delay_ms = config_.min_delay_ms;
  // The ring holds the maximum delay plus the slack (in frames, rounded up).
  const uint64_t frame_ms_x1000 = static_cast<uint64_t>(spt_) * 1'000'000 / clock_rate_;
  const uint64_t delay_frames =
      (static_cast<uint64_t>(config_.max_delay_ms) * 1000 + frame_ms_x1000 - 1) /
      std::max<uint64_t>(frame_ms_x1000, 1);
  capacity_ = std::bit_ceil(std::clamp<size_t>(static_cast<size_t>(delay_frames) + kSlackFrames,
                                               kMinCapacity, kMaxCapacity));
  mask_ = capacity_ - 1;
  // A delay past the largest ring is capped to what it holds.
  const uint32_t ring_ms = static_cast<uint32_t>((capacity_ - kSlackFrames) *
                                                 static_cast<uint64_t>(spt_) * 1000 / clock_rate_);
  config_.max_delay_ms = std::min(config_.max_delay_ms, ring_ms);
  config_.min_delay_ms = std::min(config_.min_delay_ms, config_.max_delay_ms);
  config_.initial_delay_ms =
      std::clamp(config_.initial_delay_ms, config_.min_delay_ms, config_.max_delay_ms);
  config_.percentile = std::clamp(config_.percentile, 0.0, 1.0);
  target_samples_ = ms_to_samples(config_.initial_delay_ms, clock_rate_);
  set_hold_above(0);

  // The arena: the budget for every frame of the ring, one largest packet
  // more (what a wrap may leave unused at the end), and never less than four
  // largest packets (the one handed out, the next, and fragmentation).
  const size_t per_frame =
      frame_budget == 0 ? max_payload_ : std::min(frame_budget, max_payload_);
  arena_bytes_ = std::max(capacity_ * per_frame + max_payload_, 4 * max_payload_);

  // One block: entries, transit window, arena. Arena bytes are left
  // uninitialised (written before they are read).
  static_assert(sizeof(Entry) % alignof(int32_t) == 0);
  static_assert(alignof(Entry) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  const size_t entry_bytes = capacity_ * sizeof(Entry);
  const size_t window_bytes = window_ * sizeof(int32_t);
  storage_bytes_ = entry_bytes + window_bytes + arena_bytes_;
  storage_ = std::make_unique_for_overwrite<std::byte[]>(storage_bytes_);
  entries_ = std::uninitialized_value_construct_n(reinterpret_cast<Entry*>(storage_.get()),
                                                  capacity_) -
             capacity_;
  transits_ = std::uninitialized_value_construct_n(
                  reinterpret_cast<int32_t*>(storage_.get() + entry_bytes), window_) -
              window_;
  arena_ = reinterpret_cast<uint8_t*>(storage_.get() + entry_bytes + window_bytes);
}

void JitterBuffer::reset() {
  for (size_t i = 0; i < capacity_; ++i) entries_[i].used = false;
  count_ = 0;
  started_ = false;
  transit_count_ = 0;
  transit_next_ = 0;
  since_recompute_ = 0;
  have_jump_candidate_ = false;
  late_run_ = 0;
  target_samples_ = ms_to_samples(config_.initial_delay_ms, clock_rate_);
  set_hold_above(0);
}

void JitterBuffer::start(const JitterPacket& packet, Clock::time_point arrival) {
  started_ = true;
  ssrc_ = packet.ssrc;
  epoch_ = arrival;
  base_ts_ = packet.timestamp;
  last_ext_ts_ = packet.timestamp;
  last_ext_seq_ = packet.sequence;
  min_transit_ = 0;  // the first packet's transit, by choice of epoch and base
  have_fast_transit_ = false;
  // Frame 0 (this packet) plays after the target delay: the ticks before it
  // are pre-roll silence.
  play_frame_ = -floor_div(target_samples_ + spt_ / 2, spt_);
  newest_frame_ = 0;
  last_played_seq_ = -1;
  last_played_frame_ = play_frame_ - 1;
  empty_run_ = 0;
  in_silence_ = true;
  ticks_since_adjust_ = 0;
  behind_ticks_ = 0;
  pulls_since_start_ = 0;
  have_jump_candidate_ = false;
  phase_pending_ = true;
  resync_pending_ = false;
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

void JitterBuffer::place_playout(int64_t frame) {
  play_frame_ = frame;
  if (count_ == 0) return;
  // A packet stored for a frame before the playout point will never play.
  // Held, it would keep its entry and pin the oldest bytes of the arena:
  // with the frame that next reuses its entry lost, the arena fills and
  // every later packet is refused, and the buffer, never empty, never
  // re-anchors. It is dropped as a skipped frame is.
  for (size_t i = 0; i < capacity_; ++i) {
    Entry& e = entries_[i];
    if (e.used && e.frame < frame) {
      e.used = false;
      --count_;
      last_played_seq_ = std::max(last_played_seq_, e.ext_seq);
      ++stats_.frames_skipped;
    }
  }
}

JitterBuffer::Entry* JitterBuffer::find(int64_t frame) {
  Entry& e = entry(frame);
  return e.used && e.frame == frame ? &e : nullptr;
}

const JitterBuffer::Entry* JitterBuffer::next_after(int64_t frame) const {
  if (count_ == 0) return nullptr;
  for (int64_t f = frame + 1; f < frame + static_cast<int64_t>(capacity_); ++f) {
    const Entry& e = entry(f);
    if (e.used && e.frame == f) return &e;
  }
  return nullptr;
}

uint32_t JitterBuffer::allocate(size_t size) {
  if (size == 0) return 0;
  // The oldest bytes still needed start at `lo`; everything stored since lies
  // after it, circularly, up to head_.
  bool any = false;
  uint64_t oldest = 0;
  size_t lo = 0;
  const auto consider = [&](uint64_t order, size_t offset) {
    if (!any || order < oldest) {
      any = true;
      oldest = order;
      lo = offset;
    }
  };
  for (const Lent& l : lent_) {
    if (l.size > 0) consider(l.order, l.offset);
  }
  if (count_ > 0) {
    for (size_t i = 0; i < capacity_; ++i) {
      const Entry& e = entries_[i];
      // An entry behind the playout point never plays: its bytes are free
      // (place_playout() releases such entries; this keeps the arena safe
      // should one ever be missed).
      if (e.used && e.size > 0 && e.frame >= play_frame_) consider(e.order, e.offset);
    }
  }
  size_t at;
  if (!any) {
    at = 0;  // nothing needed: start over at the front
  } else if (head_ > lo) {
    if (head_ + size <= arena_bytes_) {
      at = head_;
    } else if (size <= lo) {
      at = 0;  // wrap; the tail end stays unused this lap
    } else {
      return kNoOffset;
    }
  } else if (head_ < lo && head_ + size <= lo) {
    at = head_;
  } else {
    return kNoOffset;  // head_ == lo: a full lap is held
  }
  head_ = at + size;
  return static_cast<uint32_t>(at);
}

void JitterBuffer::note_transit(int64_t transit, int64_t ext_seq) {
  // Transit stays near zero (it is relative to the first packet's): hours of
  // clock drift fit in 30 bits, so differences of two fit in 32; beyond that
  // it is clamped (a stream that far off resets on the timeline jump).
  transit = std::clamp<int64_t>(transit, -kTransitLimit, kTransitLimit);
  const bool successor = have_fast_transit_ && ext_seq == fast_transit_seq_ + 1;
  if (transit >= min_transit_ - spt_) {
    // Within a frame of the minimum, or above it: a faster path by less
    // than a frame moves the playout point by at most one frame, so it is
    // taken at once. The successor of a held drop, not showing it, refutes
    // it; other packets (reordered, late) leave it waiting.
    if (successor) have_fast_transit_ = false;
    record_transit(transit);
    return;
  }
  // More than a frame faster than any packet in the window. One packet
  // alone may be stamped ahead (a spoofer, a sender's glitch), and taken as
  // the minimum it would move the playout point ahead by as much, leaving
  // every genuine packet too late. A real faster path shows on every
  // packet, so the next one in sequence confirms it: both count then, no
  // lower than the drop both show, one packet (20 ms) after the first.
  if (successor) {
    const int64_t agreed = std::max(fast_transit_, transit);
    have_fast_transit_ = false;
    record_transit(agreed);
    record_transit(agreed);
    return;
  }
  have_fast_transit_ = true;
  fast_transit_ = transit;
  fast_transit_seq_ = ext_seq;
}

void JitterBuffer::record_transit(int64_t transit) {
  transits_[transit_next_] = static_cast<int32_t>(transit);
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
  // nth_element reorders a copy; one per thread serves every buffer on it.
  static thread_local std::array<int32_t, kJitterWindow> scratch_storage;
  int32_t* const scratch = scratch_storage.data();
  int32_t min = transits_[0];
  for (size_t i = 0; i < n; ++i) {
    scratch[i] = transits_[i];
    min = std::min(min, transits_[i]);
  }
  min_transit_ = min;  // the window forgets old minima: follows clock drift
  for (size_t i = 0; i < n; ++i) scratch[i] -= min;
  const auto k = static_cast<size_t>(config_.percentile * static_cast<double>(n - 1));
  std::nth_element(scratch, scratch + k, scratch + n);
  // The target adds kTargetMargin to the percentile; the hold threshold
  // keeps kCushion of it (see kMaxHoldAbove).
  const auto margin = static_cast<int64_t>(kTargetMargin * static_cast<double>(spt_));
  target_samples_ =
      std::clamp(int64_t{scratch[k]} + margin, ms_to_samples(config_.min_delay_ms, clock_rate_),
                 ms_to_samples(config_.max_delay_ms, clock_rate_));
  set_hold_above(scratch[k]);
}

void JitterBuffer::set_hold_above(int64_t percentile_samples) {
  const double spare =
      static_cast<double>(target_samples_ - percentile_samples) / static_cast<double>(spt_);
  hold_above_ = std::clamp(spare - kCushion, 0.0, kMaxHoldAbove);
}

void JitterBuffer::store(Entry& e, const JitterPacket& packet, int64_t frame, int64_t ext_seq,
                         uint32_t offset, Clock::time_point arrival) {
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
  e.offset = offset;
  e.order = next_order_++;
  if (!packet.payload.empty()) std::memcpy(arena_ + offset, packet.payload.data(), e.size);
  ++count_;
  ++stats_.stored;
}

InsertResult JitterBuffer::insert(const JitterPacket& packet, Clock::time_point arrival) {
  if (packet.payload.size() > max_payload_) {
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
  // A new timeline starting at this packet (its frame 0).
  const auto restart = [&] {
    ++stats_.resets;
    reset();
    start(packet, arrival);
    was_reset = true;
    ext_ts = unwrap_timestamp(packet.timestamp);
    ext_seq = unwrap_sequence(packet.sequence);
    frame = 0;
  };

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
    restart();
  }
  have_jump_candidate_ = false;

  if (frame < play_frame_ && count_ == 0 && in_silence_ && !was_reset) {
    // Nothing buffered and every packet late, paced as the sender sends: it
    // paused without advancing its timestamp (RFC 3550 §5.1 says it should)
    // and its timeline now lags our playout by the pause. The delay estimate
    // would take seconds to catch up while everything is dropped; three such
    // packets in sequence re-anchor the playout on them instead. Nothing is
    // cut: the buffer is empty and the room hears silence meanwhile.
    const bool paced = arrival - late_run_arrival_ >= std::chrono::milliseconds(10);
    late_run_ = late_run_ > 0 && ext_seq == late_run_seq_ + 1 && paced ? late_run_ + 1 : 1;
    late_run_seq_ = ext_seq;
    late_run_arrival_ = arrival;
    if (late_run_ >= 3) {
      late_run_ = 0;
      ++stats_.stale_resyncs;
      restart();
    }
  } else {
    late_run_ = 0;
  }
  // Every packet on the timeline informs the delay estimate, late ones most
  // of all. A packet that claims a path more than a frame faster counts only
  // once the next in sequence agrees (note_transit): one stamped ahead alone
  // (a spoofer's, a sender's glitch) moves nothing, while a stream that
  // really runs ahead of the playout point (a late first packet, a sender's
  // timestamp jump) pulls it forward from its second packet on, instead of
  // being refused as too early for the rest of the call.
  const int64_t transit = samples_since_epoch(arrival) - (ext_ts - base_ts_);

  if (frame < play_frame_) {
    note_transit(transit, ext_seq);
    ++stats_.too_late;
    return InsertResult::kTooLate;
  }
  // The ring's last frame stays free: the entry played last (its payload is
  // reserved in the arena until the next pull()) is never reused before then.
  if (frame >= play_frame_ + static_cast<int64_t>(capacity_) - 1) {
    note_transit(transit, ext_seq);
    ++stats_.too_early;
    return InsertResult::kTooEarly;
  }
  // An entry here for another frame behind the playout point never plays:
  // it is free to take (store() keeps the count right).
  Entry& e = entry(frame);
  if (e.used && e.frame == frame) {
    ++stats_.duplicates;
    return InsertResult::kDuplicate;
  }

  const uint32_t offset = allocate(packet.payload.size());
  if (offset == kNoOffset) {
    ++stats_.no_room;
    return InsertResult::kNoRoom;
  }
  const bool talkspurt_start =
      packet.marker && in_silence_ && count_ == 0 && !was_reset && !just_started;
  store(e, packet, frame, ext_seq, offset, arrival);
  note_transit(transit, ext_seq);
  last_ext_ts_ = std::max(last_ext_ts_, ext_ts);
  last_ext_seq_ = std::max(last_ext_seq_, ext_seq);
  newest_frame_ = std::max(newest_frame_, frame);

  if (talkspurt_start) {
    // RFC 3551 §4.1: the marker starts a talkspurt after silence, the moment to
    // re-sync the delay without cutting speech: this packet waits the target,
    // placed on the tick grid at the next pull as the first packet is.
    resync_pending_ = true;
    resync_frame_ = frame;
  }
  return was_reset ? InsertResult::kStoredAfterReset : InsertResult::kStored;
}

Slot JitterBuffer::pull(Clock::time_point now) {
  Slot slot;
  lent_ = {};  // the last pull's payloads are the caller's no longer
  if (!started_) {
    ++stats_.slots_not_started;
    slot.kind = SlotKind::kNotStarted;
    return slot;
  }
  ++ticks_since_adjust_;
  if (phase_pending_) {
    // First pull since start(): play frame 0 at the earliest tick that is at
    // most hold_above_ frames ahead of its ideal time (never before frame 0):
    // at zero jitter and a one-frame target, 3 to 23 ms after it arrived.
    phase_pending_ = false;
    const auto placed =
        static_cast<int64_t>(std::floor(ideal_play_frame(now) + hold_above_ - kPlaceInside));
    // A packet sent before the first one but arriving after it, before
    // this pull, may sit at a frame below the placement: it is released.
    place_playout(std::min<int64_t>(placed, 0));
    last_played_frame_ = play_frame_ - 1;
  }
  if (resync_pending_) {
    // A talkspurt started after silence: its first packet plays at the same
    // place against its ideal time as the first packet of the stream did,
    // never before frames already played, never after its own frame.
    resync_pending_ = false;
    const auto placed =
        static_cast<int64_t>(std::floor(ideal_play_frame(now) + hold_above_ - kPlaceInside));
    const int64_t resynced = std::clamp(placed, last_played_frame_ + 1, resync_frame_);
    if (resynced != play_frame_) {
      place_playout(resynced);
      ++stats_.talkspurt_resyncs;
    }
  }

  // Keep the playout point at "now - min transit - target" (see the header).
  const double dev = static_cast<double>(play_frame_) - ideal_play_frame(now);
  Entry* e = find(play_frame_);
  pulls_since_start_ += pulls_since_start_ < kSettleTicks ? 1 : 0;
  const bool settling = pulls_since_start_ > kSettleFrom && pulls_since_start_ < kSettleTicks;
  const double reclaim_below = hold_above_ - 1 + (settling ? kSettleReclaimBelow : kReclaimBelow);
  behind_ticks_ = dev < reclaim_below ? behind_ticks_ + 1 : 0;
  if (dev > hold_above_) {
    // Too thin: hold one frame (the decoder conceals, or silence continues).
    ++stats_.frames_inserted;
    ticks_since_adjust_ = 0;
    slot.kind = in_silence_ ? SlotKind::kSilence : SlotKind::kLost;
    (slot.kind == SlotKind::kSilence ? stats_.slots_silence : stats_.slots_lost)++;
    return slot;
  }
  const bool quiet = e == nullptr || in_silence_;
  if ((quiet && dev < kSkipBelow) ||
      behind_ticks_ >= (settling ? kSettleReclaimAfterTicks : kReclaimAfterTicks) ||
      (dev < kSpeechSkipBelow && ticks_since_adjust_ >= kMinTicksBetweenSpeechSkips)) {
    // Too deep: skip one frame, preferably one with nothing in it.
    if (e != nullptr) {
      e->used = false;
      --count_;
      last_played_seq_ = std::max(last_played_seq_, e->ext_seq);
    }
    ++stats_.frames_skipped;
    ticks_since_adjust_ = 0;
    behind_ticks_ = 0;
    ++play_frame_;
    e = find(play_frame_);
  }

  if (e != nullptr) {
    e->used = false;
    --count_;
    // Its bytes stay reserved until the next pull (the slot's view).
    lent_[0] = {e->order, e->offset, e->size};
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
    slot.payload = payload_of(*e);
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
    // never reuses its entry before then, and its bytes stay reserved even
    // if a new source resets the buffer meanwhile.
    slot.next_payload = payload_of(*next);
    lent_[1] = {next->order, next->offset, next->size};
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
