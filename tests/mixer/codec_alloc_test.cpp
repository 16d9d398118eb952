// Zero heap allocation on the hot path: after construction, encode, decode,
// conceal, FEC, resampling, talker detection, DTMF detection and MOH playback
// allocate nothing (ARCHITECTURE.md "The hot path"). C++ allocations are
// counted by replacing operator new (rtp/alloc_counter.hpp); the C libraries
// (libopus, SpanDSP, speexdsp) call malloc directly, so under ASan its
// allocator hooks count those too.

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/dtmf_detector.hpp"
#include "mixer/level.hpp"
#include "mixer/moh_source.hpp"
#include "mixer/resampler.hpp"
#include "mixer/tone.hpp"
#include "rtp/alloc_counter.hpp"

CHORUS_DEFINE_COUNTING_NEW();

#if defined(__SANITIZE_ADDRESS__)
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             size_t),
                                                         void (*free_hook)(const volatile void*));
#endif

namespace {

thread_local uint64_t t_mallocs = 0;

#if defined(__SANITIZE_ADDRESS__)
void on_malloc(const volatile void*, size_t) {
  ++t_mallocs;
}
void on_free(const volatile void*) {}
const bool kHooksInstalled = __sanitizer_install_malloc_and_free_hooks(&on_malloc, &on_free) != 0;
#else
const bool kHooksInstalled = false;
#endif

// operator new calls plus (under ASan) malloc calls made by this thread.
uint64_t allocations() {
  return chorus::rtp::alloc::count() + t_mallocs;
}

}  // namespace

namespace chorus::mixer {
namespace {

struct Pipeline {
  CodecParams params;
  std::unique_ptr<Encoder> enc;
  std::unique_ptr<Decoder> dec;
  std::unique_ptr<Resampler> to_48k;
  std::unique_ptr<Resampler> from_48k;
  ToneGenerator tone;
  TalkerDetector talker;
  DtmfDetector dtmf;
  Frame in, decoded, wide, narrow;
  std::array<uint8_t, kMaxPayloadBytes> payload{};
  std::array<uint8_t, kMaxPayloadBytes> previous{};
  size_t previous_size = 0;

  explicit Pipeline(CodecParams p)
      : params(p),
        enc(make_encoder(p)),
        dec(make_decoder(p)),
        to_48k(std::make_unique<Resampler>(p.sample_rate, 48000)),
        from_48k(std::make_unique<Resampler>(48000, p.sample_rate)),
        tone(p.sample_rate, {440.0, 1250.0}, 5000.0),
        dtmf(p.sample_rate) {}

  // One tick as the mixer runs it; every `loss_every`-th packet is lost.
  void tick(int i) {
    tone.next_frame(in);
    const size_t n = enc->encode(in, payload);
    ASSERT_GT(n, 0u);
    if (i % 7 == 3) {
      dec->conceal(decoded);
    } else if (i % 7 == 5) {
      dec->decode_fec(std::span(payload.data(), n), decoded);
    } else {
      ASSERT_TRUE(dec->decode(std::span(payload.data(), n), decoded));
    }
    to_48k->process(decoded, wide);
    from_48k->process(wide, narrow);
    talker.update(decoded);
    (void)dtmf.process(decoded);
    enc->reset();
  }
};

TEST(CodecAllocation, SteadyStateHotPathAllocatesNothing) {
  if (!kHooksInstalled) {
    std::printf("note: malloc from C libraries not counted (no ASan); operator new still is\n");
  }
  CodecParams opus8 = default_params(CodecId::kOpus);
  opus8.sample_rate = 8000;
  CodecParams opus16 = default_params(CodecId::kOpus);
  opus16.sample_rate = 16000;
  opus16.dtx = true;
  CodecParams opus48 = default_params(CodecId::kOpus);
  opus48.complexity = 10;
  std::vector<std::unique_ptr<Pipeline>> pipelines;
  for (const CodecParams& p : {default_params(CodecId::kPcmu), default_params(CodecId::kPcma),
                               default_params(CodecId::kG722), opus8, opus16, opus48}) {
    pipelines.push_back(std::make_unique<Pipeline>(p));
  }
  MohRegistry registry;
  MohSource moh = registry.source("", 16000);
  Frame moh_frame;
  // Warm up (first calls may initialise lazily).
  for (auto& p : pipelines) p->tick(0);
  moh.next_frame(moh_frame);

  // Counted per codec (SCOPED_TRACE itself allocates, so the name is
  // attached only to a failure).
  for (auto& p : pipelines) {
    const uint64_t before = allocations();
    for (int i = 1; i < 60; ++i) p->tick(i);
    const uint64_t used = allocations() - before;
    EXPECT_EQ(used, 0u) << codec_name(p->params.id) << " at " << p->params.sample_rate;
  }
  const uint64_t before = allocations();
  for (int i = 1; i < 60; ++i) moh.next_frame(moh_frame);
  EXPECT_EQ(allocations() - before, 0u) << "MOH";

  // Retuning an Opus encoder (a member entering or leaving a sidebar, on
  // the shard) is encoder controls only.
  Pipeline& opus = *pipelines.back();
  CodecParams wide = opus.params;
  wide.max_bandwidth = OpusBandwidth::kWide;
  wide.complexity = 0;
  const uint64_t before_retune = allocations();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(opus.enc->retune(i % 2 == 0 ? wide : opus.params));
    opus.tick(60 + i);
  }
  EXPECT_EQ(allocations() - before_retune, 0u) << "retune";
}

TEST(CodecAllocation, CounterSeesAllocations) {
  // The counter is live: a test that cannot fail would prove nothing.
  const uint64_t before = allocations();
  auto dec = make_decoder(default_params(CodecId::kOpus));
  EXPECT_GT(allocations() - before, 0u);
  if (kHooksInstalled) {
    // libopus's decoder state comes from malloc, not operator new.
    const uint64_t news = chorus::rtp::alloc::count();
    auto again = make_decoder(default_params(CodecId::kOpus));
    EXPECT_GE(allocations() - before, 2u + (chorus::rtp::alloc::count() - news));
  }
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
