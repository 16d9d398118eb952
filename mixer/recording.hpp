#pragma once
// Recording tap (issue #17): the shard's tick copies a room's mix, and
// optionally each member's own audio, into a bounded SPSC ring of
// fixed-size frames; a thread that is not a shard (record::Writer) drains it
// into files. The tick never waits: a full ring drops the frame and counts it.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

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
  std::array<int16_t, kMaxSamples / 2> pcm{};
};

struct RecordingOptions {
  bool member_tracks = false;  // one track per member besides the mix
};

// What the shard's tap (producer) and the writer (consumer) share. Built on
// the signalling thread (it is large: the ring's frames are inline) and
// handed to the shard inside kStartRecording, to the writer in a job.
class RecordingBuffer {
 public:
  explicit RecordingBuffer(RecordingOptions options = {}) : options_(options) {}
  RecordingBuffer(const RecordingBuffer&) = delete;
  RecordingBuffer& operator=(const RecordingBuffer&) = delete;

  const RecordingOptions& options() const { return options_; }

  // ---- producer (the shard thread, or whoever drives the tap)
  // False (and counted) when the ring is full or the writer gave up.
  bool push(const RecordFrame& frame) {
    if (failed()) return false;
    if (ring_.try_push(frame)) {
      pushed_.store(pushed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return true;
    }
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  // No frame follows (stop, room gone). Idempotent.
  void close() { closed_.store(true, std::memory_order_release); }
  // Test hook (producer side): usable ring slots, to make it overflow.
  void set_ring_capacity(size_t frames) { ring_.set_capacity(frames); }

  // ---- consumer (the writer thread)
  bool pop(RecordFrame& out) { return ring_.try_pop(out); }
  // The writer cannot write (disk full, permissions): the tap stops pushing.
  void fail() { failed_.store(true, std::memory_order_release); }

  // ---- any thread (relaxed figures)
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  uint64_t frames_pushed() const { return pushed_.load(std::memory_order_relaxed); }
  uint64_t frames_dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  RecordingOptions options_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_{false};
  alignas(rtp::kCacheLine) std::atomic<uint64_t> pushed_{0};
  std::atomic<uint64_t> dropped_{0};
  rtp::SpscRing<RecordFrame, kRecordRingFrames> ring_;
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
// monitors (never summed) and music on hold (a listener's own source) are
// not in it. It is limited like a listener's mix at unity output gain: what
// a member who is not talking hears. A member track holds the member's
// decoded input at the conference rate while the member may be heard by the
// room (participant or barge, not muted, not on hold), silence otherwise.
class RecordingTap {
 public:
  RecordingTap() = default;
  ~RecordingTap() { stop(); }
  RecordingTap(const RecordingTap&) = delete;
  RecordingTap& operator=(const RecordingTap&) = delete;

  void start(std::shared_ptr<RecordingBuffer> buffer);
  // Closes the buffer (the writer finishes the files) and lets go of it.
  // True when a recording was running.
  bool stop();
  bool active() const { return buffer_ != nullptr; }
  const RecordingBuffer* buffer() const { return buffer_.get(); }

  // The first capture fixes t0; a tick the shard skipped leaves a gap in
  // `index` that the writer fills with silence, so the files keep wall time.
  void capture(const Conference& conference, uint64_t tick);

 private:
  std::shared_ptr<RecordingBuffer> buffer_;
  bool started_ = false;
  uint64_t t0_ = 0;
  Limiter limiter_;
  RecordFrame frame_;  // scratch, reused every tick
};

}  // namespace chorus::mixer
