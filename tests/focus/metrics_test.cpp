// /metrics: the Prometheus text format 0.0.4 renderer (every line a comment or
// `name{labels} value`, histogram buckets cumulative and ending in +Inf equal
// to _count, label values escaped), the media totals that survive closed
// streams, and the SIP message counters sip::Stack keeps by method and code.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "focus/ops/metrics.hpp"
#include "focus/ops/metrics_media.hpp"
#include "signaling/asio.hpp"
#include "signaling/message/message.hpp"
#include "signaling/stack.hpp"
#include "signaling/transaction/transaction_ids.hpp"

namespace chorus::focus {
namespace {

using namespace std::chrono_literals;

// Parses exposition text into "name{labels}" → value, failing the test on any
// line that is neither a comment nor a sample.
std::map<std::string, double> parse_exposition(const std::string& text) {
  static const std::regex kSample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)\})? ([-+0-9.eE]+|\+Inf|NaN)$)");
  static const std::regex kComment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) {
      EXPECT_TRUE(std::regex_match(line, kComment)) << line;
      continue;
    }
    std::smatch m;
    if (!std::regex_match(line, m, kSample)) {
      ADD_FAILURE() << "not a sample: " << line;
      continue;
    }
    const std::string key = m[1].str() + (m[2].matched ? m[2].str() : "");
    EXPECT_EQ(samples.count(key), 0u) << "duplicate series " << key;
    samples[key] = std::stod(m[m.size() - 1].str());
  }
  EXPECT_TRUE(text.empty() || text.back() == '\n');
  return samples;
}

ConferenceState room(std::string name, size_t members, size_t talking) {
  ConferenceState state;
  state.room = std::move(name);
  for (size_t i = 0; i < members; ++i) {
    MemberState m;
    m.id = i + 1;
    m.talking = i < talking;
    m.muted = i == 0;
    state.members.push_back(m);
  }
  return state;
}

TEST(Metrics, RoomsAndMembersAreCounted) {
  MetricsSnapshot snapshot;
  snapshot.rooms = {room("alpha", 3, 1), room("beta", 2, 2)};
  const auto s = parse_exposition(render_metrics(snapshot));
  EXPECT_EQ(s.at("chorus_rooms"), 2);
  EXPECT_EQ(s.at("chorus_members"), 5);
  EXPECT_EQ(s.at("chorus_members_talking"), 3);
  EXPECT_EQ(s.at("chorus_members_muted"), 2);
  EXPECT_EQ(s.at(R"(chorus_room_members{room="alpha"})"), 3);
  EXPECT_EQ(s.at(R"(chorus_room_members{room="beta"})"), 2);
  // No source given: no shard, media or SIP families.
  EXPECT_EQ(s.count("chorus_sip_transaction_timeouts_total"), 0u);
}

TEST(Metrics, HostileRoomNamesAreEscapedIntoOneValidLine) {
  MetricsSnapshot snapshot;
  snapshot.rooms = {room("a\"b\\c\nd} 9", 1, 0)};
  const std::string text = render_metrics(snapshot);
  const auto s = parse_exposition(text);
  EXPECT_EQ(s.at(R"(chorus_room_members{room="a\"b\\c\nd} 9"})"), 1);
  EXPECT_EQ(escape_label_value("x\"y\\z\n"), "x\\\"y\\\\z\\n");
}

TEST(Metrics, ShardHistogramIsCumulativeAndEndsInInfEqualToCount) {
  ShardMetrics shard;
  shard.index = 1;
  shard.ticks = 100;
  shard.deadline_misses = 4;
  shard.tick_duration_us[0] = 1;                                            // 0 µs
  shard.tick_duration_us[3] = 10;                                           // [4, 8) µs
  shard.tick_duration_us[10] = 5;                                           // [512, 1024) µs
  shard.tick_duration_us[ShardMetrics::kHistogramBuckets - 1] = 2;  // way over
  shard.tick_duration_max_us = 20'000'000;
  shard.tick_lateness_us[0] = 90;   // on time
  shard.tick_lateness_us[14] = 10;  // [8192, 16384) µs late: past a 10 ms budget
  shard.tick_lateness_max_us = 12'500;
  shard.miss_preceding_tick_max_us = 1'500;
  MetricsSnapshot snapshot;
  snapshot.shards = {shard};
  const auto s = parse_exposition(render_metrics(snapshot));
  EXPECT_EQ(s.at(R"(chorus_shard_ticks_total{shard="1"})"), 100);
  EXPECT_EQ(s.at(R"(chorus_shard_deadline_misses_total{shard="1"})"), 4);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_duration_seconds_bucket{shard="1",le="0.000000"})"), 1);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_duration_seconds_bucket{shard="1",le="0.000003"})"), 1);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_duration_seconds_bucket{shard="1",le="0.000007"})"), 11);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_duration_seconds_bucket{shard="1",le="0.001023"})"), 16);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_duration_seconds_bucket{shard="1",le="+Inf"})"), 18);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_duration_seconds_count{shard="1"})"), 18);
  EXPECT_DOUBLE_EQ(s.at(R"(chorus_shard_tick_duration_max_seconds{shard="1"})"), 20.0);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_lateness_seconds_bucket{shard="1",le="0.000000"})"), 90);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_lateness_seconds_bucket{shard="1",le="0.008191"})"), 90);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_lateness_seconds_bucket{shard="1",le="0.016383"})"), 100);
  EXPECT_EQ(s.at(R"(chorus_shard_tick_lateness_seconds_count{shard="1"})"), 100);
  EXPECT_DOUBLE_EQ(s.at(R"(chorus_shard_tick_lateness_max_seconds{shard="1"})"), 0.0125);
  EXPECT_DOUBLE_EQ(s.at(R"(chorus_shard_miss_preceding_tick_max_seconds{shard="1"})"), 0.0015);
  // Buckets never decrease.
  double previous = 0;
  for (size_t b = 1; b + 1 < ShardMetrics::kHistogramBuckets; ++b) {
    char le[32];
    std::snprintf(le, sizeof le, "%.6f", static_cast<double>((uint64_t{1} << b) - 1) * 1e-6);
    const double value = s.at(
        std::string(R"(chorus_shard_tick_duration_seconds_bucket{shard="1",le=")") + le + "\"}");
    EXPECT_GE(value, previous) << le;
    previous = value;
  }
}

TEST(Metrics, FocusGaugesAndShardOccupancyAreRendered) {
  ShardMetrics shard;
  shard.index = 0;
  shard.members = 3;
  shard.streams = 3;
  shard.ports_free = 97;
  shard.retry_queue = 2;
  shard.commands_deferred = 5;
  shard.commands_refused = 1;
  shard.io_backend = "uring";
  ShardMetrics fallback = shard;  // io_uring refused: recvmmsg/sendmmsg
  fallback.index = 1;
  fallback.io_backend = "mmsg";
  FocusMetrics focus;
  focus.calls = 3;
  focus.rooms = 1;
  focus.dialogs = 4;
  focus.subscriptions = 2;
  focus.transactions = 6;
  focus.media_totals_entries = 3;
  MetricsSnapshot snapshot;
  snapshot.shards = {shard, fallback};
  snapshot.focus = focus;
  const auto s = parse_exposition(render_metrics(snapshot));
  EXPECT_EQ(s.at(R"(chorus_shard_io_uring{shard="0"})"), 1);
  EXPECT_EQ(s.at(R"(chorus_shard_io_uring{shard="1"})"), 0);
  EXPECT_EQ(s.at(R"(chorus_shard_members{shard="0"})"), 3);
  EXPECT_EQ(s.at(R"(chorus_shard_streams{shard="0"})"), 3);
  EXPECT_EQ(s.at(R"(chorus_shard_ports_free{shard="0"})"), 97);
  EXPECT_EQ(s.at(R"(chorus_media_retry_queue{shard="0"})"), 2);
  EXPECT_EQ(s.at(R"(chorus_shard_commands_deferred_total{shard="0"})"), 5);
  EXPECT_EQ(s.at(R"(chorus_shard_commands_refused_total{shard="0"})"), 1);
  EXPECT_EQ(s.at("chorus_calls"), 3);
  EXPECT_EQ(s.at("chorus_dialogs"), 4);
  EXPECT_EQ(s.at("chorus_subscriptions"), 2);
  EXPECT_EQ(s.at("chorus_sip_transactions"), 6);
  EXPECT_EQ(s.at("chorus_media_totals_entries"), 3);
}

TEST(Metrics, MediaFamiliesCoverEveryDropReasonAndSrtpAuthFailures) {
  MediaCounters media;
  media.packets_received = 10;
  media.packets_sent = 20;
  media.drops.auth_failed = 3;
  media.drops.stranger = 2;
  media.drops.too_late = 1;
  MetricsSnapshot snapshot;
  snapshot.media = media;
  const auto s = parse_exposition(render_metrics(snapshot));
  EXPECT_EQ(s.at("chorus_rtp_packets_received_total"), 10);
  EXPECT_EQ(s.at("chorus_rtp_packets_sent_total"), 20);
  EXPECT_EQ(s.at("chorus_srtp_auth_failures_total"), 3);
  EXPECT_EQ(s.at(R"(chorus_rtp_packets_dropped_total{reason="auth_failed"})"), 3);
  EXPECT_EQ(s.at(R"(chorus_rtp_packets_dropped_total{reason="stranger"})"), 2);
  EXPECT_EQ(s.at(R"(chorus_rtp_packets_dropped_total{reason="too_late"})"), 1);
  size_t reasons = 0;
  for (const auto& [key, value] : s) reasons += key.starts_with("chorus_rtp_packets_dropped_total");
  EXPECT_EQ(reasons, 12u);  // every rtp::DropCounters field, WebRTC's two included
}

// Issue #18: STUN outcomes, drops and consent expiries per shard, DTLS
// handshake results from the worker.
TEST(Metrics, WebRtcFamiliesCarryStunOutcomesConsentAndDtlsResults) {
  ShardMetrics shard;
  shard.index = 0;
  shard.stun_success = 5;
  shard.stun_bad_integrity = 2;
  shard.webrtc_unlatched_drops = 3;
  shard.webrtc_plain_rtp_drops = 4;
  shard.webrtc_stun_unanswered = 6;
  shard.webrtc_dtls_send_dropped = 7;
  shard.webrtc_consent_expired = 1;
  shard.webrtc_checks_started = 8;
  shard.webrtc_checks_verified = 5;
  shard.webrtc_checks_gave_up = 2;
  shard.webrtc_checks_unmatched = 9;
  shard.webrtc_candidates_refused = 11;
  shard.webrtc_candidates_deferred = 12;
  mixer::DtlsStats dtls;
  dtls.started = 6;
  dtls.connected = 4;
  dtls.failed = 2;
  dtls.fingerprint_mismatch = 1;
  MetricsSnapshot snapshot;
  snapshot.shards = {shard};
  snapshot.dtls = dtls;
  const auto s = parse_exposition(render_metrics(snapshot));
  EXPECT_EQ(s.at(R"(chorus_webrtc_stun_checks_total{shard="0",outcome="success"})"), 5);
  EXPECT_EQ(s.at(R"(chorus_webrtc_stun_checks_total{shard="0",outcome="bad_integrity"})"), 2);
  EXPECT_EQ(s.at(R"(chorus_webrtc_packets_dropped_total{shard="0",reason="unlatched"})"), 3);
  EXPECT_EQ(s.at(R"(chorus_webrtc_packets_dropped_total{shard="0",reason="plain_rtp"})"), 4);
  EXPECT_EQ(s.at(R"(chorus_webrtc_packets_dropped_total{shard="0",reason="stun_unanswered"})"), 6);
  EXPECT_EQ(s.at(R"(chorus_webrtc_packets_dropped_total{shard="0",reason="dtls_send"})"), 7);
  EXPECT_EQ(s.at(R"(chorus_webrtc_consent_expired_total{shard="0"})"), 1);
  EXPECT_EQ(s.at(R"(chorus_webrtc_address_checks_total{shard="0",outcome="started"})"), 8);
  EXPECT_EQ(s.at(R"(chorus_webrtc_address_checks_total{shard="0",outcome="verified"})"), 5);
  EXPECT_EQ(s.at(R"(chorus_webrtc_address_checks_total{shard="0",outcome="gave_up"})"), 2);
  EXPECT_EQ(s.at(R"(chorus_webrtc_address_checks_total{shard="0",outcome="unmatched"})"), 9);
  EXPECT_EQ(s.at(R"(chorus_webrtc_address_checks_total{shard="0",outcome="refused"})"), 11);
  EXPECT_EQ(s.at(R"(chorus_webrtc_address_checks_total{shard="0",outcome="deferred"})"), 12);
  EXPECT_EQ(s.at(R"(chorus_webrtc_dtls_handshakes_total{result="connected"})"), 4);
  EXPECT_EQ(s.at(R"(chorus_webrtc_dtls_handshakes_total{result="fingerprint_mismatch"})"), 1);
  EXPECT_EQ(s.at(R"(chorus_webrtc_dtls_handshakes_total{result="failed"})"), 2);
}

TEST(MediaTotals, RemovedParticipantsStayInTheTotalsAndTheirEntriesGo) {
  MediaTotals totals;
  rtp::StreamStats a;
  a.packets_received = 100;
  a.drops.auth_failed = 1;
  totals.on_stats(1, a);
  a.packets_received = 150;  // a later snapshot of the same participant
  totals.on_stats(1, a);
  rtp::StreamStats b;
  b.packets_received = 7;
  b.packets_sent = 9;
  totals.on_stats(2, b);
  EXPECT_EQ(totals.totals().packets_received, 157u);
  // The removal's completion carries the final counters (160 > the last
  // snapshot): they replace the live entry, which goes.
  a.packets_received = 160;
  totals.on_closed(1, a);
  EXPECT_EQ(totals.live_streams(), 1u);
  // A participant whose add failed held nothing: forgotten, not counted.
  totals.on_stats(3, b);
  totals.forget(3);
  EXPECT_EQ(totals.live_streams(), 1u);
  const MediaCounters sum = totals.totals();
  EXPECT_EQ(sum.packets_received, 167u);
  EXPECT_EQ(sum.packets_sent, 9u);
  EXPECT_EQ(sum.drops.auth_failed, 1u);
}

TEST(Metrics, SipCountersByMethodAndCodeFromARealStack) {
  namespace asio = boost::asio;
  asio::io_context io;
  sip::StackConfig config;
  config.listeners.push_back({sip::TransportKind::kUdp, "127.0.0.1", 0});
  sip::Stack focus(io, config);
  sip::Stack peer(io, config);
  focus.start();
  peer.start();
  sip::StackHandlers handlers;
  handlers.on_request = [](const sip::ServerTransaction& tx) {
    tx.respond(tx.request().method() == sip::Method::kOptions ? 200 : 405, {}, "t1");
  };
  focus.set_handlers(handlers);
  int answered = 0;
  const sip::Endpoint to = focus.listening().front();
  for (sip::Method method : {sip::Method::kOptions, sip::Method::kOptions, sip::Method::kInfo}) {
    sip::Message request =
        sip::Message::request(method, "sip:room@" + to.address + ":" + std::to_string(to.port));
    request.add_header("From", "<sip:a@127.0.0.1>;tag=" + sip::make_tag());
    request.add_header("To", "<sip:room@127.0.0.1>");
    request.add_header("Call-ID", "metrics-" + std::to_string(answered) + sip::make_tag());
    request.add_header("CSeq", "1 " + std::string(sip::method_name(method)));
    request.set_body({}, {});
    ASSERT_NE(peer.send_request(std::move(request), to,
                                [&](const sip::ClientEvent& event) {
                                  if (event.kind == sip::ClientEvent::Kind::kResponse) ++answered;
                                }),
              0u);
  }
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (answered < 3 && std::chrono::steady_clock::now() < deadline) io.run_for(5ms);
  ASSERT_EQ(answered, 3);

  const auto options = static_cast<size_t>(sip::Method::kOptions);
  const auto info = static_cast<size_t>(sip::Method::kInfo);
  const sip::StackStats stats = focus.stats();
  EXPECT_EQ(stats.messages.requests_received[options], 2u);
  EXPECT_EQ(stats.messages.requests_received[info], 1u);
  EXPECT_EQ(stats.messages.responses_sent.at({sip::Method::kOptions, 200}), 2u);
  EXPECT_EQ(stats.messages.responses_sent.at({sip::Method::kInfo, 405}), 1u);
  const sip::StackStats peer_stats = peer.stats();
  EXPECT_EQ(peer_stats.messages.requests_sent[options], 2u);
  EXPECT_EQ(peer_stats.messages.responses_received.at({sip::Method::kOptions, 200}), 2u);

  MetricsSource source;
  source.sip = [&]() -> std::optional<sip::StackStats> { return focus.stats(); };
  const auto s = parse_exposition(render_metrics(collect_metrics(source, {})));
  EXPECT_EQ(s.at(R"(chorus_sip_requests_received_total{method="OPTIONS"})"), 2);
  EXPECT_EQ(s.at(R"(chorus_sip_requests_received_total{method="INFO"})"), 1);
  EXPECT_EQ(s.at(R"(chorus_sip_responses_sent_total{method="OPTIONS",code="200"})"), 2);
  EXPECT_EQ(s.at(R"(chorus_sip_responses_sent_total{method="INFO",code="405"})"), 1);
  EXPECT_EQ(s.at("chorus_sip_transaction_timeouts_total"), 0);
}

// The transport's connection bounds, each its own reason: a peer's connection
// closed without a SIP message and one of ours refused at its own cap are
// told apart from TLS handshakes and from the peers' cap.
TEST(Metrics, ConnectionsClosedWithoutAMessageAndOursRefusedHaveTheirOwnReasons) {
  sip::StackStats stats;
  stats.transport.connections_closed_handshake = 1;
  stats.transport.connections_closed_first_message = 2;
  stats.transport.connections_refused = 3;
  stats.transport.connections_refused_outgoing = 4;
  MetricsSnapshot snapshot;
  snapshot.sip = stats;
  const auto s = parse_exposition(render_metrics(snapshot));
  EXPECT_EQ(s.at(R"(chorus_sip_connections_closed_total{reason="handshake_timeout"})"), 1);
  EXPECT_EQ(s.at(R"(chorus_sip_connections_closed_total{reason="first_message_timeout"})"), 2);
  EXPECT_EQ(s.at(R"(chorus_sip_connections_closed_total{reason="refused_total_cap"})"), 3);
  EXPECT_EQ(s.at(R"(chorus_sip_connections_closed_total{reason="refused_outgoing_cap"})"), 4);
}

TEST(Metrics, ExtensionMethodsCountAsOtherSoTheTableStaysBounded) {
  sip::StackStats stats;
  stats.messages.requests_received[static_cast<size_t>(sip::Method::kUnknown)] = 5;
  stats.messages.responses_sent[{sip::Method::kUnknown, 501}] = 5;
  MetricsSnapshot snapshot;
  snapshot.sip = stats;
  const auto s = parse_exposition(render_metrics(snapshot));
  EXPECT_EQ(s.at(R"(chorus_sip_requests_received_total{method="other"})"), 5);
  EXPECT_EQ(s.at(R"(chorus_sip_responses_sent_total{method="other",code="501"})"), 5);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
