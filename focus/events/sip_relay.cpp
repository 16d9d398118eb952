// EventService's message/sip relay: dialog subscriptions that accept
// message/sip get the SIP messages of their room's calls themselves (the
// remote-call-control draft), in order, batched as multipart/mixed when the
// subscriber accepts it. Credentials and keys never leave: relayed_text().

#include <algorithm>
#include <string>
#include <vector>

#include "focus/events/event_service.hpp"
#include "signaling/asio.hpp"
#include "signaling/message/header_params.hpp"

namespace chorus::focus {

namespace {

constexpr std::string_view kMessageType = "message/sip";

// The methods whose requests and responses change a dialog's state.
bool changes_dialog_state(sip::Method method) {
  switch (method) {
    case sip::Method::kInvite:
    case sip::Method::kAck:
    case sip::Method::kBye:
    case sip::Method::kCancel:
    case sip::Method::kUpdate:
    case sip::Method::kPrack:
      return true;
    default:
      return false;
  }
}

// An SDP (or any body) line that carries key material: SDES (RFC 4568),
// MIKEY (RFC 4567) and the old k= field (RFC 4566 §5.12).
bool key_line(std::string_view line) {
  return line.starts_with("a=crypto:") || line.starts_with("a=key-mgmt:") || line.starts_with("k=");
}

}  // namespace

std::string EventService::relayed_text(const sip::Message& message) {
  sip::Message copy = message;
  copy.remove_header("Authorization");
  copy.remove_header("Proxy-Authorization");
  const std::string_view body = message.body();
  if (!body.empty()) {
    std::string kept;
    kept.reserve(body.size());
    bool dropped = false;
    size_t at = 0;
    while (at < body.size()) {
      size_t end = body.find('\n', at);
      end = end == std::string_view::npos ? body.size() : end + 1;
      const std::string_view line = body.substr(at, end - at);
      if (key_line(line)) {
        dropped = true;
      } else {
        kept.append(line);
      }
      at = end;
    }
    if (dropped) {
      const std::string type(message.header("Content-Type").value_or(""));
      copy.set_body(type, kept);
    }
  }
  return copy.serialize();
}

RelayBinding EventService::bind_call(const std::string& call_id, const std::string& room,
                                     const sip::Message* first) {
  BoundCall& bound = bound_calls_[call_id];
  if (bound.bindings == 0) bound.room = room;
  ++bound.bindings;
  if (first != nullptr && room_has_relay(room)) relay_to_room(room, *first);
  return RelayBinding([this, alive = std::weak_ptr<bool>(alive_), call_id] {
    const auto live = alive.lock();
    if (live && *live) release_call(call_id);
  });
}

void EventService::release_call(const std::string& call_id) {
  const auto it = bound_calls_.find(call_id);
  if (it == bound_calls_.end() || --it->second.bindings > 0) return;
  if (!room_has_relay(it->second.room)) {
    bound_calls_.erase(it);
    return;
  }
  // Watched: what still crosses for the call (the answer to its last BYE)
  // is relayed for a moment more.
  stack_.timers().start(config_.relay_linger, [this, alive = alive_, call_id] {
    if (!*alive) return;
    const auto found = bound_calls_.find(call_id);
    if (found != bound_calls_.end() && found->second.bindings == 0) bound_calls_.erase(found);
  });
}

bool EventService::room_has_relay(std::string_view room) const {
  if (relay_subscribers_ == 0) return false;
  return std::any_of(subscribers_.begin(), subscribers_.end(), [&](const auto& entry) {
    return entry.second.relay && entry.second.room == room;
  });
}

void EventService::relay_subscriber_added() {
  if (relay_subscribers_++ > 0) return;
  // The first message/sip subscriber: from now on the Stack shows us what
  // it exchanges (nothing is copied for the tap before).
  stack_.set_message_tap(
      [this](const sip::Message& message, sip::MessageDirection) { on_tapped(message); });
  tap_installed_ = true;
}

void EventService::relay_subscriber_removed() {
  if (relay_subscribers_ == 0 || --relay_subscribers_ > 0) return;
  // Not now: this may run inside the tap itself (a subscriber ended for
  // overflow while a message was relayed).
  boost::asio::post(stack_.io(), [this, alive = alive_] {
    if (!*alive || relay_subscribers_ > 0) return;
    stack_.set_message_tap({});
    tap_installed_ = false;
  });
}

void EventService::on_tapped(const sip::Message& message) {
  const sip::Method method = message.is_request() ? message.method() : message.cseq().method;
  if (!changes_dialog_state(method)) return;
  const auto it = bound_calls_.find(std::string(message.call_id()));
  if (it == bound_calls_.end()) return;
  relay_to_room(it->second.room, message);
}

void EventService::relay_to_room(const std::string& room, const sip::Message& message) {
  std::vector<Token> tokens;
  for (const auto& [token, s] : subscribers_) {
    if (s.relay && s.room == room) tokens.push_back(token);
  }
  if (tokens.empty()) return;
  const std::string text = relayed_text(message);
  for (const Token token : tokens) {
    auto it = subscribers_.find(token);
    if (it == subscribers_.end()) continue;
    Subscriber& s = it->second;
    if (s.relay_queue.size() >= config_.relay_queue_limit) {
      // It cannot keep up: these NOTIFYs are not rate-limited, so rather
      // than hold an unbounded backlog (or skip messages, which would
      // break the order promised) the subscription ends. It may subscribe
      // again (RFC 6665 §4.2.2 "probation").
      ++relay_overflows_;
      end(token, "probation", nullptr);
      continue;
    }
    s.relay_queue.push_back(text);
    flush_relay(token);
  }
}

void EventService::flush_relay(Token token) {
  auto it = subscribers_.find(token);
  if (it == subscribers_.end()) return;
  Subscriber& s = it->second;
  if (s.in_flight || s.retry_timer != 0 || s.relay_queue.empty()) return;
  sip::Dialog* dialog = dialogs_.find(s.dialog);
  if (dialog == nullptr || s.subscription->terminated()) {
    remove(token);
    return;
  }
  const size_t count = s.multipart ? std::min(config_.relay_batch, s.relay_queue.size()) : 1;
  sip::NotifyBody body;
  if (count == 1) {
    body.content_type = std::string(kMessageType);
    body.body = s.relay_queue.front();
  } else {
    // RFC 2046 §5.1.1: a boundary that none of the parts contains.
    std::string boundary = "relay-" + random_.tag();
    const auto inside = [&](const std::string& b) {
      return std::any_of(
          s.relay_queue.begin(), s.relay_queue.begin() + static_cast<long>(count),
          [&](const std::string& part) { return part.find(b) != std::string::npos; });
    };
    while (inside(boundary)) boundary = "relay-" + random_.tag() + random_.tag();
    body.content_type = "multipart/mixed;boundary=" + boundary;
    for (size_t i = 0; i < count; ++i) {
      body.body += "--" + boundary + "\r\nContent-Type: message/sip\r\n\r\n";
      body.body += s.relay_queue[i];
      body.body += "\r\n";
    }
    body.body += "--" + boundary + "--\r\n";
  }
  s.relay_sent = count;
  send(token, s.subscription->make_notify(*dialog, stack_.timers().now(), body));
}

}  // namespace chorus::focus
