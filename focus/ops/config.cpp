#include "focus/ops/config.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "focus/ops/limits.hpp"
#include "focus/ops/log.hpp"
#include "focus/privileges.hpp"
#include "focus/services/move_grant.hpp"
#include "mixer/codec.hpp"
#include "mixer/media_shard.hpp"
#include "mixer/moh_source.hpp"
#include "mixer/span.hpp"
#include "rtp/io_backend.hpp"
#include "signaling/auth/digest_server.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::focus {
namespace {

using Keys = std::span<const std::string_view>;

constexpr std::array<std::string_view, 14> kSections = {
    "sip",   "transport", "media",  "conference", "room",          "account", "log",
    "admin", "process",   "limits", "recording",  "announcements", "web",     "cluster"};
constexpr std::array<std::string_view, 14> kSipKeys = {"listen",
                                                       "udp",
                                                       "tcp",
                                                       "tls_port",
                                                       "tls_certificate",
                                                       "tls_private_key",
                                                       "realm",
                                                       "ws_port",
                                                       "wss_port",
                                                       "wss_certificate",
                                                       "wss_private_key",
                                                       "ws_allowed_origins",
                                                       "slow_room_prefix",
                                                       "digest_algorithms"};
constexpr std::array<std::string_view, 9> kTransportKeys = {
    "tls_verify_peer",          "tls_ca_file",
    "handshake_timeout_ms",     "idle_timeout_ms",
    "message_timeout_ms",       "max_connections",
    "max_outgoing_connections", "max_connections_per_source",
    "max_queued_bytes"};
constexpr std::array<std::string_view, 2> kDigestAlgorithms = {"SHA-256", "MD5"};
constexpr std::array<std::string_view, 6> kSipExtraKeys = {
    "ring_delay_ms", "dial_timeout_ms", "session_expires",
    "min_se",        "session_refresh", "refer_subscription_expires"};
constexpr std::array<std::string_view, 20> kMediaKeys = {"address",
                                                         "public_address",
                                                         "dtls_certificate",
                                                         "dtls_private_key",
                                                         "rtp_ports",
                                                         "shards",
                                                         "realtime_priority",
                                                         "pin_shards",
                                                         "io",
                                                         "port_mode",
                                                         "max_streams_per_shard",
                                                         "rtp_timeout_ms",
                                                         "codecs",
                                                         "srtp",
                                                         "top_k",
                                                         "jitter_min_ms",
                                                         "jitter_initial_ms",
                                                         "jitter_max_ms",
                                                         "test_command_ring_slots",
                                                         "test_retry_queue_limit"};
constexpr std::array<std::string_view, 10> kConferenceKeys = {"max_members",
                                                              "only_listed_rooms",
                                                              "moh_user",
                                                              "park_user",
                                                              "moh_file",
                                                              "service_trusted_sources",
                                                              "voicemail_uri",
                                                              "sidebar_main_gain_db",
                                                              "sidebar_opus_bandwidth",
                                                              "sidebar_opus_complexity"};
constexpr std::array<std::string_view, 14> kRoomKeys = {"name",           "pin",
                                                        "pin_timeout_s",  "max_members",
                                                        "waiting_room",   "waiting_timeout_s",
                                                        "waiting_music",  "auto_record",
                                                        "join_tone",      "leave_tone",
                                                        "first_prompt",   "muted_prompt",
                                                        "unmuted_prompt", "sidebar_main_gain_db"};
constexpr std::array<std::string_view, 6> kAnnouncementKeys = {
    "join_tone", "leave_tone", "first_prompt", "muted_prompt", "unmuted_prompt", "tone_level_dbfs"};
constexpr std::array<std::string_view, 8> kRecordingKeys = {
    "dir",           "format",  "sample_rate", "opus_bitrate",
    "member_tracks", "tone_hz", "tone_ms",     "tone_level_dbfs"};
constexpr std::array<std::string_view, 4> kAccountKeys = {"user", "password", "rights", "dial_out"};
constexpr std::array<std::string_view, 2> kLogKeys = {"level", "file"};
constexpr size_t kMinAdminTokenLength = 32;
constexpr std::array<std::string_view, 7> kAdminKeys = {
    "address",        "port", "token", "metrics_token", "hosts", "allow_plaintext_remote",
    "trusted_proxies"};
constexpr std::array<std::string_view, 3> kClusterKeys = {"front", "transfer_timeout_ms", "secret"};
constexpr std::array<std::string_view, 7> kWebKeys = {
    "address", "port", "certificate", "private_key", "assets_dir", "wss_url", "sip_domain"};
constexpr std::array<std::string_view, 2> kProcessKeys = {"allow_root", "user"};
constexpr std::array<std::string_view, 23> kLimitsKeys = {"trusted_proxies",
                                                          "exempt",
                                                          "rate",
                                                          "burst",
                                                          "reject_over_rate",
                                                          "table_size",
                                                          "auth_failures",
                                                          "auth_lockout_ms",
                                                          "account_slow_after",
                                                          "auth_window_ms",
                                                          "account_delay_ms",
                                                          "calls_per_source",
                                                          "subscriptions_per_source",
                                                          "max_subscriptions",
                                                          "transactions_per_source",
                                                          "max_transactions",
                                                          "max_lingering_transactions",
                                                          "reflection_rate",
                                                          "reflection_burst",
                                                          "overload_cpu_percent",
                                                          "overload_calls",
                                                          "overload_transactions",
                                                          "log_interval_ms"};
constexpr std::array<std::string_view, 4> kCodecs = {"opus", "G722", "PCMU", "PCMA"};
constexpr std::array<std::string_view, 14> kRights = {
    sip::kRightMonitor,  sip::kRightWhisper, sip::kRightBarge,  sip::kRightReplace,
    sip::kRightDialOut,  sip::kRightRemove,  sip::kRightAdmin,  sip::kRightDialogSubscribe,
    sip::kRightModerate, sip::kRightPark,    sip::kRightPickup, sip::kRightRecord,
    sip::kRightMove, kRightSidebar};
constexpr uint32_t kMaxJitterMs = 1000;
constexpr int64_t kMinSidebarGainDb = -60;

std::string join(Keys names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool contains(Keys names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_ip_address(const std::string& text) {
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 || inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

// A SIP user part we can match a Request-URI against: RFC 3261 §25.1
// unreserved characters only (no escapes, nothing that needs quoting).
bool is_plain_user(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '!' || c == '~' || c == '*' || c == '\'' || c == '(' ||
           c == ')';
  });
}

bool is_digits(std::string_view text) {
  return !text.empty() && text.size() <= 32 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool readable(const std::string& path) {
  return ::access(path.c_str(), R_OK) == 0;
}

// Walks one parsed document, collecting every problem rather than stopping at
// the first, so an operator fixes a file in one pass.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  const std::vector<std::string>& errors() const { return errors_; }

  void fail(const toml::node* node, std::string_view key, std::string_view allowed,
            bool show_value = true) {
    std::string line(source_);
    if (node != nullptr && node->source().begin.line > 0) {
      line += ":" + std::to_string(node->source().begin.line);
    }
    line += ": ";
    line += key;
    if (node != nullptr && show_value) line += " = " + show(*node);
    line += ": ";
    line += allowed;
    errors_.push_back(std::move(line));
  }

  // Reports keys of `table` not in `known` (typos must not fall back to a
  // default silently).
  void check_keys(const toml::table& table, const std::string& prefix, Keys known) {
    for (const auto& [key, node] : table) {
      if (!contains(known, key.str())) {
        fail(&node, prefix + std::string(key.str()),
             "unknown key (known here: " + join(known) + ")");
      }
    }
  }

  // The sub-table `name` of the root, or nullptr when absent or not a table.
  const toml::table* section(const toml::table& root, std::string_view name) {
    const toml::node* node = root.get(name);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) {
      fail(node, name, "must be a table ([" + std::string(name) + "])");
      return nullptr;
    }
    return node->as_table();
  }

  void read(const toml::table& table, const std::string& key_path, std::string_view key,
            bool& out) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return;
    if (const auto* value = node->as_boolean()) {
      out = value->get();
    } else {
      fail(node, key_path, "allowed: true or false");
    }
  }

  // A string; `valid` (when given) checks it, `allowed` says what is.
  template <class Valid>
  void read(const toml::table& table, const std::string& key_path, std::string_view key,
            std::string& out, std::string_view allowed, Valid valid) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return;
    const auto* value = node->as_string();
    if (value == nullptr || !valid(value->get())) {
      fail(node, key_path, allowed);
      return;
    }
    out = value->get();
  }

  // A string that must not be shown: a problem names the key and line only.
  template <class Valid>
  void read_secret(const toml::table& table, const std::string& key_path, std::string_view key,
                   std::string& out, std::string_view allowed, Valid valid) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return;
    const auto* value = node->as_string();
    if (value == nullptr || !valid(value->get())) {
      fail(node, key_path, allowed, /*show_value=*/false);
      return;
    }
    out = value->get();
  }

  void read(const toml::table& table, const std::string& key_path, std::string_view key,
            std::string& out) {
    read(table, key_path, key, out, "allowed: a string", [](const std::string&) { return true; });
  }

  template <class Int>
  void read(const toml::table& table, const std::string& key_path, std::string_view key, Int& out,
            int64_t min, int64_t max) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return;
    const auto* value = node->as_integer();
    if (value == nullptr || value->get() < min || value->get() > max) {
      fail(node, key_path,
           "allowed: an integer " + std::to_string(min) + ".." + std::to_string(max));
      return;
    }
    out = static_cast<Int>(value->get());
  }

  void read(const toml::table& table, const std::string& key_path, std::string_view key,
            std::chrono::milliseconds& out, int64_t min, int64_t max) {
    int64_t ms = out.count();
    read(table, key_path, key, ms, min, max);
    out = std::chrono::milliseconds(ms);
  }

  // An array of strings, each one of `allowed_names` (when not empty), no
  // repeats.
  void read(const toml::table& table, const std::string& key_path, std::string_view key,
            std::vector<std::string>& out, Keys allowed_names, bool allow_empty) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return;
    const std::string allowed =
        "allowed: an array of " +
        (allowed_names.empty() ? std::string("strings") : "names among " + join(allowed_names)) +
        (allow_empty ? "" : ", at least one") + ", each at most once";
    const auto* array = node->as_array();
    if (array == nullptr || (!allow_empty && array->empty())) {
      fail(node, key_path, allowed);
      return;
    }
    std::vector<std::string> values;
    for (const toml::node& element : *array) {
      const auto* text = element.as_string();
      if (text == nullptr || (!allowed_names.empty() && !contains(allowed_names, text->get())) ||
          std::find(values.begin(), values.end(), text->get()) != values.end()) {
        fail(node, key_path, allowed);
        return;
      }
      values.push_back(text->get());
    }
    out = std::move(values);
  }

  // An array of strings, each passing `valid`, no repeats (may be empty).
  template <class Valid>
  void read_list(const toml::table& table, const std::string& key_path, std::string_view key,
                 std::vector<std::string>& out, std::string_view allowed, Valid valid) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return;
    const auto* array = node->as_array();
    if (array == nullptr || array->size() > 256) {
      fail(node, key_path, allowed);
      return;
    }
    std::vector<std::string> values;
    for (const toml::node& element : *array) {
      const auto* text = element.as_string();
      if (text == nullptr || !valid(text->get()) ||
          std::find(values.begin(), values.end(), text->get()) != values.end()) {
        fail(node, key_path, allowed);
        return;
      }
      values.push_back(text->get());
    }
    out = std::move(values);
  }

 private:
  static std::string show(const toml::node& node) {
    std::string text;
    if (const auto* value = node.as_string()) {
      text = quoted(value->get());
    } else {
      std::ostringstream out;
      node.visit([&out](const auto& value) { out << value; });
      text = out.str();
    }
    std::replace(text.begin(), text.end(), '\n', ' ');
    constexpr size_t kMaxShown = 80;
    if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
    return text;
  }

  // As the operator would write it in the file: "value", with \ and "
  // escaped and control characters shown as \uXXXX.
  static std::string quoted(const std::string& value) {
    std::string out = "\"";
    for (const char c : value) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[(c >> 4) & 0xf];
        out += kHex[c & 0xf];
      } else {
        out += c;
      }
    }
    return out + "\"";
  }

  std::string source_;
  std::vector<std::string> errors_;
};

// An RFC 6454 origin as browsers send it ("https://host[:port]", no path),
// or "*".
bool valid_ws_origin(const std::string& origin) {
  if (origin == "*") return true;
  const size_t scheme = origin.find("://");
  if (scheme == std::string::npos || scheme == 0) return false;
  const std::string_view rest = std::string_view(origin).substr(scheme + 3);
  return !rest.empty() && rest.size() < 256 &&
         rest.find_first_of("/?#\"' \t\r\n") == std::string_view::npos;
}

void read_sip(Reader& reader, const toml::table& sip, Options& options) {
  std::vector<std::string_view> known(kSipKeys.begin(), kSipKeys.end());
  known.insert(known.end(), kSipExtraKeys.begin(), kSipExtraKeys.end());
  reader.check_keys(sip, "sip.", known);
  if (const toml::node* node = sip.get("listen")) {
    std::string host = options.sip_host;
    uint16_t port = options.sip_port;
    const auto* text = node->as_string();
    if (text == nullptr || !parse_host_port(text->get(), host, port) || port == 0) {
      reader.fail(node, "sip.listen", "allowed: \"HOST:PORT\" or \"[IPv6]:PORT\", port 1..65535");
    } else {
      options.sip_host = host;
      options.sip_port = port;
    }
  }
  reader.read(sip, "sip.udp", "udp", options.udp);
  reader.read(sip, "sip.tcp", "tcp", options.tcp);
  reader.read(sip, "sip.tls_port", "tls_port", options.tls_port, 1, 65535);
  const auto file_or_empty = [](const std::string& path) { return path.empty() || readable(path); };
  reader.read(sip, "sip.tls_certificate", "tls_certificate", options.tls_certificate,
              "allowed: \"\" or a readable PEM file", file_or_empty);
  reader.read(sip, "sip.tls_private_key", "tls_private_key", options.tls_private_key,
              "allowed: \"\" or a readable PEM file", file_or_empty);
  reader.read(sip, "sip.ws_port", "ws_port", options.ws_port, 0, 65535);
  reader.read(sip, "sip.wss_port", "wss_port", options.wss_port, 0, 65535);
  reader.read(sip, "sip.wss_certificate", "wss_certificate", options.wss_certificate,
              "allowed: \"\" (the TLS certificate) or a readable PEM file", file_or_empty);
  reader.read(sip, "sip.wss_private_key", "wss_private_key", options.wss_private_key,
              "allowed: \"\" (the TLS private key) or a readable PEM file", file_or_empty);
  reader.read_list(sip, "sip.ws_allowed_origins", "ws_allowed_origins", options.ws_allowed_origins,
                   "allowed: a list of origins (\"https://host[:port]\") or \"*\"",
                   [](const std::string& origin) { return valid_ws_origin(origin); });
  reader.read(sip, "sip.realm", "realm", options.realm,
              "allowed: a non-empty string without '\"' or '\\\\'", [](const std::string& realm) {
                return !realm.empty() && realm.find_first_of("\"\\\r\n") == std::string::npos;
              });
  reader.read(sip, "sip.digest_algorithms", "digest_algorithms", options.digest_algorithms,
              kDigestAlgorithms, false);
  reader.read(sip, "sip.slow_room_prefix", "slow_room_prefix", options.slow_room_prefix,
              "allowed: \"\" (off) or a room-name prefix (up to 64 letters, digits, -_.!~*'())",
              [](const std::string& prefix) { return valid_slow_room_prefix(prefix); });
  reader.read(sip, "sip.ring_delay_ms", "ring_delay_ms", options.ring_delay, 0, 600000);
  reader.read(sip, "sip.dial_timeout_ms", "dial_timeout_ms", options.dial_timeout, 0, 3600000);
  // RFC 4028 §4: no interval below 90 s; a day at most.
  reader.read(sip, "sip.min_se", "min_se", options.min_se, 90, 86400);
  reader.read(sip, "sip.session_expires", "session_expires", options.session_expires, 90, 86400);
  if (options.session_expires < options.min_se) {
    reader.fail(sip.get("session_expires"), "sip.session_expires",
                "allowed: at least sip.min_se (" + std::to_string(options.min_se) + ")");
  }
  std::string refresh = options.session_refresh_with_update ? "update" : "reinvite";
  reader.read(sip, "sip.session_refresh", "session_refresh", refresh,
              "allowed: \"update\" or \"reinvite\"",
              [](const std::string& value) { return value == "update" || value == "reinvite"; });
  options.session_refresh_with_update = refresh == "update";
  reader.read(sip, "sip.refer_subscription_expires", "refer_subscription_expires",
              options.refer_subscription_expires, 1, 86400);
}

void read_transport(Reader& reader, const toml::table& transport, Options& options) {
  reader.check_keys(transport, "transport.", kTransportKeys);
  reader.read(transport, "transport.tls_verify_peer", "tls_verify_peer", options.tls_verify_peer);
  reader.read(transport, "transport.tls_ca_file", "tls_ca_file", options.tls_ca_file,
              "allowed: \"\" (the system's trust store) or a readable PEM file",
              [](const std::string& path) { return path.empty() || readable(path); });
  reader.read(transport, "transport.handshake_timeout_ms", "handshake_timeout_ms",
              options.handshake_timeout, 100, 600000);
  reader.read(transport, "transport.idle_timeout_ms", "idle_timeout_ms", options.idle_timeout, 100,
              86400000);
  reader.read(transport, "transport.message_timeout_ms", "message_timeout_ms",
              options.message_timeout, 100, 600000);
  reader.read(transport, "transport.max_connections", "max_connections", options.max_connections,
              1, 1000000);
  reader.read(transport, "transport.max_outgoing_connections", "max_outgoing_connections",
              options.max_outgoing_connections, 1, 1000000);
  reader.read(transport, "transport.max_connections_per_source", "max_connections_per_source",
              options.max_connections_per_source, 1, 1000000);
  reader.read(transport, "transport.max_queued_bytes", "max_queued_bytes", options.max_queued_bytes,
              65536, 1073741824);
}

void read_media(Reader& reader, const toml::table& media, Options& options) {
  reader.check_keys(media, "media.", kMediaKeys);
  reader.read(media, "media.address", "address", options.media_address,
              "allowed: \"\" or an IPv4/IPv6 address",
              [](const std::string& address) { return address.empty() || is_ip_address(address); });
  reader.read(media, "media.public_address", "public_address", options.media_public_address,
              "allowed: \"\" or an IPv4/IPv6 address",
              [](const std::string& address) { return address.empty() || is_ip_address(address); });
  const auto file_or_empty = [](const std::string& path) { return path.empty() || readable(path); };
  reader.read(media, "media.dtls_certificate", "dtls_certificate", options.dtls_certificate,
              "allowed: \"\" (generated at start) or a readable PEM file", file_or_empty);
  reader.read(media, "media.dtls_private_key", "dtls_private_key", options.dtls_private_key,
              "allowed: \"\" (generated at start) or a readable PEM file", file_or_empty);
  if (options.dtls_certificate.empty() != options.dtls_private_key.empty()) {
    reader.fail(
        media.get(options.dtls_certificate.empty() ? "dtls_private_key" : "dtls_certificate"),
        options.dtls_certificate.empty() ? "media.dtls_private_key" : "media.dtls_certificate",
        "media.dtls_certificate and media.dtls_private_key go together");
  }
  if (const toml::node* node = media.get("rtp_ports")) {
    const auto* text = node->as_string();
    if (text == nullptr || !parse_port_range(text->get(), options.rtp_first, options.rtp_last)) {
      reader.fail(node, "media.rtp_ports",
                  "allowed: \"FIRST-LAST\", 1024 <= FIRST < LAST <= 65535");
    }
  }
  reader.read(media, "media.shards", "shards", options.media_shards, 0,
              static_cast<int64_t>(kMaxMediaShards));
  reader.read(media, "media.realtime_priority", "realtime_priority",
              options.media_realtime_priority, 0, 99);
  reader.read(media, "media.pin_shards", "pin_shards", options.media_pin_shards);
  reader.read(media, "media.io", "io", options.media_io, "allowed: \"auto\", \"uring\" or \"mmsg\"",
              [](const std::string& io) { return rtp::parse_io_backend(io).has_value(); });
  reader.read(media, "media.max_streams_per_shard", "max_streams_per_shard",
              options.media_max_streams_per_shard, 16, 16384);
  reader.read(media, "media.port_mode", "port_mode", options.media_port_mode,
              "allowed: \"per-member\" or \"shared\"",
              [](const std::string& mode) { return rtp::parse_port_mode(mode).has_value(); });
  reader.read(media, "media.rtp_timeout_ms", "rtp_timeout_ms", options.rtp_timeout, 100, 3600000);
  reader.read(media, "media.codecs", "codecs", options.codecs, kCodecs, false);
  if (const toml::node* node = media.get("srtp")) {
    const auto* text = node->as_string();
    const std::string value = text != nullptr ? text->get() : std::string();
    if (value == "off") {
      options.srtp = sdp::SrtpPolicy::kOff;
    } else if (value == "offer") {
      options.srtp = sdp::SrtpPolicy::kOffer;
    } else if (value == "required") {
      options.srtp = sdp::SrtpPolicy::kRequired;
    } else {
      reader.fail(node, "media.srtp", "allowed: \"off\", \"offer\" or \"required\"");
    }
  }
  reader.read(media, "media.top_k", "top_k", options.top_k, 1,
              static_cast<int64_t>(mixer::kMaxTopK));
  reader.read(media, "media.jitter_min_ms", "jitter_min_ms", options.jitter_min_ms, 0,
              kMaxJitterMs);
  reader.read(media, "media.jitter_initial_ms", "jitter_initial_ms", options.jitter_initial_ms, 0,
              kMaxJitterMs);
  reader.read(media, "media.jitter_max_ms", "jitter_max_ms", options.jitter_max_ms, 0,
              kMaxJitterMs);
  reader.read(media, "media.test_command_ring_slots", "test_command_ring_slots",
              options.test_command_ring_slots, 0,
              static_cast<int64_t>(mixer::MediaShard::kCommandRingSize));
  reader.read(media, "media.test_retry_queue_limit", "test_retry_queue_limit",
              options.test_retry_queue_limit, 0, 1000000);
}

void read_conference(Reader& reader, const toml::table& conference, Options& options) {
  reader.check_keys(conference, "conference.", kConferenceKeys);
  reader.read(conference, "conference.max_members", "max_members", options.max_members, 1, 100000);
  reader.read(conference, "conference.sidebar_main_gain_db", "sidebar_main_gain_db",
              options.sidebar_main_gain_db, kMinSidebarGainDb, 0);
  reader.read(
      conference, "conference.sidebar_opus_bandwidth", "sidebar_opus_bandwidth",
      options.sidebar_opus_bandwidth,
      "allowed: \"narrowband\", \"mediumband\", \"wideband\", \"superwideband\" or "
      "\"fullband\"",
      [](const std::string& name) { return mixer::opus_bandwidth_from_name(name).has_value(); });
  reader.read(conference, "conference.sidebar_opus_complexity", "sidebar_opus_complexity",
              options.sidebar_opus_complexity, 0, 10);
  reader.read(conference, "conference.only_listed_rooms", "only_listed_rooms",
              options.only_listed_rooms);
  const auto user = [](const std::string& name) { return is_plain_user(name); };
  constexpr std::string_view kUserAllowed =
      "allowed: a SIP user name (1-64 letters, digits, -_.!~*'())";
  reader.read(conference, "conference.moh_user", "moh_user", options.moh_user, kUserAllowed, user);
  reader.read(conference, "conference.park_user", "park_user", options.park_user, kUserAllowed,
              user);
  reader.read(conference, "conference.voicemail_uri", "voicemail_uri", options.voicemail_uri,
              "allowed: \"\" or a sip: or sips: URI", [](const std::string& uri) {
                const auto parsed = sip::parse_uri(uri);
                return uri.empty() || (parsed && parsed->is_sip());
              });
  reader.read(conference, "conference.moh_file", "moh_file", options.moh_file,
              "allowed: \"\" or a readable WAV file",
              [](const std::string& path) { return path.empty() || readable(path); });
  reader.read_list(conference, "conference.service_trusted_sources", "service_trusted_sources",
                   options.service_trusted_sources,
                   "allowed: an array of \"ADDRESS\" or \"ADDRESS/BITS\" (IPv4 or IPv6), each "
                   "at most once",
                   [](const std::string& range) { return valid_address_range(range); });
}

void read_recording(Reader& reader, const toml::table& table, Options& options) {
  reader.check_keys(table, "recording.", kRecordingKeys);
  RecordingOptions& r = options.recording;
  reader.read(table, "recording.dir", "dir", r.dir, "allowed: a directory path",
              [](const std::string& dir) { return !dir.empty(); });
  reader.read(table, "recording.format", "format", r.format, "allowed: \"opus\" or \"wav\"",
              [](const std::string& f) { return f == "opus" || f == "wav"; });
  const toml::node* rate = table.get("sample_rate");
  reader.read(table, "recording.sample_rate", "sample_rate", r.sample_rate, 8000, 48000);
  if (r.sample_rate != 8000 && r.sample_rate != 12000 && r.sample_rate != 16000 &&
      r.sample_rate != 24000 && r.sample_rate != 48000) {
    reader.fail(rate, "recording.sample_rate", "allowed: 8000, 12000, 16000, 24000 or 48000");
  }
  reader.read(table, "recording.opus_bitrate", "opus_bitrate", r.opus_bitrate, 0, 512000);
  reader.read(table, "recording.member_tracks", "member_tracks", r.member_tracks);
  reader.read(table, "recording.tone_hz", "tone_hz", r.tone_hz, 100, 4000);
  reader.read(table, "recording.tone_ms", "tone_ms", r.tone_ms, 0, 2000);
  reader.read(table, "recording.tone_level_dbfs", "tone_level_dbfs", r.tone_level_dbfs, -60, -3);
}

// A prompt: "" (none), "tone:<name>" of the built-in figures, or a sound
// file read now, so that a missing or unreadable one fails at start-up.
bool valid_prompt(const std::string& prompt) {
  if (prompt.empty()) return true;
  try {
    (void)mixer::MohRegistry::global().clip(prompt, 8000);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

constexpr std::string_view kPromptAllowed =
    "allowed: \"\" (none), \"tone:first\", \"tone:muted\", \"tone:unmuted\" or a readable "
    "sound file (WAV)";

void read_announcements(Reader& reader, const toml::table& table, Options& options) {
  reader.check_keys(table, "announcements.", kAnnouncementKeys);
  Announcements& a = options.announcements;
  reader.read(table, "announcements.join_tone", "join_tone", a.join_tone);
  reader.read(table, "announcements.leave_tone", "leave_tone", a.leave_tone);
  reader.read(table, "announcements.first_prompt", "first_prompt", a.first_prompt, kPromptAllowed,
              valid_prompt);
  reader.read(table, "announcements.muted_prompt", "muted_prompt", a.muted_prompt, kPromptAllowed,
              valid_prompt);
  reader.read(table, "announcements.unmuted_prompt", "unmuted_prompt", a.unmuted_prompt,
              kPromptAllowed, valid_prompt);
  reader.read(table, "announcements.tone_level_dbfs", "tone_level_dbfs", a.tone_level_dbfs, -60,
              -3);
}

void read_room_announcements(Reader& reader, const toml::table& table, const std::string& prefix,
                             RoomPolicy& room) {
  const auto flag = [&](std::string_view key, std::optional<bool>& out) {
    if (table.get(key) == nullptr) return;
    bool value = false;
    reader.read(table, prefix + std::string(key), key, value);
    out = value;
  };
  const auto prompt = [&](std::string_view key, std::optional<std::string>& out) {
    if (table.get(key) == nullptr) return;
    std::string value;
    reader.read(table, prefix + std::string(key), key, value, kPromptAllowed, valid_prompt);
    out = value;
  };
  flag("join_tone", room.join_tone);
  flag("leave_tone", room.leave_tone);
  prompt("first_prompt", room.first_prompt);
  prompt("muted_prompt", room.muted_prompt);
  prompt("unmuted_prompt", room.unmuted_prompt);
}

// [[room]] and [[account]]: an array of tables.
const toml::array* table_array(Reader& reader, const toml::table& root, std::string_view name) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  const auto* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    reader.fail(node, name, "must be an array of tables ([[" + std::string(name) + "]])");
    return nullptr;
  }
  return array;
}

void read_rooms(Reader& reader, const toml::array& rooms, Options& options) {
  options.rooms.clear();
  for (size_t i = 0; i < rooms.size(); ++i) {
    const toml::table& table = *rooms.get(i)->as_table();
    const std::string prefix = "room[" + std::to_string(i + 1) + "].";
    reader.check_keys(table, prefix, kRoomKeys);
    RoomPolicy room;
    if (table.get("name") == nullptr) {
      reader.fail(&table, prefix + "name", "missing; every [[room]] needs a name");
    }
    reader.read(table, prefix + "name", "name", room.name,
                "allowed: a SIP user name (1-64 letters, digits, -_.!~*'())",
                [](const std::string& name) { return is_plain_user(name); });
    reader.read(table, prefix + "pin", "pin", room.pin, "allowed: \"\" or 1-32 digits",
                [](const std::string& pin) { return pin.empty() || is_digits(pin); });
    int64_t pin_timeout =
        std::chrono::duration_cast<std::chrono::seconds>(room.pin_timeout).count();
    reader.read(table, prefix + "pin_timeout_s", "pin_timeout_s", pin_timeout, 5, 3600);
    room.pin_timeout = std::chrono::seconds(pin_timeout);
    reader.read(table, prefix + "max_members", "max_members", room.max_members, 0, 100000);
    reader.read(table, prefix + "waiting_room", "waiting_room", room.waiting_room);
    int64_t waiting_timeout = room.waiting_timeout.count();
    reader.read(table, prefix + "waiting_timeout_s", "waiting_timeout_s", waiting_timeout, 10,
                86400);
    room.waiting_timeout = std::chrono::seconds(waiting_timeout);
    reader.read(table, prefix + "waiting_music", "waiting_music", room.waiting_music);
    reader.read(table, prefix + "auto_record", "auto_record", room.auto_record);
    if (table.get("sidebar_main_gain_db") != nullptr) {
      int gain = -12;
      reader.read(table, prefix + "sidebar_main_gain_db", "sidebar_main_gain_db", gain,
                  kMinSidebarGainDb, 0);
      room.sidebar_main_gain_db = gain;
    }
    read_room_announcements(reader, table, prefix, room);
    if (room.name.empty()) continue;
    const bool repeated =
        std::any_of(options.rooms.begin(), options.rooms.end(),
                    [&](const RoomPolicy& other) { return other.name == room.name; });
    if (repeated) {
      reader.fail(table.get("name"), prefix + "name", "already used by an earlier [[room]]");
      continue;
    }
    options.rooms.push_back(std::move(room));
  }
}

void read_accounts(Reader& reader, const toml::array& accounts, Options& options) {
  options.accounts.clear();
  for (size_t i = 0; i < accounts.size(); ++i) {
    const toml::table& table = *accounts.get(i)->as_table();
    const std::string prefix = "account[" + std::to_string(i + 1) + "].";
    reader.check_keys(table, prefix, kAccountKeys);
    Account account;
    for (std::string_view required : {"user", "password"}) {
      if (table.get(required) == nullptr) {
        reader.fail(&table, prefix + std::string(required),
                    "missing; every [[account]] needs user and password");
      }
    }
    reader.read(table, prefix + "user", "user", account.user,
                "allowed: a SIP user name (1-64 letters, digits, -_.!~*'())",
                [](const std::string& user) { return is_plain_user(user); });
    reader.read(table, prefix + "password", "password", account.password,
                "allowed: a non-empty string",
                [](const std::string& password) { return !password.empty(); });
    reader.read(table, prefix + "rights", "rights", account.rights, kRights, true);
    reader.read_list(table, prefix + "dial_out", "dial_out", account.dial_out,
                     "allowed: an array of \"USER@HOST\" or \"HOST\" patterns (* and ? as "
                     "wildcards), each at most once",
                     [](const std::string& pattern) { return valid_dial_out_pattern(pattern); });
    if (account.user.empty() || account.password.empty()) continue;
    const bool repeated =
        std::any_of(options.accounts.begin(), options.accounts.end(),
                    [&](const Account& other) { return other.user == account.user; });
    if (repeated) {
      reader.fail(table.get("user"), prefix + "user", "already used by an earlier [[account]]");
      continue;
    }
    options.accounts.push_back(std::move(account));
  }
}

void read_log(Reader& reader, const toml::table& log, Options& options) {
  reader.check_keys(log, "log.", kLogKeys);
  reader.read(log, "log.level", "level", options.log_level, "allowed: " + std::string(kLogLevels),
              [](const std::string& level) { return valid_log_level(level); });
  reader.read(log, "log.file", "file", options.log_file);
}

// An array of IP addresses or CIDR prefixes; a bad one is named with its
// line (an array's value is cut short in the message).
void read_addresses(Reader& reader, const toml::table& table, const std::string& key_path,
                    std::string_view key, std::vector<std::string>& out) {
  std::vector<std::string> values = out;
  reader.read(table, key_path, key, values, Keys(), true);
  const toml::array* array = table.get(key) != nullptr ? table.get(key)->as_array() : nullptr;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!AddressSet::valid_entry(values[i])) {
      reader.fail(array != nullptr && i < array->size() ? array->get(i) : table.get(key),
                  key_path + "[" + std::to_string(i) + "]",
                  "not an IP address or CIDR prefix; allowed: an array of IP addresses or CIDR "
                  "prefixes (\"192.0.2.10\", \"192.0.2.0/24\", \"2001:db8::/32\")");
      return;
    }
  }
  out = std::move(values);
}

void read_admin(Reader& reader, const toml::table& admin, Options& options) {
  reader.check_keys(admin, "admin.", kAdminKeys);
  reader.read(admin, "admin.address", "address", options.admin_address,
              "allowed: an IPv4/IPv6 address",
              [](const std::string& address) { return is_ip_address(address); });
  reader.read(admin, "admin.port", "port", options.admin_port, 0, 65535);
  // The token is the operator's password for every route: long enough
  // that guessing it (even past the per-source lockout) is hopeless. A
  // secret: a refusal does not echo it into the log.
  reader.read_secret(admin, "admin.token", "token", options.admin_token,
                     "allowed: \"\" or " + std::to_string(kMinAdminTokenLength) +
                         "+ printable ASCII characters without spaces (openssl rand -hex 32)",
                     [](const std::string& token) {
                       return token.empty() || (token.size() >= kMinAdminTokenLength &&
                                                std::all_of(token.begin(), token.end(), [](char c) {
                                                  return c > ' ' && c < 0x7f;
                                                }));
                     });
  reader.read_list(admin, "admin.hosts", "hosts", options.admin_hosts,
                   "allowed: an array of host names (letters, digits, - and .), no port",
                   [](const std::string& host) {
                     return !host.empty() && host.size() < 256 &&
                            std::all_of(host.begin(), host.end(), [](char c) {
                              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                     (c >= '0' && c <= '9') || c == '-' || c == '.';
                            });
                   });
  reader.read(admin, "admin.allow_plaintext_remote", "allow_plaintext_remote",
              options.admin_allow_plaintext_remote);
  read_addresses(reader, admin, "admin.trusted_proxies", "trusted_proxies",
                 options.admin_trusted_proxies);
  if (admin.contains("metrics_token")) {
    bool metrics_token = true;
    reader.read(admin, "admin.metrics_token", "metrics_token", metrics_token);
    options.admin_metrics_token = metrics_token;
  }
}

void read_cluster(Reader& reader, const toml::table& cluster, Options& options) {
  reader.check_keys(cluster, "cluster.", kClusterKeys);
  reader.read(cluster, "cluster.front", "front", options.cluster_front,
              "allowed: \"\" or a sip: URI without user part (\"sip:proxy.example:5060\")",
              [](const std::string& uri) { return uri.empty() || valid_cluster_front(uri); });
  reader.read(cluster, "cluster.transfer_timeout_ms", "transfer_timeout_ms",
              options.cluster_transfer_timeout, 1000, 300000);
  reader.read_secret(cluster, "cluster.secret", "secret", options.cluster_secret,
                     "allowed: \"\" or " + std::to_string(MoveGrants::kMinSecretBytes) + ".." +
                         std::to_string(MoveGrants::kMaxSecretBytes) +
                         " bytes, the same on every node of the cluster",
                     [](const std::string& secret) {
                       return secret.empty() || (secret.size() >= MoveGrants::kMinSecretBytes &&
                                                 secret.size() <= MoveGrants::kMaxSecretBytes);
                     });
}

void read_web(Reader& reader, const toml::table& web, Options& options) {
  reader.check_keys(web, "web.", kWebKeys);
  reader.read(web, "web.address", "address", options.web_address, "allowed: an IPv4/IPv6 address",
              [](const std::string& address) { return is_ip_address(address); });
  reader.read(web, "web.port", "port", options.web_port, 0, 65535);
  const auto file_or_empty = [](const std::string& path) { return path.empty() || readable(path); };
  reader.read(web, "web.certificate", "certificate", options.web_certificate,
              "allowed: \"\" (plain HTTP, loopback only) or a readable PEM file", file_or_empty);
  reader.read(web, "web.private_key", "private_key", options.web_private_key,
              "allowed: \"\" or a readable PEM file", file_or_empty);
  reader.read(web, "web.assets_dir", "assets_dir", options.web_assets_dir);
  reader.read(web, "web.wss_url", "wss_url", options.web_wss_url,
              "allowed: \"\" or \"wss://host[:port][/path]\"", [](const std::string& url) {
                return url.empty() || ((url.starts_with("wss://") || url.starts_with("ws://")) &&
                                       url.size() < 256 &&
                                       url.find_first_of("\"'<> \t\r\n\\") == std::string::npos);
              });
  reader.read(web, "web.sip_domain", "sip_domain", options.web_sip_domain,
              "allowed: \"\" or a host name", [](const std::string& domain) {
                return domain.size() < 256 && std::all_of(domain.begin(), domain.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':' ||
                                c == '[' || c == ']';
                       });
              });
}

void read_process(Reader& reader, const toml::table& process, Options& options) {
  reader.check_keys(process, "process.", kProcessKeys);
  reader.read(process, "process.allow_root", "allow_root", options.allow_root);
  reader.read(process, "process.user", "user", options.run_as_user,
              "allowed: \"\" or a user name (letters, digits, -_.)", [](const std::string& user) {
                return user.size() <= 32 && std::all_of(user.begin(), user.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                       });
              });
}

void read_limits(Reader& reader, const toml::table& table, Options& options) {
  reader.check_keys(table, "limits.", kLimitsKeys);
  AbuseLimits& l = options.limits;
  read_addresses(reader, table, "limits.trusted_proxies", "trusted_proxies", l.trusted_proxies);
  read_addresses(reader, table, "limits.exempt", "exempt", l.exempt);
  constexpr int64_t kCount = 100000000;
  reader.read(table, "limits.rate", "rate", l.rate, 0, 1000000);
  reader.read(table, "limits.burst", "burst", l.burst, 1, 1000000);
  reader.read(table, "limits.reject_over_rate", "reject_over_rate", l.reject_over_rate);
  reader.read(table, "limits.table_size", "table_size", l.table_size, 64, 16777216);
  reader.read(table, "limits.auth_failures", "auth_failures", l.auth_failures, 0, 1000000);
  reader.read(table, "limits.auth_lockout_ms", "auth_lockout_ms", l.auth_lockout, 0, 86400000);
  reader.read(table, "limits.account_slow_after", "account_slow_after", l.account_slow_after, 0,
              1000000);
  reader.read(table, "limits.auth_window_ms", "auth_window_ms", l.auth_window, 1, 86400000);
  reader.read(table, "limits.account_delay_ms", "account_delay_ms", l.account_delay, 0, 60000);
  reader.read(table, "limits.calls_per_source", "calls_per_source", l.calls_per_source, 0, kCount);
  reader.read(table, "limits.subscriptions_per_source", "subscriptions_per_source",
              l.subscriptions_per_source, 0, kCount);
  reader.read(table, "limits.max_subscriptions", "max_subscriptions", l.max_subscriptions, 0,
              kCount);
  reader.read(table, "limits.transactions_per_source", "transactions_per_source",
              l.transactions_per_source, 0, kCount);
  reader.read(table, "limits.max_transactions", "max_transactions", l.max_transactions, 0, kCount);
  reader.read(table, "limits.max_lingering_transactions", "max_lingering_transactions",
              l.max_lingering_transactions, 0, kCount);
  reader.read(table, "limits.reflection_rate", "reflection_rate", l.reflection_rate, 0, 1000000);
  reader.read(table, "limits.reflection_burst", "reflection_burst", l.reflection_burst, 1,
              1000000);
  reader.read(table, "limits.overload_cpu_percent", "overload_cpu_percent",
              l.overload_cpu_percent, 0, 100);
  reader.read(table, "limits.overload_calls", "overload_calls", l.overload_calls, 0, kCount);
  reader.read(table, "limits.overload_transactions", "overload_transactions",
              l.overload_transactions, 0, kCount);
  reader.read(table, "limits.log_interval_ms", "log_interval_ms", l.log_interval, 0, 86400000);
}

// Rules that involve more than one key.
void check_combinations(Reader& reader, const toml::table& root, const Options& options) {
  const toml::node* media = root.get("media");
  const toml::table* media_table = media != nullptr ? media->as_table() : nullptr;
  const toml::node* jitter_node =
      media_table != nullptr ? media_table->get("jitter_min_ms") : nullptr;
  if (!(options.jitter_min_ms <= options.jitter_initial_ms &&
        options.jitter_initial_ms <= options.jitter_max_ms)) {
    reader.fail(jitter_node, "media.jitter_*_ms",
                "need jitter_min_ms <= jitter_initial_ms <= jitter_max_ms (now " +
                    std::to_string(options.jitter_min_ms) + ", " +
                    std::to_string(options.jitter_initial_ms) + ", " +
                    std::to_string(options.jitter_max_ms) + ")");
  }
  if (options.only_listed_rooms && options.rooms.empty()) {
    reader.fail(nullptr, "conference.only_listed_rooms",
                "true needs at least one [[room]] (no room could ever be joined)");
  }
}

}  // namespace

std::variant<Options, ConfigError> apply_config(std::string_view toml, std::string_view source,
                                                Options base) {
  toml::table root;
  try {
    root = toml::parse(toml, source);
  } catch (const toml::parse_error& error) {
    const toml::source_region& where = error.source();
    return ConfigError{std::string(source) + ":" + std::to_string(where.begin.line) + ":" +
                       std::to_string(where.begin.column) +
                       ": not valid TOML: " + std::string(error.description())};
  }
  Reader reader(source);
  reader.check_keys(root, "", kSections);
  Options options = std::move(base);
  if (const toml::table* sip = reader.section(root, "sip")) read_sip(reader, *sip, options);
  if (const toml::table* transport = reader.section(root, "transport")) {
    read_transport(reader, *transport, options);
  }
  if (const toml::table* media = reader.section(root, "media")) read_media(reader, *media, options);
  if (const toml::table* conference = reader.section(root, "conference")) {
    read_conference(reader, *conference, options);
  }
  if (const toml::array* rooms = table_array(reader, root, "room")) {
    read_rooms(reader, *rooms, options);
  }
  if (const toml::array* accounts = table_array(reader, root, "account")) {
    read_accounts(reader, *accounts, options);
  }
  if (const toml::table* recording = reader.section(root, "recording")) {
    read_recording(reader, *recording, options);
  }
  if (const toml::table* announcements = reader.section(root, "announcements")) {
    read_announcements(reader, *announcements, options);
  }
  if (const toml::table* log = reader.section(root, "log")) read_log(reader, *log, options);
  if (const toml::table* admin = reader.section(root, "admin")) read_admin(reader, *admin, options);
  if (const toml::table* web = reader.section(root, "web")) read_web(reader, *web, options);
  if (const toml::table* cluster = reader.section(root, "cluster")) {
    read_cluster(reader, *cluster, options);
  }
  if (const toml::table* process = reader.section(root, "process")) {
    read_process(reader, *process, options);
  }
  if (const toml::table* limits = reader.section(root, "limits")) {
    read_limits(reader, *limits, options);
  }
  if (reader.errors().empty()) check_combinations(reader, root, options);
  if (!reader.errors().empty()) {
    std::string message;
    for (const std::string& line : reader.errors()) {
      if (!message.empty()) message += "\n";
      message += line;
    }
    return ConfigError{std::move(message)};
  }
  return options;
}

std::variant<Options, ConfigError> load_config_file(const std::string& path, Options base) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return ConfigError{path + ": cannot read the configuration file"};
  // A configuration file is small; anything huge is a mistake (a WAV passed
  // by accident), not something to parse.
  constexpr std::streamsize kMaxBytes = 1 << 20;
  std::string text(static_cast<size_t>(kMaxBytes) + 1, '\0');
  file.read(text.data(), kMaxBytes + 1);
  if (file.gcount() > kMaxBytes) return ConfigError{path + ": larger than 1 MiB"};
  text.resize(static_cast<size_t>(file.gcount()));
  return apply_config(text, path, std::move(base));
}

std::variant<Options, ConfigError> configure(std::span<const char* const> args) {
  auto result = apply_config(embedded_config(), "<embedded>", Options{});
  if (std::holds_alternative<ConfigError>(result)) return result;
  // The file comes first so that every other flag overrides it, wherever it
  // appears on the command line (`--config FILE` or `--check-config FILE`).
  // A malformed --config is reported below.
  for (const std::string& path : config_file_arguments(args)) {
    result = load_config_file(path, std::move(std::get<Options>(result)));
    if (std::holds_alternative<ConfigError>(result)) return result;
  }
  auto flags = parse_options(args, std::move(std::get<Options>(result)));
  if (auto* error = std::get_if<OptionsError>(&flags)) {
    return ConfigError{std::move(error->message), true};
  }
  return std::move(std::get<Options>(flags));
}

}  // namespace chorus::focus
