#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/frame.hpp"
#include "mixer/huge_page_pool.hpp"
#include "mixer/limiter.hpp"
#include "mixer/resampler.hpp"

namespace chorus::mixer {

// What happens to one listener's mix after summing: output gain and soft
// limiter at the conference rate, resampling to the codec rate when they
// differ, and the encoder. A listener with a mix of its own owns one; a
// SharedEncoder owns one for every listener whose mix is identical.
class EncodeChain {
 public:
  // Allocates the encoder and resampler (set-up time only).
  EncodeChain(const CodecParams& codec, int conference_rate);
  EncodeChain(const EncodeChain&) = delete;
  EncodeChain& operator=(const EncodeChain&) = delete;

  // Rebuilds the resampler after the conference rate changed (set-up time).
  void set_conference_rate(int conference_rate);
  // The same with a resampler built elsewhere (null when the codec runs at
  // `conference_rate`): no allocation.
  void adopt_conference_rate(int conference_rate, std::unique_ptr<RateStage> resampler);

  // Turns the int32 `mix` (at the conference rate) into PCM: gain, limiter,
  // saturation. No allocation. Each render starts a new tick's frame.
  void render_mix(std::span<const int32_t> mix, float gain);
  // Takes ready PCM at the conference rate (music on hold, silence).
  void render_pcm(const Frame& at_conference_rate);
  // Resamples the rendered PCM to the codec rate and encodes it.
  std::span<const uint8_t> encode();
  // Encoder::retune: the same codec at another Opus band, complexity or
  // bitrate, history kept, no allocation. False (and unchanged) otherwise.
  bool retune(const CodecParams& codec);

  // Before this chain takes over a listener that `source` served until last
  // tick: the same limiter gain, and an encoder (and resampler) that has just
  // heard the last kPrimeFrames ticks the listener heard, so the decoder at
  // the far end sees no jump beyond what the codec itself smooths. `source`
  // must not have rendered this tick yet.
  void prime_from(const EncodeChain& source);

  const Frame& output() const { return ring_[current_]; }  // rendered PCM, conference rate
  std::span<const uint8_t> payload() const { return {payload_.data(), payload_size_}; }
  const CodecParams& codec() const { return codec_; }
  int conference_rate() const { return conference_rate_; }
  uint64_t encodes() const { return encodes_; }
  const Limiter& limiter() const { return limiter_; }

 private:
  std::span<const uint8_t> encode_into(const Frame& at_conference_rate, std::span<uint8_t> out);

  Frame& next_frame();

  // Small fields first: a listener sharing this chain reads current_ and
  // payload_size_ every tick, and they should not sit pages away.
  CodecParams codec_;
  int conference_rate_;
  size_t current_ = 0;
  size_t payload_size_ = 0;
  uint64_t encodes_ = 0;
  Limiter limiter_;
  std::unique_ptr<RateStage> resampler_;  // to the codec rate; null when the rates are equal
  std::unique_ptr<Encoder> encoder_;

  // The last kPrimeFrames rendered frames (conference rate); ring_[current_]
  // is this tick's output. Rendering straight into the ring keeps the
  // history another chain is primed with at no copying cost.
  static constexpr size_t kPrimeFrames = 2;
  std::array<Frame, kPrimeFrames> ring_{};
  std::array<uint8_t, kMaxPayloadBytes> payload_{};
};

// One encoder and one payload per tick for every listener whose mix is
// identical (ARCHITECTURE.md "The hot path" step 5): listeners who are not a
// current talker and hear no whisper, with the same codec settings and output
// gain; or everyone on music on hold with the same codec; or everyone hearing
// silence; or a sidebar's listeners (kSidebar: its talkers plus the main room
// at the sidebar's level; while the sidebar is silent, a kBus group at the
// output gain times that level). Each listener's RTP stream still has its own
// SSRC, sequence numbers and timestamps; only the payload bytes are shared.
class SharedEncoder : public HugePageAllocated<SharedEncoder> {
 public:
  enum class Source : uint8_t { kBus, kSilence, kMusic, kSidebar };

  // `sidebar`: the sidebar id a kSidebar group renders (0 for the others).
  SharedEncoder(Source source, const CodecParams& codec, float gain, int conference_rate,
                uint32_t sidebar = 0)
      : source_(source), sidebar_(sidebar), gain_(gain), chain_(codec, conference_rate) {}

  bool matches(Source source, const CodecParams& codec, float gain, uint32_t sidebar = 0) const {
    return source_ == source && chain_.codec() == codec && gain_ == gain && sidebar_ == sidebar;
  }
  int conference_rate() const { return chain_.conference_rate(); }
  Source source() const { return source_; }
  uint32_t sidebar() const { return sidebar_; }
  float gain() const { return gain_; }
  EncodeChain& chain() { return chain_; }
  const EncodeChain& chain() const { return chain_; }

  // Whether this tick's payload has been produced already.
  bool done(uint64_t tick) const { return used_ && tick_ == tick; }
  void mark_done(uint64_t tick) {
    used_ = true;
    tick_ = tick;
  }

  // Listeners that resolve to this group (set-up bookkeeping).
  size_t members = 0;

 private:
  // done() is asked by every listener of the group every tick: these fields
  // sit ahead of the (large) chain.
  bool used_ = false;
  uint64_t tick_ = 0;
  Source source_;
  uint32_t sidebar_;
  float gain_;
  EncodeChain chain_;
};

// The shared encoders a new member would join (its bus group at its output
// gain, the silence and the music group), built off the shard thread with
// the member's mix slot (Conference::prepare_groups) and handed to
// Conference::adopt, which takes those its conference lacks.
// When the member raises the conference's rate, the groups its members
// already use come too, rebuilt at the new rate.
using PreparedGroups = std::vector<std::unique_ptr<SharedEncoder>>;

// What a member's listening needs of shared encoders, from its settings:
// its output gain and, in a sidebar, that sidebar and the gain of the main
// room it hears while the sidebar is silent (output gain × the sidebar's
// main-room level). The conference and the engine (which builds groups off
// the shard) both derive a member's groups from it, so they agree.
struct Listening {
  float gain = 1.0F;
  uint32_t sidebar = 0;  // 0: the main room
  float quiet_gain = 1.0F;
  // In a sidebar: ParticipantSettings::sidebar_opus_bandwidth and _complexity.
  OpusBandwidth sidebar_opus_bandwidth = OpusBandwidth::kFull;
  int sidebar_opus_complexity = 10;
  bool operator==(const Listening&) const = default;
};

// The codec of the groups only a sidebar hears (its own group and the quiet
// main room): an Opus `codec` capped at the sidebar's bandwidth and
// complexity, at its own rate (a listener moving between its own mix and
// these groups then hears no shift in time); any other codec unchanged.
CodecParams sidebar_codec(const CodecParams& codec, const Listening& listening);

struct GroupKey {
  SharedEncoder::Source source;
  CodecParams codec;
  float gain;
  uint32_t sidebar = 0;
  bool operator==(const GroupKey&) const = default;
};

// The groups a member with `codec` and `listening` may use: its bus group,
// silence and music; in a sidebar also the quiet bus group and the
// sidebar's group. Returns how many of `out` it filled.
size_t member_group_keys(const CodecParams& codec, const Listening& listening,
                         std::array<GroupKey, 5>& out);

}  // namespace chorus::mixer
