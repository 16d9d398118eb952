#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/frame.hpp"
#include "mixer/level.hpp"
#include "mixer/moh_source.hpp"
#include "mixer/participant.hpp"
#include "mixer/ramp.hpp"
#include "mixer/recording.hpp"
#include "mixer/shared_encoder.hpp"
#include "mixer/span.hpp"

namespace chorus::mixer {

struct ConferenceConfig {
  size_t top_k = 3;    // only the K loudest talkers are mixed (WebRTC mixes 3)
  int ramp_ms = 8;     // raised-cosine entry/exit of a talker
  int fixed_rate = 0;  // 0: the highest rate any member's codec needs; spanning parts fix it
  // A talker already mixed keeps its place against a newcomer unless the
  // newcomer is this much louder (dB), so near-equal voices do not flap.
  int hysteresis_db = 3;
  std::string music_file;  // empty: the built-in tune
  // The music resolved off the shard (Engine): used at every rate it covers;
  // nullptr or a missing rate falls back to MohRegistry::global() (a mutex:
  // standalone conferences only, never the engine's).
  std::shared_ptr<const MusicClips> music;
  // Share one encode among listeners with identical mixes. Off only to
  // measure what sharing saves (bench/mixer_tick.cpp).
  bool share_encoders = true;
  // Produce payloads. Off: PCM only (output()), for taps that record the
  // mix and for measuring the mix itself apart from the codecs.
  bool encode = true;
  TalkerConfig talker;
};

// What the conference tells the outside world after a tick.
struct ConferenceEvent {
  enum class Kind : uint8_t { kStartedTalking, kStoppedTalking };
  Kind kind;
  ParticipantId id;
  int level_dbov;
};

struct ConferenceStats {
  uint64_t ticks = 0;
  uint64_t private_encodes = 0;       // per-listener encodes (talkers, whisper targets)
  uint64_t shared_encodes = 0;        // one per shared group in use per tick
  uint64_t events_dropped = 0;        // event buffer full
  uint64_t span_packets_missing = 0;  // a peer part's packet was not there in time
  // Shared encoders adopted ready-made (prepare_groups) and built on the
  // conference's own thread because none was handed in: a rate change, an
  // output-gain change, or a conference driven without an engine.
  uint64_t groups_adopted = 0;
  uint64_t groups_built = 0;
};

// The mixing core of one conference (or of one shard's part of a spanning
// conference), with no sockets: the caller puts each member's decoded frame
// in, calls tick(), and takes each listener's payload (and PCM) out.
//
// Per tick (ARCHITECTURE.md "The hot path"): resample inputs to the
// conference rate, detect talkers, choose the K loudest, sum them once into
// an int32 bus with gain ramps, then per listener either share one encode of
// the bus (not a talker, no whisper to it, same codec and output gain), or
// build its own mix = bus − own contribution + whispers to it, limit and
// encode it. Held, deaf and alone-in-room listeners share the music or
// silence encode of their codec. O(N + whisper edges); no allocation.
class Conference {
 public:
  explicit Conference(ConferenceConfig config = {});
  Conference(const Conference&) = delete;
  Conference& operator=(const Conference&) = delete;

  // ---- set-up: command handling, may allocate --------------------------
  // False when the id is taken or the codec parameters are unusable.
  bool add(ParticipantId id, const CodecParams& codec, const ParticipantSettings& settings = {});
  // A member's mix slot (buffers, private encode chain, resampler) built
  // off the conference's thread for a conference running at
  // `conference_rate` (a guess is fine: adopt() rebuilds the rate-dependent
  // parts when it differs). Throws when the codec cannot honour `codec`.
  static Participant prepare_member(ParticipantId id, const CodecParams& codec,
                                    int conference_rate);
  // The output gain a member's settings give it (what a shared bus group
  // built off the conference's thread must match).
  static float output_gain(const ParticipantSettings& settings) {
    return std::clamp(settings.output_gain, 0.0F, 8.0F);
  }
  // What decides the shared groups a member may listen through (the
  // engine builds them off the conference's thread from this).
  static Listening listening(const ParticipantSettings& settings) {
    const float gain = output_gain(settings);
    if (settings.sidebar == 0) return {gain, 0, gain};
    return {gain, settings.sidebar, gain * std::clamp(settings.sidebar_main_gain, 0.0F, 1.0F),
            settings.sidebar_opus_bandwidth, settings.sidebar_opus_complexity};
  }
  // Takes a slot from prepare_member(). False (slot untouched) when the id
  // is taken. Of `groups` (shared encoders built off the conference's
  // thread), the ones this conference needs and lacks at its rate are taken
  // over; the rest stay where they are (the caller frees them).
  bool adopt(Participant& slot, const ParticipantSettings& settings = {},
             PreparedGroups* groups = nullptr);
  // A member's new slot (a codec change) in place of its old one, with one
  // reconfiguration at the rate the new codec gives. False (slot untouched)
  // for an unknown id.
  bool replace(Participant& slot, const ParticipantSettings& settings,
               PreparedGroups* groups = nullptr);
  // `groups` as for adopt(): what the conference needs when the rate falls.
  // Resamplers built off the conference's thread for the members, should the
  // next adopt/replace/extract/remove change the conference's rate (sorted
  // by id; those that fit are taken). Null: build them here.
  void offer_rates(PreparedRates* rates) { offered_rates_ = rates; }
  bool remove(ParticipantId id, PreparedGroups* groups = nullptr);
  // As remove(), handing the member's slot (its buffers, encode chain and
  // the encoder's state) back for adopt() by another conference: a move
  // between rooms. nullopt for an unknown id.
  std::optional<Participant> extract(ParticipantId id, PreparedGroups* groups = nullptr);
  // Role, mute, deaf, hold, gains, whisper targets. False for an unknown id.
  // `groups` as for adopt(): a bus group for a new output gain.
  bool update(ParticipantId id, const ParticipantSettings& settings,
              PreparedGroups* groups = nullptr);
  // Music on hold from a file (any libsndfile format); empty = built-in tune.
  // Throws std::runtime_error when the file cannot be read (configuration).
  void set_music(const std::string& file);
  // Music resolved off the shard (Engine): swaps without touching the registry
  // at any rate `clips` covers.
  void set_music(std::shared_ptr<const MusicClips> clips);
  // This conference is one part of a spanning conference with `peers` other
  // parts; fixes the rate (every part must use the same).
  void set_span_peers(size_t peers, int rate);

  size_t size() const { return parts_.size(); }
  int rate() const { return rate_; }
  size_t samples() const { return samples_per_tick(rate_); }
  std::optional<size_t> index_of(ParticipantId id) const;
  ParticipantId id_at(size_t index) const { return parts_[index].id; }
  const ParticipantSettings& settings(size_t index) const { return parts_[index].settings; }
  const CodecParams& codec(size_t index) const { return parts_[index].codec; }

  // ---- per tick: no allocation ---------------------------------------------
  // The frame to decode this tick's audio into, at the member's codec rate;
  // a member with no input this tick is taken as silent.
  Frame& input_slot(size_t index);
  // RFC 6464 level from the member's packet, used instead of measuring.
  void set_audio_level(size_t index, uint8_t level_dbov, bool voice);
  // A peer part's packet for this tick (spanning only).
  void set_remote(size_t peer, const SpanPacket& packet);

  void tick(uint64_t tick);

  // After tick(): what to send to each listener (payload bytes may be shared
  // with other listeners; each stream still packetizes with its own SSRC,
  // sequence and timestamp) and the PCM it encodes, at the conference rate.
  std::span<const uint8_t> payload(size_t index) const { return parts_[index].payload; }
  const Frame& output(size_t index) const { return *parts_[index].output; }
  bool shares_encoder(size_t index) const { return parts_[index].group >= 0; }
  bool talking(size_t index) const { return parts_[index].detector.talking(); }
  bool mixed(size_t index) const { return parts_[index].contributing; }
  int level_dbov(size_t index) const { return parts_[index].detector.level_dbov(); }
  std::span<const ConferenceEvent> events() const { return events_; }
  // This part's packet for its peers (spanning only), valid after tick().
  const SpanPacket& span_out() const { return span_out_; }
  // After tick(): the room's bus (talkers, barge-in, a notice tone; no
  // whisper, monitor or music), samples() long, before any limiter.
  std::span<const int32_t> bus() const { return {bus_.data(), samples()}; }
  // After tick(): the member's decoded input at the conference rate, and
  // whether the main room may hear it (participant or barge, not muted or
  // held, not in a sidebar that keeps to itself).
  const Frame& heard_input(size_t index) const { return *parts_[index].mix_input; }
  bool speaks(size_t index) const;

  // Plays `tone` into the bus from the next tick: everyone who hears the
  // room's mix hears it (not held, deaf or alone-in-room members), and so
  // does a recording. Replaces a tone still playing.
  void play_notice(const NoticeTone& tone);
  // Plays `prompt` (its clip at the conference rate) once to member `id`
  // only, from the next tick, over what it hears of the room; instead of
  // music or silence when it is alone or on music hold. Deaf and inactive-
  // held members hear nothing. Replaces a prompt still playing. False for
  // an unknown id or a prompt without a clip at any rate.
  bool play_prompt(ParticipantId id, std::shared_ptr<const MusicClips> prompt);
  bool prompting(size_t index) const { return parts_[index].prompting; }
  size_t sidebars() const { return sidebars_.size(); }

  const ConferenceStats& stats() const { return stats_; }
  size_t shared_groups() const { return groups_.size(); }

 private:
  struct Peer {
    SpanPacket packet;
    bool fresh = false;
    uint32_t visible = 0;  // last known, kept while packets are late
  };
  struct Pick {
    int rank;
    size_t index;  // local index, or SIZE_MAX for a remote candidate
  };
  // One sidebar's bus and talker choice, rebuilt with the relations.
  struct Sidebar {
    uint32_t id = 0;
    int32_t main_gain_q12 = 0;  // how its members hear the main room
    bool whisper_main = false;  // the main room hears its members
    size_t members = 0;
    size_t contributors = 0;   // this tick: members whose voice is in bus
    std::vector<int32_t> bus;  // its talkers, one tick at kMaxRate
    std::array<Pick, kMaxTopK + 1> top{};
    size_t top_count = 0;
  };

  void reconfigure();  // after membership or rate changes
  int settled_rate() const;  // the rate the members (or the span) call for
  // A slot just placed in parts_: settings, gains, detector, rate; then
  // reconfigure() with `groups` on offer.
  void take(Participant& p, const ParticipantSettings& settings, PreparedGroups* groups);
  std::shared_ptr<const MohClip> music_at_rate() const;
  void resolve_relations();  // whisper edges, alone-in-room, groups per listener
  size_t group_for(SharedEncoder::Source source, const CodecParams& codec, float gain,
                   uint32_t sidebar = 0);
  void drop_sidebar_groups();
  RateKit* offered_rate(const Participant& p);  // p's kit at rate_, if offered  // of sidebars no
                                                // member is in any more
  // The group `p` hears through this tick when sharing is allowed, or -1
  // when its mix is its own (a talker who hears others of its sidebar).
  int shareable_group(const Participant& p) const;
  bool eligible_speaker(const Participant& p) const;
  void detect(Participant& p);
  void select_talkers();
  void sum_bus(size_t n);
  void route(Participant& p, uint64_t tick);
  void produce_shared(Participant& p, uint64_t tick);
  void push_event(ConferenceEvent event);
  void add_notice(size_t n);
  void add_prompt(Participant& p, size_t n);
  void mix_sidebar(const Participant& p, std::span<int32_t> mix,
                   std::span<const int32_t> bus) const;

  ConferenceConfig config_;
  int rate_ = 8000;
  RampTable ramp_table_;
  std::vector<Participant> parts_;  // dense: every per-tick pass walks it
  std::unordered_map<ParticipantId, size_t> index_;
  std::vector<std::unique_ptr<SharedEncoder>> groups_;
  PreparedGroups* offered_groups_ = nullptr;  // during adopt() only
  PreparedRates* offered_rates_ = nullptr;    // between offer_rates() calls
  std::vector<std::pair<size_t, size_t>> whisper_edges_;  // (whisperer, target)
  std::vector<int32_t> bus_;                              // int32 accumulator, one tick at kMaxRate
  std::vector<Pick> picks_;                               // top-K scratch
  std::vector<ConferenceEvent> events_;
  std::vector<Sidebar> sidebars_;
  size_t visible_ = 0;         // local members that make the room "not alone"
  size_t remote_visible_ = 0;  // the same on the other parts (spanning)
  std::string music_file_;
  std::shared_ptr<const MusicClips> music_clips_;
  std::shared_ptr<const MohClip> music_clip_;
  std::unique_ptr<MohSource> music_;
  Frame music_frame_;
  uint64_t music_tick_ = UINT64_MAX;
  Frame silence_;
  std::vector<Peer> peers_;
  SpanPacket span_out_;
  NoticeTone notice_;
  uint64_t notice_position_ = 0;  // samples of the notice played so far
  double notice_phase_ = 0.0;
  ConferenceStats stats_;
};

}  // namespace chorus::mixer
