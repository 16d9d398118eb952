#include "signaling/dialog/dialog_random.hpp"

#include "signaling/secure_random.hpp"

namespace chorus::sip {

DialogRandom::Bits::result_type DialogRandom::Bits::operator()() {
  return random.seeded_ ? (*random.seeded_)() : secure_random_u64();
}

std::string DialogRandom::tag() {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t bits = Bits{*this}();
  std::string out(16, '0');
  for (char& c : out) {
    c = kHex[bits & 0xf];
    bits >>= 4;
  }
  return out;
}

uint32_t DialogRandom::initial_cseq() {
  return uniform(1, 0x7fffffffu);
}

uint32_t DialogRandom::uniform(uint32_t lo, uint32_t hi) {
  Bits bits{*this};
  return std::uniform_int_distribution<uint32_t>(lo, hi)(bits);
}

std::chrono::milliseconds DialogRandom::glare_backoff(bool owns_call_id) {
  const uint32_t ticks = owns_call_id ? uniform(210, 400) : uniform(0, 200);
  return std::chrono::milliseconds(ticks * 10);
}

}  // namespace chorus::sip
