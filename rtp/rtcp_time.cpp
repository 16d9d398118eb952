#include "rtp/rtcp_time.hpp"

namespace chorus::rtp {

uint64_t to_ntp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto since_unix = duration_cast<nanoseconds>(t.time_since_epoch());
  const auto secs = floor<seconds>(since_unix);
  const uint64_t frac_ns = static_cast<uint64_t>((since_unix - secs).count());
  const uint64_t ntp_secs = static_cast<uint64_t>(secs.count()) + kNtpUnixEpochOffset;
  // fraction = ns * 2^32 / 1e9; ns < 1e9 so the product fits in 64 bits.
  const uint64_t frac = (frac_ns << 32) / 1'000'000'000ULL;
  return (ntp_secs << 32) | frac;
}

uint32_t to_compact_ntp(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return 0;
  // units = ns * 65536 / 1e9, computed without overflow for any nanoseconds.
  const uint64_t ns = static_cast<uint64_t>(d.count());
  const uint64_t secs = ns / 1'000'000'000ULL;
  const uint64_t rem = ns % 1'000'000'000ULL;
  if (secs >= 65536) return 0xFFFFFFFFu;
  return static_cast<uint32_t>((secs << 16) + (rem << 16) / 1'000'000'000ULL);
}

std::chrono::nanoseconds from_compact_ntp(uint32_t units) {
  return std::chrono::nanoseconds((uint64_t{units} * 1'000'000'000ULL) >> 16);
}

std::optional<std::chrono::nanoseconds> round_trip_time(uint32_t arrival_compact, uint32_t lsr,
                                                        uint32_t dlsr) {
  if (lsr == 0) return std::nullopt;
  // Modular 32-bit arithmetic handles the NTP seconds wrapping past 16 bits.
  const uint32_t rtt = arrival_compact - lsr - dlsr;
  if (static_cast<int32_t>(rtt) < 0) return std::nullopt;
  return from_compact_ntp(rtt);
}

}  // namespace chorus::rtp
