#include "record/writer.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <unordered_map>

#include "mixer/resampler.hpp"

namespace chorus::record {

struct Writer::Track {
  mixer::ParticipantId participant = 0;
  std::string path;
  std::unique_ptr<AudioSink> sink;
  uint64_t next = 0;  // index of the next frame this file expects
  int in_rate = 0;
  std::unique_ptr<mixer::Resampler> resampler;  // only while in_rate differs from the file's
};

struct Writer::Recording {
  Job job;
  Track mix;
  std::vector<std::unique_ptr<Track>> members;
  std::unordered_map<mixer::ParticipantId, Track*> by_participant;
  std::vector<std::string> files;
  std::vector<int16_t> silence;  // one frame at the file rate
  mixer::RecordFrame frame;      // popped
  mixer::Frame in;               // resampler input / output
  mixer::Frame out;
  bool failed = false;
};

Writer::Writer(std::chrono::milliseconds interval)
    : interval_(interval),
      jobs_(std::make_unique<rtp::SpscRing<Job, kJobRing>>()),
      events_(std::make_unique<rtp::SpscRing<WriterEvent, kEventRing>>()) {}

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

Writer::Track* Writer::track_for(Recording& r, mixer::ParticipantId participant) {
  const auto it = r.by_participant.find(participant);
  if (it != r.by_participant.end()) return it->second;
  auto t = std::make_unique<Track>();
  t->participant = participant;
  t->path = r.job.prefix + "-member-" + std::to_string(participant) +
            std::string(file_extension(r.job.format));
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

bool Writer::pad_to(Recording& r, Track& t, uint64_t index) {
  for (; t.next < index; ++t.next) {
    if (!t.sink->write(r.silence)) return false;
  }
  return true;
}

bool Writer::write_frame(Recording& r, Track& t, const mixer::RecordFrame& frame) {
  if (frame.index < t.next) return true;  // never goes back in time
  if (!pad_to(r, t, frame.index)) return false;
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

bool Writer::drain(Recording& r, bool final) {
  // Read `closed` first: once it is set, every frame is in the rings.
  const bool closed = final || r.job.buffer->closed();
  while (r.job.buffer->pop(r.frame)) {
    Track* t = &r.mix;
    if (r.frame.track == mixer::RecordFrame::Track::kMember) {
      t = track_for(r, r.frame.participant);
      if (t == nullptr) return true;  // failed
    }
    if (!write_frame(r, *t, r.frame)) {
      fail(r, t->path + ": " + t->sink->error());
      return true;
    }
  }
  if (!closed) return false;
  finish(r);
  return true;
}

void Writer::finish(Recording& r) {
  uint64_t end = r.mix.next;
  for (const auto& t : r.members) end = std::max(end, t->next);
  std::string error;
  auto complete = [&](Track& t) {
    if (!t.sink) return;
    if (!pad_to(r, t, end) && error.empty()) error = t.path + ": " + t.sink->error();
    if (!t.sink->finish() && error.empty()) error = t.path + ": " + t.sink->error();
    t.sink.reset();
  };
  complete(r.mix);
  for (const auto& t : r.members) complete(*t);
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
