#pragma once
// When to send RTCP: the RFC 3550 §6.3 / Appendix A.7 interval computation
// (randomised, with timer reconsideration) behind an injected clock: every
// method takes `now`, so tests drive time explicitly.

#include <chrono>
#include <cstdint>

namespace chorus::rtp {

struct RtcpIntervalInput {
  uint32_t members = 1;
  uint32_t senders = 0;
  double rtcp_bandwidth = 0;  // octets per second available to RTCP (5% of session, §6.2)
  bool we_sent = false;
  double avg_rtcp_size = 0;  // octets, including UDP/IP overhead (§6.2)
  bool initial = true;
  // §6.2: minimum interval 5 s (halved before the first report); a lower
  // minimum such as 360 / session kbit/s is allowed for high-bandwidth sessions.
  double min_interval_seconds = 5.0;
};

// The deterministic interval of A.7 before randomisation (seconds).
double rtcp_deterministic_interval(const RtcpIntervalInput& in);
// A.7 rtcp_interval(): the deterministic interval times a uniform factor
// `random01` in [0, 1) mapped to [0.5, 1.5], divided by e - 3/2.
double rtcp_interval(const RtcpIntervalInput& in, double random01);

class RtcpScheduler {
 public:
  using Clock = std::chrono::steady_clock;

  struct Config {
    double session_bandwidth_bps = 64'000 + 16'000;  // RTP incl. headers; 5% goes to RTCP
    double rtcp_fraction = 0.05;
    double min_interval_seconds = 5.0;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;  // randomisation (§6.3.1); inject for tests
  };

  RtcpScheduler(const Config& config, Clock::time_point now);

  // A.7 OnExpire at `now`: true when a report should be sent now (the caller
  // sends it, then calls on_sent). Cheap to call every tick.
  bool due(Clock::time_point now);
  // A report of `size_octets` (with UDP/IP overhead) was sent at `now`.
  void on_sent(Clock::time_point now, size_t size_octets);
  // Any RTCP packet received (§6.3.3 avg_rtcp_size update).
  void on_received(size_t size_octets);

  // Membership as the stream sees it (§6.3.3). When members drop (BYE or
  // timeout), §6.3.4 reverse reconsideration pulls tn and tp towards `now`.
  void set_members(uint32_t members, uint32_t senders, Clock::time_point now);
  void set_we_sent(bool we_sent) { we_sent_ = we_sent; }

  Clock::time_point next_send() const { return tn_; }
  Clock::time_point last_sent() const { return tp_; }
  double avg_rtcp_size() const { return avg_rtcp_size_; }
  bool initial() const { return initial_; }

 private:
  double next_random();
  double interval_seconds();
  static Clock::duration to_duration(double seconds);

  Config config_;
  Clock::time_point tp_;
  Clock::time_point tn_;
  uint32_t members_ = 2;  // us and the one peer of a point-to-point stream
  uint32_t pmembers_ = 2;
  uint32_t senders_ = 1;
  bool we_sent_ = false;
  bool initial_ = true;
  double avg_rtcp_size_;
  uint64_t rng_;
};

}  // namespace chorus::rtp
