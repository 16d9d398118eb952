#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

namespace chorus::sip {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;
using TimerId = uint64_t;

// Deadlines of the SIP layer (RFC 3261 §17 timers A..K, 2xx retransmission,
// 100 Trying delay). The queue itself does no I/O: a driver tells it the time
// (AsioTimerService in production, ManualTimerService in unit tests, so a
// 32 s Timer D takes no wall time in a test).
class TimerService {
 public:
  using Callback = std::function<void()>;

  TimerService() = default;
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;
  virtual ~TimerService() = default;

  virtual TimePoint now() const = 0;

  // Runs `callback` once, `delay` from now(). Returns an id for cancel().
  TimerId start(Duration delay, Callback callback);
  // Cancelling an id that already fired or was cancelled is a no-op.
  void cancel(TimerId id);
  size_t pending() const { return by_id_.size(); }

 protected:
  // Fires every timer due at or before `now`, in deadline order (ties in start
  // order). A callback may start or cancel timers.
  void run_due(TimePoint now);
  std::optional<TimePoint> next_deadline() const;
  // Told whenever the earliest deadline may have changed.
  virtual void on_schedule_changed() {}

 private:
  using Key = std::pair<TimePoint, TimerId>;
  std::map<Key, Callback> queue_;
  std::unordered_map<TimerId, TimePoint> by_id_;
  TimerId next_id_ = 1;
};

// Test clock: time moves only when advance() is called.
class ManualTimerService final : public TimerService {
 public:
  explicit ManualTimerService(TimePoint start = TimePoint{}) : now_(start) {}
  TimePoint now() const override { return now_; }
  // Moves time forward, firing each due timer at its own deadline (so a timer
  // started by a callback sees the right now()).
  void advance(Duration by);

 private:
  TimePoint now_;
};

}  // namespace chorus::sip
