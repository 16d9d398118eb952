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
};

// The mixer half of a media shard (ARCHITECTURE.md "Threads"): the tick
// handler of one rtp::Shard. Per tick, on the shard thread: apply queued
// mixer commands, then per conference pull one Slot per participant from its
// rtp::Stream, decode (or conceal) into the conference, exchange partial sums
// with the other parts of a spanning conference, mix, and hand each
// listener's payload to its stream (the shard batches the sends). Nothing on
// the steady tick allocates, locks or logs.
class MediaShard : public rtp::TickHandler {
 public:
  static constexpr size_t kCommandRingSize = 256;
  using DurationHistogram = rtp::Log2Histogram<24>;  // microseconds

  // Registers itself as `shard`'s tick handler (call before shard.start()).
  MediaShard(rtp::Shard& shard, MediaShardConfig config = {});
  ~MediaShard() override;
  MediaShard(const MediaShard&) = delete;
  MediaShard& operator=(const MediaShard&) = delete;

  // ---- signalling thread: the single producer of the command ring.
  // False when the ring is full (counted, never blocks).
  bool post(const Command& command);

  // ---- any thread: relaxed counters.
  uint64_t commands_dropped() const { return commands_dropped_.load(std::memory_order_relaxed); }
  uint64_t events_dropped() const { return events_dropped_.load(std::memory_order_relaxed); }
  uint64_t mix_ticks() const { return mix_ticks_.load(std::memory_order_relaxed); }
  size_t participant_count() const { return participants_.load(std::memory_order_relaxed); }
  // Lost frames rebuilt from the next packet's in-band FEC (Opus LBRR,
  // RFC 7587 §3.2.1), and lost frames the decoder concealed instead.
  uint64_t frames_fec_recovered() const { return fec_recovered_.load(std::memory_order_relaxed); }
  uint64_t frames_concealed() const { return concealed_.load(std::memory_order_relaxed); }
  // Packets not decoded because their RFC 6464 level said silence
  // (level >= kSilentLevelDbov): the member counts as silent that tick.
  uint64_t decodes_skipped() const { return decodes_skipped_.load(std::memory_order_relaxed); }
  static constexpr uint8_t kSilentLevelDbov = 60;  // -60 dBov and quieter
  const DurationHistogram& mix_durations_us() const { return mix_durations_; }

  // ---- rtp::TickHandler (shard thread)
  void on_tick(uint64_t tick, std::chrono::steady_clock::time_point deadline) override;

 private:
  struct Member {
    ParticipantId id = 0;
    rtp::Stream* stream = nullptr;
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
  };

  void apply(const Command& command);
  void add_participant(const Command& command);
  void remove_participant(Room& room, ParticipantId id);
  // kSetCodec: the member keeps its stream (port, SSRC, latch) and gets a new
  // decoder, mix slot and stream format. False: nothing changed.
  bool set_codec(const Command& command);
  void reindex(Room& room);
  Room* room(ConferenceId id);
  Room& room_or_create(ConferenceId id);
  void tick_room(ConferenceId id, Room& room, uint64_t tick);
  void decode_input(Room& room, size_t index, ConferenceId id);
  void emit(const Event& event);

  rtp::Shard& shard_;
  MediaShardConfig config_;
  std::unique_ptr<rtp::SpscRing<Command, kCommandRingSize>> commands_;
  std::unique_ptr<Command> scratch_;  // popped command (large; kept off the stack)
  std::unordered_map<ConferenceId, std::unique_ptr<Room>> rooms_;

  std::atomic<uint64_t> mix_ticks_{0};
  std::atomic<size_t> participants_{0};
  std::atomic<uint64_t> fec_recovered_{0};
  std::atomic<uint64_t> concealed_{0};
  std::atomic<uint64_t> decodes_skipped_{0};
  std::atomic<uint64_t> events_dropped_{0};
  alignas(rtp::kCacheLine) std::atomic<uint64_t> commands_dropped_{0};  // producer-written
  DurationHistogram mix_durations_;
};

}  // namespace chorus::mixer
