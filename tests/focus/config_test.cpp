// The TOML configuration: the embedded default equals the documented example
// and the compiled-in defaults; settings, precedence of flags, and errors that
// name the key, the value and what is allowed.

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "focus/ops/config.hpp"
#include "focus/ops/log.hpp"

namespace chorus::focus {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// A file in the test's temporary directory, removed at scope exit.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/chorus-config-test-XXXXXX";
    const int fd = ::mkstemp(name);
    if (fd >= 0) ::close(fd);
    path_ = name;
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::variant<Options, ConfigError> apply(const std::string& toml) {
  return apply_config(toml, "test.toml", Options{});
}

std::string error_of(const std::variant<Options, ConfigError>& result) {
  if (const auto* error = std::get_if<ConfigError>(&result)) return error->message;
  return "";
}

std::variant<Options, ConfigError> run(std::vector<const char*> args) {
  return configure(std::span<const char* const>(args.data(), args.size()));
}

TEST(Config, EmbeddedDefaultIsTheExampleFile) {
  EXPECT_EQ(embedded_config(), read_file(CHORUS_SOURCE_DIR "/deploy/chorus.toml.example"));
}

TEST(Config, ExampleFileSpellsOutTheCompiledDefaults) {
  // Every documented value is the compiled-in one: reading the example on top
  // of deliberately different options must land exactly on Options{}.
  Options different;
  different.sip_port = 1;
  different.media_shards = 7;
  different.media_realtime_priority = 50;
  different.media_pin_shards = true;
  different.codecs = {"PCMA"};
  different.log_level = "off";
  different.admin_port = 9;
  different.allow_root = false;
  different.rtp_timeout = std::chrono::milliseconds(123);
  different.jitter_max_ms = 999;
  different.admin_trusted_proxies = {"192.0.2.1"};
  const auto result = apply_config(embedded_config(), "<embedded>", different);
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  EXPECT_TRUE(std::get<Options>(result) == Options{});
  // And with no arguments, configure() gives the defaults.
  const auto plain = run({});
  ASSERT_TRUE(std::holds_alternative<Options>(plain)) << error_of(plain);
  EXPECT_TRUE(std::get<Options>(plain) == Options{});
}

TEST(Config, ReadsEverySection) {
  const auto result = apply(R"(
[sip]
listen = "[::1]:5080"
udp = false
tcp = true
tls_port = 5071
realm = "example.org"
slow_room_prefix = "ring-"
ring_delay_ms = 0
[media]
address = "192.0.2.10"
rtp_ports = "20000-20999"
shards = 4
realtime_priority = 20
pin_shards = true
io = "uring"
port_mode = "shared"
max_streams_per_shard = 2048
rtp_timeout_ms = 5000
codecs = ["PCMU", "opus"]
srtp = "required"
top_k = 5
jitter_min_ms = 10
jitter_initial_ms = 60
jitter_max_ms = 500
test_command_ring_slots = 2
test_retry_queue_limit = 1
[conference]
max_members = 20
only_listed_rooms = true
moh_user = "music"
park_user = "parking"
service_trusted_sources = ["192.0.2.5", "10.1.0.0/16", "2001:db8::/32"]
[[room]]
name = "board"
pin = "4321"
pin_timeout_s = 30
max_members = 6
[[room]]
name = "open"
waiting_room = true
waiting_timeout_s = 120
waiting_music = false
[[account]]
user = "op"
password = "secret"
rights = ["admin", "monitor"]
dial_out = ["*@pbx.example.com", "+4420*@192.0.2.10"]
[log]
level = "debug"
file = "/var/log/chorus.log"
[admin]
address = "::1"
port = 8088
token = "t0ken-of-at-least-32-characters!"
metrics_token = false
hosts = ["chorus-admin.example.org"]
[process]
allow_root = true
user = "chorus"
)");
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  const Options& o = std::get<Options>(result);
  EXPECT_EQ(o.sip_host, "::1");
  EXPECT_EQ(o.sip_port, 5080);
  EXPECT_FALSE(o.udp);
  EXPECT_TRUE(o.tcp);
  EXPECT_EQ(o.tls_port, 5071);
  EXPECT_EQ(o.realm, "example.org");
  EXPECT_EQ(o.slow_room_prefix, "ring-");
  EXPECT_EQ(o.ring_delay.count(), 0);
  EXPECT_EQ(o.media_address, "192.0.2.10");
  EXPECT_EQ(o.rtp_first, 20000);
  EXPECT_EQ(o.rtp_last, 20999);
  EXPECT_EQ(o.media_shards, 4u);
  EXPECT_EQ(o.media_realtime_priority, 20);
  EXPECT_TRUE(o.media_pin_shards);
  EXPECT_EQ(o.media_io, "uring");
  EXPECT_EQ(o.media_port_mode, "shared");
  EXPECT_EQ(o.media_max_streams_per_shard, 2048u);
  EXPECT_EQ(o.rtp_timeout.count(), 5000);
  EXPECT_EQ(o.codecs, (std::vector<std::string>{"PCMU", "opus"}));
  EXPECT_EQ(o.srtp, sdp::SrtpPolicy::kRequired);
  EXPECT_EQ(o.top_k, 5u);
  EXPECT_EQ(o.jitter_min_ms, 10u);
  EXPECT_EQ(o.jitter_initial_ms, 60u);
  EXPECT_EQ(o.jitter_max_ms, 500u);
  EXPECT_EQ(o.test_command_ring_slots, 2u);
  EXPECT_EQ(o.test_retry_queue_limit, 1u);
  EXPECT_EQ(o.max_members, 20u);
  EXPECT_TRUE(o.only_listed_rooms);
  EXPECT_EQ(o.moh_user, "music");
  EXPECT_EQ(o.park_user, "parking");
  ASSERT_EQ(o.rooms.size(), 2u);
  RoomPolicy board{"board", "4321", 6};
  board.pin_timeout = std::chrono::seconds(30);
  EXPECT_EQ(o.rooms[0], board);
  EXPECT_EQ(o.rooms[1], (RoomPolicy{"open", "", 0, true, std::chrono::seconds(120), false}));
  EXPECT_FALSE(o.rooms[0].waiting_room);
  ASSERT_EQ(o.accounts.size(), 1u);
  EXPECT_EQ(
      o.accounts[0],
      (Account{"op", "secret", {"admin", "monitor"}, {"*@pbx.example.com", "+4420*@192.0.2.10"}}));
  EXPECT_EQ(o.service_trusted_sources,
            (std::vector<std::string>{"192.0.2.5", "10.1.0.0/16", "2001:db8::/32"}));
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_EQ(o.log_file, "/var/log/chorus.log");
  EXPECT_EQ(o.admin_address, "::1");
  EXPECT_EQ(o.admin_port, 8088);
  EXPECT_EQ(o.admin_token, "t0ken-of-at-least-32-characters!");
  EXPECT_EQ(o.admin_metrics_token, std::optional<bool>(false));
  EXPECT_EQ(o.admin_hosts, std::vector<std::string>{"chorus-admin.example.org"});
  EXPECT_TRUE(o.allow_root);
  EXPECT_EQ(o.run_as_user, "chorus");
}

struct BadSetting {
  const char* toml;
  // Fragments the message must hold: the key, the value, what is allowed.
  std::vector<const char*> says;
};

TEST(Config, BadSettingsNameKeyValueAndWhatIsAllowed) {
  const std::vector<BadSetting> cases = {
      {"[media]\nshards = 65\n", {"test.toml:2", "media.shards", "= 65", "0..64"}},
      {"[media]\nshards = -1\n", {"media.shards", "= -1", "0..64"}},
      {"[media]\nrealtime_priority = 100\n", {"media.realtime_priority", "= 100", "0..99"}},
      {"[media]\npin_shards = 1\n", {"media.pin_shards", "true or false"}},
      {"[media]\nio = \"epoll\"\n", {"media.io", "\"epoll\"", "\"auto\", \"uring\" or \"mmsg\""}},
      {"[media]\nport_mode = \"one\"\n",
       {"media.port_mode", "\"one\"", "\"per-member\" or \"shared\""}},
      {"[media]\nmax_streams_per_shard = 8\n", {"media.max_streams_per_shard", "= 8", "16..16384"}},
      {"[sip]\nslow_room_prefix = \"a b\"\n", {"sip.slow_room_prefix", "\"a b\"", "(off)"}},
      {"[media]\nshards = \"four\"\n", {"media.shards", "\"four\"", "integer"}},
      {"[sip]\nlisten = \"host:99999\"\n", {"sip.listen", "host:99999", "HOST:PORT"}},
      {"[sip]\nlisten = \"host:0\"\n", {"sip.listen", "port 1..65535"}},
      {"[sip]\nudp = \"yes\"\n", {"sip.udp", "\"yes\"", "true or false"}},
      {"[media]\nrtp_ports = \"6000-5000\"\n", {"media.rtp_ports", "6000-5000", "FIRST < LAST"}},
      {"[media]\nrtp_ports = \"80-5000\"\n", {"media.rtp_ports", "1024 <="}},
      {"[media]\ncodecs = [\"opus\", \"GSM\"]\n",
       {"media.codecs", "GSM", "opus, G722, PCMU, PCMA"}},
      {"[media]\ncodecs = []\n", {"media.codecs", "at least one"}},
      {"[media]\ncodecs = [\"PCMU\", \"PCMU\"]\n", {"media.codecs", "at most once"}},
      {"[media]\nsrtp = \"maybe\"\n",
       {"media.srtp", "maybe", "\"off\", \"offer\" or \"required\""}},
      {"[media]\ntop_k = 17\n", {"media.top_k", "17", "1..16"}},
      {"[media]\ntest_command_ring_slots = 1025\n",
       {"media.test_command_ring_slots", "1025", "0..1024"}},
      {"[media]\naddress = \"not-an-ip\"\n", {"media.address", "not-an-ip", "IPv4/IPv6"}},
      {"[media]\njitter_min_ms = 200\njitter_max_ms = 100\n",
       {"media.jitter_*_ms", "jitter_min_ms <= jitter_initial_ms <= jitter_max_ms"}},
      {"[log]\nlevel = \"loud\"\n", {"log.level", "loud", "trace, debug, info"}},
      {"[admin]\nport = 70000\n", {"admin.port", "70000", "0..65535"}},
      {"[admin]\ntoken = \"has space\"\n", {"admin.token", "without spaces"}},
      {"[admin]\ntoken = \"short-token\"\n", {"admin.token", "32+ printable ASCII"}},
      {"[admin]\nhosts = [\"a.example:8088\"]\n", {"admin.hosts", "no port"}},
      {"[conference]\nmoh_file = \"/nonexistent/music.wav\"\n",
       {"conference.moh_file", "/nonexistent/music.wav", "readable WAV"}},
      {"[conference]\nonly_listed_rooms = true\n", {"only_listed_rooms", "at least one [[room]]"}},
      {"[[room]]\npin = \"12\"\n", {"room[1].name", "missing"}},
      {"[[room]]\nname = \"a b\"\n", {"room[1].name", "\"a b\"", "SIP user name"}},
      {"[[room]]\nname = \"r\"\npin = \"12ab\"\n", {"room[1].pin", "12ab", "digits"}},
      {"[[room]]\nname = \"r\"\n[[room]]\nname = \"r\"\n", {"room[2].name", "already used"}},
      {"[[room]]\nname = \"r\"\nwaiting_timeout_s = 5\n",
       {"room[1].waiting_timeout_s", "10..86400"}},
      {"[[room]]\nname = \"r\"\npin_timeout_s = 1\n", {"room[1].pin_timeout_s", "5..3600"}},
      {"[[room]]\nname = \"r\"\nwaiting_room = \"yes\"\n",
       {"room[1].waiting_room", "true or false"}},
      {"[[account]]\nuser = \"u\"\npassword = \"p\"\nrights = [\"god\"]\n",
       {"account[1].rights", "god", "monitor", "admin"}},
      {"[[account]]\nuser = \"u\"\n", {"account[1].password", "missing"}},
      {"[[account]]\nuser = \"u\"\npassword = \"p\"\ndial_out = [\"a b@x\"]\n",
       {"account[1].dial_out", "USER@HOST"}},
      {"[[account]]\nuser = \"u\"\npassword = \"p\"\ndial_out = [\"*@\"]\n",
       {"account[1].dial_out", "wildcards"}},
      {"[conference]\nservice_trusted_sources = [\"10.0.0.0/33\"]\n",
       {"conference.service_trusted_sources", "10.0.0.0/33", "ADDRESS/BITS"}},
      {"[conference]\nservice_trusted_sources = [\"pbx.example.com\"]\n",
       {"conference.service_trusted_sources", "pbx.example.com", "IPv4 or IPv6"}},
      {"[process]\nuser = \"root;rm\"\n", {"process.user", "root;rm"}},
      {"[announcements]\nfirst_prompt = \"tone:nonsense\"\n",
       {"announcements.first_prompt", "tone:nonsense", "tone:first", "readable sound file"}},
      {"[announcements]\nmuted_prompt = \"/nonexistent/muted.wav\"\n",
       {"announcements.muted_prompt", "/nonexistent/muted.wav"}},
      {"[announcements]\njoin_tone = 1\n", {"announcements.join_tone", "true or false"}},
      {"[[room]]\nname = \"r\"\nunmuted_prompt = \"tone:x\"\n",
       {"room[1].unmuted_prompt", "tone:x"}},
      {"sip = 5\n", {"sip = 5", "must be a table"}},
      {"[room]\nname = \"x\"\n", {"room", "array of tables"}},
  };
  for (const BadSetting& bad : cases) {
    SCOPED_TRACE(bad.toml);
    const std::string message = error_of(apply(bad.toml));
    ASSERT_FALSE(message.empty());
    for (const char* fragment : bad.says) {
      EXPECT_NE(message.find(fragment), std::string::npos) << message << "\nlacks: " << fragment;
    }
  }
}

TEST(Config, UnknownKeysAreErrorsListingTheKnownOnes) {
  std::string message = error_of(apply("[sip]\nlisten = \"127.0.0.1:5060\"\nlistn = \"x\"\n"));
  EXPECT_NE(message.find("test.toml:3"), std::string::npos) << message;
  EXPECT_NE(message.find("sip.listn"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key"), std::string::npos) << message;
  EXPECT_NE(message.find("listen, udp, tcp"), std::string::npos) << message;
  message = error_of(apply("[medai]\nshards = 2\n"));
  EXPECT_NE(message.find("medai"), std::string::npos) << message;
  message = error_of(apply("[[account]]\nuser = \"u\"\npassword = \"p\"\nright = [\"admin\"]\n"));
  EXPECT_NE(message.find("account[1].right"), std::string::npos) << message;
}

TEST(Config, EveryProblemIsReportedAtOnce) {
  const std::string message =
      error_of(apply("[media]\nshards = 65\ntop_k = 0\n[log]\nlevel = 1\n"));
  EXPECT_NE(message.find("media.shards"), std::string::npos) << message;
  EXPECT_NE(message.find("media.top_k"), std::string::npos) << message;
  EXPECT_NE(message.find("log.level"), std::string::npos) << message;
}

TEST(Config, SyntaxErrorsGiveLineAndColumnNotAnException) {
  for (const char* text : {"[sip\n", "listen = \n", "[media]\nshards = 1\nshards = 2\n", "\xff\xfe",
                           "a = \"unterminated\n", "[[room]]\nname = [\n"}) {
    SCOPED_TRACE(text);
    const std::string message = error_of(apply(text));
    EXPECT_NE(message.find("test.toml:"), std::string::npos) << message;
    EXPECT_NE(message.find("not valid TOML"), std::string::npos) << message;
  }
}

TEST(Config, FileThenFlagsWhereverTheyAppear) {
  TempFile file(
      "[sip]\nlisten = \"127.0.0.1:5070\"\n[media]\nshards = 2\nrtp_ports = "
      "\"30000-30099\"\n[log]\nlevel = \"warn\"\n");
  // Flags before and after --config both win over the file.
  const auto result =
      run({"--shards", "3", "--config", file.path().c_str(), "--log-level", "debug"});
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  const Options& o = std::get<Options>(result);
  EXPECT_EQ(o.sip_port, 5070);      // from the file
  EXPECT_EQ(o.rtp_first, 30000);    // from the file
  EXPECT_EQ(o.media_shards, 3u);    // flag over file
  EXPECT_EQ(o.log_level, "debug");  // flag over file
  EXPECT_EQ(o.config_path, file.path());
  EXPECT_EQ(o.codecs, Options{}.codecs);  // not in the file: the default
}

TEST(Config, FileAndFlagErrorsAreTold) {
  auto result = run({"--config", "/nonexistent/chorus.toml"});
  ASSERT_TRUE(std::holds_alternative<ConfigError>(result));
  EXPECT_NE(error_of(result).find("/nonexistent/chorus.toml"), std::string::npos);
  EXPECT_FALSE(std::get<ConfigError>(result).bad_flag);

  TempFile bad("[media]\nshards = 99\n");
  result = run({"--config", bad.path().c_str()});
  EXPECT_NE(error_of(result).find(bad.path() + ":2: media.shards = 99"), std::string::npos)
      << error_of(result);

  result = run({"--log-level", "chatty"});
  ASSERT_TRUE(std::holds_alternative<ConfigError>(result));
  EXPECT_TRUE(std::get<ConfigError>(result).bad_flag);
  EXPECT_NE(error_of(result).find("trace, debug"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<ConfigError>(run({"--config"})));
  EXPECT_TRUE(std::holds_alternative<ConfigError>(run({"--shards", "65"})));
}

// Test hooks are off and the shard count is automatic unless configured.
TEST(Config, DefaultsTurnTestHooksOffAndShardsToOnePerCore) {
  const auto result = run({});
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  EXPECT_EQ(std::get<Options>(result).slow_room_prefix, "");
  EXPECT_EQ(std::get<Options>(result).media_shards, 0u);
  const auto zero = apply("[media]\nshards = 0\n[sip]\nslow_room_prefix = \"slow-\"\n");
  ASSERT_TRUE(std::holds_alternative<Options>(zero)) << error_of(zero);
  EXPECT_EQ(std::get<Options>(zero).media_shards, 0u);
  EXPECT_EQ(std::get<Options>(zero).slow_room_prefix, "slow-");
  const auto most = apply("[media]\nshards = 64\n");
  ASSERT_TRUE(std::holds_alternative<Options>(most)) << error_of(most);
  EXPECT_EQ(std::get<Options>(most).media_shards, kMaxMediaShards);
}

// `--check-config FILE` is `--config FILE --check-config`.
TEST(Config, CheckConfigTakesTheFileToo) {
  TempFile file("[sip]\nlisten = \"127.0.0.1:5077\"\n[media]\nshards = 2\n");
  for (const std::vector<const char*>& args : std::vector<std::vector<const char*>>{
           {"--check-config", file.path().c_str()},
           {"--config", file.path().c_str(), "--check-config"},
           {"--check-config", "--config", file.path().c_str()},
       }) {
    SCOPED_TRACE(args.front());
    const auto result = run(args);
    ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
    const Options& o = std::get<Options>(result);
    EXPECT_TRUE(o.check_config);
    EXPECT_EQ(o.config_path, file.path());
    EXPECT_EQ(o.sip_port, 5077);
    EXPECT_EQ(o.media_shards, 2u);
  }
  // Flags still win over the file, wherever they are.
  const auto flagged = run({"--shards", "3", "--check-config", file.path().c_str()});
  ASSERT_TRUE(std::holds_alternative<Options>(flagged)) << error_of(flagged);
  EXPECT_EQ(std::get<Options>(flagged).media_shards, 3u);
  // Without a file it checks the embedded default.
  const auto plain = run({"--check-config"});
  ASSERT_TRUE(std::holds_alternative<Options>(plain)) << error_of(plain);
  EXPECT_TRUE(std::get<Options>(plain).check_config);
  EXPECT_EQ(std::get<Options>(plain).config_path, "");
  // A bad file named either way is reported with its line.
  TempFile bad("[media]\nshards = 99\n");
  for (const std::vector<const char*>& args : std::vector<std::vector<const char*>>{
           {"--check-config", bad.path().c_str()},
           {"--config", bad.path().c_str(), "--check-config"},
       }) {
    SCOPED_TRACE(args.front());
    const auto result = run(args);
    EXPECT_NE(error_of(result).find(bad.path() + ":2: media.shards = 99"), std::string::npos)
        << error_of(result);
  }
  const auto missing = run({"--check-config", "/nonexistent/chorus.toml"});
  EXPECT_NE(error_of(missing).find("/nonexistent/chorus.toml"), std::string::npos);
}

TEST(Config, TransportAndTlsCombinationsAcrossFileAndFlags) {
  TempFile file("[sip]\nudp = false\ntcp = false\n");
  EXPECT_NE(error_of(run({"--config", file.path().c_str()})).find("no SIP transport"),
            std::string::npos);
  TempFile cert("not really a certificate");
  const std::string half = "[sip]\ntls_certificate = \"" + cert.path() + "\"\n";
  TempFile tls(half);
  EXPECT_NE(error_of(run({"--config", tls.path().c_str()})).find("private key"), std::string::npos);
  const auto fixed = run({"--config", tls.path().c_str(), "--tls-key", cert.path().c_str()});
  EXPECT_TRUE(std::holds_alternative<Options>(fixed)) << error_of(fixed);
}

// RFC 7118 listeners: ports, the WSS certificate (its own or TLS's) and
// the allowed Origins.
TEST(Config, WebSocketListenersCertificateAndOrigins) {
  TempFile cert("not really a certificate");
  TempFile ws("[sip]\nws_port = 8080\nwss_port = 8443\nwss_certificate = \"" + cert.path() +
              "\"\nwss_private_key = \"" + cert.path() +
              "\"\nws_allowed_origins = [\"https://phone.example.com\", "
              "\"http://localhost:8000\"]\n");
  const auto result = run({"--config", ws.path().c_str()});
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  const Options& o = std::get<Options>(result);
  EXPECT_EQ(o.ws_port, 8080);
  EXPECT_EQ(o.wss_port, 8443);
  EXPECT_EQ(o.wss_certificate, cert.path());
  EXPECT_EQ(o.ws_allowed_origins,
            (std::vector<std::string>{"https://phone.example.com", "http://localhost:8000"}));

  TempFile no_cert("[sip]\nwss_port = 8443\n");
  EXPECT_NE(error_of(run({"--config", no_cert.path().c_str()})).find("sip.wss_port needs"),
            std::string::npos);
  // The TLS certificate serves WSS too, also when it comes from a flag.
  EXPECT_TRUE(std::holds_alternative<Options>(
      run({"--config", no_cert.path().c_str(), "--tls-cert", cert.path().c_str(), "--tls-key",
           cert.path().c_str()})));
  // WS alone is a transport to listen on.
  TempFile ws_only("[sip]\nudp = false\ntcp = false\nws_port = 8080\n");
  EXPECT_TRUE(std::holds_alternative<Options>(run({"--config", ws_only.path().c_str()})));
  TempFile bad_origin("[sip]\nws_allowed_origins = [\"https://x.example.com/page\"]\n");
  EXPECT_NE(error_of(run({"--config", bad_origin.path().c_str()})).find("sip.ws_allowed_origins"),
            std::string::npos);
}

TEST(Config, AnnouncementsAndTheirPerRoomOverrides) {
  TempFile file(
      "[announcements]\njoin_tone = true\nleave_tone = true\nfirst_prompt = \"tone:first\"\n"
      "muted_prompt = \"tone:muted\"\nunmuted_prompt = \"tone:unmuted\"\ntone_level_dbfs = -30\n"
      "[[room]]\nname = \"quiet\"\njoin_tone = false\nfirst_prompt = \"\"\n");
  const auto result = run({"--config", file.path().c_str()});
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  const Options& o = std::get<Options>(result);
  EXPECT_TRUE(o.announcements.join_tone);
  EXPECT_TRUE(o.announcements.leave_tone);
  EXPECT_EQ(o.announcements.first_prompt, "tone:first");
  EXPECT_EQ(o.announcements.muted_prompt, "tone:muted");
  EXPECT_EQ(o.announcements.unmuted_prompt, "tone:unmuted");
  EXPECT_EQ(o.announcements.tone_level_dbfs, -30);
  ASSERT_EQ(o.rooms.size(), 1u);
  EXPECT_EQ(o.rooms[0].join_tone, std::optional<bool>(false));
  EXPECT_EQ(o.rooms[0].leave_tone, std::nullopt);  // the global one applies
  EXPECT_EQ(o.rooms[0].first_prompt, std::optional<std::string>(""));
  // Off unless configured.
  EXPECT_EQ(Options{}.announcements, Announcements{});
  EXPECT_FALSE(Announcements{}.join_tone);
  EXPECT_TRUE(Announcements{}.first_prompt.empty());
}

// README "Sidebars": the level of the main room in a sidebar, globally and
// per room, -60..0 dB.
TEST(Config, SidebarMainGainGlobalAndPerRoom) {
  const auto result = apply(
      "[conference]\nsidebar_main_gain_db = -20\n"
      "[[room]]\nname = \"quiet\"\nsidebar_main_gain_db = -30\n[[room]]\nname = \"plain\"\n");
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  const Options& o = std::get<Options>(result);
  EXPECT_EQ(o.sidebar_main_gain_db, -20);
  ASSERT_EQ(o.rooms.size(), 2u);
  EXPECT_EQ(o.rooms[0].sidebar_main_gain_db, std::optional<int>(-30));
  EXPECT_EQ(o.rooms[1].sidebar_main_gain_db, std::nullopt);
  EXPECT_EQ(Options{}.sidebar_main_gain_db, -12);
  EXPECT_NE(error_of(apply("[conference]\nsidebar_main_gain_db = 3\n"))
                .find("conference.sidebar_main_gain_db"),
            std::string::npos);
  EXPECT_NE(error_of(apply("[[room]]\nname = \"r\"\nsidebar_main_gain_db = -61\n"))
                .find("room[1].sidebar_main_gain_db"),
            std::string::npos);
}

// [conference] sidebar_opus_bandwidth / sidebar_opus_complexity: what an
// Opus member's sidebar mixes are encoded at at most; an Opus bandwidth's
// name and 0..10.
TEST(Config, SidebarOpusBandwidthAndComplexity) {
  EXPECT_EQ(Options{}.sidebar_opus_bandwidth, "wideband");
  EXPECT_EQ(Options{}.sidebar_opus_complexity, 0);
  const auto result =
      apply("[conference]\nsidebar_opus_bandwidth = \"fullband\"\nsidebar_opus_complexity = 5\n");
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  EXPECT_EQ(std::get<Options>(result).sidebar_opus_bandwidth, "fullband");
  EXPECT_EQ(std::get<Options>(result).sidebar_opus_complexity, 5);
  const std::string band = error_of(apply("[conference]\nsidebar_opus_bandwidth = \"16000\"\n"));
  EXPECT_NE(band.find("conference.sidebar_opus_bandwidth"), std::string::npos) << band;
  EXPECT_NE(band.find("\"superwideband\" or \"fullband\""), std::string::npos) << band;
  EXPECT_NE(error_of(apply("[conference]\nsidebar_opus_complexity = 11\n"))
                .find("conference.sidebar_opus_complexity"),
            std::string::npos);
}

// [cluster] (README "Moving members"): the front is a sip: URI without a
// user part, from the file or --cluster-front; the transfer timeout bounded.
TEST(Config, ClusterFrontAndTransferTimeout) {
  const auto result = apply(
      "[cluster]\nfront = \"sip:proxy.example:5060;transport=tcp\"\n"
      "transfer_timeout_ms = 5000\n");
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  EXPECT_EQ(std::get<Options>(result).cluster_front, "sip:proxy.example:5060;transport=tcp");
  EXPECT_EQ(std::get<Options>(result).cluster_transfer_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(Options{}.cluster_front, "");
  for (const char* bad : {"\"sip:room@proxy.example\"", "\"tel:+123\"", "\"proxy\"", "5"}) {
    SCOPED_TRACE(bad);
    EXPECT_NE(
        error_of(apply(std::string("[cluster]\nfront = ") + bad + "\n")).find("cluster.front"),
        std::string::npos);
  }
  EXPECT_NE(
      error_of(apply("[cluster]\ntransfer_timeout_ms = 10\n")).find("cluster.transfer_timeout_ms"),
      std::string::npos);
  const auto flag = run({"--cluster-front", "sip:127.0.0.1:5070"});
  ASSERT_TRUE(std::holds_alternative<Options>(flag)) << error_of(flag);
  EXPECT_EQ(std::get<Options>(flag).cluster_front, "sip:127.0.0.1:5070");
  EXPECT_FALSE(error_of(run({"--cluster-front", "sip:a@b"})).empty());
}

// [cluster] secret (README "Moving members" → "Room B on another node"): ""
// by default, else 16..1024 bytes; a wrong one is reported without its value
// (the file's other readers must not learn it from a log), and no flag sets it.
TEST(Config, ClusterSecretIsLongEnoughAndNeverShown) {
  EXPECT_EQ(Options{}.cluster_secret, "");
  const auto embedded = run({});
  ASSERT_TRUE(std::holds_alternative<Options>(embedded)) << error_of(embedded);
  EXPECT_EQ(std::get<Options>(embedded).cluster_secret, "");
  const auto result = apply("[cluster]\nsecret = \"0123456789abcdef\"\n");
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  EXPECT_EQ(std::get<Options>(result).cluster_secret, "0123456789abcdef");
  EXPECT_TRUE(std::holds_alternative<Options>(apply("[cluster]\nsecret = \"\"\n")));
  for (const std::string& bad :
       {std::string("\"short-secret-15\""), std::string("123456789012345678"),
        "\"" + std::string(1025, 's') + "\""}) {
    SCOPED_TRACE(bad.substr(0, 40));
    const std::string error = error_of(apply("[cluster]\nsecret = " + bad + "\n"));
    EXPECT_NE(error.find("cluster.secret"), std::string::npos) << error;
    EXPECT_NE(error.find("16..1024 bytes"), std::string::npos) << error;
    EXPECT_EQ(error.find(bad.substr(1, 12)), std::string::npos) << error;
  }
  EXPECT_NE(error_of(run({"--cluster-secret", "0123456789abcdef"})).find("unknown option"),
            std::string::npos);
}

// The admin listener has no TLS: off loopback it needs the explicit word
// that a TLS-terminating proxy carries it.
TEST(Config, AdminListenerOffLoopbackNeedsAllowPlaintextRemote) {
  const std::string token = "token = \"0123456789abcdef0123456789abcdef\"\n";
  TempFile remote("[admin]\naddress = \"192.0.2.7\"\nport = 8088\n" + token);
  const std::string error = error_of(run({"--config", remote.path().c_str()}));
  EXPECT_NE(error.find("admin.address 192.0.2.7 is not loopback"), std::string::npos) << error;
  EXPECT_NE(error.find("admin.allow_plaintext_remote = true"), std::string::npos) << error;
  TempFile proxied("[admin]\naddress = \"0.0.0.0\"\nport = 8088\n" + token +
                   "allow_plaintext_remote = true\n");
  const auto result = run({"--config", proxied.path().c_str()});
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  EXPECT_TRUE(std::get<Options>(result).admin_allow_plaintext_remote);
  for (const char* loopback : {"127.0.0.1", "127.3.0.1", "::1"}) {
    TempFile plain("[admin]\naddress = \"" + std::string(loopback) + "\"\nport = 8088\n" + token);
    EXPECT_TRUE(std::holds_alternative<Options>(run({"--config", plain.path().c_str()})))
        << loopback;
  }
  // Off (port 0), the address does not matter.
  TempFile off("[admin]\naddress = \"192.0.2.7\"\n");
  EXPECT_TRUE(std::holds_alternative<Options>(run({"--config", off.path().c_str()})));
}

// The web phone page's listener (issue #18): HTTPS unless on loopback.
// admin.trusted_proxies: addresses and CIDR prefixes; a bad entry is named
// (index, value, line) rather than the array shown cut short.
TEST(Config, AdminTrustedProxiesAreAddressesOrPrefixesAndABadOneIsNamed) {
  const auto ok = apply(
      "[admin]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\", "
      "\"2001:db8::/32\"]\n");
  ASSERT_TRUE(std::holds_alternative<Options>(ok)) << error_of(ok);
  EXPECT_EQ(std::get<Options>(ok).admin_trusted_proxies,
            (std::vector<std::string>{"127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"}));
  EXPECT_TRUE(std::get<Options>(apply("")).admin_trusted_proxies.empty());
  for (const char* bad : {"10.0.0.300", "proxy.example", "10.0.0.0/33", "2001:db8::/129",
                          "192.0.2.1:8080", "10.0.0.0/"}) {
    const std::string error =
        error_of(apply(std::string("[admin]\ntrusted_proxies = [\"127.0.0.1\", \"192.0.2.0/24\", "
                                   "\"198.51.100.0/24\", \"203.0.113.0/24\", \"") +
                       bad + "\"]\n"));
    EXPECT_NE(error.find("test.toml:2: admin.trusted_proxies[4] = \"" + std::string(bad) + "\""),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("not an IP address or CIDR prefix"), std::string::npos) << error;
  }
  EXPECT_NE(
      error_of(apply("[admin]\ntrusted_proxies = \"127.0.0.1\"\n")).find("admin.trusted_proxies"),
      std::string::npos);
}

TEST(Config, WebListenerNeedsACertificateOffLoopback) {
  TempFile cert("not really a certificate");
  TempFile web("[web]\naddress = \"0.0.0.0\"\nport = 8443\ncertificate = \"" + cert.path() +
               "\"\nprivate_key = \"" + cert.path() +
               "\"\nassets_dir = \"/srv/chorus/web\"\nwss_url = \"wss://phone.example.com/sip\"\n"
               "sip_domain = \"phone.example.com\"\n");
  const auto result = run({"--config", web.path().c_str()});
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  const Options& o = std::get<Options>(result);
  EXPECT_EQ(o.web_address, "0.0.0.0");
  EXPECT_EQ(o.web_port, 8443);
  EXPECT_EQ(o.web_certificate, cert.path());
  EXPECT_EQ(o.web_assets_dir, "/srv/chorus/web");
  EXPECT_EQ(o.web_wss_url, "wss://phone.example.com/sip");
  EXPECT_EQ(o.web_sip_domain, "phone.example.com");

  TempFile plain_public("[web]\naddress = \"192.0.2.7\"\nport = 8080\n");
  EXPECT_NE(error_of(run({"--config", plain_public.path().c_str()})).find("needs web.certificate"),
            std::string::npos);
  for (const char* loopback : {"127.0.0.1", "127.3.0.1", "::1"}) {
    TempFile plain("[web]\naddress = \"" + std::string(loopback) + "\"\nport = 8080\n");
    EXPECT_TRUE(std::holds_alternative<Options>(run({"--config", plain.path().c_str()})))
        << loopback;
  }
  TempFile half("[web]\nport = 8080\ncertificate = \"" + cert.path() + "\"\n");
  EXPECT_NE(error_of(run({"--config", half.path().c_str()})).find("web.private_key"),
            std::string::npos);
  TempFile bad_url("[web]\nwss_url = \"https://x\"\n");
  EXPECT_NE(error_of(run({"--config", bad_url.path().c_str()})).find("web.wss_url"),
            std::string::npos);
}

TEST(Config, BrowserMediaCertificatePairAndPublicAddress) {
  TempFile cert("a certificate");
  TempFile key("a key");
  TempFile both("[media]\npublic_address = \"198.51.100.7\"\ndtls_certificate = \"" + cert.path() +
                "\"\ndtls_private_key = \"" + key.path() + "\"\n");
  const auto result = run({"--config", both.path().c_str()});
  ASSERT_TRUE(std::holds_alternative<Options>(result)) << error_of(result);
  const Options& o = std::get<Options>(result);
  EXPECT_EQ(o.media_public_address, "198.51.100.7");
  EXPECT_EQ(o.dtls_certificate, cert.path());
  EXPECT_EQ(o.dtls_private_key, key.path());

  TempFile only_cert("[media]\ndtls_certificate = \"" + cert.path() + "\"\n");
  EXPECT_NE(error_of(run({"--config", only_cert.path().c_str()}))
                .find("media.dtls_certificate and media.dtls_private_key go together"),
            std::string::npos);
  EXPECT_NE(error_of(apply("[media]\ndtls_private_key = \"/nonexistent/key.pem\"\n"))
                .find("media.dtls_private_key"),
            std::string::npos);
  EXPECT_NE(error_of(apply("[media]\npublic_address = \"nat.example.com\"\n"))
                .find("media.public_address"),
            std::string::npos);
}

TEST(Config, OversizedFileIsRefused) {
  TempFile big(std::string(2 << 20, '#'));
  EXPECT_NE(error_of(load_config_file(big.path(), Options{})).find("larger than 1 MiB"),
            std::string::npos);
}

TEST(Log, LevelsAndContext) {
  EXPECT_TRUE(valid_log_level("info"));
  EXPECT_TRUE(valid_log_level("off"));
  EXPECT_FALSE(valid_log_level("INFO"));
  EXPECT_FALSE(valid_log_level(""));
  EXPECT_TRUE(setup_logging("nonsense", "").has_value());
  EXPECT_TRUE(setup_logging("info", "/dev/null/chorus.log").has_value());

  EXPECT_EQ(log_context_prefix(), "");
  {
    const std::string call_id = "abc@host";
    LogContext outer(call_id, "demo");
    EXPECT_EQ(log_context_prefix(), "[call=abc@host room=demo] ");
    {
      LogContext inner("", "other");
      EXPECT_EQ(log_context_prefix(), "[room=other] ");
    }
    EXPECT_EQ(LogContext::call_id(), "abc@host");
    EXPECT_EQ(LogContext::room(), "demo");
  }
  EXPECT_EQ(log_context_prefix(), "");
}

TEST(Log, FileGetsPatternContextAndLevel) {
  TempFile file("");
  ASSERT_FALSE(setup_logging("info", file.path()).has_value());
  {
    LogContext context("call-1", "room-1");
    spdlog::info("joined");
    spdlog::debug("below the level");
  }
  spdlog::warn("no context");
  set_log_level("debug");
  spdlog::debug("now visible");
  spdlog::default_logger()->flush();
  const std::string text = read_file(file.path());
  EXPECT_NE(text.find("info [call=call-1 room=room-1] joined"), std::string::npos) << text;
  EXPECT_EQ(text.find("below the level"), std::string::npos) << text;
  EXPECT_NE(text.find("warning no context"), std::string::npos) << text;
  EXPECT_NE(text.find("now visible"), std::string::npos) << text;
  ASSERT_FALSE(setup_logging("info", "").has_value());  // back to stderr
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
