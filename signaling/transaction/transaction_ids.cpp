#include "signaling/transaction/transaction_ids.hpp"

#include <cstdint>
#include <random>

#include "signaling/message/header_via.hpp"

namespace chorus::sip {
namespace {

// Seeded once per thread from the OS; identifiers need uniqueness, not
// secrecy (nonces, which need secrecy, come from OpenSSL in digest*).
std::mt19937_64& generator() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }()};
  return engine;
}

void append_hex(std::string& out, uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out += kDigits[(value >> shift) & 0xF];
}

}  // namespace

std::string make_branch() {
  std::string out(kBranchMagicCookie);
  append_hex(out, generator()());
  append_hex(out, generator()());
  return out;
}

std::string make_tag() {
  std::string out;
  append_hex(out, generator()());
  return out;
}

}  // namespace chorus::sip
