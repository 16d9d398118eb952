#pragma once
// chorus-load's command line: what load to offer and what to check.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "mixer/codec.hpp"
#include "rtp/srtp.hpp"

namespace chorus::load {

// How participants reach the media server.
enum class Signalling {
  kSip,     // INVITE sip:<room>@target with an SDP offer; the answer names the port
  kStatic,  // --peers FILE: pre-arranged ports (Janus AudioBridge, the reflector)
};

// What a verified participant should hear.
enum class Expect {
  kMix,   // every other talker of its room, never itself (a conference mixer)
  kEcho,  // itself only (a reflector)
};

// What non-talkers send.
enum class Quiet { kSilence, kDtx };

struct Options {
  Signalling signalling = Signalling::kSip;
  std::string target_host = "127.0.0.1";
  uint16_t target_port = 5060;
  std::string peers_file;  // kStatic: lines "room participant local_port remote_host:port"
  std::string room_prefix = "load";
  int rooms = 1;
  int participants = 3;  // per room
  mixer::CodecId codec = mixer::CodecId::kPcmu;
  int opus_complexity = 5;
  bool srtp = false;
  // --srtp-suite: AES_CM_128_HMAC_SHA1_80 (default) or AEAD_AES_128_GCM (RFC 7714).
  rtp::SrtpSuite srtp_suite = rtp::SrtpSuite::kAesCm128HmacSha1_80;
  bool levels = false;  // RFC 6464 audio-level header extension on what we send
  // --webrtc: browser-like members (UDP/TLS/RTP/SAVPF, ICE, DTLS-SRTP).
  bool webrtc = false;
  int handshake_window = 16;  // ICE + DTLS handshakes in progress at once
  double duration_s = 10.0;
  int talkers = -1;  // per room; -1 = everyone
  Quiet quiet = Quiet::kSilence;
  int verify = 3;  // the first N participants (round-robin over rooms) decode and check
  Expect expect = Expect::kMix;
  double report_interval_s = 0.0;  // 0 = no per-interval lines
  // --watch-hz: more tones every verified participant measures and reports
  // (a member of another kind in the room, e.g. a browser); not verified.
  std::vector<double> watch_hz;
  bool json = false;               // final summary as one JSON object on stdout
  bool progress = true;            // a progress line on stderr
  double loss_pct = 0.0;           // scripted send-side loss
  int jitter_ms = 0;               // scripted send-side jitter: each packet delayed 0..J ms
  uint32_t seed = 1;
  int setup_rate = 200;   // INVITEs per second
  int setup_window = 32;  // INVITEs outstanding at once
  double warmup_s = 1.0;  // audio before verification/statistics start
  int late_ms = 60;       // a packet later than the fastest one by this much is "late"
  // --ramp: P grows from ramp_start by ramp_step each step of ramp_step_s until
  // a step fails; the report names the last good P.
  bool ramp = false;
  int ramp_start = 10;
  int ramp_step = 10;
  int ramp_max = 1000;
  double ramp_step_s = 5.0;
  double max_loss_pct = 0.1;     // a ramp step (and the run) degrades above this loss
  double max_late_pct = 1.0;     // or above this share of late packets
  uint16_t local_port_base = 0;  // 0: ephemeral ports
  bool help = false;
};

struct OptionsError {
  std::string message;
};

std::string usage();
std::variant<Options, OptionsError> parse_options(std::span<const char* const> args);

}  // namespace chorus::load
