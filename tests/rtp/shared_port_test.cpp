// The shared-port mode (issue #16): one UDP socket per shard, members told
// apart by source address. Every member's packets reach only its stream, a
// packet from an unknown source reaches none (counted), an SSRC opens a route
// only where it is signalled (a=ssrc) or authenticated (SRTP), RTCP from a
// peer without rtcp-mux arrives on the same port, datagrams leave from the
// shared port in batches of up to 64 per system call, and the tick still
// allocates nothing. The route table itself is checked against a reference map.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>
#include <vector>

#include "rtp/alloc_counter.hpp"
#include "rtp/route_table.hpp"
#include "rtp/rtcp.hpp"
#include "rtp/shard.hpp"
#include "rtp/srtp.hpp"
#include "tests/rtp/shard_test_support.hpp"

CHORUS_DEFINE_COUNTING_NEW();

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;
using testing::make_rtp;
using testing::open_via_command;
using testing::Peer;
using testing::stats_until;
using udp = boost::asio::ip::udp;

const std::array<uint8_t, 160> kPayload{};

ShardConfig shared_config(size_t max_streams = 16) {
  ShardConfig c = testing::loopback_config(20);
  c.port_mode = PortMode::kShared;
  c.max_streams = max_streams;
  c.buffer_count = 512 + 8 * max_streams;
  return c;
}

// A shared-port shard: its one port cannot be skipped like a member's, so a
// port another test process holds means trying the next one (bounded).
std::unique_ptr<Shard> make_shard(ShardConfig config) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    try {
      return std::make_unique<Shard>(config);
    } catch (const std::runtime_error&) {
      config.port_first = static_cast<uint16_t>(config.port_first + 2);
    }
  }
  return nullptr;
}

void point_at(testing::Driver& driver, StreamId id, const udp::endpoint& rtp,
              const udp::endpoint& rtcp = {}) {
  Command c;
  c.kind = CommandKind::kSetRemote;
  c.stream = id;
  c.remote_rtp = rtp;
  c.remote_rtcp = rtcp;
  ASSERT_TRUE(driver.post(std::move(c)));
  // Commands apply in order: once the stats answer, the routes are in place.
  ASSERT_TRUE(testing::request_stats(driver, id).has_value());
}

// Sends `count` packets of one SSRC at 10 ms spacing.
void talk(const Peer& peer, uint16_t port, uint32_t ssrc, uint16_t count, uint16_t first_seq = 0) {
  for (uint16_t i = 0; i < count; ++i) {
    const uint16_t seq = static_cast<uint16_t>(first_seq + i);
    peer.send_to(port, make_rtp(0, seq, seq * 160u, ssrc, kPayload));
    std::this_thread::sleep_for(10ms);
  }
}

// Waits until `done` holds for the shard's counters (bounded).
template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 2000ms) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// Pulls every stream each tick and echoes what it got, so a test sees where
// a stream sends (its latched destination).
class EchoAll : public TickHandler {
 public:
  explicit EchoAll(Shard& shard) : shard_(shard) {}
  ~EchoAll() override { shard_.stop(); }
  void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
    for (StreamId id = 1; id <= 200; ++id) {
      Stream* s = shard_.find_stream(id);
      if (s == nullptr) continue;
      const Slot slot = s->pull();
      if (slot.kind == SlotKind::kPacket) s->send(slot.payload_type, slot.payload, 160, false);
    }
  }

 private:
  Shard& shard_;
};

TEST(RouteTable, MatchesAReferenceMapThroughInsertsAndErases) {
  // Few distinct hashes' worth of slots: long probe runs, many shifts.
  FixedMap<uint32_t, int, SsrcHash> map(64);
  std::map<uint32_t, int> reference;
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    const uint32_t key = rng() % 97;
    const int value = static_cast<int>(rng() % 3);
    if (rng() % 2 == 0) {
      const bool fresh = !reference.contains(key);
      const bool room = reference.size() < 64;
      EXPECT_EQ(map.insert(key, value), fresh && room) << step;
      if (fresh && room) reference[key] = value;
    } else {
      const auto it = reference.find(key);
      const bool owns = it != reference.end() && it->second == value;
      EXPECT_EQ(map.erase(key, value), owns) << step;
      if (owns) reference.erase(it);
    }
    if (step % 97 == 0) {
      for (uint32_t k = 0; k < 97; ++k) {
        const auto it = reference.find(k);
        const std::optional<int> found = map.find(k);
        ASSERT_EQ(found.has_value(), it != reference.end()) << "key " << k << " step " << step;
        if (found) {
          EXPECT_EQ(*found, it->second);
        }
      }
      EXPECT_EQ(map.size(), reference.size());
    }
  }
}

TEST(RouteTable, TheFirstClaimKeepsAnAddressAndV4MappedSourcesMatchV4) {
  FixedMap<SourceKey, int, SourceKeyHash> map(8);
  const udp::endpoint a(boost::asio::ip::make_address("192.0.2.7"), 4000);
  EXPECT_TRUE(map.insert(SourceKey::from(a), 1));
  EXPECT_FALSE(map.insert(SourceKey::from(a), 2));  // another stream signalling the same address
  EXPECT_FALSE(map.erase(SourceKey::from(a), 2));   // nor can it remove the first one's route
  const udp::endpoint mapped(boost::asio::ip::make_address("::ffff:192.0.2.7"), 4000);
  sockaddr_storage raw{};
  sockaddr_from_endpoint(mapped, raw);
  ASSERT_EQ(map.find(SourceKey::from(raw)), std::optional<int>(1));
  const udp::endpoint other_port(a.address(), 4002);
  EXPECT_FALSE(map.find(SourceKey::from(other_port)).has_value());
}

TEST(SharedPort, EveryMemberSharesTheShardsPortAndGetsOnlyItsOwnSourcesPackets) {
  const std::unique_ptr<Shard> owned = make_shard(shared_config());
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  ASSERT_EQ(shard.io_backend(), IoBackend::kMmsg);
  testing::Driver driver(shard);
  shard.start();
  std::array<Peer, 3> peers;
  for (StreamId id = 1; id <= 3; ++id) {
    EXPECT_EQ(open_via_command(driver, id), shard.shared_port());
    point_at(driver, id, peers[id - 1].endpoint());
  }
  for (uint16_t seq = 0; seq < 20; ++seq) {
    for (StreamId id = 1; id <= 3; ++id)
      peers[id - 1].send_to(shard.shared_port(), make_rtp(0, seq, seq * 160u, 0xA0 + id, kPayload));
    std::this_thread::sleep_for(10ms);
  }
  for (StreamId id = 1; id <= 3; ++id) {
    SCOPED_TRACE(id);
    const StreamStats s =
        stats_until(driver, id, [](const StreamStats& st) { return st.packets_received >= 20; });
    EXPECT_EQ(s.packets_received, 20u);
    EXPECT_EQ(s.remote_ssrc, 0xA0u + id);
    EXPECT_EQ(s.drops.stranger, 0u);
  }
  EXPECT_EQ(shard.unknown_source_drops(), 0u);
  EXPECT_EQ(shard.route_conflicts(), 0u);
}

TEST(SharedPort, APacketFromAnUnknownSourceNeverReachesAStream) {
  const std::unique_ptr<Shard> owned = make_shard(shared_config());
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  testing::Driver driver(shard);
  shard.start();
  Peer member;
  Peer stranger;
  ASSERT_NE(open_via_command(driver, 1), 0);
  point_at(driver, 1, member.endpoint());
  talk(member, shard.shared_port(), 0x1111, 5);
  ASSERT_EQ(stats_until(driver, 1, [](const StreamStats& s) { return s.packets_received >= 5; })
                .packets_received,
            5u);
  // The stranger knows the member's SSRC (plain RTP, not signalled): no route.
  talk(stranger, shard.shared_port(), 0x1111, 10, 5);
  ASSERT_TRUE(eventually([&] { return shard.unknown_source_drops() >= 10; }));
  const StreamStats s = *testing::request_stats(driver, 1);
  EXPECT_EQ(s.packets_received, 5u);
  EXPECT_EQ(s.drops.stranger, 0u);  // it never even reached the stream
  EXPECT_EQ(shard.unknown_source_drops(), 10u);

  // Closed: the member's own source is unknown from then on.
  ASSERT_TRUE(testing::post_close(driver, 1));
  ASSERT_TRUE(testing::wait_kind(driver, EventKind::kStreamClosed, 1).has_value());
  talk(member, shard.shared_port(), 0x1111, 3, 20);
  EXPECT_TRUE(eventually([&] { return shard.unknown_source_drops() >= 13; }));
}

TEST(SharedPort, ASignalledSsrcLetsAMemberBehindNatInAndTheStreamLatchesToIt) {
  const std::unique_ptr<Shard> owned = make_shard(shared_config());
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  EchoAll echo(shard);
  testing::Driver driver(shard, &echo);
  shard.start();
  Peer sdp_address;  // what the SDP said (the NAT changed the port)
  Peer natted;       // where the member's packets really come from
  Peer unsignalled_natted;
  StreamConfig signalled;
  signalled.signalled_ssrc = 0xCAFE;
  ASSERT_NE(open_via_command(driver, 1, signalled), 0);
  ASSERT_NE(open_via_command(driver, 2), 0);
  point_at(driver, 1, sdp_address.endpoint());
  Peer other_sdp;
  point_at(driver, 2, other_sdp.endpoint());
  talk(natted, shard.shared_port(), 0xCAFE, 10);
  talk(unsignalled_natted, shard.shared_port(), 0xBEEF, 10);
  const StreamStats s1 =
      stats_until(driver, 1, [](const StreamStats& s) { return s.packets_received >= 10; });
  EXPECT_EQ(s1.packets_received, 10u);
  // Stream 2 signalled no SSRC: its NAT'd packets have no route.
  EXPECT_EQ(testing::request_stats(driver, 2)->packets_received, 0u);
  EXPECT_EQ(shard.unknown_source_drops(), 10u);
  // Stream 1 latched to the NAT'd source: its echo goes there, from the
  // shared port (before the latch it went to the SDP address).
  sdp_address.receive_all(60ms);
  natted.receive_all(0ms);
  talk(natted, shard.shared_port(), 0xCAFE, 5, 10);
  const auto back = natted.receive(500ms);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(sdp_address.receive(50ms).has_value());
}

// A re-offer with a new a=ssrc moves the route: the old SSRC from an unknown
// source reaches no stream any more, the new one does.
TEST(SharedPort, AReofferedSsrcReplacesTheSignalledOne) {
  const std::unique_ptr<Shard> owned = make_shard(shared_config());
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  EchoAll echo(shard);
  testing::Driver driver(shard, &echo);
  shard.start();
  Peer sdp_address, old_natted, new_natted;
  StreamConfig signalled;
  signalled.signalled_ssrc = 0xCAFE;
  ASSERT_NE(open_via_command(driver, 1, signalled), 0);
  point_at(driver, 1, sdp_address.endpoint());
  Command reoffer;
  reoffer.kind = CommandKind::kSetSignalledSsrc;
  reoffer.stream = 1;
  reoffer.config.signalled_ssrc = 0xD00D;
  ASSERT_TRUE(driver.post(std::move(reoffer)));
  ASSERT_TRUE(testing::request_stats(driver, 1).has_value());  // applied in order
  talk(old_natted, shard.shared_port(), 0xCAFE, 10);
  ASSERT_TRUE(eventually([&] { return shard.unknown_source_drops() >= 10; }));
  EXPECT_EQ(testing::request_stats(driver, 1)->packets_received, 0u);
  talk(new_natted, shard.shared_port(), 0xD00D, 10);
  const StreamStats s =
      stats_until(driver, 1, [](const StreamStats& s) { return s.packets_received >= 10; });
  EXPECT_EQ(s.packets_received, 10u);
  EXPECT_EQ(shard.unknown_source_drops(), 10u);
  // And no a=ssrc at all: nothing from an unknown source gets in.
  Command none;
  none.kind = CommandKind::kSetSignalledSsrc;
  none.stream = 1;
  ASSERT_TRUE(driver.post(std::move(none)));
  point_at(driver, 1, sdp_address.endpoint());  // a new SDP address lifts the latch
  Peer third;
  talk(third, shard.shared_port(), 0xD00D, 5, 20);
  ASSERT_TRUE(eventually([&] { return shard.unknown_source_drops() >= 15; }));
  EXPECT_EQ(testing::request_stats(driver, 1)->packets_received, 10u);
}

// A route proven by traffic outranks an address another member's SDP merely
// names: B's re-offer naming the NAT address A's media comes from (a stale or
// hostile c= line) takes none of A's packets.
TEST(SharedPort, AnotherMembersSdpClaimDoesNotTakeALatchedAddress) {
  const std::unique_ptr<Shard> owned = make_shard(shared_config());
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  testing::Driver driver(shard);
  shard.start();
  Peer sdp_a, natted_a, sdp_b;
  StreamConfig signalled;
  signalled.signalled_ssrc = 0xCAFE;
  ASSERT_NE(open_via_command(driver, 1, signalled), 0);
  ASSERT_NE(open_via_command(driver, 2), 0);
  point_at(driver, 1, sdp_a.endpoint());
  point_at(driver, 2, sdp_b.endpoint());
  talk(natted_a, shard.shared_port(), 0xCAFE, 5);
  ASSERT_EQ(stats_until(driver, 1, [](const StreamStats& s) { return s.packets_received >= 5; })
                .packets_received,
            5u);
  point_at(driver, 2, natted_a.endpoint());
  talk(natted_a, shard.shared_port(), 0xCAFE, 10, 5);
  EXPECT_EQ(stats_until(driver, 1, [](const StreamStats& s) { return s.packets_received >= 15; })
                .packets_received,
            15u);
  EXPECT_EQ(testing::request_stats(driver, 2)->packets_received, 0u);
}

// The other order: B's SDP names an address first, then A's authenticated
// media arrives from it (A's NAT rebound there). A's SSRC, proven by SRTP,
// outranks the address B's SDP only names: A gets its packets, re-latches and
// takes the address; B's claim waits and takes effect once A moves on.
TEST(SharedPort, AProvenRouteTakesAnAddressAnotherMemberOnlyNamesWhichGetsItBackLater) {
  const std::unique_ptr<Shard> owned = make_shard(shared_config());
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  EchoAll echo(shard);
  testing::Driver driver(shard, &echo);
  shard.start();
  ASSERT_NE(open_via_command(driver, 1), 0);
  ASSERT_NE(open_via_command(driver, 2), 0);
  Peer first, rebound, third, sdp_b;
  point_at(driver, 1, first.endpoint());
  point_at(driver, 2, sdp_b.endpoint());
  SrtpKeys keys;
  keys.suite = SrtpSuite::kAeadAes128Gcm;
  keys.inbound_size = keys.outbound_size = 28;
  for (uint8_t i = 0; i < 28; ++i) {
    keys.inbound[i] = static_cast<uint8_t>(i + 1);
    keys.outbound[i] = static_cast<uint8_t>(90 + i);
  }
  Command set;
  set.kind = CommandKind::kSetSrtp;
  set.stream = 1;
  set.keys = keys;
  ASSERT_TRUE(driver.post(std::move(set)));
  auto protect = SrtpSession::create(keys.suite, std::span(keys.inbound.data(), 28),
                                     SrtpSession::Direction::kOutbound);
  ASSERT_TRUE(protect.has_value());
  uint16_t seq = 0;
  const auto secure_talk = [&](const Peer& from, int count) {
    for (int i = 0; i < count; ++i, ++seq) {
      auto pkt = make_rtp(0, seq, seq * 160u, 0x5EC, kPayload);
      size_t len = pkt.size();
      pkt.resize(len + SrtpSession::kProtectOverhead);
      EXPECT_TRUE(protect->protect_rtp(pkt.data(), len, pkt.size()));
      pkt.resize(len);
      from.send_to(shard.shared_port(), pkt);
      std::this_thread::sleep_for(10ms);
    }
  };
  secure_talk(first, 5);
  ASSERT_EQ(stats_until(driver, 1, [](const StreamStats& s) { return s.packets_received >= 5; })
                .packets_received,
            5u);
  point_at(driver, 2, rebound.endpoint());  // B's re-offer names where A's NAT moves next
  secure_talk(rebound, 10);
  EXPECT_EQ(stats_until(driver, 1, [](const StreamStats& s) { return s.packets_received >= 15; })
                .packets_received,
            15u);
  EXPECT_EQ(testing::request_stats(driver, 2)->packets_received, 0u);
  // A answers where its media now comes from (B only reports there).
  const auto back = rebound.receive_all(300ms);
  EXPECT_TRUE(std::any_of(back.begin(), back.end(), [](const auto& d) { return !is_rtcp(d); }));
  // A moves on: the address is B's again, and B's peer, now really there, is heard.
  secure_talk(third, 5);
  ASSERT_EQ(stats_until(driver, 1, [](const StreamStats& s) { return s.packets_received >= 20; })
                .packets_received,
            20u);
  talk(rebound, shard.shared_port(), 0xB, 3);
  EXPECT_EQ(stats_until(driver, 2, [](const StreamStats& s) { return s.packets_received >= 3; })
                .packets_received,
            3u);
  EXPECT_EQ(testing::request_stats(driver, 1)->packets_received, 20u);
}

TEST(SharedPort, SrtpFollowsANatRebindingOnAuthenticatedPacketsOnly) {
  const std::unique_ptr<Shard> owned = make_shard(shared_config());
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  EchoAll echo(shard);
  testing::Driver driver(shard, &echo);
  shard.start();
  ASSERT_NE(open_via_command(driver, 1), 0);
  Peer first;
  Peer rebound;
  Peer forger;
  point_at(driver, 1, first.endpoint());
  SrtpKeys keys;
  keys.suite = SrtpSuite::kAeadAes128Gcm;
  keys.inbound_size = keys.outbound_size = 28;
  for (uint8_t i = 0; i < 28; ++i) {
    keys.inbound[i] = static_cast<uint8_t>(i + 1);
    keys.outbound[i] = static_cast<uint8_t>(90 + i);
  }
  Command set;
  set.kind = CommandKind::kSetSrtp;
  set.stream = 1;
  set.keys = keys;
  ASSERT_TRUE(driver.post(std::move(set)));
  auto protect = SrtpSession::create(keys.suite, std::span(keys.inbound.data(), 28),
                                     SrtpSession::Direction::kOutbound);
  ASSERT_TRUE(protect.has_value());
  const auto secure = [&](uint16_t seq) {
    auto pkt = make_rtp(0, seq, seq * 160u, 0x5EC, kPayload);
    size_t len = pkt.size();
    pkt.resize(len + SrtpSession::kProtectOverhead);
    EXPECT_TRUE(protect->protect_rtp(pkt.data(), len, pkt.size()));
    pkt.resize(len);
    return pkt;
  };
  uint16_t seq = 0;
  for (; seq < 5; ++seq) {
    first.send_to(shard.shared_port(), secure(seq));
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(first.receive(500ms).has_value());  // latched to the SDP address
  // A forger with the (now authenticated, so routed) SSRC: it reaches the
  // stream but fails authentication and moves nothing.
  for (uint16_t i = 0; i < 5; ++i) {
    auto fake = make_rtp(0, static_cast<uint16_t>(100 + i), 0, 0x5EC, kPayload);
    fake.resize(fake.size() + 16, 0xAB);
    forger.send_to(shard.shared_port(), fake);
  }
  EXPECT_TRUE(
      eventually([&] { return testing::request_stats(driver, 1)->drops.auth_failed >= 5; }));
  first.receive_all(60ms);
  // The member's NAT rebinds: authenticated packets from a new port.
  for (uint16_t i = 0; i < 10; ++i, ++seq) {
    rebound.send_to(shard.shared_port(), secure(seq));
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(rebound.receive(500ms).has_value());
  rebound.receive_all(60ms);
  first.receive_all(60ms);
  EXPECT_FALSE(first.receive(60ms).has_value());
  EXPECT_FALSE(forger.receive(60ms).has_value());
  const StreamStats s = *testing::request_stats(driver, 1);
  EXPECT_EQ(s.packets_received, 15u);
  EXPECT_EQ(s.drops.auth_failed, 5u);
}

TEST(SharedPort, RtcpFromAPeerWithoutMuxArrivesOnTheSharedPortAndReportsGoToItsRtcpPort) {
  ShardConfig config = shared_config();
  config.rtcp.min_interval_seconds = 0.1;
  const std::unique_ptr<Shard> owned = make_shard(config);
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  testing::Driver driver(shard);
  shard.start();
  StreamConfig no_mux;
  no_mux.rtcp_mux = false;
  ASSERT_NE(open_via_command(driver, 1, no_mux), 0);
  Peer rtp;
  Peer rtcp;
  point_at(driver, 1, rtp.endpoint(), rtcp.endpoint());
  talk(rtp, shard.shared_port(), 0x777, 5);
  std::array<uint8_t, 64> report{};
  RtcpWriter writer(report);
  writer.add_receiver_report(0x777, {});
  rtcp.send_to(shard.shared_port(), std::span(report.data(), writer.size()));
  const StreamStats s =
      stats_until(driver, 1, [](const StreamStats& st) { return st.rtcp_received >= 1; });
  EXPECT_EQ(s.rtcp_received, 1u);
  EXPECT_EQ(s.packets_received, 5u);
  // Our reports go to the peer's RTCP port.
  const auto ours = rtcp.receive(2000ms);
  ASSERT_TRUE(ours.has_value());
  EXPECT_TRUE(is_rtcp(*ours));
}

// Sends one packet on every stream each tick.
class SendAll : public TickHandler {
 public:
  explicit SendAll(Shard& shard) : shard_(shard) {}
  ~SendAll() override { shard_.stop(); }
  void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
    if (!on_.load(std::memory_order_acquire)) return;
    for (StreamId id = 1; id <= 200; ++id)
      if (Stream* s = shard_.find_stream(id)) s->send(0, kPayload, 160, false);
    ticks_.fetch_add(1, std::memory_order_relaxed);
  }
  void start() { on_.store(true, std::memory_order_release); }
  uint64_t ticks() const { return ticks_.load(std::memory_order_relaxed); }

 private:
  Shard& shard_;
  std::atomic<bool> on_{false};
  std::atomic<uint64_t> ticks_{0};
};

TEST(SharedPort, DatagramsLeaveFromTheSharedPortUpTo64PerSystemCall) {
  constexpr StreamId kStreams = 100;
  const std::unique_ptr<Shard> owned = make_shard(shared_config(128));
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  SendAll sender(shard);
  testing::Driver driver(shard, &sender);
  shard.start();
  std::vector<std::unique_ptr<Peer>> peers;
  for (StreamId id = 1; id <= kStreams; ++id) {
    peers.push_back(std::make_unique<Peer>());
    ASSERT_EQ(open_via_command(driver, id), shard.shared_port());
    point_at(driver, id, peers.back()->endpoint());
  }
  ASSERT_TRUE(testing::request_stats(driver, kStreams).has_value());  // every command applied
  const uint64_t calls_before = shard.shared_send_calls();
  sender.start();
  ASSERT_TRUE(eventually([&] { return sender.ticks() >= 10; }));
  const uint64_t ticks = sender.ticks();
  const uint64_t calls = shard.shared_send_calls() - calls_before;
  // 100 datagrams a tick: two sendmmsg calls (64 + 36), not one per stream.
  EXPECT_LE(calls, 2 * (ticks + 1)) << calls << " calls in " << ticks << " ticks";
  EXPECT_GE(calls, 2 * (ticks - 1));
  for (const auto& peer : peers) EXPECT_TRUE(peer->receive(500ms).has_value());
  // The source port of what a member receives is the shared port.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in me{};
  me.sin_family = AF_INET;
  me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me), 0);
  socklen_t me_len = sizeof me;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &me_len);
  point_at(driver, 1, udp::endpoint(boost::asio::ip::address_v4::loopback(), ntohs(me.sin_port)));
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::array<uint8_t, 512> buf{};
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  const ssize_t n =
      ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
  ::close(fd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(ntohs(from.sin_port), shard.shared_port());
}

TEST(SharedPort, ManyMembersArriveInBatchesOf64) {
  constexpr StreamId kStreams = 100;
  const std::unique_ptr<Shard> owned = make_shard(shared_config(128));
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  testing::Driver driver(shard);
  std::vector<std::unique_ptr<Peer>> peers;
  shard.start();
  for (StreamId id = 1; id <= kStreams; ++id) {
    peers.push_back(std::make_unique<Peer>());
    ASSERT_EQ(open_via_command(driver, id), shard.shared_port());
    point_at(driver, id, peers.back()->endpoint());
  }
  ASSERT_TRUE(testing::request_stats(driver, kStreams).has_value());
  // 100 datagrams land between two ticks: the drain reads them in two calls
  // plus the one that finds the socket empty, not in one call per member.
  const uint64_t calls_before = shard.shared_receive_calls();
  const uint64_t ticks_before = shard.ticks();
  for (uint16_t round = 0; round < 5; ++round) {
    for (StreamId id = 1; id <= kStreams; ++id)
      peers[id - 1]->send_to(shard.shared_port(), make_rtp(0, round, round * 160u, id, kPayload));
    std::this_thread::sleep_for(20ms);
  }
  for (StreamId id = 1; id <= kStreams; id += 33) {
    const StreamStats s =
        stats_until(driver, id, [](const StreamStats& st) { return st.packets_received >= 5; });
    EXPECT_EQ(s.packets_received, 5u) << id;
  }
  const uint64_t ticks = shard.ticks() - ticks_before;
  const uint64_t calls = shard.shared_receive_calls() - calls_before;
  EXPECT_LE(calls, ticks + 2 * 5 + 2) << calls << " calls in " << ticks << " ticks";
  EXPECT_EQ(shard.datagrams_received(), uint64_t{kStreams} * 5);
}

TEST(SharedPort, TheSteadyStateTickAllocatesNothing) {
  ShardConfig config = shared_config();
  config.rtcp.min_interval_seconds = 0.2;
  const std::unique_ptr<Shard> owned = make_shard(config);
  ASSERT_NE(owned, nullptr);
  Shard& shard = *owned;
  class Counting : public TickHandler {
   public:
    explicit Counting(Shard& shard) : shard_(shard) {}
    ~Counting() override { shard_.stop(); }
    void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
      for (StreamId id : {StreamId{1}, StreamId{2}}) {
        Stream* s = shard_.find_stream(id);
        if (s == nullptr) continue;
        const Slot slot = s->pull();
        if (slot.kind == SlotKind::kPacket) {
          s->send(slot.payload_type, slot.payload, 160, false);
          ++played_;
        }
      }
      if (played_ >= 40 && window_ == 0) {
        before_ = alloc::count();
        window_ = 1;
      } else if (window_ > 0 && window_ < 60 && ++window_ == 60) {
        allocations_.store(alloc::count() - before_);
        done_.store(true);
      }
    }
    std::atomic<bool> done_{false};
    std::atomic<uint64_t> allocations_{0};

   private:
    Shard& shard_;
    uint64_t played_ = 0, before_ = 0, window_ = 0;
  } counting(shard);
  testing::Driver driver(shard, &counting);
  shard.start();
  Peer a;
  Peer b;
  ASSERT_NE(open_via_command(driver, 1), 0);
  ASSERT_NE(open_via_command(driver, 2), 0);
  point_at(driver, 1, a.endpoint());
  point_at(driver, 2, b.endpoint());
  auto next = std::chrono::steady_clock::now();
  for (uint16_t seq = 0; seq < 250 && !counting.done_.load(); ++seq) {
    a.send_to(shard.shared_port(), make_rtp(0, seq, seq * 160u, 0xA, kPayload));
    b.send_to(shard.shared_port(), make_rtp(0, seq, seq * 160u, 0xB, kPayload));
    // A stranger's packet every tick: the unknown-source path too.
    Peer().send_to(shard.shared_port(), make_rtp(0, seq, 0, 0xC, kPayload));
    a.receive_all(0ms);
    b.receive_all(0ms);
    next += 20ms;
    std::this_thread::sleep_until(next);
  }
  ASSERT_TRUE(counting.done_.load());
  EXPECT_EQ(counting.allocations_.load(), 0u);
  EXPECT_GT(shard.unknown_source_drops(), 40u);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
