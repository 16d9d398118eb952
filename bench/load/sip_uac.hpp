#pragma once
// chorus-load's SIP user agent client: each participant dials
// sip:<room>@target with an SDP offer (one codec, optionally RTP/SAVP with
// an RFC 4568 a=crypto key, or with --webrtc a browser's UDP/TLS/RTP/SAVPF
// offer whose answer the participant's WebRtcPeer uses), ACKs the 200 (RFC 3261 §13.2.2.4), points
// its media at the answer's port, and leaves with BYE. A BYE from the focus ends the participant's
// call.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/load/options.hpp"
#include "bench/load/participant.hpp"
#include "signaling/asio.hpp"
#include "signaling/message/message.hpp"
#include "signaling/stack.hpp"

namespace chorus::load {

struct SipCounters {
  uint64_t invites = 0;
  uint64_t answered = 0;  // 200 with a usable SDP answer
  uint64_t failed = 0;    // non-2xx, timeout, unusable answer
  uint64_t byes_sent = 0;
  uint64_t byes_answered = 0;
  uint64_t byes_from_server = 0;
  std::vector<double> setup_ms;  // INVITE sent -> 200 received
};

class SipUac {
 public:
  SipUac(boost::asio::io_context& io, const Options& options);
  void start();

  void invite(Participant& p);
  void bye(Participant& p);
  size_t pending() const { return pending_; }
  const SipCounters& counters() const { return counters_; }
  std::string last_error() const { return last_error_; }

 private:
  sip::Message request(Participant& p, sip::Method method) const;
  std::string offer(const Participant& p) const;
  std::string webrtc_offer(const Participant& p) const;
  bool apply_answer(Participant& p, const sip::Message& ok);
  void on_invite_event(Participant& p, const sip::ClientEvent& event);
  std::string room_name(const Participant& p) const;

  const Options& options_;
  sip::Stack stack_;
  sip::Endpoint target_;
  uint8_t payload_type_;
  size_t pending_ = 0;
  SipCounters counters_;
  std::string last_error_;
  std::unordered_map<std::string, Participant*> by_call_id_;
};

// The RTP payload type chorus-load uses for a codec (static ones per RFC
// 3551; 111 for Opus, as browsers do).
uint8_t payload_type_for(mixer::CodecId id);

}  // namespace chorus::load
