#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "signaling/offer_answer.hpp"

namespace chorus::focus {

// A digest account (RFC 7616) and the rights it holds: the sip::kRight*
// names (monitor, whisper, barge, replace, dial-out, remove, admin,
// dialog-subscribe; admin implies every other).
struct Account {
  std::string user;
  std::string password;
  std::vector<std::string> rights;
};

// Per-room policy. A PIN is given as `;pin=1234` in the Request-URI or
// collected by DTMF after answer; max_members 0 means Options::max_members.
struct RoomPolicy {
  std::string name;
  std::string pin;
  size_t max_members = 0;
};

// What `chorus` runs with. The defaults are the embedded configuration: SIP on
// 127.0.0.1:5060 over UDP and TCP, RTP ports reserved from 40000-40999.
struct Options {
  std::string sip_host = "127.0.0.1";
  uint16_t sip_port = 5060;
  bool udp = true;
  bool tcp = true;
  // TLS on tls_port when both files are given (RFC 3261 §26.2.1).
  std::string tls_certificate;
  std::string tls_private_key;
  uint16_t tls_port = 5061;
  // Address written into SDP c= lines; empty: the SIP host.
  std::string media_address;
  uint16_t rtp_first = 40000;
  uint16_t rtp_last = 40999;
  // Test hook for CANCEL scenarios: INVITEs to rooms whose name starts with
  // this prefix ring (180) for ring_delay before being answered.
  std::string slow_room_prefix = "slow-";
  std::chrono::milliseconds ring_delay{2000};
  // No RTP/RTCP from a member for this long ends its call with BYE.
  std::chrono::milliseconds rtp_timeout{30000};
  // Media shard threads of the mixer engine.
  size_t media_shards = 1;
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
  std::vector<Account> accounts;
  // RFC 5359 §2.3 / §2.15 service users at this host.
  std::string moh_user = "moh";
  std::string park_user = "park";
  // Music on hold: a WAV file; empty: the generated tune we ship.
  std::string moh_file;
  bool help = false;
};

struct OptionsError {
  std::string message;
};

// Parses argv (without the program name). Never throws.
std::variant<Options, OptionsError> parse_options(std::span<const char* const> args);
std::string usage();

}  // namespace chorus::focus
