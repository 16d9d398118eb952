#include "rtp/rtcp_scheduler.hpp"

#include <algorithm>

namespace chorus::rtp {
namespace {

// RFC 3550 A.7 constants.
constexpr double kSenderBandwidthFraction = 0.25;
constexpr double kReceiverBandwidthFraction = 1.0 - kSenderBandwidthFraction;
// "e - 3/2": compensates for the timer reconsideration algorithm converging to
// a value below the intended average (§6.3.1).
constexpr double kCompensation = 2.71828 - 1.5;
// First-guess RTCP size: IPv4+UDP (28) + SR with one block (52) + SDES CNAME (~24).
constexpr double kInitialAvgRtcpSize = 104.0;

}  // namespace

double rtcp_deterministic_interval(const RtcpIntervalInput& in) {
  double min_time = in.min_interval_seconds;
  if (in.initial) min_time /= 2;  // §6.2: half the minimum before the first report
  double rtcp_bw = in.rtcp_bandwidth;
  double n = in.members;
  // §6.3.1: when senders are at most a quarter of the members, senders share
  // 25% of the RTCP bandwidth and receivers the rest.
  if (in.senders <= in.members * kSenderBandwidthFraction) {
    if (in.we_sent) {
      rtcp_bw *= kSenderBandwidthFraction;
      n = in.senders;
    } else {
      rtcp_bw *= kReceiverBandwidthFraction;
      n -= in.senders;
    }
  }
  double t = rtcp_bw > 0 ? in.avg_rtcp_size * n / rtcp_bw : min_time;
  return std::max(t, min_time);
}

double rtcp_interval(const RtcpIntervalInput& in, double random01) {
  return rtcp_deterministic_interval(in) * (random01 + 0.5) / kCompensation;
}

RtcpScheduler::RtcpScheduler(const Config& config, Clock::time_point now)
    : config_(config), tp_(now), avg_rtcp_size_(kInitialAvgRtcpSize), rng_(config.seed) {
  tn_ = tp_ + to_duration(interval_seconds());
}

double RtcpScheduler::next_random() {
  // splitmix64: cheap, allocation-free, deterministic for a given seed.
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

double RtcpScheduler::interval_seconds() {
  RtcpIntervalInput in;
  in.members = members_;
  in.senders = senders_;
  in.rtcp_bandwidth = config_.session_bandwidth_bps / 8.0 * config_.rtcp_fraction;
  in.we_sent = we_sent_;
  in.avg_rtcp_size = avg_rtcp_size_;
  in.initial = initial_;
  in.min_interval_seconds = config_.min_interval_seconds;
  return rtcp_interval(in, next_random());
}

RtcpScheduler::Clock::duration RtcpScheduler::to_duration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// A.7 OnExpire() with timer reconsideration (§6.3.6): the interval is
// recomputed with current membership; if the report is not yet due under the
// new interval, the timer moves to tp + T.
bool RtcpScheduler::due(Clock::time_point now) {
  if (now < tn_) return false;
  const auto t = to_duration(interval_seconds());
  pmembers_ = members_;
  if (tp_ + t <= now) return true;
  tn_ = tp_ + t;
  return false;
}

void RtcpScheduler::on_sent(Clock::time_point now, size_t size_octets) {
  // §6.3.3: avg_rtcp_size = 1/16 * packet_size + 15/16 * avg_rtcp_size.
  avg_rtcp_size_ = size_octets / 16.0 + avg_rtcp_size_ * 15.0 / 16.0;
  tp_ = now;
  initial_ = false;
  tn_ = now + to_duration(interval_seconds());
}

void RtcpScheduler::on_received(size_t size_octets) {
  avg_rtcp_size_ = size_octets / 16.0 + avg_rtcp_size_ * 15.0 / 16.0;
}

void RtcpScheduler::set_members(uint32_t members, uint32_t senders, Clock::time_point now) {
  members = std::max<uint32_t>(members, 1);
  senders = std::min(senders, members);
  if (members < pmembers_ && now >= tp_) {
    // §6.3.4: tn = tc + (members/pmembers) * (tn - tc),
    //         tp = tc - (members/pmembers) * (tc - tp).
    const double ratio = static_cast<double>(members) / pmembers_;
    if (tn_ > now) {
      tn_ = now + std::chrono::duration_cast<Clock::duration>((tn_ - now) * ratio);
    }
    tp_ = now - std::chrono::duration_cast<Clock::duration>((now - tp_) * ratio);
    pmembers_ = members;
  }
  members_ = members;
  senders_ = senders;
}

}  // namespace chorus::rtp
