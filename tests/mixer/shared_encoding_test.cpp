// Shared encoding (ARCHITECTURE.md "The hot path" step 5): listeners whose mix
// is identical get the same payload from one encode; moving between a private
// and the shared encoder leaves no audible glitch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/goertzel.hpp"
#include "tests/mixer/conference_harness.hpp"

namespace chorus::mixer {
namespace {

using testing::ConferenceHarness;

TEST(SharedEncoding, SilentListenersGetByteIdenticalPayloadsFromOneEncode) {
  ConferenceHarness h(testing::config(3));
  h.add(1, 500);
  h.add(2, 700);
  for (ParticipantId id = 10; id < 30; ++id) {
    h.add(id, 100.0 + 50.0 * static_cast<double>(id));
    h.set_speaking(id, false);
  }
  h.run(20, 0);
  const auto before = h.conference.stats();
  h.step(false);
  const auto after = h.conference.stats();
  // Two talkers with their own mix, everyone else on one shared encode.
  EXPECT_EQ(after.private_encodes - before.private_encodes, 2u);
  EXPECT_EQ(after.shared_encodes - before.shared_encodes, 1u);
  const Conference& c = h.conference;
  const auto first = c.payload(*c.index_of(10));
  ASSERT_EQ(first.size(), 160u);  // PCMU, 20 ms
  for (ParticipantId id = 11; id < 30; ++id) {
    const auto p = c.payload(*c.index_of(id));
    EXPECT_EQ(p.data(), first.data());
    EXPECT_TRUE(std::equal(p.begin(), p.end(), first.begin(), first.end()));
  }
  // The talkers' payloads differ from the shared one (each misses its own voice).
  const auto t1 = c.payload(*c.index_of(1));
  const auto t2 = c.payload(*c.index_of(2));
  EXPECT_FALSE(std::equal(t1.begin(), t1.end(), first.begin(), first.end()));
  EXPECT_FALSE(std::equal(t1.begin(), t1.end(), t2.begin(), t2.end()));
}

TEST(SharedEncoding, DifferentCodecSettingsDoNotShare) {
  ConferenceHarness h(testing::config(3));
  h.add(1, 500);
  h.add(2, 700, {}, default_params(CodecId::kPcma));
  h.add(3, 900, {}, default_params(CodecId::kPcmu));
  h.add(4, 1100, {}, default_params(CodecId::kPcma));
  ParticipantSettings louder;
  louder.output_gain = 2.0F;
  h.add(5, 1300, louder, default_params(CodecId::kPcmu));
  for (ParticipantId id = 2; id <= 5; ++id) h.set_speaking(id, false);
  h.run(20, 0);
  const auto before = h.conference.stats();
  h.step(false);
  // 1 private; PCMA group (2, 4); PCMU group (3); PCMU at gain 2 (5).
  EXPECT_EQ(h.conference.stats().shared_encodes - before.shared_encodes, 3u);
  const Conference& c = h.conference;
  EXPECT_EQ(c.payload(1).data(), c.payload(3).data());
  EXPECT_NE(c.payload(1).data(), c.payload(2).data());
  EXPECT_NE(c.payload(2).data(), c.payload(4).data());
}

// Groups handed to adopt() are taken when the conference lacks them at its
// rate; otherwise the conference builds its own (and counts them).
TEST(SharedEncoding, AdoptTakesOfferedGroupsItLacks) {
  Conference c(testing::config(3));
  const CodecParams pcmu = default_params(CodecId::kPcmu);
  auto offer = [&](float gain, int rate) {
    PreparedGroups g;
    g.push_back(std::make_unique<SharedEncoder>(SharedEncoder::Source::kBus, pcmu, gain, rate));
    g.push_back(std::make_unique<SharedEncoder>(SharedEncoder::Source::kSilence, pcmu, 1.0F, rate));
    g.push_back(std::make_unique<SharedEncoder>(SharedEncoder::Source::kMusic, pcmu, 1.0F, rate));
    return g;
  };
  PreparedGroups first = offer(1.0F, 8000);
  Participant a = Conference::prepare_member(1, pcmu, 8000);
  ASSERT_TRUE(c.adopt(a, {}, &first));
  EXPECT_EQ(c.stats().groups_adopted, 3u);
  EXPECT_EQ(c.stats().groups_built, 0u);
  EXPECT_TRUE(std::all_of(first.begin(), first.end(), [](const auto& g) { return !g; }));

  // The same groups again: nothing taken, nothing built, the offer intact.
  PreparedGroups same = offer(1.0F, 8000);
  Participant b = Conference::prepare_member(2, pcmu, 8000);
  ASSERT_TRUE(c.adopt(b, {}, &same));
  EXPECT_EQ(c.stats().groups_adopted, 3u);
  EXPECT_EQ(c.stats().groups_built, 0u);
  EXPECT_TRUE(std::all_of(same.begin(), same.end(), [](const auto& g) { return bool(g); }));

  // Built for the wrong rate: not used; without an offer: built here.
  PreparedGroups wrong_rate = offer(2.0F, 48000);
  ParticipantSettings louder;
  louder.output_gain = 2.0F;
  Participant d = Conference::prepare_member(3, pcmu, 8000);
  ASSERT_TRUE(c.adopt(d, louder, &wrong_rate));
  EXPECT_EQ(c.stats().groups_built, 1u);
  ASSERT_TRUE(c.add(4, pcmu, [] {
    ParticipantSettings s;
    s.output_gain = 4.0F;
    return s;
  }()));
  EXPECT_EQ(c.stats().groups_built, 2u);
  EXPECT_EQ(c.shared_groups(), 5u);
}

// Decodes listener 1's Opus stream while it moves between its own encoder
// (when it talks) and the shared one (when it is silent), and measures the
// worst short-term jump in the level of the tone it hears from 2.
struct SwitchResult {
  int switches = 0;
  double worst_ratio = 1.0;  // worst block level / median block level of 2's tone
};

SwitchResult run_switching(bool prime) {
  ConferenceHarness h(testing::config(3));
  const CodecParams opus = default_params(CodecId::kOpus);
  h.add(1, 1500, {}, opus, 8000);
  h.add(2, 440, {}, opus, 8000);
  h.add(3, 2500, {}, opus, 8000);
  h.set_speaking(3, false);
  auto decoder = make_decoder(opus);
  Frame decoded;
  std::vector<double> levels;  // 440 Hz amplitude per 10 ms of decoded audio
  SwitchResult result;
  bool was_shared = false;
  std::unique_ptr<Encoder> cold;  // the negative control's fresh encoder
  for (int t = 0; t < 300; ++t) {
    // 1 talks 0.6 s, then is silent 1.4 s, repeatedly.
    h.set_speaking(1, (t % 100) < 30);
    h.step(false);
    const Conference& c = h.conference;
    const bool shared = c.shares_encoder(0);
    if (t > 0 && shared != was_shared) ++result.switches;
    std::span<const uint8_t> payload = c.payload(0);
    std::array<uint8_t, kMaxPayloadBytes> cold_payload{};
    if (!prime && !shared) {
      // What a naive mixer would send: a fresh encoder for each talkspurt.
      if (was_shared) cold = make_encoder(opus);
      payload =
          std::span<const uint8_t>(cold_payload.data(), cold->encode(c.output(0), cold_payload));
    }
    was_shared = shared;
    EXPECT_TRUE(decoder->decode(payload, decoded)) << t;
    if (t < 20) continue;  // start-up
    for (size_t b = 0; b < 2; ++b) {
      const auto block = decoded.pcm().subspan(b * 480, 480);
      levels.push_back(goertzel_amplitude(block, 440, 48000));
    }
  }
  std::vector<double> sorted = levels;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  for (double l : levels) {
    result.worst_ratio =
        std::max(result.worst_ratio, std::max(l / median, median / std::max(l, 1.0)));
  }
  return result;
}

TEST(SharedEncoding, MovingBetweenOwnAndSharedEncoderIsGlitchFree) {
  const SwitchResult primed = run_switching(true);
  EXPECT_GE(primed.switches, 4);
  // 2's tone stays within ±2 dB through every switch.
  EXPECT_LT(primed.worst_ratio, 1.26);
  const SwitchResult cold = run_switching(false);
  std::printf("primed %d %f cold %d %f\n", primed.switches, primed.worst_ratio, cold.switches,
              cold.worst_ratio);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
