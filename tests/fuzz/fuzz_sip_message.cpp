// libFuzzer target: Message::parse on arbitrary bytes must never crash; what
// parses must serialize into something that parses again with the same
// start line, headers and body; copies must stay valid on their own.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "signaling/message/framing.hpp"
#include "signaling/message/header_auth.hpp"
#include "signaling/message/header_dialog_ref.hpp"
#include "signaling/message/header_event.hpp"
#include "signaling/message/header_misc.hpp"
#include "signaling/message/header_refer.hpp"
#include "signaling/message/header_session_timer.hpp"
#include "signaling/message/header_tokens.hpp"
#include "signaling/message/message.hpp"
#include "signaling/message/multipart.hpp"

namespace {

#define CHECK(condition)                                                        \
  do {                                                                          \
    if (!(condition)) {                                                         \
      std::fprintf(stderr, "CHECK failed line %d: %s\n", __LINE__, #condition); \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

void exercise_typed(const chorus::sip::Message& m) {
  using namespace chorus::sip;
  (void)m.top_via().rport();
  (void)m.vias();
  (void)m.contacts();
  (void)m.routes();
  (void)m.record_routes();
  (void)m.from().display_name_unescaped();
  (void)m.to().tag();
  (void)m.expires();
  for (auto v : m.header_values("Supported")) (void)v;
  if (auto h = m.header("Authorization")) (void)parse_auth_header(*h);
  if (auto h = m.header("WWW-Authenticate")) (void)parse_auth_header(*h);
  if (auto h = m.header("Event")) (void)parse_event(*h);
  if (auto h = m.header("Subscription-State")) (void)parse_subscription_state(*h);
  if (auto h = m.header("Replaces")) (void)parse_replaces(*h);
  if (auto h = m.header("Join")) (void)parse_join(*h);
  if (auto h = m.header("Target-Dialog")) (void)parse_target_dialog(*h);
  if (auto h = m.header("Session-Expires")) (void)parse_session_expires(*h);
  if (auto h = m.header("Min-SE")) (void)parse_min_se(*h);
  if (auto h = m.header("Retry-After")) (void)parse_retry_after(*h);
  if (auto h = m.header("Reason")) (void)parse_reason(*h);
  if (auto h = m.header("Warning")) (void)parse_warning(*h);
  if (auto h = m.header("Require")) (void)parse_token_list(*h);
  if (auto h = m.header("Refer-To")) {
    if (auto r = parse_refer_to(*h)) {
      if (auto replaces = r->replaces()) (void)parse_replaces(*replaces);
      (void)r->action();
    }
  }
  if (auto type = parse_content_type(m.content_type())) {
    if (type->type == "multipart" || type->type == "MULTIPART") {
      (void)parse_multipart(m.body(), type->boundary());
    }
  }
  if (m.is_request()) (void)m.request_uri().headers();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus::sip;
  const std::string_view wire(reinterpret_cast<const char*>(data), size);
  (void)frame_stream_message(wire);
  auto parsed = Message::parse(wire);
  if (!parsed.ok()) {
    if (parsed.error().answerable) (void)build_error_response(wire, parsed.error(), "fz");
    return 0;
  }
  const Message& m = parsed.value();
  exercise_typed(m);
  const std::string out = m.serialize();
  if (out.size() > kMaxMessageSize) return 0;  // "l: 0" -> "Content-Length: 0" can grow it
  auto again = Message::parse(out);
  CHECK(again.ok());
  CHECK(again->is_request() == m.is_request());
  CHECK(again->body() == m.body());
  CHECK(again->call_id() == m.call_id());
  CHECK(again->serialize() == out);
  // A copy outlives the original and serializes identically.
  auto copy = std::make_unique<Message>(*again);
  again = Result<Message>(ParseError{});
  CHECK(copy->serialize() == out);
  if (m.is_request()) {
    CHECK(copy->request_uri_text() == m.request_uri_text());
    Message response = make_response(*copy, 200, {}, "tag");
    CHECK(Message::parse(response.serialize()).ok());
  }
  // Stamp received/rport like a transport does; still well-formed.
  Message stamped = *copy;
  stamped.set_top_via_param("received", "192.0.2.1");
  stamped.set_top_via_param("rport", "5060");
  const std::string stamped_wire = stamped.serialize();
  if (stamped_wire.size() <= kMaxMessageSize) CHECK(Message::parse(stamped_wire).ok());
  return 0;
}
