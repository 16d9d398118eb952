#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "signaling/message/header_cseq.hpp"
#include "signaling/message/header_name.hpp"
#include "signaling/message/header_name_addr.hpp"
#include "signaling/message/header_via.hpp"
#include "signaling/message/method.hpp"
#include "signaling/message/result.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::sip {

// Messages larger than this are refused (UDP datagram limit; RFC 3261 §18.1.1
// and the stream framing use the same bound).
inline constexpr size_t kMaxMessageSize = 65536;

// Header fields (after unfolding) a message may carry; one more fails the
// parse with "Too Many Headers" (answered 400). Each costs a slot of about
// 20 bytes beside the buffer, so 64 KiB of "X:" lines would hold ~0.7 MB
// for as long as a transaction keeps the request (32 s for an INVITE
// server transaction); real messages carry a few dozen.
inline constexpr size_t kMaxHeaderFields = 256;

// One SIP request or response (RFC 3261 §7). The Message owns ONE buffer;
// the start line, every header name/value and the body are (offset, length)
// spans into it, so copying/moving a Message never leaves a dangling view and
// parsing does no per-header allocation (headers sit in a small inline array).
// Every string_view a Message hands out is valid until the Message is
// mutated, destroyed or assigned to.
class Message {
 public:
  Message() = default;
  Message(const Message& other);
  Message& operator=(const Message& other);
  Message(Message&& other) noexcept;
  Message& operator=(Message&& other) noexcept;
  ~Message() = default;

  // Parses one complete message as received in a UDP datagram or framed from
  // a stream. Body = the bytes after the blank line, truncated to
  // Content-Length (RFC 3261 §18.3); fewer bytes than Content-Length is
  // "Bad Content-Length". Checks what every request must carry (§8.1.1):
  // Via, From, To, Call-ID, CSeq (method matching the request line),
  // Max-Forwards (if present) numeric. More than kMaxHeaderFields header
  // fields is "Too Many Headers"; a control character in a header value
  // (see writable_header) is "Bad Header". Never throws on bad input.
  static Result<Message> parse(std::string_view wire);

  // Builders: "INVITE sip:x SIP/2.0" / "SIP/2.0 200 OK" with no headers.
  static Message request(Method method, std::string_view request_uri);
  static Message request(std::string_view method_text, std::string_view request_uri);
  static Message response(int status, std::string_view reason);

  // --- start line
  bool is_request() const { return is_request_; }
  bool is_response() const { return !is_request_; }
  // Request: its method. Response: the CSeq method.
  Method method() const;
  std::string_view method_text() const;  // response: the CSeq method text
  std::string_view request_uri_text() const { return view(request_uri_); }
  const Uri& request_uri() const { return request_uri_parsed_; }
  void set_request_uri(std::string_view uri);  // request only; asserts it parses
  int status() const { return status_; }
  std::string_view reason_phrase() const { return view(reason_); }

  // --- generic header access. Names are case-insensitive; compact forms map
  // onto long names ("i" == "Call-ID"). header() gives the first element of
  // the first occurrence (a comma list is split for list headers, §7.3.1);
  // header_values() every element of every occurrence, in order.
  std::optional<std::string_view> header(std::string_view name) const;
  std::vector<std::string_view> header_values(std::string_view name) const;
  // Whole field values (one per header line, unsplit).
  std::vector<std::string_view> header_lines(std::string_view name) const;
  bool has_header(std::string_view name) const;
  size_t header_count() const { return headers_.size(); }
  // i-th header line as written: (name, value).
  std::pair<std::string_view, std::string_view> header_at(size_t i) const;

  // --- typed access (validated by parse() for what §8.1.1 mandates; on a
  // built message missing a header they return an empty value)
  std::string_view call_id() const;
  CSeq cseq() const;
  Via top_via() const;
  std::vector<Via> vias() const;
  NameAddr from() const;
  NameAddr to() const;
  std::optional<uint32_t> max_forwards() const;
  std::optional<uint32_t> expires() const;
  std::optional<uint32_t> content_length() const;  // as received; serialize() recomputes
  std::string_view content_type() const;           // "" if none
  std::string_view body() const { return view(body_); }
  std::vector<NameAddr> contacts() const;       // empty for "*" or none
  std::vector<NameAddr> routes() const;         // Route, in order
  std::vector<NameAddr> record_routes() const;  // Record-Route, in order

  // --- mutation (building requests/responses, stamping Via received/rport).
  // Names are stored as given (use canonical spelling); values are trimmed.
  // add_header, prepend_header and set_header write nothing and return false
  // unless writable_header(name, value): a name or value from the network
  // (a URI's decoded ?headers, a peer's display name) can then never inject
  // a header line, or over TCP a whole second message.
  bool add_header(std::string_view name, std::string_view value);
  bool prepend_header(std::string_view name, std::string_view value);
  bool set_header(std::string_view name, std::string_view value);  // replaces all of that name
  void remove_header(std::string_view name);
  // Removes just the first occurrence's first element (Route popping, Via removal).
  void remove_first_value(std::string_view name);
  void set_body(std::string_view content_type, std::string_view body);
  // RFC 3581 / §18.2.1: set `;name=value` on the top Via (replacing an
  // existing `;name` or `;name=...`); empty value writes `;name`.
  void set_top_via_param(std::string_view name, std::string_view value);
  void set_status(int status, std::string_view reason);  // response only

  // The message in wire form; Content-Length is always written and correct.
  std::string serialize() const;

 private:
  struct Span {
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  struct HeaderSlot {
    Span name;
    Span value;  // trimmed, folding replaced by spaces
    HeaderId id = HeaderId::kOther;
  };
  using Slots = boost::container::small_vector<HeaderSlot, 24>;

  std::string_view view(Span s) const { return std::string_view(buf_).substr(s.offset, s.length); }
  Span append(std::string_view text);
  const HeaderSlot* find(HeaderId id, std::string_view name) const;
  bool matches(const HeaderSlot& slot, HeaderId id, std::string_view name) const;
  void reparse_request_uri();
  void adopt_buffer(Message& other);

  std::string buf_;
  Slots headers_;
  bool is_request_ = true;
  Span method_;
  Span request_uri_;
  Uri request_uri_parsed_;
  Method method_id_ = Method::kUnknown;
  int status_ = 0;
  Span reason_;
  Span body_;
};

// RFC 3261 §8.2.6: a response to `request` copying Via(s), From, To (adding
// `;tag=to_tag` if To has no tag and to_tag is non-empty), Call-ID, CSeq, and
// — for 18x/2xx to a dialog-creating request (INVITE, SUBSCRIBE, REFER) —
// Record-Route (§12.1.1). 100 Trying never gets a tag (§8.2.6.1) but keeps a
// Timestamp. Empty reason = default_reason(status).
Message make_response(const Message& request, int status, std::string_view reason = {},
                      std::string_view to_tag = {});

// RFC 3261 §7.3 / §25.1: `name` is a token and `value`, once trimmed of
// surrounding white space, holds no CR or LF (the line ends only where we
// end it) and no other control character but HTAB, save as a quoted-pair
// ("\" and the octet) inside a quoted-string or comment. Message::parse
// refuses ("Bad Header") a message holding a header that is not writable,
// so what a parsed message holds can always be copied into another.
bool writable_header(std::string_view name, std::string_view value);

// The RFC 3261 §21 reason phrase ("OK", "Not Found", ...; "Unknown" otherwise).
std::string_view default_reason(int status);

// For a message that failed Message::parse with an answerable error: builds
// the error response from the raw bytes, leniently extracting Via(s), From,
// To, Call-ID and CSeq (adding a To tag if none and to_tag non-empty).
// nullopt if that is impossible after all.
std::optional<std::string> build_error_response(std::string_view wire, const ParseError& error,
                                                std::string_view to_tag = {});

}  // namespace chorus::sip
