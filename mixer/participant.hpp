#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/frame.hpp"
#include "mixer/level.hpp"
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
};

// One member of a Conference, with every buffer its tick needs (sized when it
// is added, so the steady tick allocates nothing). Owned and driven by
// Conference; the fields are the conference's working state.
struct Participant {
  Participant(ParticipantId id_, const CodecParams& codec_, int conference_rate);

  // (Re)builds rate-dependent state when the conference rate changes.
  void set_conference_rate(int conference_rate);

  // The per-tick flags and indices come first and the large buffers last,
  // so the conference's passes over all members touch few cache lines.
  ParticipantId id;
  CodecParams codec;
  int32_t input_gain_q12 = kUnityGainQ12;
  float output_gain = 1.0F;

  // ---- input side
  bool has_input = false;   // set when the caller provided this tick's frame
  bool level_hint = false;  // RFC 6464 level given for this tick
  uint8_t hint_dbov = 127;
  bool hint_voice = false;
  const Frame* mix_input = nullptr;  // input or input_at_rate
  TalkerDetector detector;

  // ---- contribution to the mix
  RampState ramp;             // in/out of the top-K set
  bool selected = false;      // among the K loudest this tick
  bool contributing = false;  // ramp active this tick: own samples are in the sum
  bool whispering = false;    // a whisperer whose voice goes to its targets this tick

  // ---- output side
  bool whispered_to = false;  // some whisper reaches this listener this tick
  int group = -1;             // shared group used this tick; -1 = private
  int last_group = -2;        // previous tick's; -2 = none yet
  size_t bus_group = 0;       // groups this listener would use, resolved at set-up
  size_t silence_group = 0;
  size_t music_group = 0;
  std::span<const uint8_t> payload;  // this tick's payload (private or shared)
  const Frame* output = nullptr;     // what was encoded, at the conference rate

  // ---- set-up state and buffers
  ParticipantSettings settings;
  std::unique_ptr<Resampler> in_resampler;   // only when codec rate != conference rate
  std::vector<size_t> whisper_target_index;  // resolved targets (conference indices)
  std::vector<int32_t> contribution;         // this tick's samples as summed (gain, ramp applied)
  std::vector<int32_t> mix;                  // private N-1 mix accumulator
  Frame input;                               // decoded, at codec.sample_rate (caller fills)
  Frame input_at_rate;                       // input resampled to the conference rate
  EncodeChain private_chain;                 // private limiter + resampler + encoder
};

}  // namespace chorus::mixer
