#pragma once
// The load run: creates participants, signals them in at a bounded rate,
// paces every participant's packets on absolute 20 ms deadlines in one
// epoll loop (SIP runs in the same loop), measures, and summarises.

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/load/options.hpp"
#include "bench/load/participant.hpp"
#include "bench/load/sip_uac.hpp"
#include "bench/load/tone_script.hpp"
#include "signaling/asio.hpp"

namespace chorus::load {

// Goertzel mean amplitudes a verified participant's tones must clear: a
// 4000-peak tone through a codec and a mixer averages well above kHeard
// (the 200 ms gap per 2 s costs 10%); a tone that is absent stays below
// kSilent.
inline constexpr double kHeard = 800.0;
inline constexpr double kSilent = 300.0;

// Aggregates over the measured window of every participant in call.
struct WindowStats {
  double seconds = 0;
  int participants_up = 0;
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t expected = 0;
  uint64_t late = 0;
  uint64_t undecodable = 0;
  double loss_pct = 0;
  double late_pct = 0;
  double jitter_ms_mean = 0;
  double jitter_ms_max = 0;
  uint64_t ticks = 0;
  uint64_t late_ticks = 0;    // our own sends more than 5 ms after their deadline
  uint64_t missed_ticks = 0;  // deadlines skipped altogether (we fell > 100 ms behind)
  double max_lag_ms = 0;
  std::vector<double> onset_ms;  // mouth-to-ear, every verified listener
  uint64_t onset_frame_level = 0;  // of those, measured to the frame only (see Participant)
  int verified = 0;
  int verified_passed = 0;
  std::vector<std::string> failures;  // why verifications failed
  bool healthy(const Options& o) const;
};

class LoadRun {
 public:
  explicit LoadRun(Options options);
  ~LoadRun();

  // Returns the process exit code.
  int run();

 private:
  // Participants [have, want) per room; SIP ones are dialled by connect().
  void add_participants(int want);
  bool load_peers();
  void watch_tones();
  // Dials every idle participant (rate- and window-limited) while media
  // flows; true when all are up or failed, false on the set-up deadline.
  bool connect();
  void hang_up();
  // Runs the loop for `seconds`; calls report lines and progress.
  void pump(double seconds, bool reporting);
  void tick(Clock::time_point now);
  // --webrtc: starts handshakes (at most handshake_window at once), runs the
  // browsers' timers, and hangs up those whose handshake failed.
  void service_webrtc(Clock::time_point now);
  // --webrtc participants in call still waiting for or in a handshake.
  size_t handshakes_pending() const;
  void start_measuring();
  WindowStats collect();
  void progress(Clock::time_point now, bool final_line);
  void report_intervals(double t);
  void print_summary(const WindowStats& s, const std::string& ramp_json, int ramp_last_good);

  Options options_;
  mixer::CodecParams params_;
  uint8_t payload_type_;
  std::unique_ptr<ToneScripts> scripts_;
  boost::asio::io_context io_;
  std::unique_ptr<SipUac> uac_;
  std::unique_ptr<WebRtcShared> webrtc_;
  struct WebRtcCounters {
    uint64_t started = 0;
    uint64_t keyed = 0;
    uint64_t failed = 0;
    std::vector<double> handshake_ms;  // check sent -> SRTP keys
    std::string last_failure;
  } webrtc_counters_;
  std::vector<std::unique_ptr<Participant>> participants_;
  int per_room_ = 0;
  int epoll_ = -1;
  std::mt19937 rng_;

  // Pacing.
  Clock::time_point start_;
  Clock::time_point next_tick_;
  int64_t tick_ = 0;
  struct Pending {
    Clock::time_point at;
    Participant* p;
  };
  std::vector<Pending> pending_;
  size_t pending_next_ = 0;

  // Measuring.
  Clock::time_point measure_start_;
  uint64_t sent_at_measure_ = 0;
  uint64_t ticks_ = 0;
  uint64_t late_ticks_ = 0;
  uint64_t missed_ticks_ = 0;
  double max_lag_ms_ = 0;
  Clock::time_point next_report_;
  Clock::time_point next_progress_;
  Clock::time_point last_progress_;
  uint64_t received_at_progress_ = 0;
  bool tty_ = false;
  double generator_cpu_s_ = 0;  // our own CPU over the whole run
};

}  // namespace chorus::load
