#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "signaling/sdp/offer_answer.hpp"

namespace chorus::focus {

// A digest account (RFC 7616) and the rights it holds: the sip::kRight*
// names (monitor, whisper, barge, replace, dial-out, remove, moderate, park,
// admin, dialog-subscribe; admin implies every other). focus/privileges.hpp
// says which operation needs which right.
struct Account {
  std::string user;
  std::string password;
  std::vector<std::string> rights;
  // Where the focus may send an INVITE on this account's behalf (REFER
  // dial-out, music on hold and park targets, admin dial): patterns as in
  // focus/privileges.hpp ("*@pbx.example.com", "+4420*@gw.example.com").
  // Empty: anywhere. A target outside gets 403.
  std::vector<std::string> dial_out = {};
  bool operator==(const Account&) const = default;
};

// Per-room policy. A PIN is given as `;pin=1234` in the Request-URI or
// collected by DTMF after answer; max_members 0 means Options::max_members.
struct RoomPolicy {
  std::string name;
  std::string pin;
  size_t max_members = 0;
  // Waiting room (README "Waiting room"): dial-ins wait unanswered, in an
  // early dialog, until a moderator admits or refuses them or
  // waiting_timeout passes (480). With waiting_music they get 183 with our
  // SDP and hear music on hold as early media; otherwise 180 and no RTP.
  bool waiting_room = false;
  std::chrono::seconds waiting_timeout{300};
  bool waiting_music = true;
  // A caller without `;pin=` is answered and keys the PIN in by DTMF; until
  // then it takes a member place but nobody hears it. pin_timeout after
  // the answer the focus hangs up (BYE), so callers that never key a PIN
  // cannot hold the room full.
  std::chrono::milliseconds pin_timeout{60000};
  // Start a recording when the room opens (its first member's media is up);
  // README "Recording".
  bool auto_record = false;
  // What its sidebars' members hear of the main room (README "Sidebars");
  // unset: Options::sidebar_main_gain_db.
  std::optional<int> sidebar_main_gain_db = std::nullopt;
  // Announcements ([announcements]) this room overrides; unset: the global one.
  std::optional<bool> join_tone = std::nullopt;
  std::optional<bool> leave_tone = std::nullopt;
  std::optional<std::string> first_prompt = std::nullopt;
  std::optional<std::string> muted_prompt = std::nullopt;
  std::optional<std::string> unmuted_prompt = std::nullopt;
  bool operator==(const RoomPolicy&) const = default;
};

// [announcements] (README "Announcements"): tones the room hears when a
// member joins or leaves, and prompts only the member concerned hears. A
// prompt is "" (none), a built-in tone figure ("tone:first", "tone:muted",
// "tone:unmuted": notes of our own making, no speech), or a sound file
// (WAV or any format libsndfile reads) the operator provides.
struct Announcements {
  bool join_tone = false;    // two short 880 Hz beeps when a member's media is up
  bool leave_tone = false;   // one 440 Hz beep when a member leaves
  std::string first_prompt;  // to a member who joins an empty room
  std::string muted_prompt;  // to a member who is muted (by anyone, or joins muted)
  std::string unmuted_prompt;
  int tone_level_dbfs = -24;  // the join and leave tones
  bool operator==(const Announcements&) const = default;
};

// [recording] (README "Recording"): where and how rooms are recorded. Files
// are `<dir>/<room>-<UTC time>-<n>-mix<ext>` and, with member_tracks,
// `...-member-<member id><ext>`, all starting at the recording's t0 (a
// member who left ends 10 s after it left).
struct RecordingOptions {
  std::string dir = "/var/lib/chorus/recordings";
  std::string format = "opus";   // "opus" (Ogg Opus, libopusenc) or "wav" (16-bit PCM)
  uint32_t sample_rate = 48000;  // of the files: 8000, 12000, 16000, 24000 or 48000
  uint32_t opus_bitrate = 0;     // bit/s; 0: libopusenc's choice
  bool member_tracks = false;    // one file per member besides the mix
  // The tone the room hears when a recording starts (one beep) and stops
  // (two beeps); tone_ms 0: none.
  uint32_t tone_hz = 1400;
  uint32_t tone_ms = 150;
  int tone_level_dbfs = -21;
  bool operator==(const RecordingOptions&) const = default;
};

// Abuse limits (README "Security / Limits"; focus/ops/limits.hpp applies
// them). A "source" is the first untrusted hop: the transport peer, or, when
// that peer is a trusted proxy, the first Via below the trusted proxies
// (its `received`, else its sent-by host); an authenticated account is its own
// source for the per-source call cap. Addresses are IPs or CIDR prefixes.
struct AbuseLimits {
  std::vector<std::string> trusted_proxies;
  // Never limited per source (the host's own tools); totals still apply.
  std::vector<std::string> exempt = {"127.0.0.1", "::1"};
  // Token bucket per source over new requests (Kamailio pike style); 0: off.
  uint32_t rate = 50;  // requests per second
  uint32_t burst = 100;
  // Over the rate: drop silently (false) or answer 503 + Retry-After (true).
  bool reject_over_rate = false;
  // Slots of each per-source table (rate buckets, failed logins, log lines).
  size_t table_size = 8192;
  // Failed digest attempts: a (source, account) pair is locked out after
  // auth_failures for auth_lockout; an account with account_slow_after
  // failures from any source within auth_window is answered only after
  // account_delay (never locked). Locked and slowed requests are answered as a
  // wrong password.
  uint32_t auth_failures = 10;
  std::chrono::milliseconds auth_lockout{600000};
  uint32_t account_slow_after = 30;
  std::chrono::milliseconds auth_window{600000};
  std::chrono::milliseconds account_delay{1000};
  // Caps: calls per source, subscriptions per source and in total, pending
  // SIP server transactions (requests not yet past their final response,
  // TransactionLayer::pending_server; our own NOTIFYs and dial-outs do not
  // count) per source and in total. An IPv6 source counts as its /64.
  size_t calls_per_source = 100;
  size_t subscriptions_per_source = 50;
  size_t max_subscriptions = 5000;
  size_t transactions_per_source = 1000;
  size_t max_transactions = 20000;
  // Finished server transactions (a final response other than an INVITE's
  // 2xx) absorbing retransmissions for 32 s over UDP: past this many the
  // oldest ends early (TransactionLayer::set_max_lingering).
  size_t max_lingering_transactions = 20000;
  // NOTIFYs (new subscriptions) and dial-out INVITEs toward an address other
  // than the requester's: per destination address, per second.
  uint32_t reflection_rate = 5;
  uint32_t reflection_burst = 10;
  // Global overload: past any of these, new INVITEs get 503 + Retry-After
  // (calls in progress keep their audio). 0: that budget is off.
  uint32_t overload_cpu_percent = 90;  // of all cores, over the last second
  size_t overload_calls = 5000;
  size_t overload_transactions = 10000;
  // One log line per source and kind per interval (fail2ban reads them).
  std::chrono::milliseconds log_interval{60000};
  bool operator==(const AbuseLimits&) const = default;
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
  // SIP over WebSocket (RFC 7118) on the SIP host: WS on ws_port, WSS on
  // wss_port (0: off). WSS uses wss_certificate/wss_private_key, or the TLS
  // files when those are empty. Browser pages must come from an origin in
  // ws_allowed_origins ("*": any); clients sending no Origin are admitted.
  uint16_t ws_port = 0;
  uint16_t wss_port = 0;
  std::string wss_certificate;
  std::string wss_private_key;
  std::vector<std::string> ws_allowed_origins;
  // [transport]: stream connection bounds and outgoing TLS verification
  // (sip::TransportConfig says what each does).
  bool tls_verify_peer = true;
  std::string tls_ca_file;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds idle_timeout{300000};
  std::chrono::milliseconds message_timeout{30000};
  size_t max_connections = 4096;
  size_t max_outgoing_connections = 4096;
  size_t max_connections_per_source = 64;
  // Bytes queued toward one connection whose peer stopped reading before it
  // is closed ([transport] max_queued_bytes).
  size_t max_queued_bytes = 1 << 20;
  // Address written into SDP c= lines; empty: the SIP host.
  std::string media_address;
  uint16_t rtp_first = 40000;
  uint16_t rtp_last = 40999;
  // Browser members (issue #18). The DTLS certificate and key (PEM, both or
  // neither); none: a self-signed ECDSA P-256 one is generated at start (its
  // fingerprint changes with every start; browsers take it from the SDP).
  std::string dtls_certificate;
  std::string dtls_private_key;
  // An address browsers reach us at through a 1:1 NAT, answered as a second
  // ICE host candidate after media_address; empty: none.
  std::string media_public_address;
  // Test hook for CANCEL scenarios, off unless configured: INVITEs to rooms
  // whose name starts with this prefix ring (180) for ring_delay before being
  // answered. Empty (the default): no room rings, every INVITE is answered
  // at once. Tests that need ringing rooms set it (e.g. "slow-").
  std::string slow_room_prefix;
  std::chrono::milliseconds ring_delay{2000};
  // How long a dial-out (REFER, admin API, pick-up) may ring unanswered
  // before the focus CANCELs it; the callee then has 64*T1 to answer the
  // CANCEL before the attempt is given up (RFC 3261 §9.1). 0: no limit.
  std::chrono::milliseconds dial_timeout{60000};
  // Lifetime of a REFER's implicit subscription (RFC 3515 §2.4.4), long
  // enough for a dial-out to ring and be answered. A referral still open
  // then (its outcome never came) ends with a final NOTIFY
  // "terminated;reason=timeout" (RFC 6665 §4.2.2), and an out-of-dialog
  // REFER's dialog goes with it.
  uint32_t refer_subscription_expires = 300;
  // How often a waiting caller's provisional response is repeated (RFC 3261
  // §13.3.1.1: at least once a minute, so proxies do not give up on it).
  std::chrono::milliseconds waiting_provisional_interval{60000};
  // RFC 4028 session timers on every call (signaling/dialog/session_timer):
  // the interval we grant or ask for, and the smallest we accept (never
  // below 90 s, §4). When the caller does not refresh, the focus does, with
  // an offer-less UPDATE (§7.4), or a re-INVITE when the caller refuses
  // UPDATE or session_refresh_with_update is false.
  uint32_t session_expires = 1800;
  uint32_t min_se = 90;
  bool session_refresh_with_update = true;
  // No RTP/RTCP from a member for this long ends its call with BYE.
  std::chrono::milliseconds rtp_timeout{30000};
  // Media shard threads of the mixer engine; 0 (the default) means one shard
  // per CPU the process may run on (mixer::allowed_cpus(), at least 1), resolved by
  // the engine. At most kMaxMediaShards.
  size_t media_shards = 0;
  // Shard threads on SCHED_FIFO at this priority (1..99; 0, the default:
  // the normal scheduler), and each pinned to one CPU (shard i on CPU i mod
  // the CPU count). Without the capability the shards run on unchanged and
  // the focus logs a warning at start-up.
  int media_realtime_priority = 0;
  bool media_pin_shards = false;
  // Socket I/O of the media shards (issue #16): "auto" (the default: io_uring
  // when the start-up probe passes), "uring" (io_uring, every socket of a
  // shard in a few submissions per tick) or "mmsg" (recvmmsg/sendmmsg per
  // socket and tick). Where io_uring is refused the shards use mmsg and the
  // focus logs a warning.
  std::string media_io = "auto";
  // "per-member" (a port per member, the default) or "shared" (one port per
  // shard, members told apart by source address: behind an SBC or rtpengine).
  std::string media_port_mode = "per-member";
  // Members (RTP streams) one media shard holds at most; its buffers, route
  // tables and io_uring slots are sized for it at start-up.
  size_t media_max_streams_per_shard = 1024;
  // Test hooks, off (0) unless configured: every shard's command ring takes
  // at most this many commands, and the engine's per-shard retry queue at
  // most this many, so that a test from outside the process can make the
  // engine push back (new calls answered 503). 0: the engine's normal sizes
  // (mixer::MediaShard::kCommandRingSize, mixer::EngineConfig's limit).
  size_t test_command_ring_slots = 0;
  size_t test_retry_queue_limit = 0;
  // Mixed talkers per room (top-K) and Opus send settings.
  size_t top_k = 3;
  // Codec preference, our names: opus, G722, PCMU, PCMA (RFC 3264 answer order).
  std::vector<std::string> codecs = {"opus", "G722", "PCMU", "PCMA"};
  sdp::SrtpPolicy srtp = sdp::SrtpPolicy::kOff;
  // Rooms: when only_listed_rooms, INVITEs to other rooms get 404.
  std::vector<RoomPolicy> rooms;
  bool only_listed_rooms = false;
  size_t max_members = 100;
  // [conference] sidebar_main_gain_db: the level at which a sidebar's
  // members hear the main room unless the request or the room says
  // otherwise (README "Sidebars"), -60..0 dB.
  int sidebar_main_gain_db = -12;
  // [conference] sidebar_opus_bandwidth / sidebar_opus_complexity: the most
  // an Opus member's sidebar mixes are encoded at (README "Sidebars"). Every
  // voiced sidebar costs one encode a tick that nobody else shares; the
  // defaults (wideband, which is SILK alone, at complexity 0) keep a room
  // with ten talking sidebars within twice its cost without them.
  // "fullband" and 5: as the main room.
  std::string sidebar_opus_bandwidth = "wideband";
  int sidebar_opus_complexity = 0;
  RecordingOptions recording;
  Announcements announcements;
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
  // Where urn:sip-action:call:sendvm sends a call ("" : that action is 501).
  std::string voicemail_uri;
  // Source addresses ("ADDRESS" or "ADDRESS/BITS") whose REFERs with
  // Replaces to the music-on-hold or park service need no account (a PBX
  // of one's own). Empty (the default): those REFERs need the park right.
  std::vector<std::string> service_trusted_sources;
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
  // /metrics needs the token too; unset: it does unless admin_address is a
  // loopback address.
  std::optional<bool> admin_metrics_token;
  // Host names (besides IP literals and localhost) a request's Host header
  // may carry; any other is refused (AdminConfig::hosts).
  std::vector<std::string> admin_hosts;
  // Reverse proxies in front of the admin listener (IPs or CIDR prefixes):
  // for their requests the client is the X-Forwarded-For entry right of
  // theirs (AdminConfig::trusted_proxies). Empty: X-Forwarded-For ignored.
  std::vector<std::string> admin_trusted_proxies;
  // The admin listener speaks plain HTTP only: off loopback it is refused
  // unless this says a TLS-terminating proxy in front carries it.
  bool admin_allow_plaintext_remote = false;
  // The web phone page (focus/ops/web_server.hpp). Port 0: not started. No
  // certificate: plain HTTP, only on a loopback address. assets_dir empty:
  // the build tree's (web_default_assets_dir()). wss_url / sip_domain empty:
  // the page uses its own host name with sip.wss_port.
  std::string web_address = "127.0.0.1";
  uint16_t web_port = 0;
  std::string web_certificate;
  std::string web_private_key;
  std::string web_assets_dir;
  std::string web_wss_url;
  std::string web_sip_domain;
  // Process policy: with allow_root false, refuse to start as root (unless
  // run_as_user is set); when started as root, switch to `run_as_user` once
  // the sockets are bound. Allowed by default: containers and CI run as root.
  bool allow_root = true;
  std::string run_as_user;
  AbuseLimits limits;
  // [cluster] (README "Moving members"): the proxy in front of several
  // Chorus nodes (deploy/kamailio), as a sip: URI. Empty: a single node. With
  // a front, a move to a room this node does not hold REFERs the member to
  // sip:ROOM@<front> (RFC 3515) instead of opening the room here; a member
  // that has not reported the transfer's outcome after transfer_timeout
  // stays where it is (until a late success, services/move_remote.cpp).
  std::string cluster_front;
  std::chrono::milliseconds cluster_transfer_timeout{32000};
  // Shared by every node of the cluster: a moderator's move to another node
  // carries a grant signed with it (HMAC-SHA256, focus/services/move_grant),
  // which room B's node honours in place of B's PIN, member limit and
  // waiting room. "" (default): no grants are made or honoured. At least
  // 16 bytes; config file only (a flag would show in `ps`); never logged.
  std::string cluster_secret;

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

// cluster.front / --cluster-front: a sip: URI with a host and no user part,
// password or headers ("sip:proxy.example:5060", ";transport=tcp" allowed).
bool valid_cluster_front(std::string_view uri);

// "HOST:PORT", "[V6]:PORT" or "HOST" (port unchanged). False on bad input.
bool parse_host_port(std::string_view text, std::string& host, uint16_t& port);
// "FIRST-LAST" with 1024 <= FIRST < LAST <= 65535. False on bad input.
bool parse_port_range(std::string_view text, uint16_t& first, uint16_t& last);

}  // namespace chorus::focus
