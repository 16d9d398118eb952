#include "focus/ops/metrics.hpp"

#include "focus/server.hpp"

#include <malloc.h>

#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "mixer/media_engine.hpp"

namespace chorus::focus {
namespace {

constexpr std::string_view kDropReasons[] = {
    "malformed", "auth_failed", "stranger",    "unknown_pt",     "too_late",         "duplicate",
    "too_large", "too_early",   "send_failed", "ssrc_probation", "webrtc_unlatched", "webrtc_plain",
};

uint64_t drop_count(const rtp::DropCounters& d, size_t reason) {
  const uint64_t values[] = {d.malformed,   d.auth_failed,    d.stranger,         d.unknown_pt,
                             d.too_late,    d.duplicate,      d.too_large,        d.too_early,
                             d.send_failed, d.ssrc_probation, d.webrtc_unlatched, d.webrtc_plain};
  return values[reason];
}

std::string_view method_label(size_t method) {
  const std::string_view name = sip::method_name(static_cast<sip::Method>(method));
  return name.empty() ? std::string_view("other") : name;
}

// Writes families in the format's order: # HELP, # TYPE, then samples.
class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // labels: already formatted `a="x",b="y"` (escaped), or empty.
  void sample(std::string_view name, std::string_view labels, uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%" PRIu64, value);
    line(name, labels, buf);
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    line(name, labels, buf);
  }
  std::string take() { return std::move(out_); }

 private:
  void line(std::string_view name, std::string_view labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  out += escape_label_value(value);
  out += '"';
  return out;
}

std::string shard_label(uint32_t index) {
  return label("shard", std::to_string(index));
}

// A shard's log2 histogram counts whole microseconds: bucket 0 holds 0,
// bucket b holds [2^(b-1), 2^b), i.e. values <= 2^b - 1, which is its `le`.
// The last bucket is open-ended (+Inf). The shard keeps no sum, so the
// family has _bucket and _count but no _sum.
using ShardHistogram = std::array<uint64_t, ShardMetrics::kHistogramBuckets>;
void render_shard_histogram(Writer& w, const std::vector<ShardMetrics>& shards,
                            const std::string& name, const char* help,
                            ShardHistogram ShardMetrics::*field) {
  constexpr size_t kBuckets = ShardMetrics::kHistogramBuckets;
  w.family(name, "histogram", help);
  for (const auto& s : shards) {
    const ShardHistogram& h = s.*field;
    uint64_t cumulative = 0;
    const std::string shard = shard_label(s.index);
    for (size_t b = 0; b + 1 < kBuckets; ++b) {
      cumulative += h[b];
      const uint64_t le_us = b == 0 ? 0 : (uint64_t{1} << b) - 1;
      char le[32];
      std::snprintf(le, sizeof le, "%.6f", static_cast<double>(le_us) * 1e-6);
      w.sample(name + "_bucket", shard + "," + label("le", le), cumulative);
    }
    cumulative += h[kBuckets - 1];
    w.sample(name + "_bucket", shard + "," + label("le", "+Inf"), cumulative);
    w.sample(name + "_count", shard, cumulative);
  }
}

void render_rooms(Writer& w, const std::vector<ConferenceState>& rooms) {
  w.family("chorus_rooms", "gauge", "Rooms with at least one member.");
  w.sample("chorus_rooms", "", static_cast<uint64_t>(rooms.size()));
  uint64_t members = 0;
  uint64_t talking = 0;
  uint64_t muted = 0;
  uint64_t held = 0;
  for (const ConferenceState& room : rooms) {
    members += room.members.size();
    for (const MemberState& m : room.members) {
      talking += m.talking ? 1 : 0;
      muted += m.muted ? 1 : 0;
      held += m.on_hold ? 1 : 0;
    }
  }
  w.family("chorus_members", "gauge", "Members in all rooms.");
  w.sample("chorus_members", "", members);
  w.family("chorus_members_talking", "gauge", "Members currently mixed as talkers.");
  w.sample("chorus_members_talking", "", talking);
  w.family("chorus_members_muted", "gauge", "Members muted by the focus.");
  w.sample("chorus_members_muted", "", muted);
  w.family("chorus_members_on_hold", "gauge", "Members on hold.");
  w.sample("chorus_members_on_hold", "", held);
  w.family("chorus_room_members", "gauge", "Members per room.");
  for (const ConferenceState& room : rooms) {
    w.sample("chorus_room_members", label("room", room.room),
             static_cast<uint64_t>(room.members.size()));
  }
}

void render_shards(Writer& w, const std::vector<ShardMetrics>& shards) {
  w.family("chorus_shard_ticks_total", "counter", "Mixer ticks run per media shard.");
  for (const auto& s : shards) w.sample("chorus_shard_ticks_total", shard_label(s.index), s.ticks);
  w.family("chorus_shard_deadline_misses_total", "counter",
           "Ticks that started later than deadline plus budget.");
  for (const auto& s : shards) {
    w.sample("chorus_shard_deadline_misses_total", shard_label(s.index), s.deadline_misses);
  }
  // One sample per shard of a field of ShardMetrics.
  const auto per_shard = [&](const char* name, const char* type, const char* help, auto field) {
    w.family(name, type, help);
    for (const auto& s : shards)
      w.sample(name, shard_label(s.index), static_cast<uint64_t>(s.*field));
  };
  per_shard("chorus_shard_commands_deferred_total", "counter",
            "Commands that waited in the engine's retry queue because the shard's ring was full.",
            &ShardMetrics::commands_deferred);
  per_shard("chorus_shard_commands_refused_total", "counter",
            "Commands refused for back-pressure (new calls answered 503).",
            &ShardMetrics::commands_refused);
  per_shard("chorus_media_retry_queue", "gauge", "Commands waiting in the engine's retry queue.",
            &ShardMetrics::retry_queue);
  per_shard("chorus_shard_encoder_groups_built_total", "counter",
            "Shared encoders a shard had to build on its own tick (the command brought none).",
            &ShardMetrics::groups_built_on_tick);
  per_shard("chorus_shard_members", "gauge", "Participants a media shard holds.",
            &ShardMetrics::members);
  per_shard("chorus_shard_streams", "gauge", "RTP streams open on a media shard.",
            &ShardMetrics::streams);
  per_shard("chorus_shard_ports_free", "gauge", "RTP ports left in a media shard's pool.",
            &ShardMetrics::ports_free);
  w.family("chorus_shard_io_uring", "gauge",
           "1 when a media shard's sockets use io_uring, 0 for recvmmsg/sendmmsg (media.io).");
  for (const auto& s : shards) {
    w.sample("chorus_shard_io_uring", shard_label(s.index),
             static_cast<uint64_t>(s.io_backend == "uring" ? 1 : 0));
  }
  w.family("chorus_rtp_unknown_source_drops_total", "counter",
           "Datagrams on a shared media port from a source no member claims (media.port_mode "
           "= \"shared\"; 0 with per-member ports).");
  for (const auto& s : shards) {
    w.sample("chorus_rtp_unknown_source_drops_total", shard_label(s.index), s.unknown_source_drops);
  }
  w.family("chorus_rtp_route_conflicts_total", "counter",
           "Shared media port: a member's address or SSRC claim refused because another member "
           "holds it.");
  for (const auto& s : shards) {
    w.sample("chorus_rtp_route_conflicts_total", shard_label(s.index), s.route_conflicts);
  }
  w.family("chorus_shard_events_dropped_total", "counter",
           "Notifications from a shard (talkers, levels, statistics) dropped on a full ring.");
  for (const auto& s : shards) {
    w.sample("chorus_shard_events_dropped_total", shard_label(s.index), s.events_dropped);
  }
  w.family("chorus_rtp_datagrams_received_total", "counter",
           "UDP datagrams read by a media shard (RTP and RTCP, before any check).");
  for (const auto& s : shards) {
    w.sample("chorus_rtp_datagrams_received_total", shard_label(s.index), s.datagrams_received);
  }
  // WebRTC members (issue #18), per shard.
  w.family("chorus_webrtc_stun_checks_total", "counter",
           "ICE-lite STUN Binding requests by outcome (success; 401 bad_integrity or "
           "unknown_username; 400 bad_request; other: 420, 487, ignored, malformed).");
  for (const auto& s : shards) {
    const std::pair<const char*, uint64_t> outcomes[] = {
        {"success", s.stun_success},
        {"bad_integrity", s.stun_bad_integrity},
        {"unknown_username", s.stun_unknown_username},
        {"bad_request", s.stun_bad_request},
        {"other", s.stun_other}};
    for (const auto& [name, n] : outcomes)
      w.sample("chorus_webrtc_stun_checks_total",
               shard_label(s.index) + "," + label("outcome", name), n);
  }
  w.family("chorus_webrtc_consent_expired_total", "counter",
           "WebRTC members ended: no valid STUN check and no authenticated SRTP for the consent "
           "timeout (RFC 7675).");
  for (const auto& s : shards)
    w.sample("chorus_webrtc_consent_expired_total", shard_label(s.index), s.webrtc_consent_expired);
  w.family("chorus_webrtc_address_checks_total", "counter",
           "Return routability (RFC 7675): candidate addresses a WebRTC member's checks named, "
           "by outcome: started (we send our own Binding check there), verified (it answered: "
           "media goes there), gave_up (it never answered), unmatched (a success answering "
           "none of our checks), refused (an address we never check), deferred (within a "
           "second of the member's last candidate).");
  for (const auto& s : shards) {
    const std::pair<const char*, uint64_t> outcomes[] = {
        {"started", s.webrtc_checks_started},     {"verified", s.webrtc_checks_verified},
        {"gave_up", s.webrtc_checks_gave_up},     {"unmatched", s.webrtc_checks_unmatched},
        {"refused", s.webrtc_candidates_refused}, {"deferred", s.webrtc_candidates_deferred}};
    for (const auto& [name, n] : outcomes)
      w.sample("chorus_webrtc_address_checks_total",
               shard_label(s.index) + "," + label("outcome", name), n);
  }
  w.family("chorus_webrtc_packets_dropped_total", "counter",
           "WebRTC datagrams dropped: DTLS/SRTP from an address no valid STUN check latched "
           "(unlatched), RTP before DTLS-SRTP keys (plain_rtp), STUN error answers beyond one "
           "per member per send (stun_unanswered), DTLS datagrams with no latched address or no "
           "room in the member's queue (dtls_send).");
  for (const auto& s : shards) {
    const std::pair<const char*, uint64_t> reasons[] = {
        {"unlatched", s.webrtc_unlatched_drops},
        {"plain_rtp", s.webrtc_plain_rtp_drops},
        {"stun_unanswered", s.webrtc_stun_unanswered},
        {"dtls_send", s.webrtc_dtls_send_dropped}};
    for (const auto& [name, n] : reasons)
      w.sample("chorus_webrtc_packets_dropped_total",
               shard_label(s.index) + "," + label("reason", name), n);
  }
  // One gauge per shard of a microsecond field of ShardMetrics, in seconds.
  const auto seconds_per_shard = [&](const char* name, const char* help,
                                     uint64_t ShardMetrics::*field) {
    w.family(name, "gauge", help);
    for (const auto& s : shards)
      w.sample(name, shard_label(s.index), static_cast<double>(s.*field) * 1e-6);
  };
  seconds_per_shard("chorus_shard_tick_duration_max_seconds", "Longest tick so far.",
                    &ShardMetrics::tick_duration_max_us);
  render_shard_histogram(w, shards, "chorus_shard_tick_duration_seconds",
                         "Time a media shard spent in one tick (mixing, encoding, sending).",
                         &ShardMetrics::tick_duration_us);
  seconds_per_shard("chorus_shard_tick_lateness_max_seconds",
                    "Latest start of a tick after its deadline so far.",
                    &ShardMetrics::tick_lateness_max_us);
  render_shard_histogram(w, shards, "chorus_shard_tick_lateness_seconds",
                         "How late a media shard's tick started after its deadline.",
                         &ShardMetrics::tick_lateness_us);
  seconds_per_shard("chorus_shard_miss_preceding_tick_max_seconds",
                    "Longest tick just before a deadline miss: short means the shard woke late, "
                    "long means its own work overran.",
                    &ShardMetrics::miss_preceding_tick_max_us);
}

void render_limits(Writer& w, const FocusMetrics& f) {
  const LimitCounters& c = f.limits;
  w.family("chorus_limit_refused_total", "counter",
           "Requests refused by an abuse limit, by limit and action (README Security).");
  const struct {
    const char* labels;
    uint64_t value;
  } refused[] = {
      {R"(limit="rate",action="drop")", c.rate_dropped},
      {R"(limit="rate",action="503")", c.rate_rejected},
      {R"(limit="transactions",action="drop")", c.transactions_refused},
      {R"(limit="auth_locked",action="401")", c.auth_locked},
      {R"(limit="calls_per_source",action="503")", c.calls_refused},
      {R"(limit="subscriptions",action="503")", c.subscriptions_refused},
      {R"(limit="reflection",action="503")", c.reflection_refused},
      {R"(limit="overload",action="503")", c.overload_refused},
  };
  for (const auto& r : refused) w.sample("chorus_limit_refused_total", r.labels, r.value);
  const auto counter = [&w](const char* name, const char* help, uint64_t value) {
    w.family(name, "counter", help);
    w.sample(name, "", value);
  };
  const auto gauge = [&w](const char* name, const char* help, uint64_t value) {
    w.family(name, "gauge", help);
    w.sample(name, "", value);
  };
  counter("chorus_auth_failures_total", "Failed digest attempts (wrong password, bad nonce).",
          c.auth_failures);
  counter("chorus_auth_lockouts_total", "(source, account) pairs locked out after failures.",
          c.auth_lockouts);
  counter("chorus_auth_slowed_total", "Requests on an account under attack delayed.",
          c.auth_slowed);
  counter("chorus_limit_log_lines_suppressed_total",
          "Abuse log lines not written (one per source and kind per interval).",
          c.log_lines_suppressed);
  gauge("chorus_limit_sources_tracked", "Slots of the per-source rate table in use.",
        f.limit_sources_tracked);
  gauge("chorus_auth_locked_pairs", "(source, account) pairs locked out now.",
        f.limit_locked_pairs);
  gauge("chorus_auth_deferred", "Requests waiting out the account delay.", f.limit_deferred);
  w.family("chorus_cpu_percent", "gauge",
           "Process CPU over the last second, percent of all cores (overload budget).");
  w.sample("chorus_cpu_percent", "", f.cpu_percent);
}

// The C heap as the allocator sees it: what is in use, and what it holds
// free (freed but not yet given back, or pinned by a live neighbour). A
// free share that stays high after a burst is fragmentation, not a leak.
void render_heap(Writer& w) {
#ifdef __GLIBC__
  const struct mallinfo2 info = ::mallinfo2();
  w.family("chorus_heap_bytes", "gauge",
           "C heap bytes in use and held free by the allocator (glibc mallinfo2).");
  w.sample("chorus_heap_bytes", R"(state="in_use")", info.uordblks + info.hblkhd);
  w.sample("chorus_heap_bytes", R"(state="free")", info.fordblks);
#else
  (void)w;
#endif
}

void render_focus(Writer& w, const FocusMetrics& f) {
  const auto gauge = [&w](const char* name, const char* help, uint64_t value) {
    w.family(name, "gauge", help);
    w.sample(name, "", value);
  };
  gauge("chorus_calls", "Calls the focus holds (members of all rooms, hidden ones included).",
        f.calls);
  gauge("chorus_rooms_open", "Rooms the focus holds (with at least one call).", f.rooms);
  gauge("chorus_dialogs", "Dialogs of calls and of out-of-dialog REFER subscriptions.", f.dialogs);
  gauge("chorus_dialing", "Dial-outs waiting for a final response.", f.dialing);
  gauge("chorus_subscriptions", "Conference and dialog package subscriptions.", f.subscriptions);
  gauge("chorus_sip_transactions", "SIP transactions alive in the stack.", f.transactions);
  gauge("chorus_media_totals_entries", "Live per-participant entries of the media totals.",
        f.media_totals_entries);
  gauge("chorus_media_unsent_removes", "Media removals waiting for the engine to accept them.",
        f.unsent_removes);
  gauge("chorus_media_unsent_changes",
        "Members whose refused media changes (settings, address, keys) wait for the engine.",
        f.unsent_changes);
  gauge("chorus_media_removes_in_flight", "Media removals not yet completed by a shard.",
        f.removes_in_flight);
  w.family("chorus_media_commands_failed_total", "counter",
           "Media commands refused or failed (settings, address, keys, codec).");
  w.sample("chorus_media_commands_failed_total", "", f.media_commands_failed);
  w.family("chorus_joins_refused_busy_total", "counter",
           "New calls answered 503 because the media engine pushed back.");
  w.sample("chorus_joins_refused_busy_total", "", f.joins_refused_busy);
  gauge("chorus_relay_subscriptions",
        "Dialog subscriptions relaying the SIP messages themselves (message/sip).",
        f.relay_subscriptions);
  w.family("chorus_relay_overflows_total", "counter",
           "message/sip subscriptions ended because their NOTIFY queue overflowed.");
  w.sample("chorus_relay_overflows_total", "", f.relay_overflows);
  gauge("chorus_recordings_active", "Rooms being recorded.", f.recordings_active);
  w.family("chorus_recordings_failed_total", "counter",
           "Recordings stopped because their files could not be written.");
  w.sample("chorus_recordings_failed_total", "", f.recordings_failed);
  w.family("chorus_recordings_finished_total", "counter",
           "Recordings whose files were completed (stopped, or their room ended).");
  w.sample("chorus_recordings_finished_total", "", f.recordings_finished);
  w.family("chorus_recordings_frames_dropped_total", "counter",
           "20 ms recording frames the writer could not take in time (silence in the files).");
  w.sample("chorus_recordings_frames_dropped_total", "", f.recording_frames_dropped);
  w.family("chorus_refer_subscriptions_expired_total", "counter",
           "REFER subscriptions that reached their expiry before the referred action's outcome.");
  w.sample("chorus_refer_subscriptions_expired_total", "", f.referrals_expired);
  w.family("chorus_pin_timeouts_total", "counter",
           "Calls ended (BYE) because the room's PIN was not keyed in within pin_timeout.");
  w.sample("chorus_pin_timeouts_total", "", f.pin_timeouts);
  render_limits(w, f);
  render_heap(w);
}

void render_media(Writer& w, const MediaCounters& m) {
  w.family("chorus_rtp_packets_received_total", "counter",
           "RTP packets accepted (after SRTP and source latching).");
  w.sample("chorus_rtp_packets_received_total", "", m.packets_received);
  w.family("chorus_rtp_bytes_received_total", "counter", "RTP bytes accepted.");
  w.sample("chorus_rtp_bytes_received_total", "", m.bytes_received);
  w.family("chorus_rtp_packets_sent_total", "counter", "RTP packets sent.");
  w.sample("chorus_rtp_packets_sent_total", "", m.packets_sent);
  w.family("chorus_rtp_bytes_sent_total", "counter", "RTP bytes sent.");
  w.sample("chorus_rtp_bytes_sent_total", "", m.bytes_sent);
  w.family("chorus_rtcp_packets_received_total", "counter", "RTCP packets received.");
  w.sample("chorus_rtcp_packets_received_total", "", m.rtcp_received);
  w.family("chorus_rtcp_packets_sent_total", "counter", "RTCP packets sent.");
  w.sample("chorus_rtcp_packets_sent_total", "", m.rtcp_sent);
  w.family("chorus_rtp_packets_dropped_total", "counter",
           "Media packets dropped, by reason (rtp::DropCounters).");
  for (size_t r = 0; r < std::size(kDropReasons); ++r) {
    w.sample("chorus_rtp_packets_dropped_total", label("reason", kDropReasons[r]),
             drop_count(m.drops, r));
  }
  w.family("chorus_srtp_auth_failures_total", "counter",
           "SRTP/SRTCP packets that failed authentication or replay checks.");
  w.sample("chorus_srtp_auth_failures_total", "", m.drops.auth_failed);
}

void render_dtls(Writer& w, const mixer::DtlsStats& d) {
  w.family("chorus_webrtc_dtls_handshakes_total", "counter",
           "DTLS-SRTP handshakes of WebRTC members by result (fingerprint_mismatch and timeout "
           "are part of failed; closed: close_notify after connecting).");
  const std::pair<const char*, uint64_t> results[] = {
      {"started", d.started},  {"connected", d.connected},
      {"failed", d.failed},    {"fingerprint_mismatch", d.fingerprint_mismatch},
      {"timeout", d.timeouts}, {"closed", d.closed}};
  for (const auto& [name, n] : results)
    w.sample("chorus_webrtc_dtls_handshakes_total", label("result", name), n);
}

void render_sip(Writer& w, const sip::StackStats& s) {
  const sip::MessageCounters& m = s.messages;
  w.family("chorus_sip_requests_received_total", "counter",
           "SIP requests received, by method (retransmissions included).");
  for (size_t i = 0; i < m.requests_received.size(); ++i) {
    if (m.requests_received[i] == 0) continue;
    w.sample("chorus_sip_requests_received_total", label("method", method_label(i)),
             m.requests_received[i]);
  }
  w.family("chorus_sip_requests_sent_total", "counter", "SIP requests sent, by method.");
  for (size_t i = 0; i < m.requests_sent.size(); ++i) {
    if (m.requests_sent[i] == 0) continue;
    w.sample("chorus_sip_requests_sent_total", label("method", method_label(i)),
             m.requests_sent[i]);
  }
  const auto responses = [&](std::string_view name, const auto& table) {
    for (const auto& [key, count] : table) {
      const std::string labels = label("method", method_label(static_cast<size_t>(key.first))) +
                                 "," + label("code", std::to_string(key.second));
      w.sample(name, labels, count);
    }
  };
  w.family("chorus_sip_responses_received_total", "counter",
           "SIP responses received, by CSeq method and status code.");
  responses("chorus_sip_responses_received_total", m.responses_received);
  w.family("chorus_sip_responses_sent_total", "counter",
           "SIP responses sent, by CSeq method and status code.");
  responses("chorus_sip_responses_sent_total", m.responses_sent);

  w.family("chorus_sip_transaction_timeouts_total", "counter",
           "Transactions ended by timer B, F or H (RFC 3261 section 17).");
  w.sample("chorus_sip_transaction_timeouts_total", "", s.transactions.timeouts);
  w.family("chorus_sip_ack_timeouts_total", "counter",
           "2xx to INVITE never ACKed within 64*T1 (RFC 3261 section 13.3.1.4).");
  w.sample("chorus_sip_ack_timeouts_total", "", s.ack_timeouts);
  w.family("chorus_sip_transactions_total", "counter", "SIP transactions created, by side.");
  w.sample("chorus_sip_transactions_total", label("side", "client"), s.transactions.client_created);
  w.sample("chorus_sip_transactions_total", label("side", "server"), s.transactions.server_created);
  w.family("chorus_sip_lingering_evicted_total", "counter",
           "Finished server transactions forgotten early (limits.max_lingering_transactions).");
  w.sample("chorus_sip_lingering_evicted_total", "", s.transactions.lingering_evicted);
  w.family("chorus_sip_retransmissions_total", "counter",
           "SIP retransmissions sent (timers A, E, G and 2xx to INVITE).");
  w.sample("chorus_sip_retransmissions_total", "",
           s.transactions.retransmissions_sent + s.ok_retransmissions);
  w.family("chorus_sip_transport_errors_total", "counter",
           "SIP send failures and transaction transport errors.");
  w.sample("chorus_sip_transport_errors_total", "",
           s.transport.send_errors + s.transactions.transport_errors);
  w.family("chorus_sip_malformed_total", "counter", "Malformed SIP input, by outcome.");
  w.sample("chorus_sip_malformed_total", label("outcome", "answered"),
           s.transport.parse_errors_answered);
  w.sample("chorus_sip_malformed_total", label("outcome", "dropped"), s.transport.parse_drops);
  w.sample("chorus_sip_malformed_total", label("outcome", "oversized"), s.transport.oversized);
  w.sample("chorus_sip_malformed_total", label("outcome", "framing"), s.transport.framing_errors);
  w.family("chorus_sip_connections_closed_total", "counter",
           "TCP/TLS/WS/WSS connections closed or refused by the transport's bounds, by reason.");
  const std::pair<std::string_view, uint64_t> closed[] = {
      {"idle", s.transport.connections_closed_idle},
      {"handshake_timeout", s.transport.connections_closed_handshake},
      {"first_message_timeout", s.transport.connections_closed_first_message},
      {"partial_message_timeout", s.transport.connections_closed_partial},
      {"send_backlog", s.transport.connections_closed_backlog},
      {"write_stalled", s.transport.connections_closed_stalled},
      {"refused_total_cap", s.transport.connections_refused},
      {"refused_source_cap", s.transport.connections_refused_source},
      {"refused_outgoing_cap", s.transport.connections_refused_outgoing},
      {"tls_handshake_failed", s.transport.tls_handshakes_failed},
      {"ws_handshake_refused", s.transport.ws_handshakes_refused},
      {"ws_message_too_big", s.transport.ws_messages_too_big}};
  for (const auto& [reason, count] : closed) {
    w.sample("chorus_sip_connections_closed_total", label("reason", reason), count);
  }
  w.family("chorus_sip_sips_refused_total", "counter",
           "sips: requests not sent because their next hop was not TLS (RFC 3261 26.2.2).");
  w.sample("chorus_sip_sips_refused_total", "", s.transport.sips_refused);
  w.family("chorus_sip_ws_no_flow_total", "counter",
           "Requests to a WebSocket client not sent: its connection was gone (RFC 7118 5).");
  w.sample("chorus_sip_ws_no_flow_total", "", s.transport.ws_no_flow);
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<ShardMetrics> shard_metrics(const mixer::MediaEngine& engine) {
  std::vector<ShardMetrics> out;
  out.reserve(engine.shard_count());
  for (size_t i = 0; i < engine.shard_count(); ++i) out.push_back(engine.shard_status(i));
  return out;
}

MetricsSource make_metrics_source(const sip::Stack& stack, const mixer::MediaEngine& engine,
                                  const MediaTotals* media) {
  MetricsSource source;
  source.sip = [&stack]() -> std::optional<sip::StackStats> { return stack.stats(); };
  source.shards = [&engine] { return shard_metrics(engine); };
  source.dtls = [&engine] { return engine.dtls_stats(); };
  if (media != nullptr) {
    source.media = [media]() -> std::optional<MediaCounters> { return media->totals(); };
  }
  return source;
}

MetricsSource make_metrics_source(Server& server) {
  MetricsSource source =
      make_metrics_source(server.stack(), server.engine(), &server.media_totals());
  source.focus = [&server]() -> std::optional<FocusMetrics> {
    const FocusGauges g = server.gauges();
    FocusMetrics m;
    m.calls = g.calls;
    m.rooms = g.rooms;
    m.dialogs = g.dialogs;
    m.dialing = g.dialing;
    m.subscriptions = g.subscriptions;
    m.transactions = g.transactions;
    m.media_totals_entries = g.media_totals_entries;
    m.unsent_removes = g.unsent_removes;
    m.unsent_changes = g.unsent_changes;
    m.removes_in_flight = g.removes_in_flight;
    m.media_commands_failed = g.media_commands_failed;
    m.joins_refused_busy = g.joins_refused_busy;
    m.relay_subscriptions = g.relay_subscriptions;
    m.relay_overflows = g.relay_overflows;
    m.recordings_active = g.recordings_active;
    m.recordings_failed = g.recordings_failed;
    m.recordings_finished = g.recordings_finished;
    m.recording_frames_dropped = server.recording_frames_dropped();
    m.referrals_expired = g.referrals_expired;
    m.pin_timeouts = g.pin_timeouts;
    m.limits = g.limits;
    m.limit_sources_tracked = g.limit_sources_tracked;
    m.limit_locked_pairs = g.limit_locked_pairs;
    m.limit_deferred = g.limit_deferred;
    m.cpu_percent = g.cpu_percent;
    return m;
  };
  return source;
}

MetricsSnapshot collect_metrics(const MetricsSource& source, std::vector<ConferenceState> rooms) {
  MetricsSnapshot snapshot;
  snapshot.rooms = std::move(rooms);
  if (source.sip) snapshot.sip = source.sip();
  if (source.shards) snapshot.shards = source.shards();
  if (source.media) snapshot.media = source.media();
  if (source.focus) snapshot.focus = source.focus();
  if (source.dtls) snapshot.dtls = source.dtls();
  return snapshot;
}

std::string render_metrics(const MetricsSnapshot& snapshot) {
  Writer w;
  render_rooms(w, snapshot.rooms);
  if (!snapshot.shards.empty()) render_shards(w, snapshot.shards);
  if (snapshot.media) render_media(w, *snapshot.media);
  if (snapshot.dtls) render_dtls(w, *snapshot.dtls);
  if (snapshot.sip) render_sip(w, *snapshot.sip);
  if (snapshot.focus) render_focus(w, *snapshot.focus);
  return w.take();
}

}  // namespace chorus::focus
