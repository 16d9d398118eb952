// Sidebars (issue #17): a sub-conversation of a room whose members hear
// each other at full level and the main room lower (-12 dB by default),
// and whom the main room does not hear unless the sidebar whispers into it.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

using testing::ConferenceHarness;
using testing::kHeard;
using testing::kNotHeard;

ParticipantSettings in_sidebar(uint32_t sidebar, bool whisper_main = false) {
  ParticipantSettings s;
  s.sidebar = sidebar;
  s.sidebar_whisper_main = whisper_main;
  return s;
}

double db(double ratio) {
  return 20.0 * std::log10(ratio);
}

TEST(Sidebar, MembersHearEachOtherFullyAndTheMainRoomTwelveDbLower) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);  // main room
  h.add(2, 800);  // main room
  h.add(3, 1100, in_sidebar(7));
  h.add(4, 1400, in_sidebar(7));
  h.set_speaking(2, false);
  h.run(40, 20);
  EXPECT_EQ(h.conference.sidebars(), 1u);
  // Inside the sidebar: each other at the level the main room hears a talker.
  const double full = h.hears(2, 1);
  EXPECT_GT(full, kHeard);
  EXPECT_NEAR(h.hears(3, 4), full, 0.1 * full);
  EXPECT_NEAR(h.hears(4, 3), full, 0.1 * full);
  // The main room, about 12 dB lower.
  EXPECT_NEAR(db(h.hears(3, 1) / full), -12.0, 1.0);
  EXPECT_NEAR(db(h.hears(4, 1) / full), -12.0, 1.0);
  // The main room does not hear them; nobody hears itself.
  for (ParticipantId listener : {1, 2}) {
    EXPECT_LT(h.hears(listener, 3), kNotHeard) << listener;
    EXPECT_LT(h.hears(listener, 4), kNotHeard) << listener;
  }
  EXPECT_LT(h.hears(3, 3), kNotHeard);
  EXPECT_LT(h.hears(1, 1), kNotHeard);
}

TEST(Sidebar, ASidebarMayWhisperIntoTheMainRoomAndIsHeardOnce) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);
  h.add(2, 800);
  h.add(3, 1100, in_sidebar(7, /*whisper_main=*/true));
  h.add(4, 1400, in_sidebar(7, /*whisper_main=*/true));
  h.set_speaking(2, false);
  h.run(40, 20);
  const double full = h.hears(2, 1);
  EXPECT_NEAR(h.hears(2, 3), full, 0.1 * full);  // the main room hears them now
  // Inside, the partner is heard once, at full level (not full + -12 dB).
  EXPECT_NEAR(h.hears(3, 4), full, 0.1 * full);
  EXPECT_NEAR(db(h.hears(3, 1) / full), -12.0, 1.0);
}

TEST(Sidebar, TwoSidebarsDoNotHearEachOtherAndLeavingRejoinsTheRoom) {
  ConferenceHarness h(testing::config(5));
  h.add(1, 500);
  h.add(2, 800, in_sidebar(1));
  h.add(3, 1100, in_sidebar(1));
  h.add(4, 1400, in_sidebar(2));
  h.add(5, 1700, in_sidebar(2));
  h.run(40, 20);
  EXPECT_EQ(h.conference.sidebars(), 2u);
  EXPECT_GT(h.hears(2, 3), kHeard);
  EXPECT_GT(h.hears(4, 5), kHeard);
  EXPECT_LT(h.hears(2, 4), kNotHeard);
  EXPECT_LT(h.hears(4, 2), kNotHeard);
  EXPECT_LT(h.hears(1, 2), kNotHeard);
  // Dissolve sidebar 2: its members are back in the main room.
  ASSERT_TRUE(h.conference.update(4, {}));
  ASSERT_TRUE(h.conference.update(5, {}));
  EXPECT_EQ(h.conference.sidebars(), 1u);
  h.run(40, 20);
  EXPECT_GT(h.hears(1, 4), kHeard);
  EXPECT_GT(h.hears(4, 1), kHeard);
  EXPECT_LT(h.hears(4, 2), kNotHeard);  // sidebar 1 stays private
  EXPECT_GT(h.hears(2, 3), kHeard);
}

TEST(Sidebar, ASidebarChoosesItsOwnTalkersBesidesTheMainRoomsTopK) {
  // top_k = 2 and two loud main-room talkers: the sidebar's talker must
  // still reach its partner.
  ConferenceHarness h(testing::config(2));
  h.add(1, 500, {}, testing::pcmu(), 9000.0);
  h.add(2, 800, {}, testing::pcmu(), 9000.0);
  h.add(3, 1100, in_sidebar(4), testing::pcmu(), 3000.0);
  h.add(4, 1400, in_sidebar(4));
  h.set_speaking(4, false);
  h.run(40, 20);
  EXPECT_GT(h.hears(4, 3), kHeard / 2);
  EXPECT_GT(h.hears(3, 1), kNotHeard);  // and hears the main room, lower
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
