#pragma once
// What a sender keeps about its own stream (RFC 3550 §6.4.1): packet and
// octet counts for the SR sender info, and what receivers report back about
// it, including the round-trip time from LSR/DLSR.

#include <chrono>
#include <cstdint>
#include <optional>

#include "rtp/rtcp.hpp"

namespace chorus::rtp {

class SendStats {
 public:
  explicit SendStats(uint32_t clock_rate) : clock_rate_(clock_rate) {}

  // One RTP packet sent: payload octets only (§6.4.1 "sender's octet count").
  void on_packet_sent(uint32_t rtp_timestamp, size_t payload_bytes,
                      std::chrono::steady_clock::time_point now);

  // Sender info for an SR at wall-clock `ntp_now`; the RTP timestamp is
  // extrapolated from the last packet sent to the same instant (§6.4.1: "the
  // same time as the NTP timestamp"), using the steady clock `now`.
  SenderInfo make_sender_info(uint64_t ntp_now, std::chrono::steady_clock::time_point now) const;

  // A report block about our stream arrived at wall-clock `arrival_ntp`.
  void on_report_block(const ReportBlock& block, uint64_t arrival_ntp);

  // Whether we sent RTP since the last report (decides SR vs RR, §6.4).
  bool sent_since(std::chrono::steady_clock::time_point t) const {
    return packets_ > 0 && last_sent_ >= t;
  }
  uint32_t packets_sent() const { return packets_; }
  uint32_t octets_sent() const { return octets_; }

  // From the latest report block about us.
  bool has_remote_report() const { return has_report_; }
  const ReportBlock& last_remote_report() const { return last_report_; }
  std::optional<std::chrono::nanoseconds> round_trip_time() const { return rtt_; }

 private:
  uint32_t clock_rate_;
  uint32_t packets_ = 0;
  uint32_t octets_ = 0;
  uint32_t last_rtp_timestamp_ = 0;
  std::chrono::steady_clock::time_point last_sent_{};
  ReportBlock last_report_{};
  bool has_report_ = false;
  std::optional<std::chrono::nanoseconds> rtt_;
};

}  // namespace chorus::rtp
