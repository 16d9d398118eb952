// Command-line parsing of `chorus`.

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "focus/ops/options.hpp"

namespace chorus::focus {
namespace {

std::variant<Options, OptionsError> parse(std::vector<const char*> args) {
  return parse_options(std::span<const char* const>(args.data(), args.size()));
}

TEST(Options, DefaultsAreTheEmbeddedConfiguration) {
  const auto result = parse({});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  const Options& options = std::get<Options>(result);
  EXPECT_EQ(options.sip_host, "127.0.0.1");
  EXPECT_EQ(options.sip_port, 5060);
  EXPECT_TRUE(options.udp);
  EXPECT_TRUE(options.tcp);
  EXPECT_FALSE(options.help);
  EXPECT_EQ(options.slow_room_prefix, "");  // test hook off
  EXPECT_EQ(options.media_shards, 0u);      // one shard per core
}

TEST(Options, SipHostPortIncludingIpv6) {
  auto result = parse({"--sip", "0.0.0.0:5070"});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  EXPECT_EQ(std::get<Options>(result).sip_host, "0.0.0.0");
  EXPECT_EQ(std::get<Options>(result).sip_port, 5070);
  result = parse({"--sip", "[::1]:5080"});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  EXPECT_EQ(std::get<Options>(result).sip_host, "::1");
  EXPECT_EQ(std::get<Options>(result).sip_port, 5080);
}

TEST(Options, BadInputIsAnErrorNotAnException) {
  for (std::vector<const char*> args : std::vector<std::vector<const char*>>{
           {"--sip"},
           {"--sip", "host:99999"},
           {"--sip", "host:abc"},
           {"--sip", "[::1"},
           {"--rtp-ports", "5000"},
           {"--rtp-ports", "6000-5000"},
           {"--tls-cert", "cert.pem"},
           {"--no-udp", "--no-tcp"},
           {"--ring-delay-ms", "-1"},
           {"--frobnicate"},
       }) {
    SCOPED_TRACE(args.front());
    EXPECT_TRUE(std::holds_alternative<OptionsError>(parse(args)));
  }
}

TEST(Options, HelpAndRanges) {
  const auto result = parse({"--help", "--rtp-ports", "30000-30100", "--ring-delay-ms", "50"});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  const Options& options = std::get<Options>(result);
  EXPECT_TRUE(options.help);
  EXPECT_EQ(options.rtp_first, 30000);
  EXPECT_EQ(options.rtp_last, 30100);
  EXPECT_EQ(options.ring_delay.count(), 50);
  EXPECT_NE(usage().find("--sip HOST:PORT"), std::string::npos);
}

TEST(Options, ConfigurationFlags) {
  const auto result = parse({"--config", "/etc/chorus/chorus.toml", "--check-config", "--shards",
                             "4", "--log-level", "warn"});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  const Options& options = std::get<Options>(result);
  EXPECT_EQ(options.config_path, "/etc/chorus/chorus.toml");
  EXPECT_TRUE(options.check_config);
  EXPECT_EQ(options.media_shards, 4u);
  EXPECT_EQ(options.log_level, "warn");
  for (std::vector<const char*> args : std::vector<std::vector<const char*>>{
           {"--config"},
           {"--config", ""},
           {"--shards", "-1"},
           {"--shards", "65"},
           {"--log-level", "verbose"},
           {"--log-level"},
       }) {
    SCOPED_TRACE(args.front());
    EXPECT_TRUE(std::holds_alternative<OptionsError>(parse(args)));
  }
  EXPECT_NE(std::get<OptionsError>(parse({"--shards", "65"})).message.find("--shards"),
            std::string::npos);
  const auto automatic = parse({"--media-shards", "0"});
  ASSERT_TRUE(std::holds_alternative<Options>(automatic));
  EXPECT_EQ(std::get<Options>(automatic).media_shards, 0u);
}

TEST(Options, CheckConfigTakesAnOptionalFile) {
  auto result = parse({"--check-config", "/etc/chorus/chorus.toml"});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  EXPECT_TRUE(std::get<Options>(result).check_config);
  EXPECT_EQ(std::get<Options>(result).config_path, "/etc/chorus/chorus.toml");
  result = parse({"--config", "/etc/chorus/chorus.toml", "--check-config"});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  EXPECT_TRUE(std::get<Options>(result).check_config);
  EXPECT_EQ(std::get<Options>(result).config_path, "/etc/chorus/chorus.toml");
  // A flag after --check-config is a flag, not a file.
  result = parse({"--check-config", "--shards", "2"});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  EXPECT_TRUE(std::get<Options>(result).check_config);
  EXPECT_EQ(std::get<Options>(result).config_path, "");
  EXPECT_EQ(std::get<Options>(result).media_shards, 2u);

  using Files = std::vector<std::string>;
  const auto files = [](std::vector<const char*> args) {
    return config_file_arguments(std::span<const char* const>(args.data(), args.size()));
  };
  EXPECT_EQ(files({"--check-config", "a.toml"}), Files{"a.toml"});
  EXPECT_EQ(files({"--config", "a.toml", "--check-config"}), Files{"a.toml"});
  EXPECT_EQ(files({"--check-config", "--config", "a.toml"}), Files{"a.toml"});
  EXPECT_EQ(files({"--check-config"}), Files{});
  EXPECT_EQ(files({"--shards", "2", "--check-config", "--log-level", "warn"}), Files{});
  EXPECT_EQ(files({"--config", "a.toml", "--check-config", "b.toml"}), (Files{"a.toml", "b.toml"}));
}

TEST(Options, SlowRoomPrefixIsATestHookOffByDefault) {
  auto result = parse({"--slow-room-prefix", "slow-"});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  EXPECT_EQ(std::get<Options>(result).slow_room_prefix, "slow-");
  result = parse({"--slow-room-prefix", ""});
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  EXPECT_EQ(std::get<Options>(result).slow_room_prefix, "");
  EXPECT_TRUE(std::holds_alternative<OptionsError>(parse({"--slow-room-prefix", "a b"})));
  EXPECT_TRUE(std::holds_alternative<OptionsError>(parse({"--slow-room-prefix"})));
  EXPECT_TRUE(valid_slow_room_prefix(""));
  EXPECT_TRUE(valid_slow_room_prefix("slow-"));
  EXPECT_FALSE(valid_slow_room_prefix("sl@w"));
  EXPECT_FALSE(valid_slow_room_prefix(std::string(65, 'a')));
}

TEST(Options, FlagsOverrideTheBaseAndKeepTheRest) {
  Options base;
  base.sip_port = 5099;
  base.media_shards = 2;
  base.rooms = {RoomPolicy{"board", "1", 3}};
  std::vector<const char*> args = {"--rtp-ports", "30000-30010"};
  const auto result = parse_options(std::span<const char* const>(args.data(), args.size()), base);
  ASSERT_TRUE(std::holds_alternative<Options>(result));
  const Options& options = std::get<Options>(result);
  EXPECT_EQ(options.sip_port, 5099);
  EXPECT_EQ(options.media_shards, 2u);
  EXPECT_EQ(options.rooms, base.rooms);
  EXPECT_EQ(options.rtp_first, 30000);
  EXPECT_EQ(options.rtp_last, 30010);
}

TEST(Options, HostPortAndRangeHelpers) {
  std::string host;
  uint16_t port = 7;
  EXPECT_TRUE(parse_host_port("example.org", host, port));
  EXPECT_EQ(host, "example.org");
  EXPECT_EQ(port, 7);
  EXPECT_FALSE(parse_host_port(":5060", host, port));
  EXPECT_FALSE(parse_host_port("[::1]x", host, port));
  uint16_t first = 1;
  uint16_t last = 2;
  EXPECT_FALSE(parse_port_range("1023-2000", first, last));
  EXPECT_FALSE(parse_port_range("2000-2000", first, last));
  EXPECT_FALSE(parse_port_range("2000-", first, last));
  EXPECT_FALSE(parse_port_range("-2000", first, last));
  EXPECT_EQ(first, 1);  // untouched on failure
  EXPECT_TRUE(parse_port_range("2000-2001", first, last));
  EXPECT_EQ(first, 2000);
  EXPECT_EQ(last, 2001);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
