#pragma once
// Liveness and consent of a WebRTC member as our lite agent sees it.
//
// Consent to send (RFC 7675) is a RESPONSE to a check WE sent: the stream
// sends its own Binding request to the latched address every 4–6 s (§5.1,
// webrtc/check_sender.hpp) and only a Binding success with that request's
// random transaction id, from that address, counts (answered()). A valid
// check or an authenticated SRTP/SRTCP packet proves nothing about the
// address it claims to come from: the member knows our ice-pwd and holds its
// own SRTP keys, so it can forge either from any source. Such packets from
// the latched address are kept as signs of life (refresh(), last_refresh()),
// but expired() counts from the last answer only: a member whose address has
// not answered one of our checks for 30 s is ended, however many checks or
// packets claim to come from there.
//
// An injected clock: every call takes `now`, so tests drive time explicitly.
// Three values, no allocation, no lock.

#include <chrono>

namespace chorus::webrtc {

class ConsentTimer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kDefaultTimeout = std::chrono::seconds(30);  // RFC 7675 §5.1

  // `start`: when the member was created (its first chance to be checked).
  explicit ConsentTimer(Clock::time_point start, Clock::duration timeout = kDefaultTimeout)
      : last_(start), answered_(start), timeout_(timeout) {}

  // A valid STUN check or an SRTP/SRTCP packet that passed authentication,
  // from the latched address. Times earlier than the last one (reordered
  // batches) change nothing.
  void refresh(Clock::time_point now) {
    if (now > last_) last_ = now;
  }
  // The latched address answered one of our checks (RFC 7675 §5.1: consent
  // granted for another `timeout`).
  void answered(Clock::time_point now) {
    refresh(now);
    if (now > answered_) answered_ = now;
  }

  // True once `timeout` has passed since the last answer: end the member.
  bool expired(Clock::time_point now) const { return now - answered_ >= timeout_; }

  Clock::time_point last_refresh() const { return last_; }
  Clock::time_point last_answer() const { return answered_; }
  Clock::time_point deadline() const { return answered_ + timeout_; }
  Clock::duration timeout() const { return timeout_; }

 private:
  Clock::time_point last_;
  Clock::time_point answered_;
  Clock::duration timeout_;
};

}  // namespace chorus::webrtc
