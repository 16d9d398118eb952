#pragma once
// NTP timestamps as RTCP uses them (RFC 3550 §4) and round-trip time from
// report blocks (RFC 3550 §6.4.1, LSR/DLSR).

#include <chrono>
#include <cstdint>
#include <optional>

namespace chorus::rtp {

// Seconds between the NTP epoch (1900-01-01) and the Unix epoch (1970-01-01).
inline constexpr uint64_t kNtpUnixEpochOffset = 2'208'988'800ULL;

// 64-bit NTP timestamp: 32 bits of seconds, 32 bits of fraction.
uint64_t to_ntp(std::chrono::system_clock::time_point t);
inline uint64_t ntp_now() {
  return to_ntp(std::chrono::system_clock::now());
}

// The "middle 32 bits" of an NTP timestamp (16.16 fixed point), the unit of
// LSR and of round-trip arithmetic (RFC 3550 §6.4.1).
inline uint32_t ntp_middle32(uint64_t ntp) {
  return static_cast<uint32_t>(ntp >> 16);
}

// A duration in units of 1/65536 s (DLSR), saturating at 0xFFFFFFFF; negative → 0.
uint32_t to_compact_ntp(std::chrono::nanoseconds d);
std::chrono::nanoseconds from_compact_ntp(uint32_t units);

// RFC 3550 §6.4.1: RTT = A - LSR - DLSR, with A the arrival time of the report
// block in compact NTP. nullopt when LSR is 0 (no SR received yet) or the
// result would be negative (clock steps, bogus reports).
std::optional<std::chrono::nanoseconds> round_trip_time(uint32_t arrival_compact, uint32_t lsr,
                                                        uint32_t dlsr);

}  // namespace chorus::rtp
