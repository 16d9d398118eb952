// A shard stream against a peer on 127.0.0.1: real UDP both ways, latching
// (symmetric RTP; a stranger cannot move it), SRTP drops, RFC 4733 events,
// the inactivity timeout (offered again until the owner takes it), RTCP
// reports, and garbage input.
#include "rtp/stream.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>

#include "rtp/dtmf.hpp"
#include "rtp/rtcp.hpp"
#include "rtp/rtcp_time.hpp"
#include "rtp/srtp.hpp"
#include "tests/rtp/shard_test_support.hpp"

namespace chorus::rtp {
namespace {

using namespace std::chrono_literals;
using testing::make_rtp;
using testing::open_via_command;
using testing::Peer;
using testing::Recorder;
using testing::stats_until;
using testing::wait_kind;

constexpr StreamId kId = 1;

// Every stream test runs on both socket I/O paths of the shard (issue #16).
class StreamIo : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    if (GetParam() == IoBackend::kUring && !testing::uring_available())
      GTEST_SKIP() << "io_uring unavailable here";
  }
};
// A started shard whose stream `kId` is open on a port of its own, its
// frames handled by a Recorder in `mode`: what most stream tests begin with.
// `rtcp_interval` (seconds, 0: the default) is the shortest between reports.
struct OpenStream {
  OpenStream(IoBackend backend, Recorder::Mode mode, double rtcp_interval = 0)
      : shard([&] {
          ShardConfig c = testing::loopback_config(20, backend);
          if (rtcp_interval > 0) c.rtcp.min_interval_seconds = rtcp_interval;
          return c;
        }()),
        rec(shard, kId, mode),
        driver(shard, &rec) {
    shard.start();
    port = open_via_command(driver, kId);
  }
  Shard shard;
  Recorder rec;
  testing::Driver driver;
  uint16_t port = 0;
};

const std::array<uint8_t, 160> kPayload = [] {
  std::array<uint8_t, 160> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i);
  return a;
}();

// The RTP packets among `datagrams` (views into them), RTCP left out.
template <class Datagrams>
std::vector<PacketView> rtp_only(const Datagrams& datagrams) {
  std::vector<PacketView> rtp;
  for (const auto& d : datagrams)
    if (auto p = PacketView::parse(d); p && !is_rtcp(d)) rtp.push_back(*p);
  return rtp;
}

// Sends `count` packets 20 ms apart (a real talker's pace) from `peer`, on
// absolute deadlines so that late wake-ups on a loaded machine do not add up
// to a sender falling behind the shard's (absolute) ticks.
void talk(const Peer& peer, uint16_t port, uint32_t ssrc, uint16_t first_seq, int count,
          std::chrono::milliseconds spacing = 20ms) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    const auto seq = static_cast<uint16_t>(first_seq + i);
    peer.send_to(port, make_rtp(0, seq, seq * 160u, ssrc, kPayload, i == 0));
    std::this_thread::sleep_until(start + (i + 1) * spacing);
  }
}

TEST_P(StreamIo, ReceivesIntoTheJitterBufferAndEchoesBackToTheSdpAddress) {
  OpenStream io(GetParam(), Recorder::Mode::kEcho);
  ASSERT_NE(io.port, 0);
  Peer peer;
  testing::set_remote(io.driver, kId, peer.endpoint());
  talk(peer, io.port, 0xA1, 100, 25);
  const auto stats = stats_until(io.driver, kId, [](const StreamStats& s) {
    return s.packets_received >= 25 && s.packets_sent >= 20;
  });
  EXPECT_EQ(stats.packets_received, 25u);
  EXPECT_EQ(stats.remote_ssrc, 0xA1u);
  // (A guard that frames were played out at all; ticks the loaded machine
  // missed play out fewer.)
  EXPECT_GE(io.rec.packets.load(), 15u);
  // What came back is RTP from one SSRC with consecutive sequence numbers and
  // the payload we sent.
  const auto back = peer.receive_all(200ms);
  const std::vector<PacketView> rtp = rtp_only(back);
  ASSERT_GE(rtp.size(), 10u);
  for (size_t i = 1; i < rtp.size(); ++i) {
    EXPECT_EQ(rtp[i].ssrc(), rtp[0].ssrc());
    EXPECT_EQ(rtp[i].sequence(), static_cast<uint16_t>(rtp[i - 1].sequence() + 1));
    // One frame per packet; a tick the shard missed on a loaded machine shows
    // as a timestamp gap of whole frames (see FramesNotSentStillAdvance...).
    const uint32_t step = rtp[i].timestamp() - rtp[i - 1].timestamp();
    EXPECT_TRUE(step >= 160 && step % 160 == 0) << step;
  }
  EXPECT_NE(rtp[0].ssrc(), 0xA1u);
  ASSERT_EQ(rtp[0].payload().size(), kPayload.size());
  EXPECT_TRUE(std::equal(kPayload.begin(), kPayload.end(), rtp[0].payload().begin()));
}

// RFC 3550 §5.1: the timestamp is the sampling instant, so a frame that is
// not sent (DTX, inactive) still moves the timeline: every other frame
// skipped shows as consecutive sequence numbers 320 samples apart.
TEST_P(StreamIo, FramesNotSentStillAdvanceTheTimestamp) {
  OpenStream io(GetParam(), Recorder::Mode::kSendEveryOtherTick);
  ASSERT_NE(io.port, 0);
  Peer peer;
  testing::set_remote(io.driver, kId, peer.endpoint());
  const auto back = peer.receive_all(400ms);
  const std::vector<PacketView> rtp = rtp_only(back);
  ASSERT_GE(rtp.size(), 5u);
  size_t exact = 0;
  for (size_t i = 1; i < rtp.size(); ++i) {
    EXPECT_EQ(rtp[i].sequence(), static_cast<uint16_t>(rtp[i - 1].sequence() + 1));
    const uint32_t step = rtp[i].timestamp() - rtp[i - 1].timestamp();
    EXPECT_TRUE(step >= 320 && step % 160 == 0) << step;  // more only after a missed tick
    exact += step == 320 ? 1 : 0;
  }
  EXPECT_GE(exact * 2, rtp.size() - 1);
}

TEST_P(StreamIo, LatchesToTheMediaSourceAndAStrangerCannotMoveIt) {
  OpenStream io(GetParam(), Recorder::Mode::kSendEveryTick);
  ASSERT_NE(io.port, 0);
  Peer sdp, media, stranger;
  testing::set_remote(io.driver, kId, sdp.endpoint());
  // Before media arrives, the stream sends to the SDP address.
  ASSERT_TRUE(sdp.receive(500ms).has_value());
  // The real source (e.g. behind NAT) sends two in-sequence packets: latched.
  talk(media, io.port, 0xB0B, 1, 3, 5ms);
  ASSERT_TRUE(media.receive(500ms).has_value());
  sdp.receive_all(60ms);  // drain what was already on its way
  EXPECT_TRUE(sdp.receive_all(100ms).empty());
  // A stranger sends valid-looking RTP with the same SSRC: dropped, counted,
  // and the stream keeps sending to the latched source.
  talk(stranger, io.port, 0xB0B, 4, 10, 2ms);
  const auto stats =
      stats_until(io.driver, kId, [](const StreamStats& s) { return s.drops.stranger >= 10; });
  EXPECT_EQ(stats.drops.stranger, 10u);
  EXPECT_EQ(stats.packets_received, 3u);
  media.receive_all(50ms);
  EXPECT_GE(media.receive_all(100ms).size(), 3u);
  EXPECT_TRUE(stranger.receive_all(100ms).empty());
}

TEST_P(StreamIo, SingleStrayPacketDoesNotLatch) {
  OpenStream io(GetParam(), Recorder::Mode::kSendEveryTick);
  ASSERT_NE(io.port, 0);
  Peer sdp, stray;
  testing::set_remote(io.driver, kId, sdp.endpoint());
  stray.send_to(io.port, make_rtp(0, 1, 0, 0x5, kPayload));
  stats_until(io.driver, kId, [](const StreamStats& s) { return s.packets_received >= 1; });
  sdp.receive_all(50ms);
  // Still sending to the SDP address: one packet is no evidence of a source.
  EXPECT_GE(sdp.receive_all(100ms).size(), 3u);
  EXPECT_TRUE(stray.receive_all(60ms).empty());
}

// RTP "bleed": an outsider who guesses a fresh port and sends two packets
// before the caller latches the stream; the caller's first packet from the
// address its SDP named takes it back, and the outsider hears nothing more.
TEST_P(StreamIo, TheSdpAddressReclaimsAStreamAnOutsiderLatchedFirst) {
  OpenStream io(GetParam(), Recorder::Mode::kSendEveryTick);
  ASSERT_NE(io.port, 0);
  Peer caller, outsider;
  testing::set_remote(io.driver, kId, caller.endpoint());
  ASSERT_TRUE(caller.receive(500ms).has_value());  // the SDP address is in place
  talk(outsider, io.port, 0xBAD, 1, 2, 5ms);
  ASSERT_TRUE(outsider.receive(500ms).has_value()) << "the outsider did not latch the stream";
  // One packet from the SDP's address is enough.
  // (Its new SSRC is on probation, RFC 3550 A.1: the latch moves at once,
  // its media is followed from the next packet.)
  caller.send_to(io.port, make_rtp(0, 500, 80000, 0xCA11, kPayload, true));
  stats_until(io.driver, kId, [](const StreamStats& s) { return s.drops.ssrc_probation >= 1; });
  outsider.receive_all(60ms);  // what was already on its way
  EXPECT_TRUE(outsider.receive_all(150ms).empty()) << "the outsider still gets the room";
  caller.receive_all(60ms);
  EXPECT_GE(caller.receive_all(150ms).size(), 3u);
  // The outsider cannot take it again.
  talk(outsider, io.port, 0xBAD, 3, 5, 2ms);
  const auto stats =
      stats_until(io.driver, kId, [](const StreamStats& s) { return s.drops.stranger >= 5; });
  EXPECT_EQ(stats.drops.stranger, 5u);
  EXPECT_TRUE(outsider.receive_all(100ms).empty());
}

// A caller whose SDP names the address it sends from latches at its first
// packet (no second packet to wait for, so no window for an outsider).
TEST_P(StreamIo, OnePacketFromTheSdpAddressLatches) {
  OpenStream io(GetParam(), Recorder::Mode::kSendEveryTick);
  ASSERT_NE(io.port, 0);
  Peer caller, outsider;
  testing::set_remote(io.driver, kId, caller.endpoint());
  ASSERT_TRUE(caller.receive(500ms).has_value());  // the SDP address is in place
  caller.send_to(io.port, make_rtp(0, 1, 0, 0xCA11, kPayload, true));
  stats_until(io.driver, kId, [](const StreamStats& s) { return s.packets_received >= 1; });
  talk(outsider, io.port, 0xCA11, 2, 4, 2ms);
  const auto stats =
      stats_until(io.driver, kId, [](const StreamStats& s) { return s.drops.stranger >= 4; });
  EXPECT_EQ(stats.drops.stranger, 4u);
  EXPECT_EQ(stats.packets_received, 1u);
  EXPECT_TRUE(outsider.receive_all(100ms).empty());
}

// Only an SDP address a caller sends from latches at once or takes a stream
// back: a NAT'd caller names its private address and never sends from it, so
// a packet claiming that source is spoofed (or a neighbour's) and must not
// move the call's media there.
TEST(StreamLatch, OnlyAnSdpAddressTheCallerSendsFromCountsAsSignalled) {
  const auto at = [](const char* text) { return boost::asio::ip::make_address(text); };
  for (const char* sender : {"127.0.0.1", "192.0.2.7", "203.0.113.9", "172.32.0.1", "100.128.0.1",
                             "2001:db8::1", "::1", "::ffff:198.51.100.4"}) {
    EXPECT_TRUE(Stream::sends_from(at(sender))) << sender;
  }
  for (const char* not_sender : {"0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.254",
                                 "192.168.1.23", "100.64.0.1", "100.127.255.1", "169.254.10.10",
                                 "::", "fe80::1", "fd00::5", "fc12::1", "::ffff:192.168.1.23"}) {
    EXPECT_FALSE(Stream::sends_from(at(not_sender))) << not_sender;
  }
}

SrtpKeys make_keys(uint8_t in_seed, uint8_t out_seed) {
  SrtpKeys k;
  k.suite = SrtpSuite::kAesCm128HmacSha1_80;
  k.inbound_size = k.outbound_size = 30;
  for (size_t i = 0; i < 30; ++i) {
    k.inbound[i] = static_cast<uint8_t>(in_seed + i);
    k.outbound[i] = static_cast<uint8_t>(out_seed + 3 * i);
  }
  return k;
}

TEST_P(StreamIo, SrtpStreamDropsPlainAndForgedPacketsAndAcceptsProtectedOnes) {
  OpenStream io(GetParam(), Recorder::Mode::kEcho);
  ASSERT_NE(io.port, 0);
  Peer peer;
  testing::set_remote(io.driver, kId, peer.endpoint());
  const SrtpKeys keys = make_keys(1, 101);
  Command set;
  set.kind = CommandKind::kSetSrtp;
  set.stream = kId;
  set.keys = keys;
  ASSERT_TRUE(io.driver.post(std::move(set)));
  // Commands apply in order at the tick boundary: once this stats request is
  // answered, the keys are in place.
  ASSERT_TRUE(testing::request_stats(io.driver, kId).has_value());

  // Plain RTP on an SRTP stream: dropped as an authentication failure.
  for (uint16_t i = 0; i < 5; ++i) peer.send_to(io.port, make_rtp(0, i, i * 160u, 0xC, kPayload));
  auto stats =
      stats_until(io.driver, kId, [](const StreamStats& s) { return s.drops.auth_failed >= 5; });
  EXPECT_EQ(stats.drops.auth_failed, 5u);
  EXPECT_EQ(stats.packets_received, 0u);

  // Protected with the right key: accepted; with a wrong key: dropped.
  auto out = SrtpSession::create(keys.suite, std::span(keys.inbound.data(), 30),
                                 SrtpSession::Direction::kOutbound);
  const SrtpKeys wrong = make_keys(50, 101);
  auto forged = SrtpSession::create(wrong.suite, std::span(wrong.inbound.data(), 30),
                                    SrtpSession::Direction::kOutbound);
  ASSERT_TRUE(out && forged);
  const auto start = std::chrono::steady_clock::now();  // paced on absolute deadlines
  for (uint16_t i = 10; i < 30; ++i) {
    auto pkt = make_rtp(0, i, i * 160u, 0xC, kPayload);
    size_t len = pkt.size();
    pkt.resize(len + SrtpSession::kProtectOverhead);
    auto& session = (i % 4 == 3) ? *forged : *out;
    ASSERT_TRUE(session.protect_rtp(pkt.data(), len, pkt.size()));
    pkt.resize(len);
    peer.send_to(io.port, pkt);
    std::this_thread::sleep_until(start + (i - 9) * 20ms);
  }
  stats =
      stats_until(io.driver, kId, [](const StreamStats& s) { return s.packets_received >= 15; });
  EXPECT_EQ(stats.packets_received, 15u);
  EXPECT_EQ(stats.drops.auth_failed, 10u);
  // The echo comes back protected with the stream's outbound key.
  auto in = SrtpSession::create(keys.suite, std::span(keys.outbound.data(), 30),
                                SrtpSession::Direction::kInbound);
  ASSERT_TRUE(in);
  size_t good = 0;
  for (auto& d : peer.receive_all(200ms)) {
    if (is_rtcp(d)) continue;
    size_t len = d.size();
    if (in->unprotect_rtp(d.data(), len)) ++good;
  }
  EXPECT_GE(good, 3u);  // a guard that the echo ran; missed ticks echo fewer
}

TEST_P(StreamIo, SrtpPacketsWithPaddingAreAccepted) {
  // RFC 3711 §3.1: the padding count is encrypted, so before unprotect the
  // last byte is the auth tag's; only after it may the P bit be honoured.
  Shard shard(testing::loopback_config(20, GetParam()));
  testing::Driver driver(shard);
  shard.start();
  const uint16_t port = open_via_command(driver, kId);
  ASSERT_NE(port, 0);
  const SrtpKeys keys = make_keys(7, 77);
  Command set;
  set.kind = CommandKind::kSetSrtp;
  set.stream = kId;
  set.keys = keys;
  ASSERT_TRUE(driver.post(std::move(set)));
  ASSERT_TRUE(testing::request_stats(driver, kId).has_value());
  auto out = SrtpSession::create(keys.suite, std::span(keys.inbound.data(), 30),
                                 SrtpSession::Direction::kOutbound);
  ASSERT_TRUE(out.has_value());
  Peer peer;
  for (uint16_t i = 0; i < 8; ++i) {
    std::vector<uint8_t> pkt(512);
    PacketOptions options;
    options.pad_to = 16;  // P=1, padding up to a multiple of 16
    size_t len = write_packet(pkt, RtpHeader{0, false, i, i * 160u, 0xAB}, kPayload, options);
    ASSERT_GT(len, 0u);
    ASSERT_TRUE(out->protect_rtp(pkt.data(), len, pkt.size()));
    pkt.resize(len);
    peer.send_to(port, pkt);
  }
  const auto stats =
      stats_until(driver, kId, [](const StreamStats& s) { return s.packets_received >= 8; });
  EXPECT_EQ(stats.packets_received, 8u);
  EXPECT_EQ(stats.drops.malformed + stats.drops.auth_failed, 0u);
}

// A peer re-keying (a re-offer with a new a=crypto of its own) changes what
// the stream unprotects with; what it protects with goes on under the same
// key, so its SRTCP index and rollover counter go on too. A new outbound
// context would start SRTCP at index 1 again: the same keystream twice
// (RFC 3711 §9.1), which the peer's replay check sees as a replay.
TEST_P(StreamIo, APeerReKeyingLeavesOurOutboundSrtpRunning) {
  OpenStream io(GetParam(), Recorder::Mode::kEcho, 0.1);
  testing::Driver& driver = io.driver;
  const uint16_t port = io.port;
  ASSERT_NE(port, 0);
  Peer peer;
  testing::set_remote(driver, kId, peer.endpoint());
  const auto set_keys = [&](const SrtpKeys& keys) {
    Command set;
    set.kind = CommandKind::kSetSrtp;
    set.stream = kId;
    set.keys = keys;
    ASSERT_TRUE(driver.post(std::move(set)));
    ASSERT_TRUE(testing::request_stats(driver, kId).has_value());  // applied
  };
  const SrtpKeys first = make_keys(1, 101);
  const SrtpKeys second = make_keys(60, 101);  // the peer's key changes, ours does not
  // The peer's side: what it protects with (one per key), and one inbound
  // context for our key that lives through the re-key, replay window and all.
  auto hear = SrtpSession::create(first.suite, std::span(first.outbound.data(), 30),
                                  SrtpSession::Direction::kInbound);
  ASSERT_TRUE(hear.has_value());
  uint16_t seq = 0;
  // Talks for ~0.6 s with `keys`, and unprotects what comes back.
  const auto exchange = [&](const SrtpKeys& keys, size_t& rtcp_ok, size_t& rtcp_bad,
                            size_t& rtp_ok) {
    auto speak = SrtpSession::create(keys.suite, std::span(keys.inbound.data(), 30),
                                     SrtpSession::Direction::kOutbound);
    ASSERT_TRUE(speak.has_value());
    const auto take = [&](std::vector<uint8_t>& d) {
      size_t len = d.size();
      if (is_rtcp(d)) {
        (hear->unprotect_rtcp(d.data(), len) ? rtcp_ok : rtcp_bad)++;
      } else if (hear->unprotect_rtp(d.data(), len)) {
        ++rtp_ok;
      }
    };
    for (int i = 0; i < 30; ++i, ++seq) {
      auto pkt = make_rtp(0, seq, seq * 160u, 0xC, kPayload);
      size_t len = pkt.size();
      pkt.resize(len + SrtpSession::kProtectOverhead);
      ASSERT_TRUE(speak->protect_rtp(pkt.data(), len, pkt.size()));
      pkt.resize(len);
      peer.send_to(port, pkt);
      for (auto& d : peer.receive_all(20ms)) take(d);
    }
    for (auto& d : peer.receive_all(300ms)) take(d);
  };
  size_t rtcp_ok = 0, rtcp_bad = 0, rtp_ok = 0;
  set_keys(first);
  exchange(first, rtcp_ok, rtcp_bad, rtp_ok);
  ASSERT_GE(rtcp_ok, 1u);
  // Echo counts depend on the shard's pace (a TSan build on a busy machine
  // echoed 9 of 30); they only guard that our RTP decrypts at all.
  ASSERT_GE(rtp_ok, 5u);
  EXPECT_EQ(rtcp_bad, 0u);
  const size_t rtcp_before = rtcp_ok, rtp_before = rtp_ok;
  set_keys(second);
  exchange(second, rtcp_ok, rtcp_bad, rtp_ok);
  EXPECT_GE(rtcp_ok, rtcp_before + 1) << "our SRTCP after the peer re-keyed";
  EXPECT_EQ(rtcp_bad, 0u) << "an SRTCP index used twice under one key";
  EXPECT_GE(rtp_ok, rtp_before + 3);  // our RTP goes on too (echoes, timing-loose)
  EXPECT_EQ(testing::request_stats(driver, kId)->drops.auth_failed, 0u);
}

TEST_P(StreamIo, TelephoneEventsBecomeOneDigitEventAndNeverReachTheJitterBuffer) {
  Shard shard(testing::loopback_config(20, GetParam()));
  Recorder rec(shard, kId, Recorder::Mode::kPullOnly);
  testing::Driver driver(shard, &rec);
  shard.start();
  StreamConfig config;
  config.telephone_event_pt = 101;
  const uint16_t port = open_via_command(driver, kId, config);
  ASSERT_NE(port, 0);
  Peer peer;
  // RFC 4733 §2.5.1: start with marker, continuations, three end packets,
  // all with the event's timestamp.
  uint16_t seq = 500;
  for (int i = 0; i < 6; ++i) {
    std::array<uint8_t, 4> ev{};
    const bool end = i >= 3;
    write_dtmf_event(ev, DtmfEvent{5, static_cast<uint16_t>(160 * (i + 1)), 10, end});
    peer.send_to(port, make_rtp(101, seq++, 8000, 0xD, ev, i == 0));
  }
  const auto digit = wait_kind(driver, EventKind::kDtmf, kId);
  ASSERT_TRUE(digit.has_value());
  EXPECT_EQ(digit->digit, '5');
  EXPECT_FALSE(wait_kind(driver, EventKind::kDtmf, kId, 200ms).has_value());  // never twice
  EXPECT_EQ(rec.packets.load(), 0u);
  EXPECT_EQ(rec.lost.load() + rec.silence.load(), 0u);  // jitter buffer never started
}

TEST_P(StreamIo, UnknownPayloadTypesAreDroppedAndCounted) {
  Shard shard(testing::loopback_config(20, GetParam()));
  testing::Driver driver(shard);
  shard.start();
  StreamConfig config;
  config.payload_types.reset();
  config.payload_types.set(0);
  const uint16_t port = open_via_command(driver, kId, config);
  Peer peer;
  for (uint16_t i = 0; i < 4; ++i)
    peer.send_to(port, make_rtp(i % 2 == 0 ? 0 : 96, i, i * 160u, 1, kPayload));
  const auto stats =
      stats_until(driver, kId, [](const StreamStats& s) { return s.drops.unknown_pt >= 2; });
  EXPECT_EQ(stats.drops.unknown_pt, 2u);
}

TEST_P(StreamIo, SilenceRaisesOneRtpTimeoutEventPerQuietPeriod) {
  Shard shard(testing::loopback_config(20, GetParam()));
  testing::Driver driver(shard);
  shard.start();
  StreamConfig config;
  config.rtp_timeout = 150ms;
  const uint16_t port = open_via_command(driver, kId, config);
  ASSERT_NE(port, 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_kind(driver, EventKind::kRtpTimeout, kId, 1000ms).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 140ms);
  EXPECT_FALSE(wait_kind(driver, EventKind::kRtpTimeout, kId, 300ms).has_value());  // once
  // Media resumes (an RTCP packet counts too), then stops: a new timeout.
  Peer peer;
  std::array<uint8_t, 64> rr{};
  RtcpWriter w(rr);
  w.add_receiver_report(0x77);
  w.add_sdes_cname(0x77, "peer");
  peer.send_to(port, std::span(rr.data(), w.size()));
  EXPECT_TRUE(wait_kind(driver, EventKind::kRtpTimeout, kId, 1000ms).has_value());
}

// The shard's observer in front of the driver, refusing the first
// `refusals` timeouts as a full event ring does; the rest passes through.
class RefusingTimeouts : public StreamObserver {
 public:
  RefusingTimeouts(StreamObserver& inner, int refusals) : inner_(inner), refusals_(refusals) {}
  bool on_rtp_timeout(Stream& stream) override {
    if (refused_.load() < refusals_) {
      refused_.fetch_add(1);
      return false;
    }
    return inner_.on_rtp_timeout(stream);
  }
  void on_dtmf(Stream& stream, char digit) override { inner_.on_dtmf(stream, digit); }
  void on_ssrc_change(Stream& stream, uint32_t previous, uint32_t ssrc) override {
    inner_.on_ssrc_change(stream, previous, ssrc);
  }
  bool on_media_ended(Stream& stream, MediaEndReason reason) override {
    return inner_.on_media_ended(stream, reason);
  }
  int refused() const { return refused_.load(); }

 private:
  StreamObserver& inner_;
  const int refusals_;
  std::atomic<int> refused_{0};
};

// A timeout is told once per quiet period and the owner ends the call on
// it: one the observer could not take is offered again every tick.
TEST_P(StreamIo, ARefusedRtpTimeoutIsOfferedAgainUntilTaken) {
  Shard shard(testing::loopback_config(20, GetParam()));
  testing::Driver driver(shard);
  RefusingTimeouts refusing(driver, 5);
  shard.set_stream_observer(&refusing);
  shard.start();
  StreamConfig config;
  config.rtp_timeout = 150ms;
  ASSERT_NE(open_via_command(driver, kId, config), 0);
  ASSERT_TRUE(wait_kind(driver, EventKind::kRtpTimeout, kId, 1000ms).has_value());
  EXPECT_EQ(refusing.refused(), 5);
  EXPECT_FALSE(wait_kind(driver, EventKind::kRtpTimeout, kId, 300ms).has_value());  // once
}

TEST_P(StreamIo, SendsRtcpReportsWithCnameAndCountsReceivedOnes) {
  OpenStream io(GetParam(), Recorder::Mode::kEcho, 0.1);
  testing::Driver& driver = io.driver;
  const uint16_t port = io.port;
  Peer peer;
  testing::set_remote(driver, kId, peer.endpoint());
  talk(peer, port, 0xE, 1, 20);
  // Our SR about the stream's packets, so its report about us carries LSR.
  std::array<uint8_t, 128> sr{};
  RtcpWriter w(sr);
  w.add_sender_report(0xE, SenderInfo{ntp_now(), 3200, 20, 3200});
  w.add_sdes_cname(0xE, "peer@test");
  peer.send_to(port, std::span(sr.data(), w.size()));
  bool saw_report = false, saw_cname = false;
  std::optional<SenderReport> our_sr;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until && !(saw_report && saw_cname && our_sr)) {
    auto d = peer.receive(100ms);
    if (!d || !is_rtcp(*d)) continue;
    auto compound = RtcpCompoundView::parse(*d);
    ASSERT_TRUE(compound.has_value());
    for (const RtcpPacketView p : *compound) {
      if (auto s = parse_sender_report(p)) {
        saw_report = s->blocks.size() == 1 && s->blocks[0].ssrc == 0xE;
        our_sr = s;
      } else if (auto r = parse_receiver_report(p)) {
        saw_report = r->blocks.size() == 1 && r->blocks[0].ssrc == 0xE;
      }
      if (auto c = sdes_cname(p)) saw_cname = c->starts_with("chorus");
    }
  }
  EXPECT_TRUE(saw_report);
  EXPECT_TRUE(saw_cname);
  const auto stats =
      stats_until(driver, kId, [](const StreamStats& s) { return s.rtcp_received >= 1; });
  EXPECT_EQ(stats.rtcp_received, 1u);
  EXPECT_GE(stats.rtcp_sent, 1u);
  EXPECT_LT(stats.rtt_ms, 0.0);  // unknown until a report about us arrives

  // RFC 3550 §6.4.1: a report block about our SSRC echoing our SR's NTP time
  // as LSR (with DLSR 0) yields the round trip: here, a few ms of loopback.
  ASSERT_TRUE(our_sr.has_value());
  std::array<uint8_t, 128> rr{};
  RtcpWriter rw(rr);
  ReportBlock about_us;
  about_us.ssrc = our_sr->ssrc;
  about_us.lsr = ntp_middle32(our_sr->info.ntp_timestamp);
  const std::array<ReportBlock, 1> blocks{about_us};
  rw.add_receiver_report(0xE, blocks);
  rw.add_sdes_cname(0xE, "peer@test");
  peer.send_to(port, std::span(rr.data(), rw.size()));
  const auto with_rtt =
      stats_until(driver, kId, [](const StreamStats& s) { return s.rtt_ms >= 0.0; });
  EXPECT_GE(with_rtt.rtt_ms, 0.0);
  EXPECT_LT(with_rtt.rtt_ms, 3000.0);
}

// RFC 3550 §8.2 with the A.1 probation: the same party restarts with a new
// SSRC (new random sequence); its first packet is held back as a probation
// drop, its second in sequence is followed and reported.
TEST_P(StreamIo, ARealSsrcChangeIsFollowedFromItsSecondPacket) {
  OpenStream io(GetParam(), Recorder::Mode::kPullOnly);
  ASSERT_NE(io.port, 0);
  Peer peer;
  talk(peer, io.port, 0x1000, 1, 3, 5ms);
  talk(peer, io.port, 0x2000, 9000, 3, 5ms);
  const auto change = wait_kind(io.driver, EventKind::kSsrcChange, kId);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->previous_ssrc, 0x1000u);
  EXPECT_EQ(change->ssrc, 0x2000u);
  const auto stats =
      stats_until(io.driver, kId, [](const StreamStats& s) { return s.packets_received >= 5; });
  EXPECT_EQ(stats.packets_received, 5u);
  EXPECT_EQ(stats.drops.ssrc_probation, 1u);
  EXPECT_EQ(stats.remote_ssrc, 0x2000u);
  EXPECT_EQ(stats.drops.stranger, 0u);
}

// Reads the stream's jitter-buffer counters on the shard thread every tick.
class JitterWatch : public TickHandler {
 public:
  explicit JitterWatch(Shard& shard) : shard_(shard) {}
  ~JitterWatch() override { shard_.stop(); }
  void on_tick(uint64_t, std::chrono::steady_clock::time_point) override {
    Stream* s = shard_.find_stream(kId);
    if (s == nullptr) return;
    s->pull();
    resets.store(s->jitter_buffer().stats().resets);
    stale_resyncs.store(s->jitter_buffer().stats().stale_resyncs);
    ssrc_changes.store(s->jitter_buffer().stats().ssrc_changes);
  }
  std::atomic<uint64_t> resets{0}, stale_resyncs{0}, ssrc_changes{0};

 private:
  Shard& shard_;
};

// RFC 3550 A.1: one packet of another SSRC (stray, or spoofed from the
// latched address) is no new source: it is dropped and counted, and the
// jitter buffer, the statistics and the reported SSRC stay.
TEST_P(StreamIo, OneStrayPacketWithAnotherSsrcDoesNotResetTheJitterBuffer) {
  Shard shard(testing::loopback_config(20, GetParam()));
  JitterWatch watch(shard);
  testing::Driver driver(shard, &watch);
  shard.start();
  const uint16_t port = open_via_command(driver, kId);
  ASSERT_NE(port, 0);
  Peer peer;
  talk(peer, port, 0xA1, 100, 10);
  peer.send_to(port, make_rtp(0, 7, 7 * 160u, 0xBAD, kPayload));
  talk(peer, port, 0xA1, 110, 10);
  const auto stats =
      stats_until(driver, kId, [](const StreamStats& s) { return s.packets_received >= 20; });
  EXPECT_EQ(stats.packets_received, 20u);
  EXPECT_EQ(stats.drops.ssrc_probation, 1u);
  EXPECT_EQ(stats.remote_ssrc, 0xA1u);
  EXPECT_EQ(stats.cumulative_lost, 0);
  std::this_thread::sleep_for(60ms);  // a tick or two for the watch
  EXPECT_EQ(watch.ssrc_changes.load(), 0u);
  // A sender that fell behind the play-out on a loaded machine is resynced
  // (a reset, counted as stale); the stray packet itself resets nothing.
  EXPECT_EQ(watch.resets.load() - watch.stale_resyncs.load(), 0u);
  EXPECT_FALSE(wait_kind(driver, EventKind::kSsrcChange, kId, 100ms).has_value());
}

// RFC 4733 events around an SSRC change: a stray packet of another SSRC in
// the middle of a key press, and then a relay that rewrites the SSRC of the
// same press, report the digit once.
TEST_P(StreamIo, AnSsrcChangeInTheMiddleOfADigitDoesNotReportItTwice) {
  Shard shard(testing::loopback_config(20, GetParam()));
  Recorder rec(shard, kId, Recorder::Mode::kPullOnly);
  testing::Driver driver(shard, &rec);
  shard.start();
  StreamConfig config;
  config.telephone_event_pt = 101;
  const uint16_t port = open_via_command(driver, kId, config);
  ASSERT_NE(port, 0);
  Peer peer;
  const auto event = [](uint16_t duration, bool end) {
    std::array<uint8_t, 4> ev{};
    write_dtmf_event(ev, DtmfEvent{5, duration, 10, end});
    return ev;
  };
  uint16_t seq = 500;
  for (int i = 0; i < 2; ++i)
    peer.send_to(port, make_rtp(101, seq++, 8000, 0xD, event(160 * (i + 1), false), i == 0));
  peer.send_to(port, make_rtp(0, 42, 4200, 0xBAD, kPayload));  // the stray
  for (int i = 2; i < 4; ++i)
    peer.send_to(port, make_rtp(101, seq++, 8000, 0xD, event(160 * (i + 1), false)));
  // The relay takes over the same press under its own SSRC and sequence.
  for (int i = 4; i < 9; ++i)
    peer.send_to(port, make_rtp(101, static_cast<uint16_t>(3000 + i), 8000, 0xE,
                                event(160 * (i + 1), i >= 6)));
  const auto digit = wait_kind(driver, EventKind::kDtmf, kId);
  ASSERT_TRUE(digit.has_value());
  EXPECT_EQ(digit->digit, '5');
  EXPECT_FALSE(wait_kind(driver, EventKind::kDtmf, kId, 200ms).has_value());  // never twice
  const auto stats =
      stats_until(driver, kId, [](const StreamStats& s) { return s.remote_ssrc == 0xE; });
  EXPECT_EQ(stats.remote_ssrc, 0xEu);
  EXPECT_EQ(stats.drops.ssrc_probation, 2u);  // the stray, and the relay's first packet
  // A new press from the relay, whatever its timestamp, is a new digit.
  for (int i = 0; i < 4; ++i) {
    std::array<uint8_t, 4> ev{};
    write_dtmf_event(ev, DtmfEvent{9, static_cast<uint16_t>(160 * (i + 1)), 10, i >= 2});
    peer.send_to(port, make_rtp(101, static_cast<uint16_t>(3009 + i), 1000, 0xE, ev, i == 0));
  }
  const auto next = wait_kind(driver, EventKind::kDtmf, kId);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->digit, '9');
}

TEST_P(StreamIo, WithoutRtcpMuxRtcpFlowsOnTheOddPortBothWays) {
  ShardConfig sc = testing::loopback_config(20, GetParam());
  sc.rtcp.min_interval_seconds = 0.1;
  Shard shard(sc);
  Recorder rec(shard, kId, Recorder::Mode::kEcho);
  testing::Driver driver(shard, &rec);
  shard.start();
  StreamConfig config;
  config.rtcp_mux = false;
  const uint16_t port = open_via_command(driver, kId, config);
  ASSERT_NE(port, 0);
  Peer rtp_peer, rtcp_peer;  // the remote's RTP and RTCP ports
  Command remote;
  remote.kind = CommandKind::kSetRemote;
  remote.stream = kId;
  remote.remote_rtp = rtp_peer.endpoint();
  remote.remote_rtcp = rtcp_peer.endpoint();
  ASSERT_TRUE(driver.post(std::move(remote)));
  talk(rtp_peer, port, 0x3000, 1, 10);
  std::array<uint8_t, 64> rr{};
  RtcpWriter w(rr);
  w.add_receiver_report(0x3000);
  w.add_sdes_cname(0x3000, "odd");
  rtcp_peer.send_to(static_cast<uint16_t>(port + 1), std::span(rr.data(), w.size()));
  const auto stats =
      stats_until(driver, kId, [](const StreamStats& s) { return s.rtcp_received >= 1; });
  EXPECT_EQ(stats.rtcp_received, 1u);
  // Our reports arrive at the RTCP port, never at the RTP port.
  bool rtcp_on_rtcp_port = false;
  for (const auto& d : rtcp_peer.receive_all(1500ms)) rtcp_on_rtcp_port |= is_rtcp(d);
  EXPECT_TRUE(rtcp_on_rtcp_port);
  for (const auto& d : rtp_peer.receive_all(50ms)) EXPECT_FALSE(is_rtcp(d));
}

TEST_P(StreamIo, GarbageDatagramsAreCountedAsMalformedAndNothingBreaks) {
  OpenStream io(GetParam(), Recorder::Mode::kEcho);
  ASSERT_NE(io.port, 0);
  Peer peer;
  testing::set_remote(io.driver, kId, peer.endpoint());
  std::mt19937 rng(99);
  int sent = 0;
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> junk(rng() % 200);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (!junk.empty()) junk[0] = static_cast<uint8_t>((junk[0] & 0x3F) | (i % 2 ? 0x80 : 0x40));
    if (i % 3 == 0 && junk.size() > 1) junk[1] = static_cast<uint8_t>(200 + rng() % 8);  // "RTCP"
    peer.send_to(io.port, junk);
    ++sent;
  }
  // Empty datagram and a header-only RTP packet with a lying CSRC count.
  peer.send_to(io.port, std::span<const uint8_t>());
  const uint8_t lying[12] = {0x8F, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  peer.send_to(io.port, lying);
  const auto stats = stats_until(io.driver, kId, [&](const StreamStats& s) {
    return s.drops.malformed + s.packets_received + s.rtcp_received + s.drops.unknown_pt +
               s.drops.too_late + s.drops.too_early + s.drops.duplicate + s.drops.stranger +
               s.drops.ssrc_probation >=
           static_cast<uint64_t>(sent) + 2;
  });
  EXPECT_GE(stats.drops.malformed, 150u);
  // Still alive: a real talker after the junk is received (from its second
  // packet: junk that parsed took the SSRC first, RFC 3550 A.1 probation).
  talk(peer, io.port, 0xF00, 1, 3, 5ms);
  const auto after = stats_until(io.driver, kId, [&](const StreamStats& s) {
    return s.packets_received >= stats.packets_received + 2;
  });
  EXPECT_GE(after.packets_received, stats.packets_received + 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, StreamIo, ::testing::Values(IoBackend::kMmsg, IoBackend::kUring),
                         testing::IoBackendParamName());

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
