// ARCHITECTURE.md "The hot path": a steady-state tick allocates nothing.
#include <gtest/gtest.h>

#include "mixer/moh_source.hpp"
#include "rtp/alloc_counter.hpp"
#include "tests/mixer/conference_harness.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::mixer {
namespace {

// Fills every input without allocating (the harness's recording would).
void feed(Conference& c, uint64_t tick) {
  for (size_t i = 0; i < c.size(); ++i) {
    Frame& f = c.input_slot(i);
    const int rate = c.codec(i).sample_rate;
    f.sample_rate = rate;
    f.channels = 1;
    f.samples = samples_per_tick(rate);
    f.silent = false;
    // Members 0..4 talk (a square-ish wave of their own period); others are silent.
    for (size_t s = 0; s < f.samples; ++s) {
      const bool talking = i < 5;
      f.data[s] = talking
                      ? static_cast<int16_t>(((s + tick * f.samples) / (10 + i)) % 2 ? 4000 : -4000)
                      : int16_t{0};
    }
  }
}

TEST(AllocTick, SteadyTickWithAHundredParticipantsAllocatesNothing) {
  Conference c(testing::config(3));
  for (ParticipantId id = 1; id <= 100; ++id) {
    ParticipantSettings s;
    if (id == 50) s.hold = HoldMode::kMusic;
    if (id == 51) s.hold = HoldMode::kInactive;
    if (id == 52) s.deaf = true;
    if (id == 53) s.role = Role::kMonitor;
    if (id == 54) {
      s.role = Role::kWhisper;
      s.whisper_targets = {60, 61};
    }
    if (id == 55) s.muted = true;
    // Two sidebars (issue #17), one whispering into the main room; member 2
    // talks in one.
    if (id == 2 || id == 70) s.sidebar = 1;
    if (id == 71 || id == 72) {
      s.sidebar = 2;
      s.sidebar_whisper_main = true;
    }
    // A few with other codecs so the room resamples and has several groups.
    CodecParams codec = default_params(CodecId::kPcmu);
    if (id % 10 == 7) codec = default_params(CodecId::kPcma);
    if (id == 98) codec = default_params(CodecId::kG722);
    if (id == 99) codec = default_params(CodecId::kOpus);
    ASSERT_TRUE(c.add(id, codec, s));
  }
  ASSERT_EQ(c.rate(), 48000);
  // Warm up: talkers get detected, ramps settle, groups are used once.
  uint64_t tick = 0;
  for (; tick < 30; ++tick) {
    feed(c, tick);
    c.tick(tick);
  }
  const uint64_t before = rtp::alloc::count();
  for (; tick < 80; ++tick) {
    feed(c, tick);
    c.tick(tick);
  }
  EXPECT_EQ(rtp::alloc::count() - before, 0u);
  // The tick did real work: talkers mixed, payloads produced.
  EXPECT_TRUE(c.mixed(0));
  for (size_t i = 0; i < c.size(); ++i) EXPECT_FALSE(c.payload(i).empty()) << i;
}

// Issue #17: a recording tap (mix and one track per member) and a notice
// tone add nothing to a steady tick: frames are copied into the ring, and
// a full ring drops instead of growing.
TEST(AllocTick, SteadyTickWithARecordingRunningAllocatesNothing) {
  Conference c(testing::config(3));
  for (ParticipantId id = 1; id <= 20; ++id) {
    ParticipantSettings s;
    if (id == 10) s.hold = HoldMode::kMusic;
    if (id == 11) {
      s.role = Role::kWhisper;
      s.whisper_targets = {12};
    }
    CodecParams codec = default_params(CodecId::kPcmu);
    if (id == 19) codec = default_params(CodecId::kOpus);
    ASSERT_TRUE(c.add(id, codec, s));
  }
  // Built off the tick, as kStartRecording's sender does.
  auto buffer = std::make_shared<RecordingBuffer>(RecordingOptions{.member_tracks = true});
  buffer->set_ring_capacity(30);  // 21 frames a tick, drained every other tick
  RecordingTap tap;
  tap.start(buffer);
  // Another part's tap (a spanning room; here over the same conference)
  // fills a lane of its own with its members' tracks, on the first tap's t0.
  const size_t lane = buffer->add_lane();
  ASSERT_EQ(lane, 1u);
  RecordingTap other;
  other.start(buffer, lane);
  NoticeTone notice;
  notice.beeps = 2;
  uint64_t tick = 0;
  for (; tick < 30; ++tick) {
    feed(c, tick);
    c.tick(tick);
    tap.capture(c, tick);
    other.capture(c, tick);
  }
  static RecordFrame drained;  // the writer's side, here on the same thread
  // A prompt to one talker and one held member (decoded off the tick, as
  // kPlayPrompt's sender does), playing out (~700 ms) within the measured ticks.
  const auto first = MohRegistry::global().clips("tone:first");
  ASSERT_TRUE(c.play_prompt(3, first));
  ASSERT_TRUE(c.play_prompt(10, first));
  const uint64_t before = rtp::alloc::count();
  c.play_notice(notice);
  for (; tick < 130; ++tick) {
    feed(c, tick);
    c.tick(tick);
    tap.capture(c, tick);
    other.capture(c, tick);
    // Drain only half the time: the rings fill and drop as well.
    if (tick % 2 == 0) {
      while (buffer->pop(drained)) {
      }
    }
  }
  EXPECT_EQ(rtp::alloc::count() - before, 0u);
  // The tap did real work: frames queued, and dropped once the ring was full.
  EXPECT_GE(buffer->lane(0).frames_pushed(), 100u * 21u / 2u);
  EXPECT_GT(buffer->lane(0).frames_dropped(), 0u);
  EXPECT_GE(buffer->lane(1).frames_pushed(), 100u * 20u / 2u);
  EXPECT_GT(buffer->lane(1).frames_dropped(), 0u);
  EXPECT_FALSE(c.prompting(*c.index_of(3)));  // it played out within the window
}

TEST(AllocTick, CounterSeesAllocations) {
  // The counter works in this binary (a test that cannot fail is a defect).
  const uint64_t before = rtp::alloc::count();
  auto* p = new int(3);
  rtp::alloc::escape(p);  // else a Release build may omit the pair
  delete p;
  EXPECT_EQ(rtp::alloc::count() - before, 1u);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
