// What answering a connectivity check allocates, on the shard thread: nothing.
// - Chorus's code and libnice's message handling (which builds in the
//   caller's buffer): no operator new, counted by rtp/alloc_counter.hpp.
// - Every malloc, C libraries included: under ASan, its malloc hook sees them
//   all. libnice 0.1.21's own HMAC-SHA1 (stun_sha1 over GnuTLS's
//   gnutls_hmac_init) mallocs twice per MESSAGE-INTEGRITY, so the responder
//   verifies and signs with nettle's on a pre-keyed context instead; the
//   demux and the consent timer make none either.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

#include "rtp/alloc_counter.hpp"
#include "webrtc/check_sender.hpp"
#include "webrtc/consent_timer.hpp"
#include "webrtc/demux.hpp"
#include "webrtc/stun_responder.hpp"

CHORUS_DEFINE_COUNTING_NEW();

// libasan's hook registration (sanitizer/allocator_interface.h, which GCC does
// not install); weak, so a build without ASan links and skips that part.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             size_t),
                                                         void (*free_hook)(const volatile void*))
    __attribute__((weak));

namespace chorus::webrtc {
namespace {

thread_local uint64_t t_mallocs = 0;
bool g_hooked = false;
void on_malloc(const volatile void*, size_t) {
  ++t_mallocs;
}
void on_free(const volatile void*) {}

bool hook_mallocs() {
  if (!g_hooked && __sanitizer_install_malloc_and_free_hooks != nullptr) {
    g_hooked = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
  }
  return g_hooked;
}

const uint16_t kKnown[] = {
    STUN_ATTRIBUTE_USERNAME,           STUN_ATTRIBUTE_MESSAGE_INTEGRITY, STUN_ATTRIBUTE_ERROR_CODE,
    STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, STUN_ATTRIBUTE_FINGERPRINT,       STUN_ATTRIBUTE_PRIORITY,
    STUN_ATTRIBUTE_USE_CANDIDATE,      STUN_ATTRIBUTE_ICE_CONTROLLING,   0};

TEST(StunAlloc, AnsweringChecksAllocatesNothingOfOurOwn) {
  // Requests prepared up front: the browser's side is not measured.
  constexpr int kChecks = 200;
  const std::string user = "ChRs:BrWs";
  const std::string pwd = "chorus-local-password-0123";
  const std::string bad = "chorus-local-password-XXXX";
  StunAgent browser;
  stun_agent_init(&browser, kKnown, STUN_COMPATIBILITY_RFC5389,
                  static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                   STUN_AGENT_USAGE_USE_FINGERPRINT));
  std::vector<std::array<uint8_t, 256>> requests(kChecks);
  std::vector<size_t> sizes(kChecks);
  for (int i = 0; i < kChecks; ++i) {
    StunMessage m;
    const std::string& key = i % 10 == 9 ? bad : pwd;  // every tenth fails integrity
    sizes[i] = stun_usage_ice_conncheck_create(
        &browser, &m, requests[i].data(), requests[i].size(),
        reinterpret_cast<const uint8_t*>(user.data()), user.size(),
        reinterpret_cast<const uint8_t*>(key.data()), key.size(), i % 2 == 0, true, 1000 + i, 0x42,
        nullptr, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    ASSERT_GT(sizes[i], 0u);
    StunTransactionId id;
    stun_message_id(&m, id);
    stun_agent_forget_transaction(&browser, id);
  }

  sockaddr_storage from{};
  auto* in = reinterpret_cast<sockaddr_in*>(&from);
  in->sin_family = AF_INET;
  in->sin_port = htons(40000);
  inet_pton(AF_INET, "127.0.0.2", &in->sin_addr);
  StunResponder responder("ChRs", pwd, "BrWs");
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  ConsentTimer consent(t0);
  std::array<uint8_t, StunResponder::kMaxResponse> out{};
  // Warm-up: the thread's agent.
  (void)responder.on_request({requests[0].data(), sizes[0]}, from, sizeof(sockaddr_in), out);

  const bool hooked = hook_mallocs();
  const uint64_t news_before = rtp::alloc::count();
  const uint64_t mallocs_before = t_mallocs;
  int valid = 0;
  for (int i = 0; i < kChecks; ++i) {
    const std::span<const uint8_t> datagram(requests[i].data(), sizes[i]);
    if (classify(datagram) != PacketKind::kStun) continue;
    const StunResult r = responder.on_request(datagram, from, sizeof(sockaddr_in), out);
    if (r.valid()) {
      ++valid;
      consent.answered(t0 + std::chrono::seconds(i));
    }
  }
  const uint64_t news = rtp::alloc::count() - news_before;
  const uint64_t mallocs = t_mallocs - mallocs_before;
  EXPECT_EQ(valid, kChecks - kChecks / 10);
  EXPECT_EQ(responder.counters().bad_integrity, static_cast<uint64_t>(kChecks / 10));
  EXPECT_EQ(news, 0u);
  if (!hooked) GTEST_SKIP() << "no ASan malloc hook in this build: mallocs not counted";
  std::printf("mallocs in %d checks (%d valid): %llu\n", kChecks, valid,
              static_cast<unsigned long long>(mallocs));
  EXPECT_EQ(mallocs, 0u) << "C-level mallocs while answering checks";
  RecordProperty("mallocs_per_check", std::to_string(static_cast<double>(mallocs) / kChecks));
}

// The stream's own checks on the shard thread: ids from the pre-keyed
// generator, requests and the check of their answers signed and verified
// with nettle, so nothing allocates, in C or C++.
TEST(StunAlloc, SendingOurChecksAndVerifyingTheirAnswersAllocatesNothingEvenInC) {
  const std::string pwd = "browser-remote-password-0123";
  CheckSender sender("ChRs", "BrWs", pwd);  // keyed off the measured path
  StunResponder browser("BrWs", pwd, "ChRs", StunResponder::Role::kControlling);
  sockaddr_storage from{};
  auto* in = reinterpret_cast<sockaddr_in*>(&from);
  in->sin_family = AF_INET;
  in->sin_port = htons(40000);
  inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
  std::array<uint8_t, CheckSender::kMaxRequest> request{};
  std::array<uint8_t, StunResponder::kMaxResponse> answer{};
  constexpr int kChecks = 100;
  std::vector<std::pair<TransactionId, std::vector<uint8_t>>> answers(kChecks);
  for (auto& [id, bytes] : answers) {  // the browser's side, not measured
    id = sender.next_id();
    const size_t n = sender.request(request, id);
    const StunResult r = browser.on_request({request.data(), n}, from, sizeof(sockaddr_in), answer);
    ASSERT_TRUE(r.valid());
    bytes.assign(answer.begin(), answer.begin() + static_cast<std::ptrdiff_t>(r.response_size));
  }
  const bool hooked = hook_mallocs();
  const uint64_t news_before = rtp::alloc::count();
  const uint64_t mallocs_before = t_mallocs;
  int verified = 0;
  for (const auto& [id, bytes] : answers) {
    const TransactionId fresh = sender.next_id();
    (void)sender.next_random();
    if (sender.request(request, fresh) == 0) continue;
    if (sender.answers(bytes, id)) ++verified;
  }
  EXPECT_EQ(verified, kChecks);
  EXPECT_EQ(rtp::alloc::count() - news_before, 0u);
  if (!hooked) GTEST_SKIP() << "no ASan malloc hook in this build: mallocs not counted";
  EXPECT_EQ(t_mallocs - mallocs_before, 0u) << "C-level mallocs in our checks";
}

TEST(StunAlloc, DemuxAndConsentAllocateNothingEvenInC) {
  const bool hooked = hook_mallocs();
  std::array<uint8_t, 64> datagram{};
  const auto t0 = std::chrono::steady_clock::time_point{};
  ConsentTimer consent(t0);
  const uint64_t news_before = rtp::alloc::count();
  const uint64_t mallocs_before = t_mallocs;
  int kinds[5] = {};
  for (int b = 0; b < 256; ++b) {
    datagram[0] = static_cast<uint8_t>(b);
    datagram[1] = static_cast<uint8_t>(200 + b % 40);
    ++kinds[static_cast<int>(classify(datagram))];
    consent.answered(t0 + std::chrono::milliseconds(b));
  }
  EXPECT_EQ(rtp::alloc::count() - news_before, 0u);
  if (hooked) {
    EXPECT_EQ(t_mallocs - mallocs_before, 0u);
  }
  EXPECT_EQ(kinds[static_cast<int>(PacketKind::kStun)], 4);
  EXPECT_EQ(kinds[static_cast<int>(PacketKind::kDtls)], 44);
  EXPECT_FALSE(consent.expired(t0 + std::chrono::seconds(30)));
}

}  // namespace
}  // namespace chorus::webrtc

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
