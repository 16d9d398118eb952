#include "signaling/message/header_name.hpp"

#include <array>

#include "signaling/message/header_params.hpp"

namespace chorus::sip {
namespace {

struct HeaderInfo {
  std::string_view name;
  char compact;  // 0 = none (RFC 3261 §7.3.3 and the IANA SIP header registry)
  bool list;     // RFC 3261 §7.3.1: value is a #element list
};

constexpr std::array<HeaderInfo, static_cast<size_t>(HeaderId::kCount)> kHeaders{{
    {"", 0, true},  // kOther: unknown headers are treated as lists when asked for values
    {"Accept", 0, true},
    {"Accept-Contact", 'a', true},
    {"Allow", 0, true},
    {"Allow-Events", 'u', true},
    {"Authorization", 0, false},
    {"Call-ID", 'i', false},
    {"Contact", 'm', true},
    {"Content-Disposition", 0, false},
    {"Content-Encoding", 'e', true},
    {"Content-Length", 'l', false},
    {"Content-Type", 'c', false},
    {"CSeq", 0, false},
    {"Event", 'o', false},
    {"Expires", 0, false},
    {"From", 'f', false},
    {"Join", 0, false},
    {"Max-Forwards", 0, false},
    {"Min-Expires", 0, false},
    {"Min-SE", 0, false},
    {"Proxy-Authenticate", 0, false},
    {"Proxy-Authorization", 0, false},
    {"Proxy-Require", 0, true},
    {"Reason", 0, true},
    {"Record-Route", 0, true},
    {"Refer-To", 'r', false},
    {"Referred-By", 'b', false},
    {"Reject-Contact", 'j', true},
    {"Replaces", 0, false},
    {"Request-Disposition", 'd', true},
    {"Require", 0, true},
    {"Retry-After", 0, false},
    {"Route", 0, true},
    {"Session-Expires", 'x', false},
    {"Subject", 's', false},
    {"Subscription-State", 0, false},
    {"Supported", 'k', true},
    {"Target-Dialog", 0, false},
    {"To", 't', false},
    {"Unsupported", 0, true},
    {"Via", 'v', true},
    {"Warning", 0, true},
    {"WWW-Authenticate", 0, false},
    {"Identity", 'y', false},
    {"Date", 0, false},
    {"Timestamp", 0, false},
    {"User-Agent", 0, false},
    {"Server", 0, false},
    {"Organization", 0, false},
    {"Priority", 0, false},
    {"MIME-Version", 0, false},
    {"Reply-To", 0, false},
    {"Content-Transfer-Encoding", 0, false},
}};

constexpr char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

struct Bucket {
  uint8_t count = 0;
  uint8_t ids[16] = {};
};

// Header ids by name length, built at compile time from kHeaders.
constexpr std::array<Bucket, 32> make_buckets() {
  std::array<Bucket, 32> buckets{};
  for (size_t i = 1; i < kHeaders.size(); ++i) {
    auto& b = buckets[kHeaders[i].name.size()];
    b.ids[b.count++] = static_cast<uint8_t>(i);
  }
  return buckets;
}
constexpr std::array<Bucket, 32> kByLength = make_buckets();

}  // namespace

HeaderId header_id(std::string_view name) {
  if (name.empty()) return HeaderId::kOther;
  if (name.size() == 1) {
    const char c = lower(name[0]);
    for (size_t i = 1; i < kHeaders.size(); ++i) {
      if (kHeaders[i].compact == c) return static_cast<HeaderId>(i);
    }
    return HeaderId::kOther;
  }
  // Candidates bucketed by length, then first/last letter, then the full
  // compare (this runs once per header line of every message).
  if (name.size() >= kByLength.size()) return HeaderId::kOther;
  const auto& bucket = kByLength[name.size()];
  const char first = lower(name[0]);
  const char last = lower(name.back());
  for (uint8_t k = 0; k < bucket.count; ++k) {
    const auto& h = kHeaders[bucket.ids[k]];
    if (lower(h.name[0]) == first && lower(h.name.back()) == last && iequals(h.name, name)) {
      return static_cast<HeaderId>(bucket.ids[k]);
    }
  }
  return HeaderId::kOther;
}

std::string_view header_canonical_name(HeaderId id) {
  return kHeaders[static_cast<size_t>(id)].name;
}

bool header_is_list(HeaderId id) {
  if (id == HeaderId::kOther) return true;
  return kHeaders[static_cast<size_t>(id)].list;
}

}  // namespace chorus::sip
