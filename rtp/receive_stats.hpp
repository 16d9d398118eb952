#pragma once
// Per-source reception statistics exactly as RFC 3550 Appendix A defines them:
// A.1 sequence number validation (probation, extended highest sequence with
// wrap), A.3 cumulative and fractional loss, A.8 interarrival jitter; and the
// report block a receiver sends about the source (§6.4.1), with LSR/DLSR from
// the last SR heard from it.

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "rtp/rtcp.hpp"

namespace chorus::rtp {

class ReceiveStats {
 public:
  using Clock = std::chrono::steady_clock;

  // RFC 3550 A.1 constants.
  static constexpr uint32_t kMinSequential = 2;  // packets in sequence before a source is valid
  static constexpr uint32_t kMaxDropout = 3000;
  static constexpr uint32_t kMaxMisorder = 100;

  explicit ReceiveStats(uint32_t clock_rate);

  enum class Verdict : uint8_t {
    kValid,       // counted; the source is (still) valid
    kProbation,   // counted towards probation; the source is not yet valid (A.1)
    kReordered,   // late or duplicate (within kMaxMisorder); A.1 counts it as received
    kBadSequence  // a jump beyond kMaxDropout, not counted; a second packet in
                  // sequence after it restarts the source (new base sequence)
  };
  // One received RTP packet. The verdict is advice: a jitter buffer may still
  // use a late packet. Arrival time drives the jitter estimate (A.8).
  Verdict on_packet(uint16_t sequence, uint32_t rtp_timestamp, Clock::time_point arrival,
                    size_t payload_bytes);

  // An SR from this source arrived: remember LSR and when (§6.4.1).
  void on_sender_report(uint64_t ntp_timestamp, Clock::time_point arrival);

  // The report block about this source for an SR/RR sent at `now`. Computes the
  // fraction lost since the previous call (A.3), so call it once per report.
  ReportBlock make_report_block(uint32_t source_ssrc, Clock::time_point now);

  bool valid() const { return probation_ == 0 && received_ > 0; }
  uint32_t extended_highest_sequence() const { return cycles_ + max_seq_; }
  uint32_t cycles() const { return cycles_ >> 16; }
  uint32_t expected() const;  // A.3
  uint32_t received() const { return received_; }
  int64_t cumulative_lost() const;  // expected - received (may be negative: duplicates)
  // Timestamp units (A.8), saturating at 2^32-1 for absurd inputs.
  uint32_t jitter() const {
    return static_cast<uint32_t>(std::min<uint64_t>(jitter_q4_ >> 4, 0xFFFFFFFFu));
  }
  double jitter_seconds() const;
  uint64_t bytes_received() const { return bytes_; }
  uint64_t reordered() const { return reordered_; }
  uint32_t clock_rate() const { return clock_rate_; }

  // Last fraction_lost computed by make_report_block (0-255).
  uint8_t last_fraction_lost() const { return last_fraction_; }
  // Restart statistics (new SSRC on the stream).
  void reset();

 private:
  void init_sequence(uint16_t seq);
  void update_jitter(uint32_t rtp_timestamp, Clock::time_point arrival);

  uint32_t clock_rate_;
  // A.1 source state.
  uint16_t max_seq_ = 0;
  uint32_t cycles_ = 0;  // shifted count of sequence number cycles
  uint32_t base_seq_ = 0;
  uint32_t bad_seq_ = 0;
  uint32_t probation_ = kMinSequential;
  uint32_t received_ = 0;
  uint32_t expected_prior_ = 0;
  uint32_t received_prior_ = 0;
  bool seen_any_ = false;
  // A.8 jitter: J scaled by 16 to keep integer precision; 64 bits so that
  // timestamp jumps near 2^31 cannot wrap the estimate.
  uint64_t jitter_q4_ = 0;
  uint32_t last_transit_ = 0;
  bool have_transit_ = false;
  Clock::time_point arrival_base_{};  // arrival times are taken relative to the first
  // §6.4.1 LSR / DLSR.
  uint32_t lsr_ = 0;
  Clock::time_point lsr_arrival_{};
  uint64_t bytes_ = 0;
  uint64_t reordered_ = 0;
  uint8_t last_fraction_ = 0;
};

}  // namespace chorus::rtp
