// Rooms are created by their first member and forgotten with their last.
#include "focus/rooms/conference_registry.hpp"

#include <gtest/gtest.h>

namespace chorus::focus {
namespace {

TEST(ConferenceRegistry, RoomLivesFromFirstJoinToLastLeave) {
  ConferenceRegistry registry;
  const mixer::ConferenceId a = registry.join("a");
  EXPECT_EQ(registry.join("a"), a);
  const mixer::ConferenceId b = registry.join("b");
  EXPECT_NE(a, b);
  EXPECT_EQ(registry.rooms(), 2u);
  EXPECT_EQ(registry.members("a"), 2u);
  EXPECT_FALSE(registry.leave("a"));
  EXPECT_TRUE(registry.leave("a"));
  EXPECT_FALSE(registry.find("a").has_value());
  EXPECT_EQ(registry.members("a"), 0u);
  EXPECT_EQ(registry.find("b"), b);
  // A room that comes back is a new conference, never the old id.
  EXPECT_NE(registry.join("a"), a);
}

TEST(ConferenceRegistry, LeavingAnUnknownRoomChangesNothing) {
  ConferenceRegistry registry;
  EXPECT_FALSE(registry.leave("nowhere"));
  EXPECT_EQ(registry.rooms(), 0u);
  registry.join("x");
  EXPECT_FALSE(registry.leave("y"));
  EXPECT_EQ(registry.members("x"), 1u);
}

TEST(ConferenceRegistry, ParticipantIdsAreUnique) {
  ConferenceRegistry registry;
  const mixer::ParticipantId first = registry.next_participant();
  EXPECT_NE(registry.next_participant(), first);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
