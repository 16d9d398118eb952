#pragma once
// Liveness of a WebRTC member as a lite agent sees it. A lite agent sends no
// checks of its own, so consent freshness (RFC 7675) is the browser's: it
// sends a Binding request every ~5 s and stops sending media when those go
// unanswered for 30 s (§5.1). Our side of that contract: a member from whom
// neither a valid STUN check (StunResult::valid) nor an authenticated SRTP or
// SRTCP packet has arrived for 30 s is ended.
//
// An injected clock: every call takes `now`, the stream's receive time, so
// tests drive time explicitly. Two time_points, no allocation, no lock.

#include <chrono>

namespace chorus::webrtc {

class ConsentTimer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kDefaultTimeout = std::chrono::seconds(30);  // RFC 7675 §5.1

  // `start`: when the member was created (its first chance to send a check).
  explicit ConsentTimer(Clock::time_point start, Clock::duration timeout = kDefaultTimeout)
      : last_(start), timeout_(timeout) {}

  // A valid STUN check or an SRTP/SRTCP packet that passed authentication.
  // Times earlier than the last one (reordered batches) change nothing.
  void refresh(Clock::time_point now) {
    if (now > last_) last_ = now;
  }

  // True once `timeout` has passed since the last refresh: end the member.
  bool expired(Clock::time_point now) const { return now - last_ >= timeout_; }

  Clock::time_point last_refresh() const { return last_; }
  Clock::time_point deadline() const { return last_ + timeout_; }

 private:
  Clock::time_point last_;
  Clock::duration timeout_;
};

}  // namespace chorus::webrtc
