// Tags, branches and the dialog layer's draws: unique, of the promised
// shape, and not predictable from what a peer sees (RFC 3261 §19.3 wants
// tags cryptographically random; a predicted branch lets a forged response
// match one of our client transactions, §17.1.3).

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "signaling/dialog/dialog_random.hpp"
#include "signaling/message/header_via.hpp"
#include "signaling/transaction/transaction_ids.hpp"

namespace chorus::sip {
namespace {

constexpr size_t kDraws = 100000;

bool lower_hex(std::string_view text) {
  return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

uint64_t hex_value(std::string_view text) {  // most significant digit first
  uint64_t value = 0;
  for (const char c : text) {
    value = value << 4 | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return value;
}

// The Mersenne Twister (std::mt19937_64) an earlier version drew from: from
// 312 consecutive outputs an observer rebuilds its state and computes the
// next one. This is that observer.
uint64_t untemper(uint64_t y) {
  y ^= y >> 43;
  y ^= (y << 37) & 0xFFF7EEE000000000ull;
  uint64_t x = y;
  for (int i = 0; i < 4; ++i) x = y ^ ((x << 17) & 0x71D67FFFEDA60000ull);
  y = x;
  for (int i = 0; i < 3; ++i) x = y ^ ((x >> 29) & 0x5555555555555555ull);
  return x;
}

uint64_t temper(uint64_t x) {
  x ^= (x >> 29) & 0x5555555555555555ull;
  x ^= (x << 17) & 0x71D67FFFEDA60000ull;
  x ^= (x << 37) & 0xFFF7EEE000000000ull;
  return x ^ (x >> 43);
}

// The output after `seen` (at least 312 consecutive outputs), were they an
// mt19937_64's.
uint64_t mt19937_64_next(const std::vector<uint64_t>& seen) {
  const size_t k = seen.size() - 312;
  const uint64_t x0 = untemper(seen[k]);
  const uint64_t x1 = untemper(seen[k + 1]);
  const uint64_t x156 = untemper(seen[k + 156]);
  const uint64_t y = (x0 & 0xFFFFFFFF80000000ull) | (x1 & 0x7FFFFFFFull);
  return temper(x156 ^ (y >> 1) ^ ((y & 1) != 0 ? 0xB5026F5AA96619E9ull : 0));
}

TEST(RandomIds, ThePredictorFindsAMersenneTwistersNextOutput) {
  // Without this the predictability checks below could never fail.
  std::mt19937_64 engine(20240611);
  std::vector<uint64_t> seen;
  for (int i = 0; i < 400; ++i) seen.push_back(engine());
  const uint64_t next = engine();
  EXPECT_EQ(mt19937_64_next(seen), next);
}

TEST(RandomIds, TagsAre64BitHexUniqueAndUnpredictable) {  // RFC 3261 §19.3
  std::unordered_set<std::string> seen;
  std::vector<uint64_t> values;
  for (size_t i = 0; i < kDraws; ++i) {
    const std::string tag = make_tag();
    ASSERT_EQ(tag.size(), 16u) << tag;
    ASSERT_TRUE(lower_hex(tag)) << tag;
    EXPECT_TRUE(seen.insert(tag).second) << "repeated: " << tag;
    values.push_back(hex_value(tag));
  }
  std::vector<uint64_t> window(values.end() - 313, values.end() - 1);
  EXPECT_NE(mt19937_64_next(window), values.back());
}

TEST(RandomIds, BranchesCarryTheCookieAnd128BitsUniqueAndUnpredictable) {  // §8.1.1.7
  std::unordered_set<std::string> seen;
  std::vector<uint64_t> halves;
  for (size_t i = 0; i < kDraws; ++i) {
    const std::string branch = make_branch();
    ASSERT_EQ(branch.substr(0, kBranchMagicCookie.size()), kBranchMagicCookie);
    const std::string_view bits = std::string_view(branch).substr(kBranchMagicCookie.size());
    ASSERT_EQ(bits.size(), 32u) << branch;
    ASSERT_TRUE(lower_hex(bits)) << branch;
    EXPECT_TRUE(seen.insert(branch).second) << "repeated: " << branch;
    halves.push_back(hex_value(bits.substr(0, 16)));
    halves.push_back(hex_value(bits.substr(16)));
  }
  std::vector<uint64_t> window(halves.end() - 313, halves.end() - 1);
  EXPECT_NE(mt19937_64_next(window), halves.back());
}

// DialogRandom::tag() writes the least significant digit first.
uint64_t dialog_tag_value(std::string tag) {
  return hex_value(std::string(tag.rbegin(), tag.rend()));
}

TEST(RandomIds, DialogTagsAreUniqueUnpredictableAndDifferPerGenerator) {
  DialogRandom random;
  std::unordered_set<std::string> seen;
  std::vector<uint64_t> values;
  for (size_t i = 0; i < kDraws; ++i) {
    const std::string tag = random.tag();
    ASSERT_EQ(tag.size(), 16u) << tag;
    ASSERT_TRUE(lower_hex(tag)) << tag;
    EXPECT_TRUE(seen.insert(tag).second) << "repeated: " << tag;
    values.push_back(dialog_tag_value(tag));
  }
  std::vector<uint64_t> window(values.end() - 313, values.end() - 1);
  EXPECT_NE(mt19937_64_next(window), values.back());
  // Two generators made the same way do not walk the same sequence.
  DialogRandom a;
  DialogRandom b;
  std::vector<std::string> from_a;
  std::vector<std::string> from_b;
  for (int i = 0; i < 8; ++i) {
    from_a.push_back(a.tag());
    from_b.push_back(b.tag());
  }
  EXPECT_NE(from_a, from_b);
}

TEST(RandomIds, ASeededDialogRandomReplaysItsSequence) {  // what the dialog tests rely on
  DialogRandom a(42);
  DialogRandom b(42);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(a.tag(), b.tag());
    EXPECT_EQ(a.initial_cseq(), b.initial_cseq());
    EXPECT_EQ(a.glare_backoff(i % 2 == 0), b.glare_backoff(i % 2 == 0));
  }
  const uint32_t cseq = DialogRandom(7).initial_cseq();
  EXPECT_GE(cseq, 1u);
  EXPECT_LE(cseq, 0x7fffffffu);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
