// Issue #17 "Recording" end to end on 127.0.0.1: an in-process focus with
// its real media engine and writer; callers send their own tones. The admin
// API starts and stops a room's recording (the conference state says so),
// the files hold the room and each member; a recording that cannot be
// written stops with the call unaffected; auto_record starts by itself.
#include <sndfile.h>

#include <filesystem>
#include <fstream>

#include "focus/events/conference_info.hpp"
#include "focus/ops/admin_api.hpp"
#include "mixer/goertzel.hpp"
#include "tests/focus/e2e_support.hpp"

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
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "rec"), 200);
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
  int alone_400 = 0, alone_700 = 0;
  for (const auto& path : tracks) {
    if (path.string().ends_with("-mix.wav")) continue;
    const auto track = read_wav(path);
    EXPECT_EQ(track.size(), mix.size()) << path;  // sample for sample
    alone_400 += tone(track, 400) > 1500.0 && tone(track, 700) < 100.0 ? 1 : 0;
    alone_700 += tone(track, 700) > 1500.0 && tone(track, 400) < 100.0 ? 1 : 0;
  }
  EXPECT_EQ(alone_400, 1);
  EXPECT_EQ(alone_700, 1);

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

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
