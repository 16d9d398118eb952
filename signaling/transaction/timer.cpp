#include "signaling/transaction/timer.hpp"

#include <cassert>
#include <optional>

namespace chorus::sip {

TimerId TimerService::start(Duration delay, Callback callback) {
  assert(callback);
  if (delay < Duration::zero()) delay = Duration::zero();
  const TimerId id = next_id_++;
  const TimePoint deadline = now() + delay;
  queue_.emplace(Key{deadline, id}, std::move(callback));
  by_id_.emplace(id, deadline);
  on_schedule_changed();
  return id;
}

void TimerService::cancel(TimerId id) {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  queue_.erase(Key{it->second, id});
  by_id_.erase(it);
  on_schedule_changed();
}

std::optional<TimePoint> TimerService::next_deadline() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first.first;
}

void TimerService::run_due(TimePoint now) {
  while (!queue_.empty() && queue_.begin()->first.first <= now) {
    auto node = queue_.extract(queue_.begin());
    by_id_.erase(node.key().second);
    node.mapped()();
  }
  on_schedule_changed();
}

void ManualTimerService::advance(Duration by) {
  const TimePoint target = now_ + by;
  while (true) {
    const auto next = next_deadline();
    if (!next || *next > target) break;
    if (*next > now_) now_ = *next;
    run_due(now_);
  }
  now_ = target;
}

}  // namespace chorus::sip
