#include "bench/load/options.hpp"

#include <charconv>
#include <cstdlib>
#include <string_view>
#include <type_traits>

namespace chorus::load {
namespace {

template <class Number>
bool parse_number(std::string_view text, Number& out, Number min, Number max) {
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return false;
  }
  out = value;
  return true;
}

bool parse_host_port(std::string_view text, std::string& host, uint16_t& port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  host = std::string(text.substr(0, colon));
  return parse_number<uint16_t>(text.substr(colon + 1), port, 1, 65535);
}

}  // namespace

std::string usage() {
  return "usage: chorus-load [options]\n"
         "  --target HOST:PORT     SIP focus to dial (default 127.0.0.1:5060)\n"
         "  --peers FILE           no SIP: lines 'room participant local_port host:port'\n"
         "  --expect mix|echo      what verified participants must hear (default mix)\n"
         "  --rooms C              rooms (default 1)\n"
         "  --participants P       participants per room (default 3)\n"
         "  --room-prefix NAME     rooms are NAME0, NAME1, ... (default load)\n"
         "  --codec NAME           pcmu | pcma | g722 | opus (default pcmu)\n"
         "  --opus-complexity N    0..10 (default 5)\n"
         "  --srtp                 offer RTP/SAVP with a=crypto AES_CM_128_HMAC_SHA1_80\n"
         "  --srtp-suite NAME      the a=crypto suite (implies --srtp): AES_CM_128_HMAC_SHA1_80\n"
         "                         or AEAD_AES_128_GCM\n"
         "  --levels               send RFC 6464 audio levels (a=extmap)\n"
         "  --webrtc               each participant is a browser: UDP/TLS/RTP/SAVPF offer, ICE\n"
         "                         check, DTLS-SRTP handshake at join, consent checks (needs\n"
         "                         --codec opus; implies --levels)\n"
         "  --handshake-window N   --webrtc handshakes in progress at once (default 16)\n"
         "  --duration S           seconds of audio after set-up (default 10)\n"
         "  --talkers K            participants per room sending tone (default all)\n"
         "  --quiet silence|dtx    what the others send (dtx: Opus only, one packet per 400 ms)\n"
         "  --verify N             the first N participants decode and check (default 3)\n"
         "  --report-interval S    a JSON line per verified participant every S seconds\n"
         "  --watch-hz F           also measure and report tone F Hz (repeatable; not verified)\n"
         "  --json                 the final summary as JSON on stdout\n"
         "  --no-progress          no progress line on stderr\n"
         "  --loss PCT             drop PCT% of sent packets (scripted loss)\n"
         "  --jitter MS            delay each sent packet by 0..MS ms (scripted jitter)\n"
         "  --seed N               seed for loss/jitter (default 1)\n"
         "  --setup-rate N         INVITEs per second (default 200)\n"
         "  --warmup S             seconds before statistics start (default 1)\n"
         "  --late-ms N            later than the fastest packet by N ms = late (default 60)\n"
         "  --max-loss PCT         degraded above this loss (default 0.1)\n"
         "  --max-late PCT         degraded above this share of late packets (default 1)\n"
         "  --ramp                 raise P per room until audio degrades; report the last good P\n"
         "  --ramp-start N --ramp-step N --ramp-max N --ramp-step-seconds S\n"
         "  --local-port-base N    bind participant sockets from this port up\n"
         "  --help                 this text\n"
         "Exit code 0 only if every verification passed.\n";
}

std::variant<Options, OptionsError> parse_options(std::span<const char* const> args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i] == nullptr ? std::string_view{} : args[i];
    std::string_view arg;
    auto value = [&]() {
      if (i + 1 >= args.size() || args[i + 1] == nullptr) return false;
      arg = args[++i];
      return true;
    };
    auto number = [&](auto& out, auto min, auto max) {
      using N = std::remove_cvref_t<decltype(out)>;
      return value() && parse_number<N>(arg, out, static_cast<N>(min), static_cast<N>(max));
    };
    auto bad = [&](std::string_view what) {
      return OptionsError{std::string(flag) + " needs " + std::string(what)};
    };
    if (flag == "--help" || flag == "-h") {
      o.help = true;
    } else if (flag == "--target") {
      if (!value() || !parse_host_port(arg, o.target_host, o.target_port)) {
        return bad("HOST:PORT");
      }
    } else if (flag == "--peers") {
      if (!value() || arg.empty()) return bad("a file");
      o.peers_file = std::string(arg);
      o.signalling = Signalling::kStatic;
    } else if (flag == "--expect") {
      if (!value() || (arg != "mix" && arg != "echo")) return bad("mix or echo");
      o.expect = arg == "mix" ? Expect::kMix : Expect::kEcho;
    } else if (flag == "--rooms") {
      if (!number(o.rooms, 1, 10000)) return bad("1..10000");
    } else if (flag == "--participants") {
      if (!number(o.participants, 1, 10000)) return bad("1..10000");
    } else if (flag == "--room-prefix") {
      if (!value() || arg.empty()) return bad("a name");
      o.room_prefix = std::string(arg);
    } else if (flag == "--codec") {
      const auto id = value() ? mixer::codec_from_name(arg) : std::nullopt;
      if (!id) return bad("pcmu, pcma, g722 or opus");
      o.codec = *id;
    } else if (flag == "--opus-complexity") {
      if (!number(o.opus_complexity, 0, 10)) return bad("0..10");
    } else if (flag == "--srtp") {
      o.srtp = true;
    } else if (flag == "--srtp-suite") {
      const auto suite = value() ? rtp::srtp_suite_from_name(arg) : std::nullopt;
      if (!suite || (*suite != rtp::SrtpSuite::kAesCm128HmacSha1_80 &&
                     *suite != rtp::SrtpSuite::kAeadAes128Gcm)) {
        return bad("AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM");
      }
      o.srtp = true;
      o.srtp_suite = *suite;
    } else if (flag == "--levels") {
      o.levels = true;
    } else if (flag == "--webrtc") {
      o.webrtc = true;
    } else if (flag == "--handshake-window") {
      if (!number(o.handshake_window, 1, 10000)) return bad("1..10000");
    } else if (flag == "--duration") {
      if (!number(o.duration_s, 0.1, 3600.0)) return bad("0.1..3600 seconds");
    } else if (flag == "--talkers") {
      if (!number(o.talkers, 0, 10000)) return bad("0..10000");
    } else if (flag == "--quiet") {
      if (!value() || (arg != "silence" && arg != "dtx")) return bad("silence or dtx");
      o.quiet = arg == "dtx" ? Quiet::kDtx : Quiet::kSilence;
    } else if (flag == "--verify") {
      if (!number(o.verify, 0, 1000)) return bad("0..1000");
    } else if (flag == "--report-interval") {
      if (!number(o.report_interval_s, 0.1, 3600.0)) return bad("0.1..3600 seconds");
    } else if (flag == "--watch-hz") {
      double hz = 0;
      if (!number(hz, 50.0, 3900.0)) return bad("50..3900 Hz");
      o.watch_hz.push_back(hz);
    } else if (flag == "--json") {
      o.json = true;
    } else if (flag == "--no-progress") {
      o.progress = false;
    } else if (flag == "--loss") {
      if (!number(o.loss_pct, 0.0, 100.0)) return bad("0..100");
    } else if (flag == "--jitter") {
      if (!number(o.jitter_ms, 0, 18)) return bad("0..18 ms (less than a packet interval)");
    } else if (flag == "--seed") {
      if (!number(o.seed, 0u, 0xFFFFFFFFu)) return bad("a number");
    } else if (flag == "--setup-rate") {
      if (!number(o.setup_rate, 1, 100000)) return bad("1..100000");
    } else if (flag == "--warmup") {
      if (!number(o.warmup_s, 0.0, 60.0)) return bad("0..60 seconds");
    } else if (flag == "--late-ms") {
      if (!number(o.late_ms, 1, 10000)) return bad("1..10000");
    } else if (flag == "--max-loss") {
      if (!number(o.max_loss_pct, 0.0, 100.0)) return bad("0..100");
    } else if (flag == "--max-late") {
      if (!number(o.max_late_pct, 0.0, 100.0)) return bad("0..100");
    } else if (flag == "--ramp") {
      o.ramp = true;
    } else if (flag == "--ramp-start") {
      if (!number(o.ramp_start, 1, 10000)) return bad("1..10000");
    } else if (flag == "--ramp-step") {
      if (!number(o.ramp_step, 1, 10000)) return bad("1..10000");
    } else if (flag == "--ramp-max") {
      if (!number(o.ramp_max, 1, 10000)) return bad("1..10000");
    } else if (flag == "--ramp-step-seconds") {
      if (!number(o.ramp_step_s, 1.0, 600.0)) return bad("1..600 seconds");
    } else if (flag == "--local-port-base") {
      if (!number(o.local_port_base, 1024, 65000)) return bad("1024..65000");
    } else {
      return OptionsError{"unknown option '" + std::string(flag) + "'"};
    }
  }
  if (o.talkers < 0 || o.talkers > o.participants) o.talkers = o.participants;
  if (o.quiet == Quiet::kDtx && o.codec != mixer::CodecId::kOpus) {
    return OptionsError{"--quiet dtx needs --codec opus"};
  }
  if (o.srtp && o.signalling == Signalling::kStatic) {
    return OptionsError{"--srtp needs SIP signalling (keys travel in SDP)"};
  }
  if (o.webrtc) {
    if (o.codec != mixer::CodecId::kOpus) return OptionsError{"--webrtc needs --codec opus"};
    if (o.srtp) return OptionsError{"--webrtc keys SRTP with DTLS: no --srtp"};
    if (o.signalling == Signalling::kStatic) return OptionsError{"--webrtc needs SIP signalling"};
    o.levels = true;  // browsers always offer RFC 6464 levels
  }
  return o;
}

}  // namespace chorus::load
