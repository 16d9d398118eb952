#pragma once

#include <cstdint>

namespace chorus::sip {

// 64 bits from OpenSSL's CSPRNG, for what a peer must not predict: tags
// (RFC 3261 §19.3 asks for cryptographic randomness), branches (a guessed
// branch lets a forged response match our client transaction, §17.1.3) and
// Call-IDs. Drawn from a small per-thread buffer refilled by RAND_bytes.
// Aborts when OpenSSL has no entropy: no identifier is safe then.
uint64_t secure_random_u64();

}  // namespace chorus::sip
