#pragma once
// The shared-port mode's demultiplexing tables (issue #16): which stream a
// datagram on a shard's one socket belongs to, by its source address (the
// SDP address, then the latched one) or, only where the SSRC is signalled
// (a=ssrc) or authenticated (SRTP), by its SSRC.
//
// A fixed-capacity open-addressing map (linear probing, backward-shift
// deletion, no tombstones): all memory is taken at construction, so lookups,
// inserts and erases on the shard thread never allocate. A key already
// present is never overwritten by insert(): among claims of one rank the
// first stream to claim an address or an SSRC keeps it (a later claim fails
// and the caller counts a conflict), so a member cannot take over another's
// route by signalling the same address or SSRC.
//
// Two ranks (Route::proven): a route the peer proved (the address media
// latched to, or a valid STUN check did; an SSRC SRTP authenticated) and one
// only the signalling names (the SDP's c=/m= address, an a=ssrc). The shard
// lets a proven claim take a key another stream holds only by SDP (that
// stream waits and gets it back when the proven route goes), never the
// other way round: a member's re-offer naming the address another member's
// media really comes from takes none of its packets.
//
// Below both, a WebRTC member's pending ICE candidate (Route::candidate, issue
// #18): an address a valid check nominated, unproven until it answers our
// own check (up to 39.5 s), which any member can name. Its claim catches only
// the candidate's DTLS: any other stream's claim on the address takes it, and
// RTP/RTCP from it is routed as if the claim did not exist (by SSRC, where
// one is claimed), so naming another member's address as a candidate
// silences nobody. Once the address answers, the claim is proven.

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "rtp/asio.hpp"

namespace chorus::rtp {

class Stream;

// The stream a shared-port route leads to, and whether the peer proved it
// (else the signalling only names it, or, below that, it is a WebRTC
// member's candidate waiting for the answer to our check: for its DTLS only).
struct Route {
  Stream* stream = nullptr;
  bool proven = false;
  bool candidate = false;  // never with `proven`

  // Which of two claims on one key wins: proven over named over candidate.
  int rank() const { return proven ? 2 : candidate ? 0 : 1; }
};

// A UDP source as the kernel reports it, hashable and comparable bytewise.
struct SourceKey {
  std::array<uint8_t, 16> address{};  // IPv4 in the first 4 bytes
  uint16_t port = 0;
  uint8_t family = 0;  // 4 or 6

  static SourceKey from(const boost::asio::ip::udp::endpoint& ep) {
    SourceKey k;
    k.port = ep.port();
    if (ep.address().is_v4()) {
      k.family = 4;
      const auto b = ep.address().to_v4().to_bytes();
      std::memcpy(k.address.data(), b.data(), b.size());
    } else {
      k.family = 6;
      const auto b = ep.address().to_v6().to_bytes();
      std::memcpy(k.address.data(), b.data(), b.size());
      k.unmap();
    }
    return k;
  }
  // Straight from the kernel's address, without building an endpoint.
  static SourceKey from(const sockaddr_storage& addr) {
    SourceKey k;
    if (addr.ss_family == AF_INET) {
      const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
      k.family = 4;
      k.port = ntohs(in.sin_port);
      std::memcpy(k.address.data(), &in.sin_addr, 4);
    } else if (addr.ss_family == AF_INET6) {
      const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
      k.family = 6;
      k.port = ntohs(in6.sin6_port);
      std::memcpy(k.address.data(), &in6.sin6_addr, 16);
      k.unmap();
    }
    return k;
  }
  // Per datagram on the shared port (the route lookup): two word compares,
  // not a call to memcmp.
  bool operator==(const SourceKey& o) const {
    uint64_t a[2];
    uint64_t b[2];
    std::memcpy(a, address.data(), sizeof a);
    std::memcpy(b, o.address.data(), sizeof b);
    return port == o.port && family == o.family && a[0] == b[0] && a[1] == b[1];
  }

 private:
  // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the SDP names
  // them as IPv4. Both become the IPv4 key.
  void unmap() {
    static constexpr std::array<uint8_t, 12> kPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(address.data(), kPrefix.data(), kPrefix.size()) != 0) return;
    family = 4;
    std::memmove(address.data(), address.data() + 12, 4);
    std::memset(address.data() + 4, 0, 12);
  }
};

struct SourceKeyHash {
  size_t operator()(const SourceKey& k) const {
    // FNV-1a over the bytes that matter, then a finaliser: sources that
    // differ only in the port spread over the table.
    uint64_t h = 0xcbf29ce484222325ULL;
    const size_t n = k.family == 4 ? 4 : 16;
    for (size_t i = 0; i < n; ++i) h = (h ^ k.address[i]) * 0x100000001b3ULL;
    h = (h ^ k.port) * 0x100000001b3ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return static_cast<size_t>(h ^ (h >> 32));
  }
};

struct SsrcHash {
  size_t operator()(uint32_t ssrc) const {
    uint64_t h = ssrc * 0x9E3779B97F4A7C15ULL;
    return static_cast<size_t>(h ^ (h >> 32));
  }
};

// A WebRTC member's local ICE ufrag as a shared-port route key (issue #18):
// FNV-1a 64 of its bytes. Two ufrags with one key only cost a route
// conflict; the member's STUN responder checks the whole USERNAME and
// MESSAGE-INTEGRITY before anything latches.
inline uint64_t ufrag_key(std::string_view ufrag) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : ufrag) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  return h;
}

struct UfragKeyHash {
  size_t operator()(uint64_t k) const {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    return static_cast<size_t>(k ^ (k >> 33));
  }
};

template <class Key, class Value, class Hash>
class FixedMap {
 public:
  // Room for at least `entries` keys at a load factor of at most one half.
  explicit FixedMap(size_t entries) {
    size_t capacity = 16;
    while (capacity < 2 * entries) capacity *= 2;
    slots_.resize(capacity);
    mask_ = capacity - 1;
    limit_ = capacity / 2;
  }

  // False when the key is present already (its value stays) or the map is full.
  bool insert(const Key& key, Value value) {
    if (size_ >= limit_) return false;
    for (size_t i = index(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) {
        s = Slot{key, value, true};
        ++size_;
        return true;
      }
      if (s.key == key) return false;
    }
  }
  std::optional<Value> find(const Key& key) const {
    for (size_t i = index(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return std::nullopt;
      if (s.key == key) return s.value;
    }
  }
  // The value held for `key`, to change in place; nullptr when absent.
  Value* get(const Key& key) {
    for (size_t i = index(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
  }
  // Removes `key` only while it maps to `value` (a stream never removes a
  // route another stream holds). True when removed.
  bool erase(const Key& key, Value value) {
    return erase_if(key, [&value](const Value& v) { return v == value; });
  }
  // Removes `key` only while `owns(its value)`. True when removed.
  template <class Owns>
  bool erase_if(const Key& key, Owns owns) {
    size_t i = index(key);
    for (;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return false;
      if (s.key == key) {
        if (!owns(s.value)) return false;
        break;
      }
    }
    // Backward-shift deletion: pull later members of the probe run into the
    // hole while their home slot allows it, so lookups never need tombstones.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; slots_[j].used; j = (j + 1) & mask_) {
      const size_t home = index(slots_[j].key);
      // j may move into the hole unless its home lies cyclically in (hole, j].
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole].used = false;
    --size_;
    return true;
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    Key key{};
    Value value{};
    bool used = false;
  };
  size_t index(const Key& key) const { return Hash{}(key)&mask_; }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t limit_ = 0;
  size_t size_ = 0;
};

}  // namespace chorus::rtp
