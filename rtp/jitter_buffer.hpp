#pragma once
// An adaptive jitter buffer for one audio stream, pulled once per 20 ms tick.
//
// Packets are stored by their position on the stream's frame grid (RTP
// timestamp / samples per tick) in a fixed ring of payload copies; the mixer
// pulls exactly one Slot per tick: the packet due now, or kLost (the decoder
// conceals), or kSilence (DTX: the talkspurt ended, RFC 3551 §4.1 marker bit
// starts the next one), or kNotStarted.
//
// Target delay: each packet's transit time (local arrival clock minus RTP
// timestamp, both in samples) is kept over a window; the jitter of a packet is
// its transit minus the window's minimum transit, and the target delay is a
// high percentile of that jitter, bounded by [min_delay_ms, max_delay_ms].
// Only packets stored or late count: one refused as too early says nothing
// of the path. A transit more than a frame below the minimum counts only
// once the next packet in sequence shows the faster path too, so that one
// packet stamped ahead (a spoofer's, or a sender's glitch) cannot pull the
// playout point forward and leave the genuine stream too late. The
// playout point follows "now - min transit - target": when the real playout
// point drifts from it by a frame (jitter grew or calmed, or the sender's clock
// runs fast or slow), a frame is held (kLost/kSilence inserted) or skipped,
// preferably in silence. Ticks quantise the playout by a whole frame, so the
// playout point sits in a band one frame wide around its ideal; the band
// leans early as far as the target's margin over the jitter percentile
// allows (the earliest packets still wait out the percentile plus 3 ms), at
// most 0.85 frame: at zero jitter and the one-frame target a stream waits 3
// to 23 ms whatever the phase of its arrivals against the ticks, and with
// jitter setting the target (percentile + 0.75 frame) it waits target - 12
// ms to target + 8 ms. The first packet's frame is placed in that band at
// the first pull after it (the phase of arrivals against ticks is known only
// then), and so is a talkspurt's first packet after silence (the moment to
// re-sync without cutting speech). A stream that never pauses but has stayed
// more than a quarter frame below the band for a second drops one frame (a
// late first packet otherwise left a continuous stream up to 2.25 frames
// deep for the whole call); while it settles (1.4 to 5 s in), 1 ms below
// the band for 10 pulls does.
//
// Sequence numbers and timestamps are unwrapped (RFC 3550 A.1 style) so wraps
// are invisible; an SSRC change or a jump of the timeline resets the buffer.
//
// Storage is sized for the stream, not for the worst case (issue #16): the
// ring holds as many frames as the configured maximum delay needs plus
// kSlackFrames (rounded up to a power of two, at least kMinCapacity), and the
// payloads sit in one byte arena, each packet's bytes contiguous. A packet
// larger than `max_payload` (the codec's largest 20 ms frame: G.711 and G.722
// 160 bytes, Opus 1276) is refused as kTooLarge, never truncated. The arena
// holds `frame_budget` bytes for every frame of the ring (G.711/G.722: the
// maximum, so it never runs out; Opus: a 128 kbit/s budget, so a few
// 1276-byte packets fit at any depth and a deep buffer of them does not: the
// packet that finds no room is refused as kNoRoom, counted). Payloads are
// written at a circular head behind the oldest bytes still needed (the
// earliest-stored packet held, and the payloads the last pull() handed out,
// which stay reserved until the next pull() even if the buffer resets).
// One block is allocated in the constructor; insert() and pull() never
// allocate.

#include <array>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>

#include "rtp/packet.hpp"

namespace chorus::rtp {

enum class SlotKind : uint8_t {
  kPacket,
  kLost,
  kSilence /* DTX / no talkspurt yet */,
  kNotStarted
};

struct Slot {  // exactly one per 20 ms tick
  SlotKind kind = SlotKind::kNotStarted;
  uint8_t payload_type = 0;
  bool marker = false;
  uint32_t timestamp = 0;
  std::span<const uint8_t> payload;  // valid until the next pull()
  std::optional<AudioLevel> audio_level;
  // kLost only, and only when the packet of the very next frame is already
  // buffered: its payload (still stored; valid until the next pull()) and
  // payload type, so a codec with in-band FEC (Opus LBRR, RFC 7587 §3.2.1)
  // can rebuild the lost frame from the redundancy that packet carries.
  std::span<const uint8_t> next_payload;
  uint8_t next_payload_type = 0;
};

struct JitterConfig {
  uint32_t min_delay_ms = 20;
  uint32_t max_delay_ms = 300;
  uint32_t initial_delay_ms = 20;
  double percentile = 0.95;       // of per-packet jitter over the window
  uint32_t window_packets = 250;  // ~5 s of 20 ms packets (capped at kJitterWindow)
  // After this many consecutive empty ticks with nothing newer buffered, the
  // stream is taken to be in DTX: kSilence instead of kLost.
  uint32_t max_conceal_ticks = 5;
};

// What insert() did with a packet.
enum class InsertResult : uint8_t {
  kStored,
  kStoredAfterReset,  // SSRC change or timeline jump: the buffer was reset first
  kDuplicate,
  kTooLate,   // its playout time has passed
  kTooLarge,  // payload larger than max_payload()
  kTooEarly,  // beyond the ring but not far enough to be a jump
  kNoRoom,    // the payload arena is full (a deep buffer of large packets)
};

// A packet as the jitter buffer needs it (decoupled from the wire format so the
// buffer can be tested and benchmarked alone).
struct JitterPacket {
  uint8_t payload_type = 0;
  bool marker = false;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  std::span<const uint8_t> payload;
  std::optional<AudioLevel> audio_level;
};

struct JitterStats {
  uint64_t stored = 0;
  uint64_t duplicates = 0;
  uint64_t too_late = 0;
  uint64_t too_large = 0;
  uint64_t too_early = 0;
  uint64_t no_room = 0;  // refused: the payload arena had no room left
  uint64_t resets = 0;  // SSRC changes and timeline jumps
  uint64_t ssrc_changes = 0;
  uint64_t stale_resyncs = 0;  // resets for a sender whose timeline fell behind
  uint64_t slots_packet = 0;
  uint64_t slots_lost = 0;
  uint64_t slots_silence = 0;
  uint64_t slots_not_started = 0;
  // Dropped to shrink the delay: skipped, or passed over by a placement of
  // the playout point (the first pull, a talkspurt's re-sync).
  uint64_t frames_skipped = 0;
  uint64_t frames_inserted = 0;  // held to grow the delay
  uint64_t talkspurt_resyncs = 0;
};

class JitterBuffer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxPayload = 1500 - 12;  // a full MTU's payload: the default slot
  static constexpr size_t kJitterWindow = 512;
  // Ring frames beyond the maximum delay: the playout point may trail its
  // ideal by up to 2.25 frames before a skip, a packet's frame rounds, and
  // the ring's last frame stays free (the entry played last).
  static constexpr size_t kSlackFrames = 8;
  static constexpr size_t kMinCapacity = 16;   // frames (320 ms at 20 ms)
  static constexpr size_t kMaxCapacity = 256;  // frames; the delay is capped to fit

  // samples_per_tick: the RTP timestamp advance per 20 ms frame, which comes
  // from the codec's RTP clock (G.722: 160, RFC 3551 §4.5.2), not its sample rate.
  // max_payload: the largest payload of one packet (at least 1).
  // frame_budget: payload bytes per ring frame the arena is sized for (0 or
  // more than max_payload: max_payload, room for a full ring of the largest).
  JitterBuffer(const JitterConfig& config, uint32_t clock_rate, uint32_t samples_per_tick,
               size_t max_payload = kMaxPayload, size_t frame_budget = 0);
  JitterBuffer(const JitterBuffer&) = delete;
  JitterBuffer& operator=(const JitterBuffer&) = delete;
  // Movable: the ring lives in one heap block that moves with it, so views
  // handed out stay valid and a move allocates nothing (a buffer built off
  // the shard is swapped in on a codec change). A moved-from buffer may only
  // be destroyed or assigned to.
  JitterBuffer(JitterBuffer&&) noexcept = default;
  JitterBuffer& operator=(JitterBuffer&&) noexcept = default;

  InsertResult insert(const JitterPacket& packet, Clock::time_point arrival);
  // One slot per tick; the payload span stays valid until the next pull().
  Slot pull(Clock::time_point now);
  // Forget everything (e.g. the remote changed); the next packet starts afresh.
  void reset();

  const JitterStats& stats() const { return stats_; }
  bool started() const { return started_; }
  uint32_t ssrc() const { return ssrc_; }
  // Delay the buffer aims for now, in ms.
  double target_delay_ms() const;
  // Media buffered ahead of the playout point, in ms.
  double current_depth_ms() const;
  // Mean time a played packet waited in the buffer (its added delay), in ms.
  double average_delay_ms() const;
  // Packets currently held.
  size_t size() const { return count_; }
  // Frames the ring holds (a power of two); a packet this many frames or
  // more ahead of the playout point, less one, is kTooEarly.
  size_t capacity() const { return capacity_; }
  // The largest payload of one packet; a larger packet is kTooLarge.
  size_t max_payload() const { return max_payload_; }
  // Bytes of the payload arena.
  size_t arena_bytes() const { return arena_bytes_; }
  // Bytes allocated for the ring entries, the payload arena and the transit window.
  size_t storage_bytes() const { return storage_bytes_; }

 private:
  struct Entry {
    bool used = false;
    int64_t frame = 0;  // position on the frame grid
    int64_t ext_seq = 0;
    uint32_t timestamp = 0;
    uint8_t payload_type = 0;
    bool marker = false;
    uint16_t size = 0;
    std::optional<AudioLevel> audio_level;
    uint32_t offset = 0;  // of the payload in the arena
    uint64_t order = 0;   // store order: the arena is written in this order
    Clock::time_point arrival;
  };
  static_assert(std::is_trivially_destructible_v<Entry>);

  void start(const JitterPacket& packet, Clock::time_point arrival);
  int64_t unwrap_timestamp(uint32_t ts) const;
  int64_t unwrap_sequence(uint16_t seq) const;
  int64_t samples_since_epoch(Clock::time_point t) const;
  double ideal_play_frame(Clock::time_point now) const;
  // Places the playout point at `frame`, releasing what was stored before it.
  void place_playout(int64_t frame);
  // The transit of a packet stored or late; a large drop waits for the next in sequence.
  void note_transit(int64_t transit, int64_t ext_seq);
  void record_transit(int64_t transit);
  void recompute_target();
  // The hold threshold for a jitter percentile (samples) and the current target.
  void set_hold_above(int64_t percentile_samples);
  static constexpr uint32_t kNoOffset = UINT32_MAX;
  Entry& entry(int64_t frame) const { return entries_[static_cast<size_t>(frame) & mask_]; }
  std::span<const uint8_t> payload_of(const Entry& e) const { return {arena_ + e.offset, e.size}; }
  // Where `size` payload bytes go in the arena, or kNoOffset when they do not fit.
  uint32_t allocate(size_t size);
  Entry* find(int64_t frame);
  const Entry* next_after(int64_t frame) const;  // the first stored packet beyond frame
  void store(Entry& e, const JitterPacket& packet, int64_t frame, int64_t ext_seq, uint32_t offset,
             Clock::time_point arrival);

  JitterConfig config_;
  uint32_t clock_rate_;
  int64_t spt_;  // samples per tick
  size_t window_;
  size_t capacity_;  // frames, a power of two
  size_t mask_;
  size_t max_payload_;
  size_t arena_bytes_ = 0;
  size_t storage_bytes_ = 0;

  bool started_ = false;
  uint32_t ssrc_ = 0;
  Clock::time_point epoch_{};
  int64_t base_ts_ = 0;  // extended timestamp of frame 0
  int64_t last_ext_ts_ = 0;
  int64_t last_ext_seq_ = 0;
  int64_t play_frame_ = 0;        // the frame the next pull() plays
  int64_t newest_frame_ = 0;      // highest frame stored since start
  int64_t last_played_seq_ = -1;  // extended seq of the last packet played
  int64_t last_played_frame_ = 0;
  uint32_t empty_run_ = 0;  // consecutive ticks without a packet
  bool in_silence_ = true;  // no talkspurt under way
  uint32_t ticks_since_adjust_ = 0;
  uint32_t behind_ticks_ = 0;  // pulls in a row with the playout point behind its ideal
  uint32_t pulls_since_start_ = 0;  // counted up to the settling period's end
  size_t count_ = 0;
  bool have_jump_candidate_ = false;
  int64_t jump_candidate_seq_ = 0;
  // Late packets in sequence, each paced at least half a frame after the
  // previous one, while nothing is buffered: a sender that resumed without
  // advancing its timestamp over a pause (see insert()).
  uint32_t late_run_ = 0;
  int64_t late_run_seq_ = 0;
  Clock::time_point late_run_arrival_{};
  bool phase_pending_ = false;  // started, not yet pulled: place frame 0 at the first pull
  bool resync_pending_ = false;  // a talkspurt started: place it at the next pull
  int64_t resync_frame_ = 0;     // the frame of its first packet

  // Transit window (samples, window_ of them in storage_; 32 bits hold
  // hours of clock drift) and the statistics derived from it.
  int32_t* transits_ = nullptr;
  size_t transit_count_ = 0;
  size_t transit_next_ = 0;
  uint32_t since_recompute_ = 0;
  int64_t min_transit_ = 0;
  // A transit more than a frame below min_transit_, held back until the
  // next packet in sequence confirms it (see note_transit()).
  bool have_fast_transit_ = false;
  int64_t fast_transit_ = 0;
  int64_t fast_transit_seq_ = 0;
  int64_t target_samples_ = 0;
  double hold_above_ = 0.5;  // frames the playout may run ahead of its ideal

  double delay_sum_ms_ = 0;
  uint64_t delay_count_ = 0;

  JitterStats stats_;
  // The payload arena: the next write goes at head_ (or wraps to 0); what
  // the last pull() handed out stays reserved until the next pull().
  size_t head_ = 0;
  uint64_t next_order_ = 0;
  struct Lent {  // arena bytes a Slot points at (size 0: none)
    uint64_t order = 0;
    uint32_t offset = 0;
    uint16_t size = 0;
  };
  std::array<Lent, 2> lent_{};  // the played payload, the next_payload offered

  // One block, allocated in the constructor: capacity_ entries, the transit
  // window, then the payload arena.
  std::unique_ptr<std::byte[]> storage_;
  Entry* entries_ = nullptr;
  uint8_t* arena_ = nullptr;
};

}  // namespace chorus::rtp
