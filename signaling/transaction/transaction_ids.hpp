#pragma once

#include <string>

namespace chorus::sip {

// RFC 3261 §8.1.1.7: a branch unique across space and time, starting with the
// magic cookie "z9hG4bK". 128 random bits, hex.
std::string make_branch();
// RFC 3261 §19.3: a tag with at least 32 random bits (we use 64), hex.
std::string make_tag();

}  // namespace chorus::sip
