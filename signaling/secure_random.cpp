#include "signaling/secure_random.hpp"

#include <array>
#include <cstdlib>
#include <cstring>

#include <openssl/rand.h>

namespace chorus::sip {
namespace {

// One RAND_bytes call per 32 draws: tags are made per request on the
// signalling thread.
struct Pool {
  std::array<unsigned char, 256> bytes{};
  size_t used = bytes.size();
};

}  // namespace

uint64_t secure_random_u64() {
  thread_local Pool pool;
  if (pool.used + sizeof(uint64_t) > pool.bytes.size()) {
    if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1) std::abort();
    pool.used = 0;
  }
  uint64_t value = 0;
  std::memcpy(&value, pool.bytes.data() + pool.used, sizeof value);
  // Handed out once: not left behind for a later read of this memory.
  std::memset(pool.bytes.data() + pool.used, 0, sizeof value);
  pool.used += sizeof value;
  return value;
}

}  // namespace chorus::sip
