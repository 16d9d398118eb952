#pragma once
// One participant's RTP/RTCP flow on a shard: its socket(s), latching, SRTP in
// and out, reception statistics (RFC 3550 A.1/A.3/A.8), the RTCP schedule and
// reports (§6.3, §6.4), RFC 4733 events routed to a DtmfReceiver instead of
// the jitter buffer, the jitter buffer, and the send path (packetize, protect,
// queue for the shard's batched send).
//
// Latching (symmetric RTP, RFC 4961 §3, as SBCs do behind NAT): the stream
// sends to the SDP address until media arrives, then to the source of the
// first authenticated (SRTP) packet, or of the first two in-sequence packets of
// one SSRC (plain RTP). Once latched, packets from any other address are
// dropped and counted as strangers; only a new SDP address (set_remote) lifts
// the latch.
//
// In the shared-port mode (ShardConfig::port_mode, issue #16) the stream has
// no socket: the shard receives for it on its one socket and hands it the
// datagrams whose source is one of the stream's routes (its SDP and latched
// addresses) or, from an unknown address, whose SSRC it claims (signalled by
// a=ssrc, or authenticated by SRTP); a route the peer proved (latched,
// authenticated) outranks one the SDP only names (route_table.hpp). Its
// datagrams leave in the shard's batched sends. Two things differ: RTCP from
// a peer without rtcp-mux arrives on the same port (told apart by payload
// type, RFC 5761 §4), and an SRTP stream re-latches to a new source on an
// authenticated packet (a NAT rebinding), which per-member ports drop as
// strangers.
//
// A WebRTC stream (StreamConfig::webrtc, issue #18) classifies every datagram (RFC 7983): STUN goes
// to its StunResponder (the answer is queued back to the source); DTLS only
// from the latched address (or, before a latch, the candidate our check is
// verifying, whose answers are held until it answers) to the shard's
// DtlsChannel; RTP/RTCP (rtcp-mux)
// only from the latched address and only once DTLS-SRTP keys exist.
// Nothing latches from RTP.
//
// Return routability (RFC 7675's consent): a valid check proves only that
// its sender knows our ice-pwd, which every member does (our SDP answer),
// not that its source wants our media: a member could nominate a spoofed
// victim address and aim the conference's mixed SRTP at it. So nothing
// (media, RTCP, DTLS) goes to an address before it answered a Binding
// request of ours (webrtc::CheckSender: USERNAME "<remote>:<local>",
// keyed with the browser's ice-pwd, a 96-bit transaction id from a CSPRNG).
// ICE-lite's choice (RFC 8445 §2.5: the first valid check, then the latest
// nominated one) only names the candidate: the one pending address per
// stream (a newer nomination replaces it), checked with one transaction id
// retransmitted on RFC 5389 §7.2.1's doubling schedule (ShardConfig::
// candidate_rto, kCandidateSends sends, 39.5 s in all at 500 ms; a check
// from the same address again keeps the id and the schedule, so a slow
// path's late answer to any retransmission still counts), then given up;
// the verified latch, if any,
// carries media meanwhile. Its Binding success — from that address, with
// that id and a MESSAGE-INTEGRITY keyed with the browser's ice-pwd — moves
// the latch. Consent is kept by answers only: the latched address gets a
// check every 4-6 s (at most consent timeout / 6), and no answer for the
// consent timeout ends the member, whatever valid checks or SRTP claim to
// come from there (the member can forge both); checks from other addresses
// refresh nothing. At most one of our checks per tick, queued only while
// the send queue keeps room for media; no allocation, no lock. The handshake's events come back
// through the shard (on_dtls_event); consent expiry and DTLS failure or close are told to the
// observer (on_media_ended). On a shared port a WebRTC stream claims no SDP address and no SSRC:
// only its local ICE ufrag (the shard hands it STUN from unknown sources whose USERNAME names that
// ufrag) and the one address our check verified (a re-latch replaces it), plus the pending
// candidate's while our check waits for its answer: the lowest claim, which catches only the
// candidate's DTLS (any other member's claim on that address takes it, and RTP/RTCP from there is
// routed as if the candidate's claim did not exist), so naming another member's address as a
// candidate silences nobody.
//
// Everything here runs on the owning shard's thread.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "rtp/asio.hpp"
#include "rtp/command.hpp"
#include "rtp/dtmf.hpp"
#include "rtp/event.hpp"
#include "rtp/jitter_buffer.hpp"
#include "rtp/receive_stats.hpp"
#include "rtp/route_table.hpp"
#include "rtp/rtcp_scheduler.hpp"
#include "rtp/send_stats.hpp"
#include "rtp/srtp.hpp"
#include "rtp/stream_config.hpp"
#include "rtp/udp_batch.hpp"
#include "webrtc/check_sender.hpp"
#include "webrtc/consent_timer.hpp"
#include "webrtc/dtls_worker.hpp"
#include "webrtc/stun_responder.hpp"

namespace chorus::webrtc {
struct DtlsEvent;
}

namespace chorus::rtp {

class Shard;
class UringIo;

class Stream {
 public:
  using Clock = std::chrono::steady_clock;
  using udp = boost::asio::ip::udp;

  // Made by StreamFactory::open (any thread) with sockets already bound;
  // used on `shard`'s thread once attached.
  Stream(Shard& shard, const StreamConfig& config, udp::socket rtp_socket,
         std::optional<udp::socket> rtcp_socket, uint32_t local_ssrc,
         std::chrono::milliseconds rtp_timeout, Clock::time_point now);
  // The shared-port mode: no socket of its own; `shared_port` is the shard's.
  Stream(Shard& shard, const StreamConfig& config, uint16_t shared_port, uint32_t local_ssrc,
         std::chrono::milliseconds rtp_timeout, Clock::time_point now);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  StreamId id() const { return config_.id; }
  // The owner's tag for its own bookkeeping (the mixer's member), handed back
  // through StreamObserver callbacks; the stream never reads it.
  void set_owner_tag(void* tag) { owner_tag_ = tag; }
  void* owner_tag() const { return owner_tag_; }
  const StreamConfig& config() const { return config_; }

  // ---- the mixer, on the shard thread
  // One slot per tick (the payload is valid until the next pull()).
  Slot pull() { return pull(Clock::now()); }
  Slot pull(Clock::time_point now);
  // Packetizes (RFC 3550 §5.1), protects and queues one packet; it leaves with
  // the shard's batched send at the end of the tick. `samples` is the RTP
  // timestamp advance after this packet. False when there is no destination
  // yet, the queue is full or protection failed (counted as send_failed).
  // `now` (the RTCP sender report's reference for this packet) may be read
  // once for a whole room's sends: the mixer does so.
  bool send(uint8_t payload_type, std::span<const uint8_t> payload, uint32_t samples, bool marker) {
    return send(payload_type, payload, samples, marker, Clock::now());
  }
  bool send(uint8_t payload_type, std::span<const uint8_t> payload, uint32_t samples, bool marker,
            Clock::time_point now);
  // A frame's time passed without a packet (DTX, an inactive stream, a tick
  // the shard missed): the next packet's timestamp still counts it (RFC 3550
  // §5.1: the timestamp is the sampling instant), so receivers see the gap as
  // a gap rather than as every later packet arriving late.
  void skip(uint32_t samples) { next_timestamp_ += samples; }

  // ---- signalling (applied from commands)
  // The SDP address; lifts the latch. rtcp: port 0 = rtp port + 1 (unless muxed).
  void set_remote(const udp::endpoint& rtp, const udp::endpoint& rtcp);
  // The peer's SSRC as its latest SDP signals it (RFC 5576 a=ssrc; none:
  // nullopt): the shared-port routes follow a re-offer.
  void set_signalled_ssrc(std::optional<uint32_t> ssrc);
  // False (and the old keys stay) when a key has the wrong size or the suite is
  // unsupported. Sizes 0/0 turn SRTP off.
  bool set_srtp(const SrtpKeys& keys);
  // A new media format after a codec change in a re-offer (RFC 3264 §8.3.2):
  // payload types, telephone-event, clock rate, tick size and largest payload
  // from `format` (its id, jitter limits and timeout are ignored). The jitter buffer and
  // receive statistics start afresh at the new clock; socket, port, SSRC,
  // latch and SRTP stay. `built`: a jitter buffer made off the shard for the
  // new format (mixer::Engine does, from format's jitter limits); it is
  // swapped in and takes the old one away, so the shard allocates nothing;
  // format's jitter limits become the stream's. Without it the buffer is
  // built here, with the stream's own limits.
  void set_format(const StreamConfig& format, JitterBuffer* built = nullptr);
  // A re-offer for a WebRTC stream (RFC 8839 §4.4.1.1.1, RFC 5763 §5): the
  // same credentials and fingerprint change nothing; new ICE credentials
  // need a new valid check to latch again (the DTLS association stays); a
  // new fingerprint restarts DTLS (SRTP off until its keys arrive). Either
  // restart gives the consent timer a fresh period from `now` and clears a
  // consent expiry (a DTLS restart clears any ending). False for a stream
  // that is not WebRTC.
  bool set_webrtc(const WebRtcConfig& webrtc, Clock::time_point now);
  bool set_webrtc(const WebRtcConfig& webrtc) { return set_webrtc(webrtc, Clock::now()); }

  // ---- WebRTC (issue #18), on the shard thread
  // A candidate's check (one transaction id) is sent kCandidateSends times
  // (RFC 5389 §7.2.1's Rc), the first retransmission ShardConfig::
  // candidate_rto after the first send and each wait doubling, and given up
  // kCandidateLastWait RTOs (Rm) after the last send: 79 RTOs, 39.5 s at the
  // default 500 ms, so a round trip of seconds still latches. One address
  // at a time (RFC 8445 §14.3's pacing is for a full agent's many pairs).
  static constexpr uint8_t kCandidateSends = 7;
  static constexpr uint8_t kCandidateLastWait = 16;
  // Each new candidate makes us send checks to an address the member chose
  // (a spoofed nomination names any): at most one new candidate per
  // kCandidateSpacing. A nomination that comes sooner is kept as the one
  // deferred candidate (the latest wins) and started once the spacing
  // allows; the pending one is kept meanwhile.
  static constexpr std::chrono::milliseconds kCandidateSpacing{1000};
  // Whether our checks may go to `address` (a valid check's source): not
  // unspecified, multicast, broadcast, port 0 or our own socket (`local`:
  // the bound address, which may be unspecified, and port), and not
  // loopback unless the member is on this host (`loopback_member`: our
  // bound or latched address is loopback).
  static bool candidate_allowed(const udp::endpoint& address, const udp::endpoint& local,
                                bool loopback_member);
  bool webrtc() const { return webrtc_ != nullptr; }
  // The stream's name at the DtlsChannel: generation << 32 | id, so events of
  // a handshake a new fingerprint replaced are told apart and dropped.
  uint64_t dtls_id() const {
    return webrtc_ ? uint64_t{webrtc_->generation} << 32 | config_.id : 0;
  }
  // One event of this stream's handshake. False: a kSend found the send queue
  // full; the shard keeps the event and offers it again next tick.
  bool on_dtls_event(webrtc::DtlsEvent& event);
  // Detach: the handshake is dropped at the worker (no event follows).
  void stop_dtls();
  const webrtc::StunCounters* stun_counters() const {
    return webrtc_ ? &webrtc_->stun.counters() : nullptr;
  }
  bool media_ended() const { return webrtc_ && webrtc_->ended; }

  // ---- observation
  const ReceiveStats& stats() const { return receive_stats_; }
  const SendStats& send_stats() const { return send_stats_; }
  const DropCounters& drops() const { return drops_; }
  const JitterBuffer& jitter_buffer() const { return jitter_; }
  StreamStats snapshot(Clock::time_point now) const;
  uint16_t local_port() const { return local_port_; }
  bool latched() const { return latched_; }
  bool srtp() const { return srtp_in_.has_value(); }
  // Where packets go now (the latched source, else the SDP address).
  const udp::endpoint& destination() const { return latched_ ? latched_rtp_ : remote_rtp_; }
  // `from` is the RTP address the SDP named, and that address is one the
  // caller sends from: not c=0.0.0.0, nor a private, shared (RFC 6598),
  // link-local or unique-local address, which a caller behind NAT names but
  // never sends from (a packet claiming it is spoofed, or from a neighbour).
  bool signalled(const udp::endpoint& from) const;
  // The address test of signalled(): false for the unspecified, private,
  // shared, link-local and unique-local addresses (IPv4-mapped ones too).
  static bool sends_from(const boost::asio::ip::address& sdp_address);
  uint32_t local_ssrc() const { return local_ssrc_; }
  uint32_t remote_ssrc() const { return remote_ssrc_; }
  Clock::time_point last_received() const { return last_received_; }
  uint64_t rtcp_received() const { return rtcp_received_; }
  uint64_t rtcp_sent() const { return rtcp_sent_; }

  // ---- the shard's side
  // A datagram read from this stream's RTP (rtcp_socket=false) or RTCP socket.
  // The buffer may be modified (SRTP unprotects in place).
  void on_datagram(std::span<uint8_t> datagram, const udp::endpoint& from, bool rtcp_socket,
                   Clock::time_point now);
  // A datagram too large for a receive buffer (MSG_TRUNC): dropped as malformed.
  void on_truncated();
  // Attached to the shard (Shard::attach): inactivity counts from now, not
  // from when the stream was built off the shard.
  // A WebRTC stream starts its consent timer and its DTLS handshake here.
  void on_attached(Clock::time_point now);
  // Per tick: RTCP when due, the inactivity check.
  void on_tick(Clock::time_point now);
  // Sends what was queued this tick: one sendmmsg per socket.
  void flush();
  // The io_uring path: queues one sendmsg per datagram not yet handed over
  // on `io` (the shard submits them), each result comes back in on_sent(),
  // and sent() frees the buffers once every send of the tick has completed.
  void flush(UringIo& io);
  void on_sent(int result) {
    if (result < 0) ++drops_.send_failed;
  }
  void sent();
  udp::socket& rtp_socket() { return rtp_socket_; }
  bool shared() const { return shared_; }
  // Shared-port mode: the datagrams queued this tick (the shard sends them
  // with its own socket, then calls sent()), and a refused one.
  UdpSendQueue& send_queue() { return rtp_queue_; }
  void on_send_refused() { ++drops_.send_failed; }
  // Shared-port mode: the sources and the SSRC this stream claims in its
  // shard's route tables (what it should claim now; and what the shard has
  // registered for it, which the shard keeps here), each proven by the peer
  // (latched, a valid STUN check, SRTP-authenticated), only signalled, or a
  // WebRTC candidate still unproven (route_table.hpp: proven outranks
  // signalled, which outranks a candidate).
  struct Routes {
    std::array<SourceKey, 4> sources{};
    std::array<bool, 4> proven{};     // per source
    std::array<bool, 4> candidate{};  // per source: the pending ICE candidate's
    size_t count = 0;
    std::optional<uint32_t> ssrc;
    bool ssrc_proven = false;
    std::optional<uint64_t> ufrag;  // WebRTC: ufrag_key of the local ICE ufrag
    bool attached = false;          // the shard routes to this stream
    // Registered: some wanted route is held by another stream; claimed again
    // whenever a route is released or loses its proof.
    bool pending = false;
  };
  Routes wanted_routes() const;
  Routes& routes() { return routes_; }
  udp::socket* rtcp_socket() { return rtcp_socket_ ? &*rtcp_socket_ : nullptr; }
  void close_sockets();

 private:
  // One of our own checks (return routability): to whom, with which id,
  // when it goes (again), the wait after that send, and how many more sends
  // it gets.
  struct Probe {
    udp::endpoint to;
    webrtc::TransactionId id{};
    Clock::time_point next{};
    Clock::duration rto{};
    uint8_t sends_left = 0;
    bool active = false;
  };
  void on_rtp(std::span<uint8_t> datagram, const udp::endpoint& from, Clock::time_point now);
  void on_rtcp(std::span<uint8_t> datagram, const udp::endpoint& from, bool rtcp_socket,
               Clock::time_point now);
  void consider_latch(const udp::endpoint& from, uint32_t ssrc, uint16_t sequence,
                      bool authenticated);
  // A packet whose SSRC is not the current one: true when it completes its
  // source's probation (the stream then follows the new SSRC).
  bool ssrc_passes_probation(uint32_t ssrc, uint16_t sequence);
  void send_rtcp_report(Clock::time_point now);
  const udp::endpoint& rtcp_destination() const;
  // Shared-port mode: tells the shard the stream's routes changed.
  void reroute();
  void on_webrtc_datagram(std::span<uint8_t> datagram, const udp::endpoint& from,
                          Clock::time_point now);
  void on_stun(std::span<uint8_t> datagram, const udp::endpoint& from, Clock::time_point now);
  void on_check_answer(std::span<const uint8_t> datagram, const udp::endpoint& from,
                       Clock::time_point now);
  void propose(const udp::endpoint& address, Clock::time_point now);
  void verify(const udp::endpoint& address, Clock::time_point now);
  void send_checks(Clock::time_point now);
  bool send_check(Probe& probe);
  webrtc::TransactionId check_id();
  Clock::duration consent_interval();
  void latch_webrtc(const udp::endpoint& address);
  // Queues the DTLS datagrams held for the latched address (as many as the
  // queue takes; the rest wait for the next tick); drops them when they
  // were for another address, or the candidate they waited for is gone.
  void release_held_dtls();
  void drop_held_dtls();  // counted, one kDtlsSendDropped each
  void start_dtls();
  void tell_dtls_alive(Clock::time_point now);
  void end_media(MediaEndReason reason);
  void tell_media_ended();

  struct WebRtc {
    WebRtc(const WebRtcConfig& c, Clock::time_point now, Clock::duration consent_timeout)
        : config(c),
          stun(c.local_ufrag.view(), c.local_pwd.view(), c.remote_ufrag.view()),
          checks(c.local_ufrag.view(), c.remote_ufrag.view(), c.remote_pwd.view()),
          consent(now, consent_timeout) {}
    WebRtcConfig config;
    webrtc::StunResponder stun;
    webrtc::CheckSender checks;  // our requests and the check of their answers
    webrtc::ConsentTimer consent;
    // At most one address waiting to prove it can receive (a newer
    // nomination replaces it), and the consent check of the latched one.
    Probe candidate;
    Probe consent_check;
    // Before any latch, DTLS from the pending candidate reaches the worker
    // (the browser's first ClientHello need not wait for its retransmit),
    // but nothing goes there before it answers our check: the worker's
    // datagrams wait here (kHeld of them, allocated with the stream; more
    // are dropped, the handshake retransmits) for that address, sent when
    // it latches, dropped when another address does or the candidate goes.
    static constexpr size_t kHeld = 2;
    std::array<std::array<uint8_t, webrtc::kMaxDtlsDatagram>, kHeld> held{};
    std::array<uint16_t, kHeld> held_size{};
    size_t held_count = 0;
    udp::endpoint held_for;
    // The rate limit on new candidates: when the next may start, and the
    // one nomination that came sooner.
    Clock::time_point next_candidate{};
    udp::endpoint deferred;
    bool has_deferred = false;
    Clock::time_point next_consent_check{};
    uint32_t generation = 0;    // bumped by a new fingerprint
    bool dtls_started = false;  // the channel took start() (retried each tick until it does)
    Clock::time_point next_alive{};  // DtlsChannel::alive() due (retried each tick until taken)
    bool ended = false;         // media ended (counted once)
    bool told = false;          // the observer took on_media_ended
    MediaEndReason reason = MediaEndReason::kConsentExpired;
  };

  Shard& shard_;
  void* owner_tag_ = nullptr;
  StreamConfig config_;
  udp::socket rtp_socket_;
  std::optional<udp::socket> rtcp_socket_;
  bool shared_ = false;
  Routes routes_;
  uint16_t local_port_;
  uint32_t local_ssrc_;
  std::chrono::milliseconds rtp_timeout_;
  std::array<char, 32> cname_{};
  size_t cname_size_ = 0;

  // Addresses: SDP, latched, and the latch candidate (plain RTP).
  udp::endpoint remote_rtp_;
  udp::endpoint remote_rtcp_;
  udp::endpoint latched_rtp_;
  udp::endpoint latched_rtcp_;
  bool latched_ = false;
  bool rtcp_latched_ = false;
  udp::endpoint candidate_;
  uint32_t candidate_ssrc_ = 0;
  uint16_t candidate_seq_ = 0;
  bool have_candidate_ = false;

  std::optional<SrtpSession> srtp_in_;
  std::optional<SrtpSession> srtp_out_;
  // SHA-256 of the suite and outbound key srtp_out_ was made with (set_srtp);
  // none for DTLS-SRTP sessions.
  using KeyDigest = std::array<uint8_t, 32>;
  static KeyDigest key_digest(SrtpSuite suite, const uint8_t* key, size_t size);
  std::optional<KeyDigest> srtp_out_key_;
  std::unique_ptr<WebRtc> webrtc_;  // built with the stream, off the shard

  uint32_t remote_ssrc_ = 0;
  bool have_remote_ssrc_ = false;
  // remote_ssrc_ came in a packet the current inbound SRTP keys
  // authenticated: only then is it a proven route (shared port).
  bool ssrc_authenticated_ = false;
  // A new SSRC on probation (RFC 3550 A.1): its last sequence number and
  // how many more in-sequence packets it needs before it replaces the
  // current one (ssrc_passes_probation).
  uint32_t probation_ssrc_ = 0;
  uint16_t probation_seq_ = 0;
  int probation_left_ = 0;
  ReceiveStats receive_stats_;
  SendStats send_stats_;
  RtcpScheduler rtcp_scheduler_;
  DtmfReceiver dtmf_;
  JitterBuffer jitter_;
  DropCounters drops_;
  Clock::time_point last_received_;
  bool timed_out_ = false;
  uint64_t packets_accepted_ = 0;
  uint64_t rtcp_received_ = 0;
  uint64_t rtcp_sent_ = 0;
  Clock::time_point last_report_{};

  // Send side.
  uint16_t next_sequence_;
  uint32_t next_timestamp_;
  UdpSendQueue rtp_queue_;
  std::optional<UdpSendQueue> rtcp_queue_;  // only with a separate RTCP socket (no rtcp-mux)
};

}  // namespace chorus::rtp
