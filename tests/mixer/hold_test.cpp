// Hold and alone-in-room music on hold (ARCHITECTURE.md "Roles and
// relations"): the music is one shared source, encoded once per codec, and
// never mixed into what the others hear.
#include <gtest/gtest.h>

#include <algorithm>

#include "mixer/moh_source.hpp"
#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

using testing::ConferenceHarness;
using testing::kHeard;
using testing::kNotHeard;

ParticipantSettings on_hold(HoldMode mode) {
  ParticipantSettings s;
  s.hold = mode;
  return s;
}

// The built-in tune at 8 kHz from its start, as a listener on hold hears it.
std::vector<int16_t> tune_from_start(size_t samples) {
  MohSource source(MohRegistry::global().clip("", 8000));
  std::vector<int16_t> out;
  Frame f;
  while (out.size() < samples) {
    source.next_frame(f);
    out.insert(out.end(), f.pcm().begin(), f.pcm().end());
  }
  out.resize(samples);
  return out;
}

TEST(Hold, HeldParticipantHearsMusicAndIsHeardByNobody) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);
  h.add(2, 700);
  h.add(3, 900, on_hold(HoldMode::kMusic));
  h.run(25, 25);
  EXPECT_LT(h.hears(1, 3), kNotHeard);
  EXPECT_LT(h.hears(2, 3), kNotHeard);
  // Exactly the tune from its start, with nobody's voice in it.
  const auto& heard = h.recorded(3);
  EXPECT_EQ(heard, tune_from_start(heard.size()));
  EXPECT_GT(rms(heard), 300.0);
}

TEST(Hold, MusicIsNeverMixedIntoWhatOthersHear) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);
  h.add(2, 700);
  h.add(3, 900, on_hold(HoldMode::kMusic));
  h.set_speaking(1, false);
  h.set_speaking(2, false);
  h.run(25, 10);
  for (ParticipantId l : {1, 2}) {
    for (int16_t s : h.recorded(l)) ASSERT_EQ(s, 0) << l;
  }
}

TEST(Hold, InactiveHoldHearsSilence) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);
  h.add(2, 700);
  h.add(3, 900, on_hold(HoldMode::kInactive));
  h.run(25);
  for (int16_t s : h.recorded(3)) ASSERT_EQ(s, 0);
  EXPECT_LT(h.hears(1, 3), kNotHeard);
}

TEST(Hold, ResumingRejoinsTheMix) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);
  h.add(2, 700, on_hold(HoldMode::kMusic));
  h.add(3, 900);
  h.run(20);
  EXPECT_LT(h.hears(1, 2), kNotHeard);
  ASSERT_TRUE(h.conference.update(2, {}));
  h.run(20);
  EXPECT_GT(h.hears(1, 2), kHeard);
  EXPECT_GT(h.hears(2, 1), kHeard);
}

TEST(Hold, HeldListenersWithTheSameCodecShareOneMusicEncode) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);
  for (ParticipantId id = 2; id <= 6; ++id)
    h.add(id, 300.0 + 200.0 * id, on_hold(HoldMode::kMusic));
  h.run(5, 0);
  const uint64_t shared_before = h.conference.stats().shared_encodes;
  const uint64_t private_before = h.conference.stats().private_encodes;
  h.step(false);
  // One music encode for the five held PCMU listeners. (Held members count
  // as present, so 1 is not alone; it talks, so it has its own mix.)
  const Conference& c = h.conference;
  for (ParticipantId id = 3; id <= 6; ++id) {
    const auto a = c.payload(*c.index_of(2));
    const auto b = c.payload(*c.index_of(id));
    ASSERT_EQ(a.data(), b.data());  // the very same bytes
  }
  EXPECT_EQ(c.stats().shared_encodes - shared_before, 1u);
  EXPECT_EQ(c.stats().private_encodes - private_before, 1u);
}

TEST(Hold, AloneInTheRoomHearsMusicUntilASecondMemberArrives) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);
  h.run(10, 10);
  EXPECT_EQ(h.recorded(1), tune_from_start(h.recorded(1).size()));
  // A monitor is invisible: still alone.
  ParticipantSettings monitor;
  monitor.role = Role::kMonitor;
  h.add(9, 1500, monitor);
  h.run(10, 10);
  EXPECT_GT(rms(h.recorded(1)), 300.0);
  EXPECT_LT(h.hears(1, 9), kNotHeard);
  EXPECT_GT(h.hears(9, 1), kHeard);  // the monitor hears the member, not the music
  // A second member: the music stops, they hear each other.
  h.add(2, 700);
  h.run(20, 10);
  EXPECT_GT(h.hears(1, 2), kHeard);
  EXPECT_GT(h.hears(2, 1), kHeard);
  h.set_speaking(2, false);
  h.run(40, 10);
  for (int16_t s : h.recorded(1)) ASSERT_EQ(s, 0);  // no music once not alone
  // The other leaves: music again.
  h.remove(2);
  h.run(5, 5);
  EXPECT_GT(rms(h.recorded(1)), 300.0);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
