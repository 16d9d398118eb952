// The stream's own Binding requests (return routability, RFC 7675): what a
// browser's ICE agent accepts and answers, and which answers prove the
// address (webrtc/check_sender.hpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <array>
#include <set>
#include <string>
#include <vector>

#include "webrtc/check_sender.hpp"
#include "webrtc/stun_client.hpp"
#include "webrtc/stun_responder.hpp"

namespace chorus::webrtc {
namespace {

const char kServerUfrag[] = "ChRs";
const char kBrowserUfrag[] = "BrWs";
const char kBrowserPwd[] = "browser-remote-password-0123";

sockaddr_storage server_address() {
  sockaddr_storage from{};
  auto* in = reinterpret_cast<sockaddr_in*>(&from);
  in->sin_family = AF_INET;
  in->sin_port = htons(40000);
  inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
  return from;
}

// The browser's side: a full, controlling agent with its own credentials.
StunResponder browser(const char* pwd = kBrowserPwd) {
  return StunResponder(kBrowserUfrag, pwd, kServerUfrag, StunResponder::Role::kControlling);
}

TEST(CheckSender, ItsRequestIsAValidCheckForTheBrowserAndTheBrowsersAnswerVerifies) {
  CheckSender sender(kServerUfrag, kBrowserUfrag, kBrowserPwd);
  const TransactionId id = sender.next_id();
  std::array<uint8_t, CheckSender::kMaxRequest> request{};
  const size_t n = sender.request(request, id);
  ASSERT_GT(n, 0u);
  EXPECT_EQ(stun_message_type({request.data(), n}), kStunBindingRequest);
  EXPECT_EQ(stun_transaction_id({request.data(), n}), id);

  StunResponder answerer = browser();
  const sockaddr_storage from = server_address();
  std::array<uint8_t, StunResponder::kMaxResponse> answer{};
  const StunResult r = answerer.on_request({request.data(), n}, from, sizeof(sockaddr_in), answer);
  ASSERT_TRUE(r.valid()) << "outcome " << static_cast<int>(r.outcome);
  EXPECT_FALSE(r.use_candidate);  // a controlled agent never nominates
  EXPECT_EQ(r.priority, CheckSender::kPriority);
  EXPECT_TRUE(sender.answers({answer.data(), r.response_size}, id));
}

// On a shared port the id names its stream (the shard routes the answer by
// it): the tag in the first 32 bits, and the browser's answer carries it.
TEST(CheckSender, ATaggedIdCarriesItsTagIntoTheAnswer) {
  CheckSender sender(kServerUfrag, kBrowserUfrag, kBrowserPwd);
  const TransactionId a = sender.next_id(0xC0DE0007u);
  const TransactionId b = sender.next_id(0xC0DE0007u);
  EXPECT_NE(a, b) << "64 unpredictable bits after the tag";
  std::array<uint8_t, CheckSender::kMaxRequest> request{};
  const size_t n = sender.request(request, a);
  EXPECT_EQ(transaction_tag({request.data(), n}), 0xC0DE0007u);
  StunResponder answerer = browser();
  const sockaddr_storage from = server_address();
  std::array<uint8_t, StunResponder::kMaxResponse> answer{};
  const StunResult r = answerer.on_request({request.data(), n}, from, sizeof(sockaddr_in), answer);
  ASSERT_TRUE(r.valid());
  EXPECT_EQ(transaction_tag({answer.data(), r.response_size}), 0xC0DE0007u);
  EXPECT_TRUE(sender.answers({answer.data(), r.response_size}, a));
  EXPECT_EQ(transaction_tag(std::vector<uint8_t>(19, 0xFF)), 0u) << "too short";
}

TEST(CheckSender, AnAnswerToAnotherIdTamperedOrRefusedProvesNothing) {
  CheckSender sender(kServerUfrag, kBrowserUfrag, kBrowserPwd);
  const TransactionId id = sender.next_id();
  std::array<uint8_t, CheckSender::kMaxRequest> request{};
  const size_t n = sender.request(request, id);
  StunResponder answerer = browser();
  const sockaddr_storage from = server_address();
  std::array<uint8_t, StunResponder::kMaxResponse> answer{};
  const StunResult r = answerer.on_request({request.data(), n}, from, sizeof(sockaddr_in), answer);
  ASSERT_TRUE(r.valid());
  const std::span<const uint8_t> good(answer.data(), r.response_size);
  EXPECT_FALSE(sender.answers(good, sender.next_id())) << "another transaction";
  std::array<uint8_t, StunResponder::kMaxResponse> tampered = answer;
  tampered[r.response_size - 12] ^= 0x01;  // inside MESSAGE-INTEGRITY
  EXPECT_FALSE(sender.answers({tampered.data(), r.response_size}, id));
  EXPECT_FALSE(sender.answers(good.first(r.response_size - 8), id)) << "cut short";
  // A browser with another password refuses the check (401): no success.
  StunResponder other = browser("someone-elses-password-0123");
  const StunResult refused =
      other.on_request({request.data(), n}, from, sizeof(sockaddr_in), answer);
  EXPECT_EQ(refused.outcome, StunOutcome::kBadIntegrity);
  EXPECT_FALSE(sender.answers({answer.data(), refused.response_size}, id));
  // A forger who knows the id but not the browser's password cannot sign.
  CheckSender forger(kServerUfrag, kBrowserUfrag, "a-guess-at-the-password-01");
  std::array<uint8_t, CheckSender::kMaxRequest> forged_request{};
  const size_t fn = forger.request(forged_request, id);
  StunResponder forging = browser("a-guess-at-the-password-01");
  const StunResult forged =
      forging.on_request({forged_request.data(), fn}, from, sizeof(sockaddr_in), answer);
  ASSERT_TRUE(forged.valid());
  EXPECT_FALSE(sender.answers({answer.data(), forged.response_size}, id));
}

TEST(CheckSender, TransactionIdsNeverRepeatAndDifferBetweenSenders) {
  CheckSender a(kServerUfrag, kBrowserUfrag, kBrowserPwd);
  CheckSender b(kServerUfrag, kBrowserUfrag, kBrowserPwd);
  std::set<TransactionId> seen;
  for (int i = 0; i < 1000; ++i) {
    seen.insert(a.next_id());
    (void)a.next_random();
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(seen.count(b.next_id()), 0u) << "keys drawn from the CSPRNG per sender";
}

}  // namespace
}  // namespace chorus::webrtc

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
