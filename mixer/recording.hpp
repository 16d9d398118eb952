#pragma once
// Recording tap (issue #17): the shard's tick copies a room's mix, and
// optionally each member's own audio, into a bounded SPSC ring of
// fixed-size frames; a thread that is not a shard (record::Writer) drains it
// into files. The tick never waits: a full ring drops the frame and counts it.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "mixer/frame.hpp"
#include "mixer/limiter.hpp"
#include "mixer/participant.hpp"
#include "rtp/spsc_ring.hpp"

namespace chorus::mixer {

class Conference;

// Frames one recording's ring holds: 20 ms each, ~2 KB each (about 2 MB per
// recording). A mix-only recording has 20 s of slack before it drops; with
// member tracks every member adds a frame per tick.
inline constexpr size_t kRecordRingFrames = 1024;

// One tick of one track, as the writer receives it.
struct RecordFrame {
  enum class Track : uint8_t { kMix, kMember };
  Track track = Track::kMix;
  uint16_t samples = 0;           // mono, at `rate`
  int32_t rate = 8000;            // the conference rate this tick
  uint64_t index = 0;             // ticks since the recording's t0 (the writer pads gaps)
  ParticipantId participant = 0;  // kMember: whose audio
  uint64_t label = 0;             // kMember: ParticipantSettings::label, names the file
  std::array<int16_t, kMaxSamples / 2> pcm{};
};

struct RecordingOptions {
  bool member_tracks = false;  // one track per member besides the mix
};

// One producer's ring: a part's tap (the shard thread) pushes, the writer
// pops. A full ring drops the frame and counts it.
class RecordingLane {
 public:
  bool push(const RecordFrame& frame) {
    if (ring_.try_push(frame)) {
      pushed_.store(pushed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return true;
    }
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  // No frame follows from this producer. Idempotent.
  void close() { closed_.store(true, std::memory_order_release); }
  void set_ring_capacity(size_t frames) { ring_.set_capacity(frames); }
  bool pop(RecordFrame& out) { return ring_.try_pop(out); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  uint64_t frames_pushed() const { return pushed_.load(std::memory_order_relaxed); }
  uint64_t frames_dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> closed_{false};
  alignas(rtp::kCacheLine) std::atomic<uint64_t> pushed_{0};
  std::atomic<uint64_t> dropped_{0};
  rtp::SpscRing<RecordFrame, kRecordRingFrames> ring_;
};

// What the taps (producers) and the writer (consumer) of one recording
// share. Built on the signalling thread (it is large: lane 0's frames are
// inline) and handed to the shards inside kStartRecording, to the writer in
// a job.
//
// A room spanning several shards records on every part (ARCHITECTURE.md
// "Recording tap"): lane 0 is the first part's (the mix and its members'
// tracks), and the engine adds a lane per other part for its members'
// tracks (add_lane, on the signalling thread, also for a part created while
// the room records). Each lane has one producer, so every ring stays SPSC;
// the writer pops them all. The first part's first capture fixes t0 (t0()),
// which the other parts index their frames against.
class RecordingBuffer {
 public:
  // Lanes one recording can have: the first part's and one per other part
  // (a part is one shard's share of the room). Past it, a part's members
  // get no track (add_lane says kNoLane); the mix still holds them.
  static constexpr size_t kMaxLanes = 64;
  static constexpr size_t kNoLane = SIZE_MAX;

  explicit RecordingBuffer(RecordingOptions options = {}) : options_(options) {
    lanes_[0].store(&first_, std::memory_order_relaxed);
  }
  ~RecordingBuffer() {
    for (size_t i = 1; i < lane_count_.load(std::memory_order_relaxed); ++i) {
      delete lanes_[i].load(std::memory_order_relaxed);
    }
  }
  RecordingBuffer(const RecordingBuffer&) = delete;
  RecordingBuffer& operator=(const RecordingBuffer&) = delete;

  const RecordingOptions& options() const { return options_; }

  // ---- signalling thread (the engine): a lane for another part, with the
  // capacity set_ring_capacity gave lane 0; kNoLane when all are in use.
  size_t add_lane() {
    const size_t n = lane_count_.load(std::memory_order_relaxed);
    if (n == kMaxLanes) return kNoLane;
    auto* lane = new RecordingLane();
    lane->set_ring_capacity(lane_capacity_);
    lanes_[n].store(lane, std::memory_order_release);
    lane_count_.store(n + 1, std::memory_order_release);
    return n;
  }
  size_t lanes() const { return lane_count_.load(std::memory_order_acquire); }
  // The producer side of lane `i` (< lanes()).
  RecordingLane& lane(size_t i) { return *lanes_[i].load(std::memory_order_acquire); }

  // ---- producer of lane 0 (the first part's shard thread, or whoever drives
  // a single tap). False (and counted) when the ring is full or the writer
  // gave up.
  bool push(const RecordFrame& frame) { return !failed() && first_.push(frame); }
  // Test hook (before any frame): usable ring slots of lane 0 and of every
  // lane added from now on, to make them overflow.
  void set_ring_capacity(size_t frames) {
    lane_capacity_ = frames;
    first_.set_ring_capacity(frames);
  }

  // ---- t0: written once by lane 0's producer, read by the others
  // (steady-clock nanoseconds of the first part's first captured tick).
  void set_t0(int64_t ns) { t0_ns_.store(ns, std::memory_order_release); }
  std::optional<int64_t> t0() const {
    const int64_t ns = t0_ns_.load(std::memory_order_acquire);
    if (ns == kUnset) return std::nullopt;
    return ns;
  }

  // ---- any thread: the whole recording ends now (the focus, when the
  // media side never took it). The taps stop pushing at once and close their
  // own lanes when stopped.
  void close() { closed_.store(true, std::memory_order_release); }

  // ---- consumer (the writer thread)
  // A frame from any lane (lanes taken in turn).
  bool pop(RecordFrame& out) {
    const size_t n = lanes();
    for (size_t tried = 0; tried < n; ++tried) {
      const size_t i = next_pop_ < n ? next_pop_ : 0;
      next_pop_ = i + 1;
      if (lanes_[i].load(std::memory_order_acquire)->pop(out)) return true;
    }
    return false;
  }
  // The writer cannot write (disk full, permissions): the taps stop pushing.
  void fail() { failed_.store(true, std::memory_order_release); }

  // ---- any thread (relaxed figures)
  // Closed: close() was called, or every lane's producer closed it. Once
  // true through the lanes, every frame is in the rings.
  bool closed() const {
    if (closed_.load(std::memory_order_acquire)) return true;
    const size_t n = lanes();
    for (size_t i = 0; i < n; ++i) {
      if (!lanes_[i].load(std::memory_order_acquire)->closed()) return false;
    }
    return true;
  }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  uint64_t frames_pushed() const { return sum(&RecordingLane::frames_pushed); }
  uint64_t frames_dropped() const { return sum(&RecordingLane::frames_dropped); }

 private:
  static constexpr int64_t kUnset = INT64_MIN;

  uint64_t sum(uint64_t (RecordingLane::*figure)() const) const {
    uint64_t total = 0;
    const size_t n = lanes();
    for (size_t i = 0; i < n; ++i) total += (lanes_[i].load(std::memory_order_acquire)->*figure)();
    return total;
  }

  RecordingOptions options_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> t0_ns_{kUnset};
  std::atomic<size_t> lane_count_{1};
  std::array<std::atomic<RecordingLane*>, kMaxLanes> lanes_{};
  size_t lane_capacity_ = kRecordRingFrames;  // signalling thread
  size_t next_pop_ = 0;                       // consumer
  RecordingLane first_;
};

// The tone members hear when a recording starts or stops: `beeps` beeps of
// `beep_ms` at `frequency_hz`, `gap_ms` apart, at `amplitude` (sample units).
// beeps = 0: none.
struct NoticeTone {
  double frequency_hz = 1400.0;
  int beep_ms = 150;
  int gap_ms = 100;
  int beeps = 0;
  double amplitude = 3000.0;  // about -21 dBFS
};

// A room's tap, on the shard thread. start/stop run on the command path
// (pointer moves only); capture() runs on the tick after the conference is
// mixed and allocates nothing.
//
// The mix is the conference's bus after Conference::tick(): the top-K
// talkers (barge-in always among them, with their input gains and entry
// ramps) plus a notice tone; whispers (only in their targets' own mixes),
// monitors (never summed), music on hold (a listener's own source) and
// sidebars that do not whisper into the main room are not in it. It is
// limited like a listener's mix at unity output gain: what a member who is
// not talking hears. A member track holds the member's decoded input at the
// conference rate while the member may be heard by the main room
// (participant or barge, not muted, not on hold, not in a sidebar unless it
// whispers into the main room), silence otherwise: a sidebar's private talk
// is in no file.
//
// Spanning rooms: the first part's tap (lane 0) records the mix and its
// members; every other part's tap records its own members into its own lane.
// Frames are indexed on the clock: index = ticks of `period` since t0, the
// first part's first captured tick, so tracks from every part line up with
// the mix. Another part's audio reaches the first part's mix on the first
// part's next tick (its partial sum crosses the span ring in between:
// span.hpp), so its frames take that tick's index; parts whose ticks are
// due within a millisecond of each other race, and the mix may take such a
// partial a tick late (the track stays in place).
class RecordingTap {
 public:
  RecordingTap() = default;
  ~RecordingTap() { stop(); }
  RecordingTap(const RecordingTap&) = delete;
  RecordingTap& operator=(const RecordingTap&) = delete;

  // `lane`: 0 on the room's first part (the mix and its members), another
  // lane of `buffer` on another part (its members only), kNoLane for a part
  // that records nothing (no member tracks, or no lane left) but still
  // counts as recording. `period`: the tick interval.
  void start(std::shared_ptr<RecordingBuffer> buffer, size_t lane = 0,
             std::chrono::nanoseconds period = std::chrono::milliseconds(kTickMs));
  // Closes this tap's lane (the writer finishes the files once every lane
  // is closed) and lets go of the buffer. True when a recording was running.
  bool stop();
  bool active() const { return buffer_ != nullptr; }
  const RecordingBuffer* buffer() const { return buffer_.get(); }

  // `due`: when this tick was due (the shard's absolute deadline). A tick
  // the shard skipped leaves a gap in `index` that the writer fills with
  // silence, so the files keep wall time.
  void capture(const Conference& conference, std::chrono::steady_clock::time_point due);
  // Without a shard clock (tests): tick `tick` is due at tick × period.
  void capture(const Conference& conference, uint64_t tick) {
    capture(conference,
            std::chrono::steady_clock::time_point(period_ * static_cast<int64_t>(tick)));
  }

 private:
  // The index of a tick due at `due_ns`; nullopt before t0 is known or
  // before t0.
  std::optional<uint64_t> index_of(int64_t due_ns);
  void capture_members(const Conference& conference, size_t n);

  std::shared_ptr<RecordingBuffer> buffer_;
  RecordingLane* lane_ = nullptr;  // nullptr: records nothing here
  bool records_mix_ = false;       // lane 0
  std::chrono::nanoseconds period_{std::chrono::milliseconds(kTickMs)};
  Limiter limiter_;
  RecordFrame frame_;  // scratch, reused every tick
};

}  // namespace chorus::mixer
