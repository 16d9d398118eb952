#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "signaling/sdp/offer_answer.hpp"

namespace chorus::focus {

// A digest account (RFC 7616) and the rights it holds: the sip::kRight*
// names (monitor, whisper, barge, replace, dial-out, remove, admin,
// dialog-subscribe; admin implies every other).
struct Account {
  std::string user;
  std::string password;
  std::vector<std::string> rights;
  bool operator==(const Account&) const = default;
};

// Per-room policy. A PIN is given as `;pin=1234` in the Request-URI or
// collected by DTMF after answer; max_members 0 means Options::max_members.
struct RoomPolicy {
  std::string name;
  std::string pin;
  size_t max_members = 0;
  bool operator==(const RoomPolicy&) const = default;
};

// What `chorus` runs with. The defaults are the embedded configuration
// (deploy/chorus.toml.example, compiled in; tests/focus/config_test.cpp keeps
// the two equal): SIP on 127.0.0.1:5060 over UDP and TCP, RTP ports reserved
// from 40000-40999. focus/ops/config.hpp reads the TOML file into this.
struct Options {
  std::string sip_host = "127.0.0.1";
  uint16_t sip_port = 5060;
  bool udp = true;
  bool tcp = true;
  // TLS on tls_port when both files are given (RFC 3261 §26.2.1).
  std::string tls_certificate;
  std::string tls_private_key;
  uint16_t tls_port = 5061;
  // [transport]: stream connection bounds and outgoing TLS verification
  // (sip::TransportConfig says what each does).
  bool tls_verify_peer = true;
  std::string tls_ca_file;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds idle_timeout{300000};
  std::chrono::milliseconds message_timeout{30000};
  size_t max_connections = 4096;
  size_t max_connections_per_source = 64;
  // Address written into SDP c= lines; empty: the SIP host.
  std::string media_address;
  uint16_t rtp_first = 40000;
  uint16_t rtp_last = 40999;
  // Test hook for CANCEL scenarios, off unless configured: INVITEs to rooms
  // whose name starts with this prefix ring (180) for ring_delay before being
  // answered. Empty (the default): no room rings, every INVITE is answered
  // at once. Tests that need ringing rooms set it (e.g. "slow-").
  std::string slow_room_prefix;
  std::chrono::milliseconds ring_delay{2000};
  // No RTP/RTCP from a member for this long ends its call with BYE.
  std::chrono::milliseconds rtp_timeout{30000};
  // Media shard threads of the mixer engine; 0 (the default) means one shard
  // per core (std::thread::hardware_concurrency(), at least 1), resolved by
  // the engine. At most kMaxMediaShards.
  size_t media_shards = 0;
  // Mixed talkers per room (top-K) and Opus send settings.
  size_t top_k = 3;
  // Codec preference, our names: opus, G722, PCMU, PCMA (RFC 3264 answer order).
  std::vector<std::string> codecs = {"opus", "G722", "PCMU", "PCMA"};
  sdp::SrtpPolicy srtp = sdp::SrtpPolicy::kOff;
  // Rooms: when only_listed_rooms, INVITEs to other rooms get 404.
  std::vector<RoomPolicy> rooms;
  bool only_listed_rooms = false;
  size_t max_members = 100;
  // Digest realm and accounts for privileged operations (Join as
  // monitor/whisper/barge, Replaces of another's dialog, REFER, dialog package).
  std::string realm = "chorus";
  // Challenge algorithms in order of preference (RFC 8760 §2.4: one
  // WWW-Authenticate each, most preferred first): "SHA-256", "MD5". Some
  // clients (sipp) answer only the first and know only MD5.
  std::vector<std::string> digest_algorithms = {"SHA-256", "MD5"};
  std::vector<Account> accounts;
  // RFC 5359 §2.3 / §2.15 service users at this host.
  std::string moh_user = "moh";
  std::string park_user = "park";
  // Music on hold: a WAV file; empty: the generated tune we ship.
  std::string moh_file;
  // Jitter-buffer bounds for every member's stream (rtp::JitterConfig).
  uint32_t jitter_min_ms = 20;
  uint32_t jitter_max_ms = 300;
  uint32_t jitter_initial_ms = 20;
  // Logging (focus/ops/log.hpp): spdlog level name; empty file: stderr.
  std::string log_level = "info";
  std::string log_file;
  // Admin HTTP+JSON API and console. Port 0: not started. Requests must
  // carry the token (Authorization: Bearer) unless it is empty.
  std::string admin_address = "127.0.0.1";
  uint16_t admin_port = 0;
  std::string admin_token;
  // Process policy: with allow_root false, refuse to start as root (unless
  // run_as_user is set); when started as root, switch to `run_as_user` once
  // the sockets are bound. Allowed by default: containers and CI run as root.
  bool allow_root = true;
  std::string run_as_user;

  // Command-line only: where the configuration came from, and
  // --check-config (validate, print the outcome, exit 0/1).
  // `--check-config FILE` is the same as `--config FILE --check-config`.
  std::string config_path;
  bool check_config = false;
  bool help = false;

  bool operator==(const Options&) const = default;
};

// media.shards / --media-shards: 0 (one per core) .. this.
inline constexpr size_t kMaxMediaShards = 64;

struct OptionsError {
  std::string message;
};

// Parses argv (without the program name) on top of `base` (the configuration
// file's settings): flags override the file. Never throws.
std::variant<Options, OptionsError> parse_options(std::span<const char* const> args,
                                                  Options base = {});
std::string usage();

// The configuration files named on the command line, in order: each
// `--config FILE`, and the FILE of `--check-config FILE` (the argument after
// --check-config when it does not start with '-'). configure() applies them in
// this order; Options::config_path is the last.
std::vector<std::string> config_file_arguments(std::span<const char* const> args);

// sip.slow_room_prefix / --slow-room-prefix: "" (off) or up to 64 SIP
// user-part characters (RFC 3261 §25.1 unreserved).
bool valid_slow_room_prefix(std::string_view prefix);

// "HOST:PORT", "[V6]:PORT" or "HOST" (port unchanged). False on bad input.
bool parse_host_port(std::string_view text, std::string& host, uint16_t& port);
// "FIRST-LAST" with 1024 <= FIRST < LAST <= 65535. False on bad input.
bool parse_port_range(std::string_view text, uint16_t& first, uint16_t& last);

}  // namespace chorus::focus
