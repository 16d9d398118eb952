#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mixer/command.hpp"
#include "mixer/event.hpp"
#include "mixer/media_engine.hpp"
#include "mixer/media_shard.hpp"
#include "mixer/moh_source.hpp"
#include "rtp/shard.hpp"
#include "rtp/stream_factory.hpp"
#include "webrtc/dtls_transport.hpp"
#include "webrtc/dtls_worker.hpp"

namespace chorus::mixer {

// The CPUs this process may run on (sched_getaffinity: taskset, a cgroup
// cpuset), in ascending order; every online CPU when that call fails.
std::vector<int> allowed_cpus();

struct EngineConfig {
  // 0 = one per CPU the process may run on (allowed_cpus(), at least 1).
  size_t shards = 2;
  // Shard i pinned to the (i mod n)-th of the n allowed CPUs, so a taskset
  // or cpuset around the process is honoured (shard.cpu ignored).
  bool pin_shards = false;
  // Template for every shard; the port range is split evenly between them.
  rtp::ShardConfig shard;
  // Per shard: tick budget (commands_per_tick, adds_per_tick), pending FIFO.
  MediaShardConfig mixer;
  // A conference part takes no more participants than this on one shard;
  // past it the conference spans another shard.
  size_t max_per_part = 400;
  // Commands held per shard on the signalling side while its ring is full.
  size_t retry_queue_limit = 4096;
  // Test hook: usable slots of every shard's command ring (0 = all of
  // MediaShard::kCommandRingSize), as set_command_ring_capacity_for_test().
  size_t command_ring_slots = 0;
  // Music on hold of conferences created from now on ("" = the built-in tune);
  // decoded when the Engine is constructed (std::runtime_error if unreadable).
  std::string music_file;
  // WebRTC members (issue #18): the process's DTLS context (certificate,
  // SSL_CTX; not owned, must outlive the engine). Set: the engine runs one
  // DtlsWorker thread with a channel per shard (started and stopped with the
  // engine). Null: an add with stream.webrtc fails kNoWebRtc. The consent
  // timeout is shard.consent_timeout.
  const webrtc::DtlsContext* dtls_context = nullptr;
  webrtc::DtlsWorker::Config dtls_worker;
};

// The media side as the signalling thread sees it (ARCHITECTURE.md "Media
// commands"): N media shards, each an rtp::Shard thread with a MediaShard
// tick handler that owns the shard's one command ring and one event ring; a
// placement of every conference on one shard (or, once it outgrows one, on
// several parts linked by span rings); per shard a StreamFactory (the port
// pool) and a bounded retry queue. Heavy set-up (decoders, mix slots, bound
// sockets, music clips) is done here, on the calling thread, and handed over
// in the command. Everything here runs on the signalling thread.
class Engine : public MediaEngine {
 public:
  explicit Engine(EngineConfig config);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- MediaEngine
  void start() override;
  void stop() override;
  std::optional<CommandId> submit(Command command) override;
  bool poll(Event& event) override;
  size_t shard_count() const override { return shards_.size(); }
  ShardStatus shard_status(size_t index) const override;
  std::optional<DtlsStats> dtls_stats() const override;

  // Music for conferences created from now on; running conferences keep
  // theirs (kSetMusic changes one). False (nothing changed) when the file
  // cannot be read.
  bool set_default_music(const std::string& file);

  // Placement, for tests and /metrics: where a participant's stream lives
  // and how many shards a conference spans (signalling-side view).
  std::optional<size_t> shard_of(ConferenceId conference, ParticipantId participant) const;
  size_t parts(ConferenceId conference) const;

  // Test hook: shrinks shard `index`'s command ring to `slots` usable slots
  // (1..MediaShard::kCommandRingSize) to make back-pressure happen.
  void set_command_ring_capacity_for_test(size_t index, size_t slots);

 private:
  // A shared encoder this engine built for a part (ARCHITECTURE.md "Media
  // commands"): the part's conference is taken to hold it from then on.
  struct Part {
    size_t shard;
    size_t participants = 0;
    // The shared encoders handed to this part's conference, at groups_rate
    // (the conference keeps a group until its rate changes, then rebuilds
    // the ones its members use).
    std::vector<GroupKey> groups;
    int groups_rate = 0;
  };
  struct Where {
    size_t part;
    CommandId add;  // the add that made the participant's stream
    CodecParams codec;
    Listening listening;  // Conference::listening: what its groups are
  };
  struct Placement {
    std::vector<Part> parts;
    std::unordered_map<ParticipantId, Where> where;
    int max_rate = 8000;
    size_t top_k = 3;
    std::shared_ptr<const MusicClips> music;
    // While the room records (kStartRecording accepted, no kStopRecording
    // since): the buffer, for parts created meanwhile, and the start's id.
    std::shared_ptr<RecordingBuffer> recording;
    CommandId recording_start = 0;
  };
  // One shard and what the signalling side keeps for it. Declaration order
  // is destruction order reversed: the media shard (owner of the members and
  // their streams) goes first, the rtp shard (io_context, graveyard) last.
  struct ShardSlot {
    std::unique_ptr<rtp::Shard> shard;
    std::unique_ptr<rtp::StreamFactory> factory;
    std::unique_ptr<MediaShard> media;
    std::deque<Command> retry;
    size_t load = 0;  // participants placed
    uint64_t deferred = 0;
    uint64_t refused = 0;
  };
  // An accepted command whose completion has not been delivered yet.
  struct Pending {
    Command::Kind kind;
    size_t remaining = 1;  // shard completions still expected (fan-out)
    Failure failure = Failure::kNone;
    bool internal = false;  // kSetSpan: completion swallowed
    ConferenceId conference = 0;
    ParticipantId participant = 0;
    CommandId add = 0;  // kRemoveParticipant: the add whose stream it closes
    // kMoveParticipant: where the member came from, to be put back when the
    // shard refuses the move (the member stayed there).
    ConferenceId target = 0;
    size_t from_part = 0;
  };
  // A stream made for an add, until the shard reports it closed; its port
  // goes back to the pool only then.
  struct StreamRecord {
    size_t shard;
    uint16_t port;
    ConferenceId conference;
    ParticipantId participant;
    bool live = false;  // the add completed kDone
  };

  size_t least_loaded_shard(const Placement& placement) const;
  std::optional<size_t> choose_part(const Placement& placement) const;
  void relink(ConferenceId id, Placement& placement);
  // The rate `part`'s conference runs at once `member` has `codec` (nullptr:
  // once it has left): the highest member rate, or the placement's rate for
  // a conference spanning shards (fixed for all its parts). `part` nullopt:
  // a part this command creates.
  int rate_after(const Placement& placement, std::optional<size_t> part, ParticipantId member,
                 const CodecParams* codec, bool spanning) const;
  // The shared encoders `part`'s conference will lack once `member` has
  // `codec` at output gain `gain` (nullptr: has left) and the conference
  // runs at `rate`: at a new rate every group its members use, else the
  // member's own. Built here, off the shard; `keys` is what the part holds
  // once the command applies (record_groups, after it is committed).
  PreparedGroups prepare_groups(const Placement& placement, std::optional<size_t> part,
                                ParticipantId member, const CodecParams* codec,
                                const Listening& listening, int rate,
                                std::vector<GroupKey>& keys) const;
  static void record_groups(Part& part, int rate, std::vector<GroupKey>& keys);
  // The resamplers every other member of `part` needs when the command
  // takes the part's conference to `rate` (empty when the rate stays).
  PreparedRates prepare_rates(const Placement& placement, std::optional<size_t> part,
                              ParticipantId member, int rate) const;
  // Whether shard `s` takes one more command now (ring or retry queue).
  bool can_take(size_t s) const;
  bool can_take_add(size_t s);
  // Into the ring, or behind the retry queue (counted as deferred).
  void enqueue(size_t s, Command command);
  void flush_retry();
  CommandId accept(Command::Kind kind, size_t shards, ConferenceId conference,
                   ParticipantId participant, bool internal = false);
  void fail_now(const Command& command, Failure failure);
  std::optional<CommandId> submit_add(Command& command);
  std::optional<CommandId> submit_move(Command& command);
  // kStartRecording / kStopRecording to every part of the room.
  std::optional<CommandId> submit_recording(Command& command, Placement& placement);
  // The lane of `buffer` a part other than the first fills (kNoLane: none).
  static size_t lane_for_part(RecordingBuffer& buffer);
  // Part `part` was just created: it records too if the room does.
  void record_new_part(ConferenceId id, Placement& placement, size_t part);
  // A start some part refused: the room records nowhere (engine-internal
  // stops to every part, queued behind the start).
  void stop_recording_parts(ConferenceId id, CommandId start);
  std::shared_ptr<const MusicClips> music_for(const std::string& file, int extra_rate);
  // Bookkeeping for one completion from shard `s`; true when `event` is to
  // be delivered to the caller (false: swallowed or aggregated).
  bool on_completion(size_t s, Event& event);
  void close_stream_record(CommandId add);
  void drain_after_stop();

  EngineConfig config_;
  // Before the shards: destroyed after them (their streams stop handshakes
  // on their channels as they close).
  std::unique_ptr<webrtc::DtlsWorker> dtls_worker_;
  std::vector<ShardSlot> shards_;
  std::unordered_map<ConferenceId, Placement> placements_;
  std::unordered_map<CommandId, Pending> pending_;
  std::map<CommandId, StreamRecord> streams_;
  std::deque<Event> local_;  // completions decided here (unknown ids, codec, stop)
  std::shared_ptr<const MusicClips> default_music_;
  CommandId next_id_ = 1;
  rtp::StreamId next_stream_id_ = 1;
  size_t next_shard_to_poll_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace chorus::mixer
