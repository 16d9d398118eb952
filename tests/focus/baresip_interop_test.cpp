// Interop with a real softphone from Debian: baresip dials a room of an
// in-process focus over 127.0.0.1 and sends a 440 Hz tone (sox-made WAV via
// its aufile source); our test caller dials the same room with a 700 Hz tone.
// Our caller must hear baresip's tone and baresip must hear ours: baresip's
// sndfile module dumps what it decoded to a WAV we read back with libsndfile
// and measure with Goertzel. Bounded: baresip quits after 9 s (-t).
#include <signal.h>
#include <sndfile.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/focus/e2e_support.hpp"

extern char** environ;

namespace chorus::focus {
namespace {

using namespace e2e;
namespace fs = std::filesystem;

bool have(const char* tool) {
  const std::string command = std::string("command -v ") + tool + " >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

std::vector<int16_t> read_wav(const fs::path& path) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (file == nullptr) return {};
  std::vector<int16_t> samples(static_cast<size_t>(info.frames * info.channels));
  sf_read_short(file, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(file);
  return samples;
}

class BaresipInteropTest : public FocusE2e {};

TEST_F(BaresipInteropTest, BaresipAndOurCallerHearEachOtherThroughTheMixer) {
  if (!have("baresip") || !have("sox")) {
    GTEST_SKIP() << "baresip or sox missing: deploy/setup installs baresip-core and sox";
  }
  start_server(46500, 46599);
  const fs::path dir = fs::temp_directory_path() / ("chorus-baresip-" + sip::make_tag());
  fs::create_directories(dir / "dump");
  const fs::path tone = dir / "tone440.wav";
  const std::string make_tone =
      "sox -n -r 8000 -c 1 -b 16 " + tone.string() + " synth 12 sine 440 vol 0.3 2>/dev/null";
  ASSERT_EQ(std::system(make_tone.c_str()), 0);
  const uint16_t sip_port = free_port();
  {
    std::ofstream config(dir / "config");
    config << "poll_method epoll\n"
           << "sip_listen 127.0.0.1:" << sip_port << "\n"
           << "audio_player aubridge,sink\n"
           << "audio_alert aubridge,sink\n"
           << "audio_source aufile," << tone.string() << "\n"
           << "ausrc_srate 8000\nauplay_srate 8000\n"
           << "module_path /usr/lib/baresip/modules\n"
           << "module stdio.so\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\n"
           << "module sndfile.so\n"
           << "snd_path " << (dir / "dump").string() << "\n"
           << "module_tmp uuid.so\nmodule_tmp account.so\nmodule_app menu.so\n";
    std::ofstream(dir / "accounts") << "<sip:baresip@127.0.0.1>;regint=0;audio_codecs=PCMU\n";
    std::ofstream(dir / "contacts") << "";
  }
  const std::string config_dir = dir.string();
  const std::string dial = "d " + room_uri("interop");
  const char* argv[] = {"baresip", "-f", config_dir.c_str(), "-e", dial.c_str(), "-t", "9",
                        nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = (dir / "baresip.log").string();
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawnp(&pid, "baresip", &actions, nullptr, const_cast<char**>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&actions);

  Caller ours(700, "tester");
  ASSERT_EQ(invite(ours, "sendrecv", "interop"), 200);
  run_until([&] { return server_->call_count() >= 2; }, 5000ms);
  ASSERT_EQ(server_->call_count(), 2u) << "baresip did not join; see " << log;
  std::vector<Caller*> callers{&ours};
  talk(callers, 200, 100);  // 4 s; judge the last 2 s
  EXPECT_GT(ours.heard(440), kHeard) << "our caller does not hear baresip";
  EXPECT_LT(ours.heard(700), kSilent);

  // baresip hangs up at -t; the focus sees its BYE.
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (::waitpid(pid, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
    ours.send_frame();
    io_.run_for(20ms);
    ours.receive(false);
  }
  if (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "baresip did not exit on its -t timer";
  }
  run_until([&] { return server_->call_count() == 1; }, 2000ms);
  EXPECT_EQ(server_->call_count(), 1u);  // baresip's BYE removed it

  fs::path decoded;
  for (const auto& entry : fs::directory_iterator(dir / "dump")) {
    if (entry.path().string().ends_with("-dec.wav")) decoded = entry.path();
  }
  ASSERT_FALSE(decoded.empty()) << "baresip's sndfile module wrote no decode dump";
  const std::vector<int16_t> heard = read_wav(decoded);
  ASSERT_GT(heard.size(), 8000u * 3);
  // The middle of the call: our tone, not baresip's own.
  const std::span<const int16_t> middle(heard.data() + heard.size() / 3, heard.size() / 3);
  EXPECT_GT(mixer::goertzel_amplitude(middle, 700, 8000), kHeard) << "baresip does not hear us";
  EXPECT_LT(mixer::goertzel_amplitude(middle, 440, 8000), kSilent);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
