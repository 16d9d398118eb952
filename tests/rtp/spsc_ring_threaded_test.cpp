// The SPSC ring across two threads (run under TSan by the "threaded" label):
// every value arrives exactly once, in order, with its payload intact.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "rtp/spsc_ring.hpp"

namespace chorus::rtp {
namespace {

struct Message {
  uint64_t sequence = 0;
  uint64_t check = 0;  // derived from sequence: a torn copy shows up
  uint8_t bytes[48] = {};
};

uint64_t check_of(uint64_t s) {
  return s * 0x9E3779B97F4A7C15ULL ^ 0xABCDEF;
}

TEST(SpscRingThreaded, ProducerAndConsumerSeeEveryMessageOnceInOrder) {
  constexpr uint64_t kMessages = 200'000;
  auto ring = std::make_unique<SpscRing<Message, 64>>();
  std::atomic<uint64_t> full_retries{0};

  std::thread producer([&] {
    uint64_t retries = 0;
    for (uint64_t s = 0; s < kMessages; ++s) {
      Message m;
      m.sequence = s;
      m.check = check_of(s);
      m.bytes[0] = static_cast<uint8_t>(s);
      m.bytes[47] = static_cast<uint8_t>(s >> 8);
      while (!ring->try_push(m)) {
        ++retries;  // full: the real producer counts and drops; here we retry
        std::this_thread::yield();
      }
    }
    full_retries = retries;
  });

  uint64_t expected = 0;
  bool ok = true;
  while (expected < kMessages) {
    Message m;
    if (!ring->try_pop(m)) {
      std::this_thread::yield();
      continue;
    }
    if (m.sequence != expected || m.check != check_of(expected) ||
        m.bytes[0] != static_cast<uint8_t>(expected) ||
        m.bytes[47] != static_cast<uint8_t>(expected >> 8)) {
      ok = false;
      break;
    }
    ++expected;
  }
  producer.join();
  EXPECT_TRUE(ok) << "first bad message at " << expected;
  EXPECT_EQ(expected, kMessages);
  Message leftover;
  EXPECT_FALSE(ring->try_pop(leftover));
}

TEST(SpscRingThreaded, FullRingRefusesInsteadOfBlocking) {
  // The consumer never runs: the producer must see refusals, not hang.
  SpscRing<uint32_t, 16> ring;
  std::atomic<int> refused{0};
  std::thread producer([&] {
    for (uint32_t i = 0; i < 100; ++i)
      if (!ring.try_push(i)) ++refused;
  });
  producer.join();
  EXPECT_EQ(refused.load(), 84);
  uint32_t v = 0;
  ASSERT_TRUE(ring.try_pop(v));
  EXPECT_EQ(v, 0u);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
