// Issue #17 "Recording" through a running Engine: kStartRecording /
// kStopRecording are acknowledged like every media command, the shard's tick
// copies the room's mix into the ring without allocating, and a full ring
// drops (counted) while the call's audio goes on.
// GCC 12 at -O2 (the TSan build) inlines the counting operator new into
// Boost's exception cloning and flags its free() as mismatched; the pair is
// malloc/free on both sides by construction (rtp/alloc_counter.hpp).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "rtp/alloc_counter.hpp"
#include "tests/mixer/engine_test_support.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::mixer {
namespace {

using namespace std::chrono_literals;

class RecordingEngine : public ::testing::Test {
 protected:
  RecordingEngine() : engine_(testing::loopback_engine(testing::test_port_base(43000, 100), 100)) {
    engine_.start();
  }
  ~RecordingEngine() override { engine_.stop(); }

  void join(size_t n) {
    const double freqs[] = {500, 700, 900};
    for (size_t i = 0; i < n; ++i) {
      callers_.push_back(std::make_unique<testing::Caller>(freqs[i]));
      const auto id = engine_.submit(testing::pcmu_add(1, 100 + i, callers_.back()->port()));
      ASSERT_TRUE(id.has_value());
      const auto done = log_.wait(*id);
      ASSERT_TRUE(done && done->kind == Event::Kind::kDone);
      callers_.back()->set_mixer_port(static_cast<uint16_t>(done->value));
    }
  }
  // 20 ms frames on the wall clock; `drain` pops the ring on this thread.
  void frames(int n, bool keep, RecordingBuffer* drain = nullptr) {
    for (int t = 0; t < n; ++t) {
      for (auto& c : callers_) c->send_frame();
      next_ += 20ms;
      std::this_thread::sleep_until(next_);
      for (auto& c : callers_) c->receive(keep);
      if (drain != nullptr) {
        while (drain->pop(frame_)) {
          if (frame_.track == RecordFrame::Track::kMix) {
            mix_.insert(mix_.end(), frame_.pcm.begin(), frame_.pcm.begin() + frame_.samples);
            ++mix_frames_;
            last_index_ = frame_.index;
          }
        }
      }
    }
  }
  Event command(Command c) {
    const auto id = engine_.submit(std::move(c));
    EXPECT_TRUE(id.has_value());
    const auto done = log_.wait(id.value_or(0));
    EXPECT_TRUE(done.has_value());
    return done.value_or(Event{});
  }
  static Command start(ConferenceId conference, std::shared_ptr<RecordingBuffer> buffer) {
    Command c;
    c.kind = Command::Kind::kStartRecording;
    c.conference = conference;
    c.recording = std::move(buffer);
    return c;
  }
  static Command stop(ConferenceId conference) {
    Command c;
    c.kind = Command::Kind::kStopRecording;
    c.conference = conference;
    return c;
  }

  Engine engine_;
  testing::EventLog log_{engine_};
  std::vector<std::unique_ptr<testing::Caller>> callers_;
  std::chrono::steady_clock::time_point next_ = std::chrono::steady_clock::now();
  RecordFrame frame_;
  std::vector<int16_t> mix_;
  size_t mix_frames_ = 0;
  uint64_t last_index_ = 0;
};

TEST_F(RecordingEngine, StartAndStopAreAcknowledgedAndTheTickRecordsWithoutAllocating) {
  join(3);
  frames(50, false);  // warm-up
  auto buffer = std::make_shared<RecordingBuffer>(RecordingOptions{.member_tracks = true});
  Command first = start(1, buffer);
  first.notice.beeps = 1;
  EXPECT_EQ(command(std::move(first)).kind, Event::Kind::kDone);
  // One recording per room.
  const Event again = command(start(1, std::make_shared<RecordingBuffer>()));
  EXPECT_EQ(again.kind, Event::Kind::kFailed);
  EXPECT_EQ(again.failure, Failure::kDuplicate);
  // Unknown room: refused by the engine.
  const Event unknown = command(start(99, std::make_shared<RecordingBuffer>()));
  EXPECT_EQ(unknown.failure, Failure::kUnknownConference);
  frames(20, false, buffer.get());  // the notice tone plays out
  mix_.clear();
  mix_frames_ = 0;

  const uint64_t total_before = rtp::alloc::total();
  const uint64_t mine_before = rtp::alloc::count();
  frames(60, true, buffer.get());
  const uint64_t shard_allocations =
      (rtp::alloc::total() - total_before) - (rtp::alloc::count() - mine_before);
  EXPECT_EQ(shard_allocations, 0u);
  EXPECT_GE(mix_frames_, 40u);
  // The recorded mix holds every caller (the whole room, as a non-member hears it).
  for (double f : {500.0, 700.0, 900.0}) {
    EXPECT_GT(goertzel_amplitude(mix_, f, 8000), 2000.0) << f;
  }
  EXPECT_EQ(buffer->frames_dropped(), 0u);
  // Member tracks came too: 1 mix + 3 members per tick.
  EXPECT_GE(buffer->frames_pushed(), 4u * mix_frames_);

  const Event stopped = command(stop(1));
  EXPECT_EQ(stopped.kind, Event::Kind::kDone);
  EXPECT_EQ(stopped.value, 1u);
  EXPECT_TRUE(buffer->closed());
  const Event none = command(stop(1));
  EXPECT_EQ(none.kind, Event::Kind::kDone);
  EXPECT_EQ(none.value, 0u);  // nothing was running
}

TEST_F(RecordingEngine, FullRingDropsAndCountsWhileTheCallAudioStaysVerified) {
  join(3);
  frames(50, false);
  auto buffer = std::make_shared<RecordingBuffer>();
  buffer->set_ring_capacity(4);  // nobody drains it: full after 4 ticks
  EXPECT_EQ(command(start(1, buffer)).kind, Event::Kind::kDone);
  frames(50, true);
  EXPECT_EQ(buffer->frames_pushed(), 4u);
  EXPECT_GE(buffer->frames_dropped(), 25u);  // ~46 at full speed; a slow (TSan) shard skips ticks
  // Every caller still hears the other two and not itself.
  EXPECT_GT(callers_[0]->heard(700), 2000.0);
  EXPECT_GT(callers_[0]->heard(900), 2000.0);
  EXPECT_LT(callers_[0]->heard(500), 200.0);
  EXPECT_GT(callers_[2]->heard(500), 2000.0);
  EXPECT_EQ(command(stop(1)).kind, Event::Kind::kDone);
}

TEST_F(RecordingEngine, RemovingTheRoomClosesItsRecording) {
  join(1);
  auto buffer = std::make_shared<RecordingBuffer>();
  EXPECT_EQ(command(start(1, buffer)).kind, Event::Kind::kDone);
  frames(5, false);
  Command remove;
  remove.kind = Command::Kind::kRemoveConference;
  remove.conference = 1;
  EXPECT_EQ(command(std::move(remove)).kind, Event::Kind::kDone);
  EXPECT_TRUE(buffer->closed());
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
