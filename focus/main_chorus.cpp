// `chorus`: the conference focus server.
//
// Start-up: configuration (embedded default, --config FILE, flags), logging,
// the root policy, bind, then drop privileges if configured. SIGHUP re-reads
// the configuration and applies rooms, accounts, music on hold and the log
// level without touching calls; SIGINT/SIGTERM end every call with BYE and
// exit.

#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <span>
#include <stdexcept>
#include <string>
#include <variant>

#include "focus/ops/admin_server.hpp"
#include "focus/ops/config.hpp"
#include "focus/ops/log.hpp"
#include "focus/ops/metrics.hpp"
#include "focus/ops/options.hpp"
#include "focus/ops/web_server.hpp"
#include "focus/ops/web_site.hpp"
#include "focus/server.hpp"
#include "rtp/srtp.hpp"
#include "signaling/asio.hpp"

#include <spdlog/spdlog.h>

namespace {

using chorus::focus::ConfigError;
using chorus::focus::Options;

// Switches to `user` (its uid, primary gid and supplementary groups) for good.
// Called after the listeners are bound, so a root start can use port 5060
// without keeping root.
void drop_privileges(const std::string& user) {
  const passwd* entry = ::getpwnam(user.c_str());
  if (entry == nullptr) throw std::runtime_error("process.user '" + user + "': no such user");
  const uid_t uid = entry->pw_uid;
  const gid_t gid = entry->pw_gid;
  if (::initgroups(user.c_str(), gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
    throw std::runtime_error("cannot switch to user '" + user + "'");
  }
  // setuid from root to another user must be irreversible.
  if (uid != 0 && ::setuid(0) == 0) {
    throw std::runtime_error("could regain root after switching to '" + user + "'");
  }
}

// Settings a reload cannot change; saying so beats silently ignoring them.
void warn_restart_only(const Options& running, const Options& loaded) {
  const bool changed =
      running.sip_host != loaded.sip_host || running.sip_port != loaded.sip_port ||
      running.udp != loaded.udp || running.tcp != loaded.tcp ||
      running.tls_port != loaded.tls_port || running.tls_certificate != loaded.tls_certificate ||
      running.tls_private_key != loaded.tls_private_key ||
      running.media_address != loaded.media_address || running.rtp_first != loaded.rtp_first ||
      running.media_public_address != loaded.media_public_address ||
      running.dtls_certificate != loaded.dtls_certificate ||
      running.dtls_private_key != loaded.dtls_private_key || running.rtp_last != loaded.rtp_last ||
      running.media_shards != loaded.media_shards ||
      running.media_realtime_priority != loaded.media_realtime_priority ||
      running.media_pin_shards != loaded.media_pin_shards || running.media_io != loaded.media_io ||
      running.media_port_mode != loaded.media_port_mode ||
      running.media_max_streams_per_shard != loaded.media_max_streams_per_shard ||
      running.codecs != loaded.codecs || running.srtp != loaded.srtp ||
      running.top_k != loaded.top_k || running.admin_address != loaded.admin_address ||
      running.admin_port != loaded.admin_port ||
      running.admin_metrics_token != loaded.admin_metrics_token ||
      running.admin_hosts != loaded.admin_hosts ||
      running.admin_trusted_proxies != loaded.admin_trusted_proxies ||
      running.admin_allow_plaintext_remote != loaded.admin_allow_plaintext_remote ||
      running.log_file != loaded.log_file || running.web_address != loaded.web_address ||
      running.web_port != loaded.web_port || running.web_certificate != loaded.web_certificate ||
      running.web_private_key != loaded.web_private_key ||
      running.web_assets_dir != loaded.web_assets_dir ||
      running.web_wss_url != loaded.web_wss_url ||
      running.web_sip_domain != loaded.web_sip_domain ||
      running.cluster_front != loaded.cluster_front ||
      running.cluster_transfer_timeout != loaded.cluster_transfer_timeout ||
      running.cluster_secret != loaded.cluster_secret;
  if (changed) {
    spdlog::warn(
        "reload: listener, media, codec, admin, web, cluster or log-file settings changed; they "
        "apply after a restart");
  }
}

// The start-up banner: each line once. It goes to stdout (what an operator at
// a terminal and the scripts waiting for "dial sip:" read). The log repeats it
// only when the log is a file: with the default log on stderr, a terminal or
// the journal would otherwise show every line twice.
class Banner {
 public:
  explicit Banner(const Options& options) : to_log_(!options.log_file.empty()) {}
  void line(const std::string& text) const {
    std::cout << "chorus: " << text << "\n" << std::flush;
    if (to_log_) spdlog::info("{}", text);
  }

 private:
  bool to_log_;
};

void print_summary(chorus::focus::Server& server, const Options& options, const Banner& banner) {
  for (const chorus::sip::Endpoint& endpoint : server.stack().listening()) {
    banner.line("SIP listening on " + endpoint.to_string());
  }
  // The log's own summary line (not part of the banner).
  const size_t shards = server.engine().shard_count();
  spdlog::info(
      "configuration {}: RTP ports {}-{}, {} media shard(s){}, codecs {}, top-{} mixing, {} "
      "listed room(s){}, {} account(s), admin {}",
      options.config_path.empty() ? "<embedded>" : options.config_path, options.rtp_first,
      options.rtp_last, shards,
      options.media_shards == 0 ? " (media.shards = 0: one per core)" : "",
      fmt::join(options.codecs, ","), options.top_k, options.rooms.size(),
      options.only_listed_rooms ? " (only those)" : "", options.accounts.size(),
      options.admin_port == 0 ? std::string("off")
                              : options.admin_address + ":" + std::to_string(options.admin_port));
  spdlog::info("SRTP: {}", chorus::rtp::srtp_backend());
  const std::string host = server.stack().sent_by(chorus::sip::TransportKind::kUdp);
  banner.line("dial sip:<room>@" + host + " to join a conference (e.g. sip:demo@" + host +
              "); OPTIONS sip:" + host + " shows what the focus supports");
}

}  // namespace

// The allocator of a process that runs for months through floods and
// bursts of calls. Set-up buffers of 64 KiB and more (jitter-buffer rings,
// buffer-pool chunks) get pages of their own and go back to the kernel when
// freed, instead of pinning the middle of the heap under small long-lived
// objects (glibc otherwise raises this threshold as it sees large frees).
// The heap top is given back past 4 MiB rather than 128 KiB, so call churn
// does not move the break up and down; the focus trims the rest when a burst
// has drained (Server::give_memory_back).
static void tune_allocator() {
#ifdef __GLIBC__
  ::mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
#endif
}

int main(int argc, char** argv) {
  tune_allocator();
  const std::span<const char* const> args(const_cast<const char* const*>(argv) + 1,
                                          static_cast<size_t>(argc > 0 ? argc - 1 : 0));
  bool check_only = false;
  for (const char* arg : args) check_only = check_only || std::string_view(arg) == "--check-config";

  const auto configured = chorus::focus::configure(args);
  if (const auto* error = std::get_if<ConfigError>(&configured)) {
    std::cerr << "chorus: " << (error->bad_flag ? "" : "configuration error:\n") << error->message
              << "\n";
    if (error->bad_flag && !check_only) std::cerr << chorus::focus::usage();
    return check_only || !error->bad_flag ? 1 : 2;
  }
  const Options& options = std::get<Options>(configured);
  if (options.help) {
    std::cout << chorus::focus::usage();
    return 0;
  }
  if (options.check_config) {
    std::cout << "chorus: configuration OK ("
              << (options.config_path.empty() ? "<embedded>" : options.config_path) << ")\n";
    return 0;
  }
  if (::geteuid() == 0 && !options.allow_root && options.run_as_user.empty()) {
    std::cerr << "chorus: refusing to run as root (process.allow_root = false); run as an "
                 "unprivileged user, or set process.user to switch to one after binding\n";
    return 1;
  }
  if (const auto error = chorus::focus::setup_logging(options.log_level, options.log_file)) {
    std::cerr << "chorus: " << *error << "\n";
    return 1;
  }

  try {
    boost::asio::io_context io(1);
    chorus::focus::Server server(io, options);
    Options running = options;
    // Installed before anything is printed: whoever waits for our banner may
    // signal us right after it.
    boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
    stop_signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
      if (error) return;
      std::cout << "chorus: signal " << signal_number << ", shutting down\n" << std::flush;
      spdlog::info("signal {}: ending {} call(s) and shutting down", signal_number,
                   server.call_count());
      server.stop();
      io.stop();
    });
    // The admin API, console and /metrics share the signalling thread
    // (Control needs no locks). Declared after the server: destroyed first.
    // Started below; a reload hands it the new token.
    std::unique_ptr<chorus::focus::AdminServer> admin;
    boost::asio::signal_set reload_signal(io, SIGHUP);
    std::function<void(const boost::system::error_code&, int)> on_reload =
        [&](const boost::system::error_code& error, int) {
          if (error) return;
          auto reloaded = chorus::focus::configure(args);
          if (const auto* problem = std::get_if<ConfigError>(&reloaded)) {
            spdlog::error("reload failed, keeping the running configuration: {}", problem->message);
          } else {
            const Options& loaded = std::get<Options>(reloaded);
            warn_restart_only(running, loaded);
            server.reload(loaded);
            if (admin && loaded.admin_token != running.admin_token) {
              if (loaded.admin_token.empty()) {
                spdlog::warn("reload: admin.token is empty: every Bearer request is refused");
              }
              admin->set_token(loaded.admin_token);
              spdlog::info("reload: new admin token; event streams opened with the old one closed");
            }
            chorus::focus::set_log_level(loaded.log_level);
            running = loaded;
            spdlog::info("reloaded {}: {} listed room(s), {} account(s)",
                         loaded.config_path.empty() ? "<embedded>" : loaded.config_path,
                         loaded.rooms.size(), loaded.accounts.size());
          }
          reload_signal.async_wait(on_reload);
        };
    reload_signal.async_wait(on_reload);

    server.start();
    const Banner banner(options);
    if (options.admin_port != 0) {
      if (options.admin_token.empty()) {
        throw std::runtime_error(
            "admin.port is set but admin.token is empty: every API request would be refused; "
            "set admin.token (or admin.port = 0 to turn the admin listener off)");
      }
      chorus::focus::AdminConfig config;
      config.address = options.admin_address;
      config.port = options.admin_port;
      config.token = options.admin_token;
      config.hosts = options.admin_hosts;
      // Room names and load are not for the whole network to read.
      config.metrics_token = options.admin_metrics_token.value_or(
          !chorus::focus::WebServer::loopback(options.admin_address));
      // A loopback listener's open /metrics is for this host's clients: a
      // remote one a trusted proxy forwards needs the token.
      config.metrics_token_unless_loopback = !options.admin_metrics_token.has_value();
      config.trusted_proxies = options.admin_trusted_proxies;
      admin = std::make_unique<chorus::focus::AdminServer>(
          io, server,
          chorus::focus::make_metrics_source(server),
          config);
      admin->start();  // before dropping privileges: the port may be low
      banner.line("admin console on http://" + options.admin_address + ":" +
                  std::to_string(admin->port()) + "/ (API /api, metrics /metrics)");
    }
    // The web phone page (issue #18): its own public listener, never the
    // admin one. Declared after the server: destroyed first.
    std::unique_ptr<chorus::focus::WebServer> web;
    if (options.web_port != 0) {
      chorus::focus::WebPageSettings page;
      page.wss_port = options.wss_port;
      page.ws_port = options.ws_port;
      page.wss_url = options.web_wss_url;
      page.sip_domain = options.web_sip_domain;
      const std::string assets = options.web_assets_dir.empty()
                                     ? std::string(chorus::focus::web_default_assets_dir())
                                     : options.web_assets_dir;
      chorus::focus::WebConfig config;
      config.address = options.web_address;
      config.port = options.web_port;
      config.certificate = options.web_certificate;
      config.private_key = options.web_private_key;
      web = std::make_unique<chorus::focus::WebServer>(
          io, std::make_shared<const chorus::focus::WebSite>(assets, page), config);
      web->start();  // before dropping privileges: the port may be low
      if (options.wss_port == 0 && options.ws_port == 0) {
        spdlog::warn("web page served but sip.wss_port is 0: browsers have nothing to dial");
      }
      const bool v6 = options.web_address.find(':') != std::string::npos;
      banner.line(std::string("web phone on ") + (web->tls() ? "https://" : "http://") +
                  (v6 ? "[" + options.web_address + "]" : options.web_address) + ":" +
                  std::to_string(web->port()) + "/join/<room>");
    }
    if (::geteuid() == 0 && !options.run_as_user.empty()) {
      drop_privileges(options.run_as_user);
      spdlog::info("switched to user {}", options.run_as_user);
    }
    print_summary(server, options, banner);
    io.run();
    spdlog::info("stopped");
  } catch (const std::exception& error) {
    spdlog::critical("{}", error.what());
    std::cerr << "chorus: " << error.what() << "\n";
    spdlog::shutdown();
    return 1;
  }
  spdlog::shutdown();  // flushes the log file and stops the flusher thread
  return 0;
}
