#include "mixer/engine.hpp"

#include <algorithm>
#include <limits>

#include "mixer/moh_source.hpp"

namespace chorus::mixer {

Engine::Engine(EngineConfig config) : config_(std::move(config)) {
  const size_t n = std::max<size_t>(config_.shards, 1);
  const uint32_t first = config_.shard.port_first;
  const uint32_t last = config_.shard.port_last;
  const uint32_t span = (last - first + 1) / static_cast<uint32_t>(n);
  for (size_t i = 0; i < n; ++i) {
    rtp::ShardConfig c = config_.shard;
    c.index = static_cast<uint32_t>(i);
    c.port_first = static_cast<uint16_t>(first + span * i);
    c.port_last = static_cast<uint16_t>(i + 1 == n ? last : first + span * (i + 1) - 1);
    shards_.push_back(std::make_unique<rtp::Shard>(c));
    media_.push_back(std::make_unique<MediaShard>(*shards_.back(), config_.mixer));
  }
  load_.assign(n, 0);
}

Engine::~Engine() {
  stop();
}

void Engine::start() {
  // Render the built-in hold music at every conference rate now, on this
  // thread, so no shard spends a tick synthesising it when its first
  // conference appears.
  for (int rate : {8000, 16000, 48000}) MohRegistry::global().clip("", rate);
  for (auto& s : shards_) s->start();
}

void Engine::stop() {
  for (auto& s : shards_) s->stop();
}

size_t Engine::least_loaded_shard(const Placement& placement) const {
  size_t best = std::numeric_limits<size_t>::max();
  for (size_t s = 0; s < shards_.size(); ++s) {
    const bool used = std::any_of(placement.parts.begin(), placement.parts.end(),
                                  [s](const Part& p) { return p.shard == s; });
    if (used) continue;
    if (best == std::numeric_limits<size_t>::max() || load_[s] < load_[best]) best = s;
  }
  return best;
}

void Engine::relink(ConferenceId id, Placement& placement) {
  // A full mesh of links between the parts; each part's ports are ordered by
  // peer. Re-sent whole whenever a part is added or the rate rises.
  const size_t n = placement.parts.size();
  std::vector<std::vector<SpanEndpoint::Port>> ports(n);
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = a + 1; b < n; ++b) {
      auto link = std::make_shared<SpanLink>();
      ports[a].push_back({link, true});
      ports[b].push_back({link, false});
    }
  }
  for (size_t p = 0; p < n; ++p) {
    Command c;
    c.kind = Command::Kind::kSetSpan;
    c.conference = id;
    c.top_k = placement.top_k;
    c.span_rate = placement.max_rate;
    c.span_ports = std::move(ports[p]);
    media_[placement.parts[p].shard]->post(c);
  }
}

std::optional<size_t> Engine::add_participant(const Command& command) {
  Placement& placement = placements_[command.conference];
  placement.top_k = config_.mixer.top_k;
  // The part with the fewest participants that still has room.
  size_t chosen = std::numeric_limits<size_t>::max();
  for (size_t p = 0; p < placement.parts.size(); ++p) {
    if (placement.parts[p].participants >= config_.max_per_part) continue;
    if (chosen == std::numeric_limits<size_t>::max() ||
        placement.parts[p].participants < placement.parts[chosen].participants) {
      chosen = p;
    }
  }
  bool relink_needed = false;
  if (chosen == std::numeric_limits<size_t>::max()) {
    size_t shard = least_loaded_shard(placement);
    if (shard == std::numeric_limits<size_t>::max()) {
      // Every shard already holds a part: overfill the smallest part.
      chosen = 0;
      for (size_t p = 1; p < placement.parts.size(); ++p) {
        if (placement.parts[p].participants < placement.parts[chosen].participants) chosen = p;
      }
    } else {
      placement.parts.push_back({shard, 0});
      chosen = placement.parts.size() - 1;
      relink_needed = placement.parts.size() > 1;
    }
  }
  if (command.codec.sample_rate > placement.max_rate) {
    placement.max_rate = command.codec.sample_rate;
    relink_needed = relink_needed || placement.parts.size() > 1;
  }
  if (relink_needed) relink(command.conference, placement);
  Part& part = placement.parts[chosen];
  if (!media_[part.shard]->post(command)) return std::nullopt;
  ++part.participants;
  ++load_[part.shard];
  placement.where[command.participant] = chosen;
  return part.shard;
}

bool Engine::remove_participant(ConferenceId conference, ParticipantId participant) {
  const auto it = placements_.find(conference);
  if (it == placements_.end()) return false;
  const auto w = it->second.where.find(participant);
  if (w == it->second.where.end()) return false;
  Part& part = it->second.parts[w->second];
  Command c;
  c.kind = Command::Kind::kRemoveParticipant;
  c.conference = conference;
  c.participant = participant;
  if (!media_[part.shard]->post(c)) return false;
  --part.participants;
  --load_[part.shard];
  it->second.where.erase(w);
  return true;
}

bool Engine::update_participant(ConferenceId conference, ParticipantId participant,
                                const ParticipantSettings& settings) {
  const auto shard = shard_of(conference, participant);
  if (!shard) return false;
  Command c;
  c.kind = Command::Kind::kUpdateParticipant;
  c.conference = conference;
  c.participant = participant;
  c.settings = settings;
  return media_[*shard]->post(c);
}

bool Engine::set_codec(Command command) {
  const auto it = placements_.find(command.conference);
  if (it == placements_.end()) return false;
  const auto w = it->second.where.find(command.participant);
  if (w == it->second.where.end()) return false;
  Placement& placement = it->second;
  if (command.codec.sample_rate > placement.max_rate) {
    placement.max_rate = command.codec.sample_rate;
    if (placement.parts.size() > 1) relink(command.conference, placement);
  }
  command.kind = Command::Kind::kSetCodec;
  return media_[placement.parts[w->second].shard]->post(command);
}

bool Engine::set_music(ConferenceId conference, const std::string& file) {
  const auto it = placements_.find(conference);
  if (it == placements_.end()) return false;
  bool ok = true;
  for (const Part& part : it->second.parts) {
    Command c;
    c.kind = Command::Kind::kSetMusic;
    c.conference = conference;
    c.music_file = file;
    ok = media_[part.shard]->post(c) && ok;
  }
  return ok;
}

bool Engine::remove_conference(ConferenceId conference) {
  const auto it = placements_.find(conference);
  if (it == placements_.end()) return false;
  bool ok = true;
  for (const Part& part : it->second.parts) {
    Command c;
    c.kind = Command::Kind::kRemoveConference;
    c.conference = conference;
    ok = media_[part.shard]->post(c) && ok;
    load_[part.shard] -= part.participants;
  }
  placements_.erase(it);
  return ok;
}

std::optional<size_t> Engine::shard_of(ConferenceId conference, ParticipantId participant) const {
  const auto it = placements_.find(conference);
  if (it == placements_.end()) return std::nullopt;
  const auto w = it->second.where.find(participant);
  if (w == it->second.where.end()) return std::nullopt;
  return it->second.parts[w->second].shard;
}

size_t Engine::parts(ConferenceId conference) const {
  const auto it = placements_.find(conference);
  return it == placements_.end() ? 0 : it->second.parts.size();
}

bool Engine::poll_event(size_t index, rtp::Event& raw, std::optional<Event>& mixer) {
  if (!shards_[index]->poll_event(raw)) return false;
  mixer = Event::from_rtp(raw);
  return true;
}

}  // namespace chorus::mixer
