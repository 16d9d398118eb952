#include "mixer/conference.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <exception>
#include <numbers>

#include "mixer/mix_kernel.hpp"

namespace chorus::mixer {

namespace {

// energy_rank_key() puts talkers at 1000+; a barge-in outranks every talker.
constexpr int kBargePriority = 2000;
// Limiter gains closer than this make a private mix and the shared one
// interchangeable (0.2 dB).
constexpr float kGainMatch = 0.025F;

bool visible(const Participant& p) {
  return p.settings.role == Role::kParticipant || p.settings.role == Role::kBarge;
}

// A prompt follows a conference rate change: its clip at the new rate, from
// the same point in time. No clip at that rate ends it.
void retarget_prompt(Participant& p, int rate) {
  if (!p.prompt) return;
  const MohClip* old = p.prompt_clip;
  p.prompt_clip = p.prompt->at(rate).get();  // p.prompt keeps the clip alive
  if (p.prompt_clip == nullptr) {
    p.prompting = false;
    return;
  }
  if (old != nullptr && old != p.prompt_clip && old->sample_rate() > 0) {
    p.prompt_position =
        static_cast<size_t>(static_cast<uint64_t>(p.prompt_position) * static_cast<uint64_t>(rate) /
                            static_cast<uint64_t>(old->sample_rate()));
  }
}

}  // namespace

Conference::Conference(ConferenceConfig config)
    : config_(std::move(config)), bus_(samples_per_tick(kMaxRate), 0) {
  config_.top_k = std::clamp<size_t>(config_.top_k, 1, kMaxTopK);
  music_file_ = config_.music_file;
  if (config_.music) {
    music_clips_ = config_.music;
    music_file_ = config_.music->file;
  }
  picks_.reserve(kMaxTopK + 1);
  events_.reserve(16);
  // A later change of rate rebuilds the ramp in place.
  ramp_table_.reserve(static_cast<size_t>(kMaxRate) *
                      static_cast<size_t>(std::max(config_.ramp_ms, 0)) / 1000);
  rate_ = config_.fixed_rate > 0 ? config_.fixed_rate : 8000;
  reconfigure();
}

std::optional<size_t> Conference::index_of(ParticipantId id) const {
  const auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

bool Conference::add(ParticipantId id, const CodecParams& codec,
                     const ParticipantSettings& settings) {
  if (index_.contains(id)) return false;
  std::optional<Participant> p;
  try {
    p.emplace(prepare_member(id, codec, rate_));
  } catch (const std::exception&) {
    return false;  // the codec cannot honour these parameters
  }
  return adopt(*p, settings);
}

Participant Conference::prepare_member(ParticipantId id, const CodecParams& codec,
                                       int conference_rate) {
  return Participant(id, codec, conference_rate);
}

bool Conference::adopt(Participant& slot, const ParticipantSettings& settings,
                       PreparedGroups* groups) {
  if (index_.contains(slot.id)) return false;
  const ParticipantId id = slot.id;
  index_[id] = parts_.size();
  parts_.push_back(std::move(slot));
  take(parts_.back(), settings, groups);
  return true;
}

bool Conference::replace(Participant& slot, const ParticipantSettings& settings,
                         PreparedGroups* groups) {
  const auto i = index_of(slot.id);
  if (!i) return false;
  parts_[*i] = std::move(slot);
  take(parts_[*i], settings, groups);
  return true;
}

void Conference::take(Participant& p, const ParticipantSettings& settings,
                      PreparedGroups* groups) {
  p.settings = settings;
  p.input_gain_q12 = gain_to_q12(settings.input_gain);
  p.output_gain = output_gain(settings);
  p.detector = TalkerDetector(config_.talker);
  // Built for another rate than the conference will run at with this member
  // in (it changed since): rebuild the rate-dependent parts now. A slot the
  // engine built at the rate this member raises the conference to is kept.
  const int rate = settled_rate();
  if (p.conference_rate != rate) p.set_conference_rate(rate);
  offered_groups_ = groups;
  reconfigure();
  offered_groups_ = nullptr;
}

bool Conference::remove(ParticipantId id, PreparedGroups* groups) {
  return extract(id, groups).has_value();
}

std::optional<Participant> Conference::extract(ParticipantId id, PreparedGroups* groups) {
  const auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  const size_t i = it->second;
  index_.erase(it);
  std::optional<Participant> out(std::move(parts_[i]));
  // What belonged to this room: the next one starts the member as a
  // newcomer (its voice ramps in there, no prompt carries over).
  Participant& p = *out;
  p.ramp = RampState{};
  p.selected = p.contributing = p.whispering = p.whispered_to = false;
  p.group = -1;
  p.last_group = -2;
  p.prompt.reset();
  p.prompt_clip = nullptr;
  p.prompt_position = 0;
  p.prompting = p.prompt_only = false;
  p.sidebar_index = SIZE_MAX;
  if (i + 1 != parts_.size()) {
    parts_[i] = std::move(parts_.back());
    index_[parts_[i].id] = i;
  }
  parts_.pop_back();
  offered_groups_ = groups;
  reconfigure();
  offered_groups_ = nullptr;
  return out;
}

bool Conference::update(ParticipantId id, const ParticipantSettings& settings,
                        PreparedGroups* groups) {
  const auto i = index_of(id);
  if (!i) return false;
  Participant& p = parts_[*i];
  p.settings = settings;
  p.input_gain_q12 = gain_to_q12(settings.input_gain);
  p.output_gain = output_gain(settings);
  offered_groups_ = groups;
  resolve_relations();
  offered_groups_ = nullptr;
  return true;
}

void Conference::set_music(const std::string& file) {
  auto clip = MohRegistry::global().clip(file, rate_);  // throws on an unreadable file
  music_file_ = file;
  music_clip_ = std::move(clip);
  music_ = std::make_unique<MohSource>(music_clip_);
  music_tick_ = UINT64_MAX;
}

void Conference::set_music(std::shared_ptr<const MusicClips> clips) {
  if (!clips) return;
  music_file_ = clips->file;
  music_clips_ = std::move(clips);
  music_clip_ = music_at_rate();
  music_ = std::make_unique<MohSource>(music_clip_);
  music_tick_ = UINT64_MAX;
}

std::shared_ptr<const MohClip> Conference::music_at_rate() const {
  if (music_clips_ && music_clips_->file == music_file_) {
    if (auto clip = music_clips_->at(rate_)) return clip;
  }
  return MohRegistry::global().clip(music_file_, rate_);
}

void Conference::set_span_peers(size_t peers, int rate) {
  peers_.assign(peers, Peer{});
  config_.fixed_rate = rate;
  reconfigure();
}

int Conference::settled_rate() const {
  int rate = config_.fixed_rate;
  if (rate <= 0) {
    rate = 8000;
    for (const Participant& p : parts_) rate = std::max(rate, p.codec.sample_rate);
  }
  return rate;
}

void Conference::reconfigure() {
  const int rate = settled_rate();
  const bool rate_changed = rate != rate_ || ramp_table_.length() == 0;
  rate_ = rate;
  if (rate_changed) {
    ramp_table_.build(static_cast<size_t>(rate_) *
                      static_cast<size_t>(std::max(config_.ramp_ms, 0)) / 1000);
    for (Participant& p : parts_) {
      RateKit* kit = offered_rate(p);
      if (p.conference_rate == rate_) {
        // A slot built at this rate (the member who changed it): its
        // groups are gone with the others'.
        p.group = -1;
        p.last_group = -2;
      } else if (kit != nullptr) {
        p.set_conference_rate(*kit);
      } else {
        p.set_conference_rate(rate_);
      }
      retarget_prompt(p, rate_);
    }
    // Shared groups are per rate: rebuild them (listeners re-resolve below).
    groups_.clear();
    silence_.set_silence(rate_);
    music_frame_.set_silence(rate_);
  }
  if (!music_ || rate_changed) {
    // The music at the new rate (from the clips the engine resolved, so no
    // registry lookup on the tick); the source is re-pointed, not rebuilt.
    music_clip_ = music_at_rate();
    if (music_) {
      music_->set_clip(music_clip_);
    } else {
      music_ = std::make_unique<MohSource>(music_clip_);
    }
    music_tick_ = UINT64_MAX;
  }
  // Capacity for the worst tick: every member changes talking state.
  events_.reserve(2 * parts_.size() + 16);
  resolve_relations();
}

RateKit* Conference::offered_rate(const Participant& p) {
  if (offered_rates_ == nullptr) return nullptr;
  const auto it =
      std::lower_bound(offered_rates_->begin(), offered_rates_->end(), p.id,
                       [](const RateKit& kit, ParticipantId id) { return kit.id < id; });
  if (it == offered_rates_->end() || it->id != p.id || it->rate != rate_) return nullptr;
  // Taken already (its stages moved out) or built for another codec: no.
  if ((it->in != nullptr) != (p.codec.sample_rate != rate_)) return nullptr;
  if (it->in != nullptr && it->in->resampler.from_rate() != p.codec.sample_rate) return nullptr;
  return &*it;
}

size_t Conference::group_for(SharedEncoder::Source source, const CodecParams& codec, float gain,
                             uint32_t sidebar) {
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g]->matches(source, codec, gain, sidebar)) return g;
  }
  // A group handed in with the member being adopted (built off this thread).
  if (offered_groups_ != nullptr) {
    for (std::unique_ptr<SharedEncoder>& offered : *offered_groups_) {
      if (offered && offered->matches(source, codec, gain, sidebar) &&
          offered->conference_rate() == rate_) {
        groups_.push_back(std::move(offered));
        ++stats_.groups_adopted;
        return groups_.size() - 1;
      }
    }
  }
  groups_.push_back(std::make_unique<SharedEncoder>(source, codec, gain, rate_, sidebar));
  ++stats_.groups_built;
  return groups_.size() - 1;
}

void Conference::drop_sidebar_groups() {
  // Sidebar ids are not reused: without this a long-lived room that makes
  // and dissolves sidebars would keep an encoder for each one it ever had.
  // Engine::prepare_groups forgets the same keys. Set-up path only.
  for (size_t g = groups_.size(); g-- > 0;) {
    const SharedEncoder& group = *groups_[g];
    if (group.source() != SharedEncoder::Source::kSidebar) continue;
    const bool used = std::any_of(parts_.begin(), parts_.end(), [&](const Participant& p) {
      return p.settings.sidebar == group.sidebar();
    });
    if (used) continue;
    groups_.erase(groups_.begin() + static_cast<std::ptrdiff_t>(g));
    const int erased = static_cast<int>(g);
    for (Participant& p : parts_) {
      if (p.last_group == erased) {
        p.last_group = -2;
      } else if (p.last_group > erased) {
        --p.last_group;
      }
    }
  }
}

void Conference::resolve_relations() {
  visible_ = 0;
  whisper_edges_.clear();
  drop_sidebar_groups();
  for (auto& g : groups_) g->members = 0;
  for (Sidebar& s : sidebars_) s.members = 0;
  for (size_t i = 0; i < parts_.size(); ++i) {
    Participant& p = parts_[i];
    if (visible(p)) ++visible_;
    p.sidebar_index = SIZE_MAX;
    if (p.settings.sidebar != 0) {
      size_t s = 0;
      while (s < sidebars_.size() && sidebars_[s].id != p.settings.sidebar) ++s;
      if (s == sidebars_.size()) {
        Sidebar& made = sidebars_.emplace_back();
        made.id = p.settings.sidebar;
        made.bus.assign(kMaxSamples / 2, 0);
      }
      Sidebar& sidebar = sidebars_[s];
      if (sidebar.members++ == 0) {
        sidebar.main_gain_q12 = gain_to_q12(std::clamp(p.settings.sidebar_main_gain, 0.0F, 1.0F));
        sidebar.whisper_main = p.settings.sidebar_whisper_main;
      }
      p.sidebar_index = s;
    }
    p.whisper_target_index.clear();
    if (p.settings.role == Role::kWhisper) {
      for (ParticipantId target : p.settings.whisper_targets) {
        const auto t = index_of(target);
        if (t && *t != i) {
          whisper_edges_.emplace_back(i, *t);
          p.whisper_target_index.push_back(*t);
        }
      }
    }
    p.bus_group = group_for(SharedEncoder::Source::kBus, p.codec, p.output_gain);
    p.silence_group = group_for(SharedEncoder::Source::kSilence, p.codec, 1.0F);
    p.music_group = group_for(SharedEncoder::Source::kMusic, p.codec, 1.0F);
    ++groups_[p.bus_group]->members;
    if (p.sidebar_index != SIZE_MAX) {
      // Everything a sidebar member hears is encoded alike: the sidebar
      // groups, and its mix of its own while it talks (the private encoder
      // retuned in place, no allocation). One band throughout, not full band
      // while it talks and wideband while it listens.
      const Listening l = listening(p.settings);
      const CodecParams own = sidebar_codec(p.codec, l);
      p.quiet_group = group_for(SharedEncoder::Source::kBus, own, l.quiet_gain);
      p.sidebar_group = group_for(SharedEncoder::Source::kSidebar, own, l.gain, l.sidebar);
      p.private_chain().retune(own);
    } else {
      p.private_chain().retune(p.codec);
    }
  }
  // Sidebars nobody is in any more go (set-up path: members' indices are
  // re-pointed below when one before them is erased).
  for (size_t s = sidebars_.size(); s-- > 0;) {
    if (sidebars_[s].members != 0) continue;
    sidebars_.erase(sidebars_.begin() + static_cast<std::ptrdiff_t>(s));
    for (Participant& p : parts_) {
      if (p.sidebar_index != SIZE_MAX && p.sidebar_index > s) --p.sidebar_index;
    }
  }
}

Frame& Conference::input_slot(size_t index) {
  Participant& p = parts_[index];
  p.has_input = true;
  return p.input();
}

void Conference::set_audio_level(size_t index, uint8_t level_dbov, bool voice) {
  Participant& p = parts_[index];
  p.level_hint = true;
  p.hint_dbov = level_dbov;
  p.hint_voice = voice;
}

void Conference::set_remote(size_t peer, const SpanPacket& packet) {
  if (peer >= peers_.size()) return;
  Peer& slot = peers_[peer];
  if (packet.rate != rate_ || packet.samples != samples() || packet.candidate_count > kMaxTopK) {
    return;  // a part configured differently: ignore rather than mix garbage
  }
  slot.packet = packet;
  slot.fresh = true;
  slot.visible = packet.visible;
}

bool Conference::eligible_speaker(const Participant& p) const {
  return visible(p) && !p.settings.muted && p.settings.hold == HoldMode::kNone;
}

bool Conference::speaks(size_t index) const {
  const Participant& p = parts_[index];
  if (!eligible_speaker(p)) return false;
  return p.sidebar_index == SIZE_MAX || sidebars_[p.sidebar_index].whisper_main;
}

void Conference::push_event(ConferenceEvent event) {
  // The capacity was reserved at set-up; never grow on the tick.
  if (events_.size() < events_.capacity()) {
    events_.push_back(event);
  } else {
    ++stats_.events_dropped;
  }
}

void Conference::detect(Participant& p) {
  const size_t codec_samples = samples_per_tick(p.codec.sample_rate);
  Frame& input = p.input();
  if (!p.has_input || input.sample_rate != p.codec.sample_rate || input.samples != codec_samples ||
      input.channels != 1) {
    // No frame this tick (or a frame the caller got wrong): silence. A frame
    // still zero from an earlier silent tick is not cleared again.
    assert(!p.has_input || input.sample_rate == p.codec.sample_rate);
    if (p.has_input || !p.input_zeroed) input.set_silence(p.codec.sample_rate);
    p.input_zeroed = true;
  } else {
    p.input_zeroed = false;
  }
  if (p.in_resampler) p.in_resampler->process(input);
  if (p.level_hint) {
    p.detector.update_from_rfc6464(p.hint_dbov, p.hint_voice);
  } else {
    p.detector.update(*p.mix_input);
  }
  if (p.detector.changed()) {
    push_event({p.detector.talking() ? ConferenceEvent::Kind::kStartedTalking
                                     : ConferenceEvent::Kind::kStoppedTalking,
                p.id, p.detector.level_dbov()});
  }
  p.has_input = false;
  p.level_hint = false;
}

void Conference::select_talkers() {
  // Top-K by insertion into a K-long sorted list: O(N·K) with K small, no
  // allocation (picks_ has its capacity from construction).
  const size_t k = config_.top_k;
  std::array<Pick, kMaxTopK + 1> top{};
  size_t count = 0;
  std::array<Pick, kMaxTopK + 1> local{};
  size_t local_count = 0;
  auto insert = [k](std::array<Pick, kMaxTopK + 1>& list, size_t& n, Pick pick) {
    if (n == k && pick.rank <= list[n - 1].rank) return;
    size_t pos = n < k ? n++ : k - 1;
    while (pos > 0 && list[pos - 1].rank < pick.rank) {
      list[pos] = list[pos - 1];
      --pos;
    }
    list[pos] = pick;
  };
  for (Sidebar& s : sidebars_) s.top_count = 0;
  for (size_t i = 0; i < parts_.size(); ++i) {
    Participant& p = parts_[i];
    if (!eligible_speaker(p) || !p.detector.talking()) continue;
    int rank = p.detector.energy_rank_key();
    if (p.settings.role == Role::kBarge) rank += kBargePriority;
    if (p.selected) rank += config_.hysteresis_db;
    if (p.sidebar_index != SIZE_MAX) {
      // A sidebar chooses its own K; one that whispers into the main room
      // competes there as well.
      Sidebar& s = sidebars_[p.sidebar_index];
      insert(s.top, s.top_count, {rank, i});
      if (!s.whisper_main) continue;
    }
    insert(top, count, {rank, i});
    insert(local, local_count, {rank, i});
  }
  for (const Peer& peer : peers_) {
    if (!peer.fresh) continue;
    for (size_t c = 0; c < peer.packet.candidate_count; ++c) {
      insert(top, count, {peer.packet.candidates[c].rank, SIZE_MAX});
    }
  }
  for (Participant& p : parts_) p.selected = false;
  for (size_t c = 0; c < count; ++c) {
    if (top[c].index != SIZE_MAX) parts_[top[c].index].selected = true;
  }
  for (const Sidebar& s : sidebars_) {
    for (size_t c = 0; c < s.top_count; ++c) parts_[s.top[c].index].selected = true;
  }
  // What the peers need to rank this part's talkers against theirs.
  span_out_.candidate_count = static_cast<uint8_t>(local_count);
  for (size_t c = 0; c < local_count; ++c) {
    span_out_.candidates[c] = {parts_[local[c].index].id, local[c].rank};
  }
}

void Conference::sum_bus(size_t n) {
  const std::span<int32_t> bus(bus_.data(), n);
  std::fill(bus.begin(), bus.end(), 0);
  for (Sidebar& s : sidebars_) {
    std::fill_n(s.bus.begin(), n, 0);
    s.contributors = 0;
  }
  for (Participant& p : parts_) {
    p.ramp.rising = p.selected;
    p.contributing = p.ramp.active();
    if (!p.contributing) continue;
    contribute(std::span<int32_t>(p.buffers->contribution.data(), n), p.mix_input->pcm(),
               p.input_gain_q12, ramp_table_, p.ramp);
    const std::span<const int32_t> own(p.buffers->contribution.data(), n);
    if (p.sidebar_index != SIZE_MAX) {
      Sidebar& s = sidebars_[p.sidebar_index];
      accumulate(std::span<int32_t>(s.bus.data(), n), own);
      ++s.contributors;
      if (!s.whisper_main) continue;
    }
    accumulate(bus, own);
  }
  if (!peers_.empty()) {
    span_out_.rate = rate_;
    span_out_.samples = static_cast<uint32_t>(n);
    std::copy_n(bus_.begin(), n, span_out_.partial.begin());
    for (Peer& peer : peers_) {
      if (!peer.fresh) {
        ++stats_.span_packets_missing;
        continue;
      }
      accumulate(bus, std::span<const int32_t>(peer.packet.partial.data(), n));
    }
  }
}

void Conference::play_notice(const NoticeTone& tone) {
  notice_ = tone;
  notice_.beeps = std::clamp(tone.beeps, 0, 10);
  notice_.beep_ms = std::clamp(tone.beep_ms, 1, 2000);
  notice_.gap_ms = std::clamp(tone.gap_ms, 0, 2000);
  notice_.amplitude = std::clamp(tone.amplitude, 0.0, 16000.0);
  notice_position_ = 0;
  notice_phase_ = 0.0;
}

void Conference::add_notice(size_t n) {
  // Beeps and gaps counted in samples at the current rate; the phase runs on
  // through the gaps, so every beep starts and ends where the sine does.
  const auto rate = static_cast<uint64_t>(rate_);
  const uint64_t beep = rate * static_cast<uint64_t>(notice_.beep_ms) / 1000;
  const uint64_t period = beep + rate * static_cast<uint64_t>(notice_.gap_ms) / 1000;
  const uint64_t total = period * static_cast<uint64_t>(notice_.beeps - 1) + beep;
  const double step = 2.0 * std::numbers::pi * notice_.frequency_hz / rate_;
  // A 2 ms raised-cosine edge keeps each beep from clicking.
  const double edge = std::max(1.0, static_cast<double>(rate) / 500.0);
  for (size_t i = 0; i < n && notice_position_ < total; ++i, ++notice_position_) {
    const uint64_t in_period = notice_position_ % period;
    if (in_period < beep) {
      const double from_edge = static_cast<double>(std::min(in_period, beep - 1 - in_period));
      const double shape =
          from_edge >= edge ? 1.0 : 0.5 - 0.5 * std::cos(std::numbers::pi * from_edge / edge);
      bus_[i] +=
          static_cast<int32_t>(std::lround(notice_.amplitude * shape * std::sin(notice_phase_)));
    }
    notice_phase_ += step;
    if (notice_phase_ > 2.0 * std::numbers::pi) notice_phase_ -= 2.0 * std::numbers::pi;
  }
  if (notice_position_ >= total) notice_.beeps = 0;
}

namespace {

// What every member of sidebar `s` hears before its own voice is taken out:
// the sidebar's talkers at full level and the main room at the sidebar's
// level, that room without the sidebar's voices (in the bus when they
// whisper into the main room), so nobody is heard twice. A talker's own mix
// also takes out `own` (its contribution) in the same pass. The main room's
// level is applied in float, which vectorises (a 64-bit product per sample
// did not): the bus stays far below 2^24, so its conversion is exact, and
// the product rounded down matches the old integer shift but where float
// rounding crosses an integer (off by one, rarely).
// Rounding down matters: libopus's decisions at a listener's switch between
// this mix and a group's depend on the last bit (truncating instead turned
// the worst 10 ms block of Sidebar.AnOpusSidebarTalkerHearsOneBand... from
// 1.83x to 2.7x of the median).
template <bool kWhisperMain, bool kOwn>
void sidebar_mix_pass(int32_t* __restrict mix, const int32_t* __restrict bus,
                      const int32_t* __restrict sidebar_bus, const int32_t* __restrict own,
                      size_t n, float gain) {
  for (size_t i = 0; i < n; ++i) {
    const int32_t main = kWhisperMain ? bus[i] - sidebar_bus[i] : bus[i];
    // Rounded down: truncation (cvttps2dq) and one back for negative
    // fractions, both vectorised.
    const float scaled = static_cast<float>(main) * gain;
    int32_t down = static_cast<int32_t>(scaled);
    down -= static_cast<float>(down) > scaled ? 1 : 0;
    int32_t v = sidebar_bus[i] + down;
    if constexpr (kOwn) v -= own[i];
    mix[i] = v;
  }
}

void sidebar_mix(std::span<int32_t> mix, std::span<const int32_t> bus,
                 std::span<const int32_t> sidebar_bus, int32_t main_gain_q12, bool whisper_main,
                 const int32_t* own = nullptr) {
  const float gain = static_cast<float>(main_gain_q12) / 4096.0F;
  const size_t n = mix.size();
  if (whisper_main) {
    own != nullptr
        ? sidebar_mix_pass<true, true>(mix.data(), bus.data(), sidebar_bus.data(), own, n, gain)
        : sidebar_mix_pass<true, false>(mix.data(), bus.data(), sidebar_bus.data(), own, n, gain);
  } else {
    own != nullptr
        ? sidebar_mix_pass<false, true>(mix.data(), bus.data(), sidebar_bus.data(), own, n, gain)
        : sidebar_mix_pass<false, false>(mix.data(), bus.data(), sidebar_bus.data(), own, n, gain);
  }
}

}  // namespace

void Conference::mix_sidebar(const Participant& p, std::span<int32_t> mix,
                             std::span<const int32_t> bus) const {
  const Sidebar& s = sidebars_[p.sidebar_index];
  sidebar_mix(mix, bus, std::span<const int32_t>(s.bus.data(), mix.size()), s.main_gain_q12,
              s.whisper_main, p.contributing ? p.buffers->contribution.data() : nullptr);
}

bool Conference::play_prompt(ParticipantId id, std::shared_ptr<const MusicClips> prompt) {
  const auto index = index_of(id);
  if (!index || !prompt) return false;
  Participant& p = parts_[*index];
  p.prompt = std::move(prompt);
  p.prompt_position = 0;
  p.prompt_clip = nullptr;
  retarget_prompt(p, rate_);
  p.prompting = p.prompt_clip != nullptr;
  return p.prompting;
}

void Conference::add_prompt(Participant& p, size_t n) {
  const std::span<const int16_t> pcm = p.prompt_clip->pcm();
  const std::span<int32_t> mix(p.buffers->mix.data(), n);
  const size_t take = std::min(n, pcm.size() - std::min(pcm.size(), p.prompt_position));
  for (size_t i = 0; i < take; ++i) mix[i] += pcm[p.prompt_position + i];
  p.prompt_position += take;
  if (p.prompt_position >= pcm.size()) p.prompting = false;
}

void Conference::route(Participant& p, uint64_t tick) {
  const bool alone = visible_ + remote_visible_ == 1 && visible(p);
  p.prompt_only = false;
  if (p.settings.deaf || p.settings.hold == HoldMode::kInactive) {
    p.group = static_cast<int>(p.silence_group);
  } else if (p.prompting) {
    // Its own mix: the room (or nothing, instead of music) plus the prompt.
    p.prompt_only = p.settings.hold == HoldMode::kMusic || alone;
    p.group = -1;
  } else if (p.settings.hold == HoldMode::kMusic || alone) {
    p.group = static_cast<int>(p.music_group);
  } else if (p.whispered_to || !config_.share_encoders) {
    p.group = -1;
  } else {
    const int want = shareable_group(p);
    if (want < 0) {
      p.group = -1;
      return;
    }
    const SharedEncoder& g = *groups_[static_cast<size_t>(want)];
    // Coming from a mix of its own, or from another group of what it hears
    // (a sidebar falling silent or starting to talk): stay private until
    // the limiters agree, so the gain does not step when the listener joins
    // a running shared encode.
    const EncodeChain* before = nullptr;
    if (p.last_group == -1) {
      before = &p.private_chain();
    } else if (p.last_group >= 0 && p.last_group != want) {
      const SharedEncoder& last = *groups_[static_cast<size_t>(p.last_group)];
      if (last.source() == SharedEncoder::Source::kBus ||
          last.source() == SharedEncoder::Source::kSidebar) {
        before = &last.chain();
      }
    }
    const bool gains_differ =
        before != nullptr && g.done(tick - 1) &&
        std::abs(before->limiter().gain() - g.chain().limiter().gain()) > kGainMatch;
    p.group = gains_differ ? -1 : want;
  }
}

int Conference::shareable_group(const Participant& p) const {
  if (p.sidebar_index == SIZE_MAX) return p.contributing ? -1 : static_cast<int>(p.bus_group);
  const Sidebar& s = sidebars_[p.sidebar_index];
  // A silent sidebar hears the main room at its level; so does its only
  // talker (its bus less its own voice is nothing) unless the main room
  // hears it too, when the main bus holds that voice.
  if (s.contributors == 0) return static_cast<int>(p.quiet_group);
  if (!p.contributing) return static_cast<int>(p.sidebar_group);
  if (s.contributors == 1 && !s.whisper_main) return static_cast<int>(p.quiet_group);
  return -1;
}

void Conference::produce_shared(Participant& p, uint64_t tick) {
  SharedEncoder& g = *groups_[static_cast<size_t>(p.group)];
  if (!g.done(tick)) {
    // A group nobody used last tick has a stale encoder: let it hear what
    // this listener heard last tick first.
    if (!g.done(tick - 1)) {
      if (p.last_group == -1) {
        g.chain().prime_from(p.private_chain());
      } else if (p.last_group >= 0 && p.last_group != p.group) {
        g.chain().prime_from(groups_[static_cast<size_t>(p.last_group)]->chain());
      }
    }
    switch (g.source()) {
      case SharedEncoder::Source::kBus:
        g.chain().render_mix(std::span<const int32_t>(bus_.data(), samples()), g.gain());
        break;
      case SharedEncoder::Source::kSidebar: {
        // Rendered in the first listener's own mix buffer (it has no
        // private mix this tick).
        const Sidebar& s = sidebars_[p.sidebar_index];
        const size_t n = samples();
        const std::span<int32_t> mix(p.buffers->mix.data(), n);
        sidebar_mix(mix, std::span<const int32_t>(bus_.data(), n),
                    std::span<const int32_t>(s.bus.data(), n), s.main_gain_q12, s.whisper_main);
        g.chain().render_mix(mix, g.gain());
        break;
      }
      case SharedEncoder::Source::kSilence:
        g.chain().render_pcm(silence_);
        break;
      case SharedEncoder::Source::kMusic:
        if (music_tick_ != tick) {
          music_->next_frame(music_frame_);
          music_tick_ = tick;
        }
        g.chain().render_pcm(music_frame_);
        break;
    }
    if (config_.encode) g.chain().encode();
    g.mark_done(tick);
    ++stats_.shared_encodes;
  }
  p.payload = config_.encode ? g.chain().payload() : std::span<const uint8_t>();
  p.output = &g.chain().output();
}

void Conference::tick(uint64_t tick) {
  const size_t n = samples();
  events_.clear();
  remote_visible_ = 0;
  for (const Peer& peer : peers_) remote_visible_ += peer.visible;
  span_out_.visible = static_cast<uint32_t>(visible_);
  for (Participant& p : parts_) detect(p);
  select_talkers();
  sum_bus(n);
  if (notice_.beeps > 0) add_notice(n);

  for (Participant& p : parts_) p.whispered_to = false;
  for (const auto& [w, t] : whisper_edges_) {
    Participant& whisperer = parts_[w];
    whisperer.whispering = !whisperer.settings.muted && whisperer.settings.hold == HoldMode::kNone;
    if (whisperer.whispering) parts_[t].whispered_to = true;
  }
  for (Participant& p : parts_) route(p, tick);

  // Pass 1: listeners with a mix of their own. They run before any shared
  // group renders this tick, so a group still holds last tick's audio to
  // prime a listener that just left it.
  const std::span<const int32_t> bus(bus_.data(), n);
  for (Participant& p : parts_) {
    if (p.group != -1) continue;
    if (p.last_group >= 0)
      p.private_chain().prime_from(groups_[static_cast<size_t>(p.last_group)]->chain());
    const std::span<int32_t> mix(p.buffers->mix.data(), n);
    if (p.prompt_only) {
      std::fill(mix.begin(), mix.end(), 0);
    } else if (p.sidebar_index != SIZE_MAX) {
      mix_sidebar(p, mix, bus);
    } else if (p.contributing) {
      subtract(mix, bus, std::span<const int32_t>(p.buffers->contribution.data(), n));
    } else {
      std::copy(bus.begin(), bus.end(), mix.begin());
    }
  }
  // Whispers: O(edges), each added only to its target's own mix.
  for (const auto& [w, t] : whisper_edges_) {
    const Participant& whisperer = parts_[w];
    Participant& target = parts_[t];
    if (!whisperer.whispering || target.group != -1) continue;
    accumulate_scaled(std::span<int32_t>(target.buffers->mix.data(), n), whisperer.mix_input->pcm(),
                      whisperer.input_gain_q12);
  }
  for (Participant& p : parts_) {
    if (p.group != -1) continue;
    if (p.prompting) add_prompt(p, n);
    p.private_chain().render_mix(std::span<const int32_t>(p.buffers->mix.data(), n), p.output_gain);
    p.payload = config_.encode ? p.private_chain().encode() : std::span<const uint8_t>();
    p.output = &p.private_chain().output();
    ++stats_.private_encodes;
  }

  // Pass 2: everyone else shares one encode per group.
  for (Participant& p : parts_) {
    if (p.group >= 0) produce_shared(p, tick);
    p.last_group = p.group;
  }
  for (Peer& peer : peers_) peer.fresh = false;
  span_out_.tick = tick;
  ++stats_.ticks;
}

}  // namespace chorus::mixer
