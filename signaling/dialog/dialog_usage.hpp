#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "signaling/message/message.hpp"

namespace chorus::sip {

using TimePoint = std::chrono::steady_clock::time_point;

class Dialog;

// What a usage asks its owner (the stack / focus) to do when one of its
// deadlines passes. Requests are complete in-dialog requests without Via.
struct DeadlineActions {
  std::vector<Message> requests;     // send now: final NOTIFY, session-timer UPDATE, BYE
  bool reinvite_retry_due = false;   // RFC 3261 §14.1 back-off over: re-send the re-INVITE
  bool session_expired = false;      // RFC 4028 §10: no refresh arrived; a BYE is in `requests`
  bool session_refresh_due = false;  // RFC 4028 §7.2: we refresh; send a re-INVITE (with SDP)
};

enum class UsageKind : uint8_t { kInviteSession, kSubscription };

// A dialog usage (RFC 5057 §3; PJSIP's "usages"): one thing that shares a
// dialog — the INVITE session, or one subscription (explicit SUBSCRIBE or the
// implicit one of a REFER). A dialog lives as long as one usage does.
// Usages take the Dialog they belong to as a parameter rather than keeping a
// back pointer, so a Dialog may move freely.
class DialogUsage {
 public:
  DialogUsage() = default;
  DialogUsage(const DialogUsage&) = delete;
  DialogUsage& operator=(const DialogUsage&) = delete;
  virtual ~DialogUsage() = default;

  virtual UsageKind kind() const = 0;
  virtual bool terminated() const = 0;
  // The earliest time on_deadline() has work to do, if any.
  virtual std::optional<TimePoint> next_deadline() const = 0;
  // Called at or after next_deadline(); appends what to do.
  virtual void on_deadline(Dialog& dialog, TimePoint now, DeadlineActions& out) = 0;
  // The dialog is being torn down (BYE with RFC 3261 semantics, 481, ...).
  virtual void terminate() = 0;
};

}  // namespace chorus::sip
