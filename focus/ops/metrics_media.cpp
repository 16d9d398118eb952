#include "focus/ops/metrics_media.hpp"

namespace chorus::focus {
namespace {

void add_drops(rtp::DropCounters& sum, const rtp::DropCounters& d) {
  sum.malformed += d.malformed;
  sum.auth_failed += d.auth_failed;
  sum.stranger += d.stranger;
  sum.unknown_pt += d.unknown_pt;
  sum.too_late += d.too_late;
  sum.duplicate += d.duplicate;
  sum.too_large += d.too_large;
  sum.too_early += d.too_early;
  sum.send_failed += d.send_failed;
  sum.ssrc_probation += d.ssrc_probation;
  sum.webrtc_unlatched += d.webrtc_unlatched;
  sum.webrtc_plain += d.webrtc_plain;
}

}  // namespace

void MediaCounters::add(const rtp::StreamStats& stats) {
  packets_received += stats.packets_received;
  bytes_received += stats.bytes_received;
  rtcp_received += stats.rtcp_received;
  packets_sent += stats.packets_sent;
  bytes_sent += stats.bytes_sent;
  rtcp_sent += stats.rtcp_sent;
  add_drops(drops, stats.drops);
}

void MediaCounters::add(const MediaCounters& other) {
  packets_received += other.packets_received;
  bytes_received += other.bytes_received;
  rtcp_received += other.rtcp_received;
  packets_sent += other.packets_sent;
  bytes_sent += other.bytes_sent;
  rtcp_sent += other.rtcp_sent;
  add_drops(drops, other.drops);
}

void MediaTotals::on_stats(Key participant, const rtp::StreamStats& stats) {
  live_[participant] = stats;
}

void MediaTotals::on_closed(Key participant, const rtp::StreamStats& final_stats) {
  live_.erase(participant);
  retired_.add(final_stats);
}

MediaCounters MediaTotals::totals() const {
  MediaCounters sum = retired_;
  for (const auto& [id, stats] : live_) sum.add(stats);
  return sum;
}

}  // namespace chorus::focus
