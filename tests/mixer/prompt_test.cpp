// Announcements (issue #17): a prompt plays once to one member only, over
// what it hears of the room, or instead of music when it is alone; a notice
// tone (join/leave) reaches the whole room.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "mixer/moh_source.hpp"
#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

using testing::ConferenceHarness;
using testing::kHeard;
using testing::kNotHeard;

// "tone:first" plays C5, E5 and G5 for 160 ms each, 40 ms apart.
constexpr double kC5 = 523.25;
constexpr double kE5 = 659.25;
constexpr double kG5 = 783.99;

std::shared_ptr<const MusicClips> prompt(const std::string& name) {
  return MohRegistry::global().clips(name);
}

// The first ~200 ms hold the first note only; the next 200 ms the second.
TEST(Prompt, PlaysOnceToItsMemberOnlyAndThenStops) {
  ConferenceHarness h(testing::config(3));
  h.add(1, 1000);
  h.add(2, 1300);
  h.add(3, 1700);
  h.run(20, 0);  // talkers settle
  ASSERT_TRUE(h.conference.play_prompt(2, prompt("tone:first")));
  h.run(8, 8);  // 160 ms: the first note
  EXPECT_GT(h.heard(2, kC5), kHeard);
  EXPECT_LT(h.heard(2, kE5), kNotHeard);
  EXPECT_LT(h.heard(1, kC5), kNotHeard);  // nobody else hears it
  EXPECT_LT(h.heard(3, kC5), kNotHeard);
  // The prompt lies over the room: member 2 still hears the others.
  EXPECT_GT(h.hears(2, 1), kHeard);
  EXPECT_GT(h.hears(2, 3), kHeard);
  // And the room still hears member 2.
  EXPECT_GT(h.hears(1, 2), kHeard);
  h.run(10, 8);  // 200..360 ms: the second note
  EXPECT_GT(h.heard(2, kE5), kHeard);
  EXPECT_LT(h.heard(2, kC5), kNotHeard);
  h.run(10, 8);  // the third note
  EXPECT_GT(h.heard(2, kG5), kHeard);
  ASSERT_TRUE(h.conference.prompting(*h.conference.index_of(2)));
  h.run(20, 10);  // long past its end (~700 ms in all)
  EXPECT_FALSE(h.conference.prompting(*h.conference.index_of(2)));
  EXPECT_LT(h.heard(2, kC5), kNotHeard);
  EXPECT_LT(h.heard(2, kE5), kNotHeard);
  EXPECT_LT(h.heard(2, kG5), kNotHeard);
  EXPECT_GT(h.hears(2, 1), kHeard);
}

TEST(Prompt, ReplacesMusicForAMemberAloneAndTheMusicComesBack) {
  ConferenceHarness h(testing::config(3));
  h.add(1, 1000);
  h.set_speaking(1, false);
  h.run(10, 10);
  ASSERT_GT(rms(h.recorded(1)), 300.0);                            // the music
  ASSERT_TRUE(h.conference.play_prompt(1, prompt("tone:muted")));  // G5 then C5
  h.run(8, 8);
  EXPECT_GT(h.heard(1, kG5), kHeard);
  // Nothing but the note: the music is off while the prompt plays.
  const std::vector<int16_t>& pcm = h.recorded(1);
  const double note = h.heard(1, kG5);
  EXPECT_NEAR(rms(pcm) * std::sqrt(2.0), note, 0.25 * note);
  h.run(40, 10);
  EXPECT_LT(h.heard(1, kG5), kNotHeard);
  EXPECT_GT(rms(h.recorded(1)), 300.0);  // music again
}

TEST(Prompt, DeafOrInactiveHeldMembersHearNothing) {
  ConferenceHarness h(testing::config(3));
  ParticipantSettings deaf;
  deaf.deaf = true;
  h.add(1, 1000);
  h.add(2, 1300, deaf);
  h.run(10, 0);
  ASSERT_TRUE(h.conference.play_prompt(2, prompt("tone:first")));
  h.run(8, 8);
  for (int16_t s : h.recorded(2)) ASSERT_EQ(s, 0);
}

TEST(Prompt, FollowsARateChangeWithoutRestarting) {
  ConferenceHarness h(testing::config(3));
  h.add(1, 1000);
  h.add(2, 1300);
  h.run(10, 0);
  ASSERT_EQ(h.conference.rate(), 8000);
  ASSERT_TRUE(h.conference.play_prompt(1, prompt("tone:first")));
  h.run(10, 0);  // 200 ms: into the second note
  // A wideband member raises the room to 16 kHz mid-prompt.
  h.add(3, 1700, {}, default_params(CodecId::kG722));
  ASSERT_EQ(h.conference.rate(), 16000);
  h.run(8, 8);
  EXPECT_GT(h.heard(1, kE5), kHeard);     // went on where it was
  EXPECT_LT(h.heard(1, kC5), kNotHeard);  // did not start over
}

TEST(Prompt, UnknownMemberOrToneIsRefused) {
  ConferenceHarness h(testing::config(3));
  h.add(1, 1000);
  EXPECT_FALSE(h.conference.play_prompt(7, prompt("tone:first")));
  EXPECT_FALSE(h.conference.play_prompt(1, nullptr));
  EXPECT_THROW(prompt("tone:nonsense"), std::invalid_argument);
}

TEST(Notice, AJoinToneReachesEveryListenerOfTheRoom) {
  ConferenceHarness h(testing::config(3));
  h.add(1, 1000);
  h.add(2, 1300);
  h.add(3, 1700);
  h.set_speaking(3, false);
  h.run(10, 0);
  NoticeTone join;
  join.beeps = 2;
  join.frequency_hz = 880.0;
  join.beep_ms = 80;
  join.gap_ms = 60;
  h.conference.play_notice(join);
  h.run(4, 4);
  for (ParticipantId id : {1, 2, 3}) EXPECT_GT(h.heard(id, 880.0), kHeard) << id;
  h.run(20, 10);
  for (ParticipantId id : {1, 2, 3}) EXPECT_LT(h.heard(id, 880.0), kNotHeard) << id;
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
