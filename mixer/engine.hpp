#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "mixer/command.hpp"
#include "mixer/event.hpp"
#include "mixer/media_shard.hpp"
#include "rtp/shard.hpp"

namespace chorus::mixer {

struct EngineConfig {
  size_t shards = 2;
  // Template for every shard; the port range is split evenly between them.
  rtp::ShardConfig shard;
  MediaShardConfig mixer;
  // A conference part takes no more participants than this on one shard;
  // past it the conference spans another shard.
  size_t max_per_part = 400;
};

// The mixer as the signalling thread sees it: N media shards (each an
// rtp::Shard thread with a MediaShard tick handler), a placement of every
// conference on one shard (or, once it outgrows one, on several parts linked
// by span rings), and the command/event rings. Everything here runs on the
// signalling thread; the shards are reached only through their rings.
class Engine {
 public:
  explicit Engine(EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();
  void stop();

  // Adds a participant (command.kind must be kAddParticipant): picks the
  // conference's part with room, spanning a new shard when every part is
  // full. Returns the shard index, or nullopt when its ring is full.
  std::optional<size_t> add_participant(const Command& command);
  bool remove_participant(ConferenceId conference, ParticipantId participant);
  bool update_participant(ConferenceId conference, ParticipantId participant,
                          const ParticipantSettings& settings);
  bool set_music(ConferenceId conference, const std::string& file);
  // A participant's codec changed (re-INVITE): `command` is filled like an
  // add (codec, payload_type, stream format, settings); kind is set here.
  bool set_codec(Command command);
  bool remove_conference(ConferenceId conference);

  // Where a participant's stream lives (rtp commands for it go to this shard).
  std::optional<size_t> shard_of(ConferenceId conference, ParticipantId participant) const;
  size_t parts(ConferenceId conference) const;

  // Events from shard `index`: `mixer` is set for mixer events; `raw` always
  // holds the shard event (stream events: timeouts, RFC 4733 digits, stats).
  bool poll_event(size_t index, rtp::Event& raw, std::optional<Event>& mixer);

  size_t shard_count() const { return shards_.size(); }
  rtp::Shard& shard(size_t index) { return *shards_[index]; }
  MediaShard& media(size_t index) { return *media_[index]; }

 private:
  struct Part {
    size_t shard;
    size_t participants = 0;
  };
  struct Placement {
    std::vector<Part> parts;
    std::unordered_map<ParticipantId, size_t> where;  // participant → part index
    int max_rate = 8000;
    size_t top_k = 3;
  };

  size_t least_loaded_shard(const Placement& placement) const;
  void relink(ConferenceId id, Placement& placement);

  EngineConfig config_;
  std::vector<std::unique_ptr<rtp::Shard>> shards_;
  std::vector<std::unique_ptr<MediaShard>> media_;
  std::vector<size_t> load_;  // participants per shard (as placed)
  std::unordered_map<ConferenceId, Placement> placements_;
};

}  // namespace chorus::mixer
