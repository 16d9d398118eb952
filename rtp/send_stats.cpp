#include "rtp/send_stats.hpp"

#include "rtp/rtcp_time.hpp"

namespace chorus::rtp {

void SendStats::on_packet_sent(uint32_t rtp_timestamp, size_t payload_bytes,
                               std::chrono::steady_clock::time_point now) {
  // The counts wrap modulo 2^32 as RFC 3550 §6.4.1 allows.
  ++packets_;
  octets_ += static_cast<uint32_t>(payload_bytes);
  last_rtp_timestamp_ = rtp_timestamp;
  last_sent_ = now;
}

SenderInfo SendStats::make_sender_info(uint64_t ntp_now,
                                       std::chrono::steady_clock::time_point now) const {
  SenderInfo info;
  info.ntp_timestamp = ntp_now;
  info.packet_count = packets_;
  info.octet_count = octets_;
  info.rtp_timestamp = last_rtp_timestamp_;
  if (packets_ > 0 && now > last_sent_) {
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(now - last_sent_).count();
    info.rtp_timestamp +=
        static_cast<uint32_t>(static_cast<uint64_t>(elapsed) * clock_rate_ / 1'000'000);
  }
  return info;
}

void SendStats::on_report_block(const ReportBlock& block, uint64_t arrival_ntp) {
  last_report_ = block;
  has_report_ = true;
  if (auto rtt = rtp::round_trip_time(ntp_middle32(arrival_ntp), block.lsr, block.dlsr)) {
    rtt_ = rtt;
  }
}

}  // namespace chorus::rtp
