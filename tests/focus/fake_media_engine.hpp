#pragma once
// A media engine for focus tests: no sockets, no threads. It records every
// command the focus submits and answers with completion events as the real
// engine would (exactly one per accepted command), either at once
// (auto_complete) or when the test says so. It keeps which participants it
// holds, so a test can assert that nothing is left behind.

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "mixer/media_engine.hpp"

namespace chorus::focus::testing {

class FakeMediaEngine final : public mixer::MediaEngine {
 public:
  using Kind = mixer::Command::Kind;

  // What was submitted (the command as the focus sent it, its id).
  struct Submitted {
    mixer::CommandId id = 0;
    Kind kind = Kind::kAddParticipant;
    mixer::ConferenceId conference = 0;
    mixer::ParticipantId participant = 0;
    mixer::CodecParams codec;
    uint8_t payload_type = 0;
    mixer::ParticipantSettings settings;
    bool has_remote = false;
    uint16_t remote_port = 0;
    bool has_srtp = false;
    std::optional<rtp::WebRtcConfig> webrtc;
    std::string music_file;
    mixer::ConferenceId target = 0;  // kMoveParticipant
  };

  // Answer every command as soon as it is submitted (else: complete()/fail()).
  bool auto_complete = true;
  // Back-pressure: refuse adds (or every command) as a full ring would.
  bool refuse_adds = false;
  bool refuse_all = false;
  // Codec changes fail (the shard could not build the codec).
  bool fail_codec_changes = false;

  void start() override { started_ = true; }
  void stop() override {
    // Whatever was never answered completes as the real engine's stop does.
    for (const mixer::CommandId id : pending_ids()) fail(id, mixer::Failure::kShuttingDown);
    started_ = false;
  }

  std::optional<mixer::CommandId> submit(mixer::Command command) override {
    if (refuse_all || (refuse_adds && command.kind == Kind::kAddParticipant)) {
      ++refused_;
      return std::nullopt;
    }
    const mixer::CommandId id = ++last_id_;
    Submitted s;
    s.id = id;
    s.kind = command.kind;
    s.conference = command.conference;
    s.participant = command.participant;
    s.codec = command.codec;
    s.payload_type = command.payload_type;
    s.settings = command.settings;
    s.has_remote = command.has_remote;
    s.remote_port = command.remote_rtp.port();
    s.has_srtp = command.has_srtp;
    s.webrtc = command.stream.webrtc;
    s.music_file = command.music_file;
    s.target = command.target;
    submitted.push_back(s);
    pending_.emplace(id, s);
    if (auto_complete) complete(id);
    return id;
  }

  bool poll(mixer::Event& event) override {
    if (events_.empty()) return false;
    event = events_.front();
    events_.pop_front();
    return true;
  }

  size_t shard_count() const override { return 1; }
  mixer::ShardStatus shard_status(size_t) const override {
    mixer::ShardStatus s;
    s.members = members_.size();
    s.streams = members_.size();
    s.ports_free = kPorts - members_.size();
    s.commands_refused = refused_;
    return s;
  }

  // Applies command `id` as a shard would and queues its completion.
  void complete(mixer::CommandId id) {
    const auto it = pending_.find(id);
    if (it == pending_.end()) return;
    const Submitted s = it->second;
    pending_.erase(it);
    mixer::Event e;
    e.kind = mixer::Event::Kind::kDone;
    e.id = id;
    e.command = s.kind;
    e.conference = s.conference;
    e.participant = s.participant;
    const auto key = std::make_pair(s.conference, s.participant);
    switch (s.kind) {
      case Kind::kAddParticipant:
        if (members_.contains(key)) return push_failure(e, mixer::Failure::kDuplicate);
        members_.emplace(key, next_port_);
        e.value = next_port_;
        next_port_ = static_cast<uint16_t>(next_port_ + 2);
        break;
      case Kind::kRemoveParticipant:
        if (!members_.contains(key)) return push_failure(e, mixer::Failure::kUnknownParticipant);
        members_.erase(key);
        e.stats.packets_received = 50;  // the final counters
        break;
      case Kind::kSetCodec:
        if (!members_.contains(key)) return push_failure(e, mixer::Failure::kUnknownParticipant);
        if (fail_codec_changes) return push_failure(e, mixer::Failure::kCodec);
        break;
      case Kind::kUpdateParticipant:
      case Kind::kSetRemote:
      case Kind::kSetSrtp:
      case Kind::kSetWebRtc:
      case Kind::kPlayPrompt:
        if (!members_.contains(key)) return push_failure(e, mixer::Failure::kUnknownParticipant);
        break;
      case Kind::kMoveParticipant: {
        const auto to = std::make_pair(s.target, s.participant);
        if (!members_.contains(key)) return push_failure(e, mixer::Failure::kUnknownParticipant);
        if (members_.contains(to)) return push_failure(e, mixer::Failure::kDuplicate);
        e.value = members_.at(key);
        members_.emplace(to, e.value);
        members_.erase(key);
        break;
      }
      case Kind::kRemoveConference:
        std::erase_if(members_, [&](const auto& m) { return m.first.first == s.conference; });
        break;
      case Kind::kReportStats:
        for (const auto& [member, port] : members_) {
          mixer::Event stats;
          stats.kind = mixer::Event::Kind::kStats;
          stats.conference = member.first;
          stats.participant = member.second;
          stats.stats.packets_received = 10;
          events_.push_back(stats);
        }
        break;
      case Kind::kSetMusic:
      case Kind::kSetSpan:
      case Kind::kPlayNotice:
        break;
      case Kind::kStartRecording:
        if (recording_.contains(s.conference)) {
          return push_failure(e, mixer::Failure::kDuplicate);
        }
        recording_.insert(s.conference);
        break;
      case Kind::kStopRecording:
        e.value = recording_.erase(s.conference);
        break;
    }
    events_.push_back(e);
  }
  void fail(mixer::CommandId id, mixer::Failure failure) {
    const auto it = pending_.find(id);
    if (it == pending_.end()) return;
    mixer::Event e;
    e.id = id;
    e.command = it->second.kind;
    e.conference = it->second.conference;
    e.participant = it->second.participant;
    pending_.erase(it);
    push_failure(e, failure);
  }
  void complete_all() {
    for (const mixer::CommandId id : pending_ids()) complete(id);
  }
  // A notification from the shard (DTMF, RTP timeout, talker …).
  void notify(mixer::Event::Kind kind, mixer::ParticipantId participant, uint64_t value = 0) {
    mixer::Event e;
    e.kind = kind;
    e.participant = participant;
    e.value = value;
    events_.push_back(e);
  }

  std::vector<mixer::CommandId> pending_ids() const {
    std::vector<mixer::CommandId> out;
    for (const auto& [id, s] : pending_) out.push_back(id);
    return out;
  }
  size_t members() const { return members_.size(); }
  bool holds(mixer::ParticipantId participant) const {
    for (const auto& [key, port] : members_)
      if (key.second == participant) return true;
    return false;
  }
  // The last submitted command of `kind`, if any.
  const Submitted* last(Kind kind) const {
    for (auto it = submitted.rbegin(); it != submitted.rend(); ++it)
      if (it->kind == kind) return &*it;
    return nullptr;
  }
  size_t count(Kind kind) const {
    size_t n = 0;
    for (const Submitted& s : submitted) n += s.kind == kind ? 1 : 0;
    return n;
  }

  std::vector<Submitted> submitted;
  static constexpr size_t kPorts = 100;

 private:
  void push_failure(mixer::Event e, mixer::Failure failure) {
    e.kind = mixer::Event::Kind::kFailed;
    e.failure = failure;
    events_.push_back(e);
  }

  bool started_ = false;
  mixer::CommandId last_id_ = 0;
  uint64_t refused_ = 0;
  uint16_t next_port_ = 40000;
  std::map<mixer::CommandId, Submitted> pending_;
  std::map<std::pair<mixer::ConferenceId, mixer::ParticipantId>, uint16_t> members_;
  std::set<mixer::ConferenceId> recording_;  // conferences with a recording running
  std::deque<mixer::Event> events_;
};

}  // namespace chorus::focus::testing
