#pragma once

// Abuse limits (README "Security / Limits"): who the source of a request is,
// per-source request rate, failed digest attempts, per-source call and
// subscription caps, reflection toward third parties, global overload, and
// one log line per source and kind per interval. Every per-source table is a
// fixed array of hashed slots (4-way sets, least recently used evicted), so
// no flood of sources grows memory. Single-threaded (signalling thread).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "focus/ops/options.hpp"
#include "signaling/message/message.hpp"
#include "signaling/transaction/transaction.hpp"
#include "signaling/transport/endpoint.hpp"

namespace chorus::focus {

// An IPv4/IPv6 address or CIDR prefix ("192.0.2.0/24", "2001:db8::/32").
class AddressSet {
 public:
  AddressSet() = default;
  // Entries that do not parse are skipped (the configuration checks them).
  explicit AddressSet(const std::vector<std::string>& entries);
  bool contains(std::string_view address) const;
  bool empty() const { return prefixes_.empty(); }
  static bool valid_entry(std::string_view entry);

 private:
  struct Prefix {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};
    unsigned bits = 0;
  };
  std::vector<Prefix> prefixes_;
};

// A fixed-size table of Entry keyed by a 64-bit seeded hash: lookups touch
// one 4-slot set; a new key takes the set's free or least recently used slot.
template <class Entry>
class BoundedTable {
 public:
  explicit BoundedTable(size_t size) : slots_(round_up(size)) {}
  // The entry for `key`, created (value-initialised) when absent.
  Entry& at(uint64_t key) {
    Slot* set = &slots_[(key & (slots_.size() / kWays - 1)) * kWays];
    Slot* victim = set;
    for (size_t i = 0; i < kWays; ++i) {
      if (set[i].used != 0 && set[i].key == key) {
        set[i].used = ++clock_;
        return set[i].value;
      }
      if (set[i].used < victim->used) victim = &set[i];
    }
    if (victim->used == 0) ++occupied_;
    victim->key = key;
    victim->used = ++clock_;
    victim->value = Entry{};
    return victim->value;
  }
  const Entry* find(uint64_t key) const {
    const Slot* set = &slots_[(key & (slots_.size() / kWays - 1)) * kWays];
    for (size_t i = 0; i < kWays; ++i) {
      if (set[i].used != 0 && set[i].key == key) return &set[i].value;
    }
    return nullptr;
  }
  size_t occupied() const { return occupied_; }
  size_t capacity() const { return slots_.size(); }
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& slot : slots_) {
      if (slot.used != 0) f(slot.value);
    }
  }

 private:
  static constexpr size_t kWays = 4;
  struct Slot {
    uint64_t key = 0;
    uint64_t used = 0;  // 0: free
    Entry value{};
  };
  static size_t round_up(size_t size) {
    size_t n = kWays * 2;
    while (n < size) n *= 2;
    return n;
  }
  std::vector<Slot> slots_;
  uint64_t clock_ = 0;
  size_t occupied_ = 0;
};

// Counted in /metrics (chorus_limit_*).
struct LimitCounters {
  uint64_t rate_dropped = 0;
  uint64_t rate_rejected = 0;
  uint64_t transactions_refused = 0;  // per-source or total transaction cap
  uint64_t auth_failures = 0;
  uint64_t auth_locked = 0;    // attempts from a locked (source, account) pair
  uint64_t auth_lockouts = 0;  // pairs that became locked
  uint64_t auth_slowed = 0;    // requests deferred by account_delay
  uint64_t calls_refused = 0;  // per-source call cap
  uint64_t subscriptions_refused = 0;
  uint64_t reflection_refused = 0;
  uint64_t overload_refused = 0;
  uint64_t log_lines_suppressed = 0;
};

class AbuseGuard {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // `cpu_seconds`: CPU time the process used so far (tests inject it).
  using CpuClock = std::function<double()>;

  explicit AbuseGuard(AbuseLimits limits, Clock clock = {}, CpuClock cpu = {});

  const AbuseLimits& limits() const { return limits_; }
  // SIGHUP: new limits; the tables keep their state.
  void reconfigure(AbuseLimits limits);

  // The first untrusted hop (see AbuseLimits).
  std::string source_of(const sip::Message& request, const sip::Endpoint& peer) const;
  bool exempt(std::string_view source) const { return exempt_.contains(source); }
  // The key a source counts under in every per-source count: an exempt or
  // trusted address as itself, anything else as sip::source_key (an IPv6
  // address as its /64), so an exempt host's load never counts against its
  // /64 neighbours. Callers that keep a count keep the key with it.
  std::string count_key(std::string_view source) const;

  // Before a new server transaction exists: rate and transaction caps.
  // `peer_transactions`: live server transactions of the transport peer.
  sip::ScreenVerdict screen(const sip::Message& request, const sip::Endpoint& peer,
                            size_t live_transactions, size_t peer_transactions);

  // Failed digest attempts.
  bool auth_locked(std::string_view source, std::string_view user);
  void auth_failed(std::string_view source, std::string_view user);
  void auth_succeeded(std::string_view source, std::string_view user);
  bool account_slowed(std::string_view user);
  // A request on a slowed account waits account_delay (counted, logged).
  void account_delayed(std::string_view source, std::string_view user);
  // Counted when an attempt from a locked pair is refused.
  void locked_attempt(std::string_view source, std::string_view user);

  // Per-source calls: `key` is count_key(source address) or "account:<user>".
  bool may_add_call(const std::string& key);
  void call_added(const std::string& key);
  void call_removed(const std::string& key);
  size_t calls_from(const std::string& key) const;

  // Subscriptions (counts kept by the event service).
  bool may_subscribe(std::string_view source, size_t from_source, size_t total);

  // A request from `source` makes us send to `destination` (an address).
  // Sending back to the source itself is free only when `source_proven`:
  // the request came over a connection (TCP, TLS, WS) from that address,
  // whose handshake proves it. A UDP source may be spoofed, so what goes
  // back to it spends its reflection budget like any other destination.
  bool may_reflect(std::string_view source, std::string_view destination, bool source_proven);

  // Global overload for new INVITEs; the reason for the log when true.
  // An exempt source is not held to the CPU budget (load generators on the
  // host measure the mixer's own limit).
  bool overloaded(size_t calls, size_t transactions, bool exempt_source, std::string* why);

  // One warn line per (kind, source) per log_interval:
  //   "abuse: limit=<kind> source=<addr>[ account=<user>] suppressed=<n>"
  // Keyed by (kind, source): a spray of account names is one line too; at
  // most 100 lines per interval in all (then one "limit=log-budget" line).
  void log(std::string_view kind, std::string_view source, std::string_view account = {});

  const LimitCounters& counters() const { return counters_; }
  size_t tracked_sources() const { return buckets_.occupied(); }
  size_t locked_pairs() const;
  double cpu_percent() const { return cpu_percent_; }

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last{};
    bool primed = false;
  };
  struct AuthEntry {
    uint32_t failures = 0;
    std::chrono::steady_clock::time_point window_start{};
    std::chrono::steady_clock::time_point locked_until{};
  };
  struct LogEntry {
    std::chrono::steady_clock::time_point last{};
    uint64_t suppressed = 0;
    bool logged = false;
  };

  uint64_t hash(std::string_view a, std::string_view b = {}) const;
  bool take(BoundedTable<Bucket>& table, uint64_t key, double rate, double burst);
  void sample_cpu();

  AbuseLimits limits_;
  Clock clock_;
  CpuClock cpu_;
  uint64_t seed_;
  AddressSet trusted_;
  AddressSet exempt_;
  BoundedTable<Bucket> buckets_;
  BoundedTable<Bucket> reflection_;
  BoundedTable<AuthEntry> pairs_;
  BoundedTable<AuthEntry> accounts_;
  BoundedTable<LogEntry> log_lines_;
  // Bounded by the calls the focus holds.
  std::unordered_map<std::string, size_t> calls_;
  LimitCounters counters_;
  static constexpr size_t kLinesPerInterval = 100;
  std::chrono::steady_clock::time_point lines_since_{};
  size_t lines_ = 0;
  uint64_t lines_dropped_ = 0;
  std::chrono::steady_clock::time_point cpu_sampled_at_{};
  double cpu_seconds_at_ = 0;
  double cpu_percent_ = 0;
  unsigned cores_ = 1;
};

}  // namespace chorus::focus
