#pragma once

// Logging set-up for `chorus` (spdlog's default logger) and per-call context.
//
// Code logs through spdlog's free functions (spdlog::info(...)). While a
// LogContext is alive on a thread, every line that thread logs carries
// `call=<Call-ID> room=<room>`, so one call's story can be grepped out of a
// busy log. Only signalling and start-up code logs; the media path never does.

#include <optional>
#include <string>
#include <string_view>

namespace chorus::focus {

inline constexpr std::string_view kLogLevels = "trace, debug, info, warn, error, critical, off";

bool valid_log_level(std::string_view name);

// Points the default logger at `file` (appending), or at stderr when `file`
// is empty, with our pattern and `level`. Returns an error message (e.g. the
// file cannot be opened, or an unknown level) and leaves logging unchanged.
std::optional<std::string> setup_logging(std::string_view level, const std::string& file);

// Changes the level of the current logger (SIGHUP). Unknown names are ignored.
void set_log_level(std::string_view level);

// Scoped per-call context for this thread's log lines. Nests: the innermost
// wins and the previous context comes back on destruction. The views must
// outlive the scope (they are the caller's strings; nothing is copied).
class LogContext {
 public:
  LogContext(std::string_view call_id, std::string_view room);
  ~LogContext();
  LogContext(const LogContext&) = delete;
  LogContext& operator=(const LogContext&) = delete;

  // The context in force on this thread ("" when none).
  static std::string_view call_id();
  static std::string_view room();

 private:
  std::string_view previous_call_id_;
  std::string_view previous_room_;
};

// The context prefix a log line gets: "[call=ID room=R] ", "[room=R] " or "".
std::string log_context_prefix();

}  // namespace chorus::focus
