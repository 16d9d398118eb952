// The shard's two socket I/O paths (issue #16), recvmmsg/sendmmsg and
// io_uring: packets move both ways on several streams with the kernel's
// arrival times, a stream closed while datagrams are in flight never hands
// them to the stream that takes its place, and the start-up probe's verdict
// (io_uring, or the fallback and why) is reported.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <thread>
#include <vector>

#include "rtp/shard.hpp"
#include "tests/rtp/shard_test_support.hpp"

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;
using testing::make_rtp;
using testing::open_via_command;
using testing::Peer;
using testing::Recorder;
using testing::stats_until;

const std::array<uint8_t, 160> kPayload{};

class ShardIo : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    if (GetParam() == IoBackend::kUring && !testing::uring_available())
      GTEST_SKIP() << "io_uring unavailable here";
  }
};

// Four streams, each fed by a talker at twice the tick rate: every packet is
// accepted, none counted lost, and the RFC 3550 A.8
// jitter stays near zero, which only holds if each datagram keeps its own
// kernel arrival time (with the drain time, two packets a tick would share one
// arrival and the jitter would settle near 10 ms). Stream 1 echoes back.
TEST_P(ShardIo, StreamsReceiveEveryPacketWithItsKernelArrivalTimeAndSendBack) {
  Shard shard(testing::loopback_config(20, GetParam()));
  ASSERT_EQ(shard.io_backend(), GetParam());
  Recorder rec(shard, 1, Recorder::Mode::kEcho);
  testing::Driver driver(shard, &rec);
  shard.start();
  constexpr StreamId kStreams = 4;
  std::array<uint16_t, kStreams> ports{};
  for (StreamId id = 1; id <= kStreams; ++id) {
    ports[id - 1] = open_via_command(driver, id);
    ASSERT_NE(ports[id - 1], 0);
  }
  Peer peer;
  testing::set_remote(driver, 1, peer.endpoint());
  constexpr uint16_t kPackets = 60;
  // Each packet's RTP timestamp is its send instant (8 kHz units since the
  // start), so a late wake-up of this thread on a loaded machine is not
  // jitter; what is left is the receive side's stamping (and loopback).
  const auto start = std::chrono::steady_clock::now();
  auto next = start;
  for (uint16_t seq = 0; seq < kPackets; ++seq) {
    for (StreamId id = 1; id <= kStreams; ++id) {
      const auto since = std::chrono::steady_clock::now() - start;
      const auto ts = static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(since).count() * 8 / 1000);
      peer.send_to(ports[id - 1], make_rtp(0, seq, ts, 0x100 + id, kPayload, seq == 0));
    }
    next += 10ms;
    std::this_thread::sleep_until(next);
  }
  for (StreamId id = 1; id <= kStreams; ++id) {
    SCOPED_TRACE(id);
    const StreamStats s = stats_until(
        driver, id, [](const StreamStats& st) { return st.packets_received >= kPackets; });
    EXPECT_EQ(s.packets_received, kPackets);
    EXPECT_EQ(s.cumulative_lost, 0);
    EXPECT_EQ(s.drops.malformed, 0u);
    EXPECT_LT(s.jitter_ms, 4.0);
    std::printf("stream %u jitter %.2f ms\n", static_cast<unsigned>(id), s.jitter_ms);
  }
  const auto back = peer.receive_all(200ms);
  EXPECT_GE(back.size(), 10u);
  EXPECT_GT(shard.datagrams_received(), uint64_t{kPackets} * kStreams - 1);
}

// A stream closed while its talker is still sending, and another opened in
// the same tick (both commands back to back): with io_uring the new stream
// takes the closed one's slot while completions for the closed one may still
// be in the ring. The new stream must see exactly its own packets.
TEST_P(ShardIo, AStreamClosedWithDatagramsInFlightNeverFeedsItsSuccessor) {
  Shard shard(testing::loopback_config(20, GetParam()));
  testing::Driver driver(shard);
  shard.start();
  const uint16_t first = open_via_command(driver, 1);
  ASSERT_NE(first, 0);
  std::atomic<bool> talking{true};
  std::thread talker([&] {
    Peer peer;
    uint16_t seq = 0;
    // Bounded: at most 3 s of a packet every 200 us.
    for (int i = 0; i < 15000 && talking.load(); ++i, ++seq) {
      peer.send_to(first, make_rtp(0, seq, seq * 160u, 0xDEAD, kPayload));
      std::this_thread::sleep_for(200us);
    }
  });
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(testing::post_close(driver, 1));
  Command open;
  open.kind = CommandKind::kOpenStream;
  open.stream = 2;
  ASSERT_TRUE(driver.post(std::move(open)));
  const auto opened = testing::wait_kind(driver, testing::EventKind::kStreamOpened, 2);
  talking.store(false);
  talker.join();
  ASSERT_TRUE(opened.has_value());
  const uint16_t second = opened->local_port;
  ASSERT_NE(second, first);  // the first port is free only once its close is seen
  Peer peer;
  constexpr uint16_t kPackets = 20;
  for (uint16_t seq = 0; seq < kPackets; ++seq) {
    peer.send_to(second, make_rtp(0, seq, seq * 160u, 0xBEEF, kPayload));
    std::this_thread::sleep_for(5ms);
  }
  const StreamStats s =
      stats_until(driver, 2, [](const StreamStats& st) { return st.packets_received >= kPackets; });
  std::this_thread::sleep_for(60ms);
  const StreamStats later = stats_until(driver, 2, [](const StreamStats&) { return true; });
  EXPECT_EQ(s.packets_received, kPackets);
  EXPECT_EQ(later.packets_received, kPackets);
  EXPECT_EQ(later.remote_ssrc, 0xBEEFu);
}

// With io_uring the sockets are used through the ring's fixed-file table,
// which holds a reference to each: a closed stream's ports must come free
// all the same (the table lets go before the socket closes), on either
// backend.
TEST_P(ShardIo, AClosedStreamsPortsCanBeBoundAgain) {
  Shard shard(testing::loopback_config(20, GetParam()));
  testing::Driver driver(shard);
  shard.start();
  const uint16_t port = open_via_command(driver, 1);
  ASSERT_NE(port, 0);
  if (GetParam() == IoBackend::kUring) {
    EXPECT_GE(shard.io_fixed_sockets(), 1u) << "sockets are not in the fixed-file table";
  } else {
    EXPECT_EQ(shard.io_fixed_sockets(), 0u);
  }
  Peer peer;
  peer.send_to(port, make_rtp(0, 1, 160, 0x77, kPayload, true));
  stats_until(driver, 1, [](const StreamStats& st) { return st.packets_received >= 1; });
  ASSERT_TRUE(testing::post_close(driver, 1));
  ASSERT_TRUE(testing::wait_kind(driver, testing::EventKind::kStreamClosed, 1).has_value());
  EXPECT_EQ(shard.io_fixed_sockets(), 0u);
  // Kernels before 6.4 drop a fixed file's last reference from a worker,
  // up to ~100 ms later: bounded retries.
  bool bound = false;
  for (int i = 0; i < 50 && !bound; ++i) {
    boost::asio::io_context io;
    boost::asio::ip::udp::socket s(io, boost::asio::ip::udp::v4());
    boost::system::error_code ec;
    s.bind({boost::asio::ip::address_v4::loopback(), port}, ec);
    bound = !ec;
    if (!bound) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(bound) << "port " << port << " still bound 1 s after its stream closed";
}

// A datagram larger than a receive buffer (2048 bytes) is cut by the kernel
// (MSG_TRUNC): dropped and counted as malformed, and the packets around it
// still arrive.
TEST_P(ShardIo, ADatagramLargerThanABufferIsCountedAsTruncated) {
  Shard shard(testing::loopback_config(20, GetParam()));
  testing::Driver driver(shard);
  shard.start();
  const uint16_t port = open_via_command(driver, 1);
  ASSERT_NE(port, 0);
  Peer peer;
  std::vector<uint8_t> huge(3000, 0x80);
  peer.send_to(port, make_rtp(0, 1, 160, 0x55, kPayload, true));
  peer.send_to(port, huge);
  peer.send_to(port, make_rtp(0, 2, 320, 0x55, kPayload));
  const StreamStats s = stats_until(driver, 1, [](const StreamStats& st) {
    return st.packets_received >= 2 && st.drops.malformed >= 1;
  });
  EXPECT_EQ(s.packets_received, 2u);
  EXPECT_EQ(s.drops.malformed, 1u);
}

// The probe's verdict: media.io = "mmsg" never tries io_uring; "uring" with
// io_uring refused (here injected, as under a seccomp filter) falls back and
// says why; either way the shard moves packets.
TEST(ShardIoFallback, RefusedIoUringFallsBackToRecvmmsgAndSaysWhy) {
  {
    Shard shard(testing::loopback_config(20, IoBackend::kMmsg));
    EXPECT_EQ(shard.io_backend(), IoBackend::kMmsg);
    EXPECT_EQ(shard.io_error(), 0);
  }
  ShardConfig config = testing::loopback_config(20, IoBackend::kUring);
  config.test_uring_unavailable = true;
  Shard shard(config);
  EXPECT_EQ(shard.io_backend(), IoBackend::kMmsg);
  EXPECT_EQ(shard.io_error(), ENOSYS);
  Recorder rec(shard, 1, Recorder::Mode::kEcho);
  testing::Driver driver(shard, &rec);
  shard.start();
  const uint16_t port = open_via_command(driver, 1);
  ASSERT_NE(port, 0);
  Peer peer;
  testing::set_remote(driver, 1, peer.endpoint());
  for (uint16_t seq = 0; seq < 20; ++seq) {
    peer.send_to(port, make_rtp(0, seq, seq * 160u, 0x77, kPayload, seq == 0));
    std::this_thread::sleep_for(20ms);
  }
  const StreamStats s =
      stats_until(driver, 1, [](const StreamStats& st) { return st.packets_received >= 20; });
  EXPECT_EQ(s.packets_received, 20u);
  EXPECT_FALSE(peer.receive_all(100ms).empty());
}

TEST(ShardIoFallback, AutoTakesIoUringWhenTheProbePasses) {
  Shard shard(testing::loopback_config(20, IoBackend::kAuto));
  if (shard.io_error() != 0) GTEST_SKIP() << "io_uring unavailable: " << shard.io_error();
  EXPECT_EQ(shard.io_backend(), IoBackend::kUring);
}

INSTANTIATE_TEST_SUITE_P(Backends, ShardIo, ::testing::Values(IoBackend::kMmsg, IoBackend::kUring),
                         testing::IoBackendParamName());

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
