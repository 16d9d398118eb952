#pragma once

#include <memory>

#include "signaling/asio.hpp"
#include "signaling/transaction/timer.hpp"

namespace chorus::sip {

// The production driver of TimerService: one steady_timer on the signalling
// io_context, always armed for the earliest deadline.
class AsioTimerService final : public TimerService {
 public:
  explicit AsioTimerService(boost::asio::io_context& io);
  ~AsioTimerService() override;

  TimePoint now() const override { return Clock::now(); }

 private:
  void on_schedule_changed() override;

  boost::asio::steady_timer timer_;
  std::optional<TimePoint> armed_for_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool running_ = false;
};

}  // namespace chorus::sip
