#pragma once
// The admin listener: HTTP/1.1 (Boost.Beast) for the admin API, the web
// console and /metrics (focus/ops/admin_api.hpp), and WebSocket event streams at
// /api/events: a "snapshot" message on connect, then one message per
// ControlEvent and a periodic "levels" message (focus/ops/admin_json.hpp).
//
// It runs on the signalling io_context (the Control is called on that thread
// only, so nothing here locks). Every read and write has a deadline
// (AdminConfig::idle_timeout), requests are size-bounded (413/431), the
// connection count is capped, and an event stream that falls
// max_queued_events behind is closed rather than buffered without end.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "focus/control.hpp"
#include "focus/ops/admin_api.hpp"
#include "focus/ops/metrics.hpp"
#include "signaling/asio.hpp"

namespace chorus::focus {

class AdminServer {
 public:
  AdminServer(boost::asio::io_context& io, Control& control, MetricsSource metrics,
              AdminConfig config);
  ~AdminServer();  // stop()s
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds config.address:config.port, starts accepting and becomes the
  // Control's event listener. Throws std::system_error when it cannot bind.
  void start();
  // Closes the listener and every connection; drops the event listener.
  void stop();
  // SIGHUP with a new admin.token: the old one is refused from now on, and
  // the event streams it opened are closed (accounts' streams stay). On the
  // io_context's thread.
  void set_token(std::string token);

  uint16_t port() const;         // the bound port (after start)
  size_t connections() const;    // open HTTP connections and event streams
  size_t event_streams() const;  // open WebSocket event streams

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace chorus::focus
