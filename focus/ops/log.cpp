#include "focus/ops/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <exception>
#include <memory>
#include <utility>

namespace chorus::focus {
namespace {

thread_local std::string_view current_call_id;
thread_local std::string_view current_room;

constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> kLevels = {{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},
    {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
}};

std::optional<spdlog::level::level_enum> to_level(std::string_view name) {
  for (const auto& [text, level] : kLevels) {
    if (text == name) return level;
  }
  return std::nullopt;
}

void append(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// `%*` in our pattern: the thread's call context.
class ContextFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (current_call_id.empty() && current_room.empty()) return;
    append(dest, "[");
    if (!current_call_id.empty()) {
      append(dest, "call=");
      append(dest, current_call_id);
      if (!current_room.empty()) append(dest, " ");
    }
    if (!current_room.empty()) {
      append(dest, "room=");
      append(dest, current_room);
    }
    append(dest, "] ");
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ContextFlag>();
  }
};

// ISO-like UTC-free local timestamp, level, context, message. journald adds
// its own timestamp, but a file or a terminal needs one.
constexpr const char* kPattern = "%Y-%m-%d %H:%M:%S.%e %l %*%v";

}  // namespace

bool valid_log_level(std::string_view name) {
  return to_level(name).has_value();
}

std::optional<std::string> setup_logging(std::string_view level, const std::string& file) {
  const auto parsed = to_level(level);
  if (!parsed) {
    return "unknown log level '" + std::string(level) + "' (allowed: " + std::string(kLogLevels) +
           ")";
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (file.empty()) {
      logger = std::make_shared<spdlog::logger>("chorus",
                                                std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          "chorus", std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, false));
    }
  } catch (const std::exception& error) {
    return "cannot open log file '" + file + "': " + error.what();
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<ContextFlag>('*').set_pattern(kPattern);
  logger->set_formatter(std::move(formatter));
  logger->set_level(*parsed);
  // Warnings and worse reach the file at once; the rest within a second
  // (a crash loses at most that much chatter).
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  spdlog::flush_every(std::chrono::seconds(1));
  return std::nullopt;
}

void set_log_level(std::string_view level) {
  if (const auto parsed = to_level(level)) spdlog::set_level(*parsed);
}

LogContext::LogContext(std::string_view call_id, std::string_view room)
    : previous_call_id_(current_call_id), previous_room_(current_room) {
  current_call_id = call_id;
  current_room = room;
}

LogContext::~LogContext() {
  current_call_id = previous_call_id_;
  current_room = previous_room_;
}

std::string_view LogContext::call_id() {
  return current_call_id;
}
std::string_view LogContext::room() {
  return current_room;
}

std::string log_context_prefix() {
  spdlog::memory_buf_t buffer;
  ContextFlag().format(spdlog::details::log_msg{}, std::tm{}, buffer);
  return std::string(buffer.data(), buffer.size());
}

}  // namespace chorus::focus
