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
// high percentile of that jitter, bounded by [min_delay_ms, max_delay_ms]. The
// playout point follows "now - min transit - target": when the real playout
// point drifts from it by a frame (jitter grew or calmed, or the sender's clock
// runs fast or slow), a frame is held (kLost/kSilence inserted) or skipped,
// preferably in silence; a talkspurt start re-syncs the delay at once. The
// first packet's frame is placed on the tick grid at the first pull after it
// (the phase of arrivals against ticks is known only then): the tick nearest
// to "arrival + target", so a stream at zero jitter waits between target -
// 10 ms and target + 10 ms, not up to a whole extra frame. The target carries
// that half frame as margin, so the earliest packets still wait out the
// jitter percentile.
//
// Sequence numbers and timestamps are unwrapped (RFC 3550 A.1 style) so wraps
// are invisible; an SSRC change or a jump of the timeline resets the buffer.
// No allocation after construction.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

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
  kTooLarge,  // payload larger than a slot
  kTooEarly,  // beyond the ring but not far enough to be a jump
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
  uint64_t resets = 0;  // SSRC changes and timeline jumps
  uint64_t ssrc_changes = 0;
  uint64_t slots_packet = 0;
  uint64_t slots_lost = 0;
  uint64_t slots_silence = 0;
  uint64_t slots_not_started = 0;
  uint64_t frames_skipped = 0;   // dropped to shrink the delay
  uint64_t frames_inserted = 0;  // held to grow the delay
  uint64_t talkspurt_resyncs = 0;
};

class JitterBuffer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kCapacity = 64;           // frames (1.28 s at 20 ms)
  static constexpr size_t kMaxPayload = 1500 - 12;  // a full MTU's payload
  static constexpr size_t kJitterWindow = 512;

  // samples_per_tick: the RTP timestamp advance per 20 ms frame, which comes
  // from the codec's RTP clock (G.722: 160, RFC 3551 §4.5.2), not its sample rate.
  JitterBuffer(const JitterConfig& config, uint32_t clock_rate, uint32_t samples_per_tick);
  JitterBuffer(const JitterBuffer&) = delete;
  JitterBuffer& operator=(const JitterBuffer&) = delete;

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
    Clock::time_point arrival;
    std::array<uint8_t, kMaxPayload> bytes;
  };

  void start(const JitterPacket& packet, Clock::time_point arrival);
  int64_t unwrap_timestamp(uint32_t ts) const;
  int64_t unwrap_sequence(uint16_t seq) const;
  int64_t samples_since_epoch(Clock::time_point t) const;
  double ideal_play_frame(Clock::time_point now) const;
  void note_transit(int64_t transit);
  void recompute_target();
  Entry* find(int64_t frame);
  const Entry* next_after(int64_t frame) const;  // the first stored packet beyond frame
  void store(Entry& e, const JitterPacket& packet, int64_t frame, int64_t ext_seq,
             Clock::time_point arrival);

  JitterConfig config_;
  uint32_t clock_rate_;
  int64_t spt_;  // samples per tick
  size_t window_;

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
  size_t count_ = 0;
  bool have_jump_candidate_ = false;
  int64_t jump_candidate_seq_ = 0;
  bool phase_pending_ = false;  // started, not yet pulled: place frame 0 at the first pull

  // Transit window (samples) and the statistics derived from it.
  std::array<int64_t, kJitterWindow> transits_{};
  std::array<int64_t, kJitterWindow> scratch_{};
  size_t transit_count_ = 0;
  size_t transit_next_ = 0;
  uint32_t since_recompute_ = 0;
  int64_t min_transit_ = 0;
  int64_t target_samples_ = 0;

  double delay_sum_ms_ = 0;
  uint64_t delay_count_ = 0;

  JitterStats stats_;
  std::unique_ptr<std::array<Entry, kCapacity>> ring_;  // ~96 KiB: on the heap, once
};

}  // namespace chorus::rtp
