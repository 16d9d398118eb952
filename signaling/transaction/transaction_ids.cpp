#include "signaling/transaction/transaction_ids.hpp"

#include <cstdint>

#include "signaling/message/header_via.hpp"
#include "signaling/secure_random.hpp"

namespace chorus::sip {
namespace {

void append_hex(std::string& out, uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out += kDigits[(value >> shift) & 0xF];
}

}  // namespace

std::string make_branch() {
  std::string out(kBranchMagicCookie);
  append_hex(out, secure_random_u64());
  append_hex(out, secure_random_u64());
  return out;
}

std::string make_tag() {
  std::string out;
  append_hex(out, secure_random_u64());
  return out;
}

}  // namespace chorus::sip
