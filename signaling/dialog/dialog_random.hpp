#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

namespace chorus::sip {

// The randomness dialogs need, behind one seedable object so tests are
// deterministic and production draws from std::random_device once.
//  - tags: RFC 3261 §19.3 asks for at least 32 bits of randomness;
//  - the first local CSeq: §8.1.1.5 (any value below 2^31);
//  - the glare back-off of §14.1 and the Retry-After of §14.2.
class DialogRandom {
 public:
  DialogRandom() : engine_(std::random_device{}()) {}
  explicit DialogRandom(uint64_t seed) : engine_(seed) {}

  // 64 random bits as 16 lower-case hex digits.
  std::string tag();
  // A first CSeq number in [1, 2^31 - 1], leaving plenty of room to increment.
  uint32_t initial_cseq();
  // Uniform integer in [lo, hi].
  uint32_t uniform(uint32_t lo, uint32_t hi);

  // RFC 3261 §14.1: after a 491 the UAC waits T, in units of 10 ms, from
  // 2.1 s to 4 s if it owns the Call-ID (it sent the dialog-creating
  // request), otherwise from 0 to 2 s.
  std::chrono::milliseconds glare_backoff(bool owns_call_id);

 private:
  std::mt19937_64 engine_;
};

}  // namespace chorus::sip
