// Issue #17 "Recording" end to end on 127.0.0.1: an in-process focus with
// its real media engine and writer; callers send their own tones. The admin
// API starts and stops a room's recording (the conference state says so),
// the files hold the room and each member; a recording that cannot be
// written stops with the call unaffected; auto_record starts by itself.
#include <sndfile.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "focus/events/conference_info.hpp"
#include "focus/ops/admin_api.hpp"
#include "focus/ops/metrics.hpp"
#include "mixer/goertzel.hpp"
#include "tests/focus/e2e_support.hpp"
#include "tests/focus/fake_media_engine.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

constexpr int kRate = 16000;

std::vector<int16_t> read_wav(const std::filesystem::path& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (f == nullptr) return {};
  std::vector<int16_t> pcm(static_cast<size_t>(info.frames));
  sf_read_short(f, pcm.data(), info.frames);
  sf_close(f);
  return pcm;
}

std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir,
                                            std::string_view suffix) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().string().ends_with(suffix)) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

double tone(const std::vector<int16_t>& pcm, double hz) {
  return mixer::goertzel_amplitude(pcm, hz, kRate);
}

class RecordingE2eTest : public FocusE2e {
 protected:
  RecordingE2eTest()
      : dir_(std::filesystem::path(::testing::TempDir()) /
             ("chorus-rec-e2e-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
  }
  ~RecordingE2eTest() override {
    server_.reset();  // its writer finishes the files first
    std::filesystem::remove_all(dir_);
  }

  AdminResponse post_recording(AdminApi& api, std::string_view room, bool on) {
    const std::string target = "/api/rooms/" + std::string(room) + "/recording";
    const std::string body = on ? R"({"record":true})" : R"({"record":false})";
    return api.handle(AdminRequest{"POST", target, "Bearer operator-token", body, {}});
  }
  bool recording(std::string_view room) {
    const auto state = server_->room_state(room);
    return state && state->recording;
  }

  std::filesystem::path dir_;
};

TEST_F(RecordingE2eTest, AdminApiStartsAndStopsARecordingThatHoldsTheRoomAndEachMember) {
  start_server(45200, 45299, 30s, [&](Options& o) {
    o.recording.dir = dir_.string();
    o.recording.format = "wav";
    o.recording.sample_rate = kRate;
    o.recording.member_tracks = true;
  });
  Caller a(400, "alice"), b(700, "bob"), stray(900, "stray");
  ASSERT_EQ(invite(a, "sendrecv", "rec"), 200);
  // Refused after it got a member id, before it got media: from here on
  // member ids and media participant numbers differ.
  ASSERT_EQ(invite_to(stray, "sendrecv", "rec", room_uri("rec") + ";sidebar=99", {}), 404);
  ASSERT_EQ(invite(b, "sendrecv", "rec"), 200);
  AdminApi api(*server_, MetricsSource{}, AdminConfig{.token = "operator-token"});

  EXPECT_FALSE(recording("rec"));
  EXPECT_EQ(post_recording(api, "rec", true).status, 200);
  EXPECT_TRUE(recording("rec"));
  EXPECT_EQ(server_->gauges().recordings_active, 1u);       // /metrics: chorus_recordings_active
  EXPECT_EQ(post_recording(api, "rec", true).status, 409);  // already
  EXPECT_EQ(post_recording(api, "nowhere", true).status, 404);
  // The conference package says so (our extension element).
  const std::string document = conference_info_full(*server_->room_state("rec"), 1);
  EXPECT_NE(document.find("<chorus:recording>true</chorus:recording>"), std::string::npos)
      << document;
  const AdminResponse room =
      api.handle(AdminRequest{"GET", "/api/rooms/rec", "Bearer operator-token", {}, {}});
  EXPECT_NE(room.body.find("\"recording\":true"), std::string::npos) << room.body;

  talk({&a, &b}, 100, 50);  // 2 s
  // /metrics counts the frames the writer could not take in time.
  const std::string metrics =
      render_metrics(collect_metrics(make_metrics_source(*server_), server_->rooms()));
  EXPECT_NE(metrics.find("# TYPE chorus_recordings_frames_dropped_total counter"),
            std::string::npos);
  EXPECT_NE(metrics.find("\nchorus_recordings_frames_dropped_total 0\n"), std::string::npos)
      << metrics;
  EXPECT_EQ(post_recording(api, "rec", false).status, 200);
  EXPECT_FALSE(recording("rec"));
  EXPECT_EQ(post_recording(api, "rec", false).status, 409);  // not any more

  // The writer completes every file of the recording, then says so.
  run_until([&] { return server_->gauges().recordings_finished == 1; }, 5000ms);
  ASSERT_EQ(server_->gauges().recordings_finished, 1u);
  const auto mixes = files_in(dir_, "-mix.wav");
  ASSERT_EQ(mixes.size(), 1u);
  const std::vector<int16_t> mix = read_wav(mixes.front());
  ASSERT_GT(mix.size(), size_t(kRate));  // more than 1 s
  EXPECT_GT(tone(mix, 400), 1500.0);
  EXPECT_GT(tone(mix, 700), 1500.0);
  const auto tracks = files_in(dir_, ".wav");
  ASSERT_EQ(tracks.size(), 3u);  // the mix and two members
  // Each member's file is named by its member id, the admin API's.
  uint64_t alice = 0, bob = 0;
  const std::optional<ConferenceState> state = server_->room_state("rec");
  ASSERT_TRUE(state.has_value());
  for (const MemberState& m : state->members) {
    if (m.entity.find("alice") != std::string::npos) alice = m.id;
    if (m.entity.find("bob") != std::string::npos) bob = m.id;
  }
  ASSERT_NE(alice, 0u);
  ASSERT_NE(bob, 0u);
  const std::string stem = mixes.front().string().substr(
      0, mixes.front().string().size() - std::string("-mix.wav").size());
  const auto alices = read_wav(stem + "-member-" + std::to_string(alice) + ".wav");
  const auto bobs = read_wav(stem + "-member-" + std::to_string(bob) + ".wav");
  for (const auto* track : {&alices, &bobs}) {
    EXPECT_EQ(track->size(), mix.size());  // sample for sample
  }
  EXPECT_GT(tone(alices, 400), 1500.0);
  EXPECT_LT(tone(alices, 700), 100.0);
  EXPECT_GT(tone(bobs, 700), 1500.0);
  EXPECT_LT(tone(bobs, 400), 100.0);

  // The call went on throughout.
  talk({&a, &b}, 30, 15);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
}

TEST_F(RecordingE2eTest, ARecordingThatCannotBeWrittenStopsAndTheCallGoesOn) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "a-file") << "x";  // tests run as root: a file, not a mode, blocks it
  start_server(45300, 45399, 30s,
               [&](Options& o) { o.recording.dir = (dir_ / "a-file" / "recordings").string(); });
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "fail"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "fail"), 200);
  EXPECT_TRUE(server_->set_recording("fail", true).ok());
  EXPECT_TRUE(recording("fail"));
  run_until([&] { return !recording("fail"); }, 3000ms);
  EXPECT_FALSE(recording("fail"));
  EXPECT_EQ(server_->recordings_failed(), 1u);
  EXPECT_EQ(server_->gauges().recordings_failed, 1u);  // /metrics: chorus_recordings_failed_total
  EXPECT_EQ(server_->gauges().recordings_active, 0u);
  EXPECT_EQ(server_->room_calls("fail"), 2u);
  talk({&a, &b}, 40, 20);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
  // It can be started again (and fails again, alone).
  EXPECT_TRUE(server_->set_recording("fail", true).ok());
}

TEST_F(RecordingE2eTest, AutoRecordStartsWithTheRoomsFirstMember) {
  start_server(45400, 45499, 30s, [&](Options& o) {
    o.recording.dir = dir_.string();
    RoomPolicy room;
    room.name = "board";
    room.auto_record = true;
    o.rooms.push_back(room);
  });
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "board"), 200);
  run_until([&] { return recording("board"); });
  EXPECT_TRUE(recording("board"));
  // RFC 7866: an offer with a=record gets a=record:on while the room records.
  const auto answer_to_record_offer = [&](Caller& c, std::string_view room) {
    Message m = request(c, Method::kInvite, room);
    m.set_body("application/sdp", c.sdp("sendrecv\r\na=record:off"));
    const std::optional<Message> ok = exchange(std::move(m));
    EXPECT_TRUE(ok && ok->status() == 200);
    if (!ok || ok->status() != 200) return std::string();
    c.to_tag = std::string(ok->to().tag());
    if (!ok->contacts().empty()) c.remote_target = ok->contacts().front().uri_text;
    ack(c, *ok, room);
    return std::string(ok->body());
  };
  Caller b(700, "bob"), c(1100, "carol");
  EXPECT_NE(answer_to_record_offer(b, "board").find("a=record:on"), std::string::npos);
  EXPECT_EQ(answer_to_record_offer(c, "other").find("a=record"), std::string::npos);
  // A re-offer's answer says so too, also when it changes the codec (answered
  // once the shard confirms).
  EXPECT_NE(answer_to_record_offer(b, "board").find("a=record:on"), std::string::npos);
  b.use_pcma(true);
  const std::string pcma = answer_to_record_offer(b, "board");
  EXPECT_NE(pcma.find("PCMA/8000"), std::string::npos) << pcma;
  EXPECT_NE(pcma.find("a=record:on"), std::string::npos) << pcma;
  // Once the recording stops, a re-offer's answer no longer says it.
  AdminApi api(*server_, MetricsSource{}, AdminConfig{.token = "operator-token"});
  EXPECT_EQ(post_recording(api, "board", false).status, 200);
  EXPECT_EQ(answer_to_record_offer(b, "board").find("a=record"), std::string::npos);
  EXPECT_FALSE(recording("other"));
  ASSERT_EQ(bye(b, "board"), 200);
  ASSERT_EQ(bye(a, "board"), 200);
  run_until([&] { return server_->gauges().recordings_finished == 1; });
  EXPECT_EQ(server_->gauges().recordings_finished, 1u);  // its files are complete
  EXPECT_EQ(files_in(dir_, "-mix.opus").size(), 1u);
}

// The focus's side of recording against a fake media engine (no shard
// threads): what it does when the engine refuses or fails its commands.
class RecordingCommandsTest : public RecordingE2eTest {
 protected:
  using Fake = testing::FakeMediaEngine;
  using Kind = mixer::Command::Kind;

  void start(const std::function<void(Options&)>& tweak = {}) {
    auto engine = std::make_unique<Fake>();
    fake_ = engine.get();
    start_server_with_engine(std::move(engine), tweak);
  }
  // Runs the io and drains the fake's events; with `answer`, answers every
  // pending command (a start the `refuse_start` says fails, as the shard's
  // refusal would).
  void settle(std::chrono::milliseconds time = 50ms, bool answer = false) {
    const auto end = std::chrono::steady_clock::now() + time;
    while (std::chrono::steady_clock::now() < end) {
      io_.run_for(5ms);
      if (answer) answer_pending();
      server_->poll_media();
    }
  }
  void answer_pending() {
    for (const mixer::CommandId id : fake_->pending_ids()) {
      const auto s = std::find_if(fake_->submitted.begin(), fake_->submitted.end(),
                                  [&](const Fake::Submitted& c) { return c.id == id; });
      if (s != fake_->submitted.end() && s->kind == Kind::kStartRecording && refuse_start > 0) {
        --refuse_start;
        fake_->fail(id, mixer::Failure::kShuttingDown);
      } else {
        fake_->complete(id);
      }
    }
  }

  Fake* fake_ = nullptr;
  int refuse_start = 0;
};

// A recording that cannot be written stops; its stop command, refused by a
// full engine ring, goes again once the engine takes commands: the engine
// no longer holds the room's recording, so the next start is not refused
// as a duplicate (while the API said 200).
TEST_F(RecordingCommandsTest, ARefusedStopIsRetriedSoTheNextStartIsNotADuplicate) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "blocked") << "x";  // a file where the directory goes
  start([&](Options& o) {
    o.recording.dir = (dir_ / "blocked" / "rec").string();
    o.recording.format = "wav";
  });
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "rec"), 200);
  ASSERT_EQ(server_->set_recording("rec", true).status, 200);
  fake_->refuse_all = true;  // the stop after the write failure is refused
  run_until([&] {
    server_->poll_media();
    return !recording("rec");
  });
  ASSERT_FALSE(recording("rec"));
  EXPECT_EQ(fake_->count(Kind::kStopRecording), 0u);
  fake_->refuse_all = false;
  std::filesystem::remove(dir_ / "blocked");  // writable from now on
  settle();
  EXPECT_EQ(fake_->count(Kind::kStopRecording), 1u);  // it went again
  EXPECT_EQ(server_->set_recording("rec", true).status, 200);
  settle();
  EXPECT_TRUE(recording("rec"));  // the engine took the start
  EXPECT_EQ(fake_->count(Kind::kStartRecording), 2u);
}

// An auto_record start the shard refuses is tried again (README: "a start
// the media side or the writer refuses is tried again"), not left for the
// room's lifetime.
TEST_F(RecordingCommandsTest, AutoRecordThatTheShardRefusedIsTriedAgain) {
  start([&](Options& o) {
    o.recording.dir = dir_.string();
    RoomPolicy room;
    room.name = "board";
    room.auto_record = true;
    o.rooms.push_back(room);
  });
  fake_->auto_complete = false;
  refuse_start = 1;
  Caller a(400, "alice");
  Message m = request(a, Method::kInvite, "board");
  m.set_body("application/sdp", a.sdp("sendrecv"));
  std::optional<Message> ok;
  client_.send_request(std::move(m), focus_, [&](const ClientEvent& event) {
    if (event.response && event.response->status() >= 200) ok = *event.response;
  });
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!ok && std::chrono::steady_clock::now() < deadline) settle(5ms, true);
  ASSERT_TRUE(ok && ok->status() == 200);
  a.to_tag = std::string(ok->to().tag());
  a.remote_target = ok->contacts().front().uri_text;
  ack(a, *ok, "board");
  settle(100ms, true);
  EXPECT_EQ(refuse_start, 0);  // the first start was refused
  EXPECT_FALSE(recording("board"));
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (!recording("board") && std::chrono::steady_clock::now() < until) settle(20ms, true);
  EXPECT_TRUE(recording("board"));
  EXPECT_EQ(fake_->count(Kind::kStartRecording), 2u);
  settle(1500ms, true);  // and once recording, no further start
  EXPECT_EQ(fake_->count(Kind::kStartRecording), 2u);
}

// The log line of an admin API start names the account (an audit trail),
// not just "admin".
TEST_F(RecordingCommandsTest, TheLogNamesTheAccountThatStartedARecording) {
  start([&](Options& o) {
    o.recording.dir = dir_.string();
    o.accounts.push_back({"auditor", "pw-auditor", {"record"}, {}});
  });
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "rec"), 200);
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  AdminApi api(*server_, MetricsSource{}, AdminConfig{.token = "operator-token"});
  const std::string target = "/api/rooms/rec/recording";
  AdminRequest request{"POST", target, {}, R"({"record":true})", {}};
  const AdminResponse challenge = api.handle(request);
  ASSERT_EQ(challenge.status, 401);
  ASSERT_FALSE(challenge.challenges.empty());
  const std::string authorization =
      digest_answer(challenge.challenges.front(), "POST", target, "auditor", "pw-auditor");
  request.authorization = authorization;
  EXPECT_EQ(api.handle(request).status, 200);
  EXPECT_EQ(post_recording(api, "rec", false).status, 200);  // the operator token
  spdlog::default_logger()->flush();
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
  EXPECT_NE(log.str().find("recording started (admin API by auditor)"), std::string::npos)
      << log.str();
  EXPECT_NE(log.str().find("recording stopped (admin API by the operator token)"),
            std::string::npos)
      << log.str();
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
