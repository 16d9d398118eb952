// The grant a moderator's move to another node carries (issue #17, README
// "Moving members" → "Room B on another node"; focus/services/move_grant.hpp):
// it opens room B only, until its expiry, once, and only on a node holding
// the same cluster.secret.

#include "focus/services/move_grant.hpp"

#include <gtest/gtest.h>

#include <string>

namespace chorus::focus {
namespace {

constexpr std::string_view kSecret = "0123456789abcdef-shared";
constexpr std::string_view kNonce = "00112233445566778899aabbccddeeff";
constexpr uint64_t kNow = 1'800'000'000;

using Check = MoveGrants::Check;

TEST(MoveGrantTest, AGrantHasExpiryNonceAndHexMac) {
  const MoveGrants grants{std::string(kSecret)};
  const std::string grant = grants.make("rb", kNow + 32, kNonce);
  ASSERT_EQ(grant.size(), 10 + 1 + 32 + 1 + 64);
  EXPECT_EQ(grant.substr(0, 44), "1800000032." + std::string(kNonce) + ".");
  // Only URI paramchar characters (RFC 3261 §25.1): no escaping needed.
  EXPECT_EQ(grant.find_first_not_of("0123456789abcdef."), std::string::npos);
  // Fresh nonces differ.
  EXPECT_NE(grants.make("rb", kNow + 32), grants.make("rb", kNow + 32));
}

TEST(MoveGrantTest, AGoodGrantOpensItsRoomOnceOnANodeWithTheSameSecret) {
  const MoveGrants a{std::string(kSecret)};
  MoveGrants b{std::string(kSecret)};
  const std::string grant = a.make("rb", kNow + 32);
  EXPECT_EQ(b.check(grant, "rb", kNow), Check::kValid);
  EXPECT_EQ(b.check(grant, "rb", kNow + 32), Check::kValid);  // until its expiry, inclusive
  EXPECT_EQ(b.redeem(grant, "rb", kNow + 1), Check::kValid);
  EXPECT_EQ(b.used(), 1u);
  // Single use: the second INVITE with it is an ordinary dial-in.
  EXPECT_EQ(b.redeem(grant, "rb", kNow + 2), Check::kReused);
  EXPECT_EQ(b.check(grant, "rb", kNow + 2), Check::kReused);
  // Another grant for the same room is still good.
  EXPECT_EQ(b.redeem(a.make("rb", kNow + 32), "rb", kNow + 2), Check::kValid);
}

TEST(MoveGrantTest, AGrantForAnotherRoomIsRefused) {
  MoveGrants grants{std::string(kSecret)};
  const std::string grant = grants.make("rb", kNow + 32);
  EXPECT_EQ(grants.redeem(grant, "rc", kNow), Check::kForged);
  EXPECT_EQ(grants.redeem(grant, "rb2", kNow), Check::kForged);
  EXPECT_EQ(grants.redeem(grant, "RB", kNow), Check::kForged);
  EXPECT_EQ(grants.used(), 0u);  // refused ones are not remembered
  EXPECT_EQ(grants.redeem(grant, "rb", kNow), Check::kValid);
}

TEST(MoveGrantTest, AnExpiredGrantOrOneTooLongLivedIsRefused) {
  MoveGrants grants{std::string(kSecret)};
  EXPECT_EQ(grants.redeem(grants.make("rb", kNow - 1), "rb", kNow), Check::kExpired);
  EXPECT_EQ(grants.redeem(grants.make("rb", kNow + 32), "rb", kNow + 33), Check::kExpired);
  const uint64_t longest = kNow + MoveGrants::kMaxLifetimeSeconds;
  EXPECT_EQ(grants.redeem(grants.make("rb", longest + 1), "rb", kNow), Check::kTooLong);
  EXPECT_EQ(grants.redeem(grants.make("rb", longest), "rb", kNow), Check::kValid);
}

TEST(MoveGrantTest, ATamperedGrantIsRefused) {
  MoveGrants grants{std::string(kSecret)};
  const std::string grant = grants.make("rb", kNow + 32, kNonce);
  // Each part altered by one character: the expiry pushed later, the nonce
  // changed (to pass the single-use table), one MAC digit flipped.
  std::string later = grant;
  later[9] = '9';  // 1800000039
  EXPECT_EQ(grants.redeem(later, "rb", kNow), Check::kForged);
  std::string nonce = grant;
  nonce[11] = nonce[11] == '0' ? '1' : '0';
  EXPECT_EQ(grants.redeem(nonce, "rb", kNow), Check::kForged);
  for (const size_t at : {size_t{44}, grant.size() - 1}) {
    std::string mac = grant;
    mac[at] = mac[at] == 'a' ? 'b' : 'a';
    EXPECT_EQ(grants.redeem(mac, "rb", kNow), Check::kForged) << at;
  }
  // Signed with another secret (another cluster, or a guess).
  const MoveGrants other{"another-secret-of-16+"};
  EXPECT_EQ(grants.redeem(other.make("rb", kNow + 32), "rb", kNow), Check::kForged);
  EXPECT_EQ(grants.used(), 0u);
  EXPECT_EQ(grants.redeem(grant, "rb", kNow), Check::kValid);
}

TEST(MoveGrantTest, MalformedGrantsAreRefusedBeforeAnyMac) {
  MoveGrants grants{std::string(kSecret)};
  const std::string good = grants.make("rb", kNow + 32, kNonce);
  const std::string mac = good.substr(44);
  for (const std::string& bad :
       {std::string(), std::string("."), std::string(".."), good + ".", "x" + good,
        "01800000032." + std::string(kNonce) + "." + mac,              // leading zero
        "+1800000032." + std::string(kNonce) + "." + mac,              // sign
        "99999999999999999999999." + std::string(kNonce) + "." + mac,  // > 64 bits
        "1800000032." + std::string(kNonce).substr(1) + "." + mac,     // short nonce
        "1800000032." + std::string(kNonce) + "." + mac.substr(1),     // short MAC
        "1800000032." + std::string("00112233445566778899AABBCCDDEEFF") + "." + mac,  // upper
        "1800000032%2E" + std::string(kNonce) + "." + mac}) {
    EXPECT_EQ(grants.redeem(bad, "rb", kNow), Check::kMalformed) << bad;
  }
  // make() refuses a nonce that check() would.
  EXPECT_EQ(grants.make("rb", kNow + 32, "xyz"), "");
}

TEST(MoveGrantTest, WithoutASecretNothingIsMadeOrHonoured) {
  const MoveGrants signer{std::string(kSecret)};
  MoveGrants none;
  EXPECT_FALSE(none.enabled());
  EXPECT_EQ(none.make("rb", kNow + 32), "");
  EXPECT_EQ(none.make("rb", kNow + 32, kNonce), "");
  EXPECT_EQ(none.redeem(signer.make("rb", kNow + 32), "rb", kNow), Check::kNoSecret);
  // Not even a grant made with the empty key: HMAC with "" is no secret.
  EXPECT_EQ(
      none.redeem("1800000032." + std::string(kNonce) + "." + std::string(64, '0'), "rb", kNow),
      Check::kNoSecret);
}

TEST(MoveGrantTest, UsedNoncesAreCappedAndForgottenAfterTheirExpiry) {
  MoveGrants grants{std::string(kSecret)};
  for (size_t i = 0; i < MoveGrants::kMaxUsed; ++i) {
    ASSERT_EQ(grants.redeem(grants.make("rb", kNow + 10), "rb", kNow), Check::kValid) << i;
  }
  EXPECT_EQ(grants.used(), MoveGrants::kMaxUsed);
  // Full of live nonces: a further good grant is refused, the table stays.
  EXPECT_EQ(grants.redeem(grants.make("rb", kNow + 10), "rb", kNow + 5), Check::kFull);
  EXPECT_EQ(grants.used(), MoveGrants::kMaxUsed);
  // Once they expired, their room is taken back.
  EXPECT_EQ(grants.redeem(grants.make("rb", kNow + 40), "rb", kNow + 11), Check::kValid);
  EXPECT_EQ(grants.used(), 1u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
