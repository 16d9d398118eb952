// Announcements (issue #17, README "Announcements"): a join tone and a leave
// tone the whole room hears, and prompts only the member concerned hears
// ("you are the first participant", "you are muted" / "unmuted"). The
// configuration is [announcements], overridden per [[room]]. The media side
// plays them (mixer kPlayNotice / kPlayPrompt); prompt files are decoded
// off the shards, once per file and rate.
#include <spdlog/spdlog.h>

#include <cmath>

#include "focus/ops/log.hpp"
#include "focus/server.hpp"

namespace chorus::focus {

namespace {

// Only members the room hears (participants and barge-ins, not hidden
// services), answered, past any PIN and waiting room, count as present.
bool present(const Call& call) {
  return call.visible() && call.media.participant != 0 && call.media.rtp_port != 0 &&
         !call.roster.awaiting_pin && !call.roster.waiting;
}

}  // namespace

Announcements Server::announcements_for(std::string_view room) const {
  Announcements a = options_.announcements;
  if (const RoomPolicy* policy = policy_for(room)) {
    if (policy->join_tone) a.join_tone = *policy->join_tone;
    if (policy->leave_tone) a.leave_tone = *policy->leave_tone;
    if (policy->first_prompt) a.first_prompt = *policy->first_prompt;
    if (policy->muted_prompt) a.muted_prompt = *policy->muted_prompt;
    if (policy->unmuted_prompt) a.unmuted_prompt = *policy->unmuted_prompt;
  }
  return a;
}

void Server::play_room_tone(const Room& room, bool join) {
  mixer::NoticeTone tone;
  tone.beeps = join ? 2 : 1;
  tone.frequency_hz = join ? 880.0 : 440.0;
  tone.beep_ms = join ? 80 : 200;
  tone.gap_ms = 60;
  tone.amplitude = 32767.0 * std::pow(10.0, options_.announcements.tone_level_dbfs / 20.0);
  mixer::Command command;
  command.kind = mixer::Command::Kind::kPlayNotice;
  command.conference = room.conference();
  command.notice = tone;
  if (!engine_->submit(std::move(command))) ++media_commands_failed_;
}

void Server::play_prompt(const Call& call, const std::string& prompt) {
  if (prompt.empty() || call.media.participant == 0) return;
  mixer::Command command;
  command.kind = mixer::Command::Kind::kPlayPrompt;
  command.conference = call.media.conference;
  command.participant = call.media.participant;
  command.music_file = prompt;
  if (!engine_->submit(std::move(command))) ++media_commands_failed_;
}

void Server::announce_join(const Call& call) {
  if (!present(call)) return;
  const Room* room = rooms_.room_of(call);
  if (room == nullptr) return;
  const Announcements a = announcements_for(call.room());
  bool others = false;
  for (const Call* other : room->calls()) {
    // Replaces (RFC 3891) hands the member's place to a new dialog: the
    // same member, no join tone.
    if (other != &call && other->member() == call.member()) return;
    if (other != &call && present(*other)) others = true;
  }
  if (others && a.join_tone) play_room_tone(*room, /*join=*/true);
  if (!others && !a.first_prompt.empty()) {
    play_prompt(call, a.first_prompt);
  } else if (call.media.settings.muted) {
    play_prompt(call, a.muted_prompt);
  }
}

void Server::announce_leave(const Call& leaving) {
  if (!present(leaving)) return;
  const Room* room = rooms_.find(leaving.room());
  const std::string& room_name = leaving.room();
  if (room == nullptr || !announcements_for(room_name).leave_tone) return;
  for (const Call* other : room->calls()) {
    if (other->member() == leaving.member()) return;  // replaced, not gone
  }
  for (const Call* other : room->calls()) {
    if (present(*other)) {
      play_room_tone(*room, /*join=*/false);
      return;
    }
  }
}

void Server::announce_mute(const Call& call) {
  if (!present(call)) return;
  const Announcements a = announcements_for(call.room());
  play_prompt(call, call.media.settings.muted ? a.muted_prompt : a.unmuted_prompt);
}

}  // namespace chorus::focus
