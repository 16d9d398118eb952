#include "signaling/transaction/timer_asio.hpp"

namespace chorus::sip {

AsioTimerService::AsioTimerService(boost::asio::io_context& io) : timer_(io) {}

AsioTimerService::~AsioTimerService() {
  alive_.reset();
  timer_.cancel();
}

void AsioTimerService::on_schedule_changed() {
  if (running_) return;  // run_due() ends with one more call, after the loop
  const std::optional<TimePoint> next = next_deadline();
  if (next == armed_for_) return;
  armed_for_ = next;
  if (!next) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(*next);  // cancels a previous wait (operation_aborted)
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code& error) {
    if (alive.expired() || error) return;
    armed_for_.reset();
    running_ = true;
    run_due(Clock::now());
    running_ = false;
    on_schedule_changed();
  });
}

}  // namespace chorus::sip
