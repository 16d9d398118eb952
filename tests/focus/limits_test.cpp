// AbuseGuard and its bounded tables without the network (README "Security /
// Limits"): who the source is behind trusted proxies, the token bucket, the
// lockout, and that no flood of sources grows a table.

#include <gtest/gtest.h>

#include <thread>

#include "focus/ops/limits.hpp"

namespace chorus::focus {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
  AbuseGuard::Clock clock() {
    return [this] { return now; };
  }
};

sip::Message request_with_vias(std::initializer_list<std::string_view> vias) {
  std::string text = "OPTIONS sip:x@192.0.2.1 SIP/2.0\r\n";
  for (std::string_view via : vias) text += "Via: " + std::string(via) + "\r\n";
  text +=
      "From: <sip:a@b>;tag=1\r\nTo: <sip:x@192.0.2.1>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
      "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
  auto parsed = sip::Message::parse(text);
  EXPECT_TRUE(parsed.ok());
  return parsed.value();
}

TEST(AddressSet, MatchesAddressesAndPrefixes) {
  const AddressSet set({"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "bogus"});
  EXPECT_TRUE(set.contains("10.200.1.1"));
  EXPECT_TRUE(set.contains("192.0.2.7"));
  EXPECT_FALSE(set.contains("192.0.2.8"));
  EXPECT_TRUE(set.contains("[2001:db8::1]"));
  EXPECT_FALSE(set.contains("2001:db9::1"));
  EXPECT_FALSE(AddressSet::valid_entry("10.0.0.0/33"));
  EXPECT_TRUE(AddressSet::valid_entry("::1"));
}

TEST(AbuseGuard, SourceIsTheFirstViaBelowTheTrustedProxies) {
  AbuseLimits limits;
  limits.trusted_proxies = {"192.0.2.10", "192.0.2.11"};
  AbuseGuard guard(limits);
  const sip::Endpoint proxy{sip::TransportKind::kUdp, "192.0.2.10", 5060, 0};
  // Kamailio's own Via on top, then a second trusted hop, then the client
  // (received= written by the first proxy that saw it).
  const sip::Message via_two = request_with_vias(
      {"SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1", "SIP/2.0/UDP 192.0.2.11;branch=z9hG4bK2",
       "SIP/2.0/UDP 10.1.1.1:5060;received=198.51.100.7;rport=1234;branch=z9hG4bK3"});
  EXPECT_EQ(guard.source_of(via_two, proxy), "198.51.100.7");
  const sip::Message spoofed = request_with_vias({"SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1",
                                                  "SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK2",
                                                  "SIP/2.0/UDP 192.0.2.11;branch=z9hG4bK3"});
  // A Via below the first untrusted hop is the client's word: not followed.
  EXPECT_EQ(guard.source_of(spoofed, proxy), "203.0.113.5");
  // Not from a trusted proxy: the transport peer, whatever the Vias say.
  const sip::Endpoint direct{sip::TransportKind::kUdp, "203.0.113.9", 5060, 0};
  EXPECT_EQ(guard.source_of(via_two, direct), "203.0.113.9");
}

TEST(AbuseGuard, RateIsATokenBucketPerSource) {
  FakeClock clock;
  AbuseLimits limits;
  limits.rate = 10;
  limits.burst = 5;
  limits.exempt = {};
  AbuseGuard guard(limits, clock.clock());
  const sip::Message m = request_with_vias({"SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK1"});
  const sip::Endpoint a{sip::TransportKind::kUdp, "203.0.113.1", 5060, 0};
  const sip::Endpoint b{sip::TransportKind::kUdp, "203.0.113.2", 5060, 0};
  using Action = sip::ScreenVerdict::Action;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(guard.screen(m, a, 0, 0).action, Action::kAccept);
  EXPECT_EQ(guard.screen(m, a, 0, 0).action, Action::kDrop);
  EXPECT_EQ(guard.screen(m, b, 0, 0).action, Action::kAccept);  // its own bucket
  clock.now += 100ms;                                           // one token back
  EXPECT_EQ(guard.screen(m, a, 0, 0).action, Action::kAccept);
  EXPECT_EQ(guard.screen(m, a, 0, 0).action, Action::kDrop);
  EXPECT_EQ(guard.counters().rate_dropped, 2u);
  // Totals and per-source transaction caps.
  EXPECT_EQ(guard.screen(m, b, limits.max_transactions, 0).action, Action::kDrop);
  EXPECT_EQ(guard.screen(m, b, 0, limits.transactions_per_source).action, Action::kDrop);
}

TEST(AbuseGuard, ASourceFloodDoesNotGrowTheTables) {
  AbuseLimits limits;
  limits.table_size = 1024;
  limits.exempt = {};
  AbuseGuard guard(limits);
  const sip::Message m = request_with_vias({"SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK1"});
  for (uint32_t i = 0; i < 100000; ++i) {
    const std::string address = "10." + std::to_string((i >> 16) & 255) + "." +
                                std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
    guard.screen(m, {sip::TransportKind::kUdp, address, 5060, 0}, 0, 0);
    guard.auth_failed(address, "op");
  }
  EXPECT_LE(guard.tracked_sources(), 1024u);
  EXPECT_GT(guard.tracked_sources(), 900u);
  // 100,000 log lines asked for, few written (one per source and kind while
  // it stays in the table).
  EXPECT_GT(guard.counters().log_lines_suppressed, 0u);
}

TEST(AbuseGuard, LockoutPerPairSlowdownPerAccount) {
  FakeClock clock;
  AbuseLimits limits;
  limits.auth_failures = 3;
  limits.auth_lockout = 10s;
  limits.account_slow_after = 5;
  AbuseGuard guard(limits, clock.clock());
  for (int i = 0; i < 3; ++i) guard.auth_failed("203.0.113.1", "op");
  EXPECT_TRUE(guard.auth_locked("203.0.113.1", "op"));
  EXPECT_FALSE(guard.auth_locked("203.0.113.2", "op"));
  EXPECT_FALSE(guard.auth_locked("203.0.113.1", "other"));
  EXPECT_FALSE(guard.account_slowed("op"));
  guard.auth_failed("203.0.113.2", "op");
  guard.auth_failed("203.0.113.3", "op");
  EXPECT_TRUE(guard.account_slowed("op"));
  EXPECT_FALSE(guard.auth_locked("203.0.113.2", "op"));  // an account is never locked
  clock.now += 11s;
  EXPECT_FALSE(guard.auth_locked("203.0.113.1", "op"));
  EXPECT_EQ(guard.counters().auth_lockouts, 1u);
}

TEST(AbuseGuard, ReflectionOnlyTowardOthersAndOverloadBudgets) {
  FakeClock clock;
  AbuseLimits limits;
  limits.reflection_rate = 1;
  limits.reflection_burst = 2;
  limits.overload_calls = 10;
  limits.overload_transactions = 100;
  limits.overload_cpu_percent = 50;
  double cpu = 0;
  AbuseGuard guard(limits, clock.clock(), [&cpu] { return cpu; });
  // Back to a source its connection proved: free.
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(guard.may_reflect("203.0.113.1", "203.0.113.1", /*source_proven=*/true));
  }
  EXPECT_TRUE(guard.may_reflect("203.0.113.1", "198.51.100.1", false));
  EXPECT_TRUE(guard.may_reflect("203.0.113.2", "198.51.100.1", false));
  EXPECT_FALSE(guard.may_reflect("203.0.113.3", "198.51.100.1", false));  // per destination
  std::string why;
  EXPECT_FALSE(guard.overloaded(9, 99, false, &why));
  EXPECT_TRUE(guard.overloaded(10, 0, false, &why));
  EXPECT_EQ(why, "calls");
  EXPECT_TRUE(guard.overloaded(0, 100, false, &why));
  EXPECT_EQ(why, "transactions");
  clock.now += 2s;
  cpu += 2.0 * 2 * std::max(1u, std::thread::hardware_concurrency());  // every core busy
  EXPECT_TRUE(guard.overloaded(0, 0, false, &why));
  EXPECT_EQ(why, "cpu");
  EXPECT_FALSE(guard.overloaded(0, 0, true, &why));  // exempt: no CPU budget
}

TEST(SourceKey, AnIpv6SourceIsItsSlash64AndAnIpv4MappedOneItsIpv4Address) {
  EXPECT_EQ(sip::source_key("203.0.113.1"), "203.0.113.1");
  EXPECT_EQ(sip::source_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(sip::source_key("2001:db8:1:2:ffff::9"), "2001:db8:1:2::/64");
  EXPECT_EQ(sip::source_key("[2001:DB8:1:2::1]"), "2001:db8:1:2::/64");  // bracketed, upper case
  EXPECT_EQ(sip::source_key("fe80::1%eth0"), "fe80::/64");               // zone ignored
  EXPECT_EQ(sip::source_key("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(sip::source_key("::1"), "::/64");
  EXPECT_NE(sip::source_key("2001:db8:1:3::1"), sip::source_key("2001:db8:1:2::1"));
  // No address: kept as it is (account keys, WebSocket host names, junk).
  EXPECT_EQ(sip::source_key("account:bob"), "account:bob");
  EXPECT_EQ(sip::source_key("x.invalid"), "x.invalid");
  EXPECT_EQ(sip::source_key("1:2:zz::"), "1:2:zz::");
  EXPECT_EQ(sip::source_key(""), "");
}

TEST(AbuseGuard, EveryAddressOfOneIpv6Slash64CountsAsOneSource) {
  FakeClock clock;
  AbuseLimits limits;
  limits.rate = 10;
  limits.burst = 5;
  limits.exempt = {};
  limits.auth_failures = 3;
  limits.calls_per_source = 2;
  limits.reflection_rate = 1;
  limits.reflection_burst = 2;
  AbuseGuard guard(limits, clock.clock());
  const sip::Message m = request_with_vias({"SIP/2.0/UDP [2001:db8:1:2::1];branch=z9hG4bK1"});
  using Action = sip::ScreenVerdict::Action;
  // An attacker walking its /64 finds one bucket, not 2^64 of them.
  for (int i = 1; i <= 5; ++i) {
    const sip::Endpoint from{sip::TransportKind::kUdp, "2001:db8:1:2::" + std::to_string(i), 5060,
                             0};
    EXPECT_EQ(guard.screen(m, from, 0, 0).action, Action::kAccept);
  }
  const sip::Endpoint next{sip::TransportKind::kUdp, "2001:db8:1:2:abcd::6", 5060, 0};
  EXPECT_EQ(guard.screen(m, next, 0, 0).action, Action::kDrop);
  const sip::Endpoint neighbour{sip::TransportKind::kUdp, "2001:db8:1:3::1", 5060, 0};
  EXPECT_EQ(guard.screen(m, neighbour, 0, 0).action, Action::kAccept);  // another /64
  // Failed logins lock the pair whichever address of the /64 asks.
  for (int i = 1; i <= 3; ++i) guard.auth_failed("2001:db8:1:2::" + std::to_string(i), "op");
  EXPECT_TRUE(guard.auth_locked("2001:db8:1:2::99", "op"));
  EXPECT_FALSE(guard.auth_locked("2001:db8:1:3::99", "op"));
  // Calls (counted under count_key, which the caller keeps with the call):
  // two from the /64, then no third from any of its addresses.
  for (const char* address : {"2001:db8:1:2::a", "2001:db8:1:2::b"}) {
    const std::string key = guard.count_key(address);
    ASSERT_TRUE(guard.may_add_call(key));
    guard.call_added(key);
  }
  EXPECT_FALSE(guard.may_add_call(guard.count_key("2001:db8:1:2::c")));
  EXPECT_EQ(guard.calls_from(guard.count_key("2001:db8:1:2::d")), 2u);
  guard.call_removed(guard.count_key("2001:db8:1:2::a"));
  EXPECT_TRUE(guard.may_add_call(guard.count_key("2001:db8:1:2::c")));
  EXPECT_EQ(guard.count_key("account:bob"), "account:bob");  // accounts are their own key
  // A reflection victim's /64 is one destination.
  EXPECT_TRUE(guard.may_reflect("203.0.113.1", "2001:db8:9:9::1", false));
  EXPECT_TRUE(guard.may_reflect("203.0.113.1", "2001:db8:9:9::2", false));
  EXPECT_FALSE(guard.may_reflect("203.0.113.1", "[2001:db8:9:9::3]", false));
}

// A UDP source can be spoofed: a SUBSCRIBE "from" victim V with Contact V
// would send V the NOTIFYs (and their retransmissions) of a request V never
// made. So going back to the source is free only when a connection's
// handshake proved it (TCP, TLS, WS); over UDP it spends the budget of that
// destination, as any other would. Exempt sources stay exempt.
TEST(AbuseGuard, ReflectionBackToAnUnprovenUdpSourceSpendsItsBudget) {
  FakeClock clock;
  AbuseLimits limits;
  limits.exempt = {"192.0.2.53"};
  limits.reflection_rate = 5;
  limits.reflection_burst = 10;
  AbuseGuard guard(limits, clock.clock());
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(guard.may_reflect("203.0.113.7", "203.0.113.7", /*source_proven=*/false)) << i;
  }
  EXPECT_FALSE(guard.may_reflect("203.0.113.7", "203.0.113.7", false));  // the 11th
  EXPECT_EQ(guard.counters().reflection_refused, 1u);
  // The same address over TCP: its own, proven, still free.
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(guard.may_reflect("203.0.113.7", "203.0.113.7", /*source_proven=*/true)) << i;
  }
  // An IPv6 UDP source is charged under its /64, whichever address it names.
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(guard.may_reflect("2001:db8:7::1", "[2001:db8:7::1]", false)) << i;
  }
  EXPECT_FALSE(guard.may_reflect("2001:db8:7::2", "2001:db8:7::2", false));
  // An exempt source (a proxy in front) is held to no budget, UDP or not.
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(guard.may_reflect("192.0.2.53", "192.0.2.53", false));
  EXPECT_EQ(guard.counters().reflection_refused, 2u);
  // The bucket refills at reflection_rate: a phone resubscribing now and
  // then is never refused.
  clock.now += 1s;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(guard.may_reflect("203.0.113.7", "203.0.113.7", false));
  EXPECT_FALSE(guard.may_reflect("203.0.113.7", "203.0.113.7", false));
}

// An exempt host (the operator's SBC) or a trusted proxy counts as its own
// address: its load never fills the /64 its neighbours are counted under.
TEST(AbuseGuard, ExemptAndTrustedAddressesCountAsThemselvesNotAsTheirSlash64) {
  AbuseLimits limits;
  limits.exempt = {"2001:db8:5:6::10"};
  limits.trusted_proxies = {"2001:db8:5:6::20"};
  limits.calls_per_source = 1;
  AbuseGuard guard(limits);
  EXPECT_EQ(guard.count_key("2001:db8:5:6::10"), "2001:db8:5:6::10");
  EXPECT_EQ(guard.count_key("2001:db8:5:6::20"), "2001:db8:5:6::20");
  EXPECT_EQ(guard.count_key("2001:db8:5:6::30"), "2001:db8:5:6::/64");
  for (int i = 0; i < 5; ++i) {
    const std::string sbc = guard.count_key("2001:db8:5:6::10");
    ASSERT_TRUE(guard.may_add_call(sbc));  // exempt: no cap
    guard.call_added(sbc);
  }
  EXPECT_TRUE(guard.may_add_call(guard.count_key("2001:db8:5:6::30")));  // the neighbour's own
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
