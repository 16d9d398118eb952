// Room recording (issue #17, README "Recording"): start and stop from the
// admin API / chorusctl / console (Control::set_recording), a REFER with
// Refer-To urn:x-chorus:conference:record-start / record-stop, and a room's
// auto_record. The media side taps the room's mix on its tick
// (mixer::RecordingTap); record::Writer, a thread of its own, writes the files.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>

#include "focus/ops/log.hpp"
#include "focus/server.hpp"
#include "signaling/message/header_params.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::focus {

namespace {

// Our vendor namespace: the action-referral draft reserves new
// urn:sip-action: names for IETF review.
constexpr std::string_view kVendorActionPrefix = "x-chorus:";
constexpr std::string_view kRecordStart = "conference:record-start";
constexpr std::string_view kRecordStop = "conference:record-stop";

// auto_record: a start the media side or the writer refused (busy) is
// tried again on the next member's media or this long after, this many
// times in all; then the room stays unrecorded with an error log.
constexpr std::chrono::seconds kAutoRecordRetry{1};
constexpr uint32_t kAutoRecordTries = 10;

// A room name as a file name: SIP user characters outside [A-Za-z0-9-_.]
// (and a leading dot) become '_', so a name never leaves the directory.
std::string file_safe(std::string_view room) {
  std::string out;
  for (const char c : room) {
    const bool plain =
        std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    out += plain ? c : '_';
  }
  if (out.empty() || out.front() == '.') out.insert(out.begin(), '_');
  return out.substr(0, 64);
}

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 32> text{};
  std::strftime(text.data(), text.size(), "%Y%m%dT%H%M%SZ", &tm);
  return text.data();
}

}  // namespace

mixer::NoticeTone Server::recording_tone(int beeps) const {
  mixer::NoticeTone tone;
  const RecordingOptions& r = options_.recording;
  if (r.tone_ms == 0) return tone;  // beeps = 0: none
  tone.beeps = beeps;
  tone.frequency_hz = r.tone_hz;
  tone.beep_ms = static_cast<int>(r.tone_ms);
  tone.gap_ms = 100;
  tone.amplitude = 32767.0 * std::pow(10.0, r.tone_level_dbfs / 20.0);
  return tone;
}

ControlResult Server::set_recording(std::string_view room_name, bool on, std::string_view account) {
  Room* room = rooms_.find(room_name);
  if (room == nullptr) return {404, "no such room (a room records while it has members)"};
  // The log line names who did it (an audit trail).
  const std::string by = "admin API by " + (account.empty() ? std::string("the operator token")
                                                            : std::string(account));
  return on ? start_recording(*room, by) : stop_recording(*room, by);
}

void Server::submit_recording_stop(mixer::ConferenceId conference, int beeps) {
  mixer::Command command;
  command.kind = mixer::Command::Kind::kStopRecording;
  command.conference = conference;
  command.notice = recording_tone(beeps);
  if (engine_->submit(std::move(command))) return;
  // Refused (a full ring): the engine still holds the room's recording and
  // would refuse its next start as a duplicate. Tried again on every poll.
  unsent_recording_stops_.emplace_back(conference, beeps);
}

// A stop still unsent for `conference` goes first (a start must not
// overtake it); false when the engine refuses it again.
bool Server::flush_recording_stop(mixer::ConferenceId conference) {
  const auto it = std::find_if(unsent_recording_stops_.begin(), unsent_recording_stops_.end(),
                               [&](const auto& stop) { return stop.first == conference; });
  if (it == unsent_recording_stops_.end()) return true;
  const int beeps = it->second;
  unsent_recording_stops_.erase(it);
  const size_t unsent = unsent_recording_stops_.size();
  submit_recording_stop(conference, beeps);
  return unsent_recording_stops_.size() == unsent;
}

ControlResult Server::start_recording(Room& room, std::string_view by) {
  RoomRecording& rec = room.recording();
  if (rec.active) return {409, "the room is recording already"};
  if (!flush_recording_stop(room.conference())) return {503, "the media side is busy; try again"};
  const RecordingOptions& options = options_.recording;
  auto buffer = std::make_shared<mixer::RecordingBuffer>(
      mixer::RecordingOptions{.member_tracks = options.member_tracks});
  mixer::Command command;
  command.kind = mixer::Command::Kind::kStartRecording;
  command.conference = room.conference();
  command.recording = buffer;
  command.notice = recording_tone(1);
  const std::optional<mixer::CommandId> id = engine_->submit(std::move(command));
  if (!id) return {503, "the media side is busy; try again"};
  record::Job job;
  job.id = ++last_recording_;
  job.buffer = buffer;
  job.prefix =
      options.dir + "/" + file_safe(room.name()) + "-" + utc_stamp() + "-" + std::to_string(job.id);
  job.format = options.format == "wav" ? record::Format::kWav : record::Format::kOggOpus;
  job.sample_rate = static_cast<int>(options.sample_rate);
  job.opus_bitrate = static_cast<int>(options.opus_bitrate);
  const std::string prefix = job.prefix;
  if (!recorder_->submit(std::move(job))) {
    // The tap on the shard queues nothing for a failed buffer; take it out.
    buffer->fail();
    submit_recording_stop(room.conference(), 0);
    return {503, "the recording writer is busy; try again"};
  }
  rec.active = true;
  rec.job = last_recording_;
  rec.start_command = *id;
  rec.prefix = prefix;
  rec.buffer = std::move(buffer);
  rec.last_error.clear();
  recording_rooms_[rec.job] = room.name();
  {
    LogContext context({}, room.name());
    spdlog::info("recording started ({}): {}-mix{}", by, prefix,
                 options.format == "wav" ? ".wav" : ".opus");
  }
  publish(room.name(), ControlEvent::Kind::kRecording, 0);
  return {200, "recording to " + prefix};
}

ControlResult Server::stop_recording(Room& room, std::string_view why) {
  RoomRecording& rec = room.recording();
  if (!rec.active) return {409, "the room is not recording"};
  mixer::Command command;
  command.kind = mixer::Command::Kind::kStopRecording;
  command.conference = room.conference();
  command.notice = recording_tone(2);
  if (!engine_->submit(std::move(command))) return {503, "the media side is busy; try again"};
  rec.active = false;
  rec.buffer.reset();
  {
    LogContext context({}, room.name());
    spdlog::info("recording stopped ({}): {}", why, rec.prefix);
  }
  publish(room.name(), ControlEvent::Kind::kRecording, 0);
  return {200, "recording stopped"};
}

// Called on every member's media (and move in): starts a configured
// auto_record once per time the room is open. auto_started is set once a
// start is taken (or the tries are used up), not before: a refused start
// leaves the room to a retry (retry_recording) instead of unrecorded.
void Server::auto_record(Room& room) {
  const RoomPolicy* policy = policy_for(room.name());
  if (policy == nullptr || !policy->auto_record) return;
  RoomRecording& rec = room.recording();
  if (rec.active || rec.auto_started) return;
  AutoRecordTry& attempt = auto_record_tries_[room.name()];
  if (attempt.conference != room.conference()) attempt = {.conference = room.conference()};
  ++attempt.tries;
  const ControlResult result = start_recording(room, "auto_record");
  if (result.ok()) {
    rec.auto_started = true;
    attempt.start = rec.start_command;  // the shard may still refuse it
    return;
  }
  auto_record_refused(room, result.message);
}

void Server::auto_record_refused(Room& room, std::string_view why) {
  const auto it = auto_record_tries_.find(room.name());
  if (it == auto_record_tries_.end()) return;
  LogContext context({}, room.name());
  if (it->second.tries >= kAutoRecordTries) {
    room.recording().auto_started = true;  // no more tries while the room is open
    auto_record_tries_.erase(it);
    spdlog::error("auto_record gave up after {} tries; the room is not recorded: {}",
                  kAutoRecordTries, why);
    return;
  }
  room.recording().auto_started = false;
  it->second.start = 0;
  it->second.due = std::chrono::steady_clock::now() + kAutoRecordRetry;
  spdlog::warn("auto_record could not start (try {} of {}), trying again: {}", it->second.tries,
               kAutoRecordTries, why);
}

// On every poll: refused stops go again (to rooms still open: a room's
// removal detaches its tap), and auto_record starts whose retry is due.
void Server::retry_recording() {
  if (!unsent_recording_stops_.empty()) {
    std::vector<std::pair<mixer::ConferenceId, int>> retry;
    retry.swap(unsent_recording_stops_);
    const auto open = rooms_.all();
    for (const auto& [stopped, beeps] : retry) {
      // A plain copy: lambdas may not capture a structured binding before
      // C++20 as clang 14 implements it (the libFuzzer tree builds with it).
      const mixer::ConferenceId conference = stopped;
      const bool in_use = std::any_of(open.begin(), open.end(), [&](const Room* room) {
        return room->conference() == conference;
      });
      if (in_use) submit_recording_stop(conference, beeps);
    }
  }
  if (auto_record_tries_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  std::vector<Room*> due;
  for (auto it = auto_record_tries_.begin(); it != auto_record_tries_.end();) {
    Room* room = rooms_.find(it->first);
    if (room == nullptr || room->conference() != it->second.conference) {
      it = auto_record_tries_.erase(it);  // the room closed
      continue;
    }
    RoomRecording& rec = room->recording();
    if (rec.active && rec.start_command != it->second.start) {
      // Someone else started it meanwhile: it is recorded, auto_record is
      // done with it (a later stop stays a stop).
      rec.auto_started = true;
      it = auto_record_tries_.erase(it);
      continue;
    }
    if (it->second.start == 0 && it->second.due <= now) due.push_back(room);
    ++it;
  }
  for (Room* room : due) auto_record(*room);
}

void Server::on_recording_completion(const mixer::Event& event) {
  const bool start = event.command == mixer::Command::Kind::kStartRecording;
  if (event.kind == mixer::Event::Kind::kDone) {
    if (!start) return;
    // An auto_record start taken: done with retries.
    std::erase_if(auto_record_tries_, [&](const auto& t) { return t.second.start == event.id; });
    return;
  }
  ++media_commands_failed_;
  if (!start) return;
  // The shard did not take the ring (room gone meanwhile, or recording
  // already): close it so the writer finishes (empty) files.
  for (Room* room : rooms_.all()) {
    RoomRecording& rec = room->recording();
    if (!rec.active || rec.start_command != event.id) continue;
    rec.buffer->close();
    rec.active = false;
    rec.buffer.reset();
    rec.last_error = std::string("media: ") + std::string(mixer::failure_name(event.failure));
    {
      LogContext context({}, room->name());
      spdlog::warn("recording could not start: {}", rec.last_error);
    }
    publish(room->name(), ControlEvent::Kind::kRecording, 0);
    const auto attempt = auto_record_tries_.find(room->name());
    if (attempt != auto_record_tries_.end() && attempt->second.start == event.id) {
      auto_record_refused(*room, rec.last_error);
    }
    return;
  }
}

void Server::poll_recorder() {
  retry_recording();
  record::WriterEvent event;
  for (int n = 0; n < 64 && recorder_->poll(event); ++n) {
    const auto it = recording_rooms_.find(event.id);
    const std::string room_name = it != recording_rooms_.end() ? it->second : std::string();
    LogContext context({}, room_name);
    if (event.kind == record::WriterEvent::Kind::kDropping) {
      // Once per recording; the count goes on in /metrics.
      spdlog::warn(
          "recording is dropping frames (the writer is behind; silence in their place): "
          "{} so far",
          event.frames_dropped);
      continue;
    }
    if (it != recording_rooms_.end()) recording_rooms_.erase(it);
    if (event.kind == record::WriterEvent::Kind::kFinished) {
      spdlog::info("recording finished: {} file(s), {:.1f} s, {} frame(s) dropped",
                   event.files.size(), static_cast<double>(event.ticks) * 0.02,
                   event.frames_dropped);
      continue;
    }
    // Cannot be written: the one log line; the calls go on untouched.
    spdlog::error("recording failed and stopped: {}", event.error);
    Room* room = room_name.empty() ? nullptr : rooms_.find(room_name);
    if (room == nullptr || room->recording().job != event.id) continue;
    RoomRecording& rec = room->recording();
    rec.last_error = event.error;
    if (!rec.active) continue;
    // The tap queues nothing any more (the buffer failed); the stop takes it
    // off the room (retried while the engine refuses it).
    submit_recording_stop(room->conference(), 2);
    rec.active = false;
    rec.buffer.reset();
    publish(room->name(), ControlEvent::Kind::kRecording, 0);
  }
}

bool Server::handle_record_urn(const sip::ServerTransaction& tx, sip::Dialog* dialog,
                               const std::string& room_name, const sip::Uri& target) {
  if (!sip::iequals(target.scheme, "urn")) return false;
  const std::string name = normalise_action(target.opaque);
  if (!name.starts_with(kVendorActionPrefix)) return false;
  const std::string_view action = std::string_view(name).substr(kVendorActionPrefix.size());
  const std::string local_tag = dialog != nullptr ? dialog->id().local_tag : random_.tag();
  const bool start = action == kRecordStart;
  if (!start && action != kRecordStop) {
    tx.respond(501, "Unsupported Action", local_tag);
    return true;
  }
  // A member may not record its own room without the right either.
  const std::optional<std::string> user = authorize(tx, Operation::kRecordRefer);
  if (!user) return true;
  Room* room = rooms_.find(room_name);
  if (room == nullptr) {
    tx.respond(404, "No Such Conference", local_tag);
    return true;
  }
  const std::optional<std::optional<Referral>> referral = accept_referral(tx, dialog, room_name);
  if (!referral) return true;
  const std::string by = "REFER by " + (user->empty() ? std::string("a trusted source") : *user);
  const ControlResult result = start ? start_recording(*room, by) : stop_recording(*room, by);
  if (*referral) {
    const int status = result.ok() ? 200 : result.status;
    notify_referrer(**referral, status,
                    result.ok() ? "OK" : (status == 409 ? "Conflict" : "Service Unavailable"));
  }
  return true;
}

}  // namespace chorus::focus
