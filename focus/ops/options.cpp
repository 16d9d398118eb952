#include "focus/ops/options.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "focus/ops/log.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::focus {
namespace {

template <class Int>
bool parse_int(std::string_view text, Int& out, Int min, Int max) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return false;
  }
  out = static_cast<Int>(value);
  return true;
}

}  // namespace

bool parse_host_port(std::string_view text, std::string& host, uint16_t& port) {
  std::string_view port_text;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') == colon) {
      host = std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
    } else {
      host = std::string(text);
    }
  }
  if (host.empty()) return false;
  if (!port_text.empty() || text.ends_with(':')) {
    return parse_int<uint16_t>(port_text, port, 0, 65535);
  }
  return true;
}

bool parse_port_range(std::string_view text, uint16_t& first, uint16_t& last) {
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos) return false;
  uint16_t low = 0;
  uint16_t high = 0;
  if (!parse_int<uint16_t>(text.substr(0, dash), low, 1024, 65534) ||
      !parse_int<uint16_t>(text.substr(dash + 1), high, 1025, 65535) || high <= low) {
    return false;
  }
  first = low;
  last = high;
  return true;
}

std::string usage() {
  return "usage: chorus [options]\n"
         "  --config FILE          TOML configuration (see deploy/chorus.toml.example); the\n"
         "                         flags below override it\n"
         "  --check-config [FILE]  validate the configuration (FILE: same as --config FILE),\n"
         "                         print the outcome, exit 0/1\n"
         "  --sip HOST:PORT        SIP listen address (default 127.0.0.1:5060; [::1]:5060 for "
         "IPv6)\n"
         "  --no-udp | --no-tcp    disable a SIP transport (both on by default)\n"
         "  --tls-cert FILE        PEM certificate chain; with --tls-key enables TLS\n"
         "  --tls-key FILE         PEM private key\n"
         "  --tls-port PORT        TLS port (default 5061)\n"
         "  --media-address IP     address announced in SDP (default: the SIP host)\n"
         "  --rtp-ports FIRST-LAST RTP port range (default 40000-40999)\n"
         "  --slow-room-prefix P   test hook: rooms named P* ring before answering (default\n"
         "                         \"\": off)\n"
         "  --ring-delay-ms N      how long those rooms ring before answering (2000)\n"
         "  --rtp-timeout-ms N     no media for this long ends a call with BYE (30000)\n"
         "  --media-shards N       mixer threads, 0..64 (default 0: one per core); --shards is\n"
         "                         the same\n"
         "  --cluster-front URI    the proxy in front of the Chorus nodes (sip:HOST:PORT):\n"
         "                         moves to rooms not on this node REFER the member there\n"
         "  --log-level LEVEL      trace, debug, info, warn, error, critical or off\n"
         "  --help                 this text\n";
}

namespace {

// `--check-config FILE`: the FILE, when the next argument is one.
bool names_file(std::span<const char* const> args, size_t i) {
  return i + 1 < args.size() && args[i + 1] != nullptr && args[i + 1][0] != '\0' &&
         args[i + 1][0] != '-';
}

}  // namespace

std::vector<std::string> config_file_arguments(std::span<const char* const> args) {
  std::vector<std::string> files;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == nullptr) continue;
    const std::string_view flag = args[i];
    if ((flag == "--config" && i + 1 < args.size() && args[i + 1] != nullptr) ||
        (flag == "--check-config" && names_file(args, i))) {
      files.emplace_back(args[++i]);
    }
  }
  return files;
}

bool valid_slow_room_prefix(std::string_view prefix) {
  if (prefix.size() > 64) return false;
  for (const char c : prefix) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.' || c == '!' || c == '~' || c == '*' ||
                       c == '\'' || c == '(' || c == ')';
    if (!plain) return false;
  }
  return true;
}

bool valid_cluster_front(std::string_view uri) {
  const auto parsed = sip::parse_uri(uri);
  return parsed && parsed->is_sip() && parsed->user.empty() && parsed->password.empty() &&
         !parsed->host.empty() && parsed->headers_text.empty();
}

std::variant<Options, OptionsError> parse_options(std::span<const char* const> args, Options base) {
  Options options = std::move(base);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i] == nullptr ? std::string_view{} : args[i];
    auto value = [&](std::string_view& out) {
      if (i + 1 >= args.size() || args[i + 1] == nullptr) return false;
      out = args[++i];
      return true;
    };
    std::string_view arg;
    if (flag == "--help" || flag == "-h") {
      options.help = true;
    } else if (flag == "--no-udp") {
      options.udp = false;
    } else if (flag == "--no-tcp") {
      options.tcp = false;
    } else if (flag == "--sip") {
      if (!value(arg) || !parse_host_port(arg, options.sip_host, options.sip_port)) {
        return OptionsError{"--sip needs HOST:PORT"};
      }
    } else if (flag == "--tls-cert") {
      if (!value(arg)) return OptionsError{"--tls-cert needs a file"};
      options.tls_certificate = std::string(arg);
    } else if (flag == "--tls-key") {
      if (!value(arg)) return OptionsError{"--tls-key needs a file"};
      options.tls_private_key = std::string(arg);
    } else if (flag == "--tls-port") {
      if (!value(arg) || !parse_int<uint16_t>(arg, options.tls_port, 0, 65535)) {
        return OptionsError{"--tls-port needs a port number"};
      }
    } else if (flag == "--media-address") {
      if (!value(arg) || arg.empty()) return OptionsError{"--media-address needs an IP"};
      options.media_address = std::string(arg);
    } else if (flag == "--rtp-ports") {
      if (!value(arg) || !parse_port_range(arg, options.rtp_first, options.rtp_last)) {
        return OptionsError{"--rtp-ports needs FIRST-LAST (1024-65535, FIRST < LAST)"};
      }
    } else if (flag == "--slow-room-prefix") {
      // Same rule as sip.slow_room_prefix; "" turns the hook off.
      if (!value(arg) || !valid_slow_room_prefix(arg)) {
        return OptionsError{
            "--slow-room-prefix needs \"\" or a room-name prefix (letters, digits, -_.!~*'())"};
      }
      options.slow_room_prefix = std::string(arg);
    } else if (flag == "--ring-delay-ms") {
      int ms = 0;
      if (!value(arg) || !parse_int<int>(arg, ms, 0, 600000)) {
        return OptionsError{"--ring-delay-ms needs 0..600000"};
      }
      options.ring_delay = std::chrono::milliseconds(ms);
    } else if (flag == "--rtp-timeout-ms") {
      int ms = 0;
      if (!value(arg) || !parse_int<int>(arg, ms, 100, 3600000)) {
        return OptionsError{"--rtp-timeout-ms needs 100..3600000"};
      }
      options.rtp_timeout = std::chrono::milliseconds(ms);
    } else if (flag == "--config") {
      if (!value(arg) || arg.empty()) return OptionsError{"--config needs a file"};
      options.config_path = std::string(arg);
    } else if (flag == "--check-config") {
      options.check_config = true;
      if (names_file(args, i)) options.config_path = args[++i];
    } else if (flag == "--cluster-front") {
      if (!value(arg) || !valid_cluster_front(arg)) {
        return OptionsError{"--cluster-front needs a sip: URI without user part (sip:HOST:PORT)"};
      }
      options.cluster_front = std::string(arg);
    } else if (flag == "--log-level") {
      if (!value(arg) || !valid_log_level(arg)) {
        return OptionsError{"--log-level needs one of " + std::string(kLogLevels)};
      }
      options.log_level = std::string(arg);
    } else if (flag == "--media-shards" || flag == "--shards") {
      int shards = 0;
      if (!value(arg) || !parse_int<int>(arg, shards, 0, static_cast<int>(kMaxMediaShards))) {
        return OptionsError{std::string(flag) + " needs 0.." + std::to_string(kMaxMediaShards) +
                            " (0: one per core)"};
      }
      options.media_shards = static_cast<size_t>(shards);
    } else {
      return OptionsError{"unknown option '" + std::string(flag) + "'"};
    }
  }
  if (!options.udp && !options.tcp &&
      (options.tls_certificate.empty() || options.tls_private_key.empty()) &&
      options.ws_port == 0 && options.wss_port == 0) {
    return OptionsError{"no SIP transport left to listen on (udp, tcp, TLS, WS and WSS all off)"};
  }
  if (options.tls_certificate.empty() != options.tls_private_key.empty()) {
    return OptionsError{
        "TLS needs both a certificate and a private key (--tls-cert and --tls-key, "
        "or sip.tls_certificate and sip.tls_private_key)"};
  }
  if (options.wss_certificate.empty() != options.wss_private_key.empty()) {
    return OptionsError{
        "WSS needs both sip.wss_certificate and sip.wss_private_key (or neither: the TLS ones)"};
  }
  if (options.web_certificate.empty() != options.web_private_key.empty()) {
    return OptionsError{
        "the web listener needs both web.certificate and web.private_key (or neither: "
        "plain HTTP, loopback only)"};
  }
  const auto loopback = [](const std::string& address) {
    in6_addr v6{};
    in_addr v4{};
    return (inet_pton(AF_INET, address.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) ||
           (inet_pton(AF_INET6, address.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6));
  };
  if (options.admin_port != 0 && !options.admin_allow_plaintext_remote &&
      !loopback(options.admin_address)) {
    // The listener has no TLS: the token and Digest logins would cross the
    // network in clear, readable and replayable.
    return OptionsError{"admin.address " + options.admin_address +
                        " is not loopback and the admin listener speaks plain HTTP only: keep "
                        "it on loopback, or put a TLS-terminating proxy in front and set "
                        "admin.allow_plaintext_remote = true"};
  }
  if (options.web_port != 0 && options.web_certificate.empty()) {
    if (!loopback(options.web_address)) {
      return OptionsError{"web.port on " + options.web_address +
                          " needs web.certificate and web.private_key: browsers give a page the "
                          "microphone only over HTTPS (plain HTTP is allowed on loopback only)"};
    }
  }
  if (options.wss_port != 0 && options.wss_certificate.empty() && options.tls_certificate.empty()) {
    return OptionsError{
        "sip.wss_port needs a certificate: sip.wss_certificate and sip.wss_private_key, or the "
        "TLS ones"};
  }
  return options;
}

}  // namespace chorus::focus
