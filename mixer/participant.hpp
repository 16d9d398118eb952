#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/frame.hpp"
#include "mixer/huge_page_pool.hpp"
#include "mixer/level.hpp"
#include "mixer/moh_source.hpp"
#include "mixer/ramp.hpp"
#include "mixer/resampler.hpp"
#include "mixer/shared_encoder.hpp"

namespace chorus::mixer {

// Opaque participant id chosen by the focus.
using ParticipantId = uint64_t;

// ARCHITECTURE.md "Roles and relations".
enum class Role : uint8_t {
  kParticipant,  // heard by everyone else, hears everyone else (N-1)
  kMonitor,      // silent supervisor: heard by nobody, hears everyone
  kWhisper,      // heard only by its whisper targets, hears everyone
  kBarge,        // full speaker; takes a mix slot ahead of ordinary talkers
};

// RFC 3264 §8.4: a held party's SDP direction picks what it hears.
enum class HoldMode : uint8_t {
  kNone,
  kMusic,     // sendonly from the holder's side: music on hold
  kInactive,  // inactive: nothing at all
};

// Linear gains are kept in Q12 (4096 = unity) and clamped to +18 dB so that a
// 16-bit sample times a gain still fits an int32 with room to sum.
inline constexpr int32_t kUnityGainQ12 = 4096;
inline constexpr int32_t kMaxGainQ12 = 8 * kUnityGainQ12;
int32_t gain_to_q12(float linear);

struct ParticipantSettings {
  Role role = Role::kParticipant;
  bool muted = false;
  bool deaf = false;
  HoldMode hold = HoldMode::kNone;
  float input_gain = 1.0F;   // applied to what this participant says
  float output_gain = 1.0F;  // applied to what this participant hears
  // Only meaningful for Role::kWhisper: who hears the whisper.
  std::vector<ParticipantId> whisper_targets;
  // A sidebar (issue #17): a sub-conversation of the room, 0 = the main
  // room. Its members hear each other at full level and the main room at
  // sidebar_main_gain (default -12 dB); the main room hears them only when
  // sidebar_whisper_main. Every member of one sidebar carries the same
  // values (the first member's count where they differ).
  uint32_t sidebar = 0;
  float sidebar_main_gain = 0.2512F;
  bool sidebar_whisper_main = false;
  // How the mixes only a sidebar hears (its talkers over the quiet main
  // room, and that quiet main room) are encoded for an Opus listener: at
  // most this bandwidth and complexity. Each voiced sidebar is a mix nobody
  // else hears, one more encode a tick; wideband (SILK alone) at complexity
  // 0 costs about a third of a full-band complexity-5 encode
  // (bench/RESULTS.md "Sidebars"). kFull and 5: as the main room.
  OpusBandwidth sidebar_opus_bandwidth = OpusBandwidth::kWide;
  int sidebar_opus_complexity = 0;
  // Who this participant is outside the mixer (the focus's member id, the
  // admin API's), 0 for none: names the member's recording track. It stays
  // with the member across moves; a Replaces gives the new call the same.
  uint64_t label = 0;
};

// The buffers one member's tick needs (sized at set-up, so the steady tick
// allocates nothing). They live out of line: a Frame holds 20 ms at 48 kHz
// inline (~4 KB) and the private chain several more, and keeping them inside
// Participant spread the conference's per-tick passes over 1,000 members
// across ~30 KB strides, a TLB miss per member per pass; out of line they
// come from a huge-page pool (bench/RESULTS.md, "Mixer").
struct ParticipantBuffers : HugePageAllocated<ParticipantBuffers> {
  ParticipantBuffers(const CodecParams& codec, int conference_rate)
      : private_chain(codec, conference_rate) {}

  Frame input;                                          // decoded, at codec.sample_rate
  std::array<int32_t, kMaxSamples / 2> contribution{};  // this tick's samples as summed
  std::array<int32_t, kMaxSamples / 2> mix{};           // private N-1 mix accumulator
  EncodeChain private_chain;                            // private limiter + resampler + encoder
};

// A member's resamplers for a new conference rate, built off the shard by
// the engine when a command changes its room's rate (one per other member
// of the part, ARCHITECTURE.md "Media commands"): input codec rate ->
// conference rate and the private chain's conference rate -> codec rate,
// each null where the two are equal.
struct RateKit {
  ParticipantId id = 0;
  int rate = 0;
  std::unique_ptr<RateStage> in;
  std::unique_ptr<RateStage> out;
  static RateKit make(ParticipantId id, int codec_rate, int conference_rate) {
    RateKit kit{id, conference_rate, nullptr, nullptr};
    if (codec_rate != conference_rate) {
      kit.in = std::make_unique<RateStage>(codec_rate, conference_rate);
      kit.out = std::make_unique<RateStage>(conference_rate, codec_rate);
    }
    return kit;
  }
};
// Sorted by id (Conference looks members up in it).
using PreparedRates = std::vector<RateKit>;

// One member of a Conference. Owned and driven by Conference, which keeps its
// members by value in one dense array: the fields every per-tick pass reads
// come first, set-up state after, and the large buffers are behind `buffers`.
struct Participant {
  Participant(ParticipantId id_, const CodecParams& codec_, int conference_rate);

  // (Re)builds rate-dependent state when the conference rate changes.
  void set_conference_rate(int conference_rate);
  // The same with resamplers built off the shard (RateKit::make): no allocation.
  void set_conference_rate(RateKit& kit);

  Frame& input() { return buffers->input; }
  EncodeChain& private_chain() { return buffers->private_chain; }
  const EncodeChain& private_chain() const { return buffers->private_chain; }

  std::unique_ptr<ParticipantBuffers> buffers;  // read by most passes: first

  // ---- input side
  bool has_input = false;     // set when the caller provided this tick's frame
  bool input_zeroed = false;  // input holds digital silence nobody overwrote since
  bool level_hint = false;    // RFC 6464 level given for this tick
  bool hint_voice = false;
  uint8_t hint_dbov = 127;

  // ---- contribution to the mix
  bool selected = false;      // among the K loudest this tick
  bool contributing = false;  // ramp active this tick: own samples are in the sum
  bool whispering = false;    // a whisperer whose voice goes to its targets this tick

  // ---- output side
  bool whispered_to = false;  // some whisper reaches this listener this tick
  int group = -1;             // shared group used this tick; -1 = private
  int last_group = -2;        // previous tick's; -2 = none yet
  int32_t input_gain_q12 = kUnityGainQ12;
  float output_gain = 1.0F;
  RampState ramp;                    // in/out of the top-K set
  const Frame* mix_input = nullptr;  // buffers->input or in_resampler->out
  std::span<const uint8_t> payload;  // this tick's payload (private or shared)
  const Frame* output = nullptr;     // what was encoded, at the conference rate
  TalkerDetector detector;
  size_t bus_group = 0;  // groups this listener would use, resolved at set-up
  size_t silence_group = 0;
  size_t music_group = 0;
  // In a sidebar: the bus group at the sidebar's main-room level (while the
  // sidebar is silent, or for its only talker) and the sidebar's own group.
  size_t quiet_group = 0;
  size_t sidebar_group = 0;
  ParticipantId id;
  CodecParams codec;
  int conference_rate = 0;  // the rate the buffers and resampler are built for

  // A prompt playing to this member only (Conference::play_prompt): the
  // clip at the conference rate and how far it has played. It stays
  // referenced after it ends (until the next prompt or the member leaves),
  // so the tick never frees it.
  std::shared_ptr<const MusicClips> prompt;
  const MohClip* prompt_clip = nullptr;
  size_t prompt_position = 0;
  bool prompting = false;
  bool prompt_only = false;  // this tick: the prompt instead of music or silence
  size_t sidebar_index = SIZE_MAX;  // Conference::sidebars_; SIZE_MAX: the main room

  // ---- set-up state
  ParticipantSettings settings;
  // Input resampled to the conference rate (and the frame it lands in), only
  // when the codec rate differs from it.
  std::unique_ptr<RateStage> in_resampler;
  std::vector<size_t> whisper_target_index;  // resolved targets (conference indices)
};

}  // namespace chorus::mixer
