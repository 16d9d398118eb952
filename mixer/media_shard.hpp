#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/command.hpp"
#include "mixer/conference.hpp"
#include "mixer/dtmf_detector.hpp"
#include "mixer/event.hpp"
#include "mixer/span.hpp"
#include "rtp/event.hpp"
#include "rtp/histogram.hpp"
#include "rtp/shard.hpp"
#include "rtp/spsc_ring.hpp"
#include "rtp/tick_handler.hpp"

namespace chorus::mixer {

struct MediaShardConfig {
  size_t top_k = 3;
  int ramp_ms = 8;
  TalkerConfig talker;
  // Every this many ticks each talking participant's level is reported
  // (kLevel); 0 = never. 50 ticks = once a second.
  uint64_t level_interval_ticks = 50;
  // The per-tick budget (ARCHITECTURE.md "Media commands"): at most this
  // many commands are taken from the ring per tick ...
  size_t commands_per_tick = 64;
  // ... and at most this many adds applied, after everything else.
  size_t adds_per_tick = 8;
  // Adds (and commands naming their participant) waiting on the shard for
  // their turn; the shard stops taking commands while this is full.
  size_t pending_capacity = 256;
  // Usable slots of the event ring (0 = all of kEventRingSize); tests shrink
  // it to make the ring overflow on purpose.
  size_t event_ring_capacity = 0;
};

// The mixer half of a media shard (ARCHITECTURE.md "Threads", "Media
// commands"): the tick handler and stream observer of one rtp::Shard, and the
// owner of the shard's only command ring (signalling → shard, mixer::Command)
// and only event ring (shard → signalling, mixer::Event).
//
// Per tick, on the shard thread: push completions left over from last tick,
// take up to commands_per_tick commands (removals and changes apply at once;
// adds, and commands naming a participant whose add waits, go to the pending
// FIFO), then apply up to adds_per_tick pending adds; then per conference
// pull one Slot per member from its rtp::Stream, decode (or conceal), exchange
// partial sums with the other parts of a spanning conference, mix, and hand
// each listener's payload to its stream (the shard batches the sends).
// Nothing on the steady tick allocates, locks or logs.
class MediaShard : public rtp::TickHandler, public rtp::StreamObserver {
 public:
  static constexpr size_t kCommandRingSize = 1024;
  static constexpr size_t kEventRingSize = 4096;
  using DurationHistogram = rtp::Log2Histogram<24>;  // microseconds

  // Registers itself as `shard`'s tick handler and stream observer (call
  // before shard.start()).
  MediaShard(rtp::Shard& shard, MediaShardConfig config = {});
  // After the shard thread stopped: detaches and frees every member's stream.
  ~MediaShard() override;
  MediaShard(const MediaShard&) = delete;
  MediaShard& operator=(const MediaShard&) = delete;

  // ---- signalling thread: producer of the command ring, consumer of the
  // event ring.
  // False when the ring is full; `command` is then left untouched.
  bool post(Command& command);
  bool ring_full() { return commands_->full(); }
  // Test hook: usable command ring slots (1..kCommandRingSize).
  void set_command_ring_capacity(size_t slots) { commands_->set_capacity(slots); }
  bool poll(Event& event) { return events_->try_pop(event); }

  // ---- signalling thread, after the shard thread has stopped (joined):
  // completions not yet in the event ring, in order, then every command not
  // applied (ring and pending FIFO), for the engine to fail as kShuttingDown.
  void take_leftovers(std::vector<Event>& completions, std::vector<Command>& unapplied);

  // ---- any thread: relaxed counters.
  uint64_t events_dropped() const { return events_dropped_.load(std::memory_order_relaxed); }
  uint64_t mix_ticks() const { return mix_ticks_.load(std::memory_order_relaxed); }
  uint64_t commands_applied() const { return commands_applied_.load(std::memory_order_relaxed); }
  size_t participant_count() const { return participants_.load(std::memory_order_relaxed); }
  size_t pending_adds() const { return pending_count_.load(std::memory_order_relaxed); }
  // Lost frames rebuilt from the next packet's in-band FEC (Opus LBRR,
  // RFC 7587 §3.2.1), and lost frames the decoder concealed instead.
  uint64_t frames_fec_recovered() const { return fec_recovered_.load(std::memory_order_relaxed); }
  uint64_t frames_concealed() const { return concealed_.load(std::memory_order_relaxed); }
  // Packets not decoded because their RFC 6464 level said silence
  // (level >= kSilentLevelDbov): the member counts as silent that tick.
  uint64_t decodes_skipped() const { return decodes_skipped_.load(std::memory_order_relaxed); }
  // Shared encoders a conference built on this thread because the command
  // brought none (ConferenceStats::groups_built).
  uint64_t groups_built_on_tick() const {
    return groups_built_on_tick_.load(std::memory_order_relaxed);
  }
  static constexpr uint8_t kSilentLevelDbov = 60;  // -60 dBov and quieter
  const DurationHistogram& mix_durations_us() const { return mix_durations_; }

  // ---- rtp::TickHandler (shard thread)
  void on_commands(uint64_t tick) override;
  void on_tick(uint64_t tick, std::chrono::steady_clock::time_point deadline) override;
  // ---- rtp::StreamObserver (shard thread): addressed to the member.
  bool on_rtp_timeout(rtp::Stream& stream) override;
  void on_dtmf(rtp::Stream& stream, char digit) override;
  bool on_media_ended(rtp::Stream& stream, rtp::MediaEndReason reason) override;

 private:
  struct Member {
    ConferenceId conference = 0;
    ParticipantId id = 0;
    // Owned here; attached to the shard while a member, retired to the
    // shard's graveyard (freed two ticks later) when removed.
    std::unique_ptr<rtp::Stream> stream;
    std::unique_ptr<Decoder> decoder;
    std::unique_ptr<DtmfDetector> inband_dtmf;  // only without RFC 4733
    uint8_t payload_type = 0;
    uint32_t timestamp_step = 160;
    CodecId codec = CodecId::kPcmu;
    bool sending = false;  // a packet went out last tick (next one after a gap gets the marker)
  };
  struct Room {
    explicit Room(const ConferenceConfig& config) : conference(config) {}
    Conference conference;
    std::unordered_map<ParticipantId, std::unique_ptr<Member>> members;
    std::vector<Member*> by_index;  // parallel to the conference's indices
    std::unique_ptr<SpanEndpoint> span;
    RecordingTap recording;  // idle unless kStartRecording
  };

  // A fixed-capacity FIFO of commands held on the shard (no allocation after
  // construction).
  class PendingFifo {
   public:
    explicit PendingFifo(size_t capacity) : slots_(capacity < 1 ? 1 : capacity) {}
    size_t size() const { return size_; }
    bool full() const { return size_ == slots_.size(); }
    bool empty() const { return size_ == 0; }
    Command& at(size_t i) { return slots_[(head_ + i) % slots_.size()]; }
    void push(Command&& c) {
      at(size_) = std::move(c);
      ++size_;
    }
    void pop(Command& out) {
      out = std::move(at(0));
      at(0) = Command{};
      head_ = (head_ + 1) % slots_.size();
      --size_;
    }
    // Keeps the entries `keep` accepts, in order; hands the others to `drop`.
    template <class Keep, class Drop>
    void filter(Keep keep, Drop drop) {
      size_t w = 0;
      for (size_t r = 0; r < size_; ++r) {
        Command& c = at(r);
        if (keep(c)) {
          if (w != r) at(w) = std::move(c);
          ++w;
        } else {
          drop(c);
          c = Command{};
        }
      }
      for (size_t r = w; r < size_; ++r) at(r) = Command{};
      size_ = w;
    }

   private:
    std::vector<Command> slots_;
    size_t head_ = 0;
    size_t size_ = 0;
  };

  void route(Command& command);
  void apply(Command& command);
  void apply_pending(size_t adds_budget);
  void add_participant(Command& command);
  void remove_participant(Room& room, ParticipantId id, PreparedGroups* groups = nullptr);
  void set_codec(Command& command);
  void move_participant(Command& command);
  bool waits_in_fifo(const Command& command);
  // Cancels every pending entry `match` accepts (kFailed/kCancelled); true
  // when one of them was an add.
  template <class Match>
  bool cancel_pending(Match match);
  void reindex(Room& room);
  Room* room(ConferenceId id);
  Room& room_or_create(ConferenceId id, const Command& command);
  Member* member(ConferenceId conference, ParticipantId id);
  // `due`: the tick's deadline (the recording tap's clock).
  void tick_room(ConferenceId id, Room& room, uint64_t tick,
                 std::chrono::steady_clock::time_point due);
  void count_groups_built(uint64_t n) {
    if (n != 0) groups_built_on_tick_.fetch_add(n, std::memory_order_relaxed);
  }
  void decode_input(Room& room, size_t index, ConferenceId id);
  // Completions: never dropped (a full ring keeps them in backlog_).
  void complete(const Command& command, Failure failure, uint64_t value = 0,
                const rtp::StreamStats* stats = nullptr);
  // Notifications: dropped (counted) when the ring is full or completions wait.
  void notify(const Event& event);
  // News the stream re-offers until taken: pushed only behind an empty
  // backlog (completions keep their place); false, and not counted, otherwise.
  bool offer(const Event& event);
  void flush_backlog();

  rtp::Shard& shard_;
  MediaShardConfig config_;
  std::unique_ptr<rtp::SpscRing<Command, kCommandRingSize>> commands_;
  std::unique_ptr<rtp::SpscRing<Event, kEventRingSize>> events_;
  std::unique_ptr<Command> scratch_;  // popped command (large; kept off the stack)
  PendingFifo pending_;
  // Completions the event ring had no room for, pushed first next tick.
  // Reserved to commands_per_tick + pending_capacity: a tick completes at
  // most what it took from the ring plus what was pending, and no command is
  // taken while this is not empty.
  std::vector<Event> backlog_;
  // The streams of the room being sent (Shard::send_now); reserved to the
  // shard's max_streams, so the tick never allocates.
  std::vector<rtp::Stream*> room_streams_;
  std::unordered_map<ConferenceId, std::unique_ptr<Room>> rooms_;

  std::atomic<uint64_t> mix_ticks_{0};
  std::atomic<size_t> participants_{0};
  std::atomic<size_t> pending_count_{0};
  std::atomic<uint64_t> commands_applied_{0};
  std::atomic<uint64_t> fec_recovered_{0};
  std::atomic<uint64_t> concealed_{0};
  std::atomic<uint64_t> decodes_skipped_{0};
  std::atomic<uint64_t> groups_built_on_tick_{0};
  std::atomic<uint64_t> events_dropped_{0};
  DurationHistogram mix_durations_;
};

}  // namespace chorus::mixer
