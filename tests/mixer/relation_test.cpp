// Roles and relations (ARCHITECTURE.md table), each asserted on real tones.
#include <gtest/gtest.h>

#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

using testing::ConferenceHarness;
using testing::kHeard;
using testing::kNotHeard;

ParticipantSettings with_role(Role role) {
  ParticipantSettings s;
  s.role = role;
  return s;
}

// 1..3 ordinary participants; extra members added by each test.
void add_room(ConferenceHarness& h) {
  h.add(1, 500);
  h.add(2, 700);
  h.add(3, 900);
}

TEST(Relations, MutedIsHeardByNobodyButHearsEveryone) {
  ConferenceHarness h(testing::config(5));
  add_room(h);
  ParticipantSettings muted;
  muted.muted = true;
  h.add(4, 1100, muted);
  h.run(30);
  for (ParticipantId l : {1, 2, 3}) EXPECT_LT(h.hears(l, 4), kNotHeard) << l;
  for (ParticipantId s : {1, 2, 3}) EXPECT_GT(h.hears(4, s), kHeard) << s;
}

TEST(Relations, DeafHearsNothingButIsHeard) {
  ConferenceHarness h(testing::config(5));
  add_room(h);
  ParticipantSettings deaf;
  deaf.deaf = true;
  h.add(4, 1100, deaf);
  h.run(30);
  for (ParticipantId l : {1, 2, 3}) EXPECT_GT(h.hears(l, 4), kHeard) << l;
  for (int16_t s : h.recorded(4)) ASSERT_EQ(s, 0);
}

TEST(Relations, MonitorHearsAllAndIsHeardByNobody) {
  ConferenceHarness h(testing::config(5));
  add_room(h);
  h.add(4, 1100, with_role(Role::kMonitor));
  h.run(30);
  for (ParticipantId l : {1, 2, 3}) EXPECT_LT(h.hears(l, 4), kNotHeard) << l;
  for (ParticipantId s : {1, 2, 3}) EXPECT_GT(h.hears(4, s), kHeard) << s;
  // Hearing everyone and saying nothing to anyone: it shares the bus encode.
  EXPECT_TRUE(h.conference.shares_encoder(*h.conference.index_of(4)));
}

TEST(Relations, WhisperIsHeardOnlyByItsTargetAndTheWhispererHearsAll) {
  ConferenceHarness h(testing::config(5));
  add_room(h);
  ParticipantSettings whisper = with_role(Role::kWhisper);
  whisper.whisper_targets = {2};
  h.add(4, 1100, whisper);
  h.run(30);
  EXPECT_GT(h.hears(2, 4), kHeard);
  EXPECT_LT(h.hears(1, 4), kNotHeard);
  EXPECT_LT(h.hears(3, 4), kNotHeard);
  for (ParticipantId s : {1, 2, 3}) EXPECT_GT(h.hears(4, s), kHeard) << s;
  // The target still hears the others, and not itself.
  EXPECT_GT(h.hears(2, 1), kHeard);
  EXPECT_LT(h.hears(2, 2), kNotHeard);
}

TEST(Relations, WhisperReachesSeveralTargetsAndOnlyThem) {
  ConferenceHarness h(testing::config(5));
  add_room(h);
  h.add(5, 1300);
  ParticipantSettings whisper = with_role(Role::kWhisper);
  whisper.whisper_targets = {1, 3, 99 /* unknown: ignored */, 4 /* itself: ignored */};
  h.add(4, 1100, whisper);
  h.run(30);
  EXPECT_GT(h.hears(1, 4), kHeard);
  EXPECT_GT(h.hears(3, 4), kHeard);
  EXPECT_LT(h.hears(2, 4), kNotHeard);
  EXPECT_LT(h.hears(5, 4), kNotHeard);
  EXPECT_LT(h.hears(4, 4), kNotHeard);
}

TEST(Relations, WhisperTargetSilentStillGetsItsOwnMix) {
  // A silent listener would share the bus encode; a whisper makes its mix
  // different, so it must get its own encode while the others share.
  ConferenceHarness h(testing::config(5));
  add_room(h);
  h.set_speaking(2, false);
  h.set_speaking(3, false);
  ParticipantSettings whisper = with_role(Role::kWhisper);
  whisper.whisper_targets = {3};
  h.add(4, 1100, whisper);
  h.run(30);
  const Conference& c = h.conference;
  EXPECT_FALSE(c.shares_encoder(*c.index_of(3)));
  EXPECT_TRUE(c.shares_encoder(*c.index_of(2)));
  EXPECT_GT(h.hears(3, 4), kHeard);
  EXPECT_LT(h.hears(2, 4), kNotHeard);
}

TEST(Relations, BargeInIsHeardByAllEvenWhenTheMixIsFull) {
  ConferenceHarness h(testing::config(2));
  add_room(h);  // three talkers compete for two slots
  h.add(4, 1100, with_role(Role::kBarge), testing::pcmu(), 1500 /* quieter than all */);
  h.run(30);
  for (ParticipantId l : {1, 2, 3}) EXPECT_GT(h.hears(l, 4), 1000.0) << l;
  EXPECT_LT(h.hears(4, 4), kNotHeard);
}

TEST(Relations, RoleChangesApplyAtTheNextTick) {
  ConferenceHarness h(testing::config(5));
  add_room(h);
  h.add(4, 1100, with_role(Role::kMonitor));
  h.run(20);
  EXPECT_LT(h.hears(1, 4), kNotHeard);
  ASSERT_TRUE(h.conference.update(4, with_role(Role::kBarge)));
  h.run(20);
  EXPECT_GT(h.hears(1, 4), kHeard);
  ASSERT_TRUE(h.conference.update(4, with_role(Role::kMonitor)));
  h.run(20);
  EXPECT_LT(h.hears(1, 4), kNotHeard);
}

TEST(Relations, GainsScaleWhatIsSaidAndWhatIsHeard) {
  ConferenceHarness h(testing::config(5));
  add_room(h);
  h.run(20);
  const double before = h.hears(2, 1);
  ParticipantSettings quieter;
  quieter.input_gain = 0.5F;
  ASSERT_TRUE(h.conference.update(1, quieter));
  h.run(20);
  EXPECT_NEAR(h.hears(2, 1), before * 0.5, before * 0.05);
  ParticipantSettings louder_ears;
  louder_ears.output_gain = 2.0F;
  ASSERT_TRUE(h.conference.update(3, louder_ears));
  h.run(20);
  EXPECT_NEAR(h.hears(3, 2), h.hears(1, 2) * 2.0, h.hears(1, 2) * 0.1);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
