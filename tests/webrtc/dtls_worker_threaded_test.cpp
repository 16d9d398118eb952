// DTLS handshakes on the worker thread, driven the way a shard would: start,
// datagrams in, events out through a DtlsChannel's rings; keys come back in
// one kConnected event, failures as one counted kFailed.
#include "webrtc/dtls_worker.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <thread>

#include "rtp/alloc_counter.hpp"
#include "tests/webrtc/dtls_test_support.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::webrtc {
namespace {

using namespace std::chrono;
using testing::DtlsTestClient;

struct Outcome {
  DtlsEvent::Kind kind = DtlsEvent::Kind::kNone;
  DtlsFailure failure = DtlsFailure::kNone;
  SrtpKeys keys;
  int sends = 0;
};

// The shard's loop for one member: forwards the client's datagrams, delivers
// kSend events to the client, until a final event or the time bound.
Outcome drive(DtlsChannel& channel, uint64_t id, DtlsTestClient& client,
              milliseconds bound = milliseconds(5000), bool answer = true) {
  Outcome o;
  DtlsEvent event;
  for (const auto& d : client.step()) EXPECT_TRUE(channel.datagram(id, d));
  const auto start = steady_clock::now();
  while (steady_clock::now() - start < bound) {
    bool progressed = false;
    while (channel.poll(event)) {
      progressed = true;
      EXPECT_EQ(event.id, id);
      if (event.kind == DtlsEvent::Kind::kSend) {
        ++o.sends;
        if (answer) client.receive({event.bytes().begin(), event.bytes().end()});
        continue;
      }
      o.kind = event.kind;
      o.failure = event.failure;
      o.keys = event.keys;
      event.keys.wipe();
    }
    if (answer && progressed) {
      for (const auto& d : client.step()) EXPECT_TRUE(channel.datagram(id, d));
    }
    if (o.kind != DtlsEvent::Kind::kNone && (!answer || client.connected() || client.failed())) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(1));
  }
  return o;
}

struct Worker : ::testing::Test {
  DtlsCertificate cert = DtlsCertificate::generate();
};

// A running worker that drops a connected handshake after 300 ms without a
// datagram (DtlsWorker::Config::connected_idle), and a client to connect on it.
struct IdleLimitedWorker {
  static constexpr uint64_t kId = 4;

  explicit IdleLimitedWorker(const DtlsCertificate& cert)
      : context(cert), worker(context, 1, [] {
          DtlsWorker::Config wc;
          wc.connected_idle = milliseconds(300);
          return wc;
        }()) {
    worker.start();
  }
  // The client's handshake as member kId, connected.
  void connect() {
    ASSERT_TRUE(channel().start(kId, client.fingerprint()));
    ASSERT_EQ(drive(channel(), kId, client).kind, DtlsEvent::Kind::kConnected);
  }
  DtlsChannel& channel() { return worker.channel(0); }

  DtlsContext context;
  DtlsWorker worker;
  DtlsTestClient client;
};

TEST_F(Worker, HandshakeThroughTheWorkerDeliversKeysToTheShard) {
  DtlsContext context(cert);
  DtlsWorker worker(context, 2);
  worker.start();
  DtlsTestClient client;
  DtlsChannel& shard = worker.channel(1);
  ASSERT_TRUE(shard.start(42, client.fingerprint()));
  const Outcome o = drive(shard, 42, client);
  ASSERT_EQ(o.kind, DtlsEvent::Kind::kConnected) << dtls_failure_name(o.failure);
  EXPECT_TRUE(client.connected());
  EXPECT_GE(o.sends, 2);  // flight 4 and flight 6
  const SrtpKeys expected = client.keys();
  EXPECT_EQ(o.keys.suite, expected.suite);
  EXPECT_TRUE(std::ranges::equal(o.keys.inbound(), expected.outbound()));
  EXPECT_TRUE(std::ranges::equal(o.keys.outbound(), expected.inbound()));
  const auto s = worker.stats();
  EXPECT_EQ(s.started, 1u);
  EXPECT_EQ(s.connected, 1u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_TRUE(shard.stop(42));
}

TEST_F(Worker, WrongFingerprintEndsInOneCountedFailure) {
  DtlsContext context(cert);
  DtlsWorker worker(context, 1);
  worker.start();
  DtlsTestClient client;
  Fingerprint wrong = client.fingerprint();
  wrong.sha256[0] ^= 0x80;
  ASSERT_TRUE(worker.channel(0).start(7, wrong));
  const Outcome o = drive(worker.channel(0), 7, client);
  EXPECT_EQ(o.kind, DtlsEvent::Kind::kFailed);
  EXPECT_EQ(o.failure, DtlsFailure::kFingerprintMismatch);
  EXPECT_EQ(o.keys.key_salt_size, 0);
  EXPECT_FALSE(client.connected());
  const auto s = worker.stats();
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.fingerprint_mismatch, 1u);
  EXPECT_EQ(s.connected, 0u);
}

// A client that goes silent after its ClientHello: the worker retransmits on
// its timer (RFC 6347 §4.2.4) and fails the handshake at the deadline.
TEST_F(Worker, SilentClientIsRetransmittedToThenTimedOut) {
  DtlsConfig config;
  config.initial_timeout = milliseconds(20);
  DtlsContext context(cert, config);
  DtlsWorker::Config wc;
  wc.handshake_deadline = milliseconds(300);
  DtlsWorker worker(context, 1, wc);
  worker.start();
  DtlsTestClient client;
  ASSERT_TRUE(worker.channel(0).start(9, client.fingerprint()));
  const auto t0 = steady_clock::now();
  const Outcome o = drive(worker.channel(0), 9, client, milliseconds(3000), /*answer=*/false);
  EXPECT_EQ(o.kind, DtlsEvent::Kind::kFailed);
  EXPECT_EQ(o.failure, DtlsFailure::kTimeout);
  EXPECT_LT(steady_clock::now() - t0, milliseconds(2000));
  // Flight 4 once plus retransmissions at 20, 40, 80, 160 ms (each flight
  // may span datagrams): at least 3 sends before the 300 ms deadline.
  EXPECT_GE(o.sends, 3);
  EXPECT_EQ(worker.stats().timeouts, 1u);
}

TEST_F(Worker, DatagramsForNoHandshakeAreCountedAndDropped) {
  DtlsContext context(cert);
  DtlsWorker worker(context, 1);
  worker.start();
  DtlsTestClient client;
  for (const auto& d : client.step()) EXPECT_TRUE(worker.channel(0).datagram(5, d));
  const auto start = steady_clock::now();
  while (worker.stats().unknown_id == 0 && steady_clock::now() - start < seconds(2)) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(worker.stats().unknown_id, 1u);
  DtlsEvent e;
  EXPECT_FALSE(worker.channel(0).poll(e));
}

// The shard's side (start, datagram, poll) copies into ring slots: no
// allocation on the shard thread; a full ring refuses and counts.
TEST_F(Worker, ShardSideAllocatesNothingAndCountsAFullRing) {
  DtlsContext context(cert);
  DtlsWorker worker(context, 1);  // not started: nothing drains the ring
  DtlsChannel& shard = worker.channel(0);
  std::array<uint8_t, 300> record{};
  record[0] = 22;
  DtlsEvent event;
  Fingerprint f;
  const uint64_t before = rtp::alloc::count();
  int accepted = 0;
  for (int i = 0; i < 100; ++i) {
    accepted += shard.datagram(1, record) ? 1 : 0;
    (void)shard.poll(event);
  }
  accepted += shard.start(2, f) ? 1 : 0;
  EXPECT_EQ(rtp::alloc::count() - before, 0u);
  EXPECT_EQ(accepted, static_cast<int>(DtlsChannel::kRing));
  EXPECT_EQ(shard.refused(), 101u - DtlsChannel::kRing);
  std::array<uint8_t, kMaxDtlsDatagram + 1> too_big{};
  EXPECT_FALSE(shard.datagram(1, too_big));
}

// A shard that stops polling its events: silent handshakes keep
// retransmitting into a ring nobody reads. The worker's backlog stops at its
// cap (handshake datagrams beyond it dropped and counted, requests left in
// the ring), and no outcome is lost: once the shard polls again, every
// handshake it started ends in its one kFailed.
TEST_F(Worker, AShardThatStopsPollingCapsTheBacklogButLosesNoOutcome) {
  DtlsConfig config;
  config.initial_timeout = milliseconds(10);
  DtlsContext context(cert, config);
  DtlsWorker::Config wc;
  wc.handshake_deadline = milliseconds(1500);
  DtlsWorker worker(context, 1, wc);
  worker.start();
  DtlsChannel& channel = worker.channel(0);
  DtlsTestClient client;
  const auto hello = client.step();  // one ClientHello, offered to every member
  constexpr uint64_t kMembers = 120;
  uint64_t started = 0;
  for (uint64_t id = 1; id <= kMembers; ++id) {
    bool taken = false;
    for (int i = 0; i < 100 && !(taken = channel.start(id, client.fingerprint())); ++i)
      std::this_thread::sleep_for(milliseconds(2));
    if (!taken) break;  // the worker stopped reading: its backlog is at the cap
    ++started;
    for (const auto& d : hello) (void)channel.datagram(id, d);
  }
  ASSERT_GT(started, 0u);
  const auto until = steady_clock::now() + seconds(3);
  while (worker.stats().sends_dropped == 0 && steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_GT(worker.stats().sends_dropped, 0u);
  // Outcomes may go past the cap (never dropped), at most one per handshake.
  EXPECT_LE(worker.stats().backlog_high, DtlsWorker::kBacklogCap + started);

  uint64_t failed = 0;
  DtlsEvent event;
  const auto drained_by = steady_clock::now() + seconds(10);
  while (failed < started && steady_clock::now() < drained_by) {
    while (channel.poll(event))
      if (event.kind == DtlsEvent::Kind::kFailed) ++failed;
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_EQ(failed, started) << "an outcome was lost with the dropped datagrams";
  EXPECT_EQ(worker.stats().timeouts, started);
}

// A stop the shard lost (its pending list full, kDtlsStopLost) must not
// keep a connected handshake on the worker for the life of the process: one
// that sees no datagram for connected_idle is dropped, silently.
TEST_F(Worker, AConnectedHandshakeIdleForLongIsDroppedEvenWithoutAStop) {
  IdleLimitedWorker w(cert);
  ASSERT_NO_FATAL_FAILURE(w.connect());
  EXPECT_EQ(w.worker.stats().expired, 0u) << "not before it has been idle";
  const auto until = steady_clock::now() + seconds(3);
  while (w.worker.stats().expired == 0 && steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(w.worker.stats().expired, 1u);
  // Gone: a late datagram finds no handshake, and no event follows.
  const std::array<uint8_t, 13> record{23, 0xFE, 0xFD};
  ASSERT_TRUE(w.channel().datagram(w.kId, record));
  const auto counted_by = steady_clock::now() + seconds(2);
  while (w.worker.stats().unknown_id == 0 && steady_clock::now() < counted_by)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(w.worker.stats().unknown_id, 1u);
  DtlsEvent event;
  EXPECT_FALSE(w.channel().poll(event));
  EXPECT_EQ(w.worker.stats().stopped, 0u);
}

// A live call's stream says alive() (ShardConfig::dtls_alive_interval): its
// connected handshake outlives connected_idle without a DTLS datagram and
// still honours the browser's close_notify (RFC 5246 §7.2.1).
TEST_F(Worker, AConnectedHandshakeWhoseStreamSaysAliveOutlivesTheIdleLimitAndHonoursCloseNotify) {
  IdleLimitedWorker w(cert);
  ASSERT_NO_FATAL_FAILURE(w.connect());
  const auto until = steady_clock::now() + milliseconds(900);  // three idle limits
  while (steady_clock::now() < until) {
    ASSERT_TRUE(w.channel().alive(w.kId));
    std::this_thread::sleep_for(milliseconds(75));
  }
  EXPECT_EQ(w.worker.stats().expired, 0u);
  for (const auto& d : w.client.close()) ASSERT_TRUE(w.channel().datagram(w.kId, d));
  const Outcome o = drive(w.channel(), w.kId, w.client, milliseconds(2000), /*answer=*/false);
  EXPECT_EQ(o.kind, DtlsEvent::Kind::kClosed);
  EXPECT_EQ(w.worker.stats().closed, 1u);
  EXPECT_EQ(w.worker.stats().unknown_id, 0u);
}

TEST(DtlsEvent, MovingLeavesNoKeysBehindInTheSource) {
  DtlsEvent a;
  a.kind = DtlsEvent::Kind::kConnected;
  a.keys.key_salt_size = 30;
  a.keys.inbound_storage.fill(0xAB);
  a.keys.outbound_storage.fill(0xCD);
  DtlsEvent b;
  b = std::move(a);
  EXPECT_EQ(b.keys.key_salt_size, 30);
  EXPECT_EQ(b.keys.inbound()[29], 0xAB);
  EXPECT_EQ(a.keys.key_salt_size, 0);  // NOLINT(bugprone-use-after-move): the point of the test
  for (uint8_t x : a.keys.inbound_storage) EXPECT_EQ(x, 0);
  for (uint8_t x : a.keys.outbound_storage) EXPECT_EQ(x, 0);
}

TEST_F(Worker, ManyMembersOnTwoShardsAllConnect) {
  DtlsContext context(cert);
  DtlsWorker worker(context, 2);
  worker.start();
  constexpr int kPerShard = 4;
  std::vector<std::thread> shards;
  std::atomic<int> connected{0};
  for (size_t s = 0; s < 2; ++s) {
    shards.emplace_back([&, s] {
      for (int m = 0; m < kPerShard; ++m) {
        DtlsTestClient client;
        const uint64_t id = s * 100 + static_cast<uint64_t>(m);
        worker.channel(s).start(id, client.fingerprint());
        const Outcome o = drive(worker.channel(s), id, client);
        if (o.kind == DtlsEvent::Kind::kConnected && client.connected()) ++connected;
        worker.channel(s).stop(id);
      }
    });
  }
  for (auto& t : shards) t.join();
  EXPECT_EQ(connected.load(), 2 * kPerShard);
  EXPECT_EQ(worker.stats().connected, static_cast<uint64_t>(2 * kPerShard));
}

}  // namespace
}  // namespace chorus::webrtc

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
