#include "bench/load/webrtc_peer.hpp"

#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <utility>

namespace chorus::load {
namespace {

// RFC 8839 §5.4 ice-char.
constexpr char kIceChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string ice_string(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<size_t> pick(0, sizeof kIceChars - 2);
  std::string s(n, 'A');
  for (char& c : s) c = kIceChars[pick(rng)];
  return s;
}

// Chrome's PRIORITY for a peer-reflexive candidate of a host (RFC 8445 §5.1.2).
constexpr uint32_t kPriority = 1853824767;

}  // namespace

WebRtcShared::WebRtcShared()
    : certificate(webrtc::DtlsCertificate::generate("chorus-load")), dtls(certificate) {}

WebRtcPeer::WebRtcPeer(WebRtcShared& shared, std::mt19937& rng)
    : shared_(shared), local_ufrag_(ice_string(rng, 8)), local_pwd_(ice_string(rng, 24)) {}

void WebRtcPeer::set_answer(std::string ufrag, std::string pwd,
                            const webrtc::Fingerprint& fingerprint) {
  remote_ufrag_ = std::move(ufrag);
  remote_pwd_ = std::move(pwd);
  remote_fingerprint_ = fingerprint;
  responder_ = std::make_unique<webrtc::StunResponder>(local_ufrag_, local_pwd_, remote_ufrag_,
                                                       webrtc::StunResponder::Role::kControlling);
  if (phase_ == Phase::kOffered) phase_ = Phase::kReady;
}

void WebRtcPeer::send(std::span<const uint8_t> bytes) {
  ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&remote_),
           sizeof remote_);
}

void WebRtcPeer::start(int fd, const sockaddr_in& remote, Clock::time_point now) {
  if (phase_ != Phase::kReady) return;
  fd_ = fd;
  remote_ = remote;
  started_ = now;
  phase_ = Phase::kChecking;
  send_check(/*nominate=*/true, now);
}

void WebRtcPeer::send_check(bool nominate, Clock::time_point now) {
  std::array<uint8_t, 512> buf;
  // RFC 8445 §7.2.2: USERNAME is "<answerer's ufrag>:<ours>".
  const std::string username = remote_ufrag_ + ":" + local_ufrag_;
  const size_t n =
      shared_.stun.check(buf, username, remote_pwd_, nominate, kPriority, &transaction_);
  if (n == 0) {
    fail("could not build a STUN check");
    return;
  }
  send({buf.data(), n});
  next_check_ =
      now + (phase_ == Phase::kKeyed ? std::chrono::duration_cast<Clock::duration>(kConsentInterval)
                                     : kCheckInterval);
}

void WebRtcPeer::flush_dtls() {
  std::array<uint8_t, 1500> buf;
  for (int i = 0; i < 32; ++i) {
    const size_t n = dtls_->next_datagram(buf);
    if (n == 0) break;
    send({buf.data(), n});
  }
}

void WebRtcPeer::fail(std::string why) {
  if (phase_ == Phase::kFailed) return;
  phase_ = Phase::kFailed;
  failure_ = std::move(why);
}

void WebRtcPeer::on_datagram(std::span<const uint8_t> datagram, Clock::time_point now) {
  if (datagram.empty() || phase_ == Phase::kFailed) return;
  if (datagram[0] <= 3) {
    const uint16_t type = webrtc::stun_message_type(datagram);
    if (type == webrtc::kStunBindingRequest) {
      answer_server_check(datagram);
      if (phase_ == Phase::kChecking && checked_) open_dtls();
      return;
    }
    // A response to our latest check (older ones are ignored).
    if (webrtc::stun_transaction_id(datagram) != transaction_) return;
    if (type == webrtc::kStunBindingError) {
      fail("STUN check answered " + std::to_string(webrtc::stun_error_code(datagram)));
      return;
    }
    if (type != webrtc::kStunBindingSuccess) return;
    transaction_ = {};
    if (phase_ == Phase::kKeyed) {
      ++consent_answered_;
    } else if (phase_ == Phase::kChecking) {
      checked_ = now;
      if (server_checks_answered_ != 0) open_dtls();
    }
    return;
  }
  if (!dtls_) return;
  dtls_->on_datagram(datagram);
  flush_dtls();
  if (phase_ != Phase::kHandshaking) return;
  if (dtls_->failed()) {
    fail(std::string("DTLS ") + webrtc::dtls_failure_name(dtls_->failure()));
  } else if (dtls_->connected()) {
    keys_ = dtls_->keys();
    if (!keys_) {
      fail("DTLS key export");
      return;
    }
    phase_ = Phase::kKeyed;
    handshake_ms_ = std::chrono::duration<double, std::milli>(now - started_).count();
    next_check_ = now + kConsentInterval;
  }
}

// ICE connected both ways: open DTLS (we offered actpass, Chorus answered passive).
void WebRtcPeer::open_dtls() {
  phase_ = Phase::kHandshaking;
  dtls_ = std::make_unique<webrtc::DtlsClient>(shared_.dtls, remote_fingerprint_);
  dtls_->advance();
  flush_dtls();
}

// Chorus's own check (USERNAME "<our ufrag>:<its ufrag>", keyed with our
// password): answered to where it came from, the address we send to.
void WebRtcPeer::answer_server_check(std::span<const uint8_t> request) {
  if (!responder_) return;
  sockaddr_storage from{};
  std::memcpy(&from, &remote_, sizeof remote_);
  std::array<uint8_t, webrtc::StunResponder::kMaxResponse> out;
  const webrtc::StunResult r = responder_->on_request(request, from, sizeof remote_, out);
  if (r.response_size == 0) return;
  send({out.data(), r.response_size});
  if (r.valid()) ++server_checks_answered_;
}

void WebRtcPeer::poll(Clock::time_point now) {
  switch (phase_) {
    case Phase::kChecking:
      if (checked_ && now - *checked_ >= kServerCheckWait) {
        open_dtls();  // no check of Chorus's seen yet: DTLS retransmits if need be
      } else if (now - started_ > kHandshakeDeadline) {
        fail("no answer to the STUN check");
      } else if (!checked_ && now >= next_check_) {
        send_check(true, now);
      }
      break;
    case Phase::kHandshaking:
      if (now - started_ > kHandshakeDeadline) {
        fail("DTLS handshake timed out");
        break;
      }
      if (const auto left = dtls_->timeout(); left && *left <= Clock::duration::zero()) {
        dtls_->on_timeout();
        flush_dtls();
        if (dtls_->failed()) fail("DTLS retransmissions exhausted");
      }
      break;
    case Phase::kKeyed:
      // RFC 7675 §5.1: a consent check every ~5 s (no nomination).
      if (now >= next_check_) {
        ++consent_checks_;
        send_check(false, now);
      }
      break;
    default:
      break;
  }
}

std::optional<webrtc::SrtpKeys> WebRtcPeer::take_keys() {
  auto out = std::move(keys_);
  keys_.reset();
  return out;
}

}  // namespace chorus::load
