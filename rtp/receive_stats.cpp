#include "rtp/receive_stats.hpp"

#include <algorithm>

#include "rtp/rtcp_time.hpp"

namespace chorus::rtp {
namespace {

constexpr uint32_t kSeqMod = 1u << 16;

}  // namespace

ReceiveStats::ReceiveStats(uint32_t clock_rate) : clock_rate_(clock_rate) {}

void ReceiveStats::reset() {
  *this = ReceiveStats(clock_rate_);
}

// RFC 3550 A.1 init_seq().
void ReceiveStats::init_sequence(uint16_t seq) {
  base_seq_ = seq;
  max_seq_ = seq;
  bad_seq_ = kSeqMod + 1;  // so seq == bad_seq_ is false
  cycles_ = 0;
  received_ = 0;
  received_prior_ = 0;
  expected_prior_ = 0;
}

ReceiveStats::Verdict ReceiveStats::on_packet(uint16_t seq, uint32_t rtp_timestamp,
                                              Clock::time_point arrival, size_t payload_bytes) {
  if (!seen_any_) {
    // A.1: a new source starts on probation with max_seq = seq - 1.
    init_sequence(seq);
    max_seq_ = static_cast<uint16_t>(seq - 1);
    probation_ = kMinSequential;
    seen_any_ = true;
    arrival_base_ = arrival;
  }

  // RFC 3550 A.1 update_seq().
  Verdict verdict = Verdict::kValid;
  const uint16_t udelta = static_cast<uint16_t>(seq - max_seq_);
  if (probation_ > 0) {
    if (seq == static_cast<uint16_t>(max_seq_ + 1)) {
      --probation_;
      max_seq_ = seq;
      if (probation_ == 0) {
        init_sequence(seq);
        ++received_;
      } else {
        verdict = Verdict::kProbation;
      }
    } else {
      probation_ = kMinSequential - 1;
      max_seq_ = seq;
      verdict = Verdict::kProbation;
    }
  } else if (udelta < kMaxDropout) {
    // In order, with a permissible gap; a smaller value means the 16-bit
    // sequence wrapped, so count another cycle.
    if (seq < max_seq_) cycles_ += kSeqMod;
    max_seq_ = seq;
    ++received_;
  } else if (udelta <= kSeqMod - kMaxMisorder) {
    // A very large jump: the sender may have restarted. Only believe it when
    // the next packet follows on (seq == bad_seq_).
    if (seq == bad_seq_) {
      init_sequence(seq);
      ++received_;
      // A restarted sender has a new timestamp base too: reseed the transit
      // time rather than count the jump as one huge jitter sample.
      have_transit_ = false;
    } else {
      bad_seq_ = (uint32_t{seq} + 1) & (kSeqMod - 1);
      return Verdict::kBadSequence;
    }
  } else {
    // Duplicate or reordered packet: A.1 still counts it.
    ++received_;
    ++reordered_;
    verdict = Verdict::kReordered;
  }

  bytes_ += payload_bytes;
  update_jitter(rtp_timestamp, arrival);
  return verdict;
}

// RFC 3550 A.8, with arrival converted to timestamp units. 32-bit modular
// transit differences make timestamp wrap-around harmless.
void ReceiveStats::update_jitter(uint32_t rtp_timestamp, Clock::time_point arrival) {
  const auto since = std::chrono::duration_cast<std::chrono::nanoseconds>(arrival - arrival_base_);
  const int64_t ns = since.count();
  const int64_t secs = ns / 1'000'000'000;
  const int64_t rem = ns % 1'000'000'000;
  const int64_t units = secs * clock_rate_ + rem * clock_rate_ / 1'000'000'000;
  const uint32_t transit = static_cast<uint32_t>(units) - rtp_timestamp;
  if (have_transit_) {
    int32_t d = static_cast<int32_t>(transit - last_transit_);
    const uint32_t ad =
        d < 0 ? static_cast<uint32_t>(-static_cast<int64_t>(d)) : static_cast<uint32_t>(d);
    // J += (|D| - J) / 16, kept scaled by 16: J16 += |D| - (J16 + 8) / 16.
    jitter_q4_ += ad - ((jitter_q4_ + 8) >> 4);
  }
  last_transit_ = transit;
  have_transit_ = true;
}

uint32_t ReceiveStats::expected() const {
  if (received_ == 0 && probation_ > 0) return 0;
  return extended_highest_sequence() - base_seq_ + 1;
}

int64_t ReceiveStats::cumulative_lost() const {
  return static_cast<int64_t>(expected()) - static_cast<int64_t>(received_);
}

double ReceiveStats::jitter_seconds() const {
  return clock_rate_ ? static_cast<double>(jitter()) / clock_rate_ : 0.0;
}

void ReceiveStats::on_sender_report(uint64_t ntp_timestamp, Clock::time_point arrival) {
  lsr_ = ntp_middle32(ntp_timestamp);
  lsr_arrival_ = arrival;
}

ReportBlock ReceiveStats::make_report_block(uint32_t source_ssrc, Clock::time_point now) {
  ReportBlock block;
  block.ssrc = source_ssrc;
  if (valid()) {
    // RFC 3550 A.3.
    const uint32_t expected_now = expected();
    const uint32_t expected_interval = expected_now - expected_prior_;
    expected_prior_ = expected_now;
    const uint32_t received_interval = received_ - received_prior_;
    received_prior_ = received_;
    const int64_t lost_interval =
        static_cast<int64_t>(expected_interval) - static_cast<int64_t>(received_interval);
    last_fraction_ = (expected_interval == 0 || lost_interval <= 0)
                         ? 0
                         : static_cast<uint8_t>((lost_interval << 8) / expected_interval);
    block.fraction_lost = last_fraction_;
    block.cumulative_lost =
        static_cast<int32_t>(std::clamp<int64_t>(cumulative_lost(), -0x800000, 0x7FFFFF));
    block.extended_highest_sequence = extended_highest_sequence();
    block.jitter = jitter();
  }
  if (lsr_ != 0) {
    block.lsr = lsr_;
    block.dlsr = to_compact_ntp(now - lsr_arrival_);
  }
  return block;
}

}  // namespace chorus::rtp
