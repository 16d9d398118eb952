#pragma once

#include <functional>
#include <utility>

namespace chorus::focus {

// A call's place in the message/sip relay (EventService::bind_call): while
// it lives, the call's messages are relayed to its room's subscribers. It
// lives in the call, so the relay forgets the call when the call goes.
class RelayBinding {
 public:
  RelayBinding() = default;
  explicit RelayBinding(std::function<void()> release) : release_(std::move(release)) {}
  ~RelayBinding() { reset(); }
  RelayBinding(RelayBinding&& other) noexcept : release_(std::exchange(other.release_, {})) {}
  RelayBinding& operator=(RelayBinding&& other) noexcept {
    if (this != &other) {
      reset();
      release_ = std::exchange(other.release_, {});
    }
    return *this;
  }
  RelayBinding(const RelayBinding&) = delete;
  RelayBinding& operator=(const RelayBinding&) = delete;

  void reset() {
    if (auto release = std::exchange(release_, {})) release();
  }

 private:
  std::function<void()> release_;
};

}  // namespace chorus::focus
