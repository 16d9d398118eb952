#include "mixer/recording.hpp"

#include <algorithm>

#include "mixer/conference.hpp"

namespace chorus::mixer {

void RecordingTap::start(std::shared_ptr<RecordingBuffer> buffer) {
  stop();
  buffer_ = std::move(buffer);
  started_ = false;
  limiter_.reset();
}

bool RecordingTap::stop() {
  if (!buffer_) return false;
  buffer_->close();
  // The writer may hold the last reference; if this one is, the buffer is
  // freed here, on the command path (never inside capture()).
  buffer_.reset();
  return true;
}

void RecordingTap::capture(const Conference& conference, uint64_t tick) {
  if (!buffer_ || buffer_->failed()) return;
  if (!started_) {
    started_ = true;
    t0_ = tick;
  }
  const size_t n = std::min(conference.samples(), frame_.pcm.size());
  frame_.index = tick - t0_;
  frame_.rate = conference.rate();
  frame_.samples = static_cast<uint16_t>(n);
  frame_.track = RecordFrame::Track::kMix;
  frame_.participant = 0;
  limiter_.process(conference.bus().first(n), std::span<int16_t>(frame_.pcm.data(), n));
  buffer_->push(frame_);
  if (!buffer_->options().member_tracks) return;
  frame_.track = RecordFrame::Track::kMember;
  for (size_t i = 0; i < conference.size(); ++i) {
    frame_.participant = conference.id_at(i);
    const Frame& input = conference.heard_input(i);
    if (conference.speaks(i) && input.samples == n && input.channels == 1) {
      std::copy_n(input.data.begin(), n, frame_.pcm.begin());
    } else {
      std::fill_n(frame_.pcm.begin(), n, int16_t{0});
    }
    buffer_->push(frame_);
  }
}

}  // namespace chorus::mixer
