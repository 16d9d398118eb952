#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "mixer/frame.hpp"
#include "mixer/participant.hpp"
#include "rtp/spsc_ring.hpp"

namespace chorus::mixer {

// Most talkers a conference mixes at once (the K of top-K).
inline constexpr size_t kMaxTopK = 16;

// A conference that outgrows one shard spans several (ARCHITECTURE.md
// "Threads"). Once per tick every part sends every other part the partial sum
// of its own contributing talkers, already gained and ramped, plus the ids and
// rank keys of its loudest local candidates. A receiving part picks the
// global top K from its own candidates and the remote ones, so each part
// ramps in only its own talkers that are globally among the K loudest; it
// adds the remote partial sums to its bus. A listener is never in another
// part's partial sum, so "subtract own" stays local and every listener still
// hears a correct N-1 mix. The remote part arrives one tick (20 ms) late:
// it was produced on the other shard's previous tick.
struct SpanCandidate {
  ParticipantId id = 0;
  int rank = 0;  // TalkerDetector::energy_rank_key(), plus the mixer's priorities
};

struct SpanPacket {
  uint64_t tick = 0;  // the sender's tick
  int rate = 0;       // conference rate of the partial sum
  uint32_t samples = 0;
  uint32_t visible = 0;  // the sender's visible members (alone-in-room is conference-wide)
  uint8_t candidate_count = 0;
  std::array<SpanCandidate, kMaxTopK> candidates{};
  std::array<int32_t, kMaxRate * kTickMs / 1000> partial{};
};

// One direction between two parts of a spanning conference: written by one
// shard thread, read by another. A full ring drops the packet (counted by the
// writer); the reader then mixes without that part for a tick.
using SpanRing = rtp::SpscRing<SpanPacket, 4>;

// Both directions between two parts; created by the engine at set-up time and
// shared (shared_ptr) by the two shards.
struct SpanLink {
  SpanRing a_to_b;
  SpanRing b_to_a;
};

struct SpanCounters {
  uint64_t sent = 0;
  uint64_t send_dropped = 0;  // the peer's ring was full
  uint64_t received = 0;
  uint64_t stale_skipped = 0;  // older packets overtaken by a newer one
};

class Conference;

// One part's end of every link of a spanning conference, driven on the part's
// shard thread: receive() before Conference::tick, send() after it. Lock-free
// (SPSC rings), allocation-free per tick.
class SpanEndpoint {
 public:
  struct Port {
    std::shared_ptr<SpanLink> link;
    bool is_a = true;  // which side of the link this part is
  };

  // `ports[i]` is the link to peer i (Conference::set_remote's index).
  explicit SpanEndpoint(std::vector<Port> ports);

  size_t peers() const { return ports_.size(); }
  // Takes the newest packet from every peer (dropping older ones) into the
  // conference. A peer with nothing new contributes nothing this tick.
  void receive(Conference& conference);
  // Sends this part's packet to every peer.
  void send(const Conference& conference);
  const SpanCounters& counters() const { return counters_; }

 private:
  SpanRing& inbound(const Port& p) { return p.is_a ? p.link->b_to_a : p.link->a_to_b; }
  SpanRing& outbound(const Port& p) { return p.is_a ? p.link->a_to_b : p.link->b_to_a; }

  std::vector<Port> ports_;
  std::unique_ptr<SpanPacket> scratch_;  // popped packets land here (large: not on the stack)
  SpanCounters counters_;
};

}  // namespace chorus::mixer
