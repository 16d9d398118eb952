#include "record/writer.hpp"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <system_error>
#include <unordered_map>

#include "mixer/resampler.hpp"

namespace chorus::record {

namespace {

// `f(track)` on the mix, then every member track, while it returns true.
template <typename Recording, typename F>
void for_each_track(Recording& r, F f) {
  if (!f(r.mix)) return;
  for (const auto& t : r.members) {
    if (!f(*t)) return;
  }
}

}  // namespace

struct Writer::Track {
  mixer::ParticipantId participant = 0;
  std::string path;
  std::unique_ptr<AudioSink> sink;
  uint64_t next = 0;  // index of the next frame this file expects
  // Frames behind padding the pass's budget did not finish, in order.
  std::deque<mixer::RecordFrame> held;
  int in_rate = 0;
  std::unique_ptr<mixer::Resampler> resampler;  // only while in_rate differs from the file's
  // Nonzero: the member left (no frame for idle_ticks_ of the mix); the
  // file takes silence up to here, then closes.
  uint64_t ends_at = 0;
};

struct Writer::Recording {
  Job job;
  Track mix;
  std::vector<std::unique_ptr<Track>> members;
  std::unordered_map<mixer::ParticipantId, Track*> by_participant;  // open tracks
  // Files opened per member name: a second participant of one member (a
  // Replaces, a return after its track closed) gets `-2`, `-3`, ...
  std::unordered_map<std::string, uint32_t> name_uses;
  std::vector<std::string> files;
  std::vector<int16_t> silence;  // one frame at the file rate
  mixer::RecordFrame frame;      // popped
  mixer::Frame in;               // resampler input / output
  mixer::Frame out;
  uint64_t dropped_seen = 0;  // of the buffer's frames_dropped(), added to dropped_
  bool failed = false;
};

Writer::Writer(std::chrono::milliseconds interval, size_t pad_frames_per_pass, uint64_t idle_ticks)
    : interval_(interval),
      jobs_(std::make_unique<rtp::SpscRing<Job, kJobRing>>()),
      events_(std::make_unique<rtp::SpscRing<WriterEvent, kEventRing>>()),
      pad_per_pass_(std::max<size_t>(pad_frames_per_pass, 1)),
      idle_ticks_(std::max<uint64_t>(idle_ticks, 1)) {}

Writer::~Writer() {
  stop();
}

void Writer::start() {
  if (thread_.joinable()) return;
  stopping_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this] {
    while (!stopping_.load(std::memory_order_acquire)) {
      pass(false);
      std::this_thread::sleep_for(interval_);
    }
    pass(true);
  });
}

void Writer::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_release);
  thread_.join();
}

bool Writer::submit(Job job) {
  return jobs_->try_push(std::move(job));
}

bool Writer::poll(WriterEvent& event) {
  return events_->try_pop(event);
}

void Writer::emit(WriterEvent event) {
  if (unsent_.empty() && events_->try_push(std::move(event))) return;
  unsent_.push_back(std::move(event));
}

size_t Writer::pass(bool final) {
  pad_budget_ = final ? SIZE_MAX : pad_per_pass_;
  size_t sent = 0;
  while (sent < unsent_.size() && events_->try_push(std::move(unsent_[sent]))) ++sent;
  unsent_.erase(unsent_.begin(), unsent_.begin() + static_cast<ptrdiff_t>(sent));
  Job job;
  while (jobs_->try_pop(job)) {
    open(job);
    job = Job{};
  }
  for (size_t i = 0; i < open_.size();) {
    if (drain(*open_[i], final)) {
      open_.erase(open_.begin() + static_cast<ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return open_.size();
}

void Writer::open(Job& job) {
  auto r = std::make_unique<Recording>();
  r->job = std::move(job);
  r->job.sample_rate = std::clamp(r->job.sample_rate, 8000, 48000);
  r->silence.assign(mixer::samples_per_tick(r->job.sample_rate), 0);
  std::string error;
  const std::filesystem::path dir = std::filesystem::path(r->job.prefix).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = dir.string() + ": " + ec.message();
  } else {
    r->mix.path = r->job.prefix + "-mix" + std::string(file_extension(r->job.format));
    r->mix.sink =
        open_sink(r->job.format, r->mix.path, r->job.sample_rate, r->job.opus_bitrate, error);
  }
  if (!r->mix.sink) {
    fail(*r, error);
    return;
  }
  r->files.push_back(r->mix.path);
  open_.push_back(std::move(r));
}

Writer::Track* Writer::track_for(Recording& r, mixer::ParticipantId participant, uint64_t label) {
  const auto it = r.by_participant.find(participant);
  if (it != r.by_participant.end()) return it->second;
  auto t = std::make_unique<Track>();
  t->participant = participant;
  std::string name = "-member-" + std::to_string(label != 0 ? label : participant);
  if (const uint32_t uses = ++r.name_uses[name]; uses > 1) name += "-" + std::to_string(uses);
  t->path = r.job.prefix + name + std::string(file_extension(r.job.format));
  std::string error;
  t->sink = open_sink(r.job.format, t->path, r.job.sample_rate, r.job.opus_bitrate, error);
  if (!t->sink) {
    fail(r, error);
    return nullptr;
  }
  r.files.push_back(t->path);
  Track* raw = t.get();
  r.members.push_back(std::move(t));
  r.by_participant.emplace(participant, raw);
  return raw;
}

// Pads toward `index` within the pass's budget: t.next may stay short of it.
bool Writer::pad_to(Recording& r, Track& t, uint64_t index) {
  for (; t.next < index && pad_budget_ > 0; ++t.next, --pad_budget_) {
    if (!t.sink->write(r.silence)) return false;
  }
  return true;
}

bool Writer::write_frame(Recording& r, Track& t, const mixer::RecordFrame& frame) {
  if (frame.index < t.next) return true;  // never goes back in time
  if (t.held.empty()) {
    if (!pad_to(r, t, frame.index)) return false;
    if (t.next == frame.index) return put(r, t, frame);
  }
  t.held.push_back(frame);  // after the padding, in a later pass
  return true;
}

// The frames held behind padding, as far as this pass's budget pads.
bool Writer::release_held(Recording& r, Track& t) {
  while (!t.held.empty()) {
    const mixer::RecordFrame& frame = t.held.front();
    if (frame.index >= t.next) {
      if (!pad_to(r, t, frame.index)) return false;
      if (t.next < frame.index) return true;  // out of budget
      if (!put(r, t, frame)) return false;
    }
    t.held.pop_front();
  }
  return true;
}

// Writes `frame` (its index is t.next).
bool Writer::put(Recording& r, Track& t, const mixer::RecordFrame& frame) {
  const size_t n = std::min<size_t>(frame.samples, frame.pcm.size());
  std::span<const int16_t> pcm(frame.pcm.data(), n);
  if (frame.rate != r.job.sample_rate) {
    if (!t.resampler || t.in_rate != frame.rate) {
      t.resampler = std::make_unique<mixer::Resampler>(frame.rate, r.job.sample_rate);
      t.in_rate = frame.rate;
    }
    r.in.sample_rate = frame.rate;
    r.in.channels = 1;
    r.in.samples = n;
    std::copy_n(frame.pcm.begin(), n, r.in.data.begin());
    t.resampler->process(r.in, r.out);
    pcm = r.out.pcm();
  }
  // Exactly one file-rate frame per index, whatever the resampler yields.
  const size_t want = r.silence.size();
  bool ok = t.sink->write(pcm.first(std::min(want, pcm.size())));
  if (ok && pcm.size() < want) ok = t.sink->write(std::span(r.silence).first(want - pcm.size()));
  t.next = frame.index + 1;
  return ok;
}

void Writer::note_drops(Recording& r) {
  const uint64_t dropped = r.job.buffer->frames_dropped();
  if (dropped <= r.dropped_seen) return;
  if (r.dropped_seen == 0) {
    WriterEvent e;
    e.kind = WriterEvent::Kind::kDropping;
    e.id = r.job.id;
    e.frames_dropped = dropped;
    emit(std::move(e));
  }
  dropped_.fetch_add(dropped - r.dropped_seen, std::memory_order_relaxed);
  r.dropped_seen = dropped;
}

bool Writer::drain(Recording& r, bool final) {
  // Read `closed` first: once it is set, every frame is in the rings.
  const bool closed = final || r.job.buffer->closed();
  note_drops(r);
  // Tracks still padding from an earlier pass go on first.
  Track* broken = nullptr;
  for_each_track(r, [&](Track& t) {
    if (!release_held(r, t)) broken = &t;
    return broken == nullptr;
  });
  if (broken != nullptr) {
    fail(r, broken->path + ": " + broken->sink->error());
    return true;
  }
  while (r.job.buffer->pop(r.frame)) {
    Track* t = &r.mix;
    if (r.frame.track == mixer::RecordFrame::Track::kMember) {
      t = track_for(r, r.frame.participant, r.frame.label);
      if (t == nullptr) return true;  // failed
      t->ends_at = 0;                 // still (or again) in the room
    }
    if (!write_frame(r, *t, r.frame)) {
      fail(r, t->path + ": " + t->sink->error());
      return true;
    }
  }
  if (!closed) return !close_idle_tracks(r);
  bool padded = false;
  if (!pad_to_end(r, padded)) return true;  // failed
  if (!padded) return false;                // more silence in the next pass
  finish(r);
  return true;
}

// Members who left: a track with no frame for idle_ticks_ while the mix
// went on is padded that far (within the pass's budget) and closed, so a
// recording of a room with years of comings and goings holds files and
// encoders for its members present, not for everyone it ever had. False
// when closing failed the recording.
bool Writer::close_idle_tracks(Recording& r) {
  for (size_t i = 0; i < r.members.size();) {
    Track& t = *r.members[i];
    if (t.ends_at == 0 && t.held.empty() && r.mix.next > t.next + idle_ticks_) {
      t.ends_at = t.next + idle_ticks_;
    }
    if (t.ends_at == 0) {
      ++i;
      continue;
    }
    if (!pad_to(r, t, t.ends_at)) {
      fail(r, t.path + ": " + t.sink->error());
      return false;
    }
    if (t.next < t.ends_at) {
      ++i;  // more silence in the next pass
      continue;
    }
    const bool finished = t.sink->finish();
    const std::string error = finished ? std::string() : t.path + ": " + t.sink->error();
    t.sink.reset();
    if (!finished) {
      fail(r, error);
      return false;
    }
    r.by_participant.erase(t.participant);
    r.members.erase(r.members.begin() + static_cast<ptrdiff_t>(i));
    tracks_closed_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

// Every frame is in: each track takes its held frames, then silence up to
// the recording's end (past the last frame of any track; a member who left
// only up to its ends_at), within the pass's budget. `padded`: every track
// reached its end.
bool Writer::pad_to_end(Recording& r, bool& padded) {
  uint64_t end = 0;
  for_each_track(r, [&](Track& t) {
    end = std::max(end, t.next);
    for (const mixer::RecordFrame& frame : t.held) end = std::max(end, frame.index + 1);
    return true;
  });
  padded = true;
  Track* broken = nullptr;
  for_each_track(r, [&](Track& t) {
    const uint64_t target = t.ends_at != 0 ? std::min(t.ends_at, end) : end;
    if (!release_held(r, t) || !pad_to(r, t, target)) {
      broken = &t;
      return false;
    }
    padded = padded && t.held.empty() && t.next >= target;
    return true;
  });
  if (broken == nullptr) return true;
  fail(r, broken->path + ": " + broken->sink->error());
  return false;
}

// Every track is padded to the same end: the files are complete.
void Writer::finish(Recording& r) {
  const uint64_t end = r.mix.next;
  std::string error;
  for_each_track(r, [&](Track& t) {
    if (t.sink && !t.sink->finish() && error.empty()) error = t.path + ": " + t.sink->error();
    t.sink.reset();
    return true;
  });
  note_drops(r);
  if (!error.empty()) {
    fail(r, error);
    return;
  }
  WriterEvent e;
  e.kind = WriterEvent::Kind::kFinished;
  e.id = r.job.id;
  e.files = r.files;
  e.ticks = end;
  e.frames_dropped = r.job.buffer->frames_dropped();
  finished_.fetch_add(1, std::memory_order_relaxed);
  emit(std::move(e));
}

void Writer::fail(Recording& r, const std::string& error) {
  if (r.failed) return;
  r.failed = true;
  r.job.buffer->fail();  // the tap stops queueing
  // Whatever was written stays readable as far as it goes.
  auto close = [](Track& t) {
    if (t.sink) t.sink->finish();
    t.sink.reset();
  };
  close(r.mix);
  for (const auto& t : r.members) close(*t);
  failed_.fetch_add(1, std::memory_order_relaxed);
  note_drops(r);
  WriterEvent e;
  e.kind = WriterEvent::Kind::kFailed;
  e.id = r.job.id;
  e.error = error;
  e.files = r.files;
  e.ticks = r.mix.next;
  e.frames_dropped = r.job.buffer->frames_dropped();
  emit(std::move(e));
}

}  // namespace chorus::record
