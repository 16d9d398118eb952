// The N-1 mix on real signals: each participant says its own tone and
// Goertzel energies tell who hears whom (STYLE.md §9).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <numbers>

#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

using testing::ConferenceHarness;
using testing::kHeard;
using testing::kNotHeard;

TEST(Conference, EveryListenerHearsEveryOtherTalkerButNeverItself) {
  ConferenceHarness h(testing::config(5));
  const double freqs[] = {400, 600, 800, 1000, 1200};
  for (ParticipantId id = 1; id <= 5; ++id) h.add(id, freqs[id - 1]);
  h.run(30);
  for (ParticipantId listener = 1; listener <= 5; ++listener) {
    SCOPED_TRACE(listener);
    for (ParticipantId speaker = 1; speaker <= 5; ++speaker) {
      if (speaker == listener) {
        EXPECT_LT(h.hears(listener, speaker), kNotHeard);
      } else {
        EXPECT_GT(h.hears(listener, speaker), kHeard);
      }
    }
  }
}

TEST(Conference, SilentListenersShareTheBusAndTalkersGetTheirOwnMix) {
  ConferenceHarness h(testing::config(3));
  for (ParticipantId id = 1; id <= 6; ++id) h.add(id, 300.0 + 200.0 * static_cast<double>(id));
  for (ParticipantId id = 3; id <= 6; ++id) h.set_speaking(id, false);
  h.run(30);
  const Conference& c = h.conference;
  EXPECT_FALSE(c.shares_encoder(*c.index_of(1)));
  EXPECT_FALSE(c.shares_encoder(*c.index_of(2)));
  for (ParticipantId id = 3; id <= 6; ++id) {
    EXPECT_TRUE(c.shares_encoder(*c.index_of(id)));
    EXPECT_GT(h.hears(id, 1), kHeard);
    EXPECT_GT(h.hears(id, 2), kHeard);
  }
  EXPECT_GT(h.hears(1, 2), kHeard);
  EXPECT_LT(h.hears(1, 1), kNotHeard);
  EXPECT_GT(h.hears(2, 1), kHeard);
  EXPECT_LT(h.hears(2, 2), kNotHeard);
}

TEST(Conference, OnlyTheKLoudestOfSixTalkersAreMixed) {
  ConferenceHarness h(testing::config(3));
  // Six talkers at clearly different levels; 7 listens.
  const double amplitude[] = {1000, 8000, 1500, 6000, 2000, 4000};
  for (ParticipantId id = 1; id <= 6; ++id) {
    h.add(id, 300.0 + 200.0 * static_cast<double>(id), {}, testing::pcmu(), amplitude[id - 1]);
  }
  h.add(7, 3000);
  h.set_speaking(7, false);
  h.run(40);
  // Loudest: 2 (8000), 4 (6000), 6 (4000).
  for (ParticipantId loud : {2, 4, 6}) {
    EXPECT_GT(h.hears(7, loud), 2000.0) << loud;
  }
  for (ParticipantId quiet : {1, 3, 5}) {
    EXPECT_LT(h.hears(7, quiet), kNotHeard) << quiet;
  }
  const Conference& c = h.conference;
  for (ParticipantId id = 1; id <= 6; ++id) {
    EXPECT_EQ(c.mixed(*c.index_of(id)), id % 2 == 0) << id;
  }
}

// The largest second difference |x[i+1] - 2x[i] + x[i-1]|: a sine of
// amplitude A at f has at most A*(2*pi*f/fs)^2, while a discontinuity in the
// signal or its slope (a click) shows as far more.
int max_step(const std::vector<int16_t>& pcm) {
  int step = 0;
  for (size_t i = 1; i + 1 < pcm.size(); ++i) {
    step = std::max(step, std::abs(pcm[i + 1] - 2 * pcm[i] + pcm[i - 1]));
  }
  return step;
}

// A*(2*pi*f/fs)^2 summed over tones.
double natural_curvature(std::initializer_list<std::pair<double, double>> tones, double rate) {
  double sum = 0;
  for (const auto& [f, a] : tones) {
    const double w = 2.0 * std::numbers::pi * f / rate;
    sum += a * w * w;
  }
  return sum;
}

// K = 1: talker 1 holds the slot until talker 2 gets much louder; then 2
// ramps in and 1 ramps out while both keep talking, so any click in what
// listener 3 hears is the mixer's. Returns the largest sample step.
int switch_talkers(int ramp_ms) {
  ConferenceHarness h(testing::config(1, ramp_ms));
  h.add(1, 200, {}, testing::pcmu(), 12000);
  h.add(2, 250, {}, testing::pcmu(), 2000);
  h.add(3, 3000);
  h.set_speaking(3, false);
  h.run(20, 0);
  EXPECT_TRUE(h.conference.mixed(0));
  std::vector<int16_t> all;
  h.set_amplitude(2, 24000);
  for (int t = 0; t < 20; ++t) {
    h.step(true);
    const auto& pcm = h.recorded(3);
    all.insert(all.end(), pcm.end() - 160, pcm.end());
  }
  EXPECT_TRUE(h.conference.mixed(1));   // 2 is in
  EXPECT_FALSE(h.conference.mixed(0));  // 1 is out
  return max_step(all);
}

TEST(Conference, TalkersEnterAndLeaveWithoutClicks) {
  // The natural slope of the two tones bounds any honest step.
  const double natural = natural_curvature({{200.0, 12000}, {250.0, 24000}}, 8000);
  const int ramped = switch_talkers(8);
  EXPECT_LT(ramped, static_cast<int>(natural * 1.1));
  // Without a ramp the same switch steps by thousands: the measure can fail.
  const int abrupt = switch_talkers(0);
  EXPECT_GT(abrupt, static_cast<int>(natural * 1.2));
}

TEST(Conference, AMutedTalkerFadesOutInsteadOfCuttingOff) {
  ConferenceHarness h(testing::config(3, 8));
  h.add(1, 200, {}, testing::pcmu(), 12000);
  h.add(2, 3000);
  h.set_speaking(2, false);
  h.run(10, 0);
  ParticipantSettings muted;
  muted.muted = true;
  std::vector<int16_t> all;
  for (int t = 0; t < 6; ++t) {
    if (t == 3) {
      ASSERT_TRUE(h.conference.update(1, muted));
    }
    h.step(true);
    const auto& pcm = h.recorded(2);
    all.insert(all.end(), pcm.end() - 160, pcm.end());
  }
  const double natural = natural_curvature({{200.0, 12000}}, 8000);
  EXPECT_LT(max_step(all), static_cast<int>(natural * 1.3));
  // And it is gone afterwards.
  h.run(10);
  EXPECT_LT(h.hears(2, 1), 1.0);
}

TEST(Conference, RateIsTheHighestAnyMemberNeeds) {
  Conference c;
  ASSERT_TRUE(c.add(1, default_params(CodecId::kPcmu)));
  ASSERT_TRUE(c.add(2, default_params(CodecId::kPcma)));
  EXPECT_EQ(c.rate(), 8000);  // an all-G.711 room never resamples
  ASSERT_TRUE(c.add(3, default_params(CodecId::kG722)));
  EXPECT_EQ(c.rate(), 16000);
  ASSERT_TRUE(c.add(4, default_params(CodecId::kOpus)));
  EXPECT_EQ(c.rate(), 48000);
  ASSERT_TRUE(c.remove(4));
  EXPECT_EQ(c.rate(), 16000);
  ASSERT_TRUE(c.remove(3));
  EXPECT_EQ(c.rate(), 8000);
}

TEST(Conference, MixedRatesStillGiveEveryoneTheOthers) {
  ConferenceHarness h(testing::config(3));
  h.add(1, 500, {}, default_params(CodecId::kPcmu));
  h.add(2, 700, {}, default_params(CodecId::kG722));
  h.add(3, 900, {}, default_params(CodecId::kOpus));
  ASSERT_EQ(h.conference.rate(), 48000);
  h.run(30);
  EXPECT_GT(h.hears(1, 2), kHeard);
  EXPECT_GT(h.hears(1, 3), kHeard);
  EXPECT_LT(h.hears(1, 1), kNotHeard);
  EXPECT_GT(h.hears(3, 1), kHeard);
  EXPECT_GT(h.hears(3, 2), kHeard);
  EXPECT_LT(h.hears(3, 3), kNotHeard);
  for (size_t i = 0; i < h.conference.size(); ++i) EXPECT_FALSE(h.conference.payload(i).empty());
}

TEST(Conference, ReportsTalkersStartingAndStopping) {
  ConferenceHarness h;
  h.add(1, 500);
  h.add(2, 700);
  h.set_speaking(2, false);
  bool started = false;
  for (int t = 0; t < 5 && !started; ++t) {
    h.step(false);
    for (const auto& e : h.conference.events()) {
      if (e.id == 1 && e.kind == ConferenceEvent::Kind::kStartedTalking) started = true;
      EXPECT_NE(e.id, 2u);
    }
  }
  EXPECT_TRUE(started);
  h.set_speaking(1, false);
  bool stopped = false;
  for (int t = 0; t < 60 && !stopped; ++t) {
    h.step(false);
    for (const auto& e : h.conference.events()) {
      if (e.id == 1 && e.kind == ConferenceEvent::Kind::kStoppedTalking) stopped = true;
    }
  }
  EXPECT_TRUE(stopped);
}

TEST(Conference, RejectsDuplicateAndUnknownIds) {
  Conference c;
  EXPECT_TRUE(c.add(7, default_params(CodecId::kPcmu)));
  EXPECT_FALSE(c.add(7, default_params(CodecId::kPcma)));
  EXPECT_FALSE(c.remove(8));
  EXPECT_FALSE(c.update(8, {}));
  CodecParams bad = default_params(CodecId::kOpus);
  bad.sample_rate = 44100;  // Opus cannot
  EXPECT_FALSE(c.add(9, bad));
  EXPECT_EQ(c.size(), 1u);
}

TEST(Conference, AWrongSizedInputFrameIsTakenAsSilence) {
  ConferenceHarness h;
  h.add(1, 500);
  h.add(2, 700);
  h.set_speaking(2, false);
  for (int t = 0; t < 20; ++t) {
    Frame& f = h.conference.input_slot(0);
    f.set_silence(8000);
    f.samples = 7;  // not a 20 ms frame
    h.conference.tick(static_cast<uint64_t>(t));
  }
  EXPECT_EQ(h.conference.output(1).pcm().size(), 160u);
  for (int16_t s : h.conference.output(1).pcm()) EXPECT_EQ(s, 0);
}

TEST(Conference, RemovingAMemberKeepsTheOthersMixing) {
  ConferenceHarness h(testing::config(5));
  for (ParticipantId id = 1; id <= 4; ++id) h.add(id, 300.0 + 200.0 * static_cast<double>(id));
  h.run(20);
  h.remove(2);
  h.run(20);
  EXPECT_GT(h.hears(1, 3), kHeard);
  EXPECT_GT(h.hears(4, 1), kHeard);
  EXPECT_LT(h.heard(1, h.freq(1)), kNotHeard);
  EXPECT_LT(h.heard(4, 700.0), kNotHeard);  // 2's tone is gone
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
