// End to end through real rtp::Shard streams on 127.0.0.1: three callers send
// PCMU tones over UDP, the engine mixes, each caller decodes what comes back
// and hears the other two but not itself.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numbers>
#include <thread>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/engine.hpp"
#include "mixer/goertzel.hpp"
#include "rtp/packet.hpp"
#include "tests/mixer/engine_test_support.hpp"

namespace chorus::mixer {
namespace {

using testing::Caller;
using testing::EventLog;

TEST(Engine, ThreeCallersOverLoopbackHearEachOtherButNotThemselves) {
  Engine engine(testing::loopback_engine(testing::test_port_base(42000, 100), 100));
  engine.start();
  EventLog log(engine);

  const double freqs[] = {500, 700, 900};
  std::vector<std::unique_ptr<Caller>> callers;
  std::vector<CommandId> adds;
  for (size_t i = 0; i < 3; ++i) {
    callers.push_back(std::make_unique<Caller>(freqs[i]));
    const auto id = engine.submit(testing::pcmu_add(77, 100 + i, callers.back()->port()));
    ASSERT_TRUE(id.has_value());
    adds.push_back(*id);
  }
  // Each add's kDone carries the participant's mixer port.
  for (size_t i = 0; i < 3; ++i) {
    const auto done = log.wait(adds[i]);
    ASSERT_TRUE(done.has_value());
    ASSERT_EQ(done->kind, Event::Kind::kDone) << failure_name(done->failure);
    EXPECT_EQ(done->command, Command::Kind::kAddParticipant);
    EXPECT_EQ(done->participant, 100 + i);
    callers[i]->set_mixer_port(static_cast<uint16_t>(done->value));
  }

  // 1.2 s of audio at 20 ms; keep the last 0.6 s.
  auto next = std::chrono::steady_clock::now();
  for (int t = 0; t < 60; ++t) {
    for (auto& c : callers) c->send_frame();
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
    for (auto& c : callers) c->receive(t >= 30);
  }
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const Caller& c = *callers[i];
    EXPECT_GT(c.packets(), 30u);
    ASSERT_GT(c.samples(), 160u * 10);
    for (size_t j = 0; j < 3; ++j) {
      if (i == j) {
        EXPECT_LT(c.heard(freqs[j]), 300.0);
      } else {
        EXPECT_GT(c.heard(freqs[j]), 1500.0);
      }
    }
  }
  // Talker and level events came back for every caller, addressed to it.
  log.poll();
  std::array<bool, 3> talking{};
  std::array<bool, 3> level{};
  for (const Event& e : log.events()) {
    if (e.conference != 77 || e.participant < 100 || e.participant > 102) continue;
    if (e.kind == Event::Kind::kStartedTalking) talking[e.participant - 100] = true;
    if (e.kind == Event::Kind::kLevel) {
      level[e.participant - 100] = true;
      EXPECT_LT(e.value, 40u);  // a 6000-amplitude tone is about -17 dBov
    }
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(talking[i]) << i;
    EXPECT_TRUE(level[i]) << i;
  }
  // Caller 1 (700 Hz) goes on hold: the others stop hearing it, and it hears
  // music instead of them.
  Command hold;
  hold.kind = Command::Kind::kUpdateParticipant;
  hold.conference = 77;
  hold.participant = 101;
  hold.settings.hold = HoldMode::kMusic;
  const auto held = engine.submit(std::move(hold));
  ASSERT_TRUE(held.has_value());
  // The hold's effect is measured once the engine reports it done (on a
  // loaded machine that can take longer than the frames before recording).
  const auto hold_done = log.wait(*held);
  ASSERT_TRUE(hold_done.has_value());
  EXPECT_EQ(hold_done->kind, Event::Kind::kDone);
  for (auto& c : callers) c->forget();
  next = std::chrono::steady_clock::now();  // no burst to catch up the wait
  for (int t = 0; t < 40; ++t) {
    for (auto& c : callers) c->send_frame();
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
    for (auto& c : callers) c->receive(t >= 15);
  }
  EXPECT_LT(callers[0]->heard(700), 300.0);
  EXPECT_GT(callers[0]->heard(900), 1500.0);
  EXPECT_LT(callers[1]->heard(500), 300.0);
  EXPECT_LT(callers[1]->heard(900), 300.0);
  EXPECT_GT(callers[1]->level(), 300.0);  // the music

  const ShardStatus status = engine.shard_status(0);
  EXPECT_GT(status.mix_ticks, 30u);
  EXPECT_EQ(status.commands_refused, 0u);
  EXPECT_EQ(status.members, 3u);
  EXPECT_EQ(status.streams, 3u);
  // media.io's default ("auto"): io_uring, unless the probe said why not.
  EXPECT_TRUE(status.io_backend == "uring" || status.io_error != 0) << status.io_backend;
  uint64_t histogram = 0;
  for (uint64_t b : status.tick_duration_us) histogram += b;
  EXPECT_GT(histogram, 0u);
  engine.stop();
}

TEST(Engine, ConferenceOutgrowingAPartSpansAnotherShard) {
  EngineConfig config = testing::loopback_engine(testing::test_port_base(43000, 100), 100, 2);
  config.max_per_part = 2;
  Engine engine(config);
  EventLog log(engine);
  for (ParticipantId p = 1; p <= 4; ++p) {
    ASSERT_TRUE(engine.submit(testing::pcmu_add(5, p)).has_value());
  }
  EXPECT_EQ(engine.parts(5), 2u);
  EXPECT_NE(engine.shard_of(5, 1), engine.shard_of(5, 3));
  const auto remove = [] {
    Command c;
    c.kind = Command::Kind::kRemoveParticipant;
    c.conference = 5;
    c.participant = 3;
    return c;
  };
  ASSERT_TRUE(engine.submit(remove()).has_value());
  EXPECT_FALSE(engine.shard_of(5, 3).has_value());
  // The engine no longer knows participant 3: a second remove fails at once.
  const auto again = engine.submit(remove());
  ASSERT_TRUE(again.has_value());
  log.poll();
  const auto failed = log.completion(*again);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->kind, Event::Kind::kFailed);
  EXPECT_EQ(failed->failure, Failure::kUnknownParticipant);
}

// The shared encoders (bus, silence, music) a member's listeners share are
// built by the engine with the command, off the shard: joins with one codec
// and with a second output gain, a join that raises the room from 8 to
// 48 kHz (every group the others use rebuilt at the new rate), a codec
// change and a leave that take it back to 8 kHz, and a gain change all leave
// the shard nothing to build on its tick.
TEST(Engine, SharedEncodersAreBuiltOffTheShard) {
  Engine engine(testing::loopback_engine(testing::test_port_base(44000, 100), 100));
  engine.start();
  EventLog log(engine);
  auto run = [&](Command c) {
    const auto id = engine.submit(std::move(c));
    ASSERT_TRUE(id.has_value());
    const auto done = log.wait(*id);
    ASSERT_TRUE(done.has_value());
    ASSERT_EQ(done->kind, Event::Kind::kDone) << failure_name(done->failure);
  };
  auto join = [&](ParticipantId p, CodecId codec, float gain) {
    Command c = testing::pcmu_add(9, p);
    c.codec = default_params(codec);
    c.payload_type = codec == CodecId::kOpus ? 111 : 0;
    c.settings.output_gain = gain;
    run(std::move(c));
  };
  auto command = [](Command::Kind kind, ParticipantId p) {
    Command c;
    c.kind = kind;
    c.conference = 9;
    c.participant = p;
    return c;
  };
  auto built = [&] { return engine.shard_status(0).groups_built_on_tick; };

  join(1, CodecId::kPcmu, 1.0F);
  join(2, CodecId::kPcmu, 1.0F);
  join(3, CodecId::kPcmu, 2.0F);
  EXPECT_EQ(built(), 0u);
  join(4, CodecId::kOpus, 1.0F);  // 8 -> 48 kHz
  EXPECT_EQ(built(), 0u);

  Command change = command(Command::Kind::kSetCodec, 4);  // back to 8 kHz
  change.codec = default_params(CodecId::kPcmu);
  change.payload_type = 0;
  run(std::move(change));
  EXPECT_EQ(built(), 0u);

  Command gain = command(Command::Kind::kUpdateParticipant, 1);
  gain.settings.output_gain = 3.0F;
  run(std::move(gain));
  EXPECT_EQ(built(), 0u);

  join(5, CodecId::kOpus, 1.0F);
  run(command(Command::Kind::kRemoveParticipant, 5));  // 48 -> 8 kHz
  EXPECT_EQ(built(), 0u);

  // Sidebars: each one's group and the quiet bus group at its level come
  // with the update that puts a member in; a dissolved sidebar's group goes
  // on both sides, so a sidebar made again later is prepared again. An Opus
  // member's come held to the sidebar's bandwidth and complexity.
  auto into = [&](ParticipantId p, uint32_t sidebar) {
    Command c = command(Command::Kind::kUpdateParticipant, p);
    c.settings.sidebar = sidebar;
    c.settings.sidebar_main_gain = 0.25F;
    run(std::move(c));
  };
  join(6, CodecId::kOpus, 1.0F);
  EXPECT_EQ(built(), 0u);
  for (uint32_t sidebar = 1; sidebar <= 3; ++sidebar) {
    into(2, sidebar);
    into(3, sidebar);
    into(6, sidebar);
    into(2, 0);
    into(3, 0);
    into(6, 0);
  }
  EXPECT_EQ(built(), 0u);
}

TEST(Engine, FanOutCommandsToASpanningConferenceCompleteOnce) {
  EngineConfig config = testing::loopback_engine(testing::test_port_base(43000, 100), 100, 2);
  config.max_per_part = 2;
  Engine engine(config);
  const size_t free0 = engine.shard_status(0).ports_free;
  const size_t free1 = engine.shard_status(1).ports_free;
  engine.start();
  EventLog log(engine);
  std::vector<CommandId> adds;
  for (ParticipantId p = 1; p <= 4; ++p)
    adds.push_back(engine.submit(testing::pcmu_add(5, p)).value());
  for (CommandId id : adds) {
    const auto e = log.wait(id);
    ASSERT_TRUE(e && e->kind == Event::Kind::kDone);
  }
  ASSERT_EQ(engine.parts(5), 2u);
  EXPECT_EQ(engine.shard_status(0).members + engine.shard_status(1).members, 4u);
  auto command = [](Command::Kind kind) {
    Command c;
    c.kind = kind;
    c.conference = 5;
    return c;
  };
  const CommandId music = engine.submit(command(Command::Kind::kSetMusic)).value();
  const CommandId stats = engine.submit(command(Command::Kind::kReportStats)).value();
  const CommandId gone = engine.submit(command(Command::Kind::kRemoveConference)).value();
  for (CommandId id : {music, stats, gone}) {
    const auto e = log.wait(id);
    ASSERT_TRUE(e.has_value()) << id;
    EXPECT_EQ(e->kind, Event::Kind::kDone) << id;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  log.poll();
  for (CommandId id : {music, stats, gone}) EXPECT_EQ(log.completions(id), 1u) << id;
  size_t stats_events = 0;
  for (const Event& e : log.events()) stats_events += e.kind == Event::Kind::kStats ? 1 : 0;
  EXPECT_EQ(stats_events, 4u);  // one per member, from both shards
  // Both parts removed their members; every port is back on both shards.
  ASSERT_TRUE(log.poll_until([&] {
    return engine.shard_status(0).ports_free == free0 && engine.shard_status(1).ports_free == free1;
  }));
  EXPECT_EQ(engine.shard_status(0).members + engine.shard_status(1).members, 0u);
  EXPECT_EQ(engine.shard_status(0).streams + engine.shard_status(1).streams, 0u);
  EXPECT_EQ(engine.parts(5), 0u);
}

// A listener's socket that keeps each datagram's kernel receive time
// (SO_TIMESTAMPNS, set as loopback delivers it, i.e. when the shard sent it).
class TimedSink {
 public:
  TimedSink() {
    fd_ = testing::loopback_udp_socket(port_);
    const int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~TimedSink() { ::close(fd_); }
  TimedSink(const TimedSink&) = delete;
  TimedSink& operator=(const TimedSink&) = delete;
  uint16_t port() const { return port_; }
  // Appends the receive time (ns, CLOCK_REALTIME) of every datagram waiting.
  void drain(std::vector<int64_t>& times) const {
    for (;;) {
      std::array<uint8_t, 2048> buf{};
      iovec iov{buf.data(), buf.size()};
      alignas(cmsghdr) std::array<uint8_t, 128> control{};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      if (::recvmsg(fd_, &msg, 0) <= 0) return;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          times.push_back(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
        }
      }
    }
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A room's packets leave as soon as that room is mixed, not at the end of
// the shard's tick (issue #16): with two rooms whose members were attached
// alternately, every tick's packets arrive room by room, never interleaved
// in attach order as one end-of-tick flush of all streams would send them.
TEST(Engine, EachRoomsPacketsLeaveTogetherAsSoonAsItIsMixed) {
  Engine engine(testing::loopback_engine(testing::test_port_base(35000, 100), 100));
  engine.start();
  EventLog log(engine);
  // One talker per room (its packets come back to it and are not watched),
  // then two listeners per room, attached A, B, A, B.
  std::vector<std::unique_ptr<Caller>> talkers;
  std::vector<std::unique_ptr<TimedSink>> sinks;  // 0, 2: room 1; 1, 3: room 2
  std::vector<CommandId> adds;
  for (ConferenceId room : {1u, 2u}) {
    talkers.push_back(std::make_unique<Caller>(room == 1 ? 500.0 : 900.0));
    const auto id = engine.submit(testing::pcmu_add(room, 10 * room, talkers.back()->port()));
    ASSERT_TRUE(id.has_value());
    adds.push_back(*id);
  }
  for (ParticipantId p = 0; p < 4; ++p) {
    sinks.push_back(std::make_unique<TimedSink>());
    const ConferenceId room = p % 2 == 0 ? 1 : 2;
    const auto id = engine.submit(testing::pcmu_add(room, 100 + p, sinks.back()->port()));
    ASSERT_TRUE(id.has_value());
    adds.push_back(*id);
  }
  for (size_t i = 0; i < adds.size(); ++i) {
    const auto done = log.wait(adds[i]);
    ASSERT_TRUE(done.has_value());
    ASSERT_EQ(done->kind, Event::Kind::kDone) << failure_name(done->failure);
    if (i < talkers.size()) talkers[i]->set_mixer_port(static_cast<uint16_t>(done->value));
  }
  // Arrival times of the listeners' packets, each tagged with its room.
  std::vector<std::pair<int64_t, int>> arrivals;
  auto next = std::chrono::steady_clock::now();
  for (int t = 0; t < 50; ++t) {
    for (auto& talker : talkers) talker->send_frame();
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
    for (auto& talker : talkers) talker->receive(false);
    for (size_t i = 0; i < sinks.size(); ++i) {
      std::vector<int64_t> times;
      sinks[i]->drain(times);
      for (int64_t at : times) arrivals.emplace_back(at, static_cast<int>(i % 2));
    }
  }
  std::sort(arrivals.begin(), arrivals.end());
  // Ticks are 20 ms apart and one tick's sends take well under 5 ms: split
  // the arrivals at gaps over 5 ms and count, in each tick that reached all
  // four listeners, how often the room changes from one packet to the next.
  size_t full_ticks = 0;
  size_t grouped = 0;
  for (size_t begin = 0; begin < arrivals.size();) {
    size_t end = begin + 1;
    while (end < arrivals.size() && arrivals[end].first - arrivals[end - 1].first < 5'000'000)
      ++end;
    if (end - begin == 4) {
      ++full_ticks;
      size_t changes = 0;
      for (size_t k = begin + 1; k < end; ++k)
        changes += arrivals[k].second != arrivals[k - 1].second;
      grouped += changes == 1 ? 1 : 0;
    }
    begin = end;
  }
  ASSERT_GE(full_ticks, 20u) << arrivals.size() << " packets";
  // Interleaved sending changes room at every packet (3 changes a tick).
  EXPECT_GE(grouped, full_ticks * 9 / 10) << grouped << " of " << full_ticks;
}

// media.port_mode = "shared" (issue #16): every member of two shards talks
// to its shard's one port; each still hears the others and not itself, and a
// stranger sending to that port is heard by no one (counted instead).
TEST(Engine, MembersOnASharedPortHearEachOtherAndNoStranger) {
  std::unique_ptr<Engine> made;
  for (uint16_t attempt = 0; attempt < 10 && !made; ++attempt) {
    EngineConfig config = testing::loopback_engine(
        static_cast<uint16_t>(testing::test_port_base(37800, 20) + 4 * attempt), 4, 2);
    config.shard.port_mode = rtp::PortMode::kShared;
    try {
      made = std::make_unique<Engine>(config);
    } catch (const std::runtime_error&) {
      // another test process holds the port: the next one
    }
  }
  ASSERT_NE(made, nullptr);
  Engine& engine = *made;
  engine.start();
  EventLog log(engine);
  const double freqs[] = {500, 700, 900};
  std::vector<std::unique_ptr<Caller>> callers;
  std::vector<CommandId> adds;
  for (size_t i = 0; i < 3; ++i) {
    callers.push_back(std::make_unique<Caller>(freqs[i]));
    const auto id = engine.submit(testing::pcmu_add(78, 200 + i, callers.back()->port()));
    ASSERT_TRUE(id.has_value());
    adds.push_back(*id);
  }
  uint16_t shared_port = 0;
  for (size_t i = 0; i < 3; ++i) {
    const auto done = log.wait(adds[i]);
    ASSERT_TRUE(done.has_value());
    ASSERT_EQ(done->kind, Event::Kind::kDone) << failure_name(done->failure);
    if (i == 0) shared_port = static_cast<uint16_t>(done->value);
    EXPECT_EQ(done->value, shared_port);  // one room on one shard: one port
    callers[i]->set_mixer_port(static_cast<uint16_t>(done->value));
  }
  Caller stranger(1300);
  stranger.set_mixer_port(shared_port);
  auto next = std::chrono::steady_clock::now();
  for (int t = 0; t < 60; ++t) {
    for (auto& c : callers) c->send_frame();
    stranger.send_frame();
    next += std::chrono::milliseconds(20);
    std::this_thread::sleep_until(next);
    for (auto& c : callers) c->receive(t >= 30);
  }
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const Caller& c = *callers[i];
    ASSERT_GT(c.samples(), 160u * 10);
    EXPECT_LT(c.heard(1300), 300.0);
    for (size_t j = 0; j < 3; ++j) {
      if (i == j) {
        EXPECT_LT(c.heard(freqs[j]), 300.0);
      } else {
        EXPECT_GT(c.heard(freqs[j]), 1500.0);
      }
    }
  }
  uint64_t unknown = 0;
  for (size_t s = 0; s < engine.shard_count(); ++s) {
    const ShardStatus st = engine.shard_status(s);
    EXPECT_EQ(st.port_mode, "shared");
    EXPECT_EQ(st.io_backend, "mmsg");
    unknown += st.unknown_source_drops;
  }
  EXPECT_GE(unknown, 55u);
  engine.stop();
}

TEST(Engine, ZeroShardsMeansOnePerCore) {
  EngineConfig config = testing::loopback_engine(testing::test_port_base(44000, 100), 100, 0);
  config.shard.buffer_count = 64;  // not started: keep each shard small
  Engine engine(config);
  EXPECT_EQ(engine.shard_count(), std::max<size_t>(allowed_cpus().size(), 1));
}

// Pinning follows the process's own CPU set: run on the last allowed CPU
// only (as `taskset -c N` would), every shard is pinned to that CPU, never
// to CPU 0 or to a CPU the set excludes.
TEST(Engine, PinnedShardsStayInsideTheProcessCpuSet) {
  const std::vector<int> all = allowed_cpus();
  ASSERT_FALSE(all.empty());
  cpu_set_t before;
  ASSERT_EQ(::sched_getaffinity(0, sizeof before, &before), 0);
  cpu_set_t only;
  CPU_ZERO(&only);
  CPU_SET(all.back(), &only);
  ASSERT_EQ(::sched_setaffinity(0, sizeof only, &only), 0);
  EXPECT_EQ(allowed_cpus(), std::vector<int>{all.back()});
  EngineConfig config = testing::loopback_engine(testing::test_port_base(35000, 100), 100, 2);
  config.pin_shards = true;
  config.shard.buffer_count = 64;
  {
    Engine engine(config);
    engine.start();
    for (size_t i = 0; i < engine.shard_count(); ++i) {
      const ShardStatus st = engine.shard_status(i);
      EXPECT_EQ(st.cpu, all.back()) << i;
      EXPECT_EQ(st.pin_error, 0) << i;
    }
    engine.stop();
  }
  ASSERT_EQ(::sched_setaffinity(0, sizeof before, &before), 0);
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
