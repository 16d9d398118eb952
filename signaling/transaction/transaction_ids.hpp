#pragma once

#include <string>

namespace chorus::sip {

// RFC 3261 §8.1.1.7: a branch unique across space and time, starting with the
// magic cookie "z9hG4bK". 128 bits from a CSPRNG (secure_random.hpp), hex:
// a branch a peer could predict would let it forge responses to our client
// transactions (§17.1.3 matches them by branch).
std::string make_branch();
// RFC 3261 §19.3: a cryptographically random tag with at least 32 bits (we
// use 64 from a CSPRNG), 16 lower-case hex digits.
std::string make_tag();

}  // namespace chorus::sip
