// Moving a member between conferences (issue #17, Command kMoveParticipant)
// through real shard threads on 127.0.0.1, one tone per member (Goertzel):
// after the move the member hears the target room and not the source, and
// only the target room hears it; its stream is the same (port, SSRC, no
// sequence gap, at most one tick without a packet). A target living on
// another shard gains a part on the member's shard (the conference spans).
// Refusals leave the member where it was; removing either room afterwards
// leaves nothing behind.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "mixer/engine.hpp"
#include "tests/mixer/engine_test_support.hpp"

namespace chorus::mixer {
namespace {

using namespace std::chrono_literals;
using testing::Caller;
using testing::EventLog;
using testing::pcmu_add;

constexpr double kHeard = 1000.0;  // a tone mixed in at full level
constexpr double kSilent = 300.0;  // nothing of it (the codec's noise floor)

class Members {
 public:
  Members(Engine& engine, EventLog& log) : engine_(engine), log_(log) {}

  // Adds a caller sending `freq` as `participant` of `conference`.
  Caller& add(ConferenceId conference, ParticipantId participant, double freq) {
    callers_.push_back(std::make_unique<Caller>(freq));
    Caller& c = *callers_.back();
    const auto id = engine_.submit(pcmu_add(conference, participant, c.port()));
    EXPECT_TRUE(id.has_value());
    const auto done = id ? log_.wait(*id) : std::nullopt;
    EXPECT_TRUE(done && done->kind == Event::Kind::kDone);
    if (done) c.set_mixer_port(static_cast<uint16_t>(done->value));
    ports_.push_back(done ? static_cast<uint16_t>(done->value) : 0);
    next_ = std::chrono::steady_clock::now();
    return c;
  }
  uint16_t mixer_port(size_t index) const { return ports_[index]; }

  // `n` frames from every caller at the real pace; `keep` = decode what
  // comes back.
  void frames(int n, bool keep = true) {
    for (int t = 0; t < n; ++t) {
      for (auto& c : callers_) c->send_frame();
      next_ += 20ms;
      std::this_thread::sleep_until(next_);
      for (auto& c : callers_) c->receive(keep);
    }
  }
  void forget() {
    for (auto& c : callers_) c->forget();
  }

 private:
  Engine& engine_;
  EventLog& log_;
  std::vector<std::unique_ptr<Caller>> callers_;
  std::vector<uint16_t> ports_;
  std::chrono::steady_clock::time_point next_;
};

Command move(ConferenceId from, ParticipantId participant, ConferenceId to) {
  Command c;
  c.kind = Command::Kind::kMoveParticipant;
  c.conference = from;
  c.participant = participant;
  c.target = to;
  return c;
}

Command remove_conference(ConferenceId id) {
  Command c;
  c.kind = Command::Kind::kRemoveConference;
  c.conference = id;
  return c;
}

std::optional<Event> submit_and_wait(Engine& engine, EventLog& log, Command command) {
  const auto id = engine.submit(std::move(command));
  if (!id) return std::nullopt;
  return log.wait(*id);
}

// Every shard back to its idle state: no member, no stream, every port free.
void expect_nothing_left(Engine& engine, const std::vector<size_t>& ports_free) {
  EventLog drain(engine);
  drain.poll_until([&] {
    for (size_t s = 0; s < engine.shard_count(); ++s) {
      const ShardStatus st = engine.shard_status(s);
      if (st.members != 0 || st.streams != 0 || st.ports_free != ports_free[s]) return false;
    }
    return true;
  });
  for (size_t s = 0; s < engine.shard_count(); ++s) {
    SCOPED_TRACE(s);
    const ShardStatus st = engine.shard_status(s);
    EXPECT_EQ(st.members, 0u);
    EXPECT_EQ(st.streams, 0u);
    EXPECT_EQ(st.ports_free, ports_free[s]);
  }
}

std::vector<size_t> free_ports(const Engine& engine) {
  std::vector<size_t> out;
  for (size_t s = 0; s < engine.shard_count(); ++s)
    out.push_back(engine.shard_status(s).ports_free);
  return out;
}

// An engine of `shards` shards (top-K 5: every tone of these rooms is
// mixed), its event log and members; at the end both rooms are removed and
// every shard must be back where it started.
class MoveMember : public ::testing::Test {
 protected:
  void start(size_t shards, size_t adds_per_tick = 8) {
    EngineConfig config = testing::loopback_engine(testing::test_port_base(46000, 50), 50, shards);
    config.mixer.top_k = 5;
    config.mixer.adds_per_tick = adds_per_tick;
    engine_ = std::make_unique<Engine>(config);
    baseline_ = free_ports(*engine_);
    engine_->start();
    log_ = std::make_unique<EventLog>(*engine_);
    members_ = std::make_unique<Members>(*engine_, *log_);
  }
  void TearDown() override {
    if (!engine_) return;
    run(remove_conference(1));
    run(remove_conference(2));
    expect_nothing_left(*engine_, baseline_);
    engine_->stop();
  }
  std::optional<Event> run(Command command) {
    return submit_and_wait(*engine_, *log_, std::move(command));
  }
  Engine& engine() { return *engine_; }
  Members& members() { return *members_; }

  // Submits every command at once (one burst into the ring, so the adds
  // wait in the shard's pending FIFO behind adds_per_tick = 1), then waits
  // until each one has its completion. Every command is acknowledged
  // exactly once; the completions in submission order.
  std::vector<Event> burst(std::vector<Command> commands) {
    std::vector<CommandId> ids;
    for (Command& c : commands) {
      const auto id = engine_->submit(std::move(c));
      EXPECT_TRUE(id.has_value());
      ids.push_back(id.value_or(0));
    }
    std::vector<Event> out;
    for (const CommandId id : ids) {
      const auto done = log_->wait(id);
      EXPECT_TRUE(done.has_value()) << "command " << id << " was never acknowledged";
      out.push_back(done.value_or(Event{}));
    }
    log_->poll_until([] { return false; }, 100ms);  // a duplicate would show by now
    for (const CommandId id : ids) EXPECT_EQ(log_->completions(id), 1u) << id;
    return out;
  }

 private:
  std::unique_ptr<Engine> engine_;
  std::vector<size_t> baseline_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<Members> members_;
};

TEST_F(MoveMember, OnOneShardItHearsAndIsHeardOnlyInTheTargetWithTheSameStream) {
  start(1);
  Engine& engine = this->engine();
  Members& members = this->members();
  Caller& a1 = members.add(1, 11, 300);
  Caller& a2 = members.add(1, 12, 500);
  Caller& m = members.add(1, 13, 700);
  Caller& b1 = members.add(2, 21, 900);
  Caller& b2 = members.add(2, 22, 1100);
  const uint16_t m_port = members.mixer_port(2);

  members.frames(25, false);  // jitter buffers settle
  members.forget();
  members.frames(40);
  // Before: two rooms that do not hear each other.
  EXPECT_GT(m.heard(300), kHeard);
  EXPECT_GT(m.heard(500), kHeard);
  EXPECT_LT(m.heard(900), kSilent);
  EXPECT_GT(a1.heard(700), kHeard);
  EXPECT_LT(b1.heard(700), kSilent);

  m.reset_steps();
  const auto moved = run(move(1, 13, 2));
  ASSERT_TRUE(moved);
  ASSERT_EQ(moved->kind, Event::Kind::kDone) << failure_name(moved->failure);
  EXPECT_EQ(moved->value, m_port);  // the same socket
  EXPECT_EQ(engine.shard_of(2, 13), 0u);
  EXPECT_FALSE(engine.shard_of(1, 13).has_value());
  members.frames(5, false);  // what was in flight (a talker's ramp out)
  members.forget();
  members.frames(40);
  // After: the member hears room 2 and not room 1, and only room 2 hears it.
  EXPECT_GT(m.heard(900), kHeard);
  EXPECT_GT(m.heard(1100), kHeard);
  EXPECT_LT(m.heard(300), kSilent);
  EXPECT_LT(m.heard(500), kSilent);
  EXPECT_GT(b1.heard(700), kHeard);
  EXPECT_GT(b2.heard(700), kHeard);
  EXPECT_LT(a1.heard(700), kSilent);
  EXPECT_LT(a2.heard(700), kSilent);
  EXPECT_GT(a1.heard(500), kHeard);  // room 1 goes on without it
  EXPECT_LT(a1.heard(900), kSilent);
  // The same stream to the member: one SSRC, no sequence gap, at most one
  // tick (160 samples) without a packet across the move.
  EXPECT_EQ(m.ssrc_changes(), 0u);
  EXPECT_EQ(m.max_sequence_step(), 1u);
  EXPECT_LE(m.max_timestamp_step(), 2u * 160);

  // Room 1 goes away; the moved member is not in it.
  const auto gone = run(remove_conference(1));
  ASSERT_TRUE(gone && gone->kind == Event::Kind::kDone);
  members.forget();
  members.frames(30);
  EXPECT_GT(m.heard(900), kHeard);
  EXPECT_GT(b2.heard(700), kHeard);
  EXPECT_EQ(engine.shard_status(0).members, 3u);
}

TEST_F(MoveMember, IntoARoomOnAnotherShardTheRoomSpansToTheMembersShard) {
  start(2);
  Engine& engine = this->engine();
  Members& members = this->members();
  Caller& a1 = members.add(1, 11, 300);
  Caller& m = members.add(1, 13, 700);
  Caller& b1 = members.add(2, 21, 900);
  Caller& b2 = members.add(2, 22, 1100);
  const auto member_shard = engine.shard_of(1, 13);
  const auto room_shard = engine.shard_of(2, 21);
  ASSERT_TRUE(member_shard && room_shard);
  ASSERT_NE(*member_shard, *room_shard) << "the test needs room 2 on the other shard";
  EXPECT_EQ(engine.parts(2), 1u);

  members.frames(25, false);
  m.reset_steps();
  const auto moved = run(move(1, 13, 2));
  ASSERT_TRUE(moved);
  ASSERT_EQ(moved->kind, Event::Kind::kDone) << failure_name(moved->failure);
  EXPECT_EQ(moved->value, members.mixer_port(1));
  // The member did not change shard; room 2 gained a part on its shard.
  EXPECT_EQ(engine.shard_of(2, 13), member_shard);
  EXPECT_EQ(engine.parts(2), 2u);
  members.frames(5, false);
  members.forget();
  members.frames(40);
  EXPECT_GT(m.heard(900), kHeard);
  EXPECT_GT(m.heard(1100), kHeard);
  EXPECT_LT(m.heard(300), kSilent);
  EXPECT_GT(b1.heard(700), kHeard);
  EXPECT_GT(b2.heard(700), kHeard);
  EXPECT_LT(a1.heard(700), kSilent);
  EXPECT_EQ(m.ssrc_changes(), 0u);
  EXPECT_EQ(m.max_sequence_step(), 1u);
}

TEST_F(MoveMember, RefusedMovesLeaveTheMemberWhereItWas) {
  start(1);
  Engine& engine = this->engine();
  Members& members = this->members();
  Caller& a1 = members.add(1, 11, 300);
  Caller& m = members.add(1, 13, 700);
  members.add(2, 13, 900);  // room 2 has a participant 13 already

  auto refused = run(move(1, 13, 2));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->kind, Event::Kind::kFailed);
  EXPECT_EQ(refused->failure, Failure::kDuplicate);
  refused = run(move(1, 13, 1));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->failure, Failure::kDuplicate);
  refused = run(move(1, 99, 3));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->failure, Failure::kUnknownParticipant);
  refused = run(move(7, 13, 3));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->failure, Failure::kUnknownConference);
  EXPECT_FALSE(engine.shard_of(3, 13).has_value());
  EXPECT_EQ(engine.shard_of(1, 13), 0u);

  members.frames(25, false);
  members.forget();
  members.frames(30);
  EXPECT_GT(m.heard(300), kHeard);
  EXPECT_LT(m.heard(900), kSilent);
  EXPECT_GT(a1.heard(700), kHeard);

  // Its later commands still reach it in room 1.
  Command remove;
  remove.kind = Command::Kind::kRemoveParticipant;
  remove.conference = 1;
  remove.participant = 13;
  const auto removed = run(std::move(remove));
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->kind, Event::Kind::kDone);
}

TEST_F(MoveMember, ItsLaterCommandsAndRemovalFollowItToTheTarget) {
  start(1);
  Engine& engine = this->engine();
  Members& members = this->members();
  members.add(1, 11, 300);
  Caller& m = members.add(1, 13, 700);
  Caller& b1 = members.add(2, 21, 900);

  // Move there and back again, then mute it in room 2's name after a third
  // move: the settings apply where the member is.
  ASSERT_EQ(run(move(1, 13, 2))->kind, Event::Kind::kDone);
  ASSERT_EQ(run(move(2, 13, 1))->kind, Event::Kind::kDone);
  ASSERT_EQ(run(move(1, 13, 2))->kind, Event::Kind::kDone);
  Command mute;
  mute.kind = Command::Kind::kUpdateParticipant;
  mute.conference = 2;
  mute.participant = 13;
  mute.settings.muted = true;
  ASSERT_EQ(run(std::move(mute))->kind, Event::Kind::kDone);
  members.frames(25, false);
  members.forget();
  members.frames(30);
  EXPECT_LT(b1.heard(700), kSilent);  // muted in room 2
  EXPECT_GT(m.heard(900), kHeard);    // and still hears it
  EXPECT_LT(m.heard(300), kSilent);

  Command remove;
  remove.kind = Command::Kind::kRemoveParticipant;
  remove.conference = 2;
  remove.participant = 13;
  ASSERT_EQ(run(std::move(remove))->kind, Event::Kind::kDone);
  EXPECT_EQ(engine.shard_status(0).members, 2u);
}

// Commands are move-only: no initializer list.
template <class... C>
std::vector<Command> commands(C&&... c) {
  std::vector<Command> out;
  (out.push_back(std::forward<C>(c)), ...);
  return out;
}

Command mute_in(ConferenceId conference, ParticipantId participant) {
  Command c;
  c.kind = Command::Kind::kUpdateParticipant;
  c.conference = conference;
  c.participant = participant;
  c.settings.muted = true;
  return c;
}

Command remove_member(ConferenceId conference, ParticipantId participant) {
  Command c;
  c.kind = Command::Kind::kRemoveParticipant;
  c.conference = conference;
  c.participant = participant;
  return c;
}

// Only a member whose add has completed moves (Engine::submit_move): a move
// sent in the same burst as the member's add, while the add still waits in
// the shard's pending FIFO (adds_per_tick = 1 behind two other adds), is
// refused kInvalid at once, so a move never waits in that FIFO. The mute and
// the removal sent in the target room's name then name nobody there. Every
// command of the burst is acknowledged exactly once, the member stays in the
// room it was added to, and a move sent after its add completed goes through.
TEST_F(MoveMember, AMoveBeforeTheAddCompletedIsRefusedAndEveryCommandIsAcknowledged) {
  start(1, /*adds_per_tick=*/1);
  Members& members = this->members();
  members.add(1, 11, 300);
  members.add(2, 21, 900);
  Caller c31(500), c32(600), c33(700);
  const std::vector<Event> done = burst(
      commands(pcmu_add(1, 31, c31.port()), pcmu_add(1, 32, c32.port()),
               pcmu_add(1, 33, c33.port()), move(1, 33, 2), mute_in(2, 33), remove_member(2, 33)));
  ASSERT_EQ(done.size(), 6u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(done[i].kind, Event::Kind::kDone) << i;
  EXPECT_EQ(done[3].failure, Failure::kInvalid) << failure_name(done[3].failure);
  EXPECT_EQ(done[4].failure, Failure::kUnknownParticipant) << failure_name(done[4].failure);
  EXPECT_EQ(done[5].failure, Failure::kUnknownParticipant) << failure_name(done[5].failure);
  EXPECT_TRUE(engine().shard_of(1, 33).has_value());
  EXPECT_FALSE(engine().shard_of(2, 33).has_value());
  EXPECT_EQ(engine().shard_status(0).members, 5u);  // 11, 21, 31, 32, 33

  // Now that the add completed, the same move goes through.
  const auto moved = run(move(1, 33, 2));
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->kind, Event::Kind::kDone) << failure_name(moved->failure);
  EXPECT_TRUE(engine().shard_of(2, 33).has_value());
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
