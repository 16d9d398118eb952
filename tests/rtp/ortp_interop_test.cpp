// Interop with an independent RTP stack: an oRTP 5 RtpSession on 127.0.0.1
// talks to a shard stream (rtcp-mux) with a jitter profile (sender-side delays
// of 0-30 ms) and a few lost packets (sequence numbers skipped), while the
// shard echoes what it plays back to oRTP. The statistics of the two stacks
// must agree: packets, loss (RFC 3550 A.3) and interarrival jitter (A.8).
#include <ortp/ortp.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <set>

#include "tests/rtp/shard_test_support.hpp"

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;

constexpr StreamId kId = 9;
constexpr int kPackets = 120;                 // 2.4 s at 20 ms
const std::set<int> kSkipped = {30, 31, 77};  // sequence numbers never sent

class OrtpSession {
 public:
  OrtpSession() {
    ortp_init();
    session_ = rtp_session_new(RTP_SESSION_SENDRECV);
    rtp_session_set_scheduling_mode(session_, 0);
    rtp_session_set_blocking_mode(session_, 0);
    rtp_session_set_profile(session_, &av_profile);
    rtp_session_set_payload_type(session_, 0);  // PCMU, RFC 3551
    rtp_session_enable_jitter_buffer(session_, FALSE);
    rtp_session_enable_rtcp_mux(session_, TRUE);
    rtp_session_set_symmetric_rtp(session_, FALSE);
    rtp_session_set_local_addr(session_, "127.0.0.1", -1, -1);  // random port
  }
  ~OrtpSession() {
    rtp_session_destroy(session_);
    ortp_exit();
  }
  RtpSession* get() { return session_; }
  uint16_t port() const { return static_cast<uint16_t>(rtp_session_get_local_port(session_)); }

 private:
  RtpSession* session_ = nullptr;
};

// RFC 3550 A.8 on the sender's own send instants: what a receiver on a
// lossless, delay-free path (loopback) must estimate.
struct JitterReference {
  void on_send(uint32_t rtp_ts, std::chrono::steady_clock::time_point sent) {
    const double arrival = std::chrono::duration<double>(sent.time_since_epoch()).count() * 8000;
    const double transit = arrival - rtp_ts;
    if (have) jitter += (std::fabs(transit - last) - jitter) / 16;
    last = transit;
    have = true;
  }
  double ms() const { return jitter / 8.0; }
  double jitter = 0, last = 0;
  bool have = false;
};

TEST(OrtpInterop, StatsAgreeBothWaysUnderSenderJitterAndLoss) {
  testing::Peer unused;  // keeps the helper's port logic identical to other tests
  ShardConfig config = testing::loopback_config();
  config.rtcp.min_interval_seconds = 0.3;
  Shard shard(config);
  testing::Recorder echo(shard, kId, testing::Recorder::Mode::kEcho);
  testing::Driver driver(shard, &echo);
  shard.start();
  const uint16_t port = testing::open_via_command(driver, kId);
  ASSERT_NE(port, 0);

  OrtpSession ortp;
  ASSERT_NE(ortp.port(), 0);
  ASSERT_EQ(rtp_session_set_remote_addr(ortp.get(), "127.0.0.1", port), 0);
  testing::set_remote(driver, kId, {boost::asio::ip::address_v4::loopback(), ortp.port()});

  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> delay_us(0, 30'000);
  std::array<uint8_t, 160> payload{};
  JitterReference reference;
  const auto base = std::chrono::steady_clock::now();
  uint32_t recv_ts = 0;
  int sent = 0;
  for (int i = 0; i < kPackets; ++i) {
    // Sender-side jitter profile: packet i leaves 0-30 ms after its 20 ms slot
    // (never before the previous one: order is kept, spacing is not).
    std::this_thread::sleep_until(base + i * 20ms + std::chrono::microseconds(delay_us(rng)));
    const auto ts = static_cast<uint32_t>(i * 160);
    if (kSkipped.count(i) != 0) {
      ++ortp.get()->rtp.snd_seq;  // lost on the way: its sequence number is used up
      continue;
    }
    payload[0] = static_cast<uint8_t>(i);
    reference.on_send(ts, std::chrono::steady_clock::now());
    ASSERT_GT(rtp_session_send_with_ts(ortp.get(), payload.data(), payload.size(), ts), 0);
    ++sent;
    // Pump oRTP's receive side (our echo and RTCP); discard the data.
    while (mblk_t* m = rtp_session_recvm_with_ts(ortp.get(), recv_ts)) freemsg(m);
    recv_ts += 160;
  }

  // Our side about oRTP's stream.
  const auto ours = testing::stats_until(driver, kId, [&](const StreamStats& s) {
    return s.packets_received >= static_cast<uint64_t>(sent);
  });
  // Drain the last echoes into oRTP until our echo count has stopped growing
  // (the jitter buffer has played out) and oRTP took in every echo we
  // counted as sent, for five polls in a row (bounded: a lost echo still
  // fails below).
  const rtp_stats_t* theirs = rtp_session_get_stats(ortp.get());
  std::optional<StreamStats> final_ours;
  const auto until = std::chrono::steady_clock::now() + 3s;
  uint64_t last_sent = UINT64_MAX;
  int quiet = 0;
  while (std::chrono::steady_clock::now() < until && quiet < 5) {
    while (mblk_t* m = rtp_session_recvm_with_ts(ortp.get(), recv_ts)) freemsg(m);
    recv_ts += 160;
    std::this_thread::sleep_for(20ms);
    while (mblk_t* m = rtp_session_recvm_with_ts(ortp.get(), recv_ts)) freemsg(m);
    recv_ts += 160;
    final_ours = testing::request_stats(driver, kId);
    ASSERT_TRUE(final_ours.has_value());
    const bool stable =
        final_ours->packets_sent == last_sent && theirs->packet_recv >= final_ours->packets_sent;
    quiet = stable ? quiet + 1 : 0;
    last_sent = final_ours->packets_sent;
  }
  ASSERT_TRUE(final_ours.has_value());

  std::printf(
      "oRTP sent %llu, we received %llu, lost %lld; jitter ours %.2f ms, reference %.2f ms; we "
      "sent %llu, oRTP received %llu; RTCP to oRTP %llu\n",
      static_cast<unsigned long long>(theirs->packet_sent),
      static_cast<unsigned long long>(ours.packets_received),
      static_cast<long long>(ours.cumulative_lost), ours.jitter_ms, reference.ms(),
      static_cast<unsigned long long>(final_ours->packets_sent),
      static_cast<unsigned long long>(theirs->packet_recv),
      static_cast<unsigned long long>(theirs->recv_rtcp_packets));
  // Packets: what oRTP sent, we received; the skipped ones are our loss.
  EXPECT_EQ(theirs->packet_sent, static_cast<uint64_t>(sent));
  EXPECT_EQ(ours.packets_received, theirs->packet_sent);
  EXPECT_EQ(ours.cumulative_lost, static_cast<int64_t>(kSkipped.size()));
  EXPECT_EQ(ours.remote_ssrc, rtp_session_get_send_ssrc(ortp.get()));
  EXPECT_EQ(ours.drops.malformed + ours.drops.stranger + ours.drops.unknown_pt, 0u);

  // Jitter: our A.8 estimate matches the reference computed from the send
  // instants (loopback adds ~nothing) within 25% or 1.5 ms.
  const double expected_ms = reference.ms();
  EXPECT_GT(expected_ms, 3.0);  // the profile really is jittery
  EXPECT_NEAR(ours.jitter_ms, expected_ms, std::max(1.5, expected_ms * 0.25));

  // The other way: everything we sent (the echo) oRTP received, none lost.
  // (oRTP only computes its jitter figures when its own jitter buffer and
  // reports run, so there is no jitter of ours to compare on its side.)
  // (A guard that the echo ran at all: packets the jitter buffer dropped as
  // too late under load are not echoed.)
  EXPECT_GE(final_ours->packets_sent, static_cast<uint64_t>(sent) - 20);
  EXPECT_EQ(theirs->packet_recv, final_ours->packets_sent);
  EXPECT_EQ(theirs->cum_packet_loss, 0);
  // Our RTCP reports reached oRTP and it understood them (report blocks).
  EXPECT_GE(theirs->recv_rtcp_packets, 1u);
  // The jitter buffer absorbed the profile: next to no late drops.
  EXPECT_LE(ours.drops.too_late, 6u);
  EXPECT_GT(ours.jitter_buffer_average_ms, 0.0);
  shard.stop();
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
