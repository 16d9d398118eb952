#include "bench/load/load_run.hpp"

#include <arpa/inet.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace chorus::load {
namespace {

using namespace std::chrono_literals;
constexpr auto kTick = 20ms;
constexpr auto kLateSend = 5ms;     // a send this far past its deadline is a late tick
constexpr auto kGiveUpLag = 100ms;  // this far behind, skip deadlines instead of bursting

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t at = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[at];
}

std::string fixed(double v, int digits = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

bool WindowStats::healthy(const Options& o) const {
  const bool generator_ok = ticks == 0 || (late_ticks + missed_ticks) * 100 <= ticks;
  return verified_passed == verified && loss_pct <= o.max_loss_pct && late_pct <= o.max_late_pct &&
         generator_ok && received > 0;
}

LoadRun::LoadRun(Options options)
    : options_(std::move(options)),
      params_(mixer::default_params(options_.codec)),
      payload_type_(payload_type_for(options_.codec)),
      rng_(options_.seed) {
  params_.complexity = options_.opus_complexity;
  scripts_ = std::make_unique<ToneScripts>(params_);
  raise_fd_limit();
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  tty_ = ::isatty(STDERR_FILENO) != 0;
  if (options_.webrtc) webrtc_ = std::make_unique<WebRtcShared>();
}

LoadRun::~LoadRun() {
  participants_.clear();
  if (epoll_ >= 0) ::close(epoll_);
}

void LoadRun::add_participants(int want) {
  const int talkers = std::min(options_.talkers, options_.participants);
  for (int i = per_room_; i < want; ++i) {
    for (int r = 0; r < options_.rooms; ++r) {
      // Verified participants are spread over rooms: the first N in
      // (index, room) order.
      const bool verified = i * options_.rooms + r < options_.verify;
      const uint16_t port =
          options_.local_port_base == 0
              ? 0
              : static_cast<uint16_t>(options_.local_port_base + participants_.size());
      auto p =
          std::make_unique<Participant>(r, i, i < talkers, verified, params_, payload_type_, port);
      p->set_late_ms(options_.late_ms);
      if (webrtc_) p->set_webrtc(std::make_unique<WebRtcPeer>(*webrtc_, rng_));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = p.get();
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, p->fd(), &ev) != 0) {
        throw std::system_error(errno, std::generic_category(), "epoll_ctl");
      }
      if (i < talkers) scripts_->prepare(p->freq());  // not at the first tick
      participants_.push_back(std::move(p));
    }
  }
  per_room_ = std::max(per_room_, want);
}

bool LoadRun::load_peers() {
  std::ifstream in(options_.peers_file);
  if (!in) {
    std::fprintf(stderr, "chorus-load: cannot read %s\n", options_.peers_file.c_str());
    return false;
  }
  struct Line {
    int room, index, local;
    std::string host;
    int port;
  };
  std::vector<Line> lines;
  std::string text;
  int max_room = -1, max_index = -1;
  while (std::getline(in, text)) {
    if (text.empty() || text[0] == '#') continue;
    std::istringstream fields(text);
    Line l{};
    std::string remote;
    if (!(fields >> l.room >> l.index >> l.local >> remote)) {
      std::fprintf(stderr, "chorus-load: bad peers line: %s\n", text.c_str());
      return false;
    }
    const size_t colon = remote.rfind(':');
    if (colon == std::string::npos || l.room < 0 || l.index < 0 || l.local < 0 || l.local > 65535) {
      std::fprintf(stderr, "chorus-load: bad peers line: %s\n", text.c_str());
      return false;
    }
    l.host = remote.substr(0, colon);
    l.port = std::atoi(remote.c_str() + colon + 1);
    if (l.port <= 0 || l.port > 65535) return false;
    max_room = std::max(max_room, l.room);
    max_index = std::max(max_index, l.index);
    lines.push_back(l);
  }
  if (lines.empty()) return false;
  options_.rooms = max_room + 1;
  options_.participants = max_index + 1;
  options_.talkers = std::min(options_.talkers, options_.participants);
  for (const Line& l : lines) {
    const bool verified = l.index * options_.rooms + l.room < options_.verify;
    auto p = std::make_unique<Participant>(l.room, l.index, l.index < options_.talkers, verified,
                                           params_, payload_type_, static_cast<uint16_t>(l.local));
    p->set_late_ms(options_.late_ms);
    if (l.index < options_.talkers) scripts_->prepare(p->freq());
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<uint16_t>(l.port));
    if (::inet_pton(AF_INET, l.host.c_str(), &remote.sin_addr) != 1) return false;
    p->set_remote(remote);
    p->state = CallState::kUp;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = p.get();
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, p->fd(), &ev);
    participants_.push_back(std::move(p));
  }
  per_room_ = options_.participants;
  return true;
}

void LoadRun::watch_tones() {
  for (auto& listener : participants_) {
    if (!listener->verified()) continue;
    std::vector<double> freqs;
    std::vector<Participant*> sources;
    if (options_.expect == Expect::kEcho) {
      freqs.push_back(listener->freq());
      sources.push_back(listener->talker() ? listener.get() : nullptr);
    } else {
      for (auto& talker : participants_) {
        if (talker->room() != listener->room() || !talker->talker()) continue;
        freqs.push_back(talker->freq());
        sources.push_back(talker.get() == listener.get() ? nullptr : talker.get());
      }
      // A verified non-talker still checks it does not hear its own tone
      // slot (it sends none, so nobody should).
      if (!listener->talker() && listener->index() < kDistinctTones) {
        freqs.push_back(listener->freq());
        sources.push_back(nullptr);
      }
    }
    for (const double hz : options_.watch_hz) {
      freqs.push_back(hz);
      sources.push_back(nullptr);
    }
    listener->watch(std::move(freqs), std::move(sources));
  }
}

void LoadRun::tick(Clock::time_point now) {
  const auto lag = now - next_tick_;
  if (lag > kGiveUpLag) {
    const int64_t skip = lag / kTick;
    missed_ticks_ += static_cast<uint64_t>(skip);
    tick_ += skip;
    next_tick_ += kTick * skip;
  }
  max_lag_ms_ = std::max(max_lag_ms_, ms_between(next_tick_, now));
  if (now - next_tick_ > kLateSend) ++late_ticks_;
  ++ticks_;

  if (webrtc_) service_webrtc(now);
  const bool dtx = options_.quiet == Quiet::kDtx;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  pending_.clear();
  pending_next_ = 0;
  for (auto& p : participants_) {
    if (p->state != CallState::kUp || !p->has_remote()) continue;
    if (p->build(tick_, *scripts_, dtx, now) == 0) continue;
    if (options_.loss_pct > 0 && unit(rng_) * 100.0 < options_.loss_pct) continue;  // dropped
    if (options_.jitter_ms > 0) {
      const auto delay =
          std::chrono::microseconds(static_cast<int64_t>(unit(rng_) * options_.jitter_ms * 1000.0));
      pending_.push_back({next_tick_ + delay, p.get()});
    } else {
      p->send_built();
    }
  }
  std::sort(pending_.begin(), pending_.end(),
            [](const Pending& a, const Pending& b) { return a.at < b.at; });
  ++tick_;
  next_tick_ += kTick;
}

void LoadRun::service_webrtc(Clock::time_point now) {
  size_t in_progress = 0;
  for (auto& p : participants_) {
    WebRtcPeer* w = p->webrtc();
    if (w != nullptr && p->state == CallState::kUp && w->in_progress()) ++in_progress;
  }
  for (auto& p : participants_) {
    WebRtcPeer* w = p->webrtc();
    if (w == nullptr || p->state != CallState::kUp) continue;
    const bool was_in_progress = w->in_progress();
    if (w->phase() == WebRtcPeer::Phase::kReady &&
        in_progress < static_cast<size_t>(options_.handshake_window)) {
      p->start_webrtc(now);
      ++webrtc_counters_.started;
      ++in_progress;
      continue;
    }
    p->poll_webrtc(now);
    if (was_in_progress && w->phase() == WebRtcPeer::Phase::kKeyed) {
      --in_progress;  // keyed by the STUN/DTLS datagrams handled in receive()
    }
    if (w->phase() == WebRtcPeer::Phase::kFailed) {
      ++webrtc_counters_.failed;
      webrtc_counters_.last_failure = w->failure();
      if (was_in_progress) --in_progress;
      uac_->bye(*p);  // a browser that cannot connect hangs up
    }
  }
}

size_t LoadRun::handshakes_pending() const {
  size_t n = 0;
  for (const auto& p : participants_) {
    const WebRtcPeer* w = p->webrtc();
    if (w == nullptr || p->state != CallState::kUp) continue;
    if (w->phase() != WebRtcPeer::Phase::kKeyed && w->phase() != WebRtcPeer::Phase::kFailed) ++n;
  }
  return n;
}

void LoadRun::pump(double seconds, bool reporting) {
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  std::array<epoll_event, 256> events;
  for (;;) {
    auto now = Clock::now();
    if (now >= end) break;
    // Jittered sends that are due.
    while (pending_next_ < pending_.size() && pending_[pending_next_].at <= now) {
      pending_[pending_next_++].p->send_built();
    }
    if (now >= next_tick_) tick(now);
    if (reporting && options_.report_interval_s > 0 && now >= next_report_) {
      report_intervals(std::chrono::duration<double>(now - measure_start_).count());
      next_report_ += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(options_.report_interval_s));
    }
    if (options_.progress && now >= next_progress_) {
      progress(now, false);
      next_progress_ = now + (tty_ ? 1s : 5s);
    }
    if (io_.stopped()) io_.restart();
    io_.poll();

    auto wake = std::min(end, next_tick_);
    if (pending_next_ < pending_.size()) wake = std::min(wake, pending_[pending_next_].at);
    now = Clock::now();
    const auto wait = wake > now ? wake - now : Clock::duration::zero();
    // SIP transactions are polled at least every 5 ms.
    const auto capped = std::min<Clock::duration>(wait, 5ms);
    timespec ts{};
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(capped).count();
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    const int n =
        ::epoll_pwait2(epoll_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
    if (n < 0) {
      if (errno == ENOSYS) {
        const int ms =
            static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(capped).count());
        const int m = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), ms);
        for (int i = 0; i < m; ++i)
          static_cast<Participant*>(events[size_t(i)].data.ptr)->receive(Clock::now());
      }
      continue;
    }
    const auto arrived = Clock::now();
    for (int i = 0; i < n; ++i) {
      static_cast<Participant*>(events[static_cast<size_t>(i)].data.ptr)->receive(arrived);
    }
  }
}

bool LoadRun::connect() {
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / options_.setup_rate));
  size_t wanted = 0;
  for (auto& p : participants_) wanted += p->state == CallState::kIdle ? 1 : 0;
  const auto deadline = Clock::now() + 40s + interval * static_cast<int64_t>(wanted);
  auto next_invite = Clock::now();
  for (;;) {
    bool idle_left = false;
    for (auto& p : participants_) {
      if (p->state != CallState::kIdle) continue;
      idle_left = true;
      const auto now = Clock::now();
      if (now < next_invite || uac_->pending() >= static_cast<size_t>(options_.setup_window)) {
        break;
      }
      uac_->invite(*p);
      next_invite = std::max(next_invite + interval, now - 50ms);
    }
    if (!idle_left && uac_->pending() == 0 && handshakes_pending() == 0) {
      return true;
    }
    if (Clock::now() > deadline) return false;
    pump(0.005, false);
  }
}

void LoadRun::hang_up() {
  if (!uac_) return;
  const auto deadline = Clock::now() + 10s;
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / options_.setup_rate));
  auto next = Clock::now();
  for (;;) {
    bool left = false;
    for (auto& p : participants_) {
      if (p->state != CallState::kUp) continue;
      left = true;
      const auto now = Clock::now();
      if (now < next || uac_->pending() >= static_cast<size_t>(options_.setup_window)) break;
      uac_->bye(*p);
      next = std::max(next + interval, now - 50ms);
    }
    if ((!left && uac_->pending() == 0) || Clock::now() > deadline) return;
    pump(0.005, false);
  }
}

void LoadRun::start_measuring() {
  for (auto& p : participants_) p->start_measuring();
  measure_start_ = Clock::now();
  next_report_ = measure_start_ +
                 std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(std::max(options_.report_interval_s, 0.1)));
  sent_at_measure_ = 0;
  for (auto& p : participants_) sent_at_measure_ += p->packets_sent();
  ticks_ = late_ticks_ = missed_ticks_ = 0;
  max_lag_ms_ = 0;
  received_at_progress_ = 0;
}

WindowStats LoadRun::collect() {
  WindowStats s;
  s.seconds = std::chrono::duration<double>(Clock::now() - measure_start_).count();
  double jitter_sum = 0;
  for (auto& p : participants_) {
    s.sent += p->packets_sent();
    if (p->state != CallState::kUp) continue;
    ++s.participants_up;
    const ReceiveCounters& c = p->counters();
    s.received += c.received;
    s.expected += c.expected;
    s.late += c.late;
    s.undecodable += c.undecodable;
    jitter_sum += p->jitter_ms();
    s.jitter_ms_max = std::max(s.jitter_ms_max, p->jitter_ms());
    if (!p->verified()) continue;
    ++s.verified;
    s.onset_ms.insert(s.onset_ms.end(), p->onset_delays_ms().begin(), p->onset_delays_ms().end());
    s.onset_frame_level += p->frame_level_onsets();
    std::string why;
    if (c.received == 0) why = "received nothing";
    for (const auto& [freq, window] : p->total()) {
      const bool extra = std::any_of(options_.watch_hz.begin(), options_.watch_hz.end(),
                                     [f = freq](double hz) { return std::lround(hz) == f; });
      if (extra) continue;  // --watch-hz: reported, not verified
      const double mean = window.mean();
      const bool own = std::lround(p->freq()) == freq;
      bool expect_heard = false;
      if (options_.expect == Expect::kEcho) {
        expect_heard = own && p->talker();
      } else {
        expect_heard = !own;  // watched frequencies are the room's talkers and our own slot
      }
      if (window.frames == 0 && why.empty()) why = "decoded no audio";
      if (expect_heard && mean < kHeard) {
        why += (why.empty() ? "" : "; ") + std::string("does not hear ") + std::to_string(freq) +
               " Hz (" + fixed(mean, 0) + ")";
      } else if (!expect_heard && mean > kSilent) {
        why += (why.empty() ? "" : "; ") + std::string(own ? "hears itself " : "hears ") +
               std::to_string(freq) + " Hz (" + fixed(mean, 0) + ")";
      }
    }
    if (why.empty()) {
      ++s.verified_passed;
    } else {
      s.failures.push_back("room " + std::to_string(p->room()) + " participant " +
                           std::to_string(p->index()) + ": " + why);
    }
  }
  // Participants that never came up are failed verifications too.
  for (auto& p : participants_) {
    if (p->verified() && p->state != CallState::kUp) {
      ++s.verified;
      s.failures.push_back("room " + std::to_string(p->room()) + " participant " +
                           std::to_string(p->index()) + ": not in call");
    }
  }
  s.sent -= std::min(s.sent, sent_at_measure_);
  s.loss_pct = s.expected == 0
                   ? 0.0
                   : 100.0 * static_cast<double>(s.expected - std::min(s.expected, s.received)) /
                         static_cast<double>(s.expected);
  s.late_pct =
      s.received == 0 ? 0.0 : 100.0 * static_cast<double>(s.late) / static_cast<double>(s.received);
  s.jitter_ms_mean = s.participants_up == 0 ? 0.0 : jitter_sum / s.participants_up;
  s.ticks = ticks_;
  s.late_ticks = late_ticks_;
  s.missed_ticks = missed_ticks_;
  s.max_lag_ms = max_lag_ms_;
  return s;
}

void LoadRun::progress(Clock::time_point now, bool final_line) {
  uint64_t received = 0, expected = 0;
  int up = 0, failed = 0;
  for (auto& p : participants_) {
    if (p->state == CallState::kUp) ++up;
    if (p->state == CallState::kFailed) ++failed;
    received += p->counters().received;
    expected += p->counters().expected;
  }
  const double dt = std::max(1e-3, std::chrono::duration<double>(now - last_progress_).count());
  const double rate =
      static_cast<double>(received - std::min(received, received_at_progress_)) / dt;
  received_at_progress_ = received;
  last_progress_ = now;
  const double loss = expected == 0
                          ? 0.0
                          : 100.0 * static_cast<double>(expected - std::min(expected, received)) /
                                static_cast<double>(expected);
  std::fprintf(stderr,
               "%s[%6.1fs] up %d/%zu failed %d  rx %.0f pkt/s  loss %.3f%%  late ticks %llu%s",
               tty_ ? "\r" : "", std::chrono::duration<double>(now - start_).count(), up,
               participants_.size(), failed, rate, loss,
               static_cast<unsigned long long>(late_ticks_ + missed_ticks_),
               tty_ && !final_line ? "   " : "\n");
}

void LoadRun::report_intervals(double t) {
  for (auto& p : participants_) {
    if (!p->verified()) continue;
    std::string line = "{\"t\":" + fixed(t, 1) + ",\"room\":" + std::to_string(p->room()) +
                       ",\"participant\":" + std::to_string(p->index()) + ",\"heard\":{";
    bool first = true;
    for (const auto& [freq, window] : p->take_window()) {
      line += (first ? "\"" : ",\"") + std::to_string(freq) + "\":" + fixed(window.mean(), 1);
      first = false;
    }
    const ReceiveCounters& c = p->counters();
    const double loss = c.expected == 0
                            ? 0.0
                            : static_cast<double>(c.expected - std::min(c.expected, c.received)) /
                                  static_cast<double>(c.expected);
    line += "},\"loss\":" + fixed(loss, 5) + ",\"jitter_ms\":" + fixed(p->jitter_ms(), 2) + "}";
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
}

int LoadRun::run() {
  start_ = Clock::now();
  next_tick_ = start_;
  last_progress_ = start_;
  next_progress_ = start_ + 1s;
  const double cpu_start = cpu_seconds();
  int exit_code = 0;

  if (options_.signalling == Signalling::kStatic) {
    if (!load_peers()) return 2;
    watch_tones();
  } else {
    uac_ = std::make_unique<SipUac>(io_, options_);
    uac_->start();
    add_participants(options_.ramp ? std::min(options_.ramp_start, options_.ramp_max)
                                   : options_.participants);
    watch_tones();
    if (!connect()) std::fprintf(stderr, "\nchorus-load: set-up did not finish in time\n");
  }

  std::string ramp_json;
  int last_good = -1;
  WindowStats final_stats;
  if (!options_.ramp) {
    pump(options_.warmup_s, false);
    start_measuring();
    pump(options_.duration_s, true);
    final_stats = collect();
    exit_code = final_stats.verified_passed == final_stats.verified && final_stats.received > 0 &&
                        (!uac_ || uac_->counters().failed == 0) && webrtc_counters_.failed == 0
                    ? 0
                    : 1;
  } else {
    ramp_json = "[";
    for (int step = 0;; ++step) {
      pump(std::max(options_.warmup_s, 1.0), false);
      start_measuring();
      pump(options_.ramp_step_s, false);
      WindowStats s = collect();
      const bool good = s.healthy(options_) && uac_->counters().failed == 0;
      ramp_json += std::string(step == 0 ? "" : ",") +
                   "{\"participants_per_room\":" + std::to_string(per_room_) +
                   ",\"participants\":" + std::to_string(s.participants_up) +
                   ",\"healthy\":" + (good ? "true" : "false") +
                   ",\"loss_pct\":" + fixed(s.loss_pct, 4) +
                   ",\"late_pct\":" + fixed(s.late_pct, 4) +
                   ",\"late_ticks\":" + std::to_string(s.late_ticks + s.missed_ticks) +
                   ",\"verified\":" + std::to_string(s.verified) +
                   ",\"verified_passed\":" + std::to_string(s.verified_passed) + "}";
      std::fprintf(stderr,
                   "\nramp: P=%d per room (%d up): %s, loss %.3f%%, late %.3f%%, %d/%d verified\n",
                   per_room_, s.participants_up, good ? "healthy" : "DEGRADED", s.loss_pct,
                   s.late_pct, s.verified_passed, s.verified);
      final_stats = std::move(s);
      if (!good) break;
      last_good = per_room_;
      const int next = per_room_ + options_.ramp_step;
      if (next > options_.ramp_max) break;
      add_participants(next);
      if (!connect()) {
        std::fprintf(stderr, "\nchorus-load: set-up at P=%d did not finish in time\n", next);
      }
    }
    ramp_json += "]";
    exit_code = last_good > 0 ? 0 : 1;
  }
  if (options_.progress) progress(Clock::now(), true);
  hang_up();
  generator_cpu_s_ = cpu_seconds() - cpu_start;
  print_summary(final_stats, ramp_json, last_good);
  if (uac_ && !uac_->last_error().empty() && uac_->counters().failed > 0) {
    std::fprintf(stderr, "chorus-load: last SIP error: %s\n", uac_->last_error().c_str());
  }
  if (webrtc_counters_.failed > 0) {
    std::fprintf(stderr, "chorus-load: %llu WebRTC handshakes failed; last: %s\n",
                 static_cast<unsigned long long>(webrtc_counters_.failed),
                 webrtc_counters_.last_failure.c_str());
  }
  return exit_code;
}

void LoadRun::print_summary(const WindowStats& s, const std::string& ramp_json, int last_good) {
  const double m2e_p50 = percentile(s.onset_ms, 0.50);
  const double m2e_p95 = percentile(s.onset_ms, 0.95);
  const double m2e_max =
      s.onset_ms.empty() ? 0.0 : *std::max_element(s.onset_ms.begin(), s.onset_ms.end());
  const SipCounters sip = uac_ ? uac_->counters() : SipCounters{};
  const bool passed = s.verified_passed == s.verified;
  FILE* table = options_.json ? stderr : stdout;
  std::fprintf(
      table,
      "\nchorus-load summary (%s, %d rooms x %d, %d talkers/room, %s%s, %.1f s measured)\n"
      "  participants up       %d\n"
      "  SIP                   %llu INVITEs, %llu answered, %llu failed; set-up p50 %.1f ms p99 "
      "%.1f ms\n"
      "  packets               sent %llu, received %llu, expected %llu\n"
      "  loss                  %.4f %%\n"
      "  late (> %d ms)         %llu (%.4f %%)\n"
      "  jitter                mean %.2f ms, max %.2f ms (RFC 3550)\n"
      "  mouth-to-ear          p50 %.1f ms, p95 %.1f ms, max %.1f ms (%zu onsets, %llu to the "
      "frame only)\n"
      "  generator ticks       %llu, late %llu, missed %llu, max lag %.1f ms\n"
      "  verification          %d/%d passed\n",
      options_.signalling == Signalling::kSip ? "SIP" : "static peers", options_.rooms, per_room_,
      std::min(options_.talkers, per_room_), std::string(mixer::codec_name(options_.codec)).c_str(),
      options_.srtp ? "+SRTP" : (options_.webrtc ? "+WebRTC" : ""), s.seconds, s.participants_up,
      (unsigned long long)sip.invites, (unsigned long long)sip.answered,
      (unsigned long long)sip.failed, percentile(sip.setup_ms, 0.5), percentile(sip.setup_ms, 0.99),
      (unsigned long long)s.sent, (unsigned long long)s.received, (unsigned long long)s.expected,
      s.loss_pct, options_.late_ms, (unsigned long long)s.late, s.late_pct, s.jitter_ms_mean,
      s.jitter_ms_max, m2e_p50, m2e_p95, m2e_max, s.onset_ms.size(),
      (unsigned long long)s.onset_frame_level, (unsigned long long)s.ticks,
      (unsigned long long)s.late_ticks, (unsigned long long)s.missed_ticks, s.max_lag_ms,
      s.verified_passed, s.verified);
  std::fprintf(table, "  generator CPU         %.2f s (whole run)\n", generator_cpu_s_);
  std::vector<double> handshake_ms;
  uint64_t keyed = 0, consent_sent = 0, consent_answered = 0;
  for (const auto& p : participants_) {
    const WebRtcPeer* w = p->webrtc();
    if (w == nullptr || w->handshake_ms() <= 0) continue;
    ++keyed;
    handshake_ms.push_back(w->handshake_ms());
    consent_sent += w->consent_checks();
    consent_answered += w->consent_answered();
  }
  if (webrtc_) {
    std::fprintf(table,
                 "  WebRTC                %llu handshakes started, %llu keyed, %llu failed; "
                 "ICE+DTLS p50 %.1f ms p95 %.1f ms; consent checks %llu, answered %llu\n",
                 (unsigned long long)webrtc_counters_.started, (unsigned long long)keyed,
                 (unsigned long long)webrtc_counters_.failed, percentile(handshake_ms, 0.5),
                 percentile(handshake_ms, 0.95), (unsigned long long)consent_sent,
                 (unsigned long long)consent_answered);
  }
  for (const std::string& f : s.failures) std::fprintf(table, "    FAILED %s\n", f.c_str());
  if (options_.ramp) {
    std::fprintf(table, "  ramp                  last good load: %d per room (%d participants)\n",
                 last_good, last_good < 0 ? 0 : last_good * options_.rooms);
  }
  if (!options_.json) return;
  std::string json =
      "{\"rooms\":" + std::to_string(options_.rooms) +
      ",\"participants_per_room\":" + std::to_string(per_room_) +
      ",\"participants_up\":" + std::to_string(s.participants_up) +
      ",\"codec\":" + quoted(mixer::codec_name(options_.codec)) +
      ",\"srtp\":" + (options_.srtp ? "true" : "false") + ",\"srtp_suite\":" +
      (options_.srtp ? quoted(rtp::srtp_suite_name(options_.srtp_suite)) : std::string("null")) +
      ",\"webrtc\":" +
      (webrtc_ ? "{\"started\":" + std::to_string(webrtc_counters_.started) +
                     ",\"keyed\":" + std::to_string(keyed) +
                     ",\"failed\":" + std::to_string(webrtc_counters_.failed) +
                     ",\"handshake_ms_p50\":" + fixed(percentile(handshake_ms, 0.5)) +
                     ",\"handshake_ms_p95\":" + fixed(percentile(handshake_ms, 0.95)) +
                     ",\"consent_checks\":" + std::to_string(consent_sent) +
                     ",\"consent_answered\":" + std::to_string(consent_answered) + "}"
               : std::string("null")) +
      ",\"talkers\":" + std::to_string(std::min(options_.talkers, per_room_)) +
      ",\"seconds\":" + fixed(s.seconds, 2) +
      ",\"sip\":{\"invites\":" + std::to_string(sip.invites) +
      ",\"answered\":" + std::to_string(sip.answered) +
      ",\"failed\":" + std::to_string(sip.failed) +
      ",\"byes_sent\":" + std::to_string(sip.byes_sent) +
      ",\"byes_answered\":" + std::to_string(sip.byes_answered) +
      ",\"byes_from_server\":" + std::to_string(sip.byes_from_server) +
      ",\"setup_ms_p50\":" + fixed(percentile(sip.setup_ms, 0.5)) +
      ",\"setup_ms_p99\":" + fixed(percentile(sip.setup_ms, 0.99)) + "}" +
      ",\"sent\":" + std::to_string(s.sent) + ",\"received\":" + std::to_string(s.received) +
      ",\"expected\":" + std::to_string(s.expected) + ",\"loss_pct\":" + fixed(s.loss_pct, 4) +
      ",\"late\":" + std::to_string(s.late) + ",\"late_pct\":" + fixed(s.late_pct, 4) +
      ",\"undecodable\":" + std::to_string(s.undecodable) +
      ",\"jitter_ms_mean\":" + fixed(s.jitter_ms_mean) +
      ",\"jitter_ms_max\":" + fixed(s.jitter_ms_max) +
      ",\"mouth_to_ear_ms\":{\"p50\":" + fixed(m2e_p50) + ",\"p95\":" + fixed(m2e_p95) +
      ",\"max\":" + fixed(m2e_max) + ",\"count\":" + std::to_string(s.onset_ms.size()) +
      ",\"frame_level\":" + std::to_string(s.onset_frame_level) + "}" +
      ",\"generator\":{\"ticks\":" + std::to_string(s.ticks) +
      ",\"late_ticks\":" + std::to_string(s.late_ticks) +
      ",\"missed_ticks\":" + std::to_string(s.missed_ticks) +
      ",\"max_lag_ms\":" + fixed(s.max_lag_ms) + ",\"cpu_s\":" + fixed(generator_cpu_s_) + "}" +
      ",\"verified\":" + std::to_string(s.verified) +
      ",\"verified_passed\":" + std::to_string(s.verified_passed) + ",\"failures\":[";
  for (size_t i = 0; i < s.failures.size(); ++i) json += (i ? "," : "") + quoted(s.failures[i]);
  json += "]";
  if (options_.ramp) {
    json += ",\"ramp\":" + ramp_json + ",\"ramp_last_good_per_room\":" + std::to_string(last_good);
  }
  json += std::string(",\"passed\":") + (passed ? "true" : "false") + "}";
  std::printf("%s\n", json.c_str());
  std::fflush(stdout);
}

}  // namespace chorus::load
