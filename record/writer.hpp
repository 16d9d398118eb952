#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mixer/recording.hpp"
#include "record/audio_sink.hpp"
#include "rtp/spsc_ring.hpp"

namespace chorus::record {

// One recording for the writer: the buffer a room's taps fill (one ring per
// part of a room spanning shards) and where the files go. Files:
// `<prefix>-mix<ext>` and, with member tracks, `<prefix>-member-<label><ext>`
// (the participant's ParticipantSettings::label, the focus's member id; the
// participant id where it has none), `-<label>-2`, `-3`, ... for the
// member's later participants (a Replaces, a return after its file closed).
struct Job {
  uint64_t id = 0;  // the caller's; echoed by the events
  std::shared_ptr<mixer::RecordingBuffer> buffer;
  std::string prefix;
  Format format = Format::kOggOpus;
  int sample_rate = 48000;  // of every file (the mix is resampled to it)
  int opus_bitrate = 0;     // 0: libopusenc's choice
};

struct WriterEvent {
  enum class Kind : uint8_t {
    kFinished,  // the buffer closed and every file is complete
    kFailed,    // a file could not be opened or written: the recording stopped
    kDropping,  // the recording's first dropped frame (once per recording): it runs on
  };
  Kind kind = Kind::kFinished;
  uint64_t id = 0;
  std::string error;               // kFailed: what went wrong, with the path
  std::vector<std::string> files;  // the files written (kFinished) or begun
  uint64_t ticks = 0;              // length of every track, in 20 ms frames
  uint64_t frames_dropped = 0;     // frames the tap could not queue (silence instead)
};

// The thread that drains recording rings into files (ARCHITECTURE.md
// "record/"): not a shard, so file I/O never touches a tick. Jobs come in
// and events go out through SPSC rings (the signalling thread is the only
// producer of jobs and the only consumer of events).
//
// Alignment: every track is written frame by frame at its frame's index
// (ticks since the recording's t0), padded with silence before a member's
// first frame and over frames the tap dropped, so all files of one
// recording start at t0 and line up sample for sample. The mix and the
// tracks of members present at the end end together. A member who left
// (no frame for `idle_ticks` while the mix went on) has its file padded
// `idle_ticks` past its last frame (or to the end, if sooner) and closed:
// files and encoders stay bounded by the members present, not by every
// member a long recording ever had.
//
// Silence is written at most `pad_frames_per_pass` frames per pass over all
// recordings: a member who joins hours in, or a track padded to the end of
// an hours-long recording, takes several passes instead of holding up
// every other recording's drain. A track's frames that arrive while it is
// still padding wait in order behind the padding (held in memory, not in
// the ring); the recording finishes once every track is padded to its end.
class Writer {
 public:
  static constexpr size_t kJobRing = 64;
  static constexpr size_t kEventRing = 256;
  // 5 s of silence per pass (every 20 ms): padding runs at 250x real time.
  static constexpr size_t kPadFramesPerPass = 250;
  // A member track with no frame for 10 s of the mix is a member who left.
  static constexpr uint64_t kIdleTicks = 500;

  // `interval`: how often the thread wakes to drain (the ring holds ~20 s
  // of a mix-only recording, so this only bounds the latency to disk).
  explicit Writer(std::chrono::milliseconds interval = std::chrono::milliseconds(20),
                  size_t pad_frames_per_pass = kPadFramesPerPass, uint64_t idle_ticks = kIdleTicks);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void start();
  // Joins the thread; recordings still running are finished with what their
  // rings hold (their files stay valid; the last pass pads without bound).
  void stop();

  // ---- signalling thread
  // False when the job ring is full (nothing changed).
  bool submit(Job job);
  bool poll(WriterEvent& event);

  // Without start(): one drain pass on the caller's thread (tests). Returns
  // the number of recordings still open.
  size_t run_once() { return pass(false); }
  // Any thread (relaxed).
  uint64_t recordings_failed() const { return failed_.load(std::memory_order_relaxed); }
  uint64_t recordings_finished() const { return finished_.load(std::memory_order_relaxed); }
  // Frames the taps of every recording so far could not queue (each is
  // silence in its file), as the writer last saw them: at most a pass
  // behind while a recording runs, exact once it ended.
  uint64_t frames_dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Member tracks closed before their recording ended (members who left).
  uint64_t tracks_closed() const { return tracks_closed_.load(std::memory_order_relaxed); }

 private:
  struct Track;
  struct Recording;

  size_t pass(bool final);
  void open(Job& job);
  bool drain(Recording& r, bool final);
  bool write_frame(Recording& r, Track& t, const mixer::RecordFrame& frame);
  bool put(Recording& r, Track& t, const mixer::RecordFrame& frame);
  bool release_held(Recording& r, Track& t);
  bool pad_to(Recording& r, Track& t, uint64_t index);
  bool pad_to_end(Recording& r, bool& padded);
  void note_drops(Recording& r);
  Track* track_for(Recording& r, mixer::ParticipantId participant, uint64_t label);
  bool close_idle_tracks(Recording& r);
  void finish(Recording& r);
  void fail(Recording& r, const std::string& error);
  void emit(WriterEvent event);

  std::chrono::milliseconds interval_;
  std::unique_ptr<rtp::SpscRing<Job, kJobRing>> jobs_;
  std::unique_ptr<rtp::SpscRing<WriterEvent, kEventRing>> events_;
  std::vector<std::unique_ptr<Recording>> open_;  // writer thread
  std::vector<WriterEvent> unsent_;               // the event ring was full
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> finished_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> tracks_closed_{0};
  size_t pad_per_pass_;
  uint64_t idle_ticks_;
  size_t pad_budget_ = 0;  // writer thread: silence frames left in this pass
  std::thread thread_;
};

}  // namespace chorus::record
