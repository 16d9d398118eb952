#include "rtp/stream.hpp"

#include <openssl/sha.h>
#include <cstdio>

#include <algorithm>
#include <cstring>
#include <memory>

#include "rtp/packet.hpp"
#include "rtp/rtcp.hpp"
#include "rtp/rtcp_time.hpp"
#include "rtp/shard.hpp"
#include "rtp/uring_io.hpp"
#include "webrtc/demux.hpp"
#include "webrtc/dtls_worker.hpp"

namespace chorus::rtp {

namespace {

// IPv4 + UDP header octets, for the RTCP average size (RFC 3550 §6.2).
constexpr size_t kUdpIpOverhead = 28;

uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

RtcpScheduler::Config scheduler_config(const RtcpScheduler::Config& base, uint32_t ssrc) {
  RtcpScheduler::Config c = base;
  c.seed ^= mix64(ssrc);  // streams must not report in lock-step (RFC 3550 §6.3.1)
  return c;
}

// An IPv4-mapped IPv6 address as the IPv4 one it maps.
boost::asio::ip::address unmapped(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

const char* media_end_reason_name(MediaEndReason reason) {
  switch (reason) {
    case MediaEndReason::kConsentExpired:
      return "consent expired";
    case MediaEndReason::kDtlsFailed:
      return "DTLS failed";
    case MediaEndReason::kDtlsClosed:
      return "DTLS closed";
  }
  return "?";
}

Stream::Stream(Shard& shard, const StreamConfig& config, udp::socket rtp_socket,
               std::optional<udp::socket> rtcp_socket, uint32_t local_ssrc,
               std::chrono::milliseconds rtp_timeout, Clock::time_point now)
    : shard_(shard),
      config_(config),
      rtp_socket_(std::move(rtp_socket)),
      rtcp_socket_(std::move(rtcp_socket)),
      local_port_(0),
      local_ssrc_(local_ssrc),
      rtp_timeout_(rtp_timeout),
      receive_stats_(config.clock_rate),
      send_stats_(config.clock_rate),
      rtcp_scheduler_(scheduler_config(shard.config().rtcp, local_ssrc), now),
      jitter_(config.jitter, config.clock_rate, config.samples_per_tick, config.max_payload,
              config.frame_budget),
      last_received_(now),
      // RFC 3550 §5.1: initial sequence number and timestamp are random.
      next_sequence_(static_cast<uint16_t>(mix64(local_ssrc) >> 16)),
      next_timestamp_(static_cast<uint32_t>(mix64(~uint64_t{local_ssrc}) >> 32)),
      rtp_queue_(shard.buffers()) {
  if (rtcp_socket_) rtcp_queue_.emplace(shard.buffers());
  if (config.webrtc) {
    // RFC 8829 §5.1.1: WebRTC always muxes RTCP.
    config_.rtcp_mux = true;
    webrtc_ = std::make_unique<WebRtc>(*config.webrtc, now, shard.config().consent_timeout);
  }
  boost::system::error_code ec;
  local_port_ = rtp_socket_.local_endpoint(ec).port();
  const int n = std::snprintf(cname_.data(), cname_.size(), "chorus%u-%08x",
                              static_cast<unsigned>(shard.config().index),
                              static_cast<unsigned>(local_ssrc_));
  cname_size_ = n > 0 ? std::min(static_cast<size_t>(n), cname_.size() - 1) : 0;
}

Stream::Stream(Shard& shard, const StreamConfig& config, uint16_t shared_port, uint32_t local_ssrc,
               std::chrono::milliseconds rtp_timeout, Clock::time_point now)
    : Stream(shard, config, udp::socket(shard.io()), std::nullopt, local_ssrc, rtp_timeout, now) {
  shared_ = true;
  local_port_ = shared_port;
}

Stream::~Stream() {
  close_sockets();
}

void Stream::close_sockets() {
  boost::system::error_code ec;
  if (rtp_socket_.is_open()) rtp_socket_.close(ec);
  if (rtcp_socket_ && rtcp_socket_->is_open()) rtcp_socket_->close(ec);
}

void Stream::on_attached(Clock::time_point now) {
  last_received_ = now;
  timed_out_ = false;
  if (webrtc_) {
    webrtc_->consent = webrtc::ConsentTimer(now, shard_.config().consent_timeout);
    start_dtls();
  }
}

Slot Stream::pull(Clock::time_point now) {
  return jitter_.pull(now);
}

bool Stream::send(uint8_t payload_type, std::span<const uint8_t> payload, uint32_t samples,
                  bool marker, Clock::time_point now) {
  const udp::endpoint& to = destination();
  // A WebRTC stream sends nothing before an address answered our check
  // (latched_) and SRTP keys exist (not a failure: ICE or the handshake is
  // running).
  if (webrtc_ && (!latched_ || !srtp_out_)) return false;
  if (to.port() == 0) {
    ++drops_.send_failed;
    return false;
  }
  const std::span<uint8_t> buffer = rtp_queue_.prepare();
  const size_t reserve = srtp_out_ ? SrtpSession::kProtectOverhead : 0;
  if (buffer.size() <= reserve) {
    ++drops_.send_failed;
    return false;
  }
  const RtpHeader header{payload_type, marker, next_sequence_, next_timestamp_, local_ssrc_};
  size_t size = write_packet(buffer.first(buffer.size() - reserve), header, payload);
  if (size == 0 || (srtp_out_ && !srtp_out_->protect_rtp(buffer.data(), size, buffer.size()))) {
    ++drops_.send_failed;
    return false;
  }
  rtp_queue_.commit(size, to);
  send_stats_.on_packet_sent(next_timestamp_, payload.size(), now);
  ++next_sequence_;
  next_timestamp_ += samples;
  return true;
}

void Stream::set_remote(const udp::endpoint& rtp, const udp::endpoint& rtcp) {
  // A browser's media goes where ICE proved it can (the source of a valid
  // check, RFC 8445 §7.3); the c= line of its re-offers names only a default
  // candidate. Taking it would drop the latch on every hold, resume or
  // refresh, and the member would be cut off both ways until its next
  // consent check, seconds later.
  if (webrtc_) return;
  remote_rtp_ = rtp;
  if (rtcp.port() != 0) {
    remote_rtcp_ = rtcp;
  } else if (config_.rtcp_mux) {
    remote_rtcp_ = rtp;
  } else {
    // RFC 3550 §11: RTCP on the next higher (odd) port.
    remote_rtcp_ = udp::endpoint(rtp.address(), static_cast<uint16_t>(rtp.port() + 1));
  }
  // A new SDP address (re-INVITE) is the signalling's word: latch afresh.
  latched_ = false;
  rtcp_latched_ = false;
  have_candidate_ = false;
  reroute();
}

void Stream::set_signalled_ssrc(std::optional<uint32_t> ssrc) {
  if (config_.signalled_ssrc == ssrc) return;
  config_.signalled_ssrc = ssrc;
  reroute();
}

Stream::Routes Stream::wanted_routes() const {
  Routes r;
  if (webrtc_) {
    // A browser is reached by its ufrag until a valid check proves an
    // address; then by that one address (issue #18).
    r.ufrag = ufrag_key(webrtc_->config.local_ufrag.view());
    if (latched_) {
      r.sources[r.count] = SourceKey::from(latched_rtp_);
      r.proven[r.count++] = true;
    }
    // The address our check is waiting on, so its DTLS reaches us before
    // the latch (the answer to our check finds us by its transaction id's
    // tag, Shard::check_tag). The member chose it and nothing proves it yet:
    // the lowest claim, for DTLS only (route_table.hpp). A claim another
    // stream holds fails, or takes this one: that DTLS then waits for the
    // latch.
    if (webrtc_->candidate.active && !(latched_ && webrtc_->candidate.to == latched_rtp_)) {
      r.sources[r.count] = SourceKey::from(webrtc_->candidate.to);
      r.candidate[r.count] = true;
      r.proven[r.count++] = false;
    }
    return r;
  }
  // The SDP's addresses are only named; a latched one is proven by the
  // peer's own packets (and outranks another stream's SDP, route_table.hpp).
  const auto add = [&r](const udp::endpoint& ep, bool proven) {
    if (ep.port() == 0) return;
    const SourceKey key = SourceKey::from(ep);
    for (size_t i = 0; i < r.count; ++i) {
      if (r.sources[i] == key) {
        r.proven[i] = r.proven[i] || proven;
        return;
      }
    }
    r.proven[r.count] = proven;
    r.sources[r.count++] = key;
  };
  add(remote_rtp_, false);
  add(remote_rtcp_, false);
  if (latched_) add(latched_rtp_, true);
  if (rtcp_latched_) add(latched_rtcp_, true);
  // SSRCs can be spoofed: one is claimed only where the SDP signalled it or
  // SRTP authenticated it (every packet an SRTP stream accepted passed its
  // authentication check); only the latter proves it.
  const bool authenticated = srtp_in_ && have_remote_ssrc_ && ssrc_authenticated_;
  if (config_.signalled_ssrc) {
    r.ssrc = config_.signalled_ssrc;
    r.ssrc_proven = authenticated && remote_ssrc_ == *config_.signalled_ssrc;
  } else if (authenticated) {
    r.ssrc = remote_ssrc_;
    r.ssrc_proven = true;
  }
  return r;
}

void Stream::reroute() {
  if (shared_ && routes_.attached) shard_.update_routes(*this);
}

void Stream::set_format(const StreamConfig& format, JitterBuffer* built) {
  config_.payload_types = format.payload_types;
  config_.telephone_event_pt = format.telephone_event_pt;
  config_.audio_level_ext_id = format.audio_level_ext_id;
  config_.clock_rate = format.clock_rate;
  config_.samples_per_tick = format.samples_per_tick;
  config_.max_payload = format.max_payload;
  config_.frame_budget = format.frame_budget;
  receive_stats_ = ReceiveStats(config_.clock_rate);
  send_stats_ = SendStats(config_.clock_rate);
  if (built != nullptr) {
    config_.jitter = format.jitter;
    std::swap(jitter_, *built);
    return;
  }
  // Sized for the new codec and built in place: its one allocation happens
  // here, on the command, never per packet.
  std::destroy_at(&jitter_);
  std::construct_at(&jitter_, config_.jitter, config_.clock_rate, config_.samples_per_tick,
                    config_.max_payload, config_.frame_budget);
}

Stream::KeyDigest Stream::key_digest(SrtpSuite suite, const uint8_t* key, size_t size) {
  std::array<uint8_t, 1 + SrtpKeys::kMaxKeySalt> input{};
  input[0] = static_cast<uint8_t>(suite);
  std::memcpy(input.data() + 1, key, std::min(size, SrtpKeys::kMaxKeySalt));
  KeyDigest digest{};
  SHA256(input.data(), 1 + std::min(size, SrtpKeys::kMaxKeySalt), digest.data());
  explicit_bzero(input.data(), input.size());
  return digest;
}

bool Stream::set_srtp(const SrtpKeys& keys) {
  // What the old inbound keys authenticated proves nothing under new ones.
  ssrc_authenticated_ = false;
  if (keys.inbound_size == 0 && keys.outbound_size == 0) {
    srtp_in_.reset();
    srtp_out_.reset();
    srtp_out_key_.reset();
    reroute();
    return true;
  }
  // Our outbound session goes on while our key does. A peer that re-keys in
  // a re-offer changes only what it protects with; the focus keeps our key.
  // A new libsrtp context under the same master key would restart the SRTCP
  // index at 1 and the rollover counter at 0, and so encrypt again under a
  // keystream (AES-CM) or a nonce (AES-GCM) already used (RFC 3711 §9.1,
  // RFC 7714 §16): that gives away plaintext, and with GCM the means to
  // forge. So only a new outbound key or suite makes a new outbound session.
  // The key is known again by its digest: no copy of it is kept here.
  const KeyDigest digest = key_digest(keys.suite, keys.outbound.data(), keys.outbound_size);
  const bool same_out = srtp_out_ && srtp_out_key_ == digest;
  auto in = SrtpSession::create(keys.suite, std::span(keys.inbound.data(), keys.inbound_size),
                                SrtpSession::Direction::kInbound);
  std::optional<SrtpSession> out;
  if (!same_out) {
    out = SrtpSession::create(keys.suite, std::span(keys.outbound.data(), keys.outbound_size),
                              SrtpSession::Direction::kOutbound);
    if (!out) return false;
  }
  if (!in) return false;
  srtp_in_ = std::move(in);
  if (!same_out) {
    srtp_out_ = std::move(out);
    srtp_out_key_ = digest;
  }
  reroute();
  return true;
}

void Stream::on_datagram(std::span<uint8_t> datagram, const udp::endpoint& from, bool rtcp_socket,
                         Clock::time_point now) {
  if (webrtc_) {
    on_webrtc_datagram(datagram, from, now);
    return;
  }
  // RFC 5761 §4: on a muxed port the second byte tells RTCP (192-223) from RTP.
  if (rtcp_socket || is_rtcp(datagram)) {
    // A peer without rtcp-mux sends RTCP from its own RTCP port, even to a
    // shared port: judge it as if it came in on an RTCP socket.
    on_rtcp(datagram, from, rtcp_socket || (shared_ && !config_.rtcp_mux), now);
  } else {
    on_rtp(datagram, from, now);
  }
}

void Stream::on_webrtc_datagram(std::span<uint8_t> datagram, const udp::endpoint& from,
                                Clock::time_point now) {
  switch (webrtc::classify(datagram)) {  // RFC 7983 §7
    case webrtc::PacketKind::kStun:
      return on_stun(datagram, from, now);
    case webrtc::PacketKind::kDtls: {
      // Only from the address our check proved (RFC 8445 §2.5: STUN
      // decides), or, before any latch, from the candidate being checked:
      // its answers wait for the proof (WebRtc::held).
      const bool from_candidate =
          !latched_ && webrtc_->candidate.active && from == webrtc_->candidate.to;
      if (!from_candidate && (!latched_ || from != latched_rtp_)) {
        ++drops_.webrtc_unlatched;
        shard_.count(WebRtcCounter::kDtlsUnlatched);
        return;
      }
      webrtc::DtlsChannel* channel = shard_.dtls_channel();
      if (channel == nullptr || !webrtc_->dtls_started || !channel->datagram(dtls_id(), datagram)) {
        shard_.count(WebRtcCounter::kDtlsRefused);  // the browser retransmits
      }
      return;
    }
    case webrtc::PacketKind::kRtp:
    case webrtc::PacketKind::kRtcp:
      // Plain RTP is never accepted for a WebRTC stream: only SRTP keyed by
      // the DTLS handshake.
      if (!srtp_in_) {
        ++drops_.webrtc_plain;
        shard_.count(WebRtcCounter::kPlainRtp);
        return;
      }
      if (!latched_ || from != latched_rtp_) {
        ++drops_.webrtc_unlatched;
        shard_.count(WebRtcCounter::kDtlsUnlatched);
        return;
      }
      if (is_rtcp(datagram))
        on_rtcp(datagram, from, false, now);
      else
        on_rtp(datagram, from, now);
      return;
    case webrtc::PacketKind::kDrop:
      ++drops_.malformed;
      return;
  }
}

void Stream::on_stun(std::span<uint8_t> datagram, const udp::endpoint& from,
                     Clock::time_point now) {
  // An answer to one of our own checks, not a request for the responder
  // (which would only count it as ignored).
  if (webrtc::is_binding_success(datagram)) return on_check_answer(datagram, from, now);
  const std::span<uint8_t> out = rtp_queue_.prepare();
  if (out.size() < webrtc::StunResponder::kMaxResponse) {
    ++drops_.send_failed;  // no room to answer this tick: the browser retransmits
    return;
  }
  sockaddr_storage source{};
  const socklen_t source_len = sockaddr_from_endpoint(from, source);
  const webrtc::StunResult r = webrtc_->stun.on_request(datagram, source, source_len, out);
  shard_.count_stun(r.outcome);
  if (!r.valid()) {
    // An error answer (400, 401, 487) goes to whoever sent the request, which
    // may be spoofed, and takes a slot of the member's 4-datagram queue: at
    // most one per flush, only into an empty queue, so a flood of bad checks
    // can neither crowd out the member's media, DTLS and consent answers nor
    // be reflected at more than 50 per second.
    if (r.response_size != 0 && rtp_queue_.queued() == 0) {
      rtp_queue_.commit(r.response_size, from);
    } else if (r.response_size != 0) {
      shard_.count(WebRtcCounter::kStunUnanswered);
    }
    return;
  }
  // The answer is no larger than the check: no amplification to a spoofed source.
  if (r.response_size != 0) rtp_queue_.commit(r.response_size, from);
  // A valid check proves only that its sender knows our ice-pwd, which every
  // member does (our SDP answer), not that `from` is its sender: the source
  // may be forged. So it refreshes nothing and latches nothing by itself.
  // ICE-lite (RFC 8445 §2.5, §7.3.1.5) would take the first valid pair, then
  // the latest nominated (USE-CANDIDATE) one; here either only starts our
  // own check to that address (return routability, RFC 7675), and media
  // moves there once it answers. Until then the verified latch, if any,
  // keeps carrying media.
  if (latched_ && from == latched_rtp_) {
    webrtc_->consent.refresh(now);  // a sign of life; consent itself is our answers
    // The latest nomination wins (RFC 8445 §8.1.1): the verified address
    // again, so a pending candidate is dropped.
    if (r.use_candidate) webrtc_->has_deferred = false;
    if (r.use_candidate && webrtc_->candidate.active) {
      webrtc_->candidate.active = false;
      reroute();
    }
    return;
  }
  const bool nothing_yet = !latched_ && !webrtc_->candidate.active;
  if (nothing_yet || r.use_candidate) propose(from, now);
}

bool Stream::candidate_allowed(const udp::endpoint& address, const udp::endpoint& local,
                               bool loopback_member) {
  if (address.port() == 0) return false;
  const boost::asio::ip::address a = unmapped(address.address());
  if (a.is_unspecified() || a.is_multicast()) return false;
  if (a.is_v4() && a.to_v4() == boost::asio::ip::address_v4::broadcast()) return false;
  const boost::asio::ip::address bound = unmapped(local.address());
  if (address.port() == local.port() && (a == bound || (bound.is_unspecified() && a.is_loopback())))
    return false;  // our own socket: we would check ourselves
  // A spoofed loopback source would aim our checks at a service on this host.
  return !a.is_loopback() || loopback_member;
}

// A valid check's source as the candidate, if our checks may go there and
// the rate limit allows; a nomination that comes sooner is deferred (the
// latest wins) and started by send_checks.
void Stream::propose(const udp::endpoint& address, Clock::time_point now) {
  WebRtc& w = *webrtc_;
  if (w.candidate.active && w.candidate.to == address) {
    // Already being checked; nominated again, it is the latest nomination,
    // so one deferred in between is dropped.
    w.has_deferred = false;
    return;
  }
  const udp::endpoint local(shard_.config().bind_address, local_port_);
  // A browser's SDP names no address we use (c= is 0.0.0.0, ICE decides).
  const bool loopback_member = unmapped(local.address()).is_loopback() ||
                               (latched_ && unmapped(latched_rtp_.address()).is_loopback());
  // Our check's USERNAME is "<remote>:<local>": with the two ufrags equal it
  // would pass our own responder, so a check reflected back to us (an
  // address that loops to our own socket) would answer itself.
  if (!candidate_allowed(address, local, loopback_member) ||
      w.config.remote_ufrag.view() == w.config.local_ufrag.view()) {
    shard_.count(WebRtcCounter::kCandidateRefused);
    return;
  }
  if (now < w.next_candidate) {
    w.deferred = address;
    w.has_deferred = true;
    shard_.count(WebRtcCounter::kCandidateDeferred);
    return;
  }
  verify(address, now);
}

// One pending candidate per stream: a newer nomination replaces it. Its
// first check leaves with the next tick (at most one of our checks per tick).
// The same address again keeps its transaction and schedule (RFC 5389
// §7.2.1: retransmissions carry one id), so an answer to any earlier send
// still verifies it however slow the path.
void Stream::verify(const udp::endpoint& address, Clock::time_point now) {
  WebRtc& w = *webrtc_;
  w.has_deferred = false;
  if (w.candidate.active && w.candidate.to == address) return;
  w.next_candidate = now + kCandidateSpacing;
  w.candidate.to = address;
  w.candidate.id = check_id();
  w.candidate.next = now;
  w.candidate.rto = shard_.config().candidate_rto;
  w.candidate.sends_left = kCandidateSends;
  w.candidate.active = true;
  shard_.count(WebRtcCounter::kCheckStarted);
  reroute();  // shared port: the answer comes from an address no route names yet
}

void Stream::on_check_answer(std::span<const uint8_t> datagram, const udp::endpoint& from,
                             Clock::time_point now) {
  WebRtc& w = *webrtc_;
  // The proof is the answer's MESSAGE-INTEGRITY (keyed with the browser's
  // ice-pwd) together with our transaction id, drawn from a CSPRNG and sent
  // only to `to`, coming back from that same address (RFC 8445 §7.2.5.2.1).
  // A forger elsewhere never sees the id; one that knows the id can read
  // what goes to that address anyway.
  const auto matches = [&](const Probe& p) {
    return p.active && from == p.to && w.checks.answers(datagram, p.id);
  };
  if (matches(w.candidate)) {
    w.candidate.active = false;
    w.consent.answered(now);
    latch_webrtc(from);
    w.consent_check.active = false;
    w.next_consent_check = now + consent_interval();
    shard_.count(WebRtcCounter::kCheckVerified);
    return;
  }
  if (latched_ && matches(w.consent_check)) {
    w.consent_check.active = false;
    w.consent.answered(now);
    return;
  }
  shard_.count(WebRtcCounter::kCheckUnmatched);
}

void Stream::latch_webrtc(const udp::endpoint& address) {
  latched_ = true;
  latched_rtp_ = address;
  latched_rtcp_ = address;
  rtcp_latched_ = true;
  reroute();
  release_held_dtls();
}

// Each held datagram thrown away counts as a dropped DTLS send.
void Stream::drop_held_dtls() {
  WebRtc& w = *webrtc_;
  for (size_t i = 0; i < w.held_count; ++i) shard_.count(WebRtcCounter::kDtlsSendDropped);
  w.held_count = 0;
}

void Stream::release_held_dtls() {
  WebRtc& w = *webrtc_;
  if (w.held_count == 0) return;
  if (latched_ ? w.held_for != latched_rtp_
               : !(w.candidate.active && w.candidate.to == w.held_for)) {
    drop_held_dtls();
    return;
  }
  if (!latched_) return;  // still waiting for the answer
  size_t sent = 0;
  for (; sent < w.held_count; ++sent) {
    const std::span<uint8_t> buffer = rtp_queue_.prepare();
    if (buffer.size() < w.held_size[sent]) break;  // the rest next tick
    std::memcpy(buffer.data(), w.held[sent].data(), w.held_size[sent]);
    rtp_queue_.commit(w.held_size[sent], latched_rtp_);
  }
  for (size_t i = sent; i < w.held_count; ++i) {
    w.held[i - sent] = w.held[i];
    w.held_size[i - sent] = w.held_size[i];
  }
  w.held_count -= sent;
}

// RFC 7675 §5.1: a consent check every 4–6 s (randomised so members do not
// check in lock-step), and at least six per consent timeout (a shorter
// timeout, as tests use, still gets several chances).
Stream::Clock::duration Stream::consent_interval() {
  const Clock::duration base =
      std::min<Clock::duration>(std::chrono::seconds(5), webrtc_->consent.timeout() / 6);
  // base * [0.8, 1.2)
  const uint32_t r = webrtc_->checks.next_random() % 1000;
  return base * 8 / 10 + base * 4 * r / 10000;
}

// Per tick, at most one of our checks: the candidate's (retransmitted with
// the same id, the wait doubling from candidate_rto, kCandidateSends sends,
// given up quietly kCandidateLastWait RTOs after the last), else the
// latched address's consent check. Each takes a slot of the 4-datagram queue
// only when one is free for media too, so media is never crowded out.
void Stream::send_checks(Clock::time_point now) {
  WebRtc& w = *webrtc_;
  if (w.ended) return;
  release_held_dtls();  // what the queue could not take when the address latched
  if (w.has_deferred && now >= w.next_candidate) {
    if (latched_ && w.deferred == latched_rtp_)
      w.has_deferred = false;  // verified meanwhile
    else
      verify(w.deferred, now);
  }
  if (w.candidate.active && now >= w.candidate.next) {
    if (w.candidate.sends_left == 0) {
      w.candidate.active = false;  // never answered: the latch stays where it was
      shard_.count(WebRtcCounter::kCheckGaveUp);
      reroute();
      return;
    }
    if (send_check(w.candidate)) {
      --w.candidate.sends_left;
      w.candidate.next =
          now + (w.candidate.sends_left == 0 ? shard_.config().candidate_rto * kCandidateLastWait
                                             : w.candidate.rto);
      w.candidate.rto *= 2;
    }
    return;
  }
  if (!latched_ || now < w.next_consent_check) return;
  // A new transaction each time (§5.1); an unanswered one is simply replaced.
  w.consent_check.to = latched_rtp_;
  w.consent_check.id = check_id();
  w.consent_check.active = true;
  if (send_check(w.consent_check)) w.next_consent_check = now + consent_interval();
}

// On a shared port the id carries the shard's tag for this stream (the
// answer is routed by it, not by its source); else 96 unpredictable bits.
webrtc::TransactionId Stream::check_id() {
  return shared_ ? webrtc_->checks.next_id(shard_.check_tag(config_.id))
                 : webrtc_->checks.next_id();
}

bool Stream::send_check(Probe& probe) {
  if (rtp_queue_.queued() + 2 > UdpSendQueue::kCapacity) return false;  // leave room for media
  const std::span<uint8_t> out = rtp_queue_.prepare();
  const size_t n = webrtc_->checks.request(out, probe.id);
  if (n == 0) return false;
  rtp_queue_.commit(n, probe.to);
  shard_.count(WebRtcCounter::kCheckSent);
  return true;
}

void Stream::start_dtls() {
  webrtc::DtlsChannel* channel = shard_.dtls_channel();
  if (!webrtc_ || webrtc_->dtls_started || webrtc_->ended || channel == nullptr) return;
  // A stop the channel refused goes first (it may name this very id: a
  // stream id reused after a detach); the start is retried next tick.
  if (shard_.dtls_stops_pending()) return;
  webrtc::Fingerprint remote;
  remote.sha256 = webrtc_->config.remote_fingerprint;
  webrtc_->dtls_started = channel->start(dtls_id(), remote);  // refused: retried next tick
}

// The worker drops a connected handshake it heard nothing of for long (its
// guard against a lost stop); an attached stream says it is alive, so a long
// call's close_notify is still honoured. Refused (a full ring): next tick.
void Stream::tell_dtls_alive(Clock::time_point now) {
  webrtc::DtlsChannel* channel = shard_.dtls_channel();
  WebRtc& w = *webrtc_;
  if (!w.dtls_started || channel == nullptr || now < w.next_alive) return;
  if (channel->alive(dtls_id())) w.next_alive = now + shard_.config().dtls_alive_interval;
}

void Stream::stop_dtls() {
  webrtc::DtlsChannel* channel = shard_.dtls_channel();
  if (!webrtc_ || !webrtc_->dtls_started || channel == nullptr) return;
  shard_.stop_dtls(dtls_id());  // refused (ring full): the shard retries it on later ticks
  webrtc_->dtls_started = false;
}

bool Stream::set_webrtc(const WebRtcConfig& webrtc, Clock::time_point now) {
  if (!webrtc_) return false;
  WebRtc& w = *webrtc_;
  const bool ice_restart = !w.config.same_ice(webrtc);
  const bool dtls_restart = w.config.remote_fingerprint != webrtc.remote_fingerprint;
  if (ice_restart || dtls_restart) {
    // A restarted member gets a fresh consent period (RFC 7675 §5.1) to send
    // its first check; an expiry from before the restart is forgotten, so
    // the member can end again later.
    w.consent = webrtc::ConsentTimer(now, shard_.config().consent_timeout);
    if (w.ended && w.reason == MediaEndReason::kConsentExpired) {
      w.ended = false;
      w.told = false;
    }
  }
  if (ice_restart) {
    // ICE restart (RFC 8445 §9): new credentials (checks with the old ones
    // get 401), and a new valid check decides where media goes. The DTLS
    // association and its SRTP keys stay unless the fingerprint changed too.
    w.stun.set_credentials(webrtc.local_ufrag.view(), webrtc.local_pwd.view(),
                           webrtc.remote_ufrag.view());
    w.checks.set_credentials(webrtc.local_ufrag.view(), webrtc.remote_ufrag.view(),
                             webrtc.remote_pwd.view());
    latched_ = false;
    rtcp_latched_ = false;
    w.candidate.active = false;  // checks with the old credentials prove nothing now
    w.has_deferred = false;
    w.consent_check.active = false;
    w.config = webrtc;
    reroute();  // shared port: the latched address and the old ufrag route go
  }
  if (dtls_restart) {
    // A new certificate (RFC 5763 §5): a new handshake, no SRTP until its keys.
    stop_dtls();
    ++w.generation;
    drop_held_dtls();  // the old handshake's
    srtp_in_.reset();
    srtp_out_.reset();
    srtp_out_key_.reset();
    w.ended = false;
    w.told = false;
    w.config = webrtc;
    start_dtls();
  }
  w.config = webrtc;
  return true;
}

bool Stream::on_dtls_event(webrtc::DtlsEvent& event) {
  using Kind = webrtc::DtlsEvent::Kind;
  switch (event.kind) {
    case Kind::kSend: {
      if (!latched_) {
        // Nothing goes to an address before it answered our check: held
        // for the pending candidate (whose DTLS reached the worker), else
        // dropped; the handshake retransmits.
        WebRtc& w = *webrtc_;
        if (!w.candidate.active || (w.held_count != 0 && w.held_for != w.candidate.to))
          drop_held_dtls();
        if (!w.candidate.active || w.held_count == WebRtc::kHeld) {
          shard_.count(WebRtcCounter::kDtlsSendDropped);
          return true;
        }
        w.held_for = w.candidate.to;
        std::memcpy(w.held[w.held_count].data(), event.data.data(), event.size);
        w.held_size[w.held_count++] = event.size;
        return true;
      }
      release_held_dtls();
      if (webrtc_->held_count != 0) return false;  // in order, after what is still held
      const std::span<uint8_t> buffer = rtp_queue_.prepare();
      if (buffer.size() < event.size) return false;
      std::memcpy(buffer.data(), event.data.data(), event.size);
      rtp_queue_.commit(event.size, latched_rtp_);
      return true;
    }
    case Kind::kConnected: {
      // Two libsrtp sessions, once per handshake (their allocation happens
      // here, never per packet).
      auto in = SrtpSession::create(event.keys.suite, event.keys.inbound(),
                                    SrtpSession::Direction::kInbound);
      auto out = SrtpSession::create(event.keys.suite, event.keys.outbound(),
                                     SrtpSession::Direction::kOutbound);
      event.keys.wipe();
      if (!in || !out) {
        end_media(MediaEndReason::kDtlsFailed);
        return true;
      }
      srtp_in_ = std::move(in);
      srtp_out_ = std::move(out);
      srtp_out_key_.reset();  // DTLS keys are new every handshake
      shard_.count(WebRtcCounter::kDtlsConnected);
      reroute();
      return true;
    }
    case Kind::kFailed:
      end_media(MediaEndReason::kDtlsFailed);
      return true;
    case Kind::kClosed:
      end_media(MediaEndReason::kDtlsClosed);
      return true;
    case Kind::kNone:
      return true;
  }
  return true;
}

void Stream::end_media(MediaEndReason reason) {
  if (!webrtc_ || webrtc_->ended) return;
  webrtc_->ended = true;
  webrtc_->reason = reason;
  switch (reason) {
    case MediaEndReason::kConsentExpired:
      shard_.count(WebRtcCounter::kConsentExpired);
      break;
    case MediaEndReason::kDtlsFailed:
      shard_.count(WebRtcCounter::kDtlsFailed);
      break;
    case MediaEndReason::kDtlsClosed:
      shard_.count(WebRtcCounter::kDtlsClosed);
      break;
  }
  tell_media_ended();
}

void Stream::tell_media_ended() {
  StreamObserver* observer = shard_.stream_observer();
  webrtc_->told = observer == nullptr || observer->on_media_ended(*this, webrtc_->reason);
}

void Stream::on_truncated() {
  ++drops_.malformed;
}

bool Stream::signalled(const udp::endpoint& from) const {
  return remote_rtp_.port() != 0 && from == remote_rtp_ && sends_from(remote_rtp_.address());
}

bool Stream::sends_from(const boost::asio::ip::address& sdp_address) {
  boost::asio::ip::address address = sdp_address;
  if (address.is_unspecified()) return false;
  if (address.is_v6()) {
    const boost::asio::ip::address_v6 v6 = address.to_v6();
    if (v6.is_v4_mapped()) {
      address = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6);
    } else {
      const auto b = v6.to_bytes();
      return !v6.is_link_local() && (b[0] & 0xFE) != 0xFC;  // fe80::/10, fc00::/7
    }
  }
  const auto b = address.to_v4().to_bytes();
  const bool private_or_shared = b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) ||
                                 (b[0] == 192 && b[1] == 168) ||
                                 (b[0] == 100 && (b[1] & 0xC0) == 64) ||  // 100.64.0.0/10
                                 (b[0] == 169 && b[1] == 254);
  return !private_or_shared;
}

void Stream::consider_latch(const udp::endpoint& from, uint32_t ssrc, uint16_t sequence,
                            bool authenticated) {
  if (latched_) return;
  // An authenticated packet proves the key; a packet from the address the
  // SDP named is the signalling's word; otherwise two packets in sequence of
  // one SSRC from one address (a stray or spoofed single packet does not
  // capture the stream).
  const bool consistent = have_candidate_ && from == candidate_ && ssrc == candidate_ssrc_ &&
                          sequence == static_cast<uint16_t>(candidate_seq_ + 1);
  if (authenticated || consistent || signalled(from)) {
    latched_ = true;
    latched_rtp_ = from;
    if (config_.rtcp_mux || (!shared_ && !rtcp_socket_)) {
      latched_rtcp_ = from;
      rtcp_latched_ = true;
    }
    reroute();
    return;
  }
  have_candidate_ = true;
  candidate_ = from;
  candidate_ssrc_ = ssrc;
  candidate_seq_ = sequence;
}

bool Stream::ssrc_passes_probation(uint32_t ssrc, uint16_t sequence) {
  // RFC 3550 A.1 (MIN_SEQUENTIAL = 2): a new source is believed once it has
  // sent that many packets in sequence (the current source's packets may come
  // between them). Until then the current source's jitter buffer, statistics
  // and RFC 4733 state stay as they are: one stray or spoofed packet resets
  // nothing; a real change (a PBX transferring the call, a restart) costs
  // its first packet.
  //
  // This holds for SRTP and for an SSRC the SDP signalled too. Authentication
  // proves the key holder sent a packet, not that it is new: the inbound
  // session keeps replay state for a few SSRCs only (kMaxInboundSsrcs), so a
  // recorded packet of an SSRC it has forgotten authenticates again. An
  // a=ssrc proves nothing about a datagram that carries it. Neither is worth
  // more than the one packet probation costs.
  constexpr int kMinSequential = 2;
  if (probation_left_ > 0 && ssrc == probation_ssrc_ &&
      sequence == static_cast<uint16_t>(probation_seq_ + 1)) {
    probation_seq_ = sequence;
    return --probation_left_ == 0;
  }
  probation_ssrc_ = ssrc;
  probation_seq_ = sequence;
  probation_left_ = kMinSequential - 1;
  return false;
}

void Stream::on_rtp(std::span<uint8_t> datagram, const udp::endpoint& from, Clock::time_point now) {
  // Before SRTP unprotect the padding count (and the tag at the end) are not
  // plain RTP (RFC 3711 §3.1): only the header can be checked yet.
  std::optional<PacketView> packet =
      srtp_in_ ? PacketView::parse_header(datagram) : PacketView::parse(datagram);
  if (!packet) {
    ++drops_.malformed;
    return;
  }
  // Before spending SRTP work on it: once latched, only the latched source
  // counts. Shared-port mode: an SRTP packet from elsewhere reached this
  // stream by its authenticated SSRC; it may re-latch, if it authenticates.
  const bool relatch = latched_ && from != latched_rtp_;
  // Plain RTP latched elsewhere: the SDP's own (public) address takes the
  // stream back (an outsider who won the race to a fresh port by two
  // packets loses it at the caller's first one, RTP "bleed"); no other
  // source does, and a NAT'd caller's private SDP address never does.
  const bool reclaim = relatch && !srtp_in_ && !webrtc_ && signalled(from);
  if (relatch && !(shared_ && srtp_in_) && !reclaim) {
    ++drops_.stranger;
    return;
  }
  if (srtp_in_) {
    size_t size = datagram.size();
    // Plain RTP on an SRTP stream fails authentication here too (RFC 3711 §3.3).
    if (!srtp_in_->unprotect_rtp(datagram.data(), size)) {
      ++drops_.auth_failed;
      return;
    }
    packet = PacketView::parse(datagram.first(size));
    if (!packet) {
      ++drops_.malformed;
      return;
    }
  }
  const uint32_t ssrc = packet->ssrc();
  if (relatch) {
    // Authenticated from a new source (a NAT rebinding), or the SDP's
    // address reclaiming the stream: follow it.
    latched_rtp_ = from;
    if (config_.rtcp_mux) latched_rtcp_ = from;
    if (reclaim && !config_.rtcp_mux) rtcp_latched_ = false;  // RTCP learns the peer again
    reroute();
  }
  if (webrtc_)
    webrtc_->consent.refresh(now);  // authenticated SRTP: a sign of life; our answers latch
  else
    consider_latch(from, ssrc, packet->sequence(), srtp_in_.has_value());

  if (have_remote_ssrc_ && ssrc != remote_ssrc_) {
    if (!ssrc_passes_probation(ssrc, packet->sequence())) {
      ++drops_.ssrc_probation;
      return;
    }
    // RFC 3550 §8.2: the remote changed SSRC (restart, re-INVITE, transfer).
    if (StreamObserver* observer = shard_.stream_observer()) {
      observer->on_ssrc_change(*this, remote_ssrc_, ssrc);
    }
    receive_stats_.reset();
    dtmf_.on_new_source();
  }
  // A newcomer's probation is not reset by the current source's packets: a
  // sender that interleaves two SSRCs (events on their own SSRC, a B2BUA
  // still forwarding the old leg) is followed from the newcomer's second
  // packet in sequence instead of never.
  const bool ssrc_news = !have_remote_ssrc_ || remote_ssrc_ != ssrc;
  const bool proof_news = srtp_in_ && !ssrc_authenticated_;
  remote_ssrc_ = ssrc;
  have_remote_ssrc_ = true;
  ssrc_authenticated_ = srtp_in_.has_value();
  if ((ssrc_news || proof_news) && srtp_in_) reroute();  // an authenticated SSRC is a route
  last_received_ = now;
  timed_out_ = false;
  ++packets_accepted_;
  receive_stats_.on_packet(packet->sequence(), packet->timestamp(), now, packet->payload().size());

  const uint8_t pt = packet->payload_type();
  if (config_.telephone_event_pt != 0 && pt == config_.telephone_event_pt) {
    // RFC 4733 events never reach the jitter buffer: the digit is signalling's.
    if (const std::optional<char> digit = dtmf_.on_packet(packet->timestamp(), packet->payload())) {
      if (StreamObserver* observer = shard_.stream_observer()) observer->on_dtmf(*this, *digit);
    }
    return;
  }
  if (!config_.payload_types.test(pt)) {
    ++drops_.unknown_pt;
    return;
  }
  JitterPacket jp;
  jp.payload_type = pt;
  jp.marker = packet->marker();
  jp.sequence = packet->sequence();
  jp.timestamp = packet->timestamp();
  jp.ssrc = ssrc;
  jp.payload = packet->payload();
  if (config_.audio_level_ext_id != 0)
    jp.audio_level = packet->audio_level(config_.audio_level_ext_id);
  switch (jitter_.insert(jp, now)) {
    case InsertResult::kStored:
    case InsertResult::kStoredAfterReset:
      break;
    case InsertResult::kDuplicate:
      ++drops_.duplicate;
      break;
    case InsertResult::kTooLate:
      ++drops_.too_late;
      break;
    case InsertResult::kTooLarge:
    case InsertResult::kNoRoom:  // too large for the room the arena has left
      ++drops_.too_large;
      break;
    case InsertResult::kTooEarly:
      ++drops_.too_early;
      break;
  }
}

void Stream::on_rtcp(std::span<uint8_t> datagram, const udp::endpoint& from, bool rtcp_socket,
                     Clock::time_point now) {
  if (latched_) {
    // Muxed: the latched address exactly. Separate port: the latched host,
    // whose RTCP port NAT may have mapped differently.
    const bool ok = rtcp_socket ? from.address() == latched_rtp_.address() : from == latched_rtp_;
    if (!ok || (rtcp_socket && rtcp_latched_ && from != latched_rtcp_)) {
      ++drops_.stranger;
      return;
    }
  }
  size_t size = datagram.size();
  if (srtp_in_ && !srtp_in_->unprotect_rtcp(datagram.data(), size)) {
    ++drops_.auth_failed;
    return;
  }
  if (webrtc_) webrtc_->consent.refresh(now);  // authenticated SRTCP
  const std::optional<RtcpCompoundView> compound = RtcpCompoundView::parse(datagram.first(size));
  if (!compound) {
    ++drops_.malformed;
    return;
  }
  if (rtcp_socket && !rtcp_latched_) {
    latched_rtcp_ = from;
    rtcp_latched_ = latched_;  // fixed only once RTP itself is latched
    if (rtcp_latched_) reroute();
  }
  ++rtcp_received_;
  last_received_ = now;  // RTCP keeps a stream alive (a muted or on-hold peer)
  timed_out_ = false;
  rtcp_scheduler_.on_received(size + kUdpIpOverhead);

  const uint64_t arrival_ntp = ntp_now();
  const auto take_blocks = [&](const ReportBlocks& blocks) {
    for (size_t i = 0; i < blocks.size(); ++i) {
      const ReportBlock block = blocks[i];
      if (block.ssrc == local_ssrc_) send_stats_.on_report_block(block, arrival_ntp);
    }
  };
  for (const RtcpPacketView p : *compound) {
    if (const auto sr = parse_sender_report(p)) {
      if (!have_remote_ssrc_ || sr->ssrc == remote_ssrc_)
        receive_stats_.on_sender_report(sr->info.ntp_timestamp, now);
      take_blocks(sr->blocks);
    } else if (const auto rr = parse_receiver_report(p)) {
      take_blocks(rr->blocks);
    }
  }
}

const Stream::udp::endpoint& Stream::rtcp_destination() const {
  return rtcp_latched_ ? latched_rtcp_ : remote_rtcp_;
}

void Stream::on_tick(Clock::time_point now) {
  if (webrtc_) {
    start_dtls();  // when the channel refused it earlier
    tell_dtls_alive(now);
    send_checks(now);
    if (!webrtc_->ended && webrtc_->consent.expired(now))
      end_media(MediaEndReason::kConsentExpired);
    if (webrtc_->ended && !webrtc_->told) tell_media_ended();  // the event ring was full
  }
  if (!timed_out_ && now - last_received_ >= rtp_timeout_) {
    // Once, until something arrives again; refused (the event ring was full),
    // it is offered again next tick.
    StreamObserver* observer = shard_.stream_observer();
    timed_out_ = observer == nullptr || observer->on_rtp_timeout(*this);
  }
  if (rtcp_scheduler_.due(now)) send_rtcp_report(now);
}

void Stream::send_rtcp_report(Clock::time_point now) {
  const udp::endpoint& to = rtcp_destination();
  if (webrtc_ && (!rtcp_latched_ || !srtp_out_)) {
    last_report_ = now;
    rtcp_scheduler_.on_sent(now, 0);  // nothing leaves before keys and a valid check
    return;
  }
  // RFC 3550 §6.4: SR if we sent RTP since the last report, else RR; then SDES
  // CNAME (§6.1: every compound packet carries it).
  const bool sender = send_stats_.sent_since(last_report_);
  last_report_ = now;
  if (to.port() == 0) {
    rtcp_scheduler_.on_sent(now, 0);  // nobody to tell yet; keep the schedule going
    return;
  }
  UdpSendQueue& queue = rtcp_queue_ ? *rtcp_queue_ : rtp_queue_;
  const std::span<uint8_t> buffer = queue.prepare();
  const size_t reserve = srtp_out_ ? SrtpSession::kProtectOverhead : 0;
  if (buffer.size() <= reserve) {
    ++drops_.send_failed;
    return;
  }
  std::array<ReportBlock, 1> blocks{};
  size_t block_count = 0;
  if (have_remote_ssrc_ && receive_stats_.received() > 0) {
    blocks[0] = receive_stats_.make_report_block(remote_ssrc_, now);
    block_count = 1;
  }
  RtcpWriter writer(buffer.first(buffer.size() - reserve));
  const std::span<const ReportBlock> report(blocks.data(), block_count);
  if (sender) {
    writer.add_sender_report(local_ssrc_, send_stats_.make_sender_info(ntp_now(), now), report);
  } else {
    writer.add_receiver_report(local_ssrc_, report);
  }
  writer.add_sdes_cname(local_ssrc_, std::string_view(cname_.data(), cname_size_));
  size_t size = writer.size();
  if (!writer.ok() || (srtp_out_ && !srtp_out_->protect_rtcp(buffer.data(), size, buffer.size()))) {
    ++drops_.send_failed;
    return;
  }
  queue.commit(size, to);
  ++rtcp_sent_;
  rtcp_scheduler_.set_we_sent(sender);
  rtcp_scheduler_.on_sent(now, size + kUdpIpOverhead);
}

void Stream::flush() {
  if (shared_) return;  // the shard sends for it (send_queue())
  if (rtp_queue_.queued() != 0) drops_.send_failed += rtp_queue_.flush(rtp_socket_.native_handle());
  if (rtcp_socket_ && rtcp_queue_ && rtcp_queue_->queued() != 0)
    drops_.send_failed += rtcp_queue_->flush(rtcp_socket_->native_handle());
}

void Stream::flush(UringIo& io) {
  if (shared_) return;
  for (const mmsghdr& m : rtp_queue_.unsubmitted())
    io.send(*this, rtp_socket_.native_handle(), m.msg_hdr);
  rtp_queue_.mark_submitted();
  if (rtcp_socket_ && rtcp_queue_) {
    for (const mmsghdr& m : rtcp_queue_->unsubmitted())
      io.send(*this, rtcp_socket_->native_handle(), m.msg_hdr);
    rtcp_queue_->mark_submitted();
  }
}

void Stream::sent() {
  rtp_queue_.release();
  if (rtcp_queue_) rtcp_queue_->release();
}

StreamStats Stream::snapshot(Clock::time_point /*now*/) const {
  StreamStats s;
  s.packets_received = packets_accepted_;
  s.bytes_received = receive_stats_.bytes_received();
  s.rtcp_received = rtcp_received_;
  s.packets_sent = send_stats_.packets_sent();
  s.bytes_sent = send_stats_.octets_sent();
  s.rtcp_sent = rtcp_sent_;
  s.cumulative_lost = receive_stats_.cumulative_lost();
  s.fraction_lost = receive_stats_.last_fraction_lost();
  s.jitter_ms = receive_stats_.jitter_seconds() * 1000.0;
  if (const auto rtt = send_stats_.round_trip_time())
    s.rtt_ms = std::chrono::duration<double, std::milli>(*rtt).count();
  s.jitter_buffer_ms = jitter_.current_depth_ms();
  s.jitter_buffer_average_ms = jitter_.average_delay_ms();
  s.remote_ssrc = remote_ssrc_;
  s.drops = drops_;
  return s;
}

}  // namespace chorus::rtp
