// RTP port pool: even ports with an odd RTCP partner (RFC 3550 §11), bounded.
#include "rtp/port_pool.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace chorus::rtp {
namespace {

TEST(PortPool, HandsOutOnlyEvenPortsWhosePartnerIsInRange) {
  PortPool pool(10001, 10010);  // even ports 10002..10008 have partners <= 10010
  std::set<uint16_t> got;
  while (auto p = pool.allocate()) {
    EXPECT_EQ(*p % 2, 0);
    EXPECT_GE(*p, 10002);
    EXPECT_LE(*p + 1, 10010);
    got.insert(*p);
  }
  EXPECT_EQ(got, (std::set<uint16_t>{10002, 10004, 10006, 10008}));
  EXPECT_EQ(pool.capacity(), 4u);
}

TEST(PortPool, ExhaustionIsCountedAndReleaseMakesRoom) {
  PortPool pool(20000, 20003);
  auto a = pool.allocate();
  auto b = pool.allocate();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_EQ(pool.exhausted(), 2u);
  EXPECT_EQ(pool.in_use(), 2u);
  pool.release(*a);
  EXPECT_EQ(pool.in_use(), 1u);
  EXPECT_EQ(pool.allocate(), a);
}

TEST(PortPool, ReleasedPortIsReusedLast) {
  // Late packets of a finished call must not land in the next one.
  PortPool pool(30000, 30009);  // 5 ports
  auto first = pool.allocate();
  pool.release(*first);
  for (int i = 0; i < 4; ++i) EXPECT_NE(pool.allocate(), first);
  EXPECT_EQ(pool.allocate(), first);
}

TEST(PortPool, OneCallsPortSaysNothingOfTheNext) {
  // An outsider who sees its own call's port must not be able to aim at the
  // next call's port before that caller's packets arrive (RTP "bleed").
  PortPool a(40000, 41999);  // 1,000 ports
  PortPool b(40000, 41999);
  std::vector<uint16_t> from_a;
  std::vector<uint16_t> from_b;
  size_t adjacent = 0;
  for (int i = 0; i < 200; ++i) {
    from_a.push_back(*a.allocate());
    from_b.push_back(*b.allocate());
    if (i > 0 && (from_a[i] == from_a[i - 1] + 2 || from_a[i] + 2 == from_a[i - 1])) ++adjacent;
  }
  EXPECT_NE(from_a, from_b) << "two pools hand out ports in the same order";
  EXPECT_LT(adjacent, 10u) << "ports come out in sequence";
  EXPECT_EQ(std::set<uint16_t>(from_a.begin(), from_a.end()).size(), 200u);
  // Every port is still handed out before any comes round again.
  std::set<uint16_t> all(from_a.begin(), from_a.end());
  while (auto p = a.allocate()) EXPECT_TRUE(all.insert(*p).second);
  EXPECT_EQ(all.size(), 1000u);
}

TEST(PortPool, DegenerateRangesHoldNothing) {
  EXPECT_EQ(PortPool(40000, 40000).capacity(), 0u);
  EXPECT_EQ(PortPool(40001, 40002).capacity(), 0u);  // 40002 has no partner
  EXPECT_EQ(PortPool(50000, 40000).capacity(), 0u);
  EXPECT_EQ(PortPool(65534, 65535).capacity(), 1u);
  EXPECT_EQ(PortPool(65535, 65535).capacity(), 0u);
  PortPool empty(40000, 40000);
  EXPECT_FALSE(empty.allocate().has_value());
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
