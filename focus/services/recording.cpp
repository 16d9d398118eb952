// Room recording (issue #17, README "Recording"): start and stop from the
// admin API / chorusctl / console (Control::set_recording), a REFER with
// Refer-To urn:x-chorus:conference:record-start / record-stop, and a room's
// auto_record. The media side taps the room's mix on its tick
// (mixer::RecordingTap); record::Writer, a thread of its own, writes the files.
#include <spdlog/spdlog.h>

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

ControlResult Server::set_recording(std::string_view room_name, bool on) {
  Room* room = rooms_.find(room_name);
  if (room == nullptr) return {404, "no such room (a room records while it has members)"};
  return on ? start_recording(*room, "admin") : stop_recording(*room, "admin");
}

ControlResult Server::start_recording(Room& room, std::string_view by) {
  RoomRecording& rec = room.recording();
  if (rec.active) return {409, "the room is recording already"};
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
    mixer::Command stop;
    stop.kind = mixer::Command::Kind::kStopRecording;
    stop.conference = room.conference();
    engine_->submit(std::move(stop));
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

void Server::auto_record(Room& room) {
  const RoomPolicy* policy = policy_for(room.name());
  if (policy == nullptr || !policy->auto_record) return;
  RoomRecording& rec = room.recording();
  if (rec.active || rec.auto_started) return;
  rec.auto_started = true;
  const ControlResult result = start_recording(room, "auto_record");
  if (!result.ok()) {
    LogContext context({}, room.name());
    spdlog::warn("auto_record could not start: {}", result.message);
  }
}

void Server::on_recording_completion(const mixer::Event& event) {
  if (event.kind == mixer::Event::Kind::kDone) return;
  ++media_commands_failed_;
  if (event.command != mixer::Command::Kind::kStartRecording) return;
  // The shard did not take the ring (room gone meanwhile, or recording
  // already): close it so the writer finishes (empty) files.
  for (Room* room : rooms_.all()) {
    RoomRecording& rec = room->recording();
    if (!rec.active || rec.start_command != event.id) continue;
    rec.buffer->close();
    rec.active = false;
    rec.buffer.reset();
    rec.last_error = std::string("media: ") + std::string(mixer::failure_name(event.failure));
    LogContext context({}, room->name());
    spdlog::warn("recording could not start: {}", rec.last_error);
    publish(room->name(), ControlEvent::Kind::kRecording, 0);
    return;
  }
}

void Server::poll_recorder() {
  record::WriterEvent event;
  for (int n = 0; n < 64 && recorder_->poll(event); ++n) {
    const auto it = recording_rooms_.find(event.id);
    const std::string room_name = it != recording_rooms_.end() ? it->second : std::string();
    if (it != recording_rooms_.end()) recording_rooms_.erase(it);
    LogContext context({}, room_name);
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
    mixer::Command command;
    command.kind = mixer::Command::Kind::kStopRecording;
    command.conference = room->conference();
    command.notice = recording_tone(2);
    // Refused: the tap stays attached but queues nothing (the buffer failed);
    // the room's removal detaches it.
    engine_->submit(std::move(command));
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
