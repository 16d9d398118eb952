// Issue #17 "Announcements" end to end on 127.0.0.1: an in-process focus with
// its real media engine; callers send their own tones and the test listens
// (Goertzel) for what [announcements] plays: the first-participant prompt
// to the first member only, the join tone to the room, the muted prompt to
// the muted member only, the leave tone to those who stay; a room can turn
// them off.
#include <sndfile.h>

#include <filesystem>

#include "tests/focus/e2e_support.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

// The built-in figures (mixer/moh_source.hpp): "tone:first" C5 E5 G5,
// "tone:muted" G5 C5; the join tone 880 Hz, the leave tone 440 Hz.
constexpr double kC5 = 523.25;
constexpr double kE5 = 659.25;
constexpr double kG5 = 783.99;
constexpr double kJoin = 880.0;
constexpr double kLeave = 440.0;
// A tone that plays for a few hundred ms of a ~1 s window reads well above
// this; none reads below 40 (callers' own tones are far from these notes).
constexpr double kPlayed = 250.0;
constexpr double kQuiet = 60.0;

class AnnouncementsE2eTest : public FocusE2e {
 protected:
  // Music on hold of one 250 Hz tone, so that what a lone member hears
  // besides a prompt is known (the built-in tune has the prompts' notes).
  AnnouncementsE2eTest()
      : music_(std::filesystem::path(::testing::TempDir()) /
               ("chorus-ann-music-" + std::to_string(::getpid()) + ".wav")) {
    SF_INFO info{};
    info.samplerate = 8000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open(music_.c_str(), SFM_WRITE, &info);
    EXPECT_NE(f, nullptr);
    std::vector<int16_t> pcm(8000);  // 1 s, a whole number of periods
    for (size_t i = 0; i < pcm.size(); ++i) {
      pcm[i] = static_cast<int16_t>(
          6000.0 * std::sin(2.0 * std::numbers::pi * 250.0 * static_cast<double>(i) / 8000.0));
    }
    if (f != nullptr) {
      sf_write_short(f, pcm.data(), static_cast<sf_count_t>(pcm.size()));
      sf_close(f);
    }
  }
  ~AnnouncementsE2eTest() override {
    server_.reset();
    std::filesystem::remove(music_);
  }
  std::filesystem::path music_;
};

TEST_F(AnnouncementsE2eTest, PromptsReachTheirMemberAndTonesTheRoom) {
  start_server(45500, 45549, 30s, [&](Options& o) {
    o.moh_file = music_.string();
    o.announcements.join_tone = true;
    o.announcements.leave_tone = true;
    o.announcements.first_prompt = "tone:first";
    o.announcements.muted_prompt = "tone:muted";
  });
  Caller a(300, "alice"), b(1200, "bob"), c(1500, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "ann"), 200);
  talk({&a}, 50, 0);  // 1 s: the prompt (~0.7 s) and the music after it
  EXPECT_GT(a.heard(kC5), kPlayed);
  EXPECT_GT(a.heard(kE5), kPlayed);
  EXPECT_GT(a.heard(kG5), kPlayed);
  talk({&a}, 25, 0);  // then only the music
  EXPECT_GT(a.heard(250), kHeard);
  EXPECT_LT(a.heard(kC5), kQuiet);

  // Bob is not the first: no prompt for him; Alice hears him arrive.
  ASSERT_EQ(invite(b, "sendrecv", "ann"), 200);
  talk({&a, &b}, 40, 0);
  EXPECT_GT(a.heard(kJoin), kPlayed);
  EXPECT_LT(b.heard(kC5), kQuiet);
  EXPECT_LT(b.heard(kE5), kQuiet);
  EXPECT_GT(a.heard(1200), kHeard);  // and the call is a call
  EXPECT_GT(b.heard(300), kHeard);
  ASSERT_EQ(invite(c, "sendrecv", "ann"), 200);
  talk({&a, &b, &c}, 30, 0);

  // Muting Bob (admin API, REFER or *6 alike): he hears the muted prompt,
  // the others do not.
  ASSERT_EQ(server_->set_muted("ann", id_of("ann", b), true).status, 200);
  talk({&a, &b, &c}, 40, 0);
  EXPECT_GT(b.heard(kG5), kPlayed);
  EXPECT_GT(b.heard(kC5), kPlayed);
  EXPECT_LT(a.heard(kG5), kQuiet);
  EXPECT_LT(c.heard(kG5), kQuiet);
  EXPECT_LT(a.heard(1200), 150.0);  // muted indeed

  // Carol leaves: the two who stay hear the leave tone.
  EXPECT_EQ(bye(c, "ann"), 200);
  talk({&a, &b}, 40, 0);
  EXPECT_GT(a.heard(kLeave), kPlayed);
  EXPECT_GT(b.heard(kLeave), kPlayed);
}

TEST_F(AnnouncementsE2eTest, ARoomCanTurnThemOffAndTheDefaultIsSilence) {
  start_server(45550, 45599, 30s, [&](Options& o) {
    o.moh_file = music_.string();
    o.announcements.join_tone = true;
    o.announcements.first_prompt = "tone:first";
    RoomPolicy quiet;
    quiet.name = "quiet";
    quiet.join_tone = false;
    quiet.first_prompt = "";
    o.rooms.push_back(quiet);
  });
  Caller a(300, "alice"), b(1200, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "quiet"), 200);
  talk({&a}, 40, 0);
  EXPECT_GT(a.heard(250), kHeard);  // the music, and no prompt
  EXPECT_LT(a.heard(kC5), kQuiet);
  EXPECT_LT(a.heard(kE5), kQuiet);
  ASSERT_EQ(invite(b, "sendrecv", "quiet"), 200);
  talk({&a, &b}, 40, 0);
  EXPECT_LT(a.heard(kJoin), kQuiet);
  EXPECT_GT(a.heard(1200), kHeard);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
