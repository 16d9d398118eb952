// The jitter buffer's storage is sized for its codec and its configured
// maximum delay (issue #16): a G.711 buffer is a few KiB, an Opus one still
// takes a 1275-byte frame, a packet too large for the codec is refused and
// counted, the payload arena never hands out bytes it has overwritten, and
// the edge of the configured depth behaves as it did with the fixed ring.
#include "rtp/jitter_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace chorus::rtp {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr size_t kG711Frame = 160;  // 20 ms at 64 kbit/s (RFC 3551 §4.5.14)
constexpr size_t kOpusMax = 1276;   // TOC byte + a 1275-byte frame (RFC 6716 §3.2.1)
constexpr size_t kOpusBudget = 320;  // 128 kbit/s

// Packet `index`'s payload: the index in the first four bytes, then a pattern
// that depends on it, so bytes from another packet never pass for its own.
std::vector<uint8_t> payload_of(uint32_t index, size_t size) {
  std::vector<uint8_t> p(size);
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(index * 31 + i * 7 + 1);
  for (size_t i = 0; i < std::min<size_t>(4, size); ++i)
    p[i] = static_cast<uint8_t>(index >> (24 - 8 * i));
  return p;
}

// Whether `payload` is exactly what payload_of(its index, its size) wrote.
bool intact(std::span<const uint8_t> payload, uint32_t* index = nullptr) {
  if (payload.size() < 4) return false;
  const uint32_t i = uint32_t{payload[0]} << 24 | uint32_t{payload[1]} << 16 |
                     uint32_t{payload[2]} << 8 | payload[3];
  if (index != nullptr) *index = i;
  const std::vector<uint8_t> expected = payload_of(i, payload.size());
  return std::equal(payload.begin(), payload.end(), expected.begin());
}

JitterPacket packet(uint32_t index, std::span<const uint8_t> payload, uint32_t spt,
                    int64_t frame_offset = 0) {
  JitterPacket p;
  p.sequence = static_cast<uint16_t>(index);
  p.timestamp = static_cast<uint32_t>((static_cast<int64_t>(index) + frame_offset) * spt);
  p.ssrc = 0x5eed;
  p.marker = index == 0;
  p.payload = payload;
  return p;
}

TEST(JitterBufferStorage, G711BufferIsSmallAtTheDefaultMaximumDelay) {
  const JitterBuffer jb({}, 8000, 160, kG711Frame, kG711Frame);
  EXPECT_LT(jb.storage_bytes(), 16u * 1024);
  EXPECT_EQ(jb.max_payload(), kG711Frame);
  // The default 300 ms maximum delay is 15 frames: the ring holds them.
  EXPECT_GE(jb.capacity() - 2, 15u);
  // A whole ring of 160-byte packets fits the arena: G.711 never runs out.
  EXPECT_GE(jb.arena_bytes(), jb.capacity() * kG711Frame);
  // What one MTU-sized slot per frame costs, for comparison.
  const JitterBuffer mtu({}, 8000, 160);
  EXPECT_GT(mtu.storage_bytes(), 4 * jb.storage_bytes());
}

TEST(JitterBufferStorage, RingFollowsTheConfiguredMaximumDelay) {
  for (const uint32_t max_ms : {20u, 100u, 300u, 600u, 1000u}) {
    SCOPED_TRACE(max_ms);
    JitterConfig config;
    config.max_delay_ms = max_ms;
    const JitterBuffer jb(config, 8000, 160, kG711Frame);
    EXPECT_EQ(jb.capacity() & (jb.capacity() - 1), 0u) << "a power of two";
    EXPECT_GE(jb.capacity(), JitterBuffer::kMinCapacity);
    EXPECT_GE(jb.capacity(), max_ms / 20 + JitterBuffer::kSlackFrames);
    EXPECT_LT(jb.capacity(), 2 * (max_ms / 20 + JitterBuffer::kSlackFrames) + 1);
  }
}

TEST(JitterBufferStorage, OpusTakesAFrameOf1275BytesIntact) {
  JitterBuffer jb({}, 48000, 960, kOpusMax, kOpusBudget);
  EXPECT_GE(jb.max_payload(), 1275u + 1);
  EXPECT_LT(jb.storage_bytes(), 16u * 1024);
  const auto start = Clock::time_point() + std::chrono::hours(1);
  std::vector<std::vector<uint8_t>> payloads;
  for (uint32_t i = 0; i < 4; ++i) payloads.push_back(payload_of(i, kOpusMax - i % 2));
  uint32_t played = 0;
  for (int tick = 0; tick < 10 && played < 4; ++tick) {
    const auto now = start + milliseconds(20) * tick;
    if (tick < 4) {
      const auto i = static_cast<uint32_t>(tick);
      EXPECT_EQ(jb.insert(packet(i, payloads[i], 960), now), InsertResult::kStored) << i;
    }
    const Slot s = jb.pull(now + milliseconds(5));
    if (s.kind != SlotKind::kPacket) continue;
    uint32_t index = 0;
    ASSERT_TRUE(intact(s.payload, &index));
    EXPECT_EQ(index, played);
    EXPECT_EQ(s.payload.size(), payloads[index].size());
    ++played;
  }
  EXPECT_EQ(played, 4u);
}

// A packet larger than the codec's largest frame is refused whole (never
// truncated), counted, and the stream around it plays on.
TEST(JitterBufferStorage, PacketLargerThanTheSlotIsDroppedAndCounted) {
  JitterBuffer jb({}, 8000, 160, kG711Frame, kG711Frame);
  const auto start = Clock::time_point() + std::chrono::hours(1);
  const auto fits = payload_of(0, kG711Frame);
  const auto too_big = payload_of(1, kG711Frame + 1);
  const auto next = payload_of(2, kG711Frame);
  EXPECT_EQ(jb.insert(packet(0, fits, 160), start), InsertResult::kStored);
  EXPECT_EQ(jb.insert(packet(1, too_big, 160), start + milliseconds(20)),
            InsertResult::kTooLarge);
  EXPECT_EQ(jb.insert(packet(2, next, 160), start + milliseconds(40)), InsertResult::kStored);
  EXPECT_EQ(jb.stats().too_large, 1u);
  EXPECT_EQ(jb.stats().stored, 2u);
  std::vector<SlotKind> kinds;
  std::vector<uint32_t> indices;
  for (int tick = 0; tick < 8; ++tick) {
    const Slot s = jb.pull(start + milliseconds(40) + milliseconds(20) * tick);
    kinds.push_back(s.kind);
    if (s.kind == SlotKind::kPacket) {
      uint32_t index = 0;
      ASSERT_TRUE(intact(s.payload, &index));
      EXPECT_EQ(s.payload.size(), kG711Frame);
      indices.push_back(index);
    }
  }
  EXPECT_EQ(indices, (std::vector<uint32_t>{0, 2}));
  // Frame 1 was sent and refused: the decoder conceals it (a lost slot).
  const auto first = std::find(kinds.begin(), kinds.end(), SlotKind::kPacket);
  ASSERT_NE(first, kinds.end());
  ASSERT_NE(first + 1, kinds.end());
  EXPECT_EQ(*(first + 1), SlotKind::kLost);
}

// With the ring sized from the maximum delay, the edge is where it was: a
// packet capacity - 2 frames past the playout point is kept (and played),
// one frame further is too early.
TEST(JitterBufferStorage, PacketAtTheEdgeOfTheRingIsKeptOneBeyondIsTooEarly) {
  for (const uint32_t max_ms : {300u, 1000u}) {
    SCOPED_TRACE(max_ms);
    JitterConfig config;
    config.max_delay_ms = max_ms;
    JitterBuffer jb(config, 8000, 160, kG711Frame);
    const auto start = Clock::time_point() + std::chrono::hours(1);
    // A steady stream, every packet 10 ms before the tick that plays it.
    std::vector<std::vector<uint8_t>> payloads;
    for (uint32_t i = 0; i < 400; ++i) payloads.push_back(payload_of(i, kG711Frame));
    uint32_t sent = 0;
    uint32_t last_played = 0;
    for (int tick = 0; tick < 20; ++tick) {
      const auto now = start + milliseconds(20) * tick;
      ASSERT_EQ(jb.insert(packet(sent, payloads[sent], 160), now - milliseconds(10)),
                InsertResult::kStored);
      ++sent;
      const Slot s = jb.pull(now);
      if (s.kind == SlotKind::kPacket) {
        ASSERT_TRUE(intact(s.payload, &last_played));
      }
    }
    ASSERT_GT(last_played, 0u);
    ASSERT_EQ(jb.size(), sent - 1 - last_played);
    // The next pull plays frame last_played + 1 (the playout point).
    const auto now = start + milliseconds(20) * 20;
    const uint32_t play = last_played + 1;
    const uint32_t edge = play + static_cast<uint32_t>(jb.capacity()) - 2;
    ASSERT_LT(edge + 1, payloads.size());
    EXPECT_EQ(jb.insert(packet(edge + 1, payloads[edge + 1], 160), now),
              InsertResult::kTooEarly);
    EXPECT_EQ(jb.stats().too_early, 1u);
    EXPECT_EQ(jb.insert(packet(edge, payloads[edge], 160), now), InsertResult::kStored);
    // Fill in the frames before the edge: every one plays, in order, intact.
    for (uint32_t i = sent; i < edge; ++i) {
      ASSERT_EQ(jb.insert(packet(i, payloads[i], 160), now), InsertResult::kStored) << i;
    }
    std::vector<uint32_t> played;
    const uint64_t skipped_before = jb.stats().frames_skipped;
    for (int tick = 0; tick < static_cast<int>(jb.capacity()) + 8; ++tick) {
      const Slot s = jb.pull(now + milliseconds(20) * tick);
      if (s.kind != SlotKind::kPacket) continue;
      uint32_t index = 0;
      ASSERT_TRUE(intact(s.payload, &index));
      played.push_back(index);
      if (index == edge) break;
    }
    ASSERT_FALSE(played.empty());
    EXPECT_TRUE(std::is_sorted(played.begin(), played.end()));
    EXPECT_GE(played.front(), play);
    // The buffer is far deeper than its target now: it skips frames to
    // shrink (counted), but every packet is played or skipped, the edge one
    // is kept to the end.
    EXPECT_EQ(played.back(), edge);
    EXPECT_EQ(played.size() + (jb.stats().frames_skipped - skipped_before), edge - play + 1);
  }
}

// Reordering, loss and concealment with the jitter at the configured maximum:
// nothing is too early, every packet sent plays once in order, intact, and a
// lost one is a kLost slot (offering the next packet for FEC when buffered).
TEST(JitterBufferStorage, ReorderLossAndConcealmentAtTheMaximumDepth) {
  struct Case {
    uint32_t clock;
    uint32_t spt;
    size_t max_payload;
    size_t budget;
    size_t size;
  };
  for (const Case c : {Case{8000, 160, kG711Frame, kG711Frame, kG711Frame},
                       Case{48000, 960, kOpusMax, kOpusBudget, kOpusBudget}}) {
    SCOPED_TRACE(c.clock);
    JitterConfig config;
    config.max_delay_ms = 300;
    JitterBuffer jb(config, c.clock, c.spt, c.max_payload, c.budget);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> delay_ms(0, 260);
    const auto start = Clock::time_point() + std::chrono::hours(1);
    struct Arrival {
      Clock::time_point at;
      uint32_t index;
    };
    std::vector<Arrival> arrivals;
    std::vector<std::vector<uint8_t>> payloads;
    constexpr uint32_t kCount = 600;
    for (uint32_t i = 0; i < kCount; ++i) {
      payloads.push_back(payload_of(i, c.size));
      if (i % 37 == 5) continue;  // lost in the network
      arrivals.push_back({start + milliseconds(20) * i + milliseconds(delay_ms(rng)), i});
    }
    std::stable_sort(arrivals.begin(), arrivals.end(),
                     [](const Arrival& a, const Arrival& b) { return a.at < b.at; });
    size_t next = 0;
    std::vector<uint32_t> played;
    size_t lost_slots = 0;
    size_t fec_offers = 0;
    for (int tick = 0; tick < static_cast<int>(kCount) + 40; ++tick) {
      const auto now = start + milliseconds(5) + milliseconds(20) * tick;
      while (next < arrivals.size() && arrivals[next].at <= now) {
        const uint32_t i = arrivals[next++].index;
        jb.insert(packet(i, payloads[i], c.spt), arrivals[next - 1].at);
      }
      const Slot s = jb.pull(now);
      if (s.kind == SlotKind::kPacket) {
        uint32_t index = 0;
        ASSERT_TRUE(intact(s.payload, &index));
        played.push_back(index);
      } else if (s.kind == SlotKind::kLost) {
        ++lost_slots;
        if (!s.next_payload.empty()) {
          ASSERT_TRUE(intact(s.next_payload));
          ++fec_offers;
        }
      }
    }
    const JitterStats& st = jb.stats();
    EXPECT_EQ(st.too_early, 0u);
    EXPECT_EQ(st.no_room, 0u);
    EXPECT_EQ(st.too_large, 0u);
    EXPECT_LE(jb.target_delay_ms(), 300.0);
    EXPECT_GE(jb.target_delay_ms(), 200.0) << "the jitter drove the target to the maximum";
    EXPECT_TRUE(std::is_sorted(played.begin(), played.end()));
    EXPECT_EQ(std::adjacent_find(played.begin(), played.end()), played.end()) << "played twice";
    // Late packets at the very edge of the jitter may still miss their slot,
    // and a frame skipped to shrink the delay is dropped (both counted).
    EXPECT_GE(played.size() + st.too_late + st.frames_skipped, arrivals.size());
    EXPECT_GT(played.size(), arrivals.size() * 9 / 10);
    EXPECT_GE(lost_slots, 600u / 37);
    EXPECT_GT(fec_offers, 0u);
  }
}

// A deep buffer of the largest Opus packets outgrows the arena's 128 kbit/s
// budget: the packet that finds no room is refused (kNoRoom, counted) and
// nothing already stored is overwritten. Random sizes, reordering and pulls
// check that every payload handed out (and every FEC offer) is intact.
TEST(JitterBufferStorage, ArenaNeverHandsOutOverwrittenBytes) {
  JitterConfig config;
  config.max_delay_ms = 300;
  JitterBuffer jb(config, 48000, 960, kOpusMax, kOpusBudget);
  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> size(4, kOpusMax);
  std::uniform_int_distribution<int> delay_ms(0, 300);
  const auto start = Clock::time_point() + std::chrono::hours(1);
  struct Arrival {
    Clock::time_point at;
    uint32_t index;
  };
  constexpr uint32_t kCount = 3000;
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<Arrival> arrivals;
  for (uint32_t i = 0; i < kCount; ++i) {
    payloads.push_back(payload_of(i, size(rng)));
    arrivals.push_back({start + milliseconds(20) * i + milliseconds(delay_ms(rng)), i});
  }
  std::stable_sort(arrivals.begin(), arrivals.end(),
                   [](const Arrival& a, const Arrival& b) { return a.at < b.at; });
  size_t next = 0;
  size_t played = 0;
  size_t no_room = 0;
  for (int tick = 0; tick < static_cast<int>(kCount) + 40; ++tick) {
    const auto now = start + milliseconds(20) * tick;
    while (next < arrivals.size() && arrivals[next].at <= now) {
      const uint32_t i = arrivals[next++].index;
      no_room += jb.insert(packet(i, payloads[i], 960), arrivals[next - 1].at) ==
                 InsertResult::kNoRoom;
    }
    const Slot s = jb.pull(now);
    if (s.kind == SlotKind::kPacket) {
      uint32_t index = 0;
      ASSERT_TRUE(intact(s.payload, &index)) << "tick " << tick;
      ASSERT_EQ(s.payload.size(), payloads[index].size());
      ++played;
    }
    if (!s.next_payload.empty()) {
      ASSERT_TRUE(intact(s.next_payload)) << "tick " << tick;
    }
    ASSERT_LE(jb.size(), jb.capacity());
  }
  EXPECT_GT(no_room, 0u) << "the largest packets at full depth outgrow the budget";
  EXPECT_EQ(jb.stats().no_room, no_room);
  EXPECT_GT(played, kCount / 2);
}

// 64 largest Opus payloads, for the tests below.
std::vector<std::vector<uint8_t>> largest_payloads() {
  std::vector<std::vector<uint8_t>> payloads;
  for (uint32_t i = 0; i < 64; ++i) payloads.push_back(payload_of(i, kOpusMax));
  return payloads;
}

// A new source (RFC 3550 §8.2) resets the buffer, then its packets from
// `first` on fill the arena until there is no room.
void reset_and_fill(JitterBuffer& jb, const std::vector<std::vector<uint8_t>>& payloads,
                    uint32_t first, Clock::time_point at) {
  for (uint32_t i = first; i < payloads.size(); ++i) {
    JitterPacket p = packet(i, payloads[i], 960, 1000);
    p.ssrc = 0xbeef;
    jb.insert(p, at);
  }
  EXPECT_GT(jb.stats().no_room, 0u);
}

// The payloads a pull() handed out stay intact until the next pull(), even if
// the arena wraps and the source resets in between.
TEST(JitterBufferStorage, HandedOutPayloadSurvivesInsertsUntilTheNextPull) {
  JitterBuffer jb({}, 48000, 960, kOpusMax, kOpusBudget);
  const auto start = Clock::time_point() + std::chrono::hours(1);
  const auto payloads = largest_payloads();
  ASSERT_EQ(jb.insert(packet(0, payloads[0], 960), start), InsertResult::kStored);
  Slot s;
  for (int tick = 0; tick < 10 && s.kind != SlotKind::kPacket; ++tick) {
    s = jb.pull(start + milliseconds(20) * tick);
  }
  ASSERT_EQ(s.kind, SlotKind::kPacket);
  reset_and_fill(jb, payloads, 1, start + milliseconds(200));
  uint32_t index = 99;
  EXPECT_TRUE(intact(s.payload, &index));
  EXPECT_EQ(index, 0u);
}

TEST(JitterBufferStorage, OfferedNextPayloadSurvivesAResetUntilTheNextPull) {
  // Two frames of delay, so that packet 3 is buffered when frame 2's slot
  // is pulled.
  JitterConfig config;
  config.min_delay_ms = 40;
  config.initial_delay_ms = 40;
  JitterBuffer jb(config, 48000, 960, kOpusMax, kOpusBudget);
  const auto start = Clock::time_point() + std::chrono::hours(1);
  const auto payloads = largest_payloads();
  // Frames 0, 1, then 2 lost and 3 buffered: the slot of frame 2 is kLost
  // and offers packet 3 for FEC.
  Slot s;
  for (int tick = 0; tick < 12 && s.next_payload.empty(); ++tick) {
    const auto now = start + milliseconds(20) * tick;
    if (tick < 4 && tick != 2) {
      const auto i = static_cast<uint32_t>(tick);
      ASSERT_EQ(jb.insert(packet(i, payloads[i], 960), now), InsertResult::kStored);
    }
    s = jb.pull(now + milliseconds(5));
  }
  ASSERT_EQ(s.kind, SlotKind::kLost);
  ASSERT_FALSE(s.next_payload.empty());
  reset_and_fill(jb, payloads, 4, start + milliseconds(200));
  uint32_t index = 99;
  EXPECT_TRUE(intact(s.next_payload, &index));
  EXPECT_EQ(index, 3u);
}

// A packet one frame before the first arrives before the first pull and is
// stored at frame -1; that pull places the playout point at frame 0, past
// it. The packet never plays, so it must be released then: held, it pinned
// the oldest arena bytes, and with frame 31 (the next to reuse its ring
// slot) lost the arena filled within 33 frames and every later packet was
// refused for the rest of the call.
TEST(JitterBufferStorage, PacketPassedOverByTheFirstPlacementDoesNotPinTheArena) {
  JitterBuffer jb({}, 8000, 160, kG711Frame, kG711Frame);
  const auto t0 = Clock::time_point() + std::chrono::hours(1);
  std::vector<std::vector<uint8_t>> payloads;
  for (uint32_t seq = 999; seq <= 1080; ++seq) payloads.push_back(payload_of(seq, kG711Frame));
  const auto send = [&](uint32_t seq, Clock::time_point at) {
    JitterPacket p;
    p.sequence = static_cast<uint16_t>(seq);
    p.timestamp = 16000 + (seq - 1000) * 160;
    p.ssrc = 0x5eed;
    p.marker = seq == 1000;
    p.payload = payloads[seq - 999];
    return jb.insert(p, at);
  };
  ASSERT_EQ(send(1000, t0), InsertResult::kStored);
  ASSERT_EQ(send(999, t0 + milliseconds(1)), InsertResult::kStored);
  std::vector<uint32_t> played;
  const auto pull = [&](Clock::time_point at) {
    const Slot s = jb.pull(at);
    if (s.kind != SlotKind::kPacket) return s.kind;
    uint32_t index = 0;
    EXPECT_TRUE(intact(s.payload, &index));
    played.push_back(index);
    return s.kind;
  };
  pull(t0 + milliseconds(10));
  for (uint32_t i = 1; i <= 80; ++i) {
    SCOPED_TRACE(i);
    if (i != 31) {
      EXPECT_EQ(send(1000 + i, t0 + milliseconds(20 * i)), InsertResult::kStored);
    }
    const SlotKind kind = pull(t0 + milliseconds(20 * i + 10));
    EXPECT_EQ(kind, i == 31 ? SlotKind::kLost : SlotKind::kPacket);
  }
  EXPECT_EQ(jb.stats().no_room, 0u);
  EXPECT_EQ(jb.stats().too_late, 0u);
  // Every packet from frame 0 on played once, in order; frame -1 came too
  // late for the placement and is counted as skipped.
  ASSERT_EQ(played.size(), 80u);
  EXPECT_EQ(played.front(), 1000u);
  EXPECT_EQ(played.back(), 1080u);
  EXPECT_TRUE(std::is_sorted(played.begin(), played.end()));
  EXPECT_EQ(jb.stats().frames_skipped, 1u);
  EXPECT_EQ(jb.size(), 0u) << "nothing left behind";
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
