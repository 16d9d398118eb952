#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

namespace chorus::focus {

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
  bool help = false;
};

struct OptionsError {
  std::string message;
};

// Parses argv (without the program name). Never throws.
std::variant<Options, OptionsError> parse_options(std::span<const char* const> args);
std::string usage();

}  // namespace chorus::focus
