#include "mixer/recording.hpp"

#include <algorithm>

#include "mixer/conference.hpp"

namespace chorus::mixer {

void RecordingTap::start(std::shared_ptr<RecordingBuffer> buffer, size_t lane,
                         std::chrono::nanoseconds period) {
  stop();
  buffer_ = std::move(buffer);
  lane_ = buffer_ && lane < buffer_->lanes() ? &buffer_->lane(lane) : nullptr;
  records_mix_ = lane == 0;
  period_ = period.count() > 0 ? period : std::chrono::milliseconds(kTickMs);
  limiter_.reset();
}

bool RecordingTap::stop() {
  if (!buffer_) return false;
  if (lane_ != nullptr) lane_->close();
  lane_ = nullptr;
  // The writer may hold the last reference; if this one is, the buffer is
  // freed here, on the command path (never inside capture()).
  buffer_.reset();
  return true;
}

std::optional<uint64_t> RecordingTap::index_of(int64_t due_ns) {
  const int64_t period = period_.count();
  if (records_mix_) {
    // The first part's first capture fixes t0 for every part.
    if (!buffer_->t0()) buffer_->set_t0(due_ns);
    const int64_t since = due_ns - *buffer_->t0();
    if (since < 0) return std::nullopt;
    return static_cast<uint64_t>((since + period / 2) / period);
  }
  const std::optional<int64_t> t0 = buffer_->t0();
  if (!t0) return std::nullopt;  // the first part has not captured yet
  // The first part's first tick due a twentieth of a period (1 ms: this
  // part's mix and send) or more after this one mixes this tick's partial
  // sum. Parts whose ticks fall closer than that race: the mix takes the
  // partial on that tick or the next (span.hpp), the track does not move.
  const int64_t since = due_ns + period / 20 - *t0;
  if (since <= -period) return std::nullopt;
  return static_cast<uint64_t>(std::max<int64_t>((since + period - 1) / period, 0));
}

void RecordingTap::capture(const Conference& conference,
                           std::chrono::steady_clock::time_point due) {
  // Closed from outside (the focus, when the room's removal was refused): the
  // writer finishes the files with what the rings hold, so frames pushed
  // now would be work and ring slots for nobody.
  if (lane_ == nullptr || buffer_->failed() || buffer_->closed()) return;
  const std::optional<uint64_t> index = index_of(
      std::chrono::duration_cast<std::chrono::nanoseconds>(due.time_since_epoch()).count());
  if (!index) return;
  const size_t n = std::min(conference.samples(), frame_.pcm.size());
  frame_.index = *index;
  frame_.rate = conference.rate();
  frame_.samples = static_cast<uint16_t>(n);
  if (records_mix_) {
    frame_.track = RecordFrame::Track::kMix;
    frame_.participant = 0;
    frame_.label = 0;
    limiter_.process(conference.bus().first(n), std::span<int16_t>(frame_.pcm.data(), n));
    lane_->push(frame_);
  }
  if (buffer_->options().member_tracks) capture_members(conference, n);
}

void RecordingTap::capture_members(const Conference& conference, size_t n) {
  frame_.track = RecordFrame::Track::kMember;
  for (size_t i = 0; i < conference.size(); ++i) {
    frame_.participant = conference.id_at(i);
    frame_.label = conference.settings(i).label;
    const Frame& input = conference.heard_input(i);
    if (conference.speaks(i) && input.samples == n && input.channels == 1) {
      std::copy_n(input.data.begin(), n, frame_.pcm.begin());
    } else {
      std::fill_n(frame_.pcm.begin(), n, int16_t{0});
    }
    lane_->push(frame_);
  }
}

}  // namespace chorus::mixer
