#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace chorus::sip {

// The randomness dialogs need, behind one object so tests can make it
// deterministic:
//  - tags: RFC 3261 §19.3 asks for cryptographic randomness, at least 32
//    bits (a peer that can predict our next tag can forge in-dialog
//    requests to a dialog it is not in);
//  - the first local CSeq: §8.1.1.5 (any value below 2^31);
//  - the glare back-off of §14.1 and the Retry-After of §14.2.
// Default-constructed, every draw comes from OpenSSL's CSPRNG
// (secure_random.hpp); DialogRandom(seed) replays one fixed sequence from a
// Mersenne Twister and is for tests only.
class DialogRandom {
 public:
  DialogRandom() = default;
  explicit DialogRandom(uint64_t seed) : seeded_(std::in_place, seed) {}

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
  // The UniformRandomBitGenerator over whichever source this object draws from.
  struct Bits {
    using result_type = uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    result_type operator()();
    DialogRandom& random;
  };

  std::optional<std::mt19937_64> seeded_;
};

}  // namespace chorus::sip
