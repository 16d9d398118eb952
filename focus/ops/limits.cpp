#include "focus/ops/limits.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

namespace chorus::focus {
namespace {

using SteadyClock = std::chrono::steady_clock;

// "[v6]" → "v6".
std::string_view bare(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool parse_address(std::string_view text, bool& v6, std::array<uint8_t, 16>& bytes) {
  const std::string address(bare(text));
  bytes = {};
  if (inet_pton(AF_INET, address.c_str(), bytes.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, address.c_str(), bytes.data()) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

double process_cpu_seconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  const auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// What a remote party chose (an account name) goes into the log only as
// printable characters without spaces, at most 64 of them.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 64)) {
    out += (c > ' ' && c < 0x7f && c != '"') ? c : '?';
  }
  return out.empty() ? std::string("-") : out;
}

}  // namespace

AddressSet::AddressSet(const std::vector<std::string>& entries) {
  for (const std::string& entry : entries) {
    const size_t slash = entry.find('/');
    Prefix prefix;
    if (!parse_address(std::string_view(entry).substr(0, slash), prefix.v6, prefix.bytes)) continue;
    const unsigned max_bits = prefix.v6 ? 128 : 32;
    prefix.bits = max_bits;
    if (slash != std::string::npos) {
      unsigned bits = 0;
      const char* first = entry.data() + slash + 1;
      const char* last = entry.data() + entry.size();
      const auto [end, error] = std::from_chars(first, last, bits);
      if (error != std::errc() || end != last || first == last || bits > max_bits) continue;
      prefix.bits = bits;
    }
    prefixes_.push_back(prefix);
  }
}

bool AddressSet::valid_entry(std::string_view entry) {
  return AddressSet(std::vector<std::string>{std::string(entry)}).prefixes_.size() == 1;
}

bool AddressSet::contains(std::string_view address) const {
  if (prefixes_.empty()) return false;
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  if (!parse_address(address, v6, bytes)) return false;
  for (const Prefix& prefix : prefixes_) {
    if (prefix.v6 != v6) continue;
    const unsigned whole = prefix.bits / 8;
    if (!std::equal(bytes.begin(), bytes.begin() + whole, prefix.bytes.begin())) continue;
    const unsigned rest = prefix.bits % 8;
    if (rest != 0) {
      const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
      if ((bytes[whole] & mask) != (prefix.bytes[whole] & mask)) continue;
    }
    return true;
  }
  return false;
}

AbuseGuard::AbuseGuard(AbuseLimits limits, Clock clock, CpuClock cpu)
    : limits_(std::move(limits)),
      clock_(clock ? std::move(clock) : Clock([] { return SteadyClock::now(); })),
      cpu_(cpu ? std::move(cpu) : CpuClock(process_cpu_seconds)),
      seed_((uint64_t(std::random_device{}()) << 32) ^ std::random_device{}()),
      trusted_(limits_.trusted_proxies),
      exempt_(limits_.exempt),
      buckets_(limits_.table_size),
      reflection_(limits_.table_size / 4),
      pairs_(limits_.table_size),
      accounts_(limits_.table_size / 4),
      log_lines_(limits_.table_size / 4),
      cores_(std::max(1u, std::thread::hardware_concurrency())) {
  cpu_sampled_at_ = clock_();
  cpu_seconds_at_ = cpu_();
}

void AbuseGuard::reconfigure(AbuseLimits limits) {
  limits_ = std::move(limits);
  trusted_ = AddressSet(limits_.trusted_proxies);
  exempt_ = AddressSet(limits_.exempt);
}

uint64_t AbuseGuard::hash(std::string_view a, std::string_view b) const {
  // FNV-1a over both parts with a per-process seed, then a finaliser: a
  // remote party cannot aim many keys at one set.
  uint64_t h = 0xcbf29ce484222325ULL ^ seed_;
  const auto feed = [&h](std::string_view text) {
    for (const char c : text) {
      h ^= static_cast<uint8_t>(c);
      h *= 0x100000001b3ULL;
    }
    h ^= 0xff;
    h *= 0x100000001b3ULL;
  };
  feed(a);
  feed(b);
  return mix(h);
}

std::string AbuseGuard::count_key(std::string_view source) const {
  if (exempt_.contains(source) || trusted_.contains(source)) return std::string(source);
  return sip::source_key(source);
}

std::string AbuseGuard::source_of(const sip::Message& request, const sip::Endpoint& peer) const {
  if (!trusted_.contains(peer.address)) return peer.address;
  // The trusted proxy's own Via is on top; each Via below names the hop it
  // received the request from (its `received`, RFC 3261 §18.2.1, else sent-by).
  const std::vector<sip::Via> vias = request.vias();
  for (size_t i = 1; i < vias.size(); ++i) {
    const std::string_view host = bare(vias[i].received().value_or(vias[i].host));
    if (!trusted_.contains(host)) return std::string(host);
  }
  return peer.address;
}

bool AbuseGuard::take(BoundedTable<Bucket>& table, uint64_t key, double rate, double burst) {
  const SteadyClock::time_point now = clock_();
  Bucket& bucket = table.at(key);
  if (!bucket.primed) {
    bucket.primed = true;
    bucket.tokens = burst;
  } else {
    const double elapsed = std::chrono::duration<double>(now - bucket.last).count();
    bucket.tokens = std::min(burst, bucket.tokens + std::max(0.0, elapsed) * rate);
  }
  bucket.last = now;
  if (bucket.tokens < 1.0) return false;
  bucket.tokens -= 1.0;
  return true;
}

sip::ScreenVerdict AbuseGuard::screen(const sip::Message& request, const sip::Endpoint& peer,
                                      size_t live_transactions, size_t peer_transactions) {
  using Action = sip::ScreenVerdict::Action;
  const std::string source = source_of(request, peer);
  if (limits_.max_transactions != 0 && live_transactions >= limits_.max_transactions) {
    ++counters_.transactions_refused;
    log("transactions-total", source);
    return {Action::kDrop};
  }
  if (exempt(source)) return {};
  if (limits_.transactions_per_source != 0 && !trusted_.contains(peer.address) &&
      peer_transactions >= limits_.transactions_per_source) {
    ++counters_.transactions_refused;
    log("transactions", source);
    return {Action::kDrop};
  }
  if (limits_.rate != 0 &&
      !take(buckets_, hash("rate", count_key(source)), limits_.rate, std::max(limits_.burst, 1u))) {
    log("rate", source);
    if (limits_.reject_over_rate) {
      ++counters_.rate_rejected;
      const uint32_t wait = std::max(1u, std::max(limits_.burst, 1u) / limits_.rate);
      return {Action::kReject, 503, wait};
    }
    ++counters_.rate_dropped;
    return {Action::kDrop};
  }
  return {};
}

bool AbuseGuard::auth_locked(std::string_view source, std::string_view user) {
  const AuthEntry* entry = pairs_.find(hash(count_key(source), user));
  return entry != nullptr && entry->locked_until > clock_();
}

void AbuseGuard::auth_failed(std::string_view source, std::string_view user) {
  ++counters_.auth_failures;
  const SteadyClock::time_point now = clock_();
  log("auth-failure", source, user);
  const auto count = [&](AuthEntry& entry) {
    if (entry.failures == 0 || now - entry.window_start > limits_.auth_window) {
      entry.failures = 0;
      entry.window_start = now;
    }
    return ++entry.failures;
  };
  AuthEntry& pair = pairs_.at(hash(count_key(source), user));
  if (limits_.auth_failures != 0 && count(pair) >= limits_.auth_failures) {
    pair.failures = 0;
    pair.locked_until = now + limits_.auth_lockout;
    ++counters_.auth_lockouts;
    log("auth-lockout", source, user);
  }
  AuthEntry& account = accounts_.at(hash("account", user));
  if (count(account) == limits_.account_slow_after) log("auth-slow", source, user);
}

void AbuseGuard::auth_succeeded(std::string_view source, std::string_view user) {
  AuthEntry& pair = pairs_.at(hash(count_key(source), user));
  if (pair.locked_until <= clock_()) pair.failures = 0;
}

bool AbuseGuard::account_slowed(std::string_view user) {
  if (limits_.account_slow_after == 0) return false;
  const AuthEntry* entry = accounts_.find(hash("account", user));
  return entry != nullptr && entry->failures >= limits_.account_slow_after &&
         clock_() - entry->window_start <= limits_.auth_window;
}

void AbuseGuard::account_delayed(std::string_view source, std::string_view user) {
  ++counters_.auth_slowed;
  log("auth-slowed", source, user);
}

void AbuseGuard::locked_attempt(std::string_view source, std::string_view user) {
  ++counters_.auth_locked;
  log("auth-locked", source, user);
}

size_t AbuseGuard::locked_pairs() const {
  const SteadyClock::time_point now = clock_();
  size_t n = 0;
  pairs_.for_each([&](const AuthEntry& entry) { n += entry.locked_until > now ? 1 : 0; });
  return n;
}

bool AbuseGuard::may_add_call(const std::string& key) {
  if (limits_.calls_per_source == 0 || exempt(key)) return true;
  if (calls_from(key) < limits_.calls_per_source) return true;
  ++counters_.calls_refused;
  log("calls", key);
  return false;
}

void AbuseGuard::call_added(const std::string& key) {
  ++calls_[key];
}

void AbuseGuard::call_removed(const std::string& key) {
  const auto it = calls_.find(key);
  if (it != calls_.end() && --it->second == 0) calls_.erase(it);
}

size_t AbuseGuard::calls_from(const std::string& key) const {
  const auto it = calls_.find(key);
  return it == calls_.end() ? 0 : it->second;
}

bool AbuseGuard::may_subscribe(std::string_view source, size_t from_source, size_t total) {
  if (limits_.max_subscriptions != 0 && total >= limits_.max_subscriptions) {
    ++counters_.subscriptions_refused;
    log("subscriptions-total", source);
    return false;
  }
  if (limits_.subscriptions_per_source == 0 || exempt(source)) return true;
  if (from_source < limits_.subscriptions_per_source) return true;
  ++counters_.subscriptions_refused;
  log("subscriptions", source);
  return false;
}

bool AbuseGuard::may_reflect(std::string_view source, std::string_view destination,
                             bool source_proven) {
  const std::string_view to = bare(destination);
  if (limits_.reflection_rate == 0 || (source_proven && to == source) || exempt(source)) {
    return true;
  }
  if (take(reflection_, hash("reflect", sip::source_key(to)), limits_.reflection_rate,
           std::max(limits_.reflection_burst, 1u))) {
    return true;
  }
  ++counters_.reflection_refused;
  log("reflection", source);
  return false;
}

void AbuseGuard::sample_cpu() {
  const SteadyClock::time_point now = clock_();
  const double elapsed = std::chrono::duration<double>(now - cpu_sampled_at_).count();
  if (elapsed < 1.0) return;
  const double cpu = cpu_();
  cpu_percent_ = 100.0 * (cpu - cpu_seconds_at_) / elapsed / cores_;
  cpu_sampled_at_ = now;
  cpu_seconds_at_ = cpu;
}

bool AbuseGuard::overloaded(size_t calls, size_t transactions, bool exempt_source,
                            std::string* why) {
  std::string_view reason;
  sample_cpu();
  if (limits_.overload_calls != 0 && calls >= limits_.overload_calls) {
    reason = "calls";
  } else if (limits_.overload_transactions != 0 && transactions >= limits_.overload_transactions) {
    reason = "transactions";
  } else if (!exempt_source && limits_.overload_cpu_percent != 0 &&
             cpu_percent_ >= limits_.overload_cpu_percent) {
    reason = "cpu";
  }
  if (reason.empty()) return false;
  ++counters_.overload_refused;
  if (why != nullptr) *why = std::string(reason);
  return true;
}

void AbuseGuard::log(std::string_view kind, std::string_view source, std::string_view account) {
  const SteadyClock::time_point now = clock_();
  LogEntry& entry = log_lines_.at(hash(kind, count_key(source)));
  if (entry.logged && now - entry.last < limits_.log_interval) {
    ++entry.suppressed;
    ++counters_.log_lines_suppressed;
    return;
  }
  // Many sources at once (spoofed UDP) are still few lines: at most
  // kLinesPerInterval per interval in all, then one summary line.
  if (now - lines_since_ >= limits_.log_interval) {
    if (lines_dropped_ != 0) {
      spdlog::warn("abuse: limit=log-budget source=- suppressed={}", lines_dropped_);
    }
    lines_since_ = now;
    lines_ = 0;
    lines_dropped_ = 0;
  }
  if (++lines_ > kLinesPerInterval) {
    ++lines_dropped_;
    ++counters_.log_lines_suppressed;
    return;
  }
  // fail2ban: failregex = abuse: limit=auth-lockout source=<HOST>
  if (account.empty()) {
    spdlog::warn("abuse: limit={} source={} suppressed={}", kind, printable(source),
                 entry.suppressed);
  } else {
    spdlog::warn("abuse: limit={} source={} account={} suppressed={}", kind, printable(source),
                 printable(account), entry.suppressed);
  }
  entry.logged = true;
  entry.last = now;
  entry.suppressed = 0;
}

}  // namespace chorus::focus
