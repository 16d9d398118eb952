#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "signaling/message/header_session_timer.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {

using TimePoint = std::chrono::steady_clock::time_point;

// RFC 4028 session timers: our policy.
struct SessionTimerConfig {
  bool enabled = true;
  // Smallest interval we accept (RFC 4028 §5: never below 90 s).
  uint32_t min_se = 90;
  // Interval we ask for / grant when the peer leaves it to us.
  uint32_t session_expires = 1800;
};

inline constexpr uint32_t kAbsoluteMinSe = 90;  // RFC 4028 §4

// RFC 4028 §9: what a UAS answers to an INVITE or UPDATE.
struct SessionTimerUasDecision {
  bool use_timer = false;  // false: no Session-Expires in our 2xx
  bool reject = false;     // true: answer 422 with Min-SE: min_se
  uint32_t min_se = 0;     // for the 422
  uint32_t interval = 0;   // the Session-Expires of our 2xx
  SessionExpires::Refresher refresher = SessionExpires::Refresher::kUas;
  bool require_timer = false;  // Require: timer in the 2xx (the UAC supports it)
  // True when we (the UAS of this transaction) must refresh.
  bool uas_refreshes() const { return refresher == SessionExpires::Refresher::kUas; }
};

// Reads Session-Expires, Min-SE and Supported: timer from a request and
// applies `config`:
//  - a Session-Expires below our minimum is refused with 422 when the UAC
//    supports timers (§9); a UAC that does not support them could not
//    retry, so its value is raised to our minimum instead;
//  - we may lower a larger interval to our preferred one, but never below
//    the request's Min-SE (§9);
//  - with no Session-Expires we grant max(preferred, the request's Min-SE,
//    our minimum);
//  - refresher: the request's choice; else "uac" if the UAC supports timers,
//    else "uas" (§9: a UAC without timer support cannot be the refresher).
// A Session-Expires or Min-SE that does not parse is treated as absent.
SessionTimerUasDecision negotiate_session_timer_uas(const Message& request,
                                                    const SessionTimerConfig& config);

// Adds what `decision` implies to our response: Min-SE to a 422, or
// Session-Expires (+ Require: timer) to a 2xx.
void apply_session_timer(const SessionTimerUasDecision& decision, Message& response);

// RFC 4028 §7.1 / §7.4: headers of a request we send (initial INVITE, or a
// refresh re-INVITE / UPDATE): Supported: timer, Session-Expires with the
// refresher, Min-SE.
void add_session_timer_request_headers(Message& request, uint32_t interval, uint32_t min_se,
                                       bool we_refresh);

// RFC 4028 §7.2 / §7.3: what a response to such a request tells the UAC.
struct SessionTimerUacResult {
  bool use_timer = false;  // 2xx carried Session-Expires
  uint32_t interval = 0;
  bool we_refresh = false;  // refresher=uac (we were the UAC of this transaction)
  bool retry = false;       // 422: retry with interval = retry_interval
  uint32_t retry_interval = 0;
};
SessionTimerUacResult session_timer_from_response(const Message& response,
                                                  uint32_t requested_interval);

// The running timer of one session (RFC 4028 §10). Restarted on every
// successful refresh (a 2xx to re-INVITE/UPDATE carrying Session-Expires,
// sent or received).
class SessionTimer {
 public:
  void start(uint32_t interval_seconds, bool we_refresh, TimePoint now);
  void stop() { active_ = false; }
  bool active() const { return active_; }
  uint32_t interval() const { return interval_; }
  bool we_refresh() const { return we_refresh_; }

  // §7.2: the refresher refreshes at half the interval. nullopt if we do not
  // refresh or the refresh was already reported.
  std::optional<TimePoint> refresh_at() const;
  // §10: with no refresh by then, BYE at interval - min(32, interval / 3).
  std::optional<TimePoint> expire_at() const;
  std::optional<TimePoint> next_deadline() const;

  enum class Due : uint8_t { kNone, kRefresh, kExpire };
  // What is due at `now`; a refresh is reported once per interval, expiry
  // stops the timer.
  Due poll(TimePoint now);

 private:
  bool active_ = false;
  bool we_refresh_ = false;
  bool refresh_reported_ = false;
  uint32_t interval_ = 0;
  TimePoint started_{};
};

}  // namespace chorus::sip
