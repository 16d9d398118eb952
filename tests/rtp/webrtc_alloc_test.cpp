// The per-packet path of a WebRTC stream allocates nothing (issue #18): once
// STUN latched the browser stand-in and DTLS keyed SRTP, a shard receiving
// SRTP (demux, latched-address check, unprotect, consent refresh, jitter
// buffer), pulling and sending SRTP back — with RTCP reports, a check from
// the browser (STUN answer) and the stream's own consent checks (requests
// built, answers verified) inside the window — performs zero operator new calls on
// its thread over a window of steady ticks. (The STUN answer makes no C-level
// malloc either: tests/webrtc/stun_alloc_test.cpp.)
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "rtp/alloc_counter.hpp"
#include "rtp/shard.hpp"
#include "rtp/srtp.hpp"
#include "tests/rtp/shard_test_support.hpp"
#include "tests/webrtc/browser_stand_in.hpp"
#include "tests/webrtc/dtls_test_support.hpp"
#include "webrtc/demux.hpp"
#include "webrtc/dtls_transport.hpp"
#include "webrtc/dtls_worker.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;
using webrtc::testing::Datagram;

constexpr StreamId kId = 5;
constexpr uint64_t kWarmupPackets = 40;
constexpr uint64_t kWindowTicks = 60;

class SteadyEcho : public TickHandler {
 public:
  explicit SteadyEcho(Shard& shard) : shard_(shard) {}
  ~SteadyEcho() override { shard_.stop(); }

  void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
    if (Stream* s = shard_.find_stream(kId)) {
      const Slot slot = s->pull();
      if (slot.kind == SlotKind::kPacket && s->send(slot.payload_type, slot.payload, 160, false))
        played_.fetch_add(1, std::memory_order_relaxed);
    }
    const uint64_t played = played_.load(std::memory_order_relaxed);
    if (window_ticks_ == 0 && played >= kWarmupPackets) {
      before_ = alloc::count();
      window_ticks_ = 1;
      in_window_.store(true, std::memory_order_release);
    } else if (window_ticks_ > 0 && window_ticks_ < kWindowTicks) {
      if (++window_ticks_ == kWindowTicks) {
        allocations_.store(alloc::count() - before_, std::memory_order_relaxed);
        window_played_.store(played, std::memory_order_relaxed);
        done_.store(true, std::memory_order_release);
      }
    }
  }
  bool in_window() const { return in_window_.load(std::memory_order_acquire); }
  bool done() const { return done_.load(std::memory_order_acquire); }
  uint64_t allocations() const { return allocations_.load(std::memory_order_relaxed); }
  uint64_t played() const { return window_played_.load(std::memory_order_relaxed); }

 private:
  Shard& shard_;
  std::atomic<uint64_t> played_{0};
  uint64_t before_ = 0;
  uint64_t window_ticks_ = 0;
  std::atomic<bool> in_window_{false};
  std::atomic<uint64_t> allocations_{0};
  std::atomic<uint64_t> window_played_{0};
  std::atomic<bool> done_{false};
};

TEST(WebRtcAlloc, SteadySrtpOfAWebRtcStreamPerformsZeroHeapAllocationsPerPacket) {
  const webrtc::DtlsCertificate certificate = webrtc::DtlsCertificate::generate("chorus");
  const webrtc::DtlsContext context(certificate);
  webrtc::DtlsWorker worker(context, 1);
  ShardConfig config = testing::loopback_config();
  config.rtcp.min_interval_seconds = 0.2;  // RTCP reports inside the window too
  config.dtls = &worker.channel(0);
  // Consent checks of our own every ~200 ms (timeout / 6), so several of
  // them and their answers fall inside the window.
  config.consent_timeout = std::chrono::milliseconds(1200);
  Shard shard(config);
  SteadyEcho echo(shard);
  testing::Driver driver(shard, &echo);
  worker.start();
  shard.start();

  webrtc::testing::DtlsTestClient client;
  StreamConfig stream;
  WebRtcConfig w;
  w.local_ufrag.assign("ChRs");
  w.local_pwd.assign("chorus-local-password-0123");
  w.remote_ufrag.assign("BrWs");
  w.remote_pwd.assign("browser-remote-password-0123");
  w.remote_fingerprint = client.fingerprint().sha256;
  stream.webrtc = w;
  const uint16_t port = testing::open_via_command(driver, kId, stream);
  ASSERT_NE(port, 0);

  testing::Peer browser;
  browser.answer_checks("BrWs", "browser-remote-password-0123", "ChRs");
  webrtc::testing::StunClient ice;
  const auto check = [&] { return ice.check("ChRs", "BrWs", "chorus-local-password-0123"); };
  browser.send_to(port, check());
  // The browser answers the stream's check before its DTLS starts.
  const auto verified_by = std::chrono::steady_clock::now() + 3s;
  while (shard.webrtc_count(WebRtcCounter::kCheckVerified) == 0 &&
         std::chrono::steady_clock::now() < verified_by)
    browser.receive(10ms);
  ASSERT_EQ(shard.webrtc_count(WebRtcCounter::kCheckVerified), 1u);
  for (const Datagram& d : client.step()) browser.send_to(port, d);
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!client.connected() && !client.failed() && std::chrono::steady_clock::now() < until) {
    auto d = browser.receive(50ms);
    if (d && webrtc::classify(*d) == webrtc::PacketKind::kDtls) {
      client.receive(*d);
      for (const Datagram& out : client.step()) browser.send_to(port, out);
    } else if (!d && client.timer_expired()) {
      for (const Datagram& out : client.retransmit()) browser.send_to(port, out);
    }
  }
  ASSERT_TRUE(client.connected());
  const webrtc::SrtpKeys keys = client.keys();
  auto protect =
      SrtpSession::create(keys.suite, keys.outbound(), SrtpSession::Direction::kOutbound);
  ASSERT_TRUE(protect);
  while (shard.webrtc_count(WebRtcCounter::kDtlsConnected) == 0 &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);

  std::array<uint8_t, 160> payload{};
  auto next = std::chrono::steady_clock::now();
  bool checked_in_window = false;
  for (uint16_t seq = 0; seq < 250 && !echo.done(); ++seq) {
    auto pkt = testing::make_rtp(0, seq, seq * 160u, 0x2222, payload);
    size_t len = pkt.size();
    pkt.resize(len + SrtpSession::kProtectOverhead);
    ASSERT_TRUE(protect->protect_rtp(pkt.data(), len, pkt.size()));
    pkt.resize(len);
    browser.send_to(port, pkt);
    if (echo.in_window() && !checked_in_window && seq % 10 == 0) {
      browser.send_to(port, check());  // a consent check inside the window
      checked_in_window = true;
    }
    browser.receive_all(1ms);  // answers the stream's consent checks too
    next += 20ms;
    std::this_thread::sleep_until(next);
  }
  ASSERT_TRUE(echo.done()) << "the window never completed";
  EXPECT_GE(browser.checks_answered(), 5u) << "consent checks and answers ran meanwhile";
  EXPECT_EQ(echo.allocations(), 0u);
  EXPECT_GE(echo.played(), kWarmupPackets + kWindowTicks * 9 / 10);  // traffic really flowed
  EXPECT_TRUE(checked_in_window);
  EXPECT_GE(shard.webrtc_count(WebRtcCounter::kStunSuccess), 2u);
  const auto stats = testing::request_stats(driver, kId);
  ASSERT_TRUE(stats);
  EXPECT_GE(stats->packets_received, 90u);
  EXPECT_EQ(stats->drops.auth_failed, 0u);
  shard.stop();
  worker.stop();
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
