#include "signaling/dialog/session_timer.hpp"

#include <algorithm>
#include <string>

#include "signaling/message/header_tokens.hpp"

namespace chorus::sip {
namespace {

bool supports_timer(const Message& message) {
  for (std::string_view name : {"Supported", "Require"}) {
    for (std::string_view value : message.header_lines(name)) {
      const auto tokens = parse_token_list(value);
      if (tokens && token_list_contains(*tokens, "timer")) return true;
    }
  }
  return false;
}

std::optional<SessionExpires> session_expires_of(const Message& message) {
  const auto value = message.header("Session-Expires");
  if (!value) return std::nullopt;
  return parse_session_expires(*value);
}

std::optional<uint32_t> min_se_of(const Message& message) {
  const auto value = message.header("Min-SE");
  if (!value) return std::nullopt;
  return parse_min_se(*value);
}

std::string_view refresher_text(SessionExpires::Refresher r) {
  return r == SessionExpires::Refresher::kUac ? "uac" : "uas";
}

}  // namespace

SessionTimerUasDecision negotiate_session_timer_uas(const Message& request,
                                                    const SessionTimerConfig& config) {
  SessionTimerUasDecision d;
  if (!config.enabled) return d;
  const uint32_t our_min = std::max(config.min_se, kAbsoluteMinSe);
  const bool uac_supports = supports_timer(request);
  const auto se = session_expires_of(request);
  // The request's Min-SE is a floor proxies and the UAC agreed on (§5).
  const uint32_t floor = std::max(our_min, min_se_of(request).value_or(0));

  uint32_t interval = 0;
  if (se) {
    if (se->delta < our_min) {
      if (uac_supports) {
        d.reject = true;
        d.min_se = our_min;
        return d;
      }
      interval = floor;
    } else {
      // §9: the UAS may shorten the interval, never below Min-SE.
      interval = std::max(std::min(se->delta, config.session_expires), floor);
    }
  } else {
    interval = std::max(config.session_expires, floor);
  }

  d.use_timer = true;
  d.interval = interval;
  d.require_timer = uac_supports;
  if (se && se->refresher != SessionExpires::Refresher::kNone && uac_supports) {
    d.refresher = se->refresher;
  } else {
    d.refresher = uac_supports ? SessionExpires::Refresher::kUac : SessionExpires::Refresher::kUas;
  }
  return d;
}

void apply_session_timer(const SessionTimerUasDecision& decision, Message& response) {
  if (decision.reject) {
    response.set_header("Min-SE", std::to_string(decision.min_se));
    return;
  }
  if (!decision.use_timer || response.status() < 200 || response.status() >= 300) return;
  response.set_header("Session-Expires", std::to_string(decision.interval) + ";refresher=" +
                                             std::string(refresher_text(decision.refresher)));
  if (decision.require_timer) response.add_header("Require", "timer");
}

void add_session_timer_request_headers(Message& request, uint32_t interval, uint32_t min_se,
                                       bool we_refresh) {
  request.add_header("Supported", "timer");
  request.set_header("Session-Expires",
                     std::to_string(interval) + (we_refresh ? ";refresher=uac" : ";refresher=uas"));
  request.set_header("Min-SE", std::to_string(std::max(min_se, kAbsoluteMinSe)));
}

SessionTimerUacResult session_timer_from_response(const Message& response,
                                                  uint32_t requested_interval) {
  SessionTimerUacResult r;
  const int status = response.status();
  if (status == 422) {
    // §7.3: retry with Session-Expires at least the 422's Min-SE.
    const uint32_t min_se = min_se_of(response).value_or(kAbsoluteMinSe);
    r.retry = true;
    r.retry_interval = std::max({min_se, requested_interval, kAbsoluteMinSe});
    return r;
  }
  if (status < 200 || status >= 300) return r;
  const auto se = session_expires_of(response);
  if (!se || se->delta == 0) return r;  // §7.2: no Session-Expires, no timer
  r.use_timer = true;
  r.interval = se->delta;
  // §7.2: a 2xx without refresher cannot happen from a compliant UAS; we
  // then refresh ourselves, which is always safe.
  r.we_refresh = se->refresher != SessionExpires::Refresher::kUas;
  return r;
}

void SessionTimer::start(uint32_t interval_seconds, bool we_refresh, TimePoint now) {
  active_ = interval_seconds > 0;
  we_refresh_ = we_refresh;
  refresh_reported_ = false;
  interval_ = interval_seconds;
  started_ = now;
}

std::optional<TimePoint> SessionTimer::refresh_at() const {
  if (!active_ || !we_refresh_ || refresh_reported_) return std::nullopt;
  return started_ + std::chrono::milliseconds(uint64_t{interval_} * 500);
}

std::optional<TimePoint> SessionTimer::expire_at() const {
  if (!active_) return std::nullopt;
  const uint32_t margin = std::min<uint32_t>(32, interval_ / 3);
  return started_ + std::chrono::seconds(interval_ - margin);
}

std::optional<TimePoint> SessionTimer::next_deadline() const {
  const auto refresh = refresh_at();
  const auto expire = expire_at();
  if (refresh && expire) return std::min(*refresh, *expire);
  return refresh ? refresh : expire;
}

SessionTimer::Due SessionTimer::poll(TimePoint now) {
  if (!active_) return Due::kNone;
  if (const auto expire = expire_at(); expire && now >= *expire) {
    active_ = false;
    return Due::kExpire;
  }
  if (const auto refresh = refresh_at(); refresh && now >= *refresh) {
    refresh_reported_ = true;
    return Due::kRefresh;
  }
  return Due::kNone;
}

}  // namespace chorus::sip
