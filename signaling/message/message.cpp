#include "signaling/message/message.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>

#include "signaling/message/header_params.hpp"

namespace chorus::sip {
namespace {

constexpr std::string_view kVersion = "SIP/2.0";

// Finds the end of the line starting at `pos`: returns the index of the
// terminator's first byte and sets `next` past it. Accepts CRLF and, from
// lenient peers, a bare LF.
size_t line_end(std::string_view text, size_t pos, size_t& next) {
  const size_t lf = text.find('\n', pos);
  if (lf == std::string_view::npos) {
    next = text.size();
    return text.size();
  }
  next = lf + 1;
  return (lf > pos && text[lf - 1] == '\r') ? lf - 1 : lf;
}

bool is_version_prefix(std::string_view line) {
  return line.size() >= 4 && iequals(line.substr(0, 4), "SIP/");
}

// RFC 1123 date as required by RFC 3261 §20.17: "Sat, 13 Nov 2010 23:29:00 GMT".
bool valid_sip_date(std::string_view value) {
  value = trim(value);
  if (value.size() != 29) return false;
  static constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  bool day_ok = false;
  for (auto d : kDays) day_ok = day_ok || value.substr(0, 3) == d;
  bool month_ok = false;
  for (auto m : kMonths) month_ok = month_ok || value.substr(8, 3) == m;
  auto digits = [&](size_t pos, size_t n) {
    for (size_t i = pos; i < pos + n; ++i) {
      if (value[i] < '0' || value[i] > '9') return false;
    }
    return true;
  };
  return day_ok && month_ok && value.substr(3, 2) == ", " && digits(5, 2) && value[7] == ' ' &&
         value[11] == ' ' && digits(12, 4) && value[16] == ' ' && digits(17, 2) &&
         value[19] == ':' && digits(20, 2) && value[22] == ':' && digits(23, 2) &&
         value.substr(25) == " GMT";
}

bool valid_call_id(std::string_view value) {
  if (value.empty()) return false;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

// The sent-by part of a Via (protocol / transport host[:port]) alone, so a
// request whose Via params are garbage can still be answered (RFC 4475
// §3.1.2.1 expects a 400 for exactly that).
bool via_routable(std::string_view value) {
  auto element = first_list_element(value);
  const size_t semi = element.find(';');
  return parse_via(element.substr(0, semi)).has_value();
}

// Validation without building vectors: the parse of a typical request
// should not allocate beyond its buffer.
bool valid_via_list(std::string_view value) {
  return for_each_list_element(value, [](std::string_view e) { return parse_via(e).has_value(); });
}

bool valid_name_addr_list(std::string_view value) {
  return for_each_list_element(value,
                               [](std::string_view e) { return parse_name_addr(e).has_value(); });
}

bool valid_contact(std::string_view value) {
  return trim(value) == "*" || valid_name_addr_list(value);
}

}  // namespace

// ---------------------------------------------------------------- copy/move

Message::Message(const Message& other)
    : buf_(other.buf_),
      headers_(other.headers_),
      is_request_(other.is_request_),
      method_(other.method_),
      request_uri_(other.request_uri_),
      method_id_(other.method_id_),
      status_(other.status_),
      reason_(other.reason_),
      body_(other.body_) {
  reparse_request_uri();
}

Message& Message::operator=(const Message& other) {
  if (this == &other) return *this;
  buf_ = other.buf_;
  headers_ = other.headers_;
  is_request_ = other.is_request_;
  method_ = other.method_;
  request_uri_ = other.request_uri_;
  method_id_ = other.method_id_;
  status_ = other.status_;
  reason_ = other.reason_;
  body_ = other.body_;
  reparse_request_uri();
  return *this;
}

Message::Message(Message&& other) noexcept
    : buf_(),
      headers_(std::move(other.headers_)),
      is_request_(other.is_request_),
      method_(other.method_),
      request_uri_(other.request_uri_),
      method_id_(other.method_id_),
      status_(other.status_),
      reason_(other.reason_),
      body_(other.body_) {
  adopt_buffer(other);
}

Message& Message::operator=(Message&& other) noexcept {
  if (this == &other) return *this;
  headers_ = std::move(other.headers_);
  is_request_ = other.is_request_;
  method_ = other.method_;
  request_uri_ = other.request_uri_;
  method_id_ = other.method_id_;
  status_ = other.status_;
  reason_ = other.reason_;
  body_ = other.body_;
  adopt_buffer(other);
  return *this;
}

void Message::adopt_buffer(Message& other) {
  // A heap buffer keeps its address when moved, so the parsed Request-URI
  // views stay valid; a short one lives inline (SSO) and moves: re-parse.
  const char* old_data = other.buf_.data();
  buf_ = std::move(other.buf_);
  if (buf_.data() == old_data) {
    request_uri_parsed_ = other.request_uri_parsed_;
  } else {
    reparse_request_uri();
  }
  other.buf_.clear();
  other.headers_.clear();
  other.request_uri_parsed_ = Uri{};
}

void Message::reparse_request_uri() {
  request_uri_parsed_ = Uri{};
  if (!is_request_ || request_uri_.length == 0) return;
  if (auto uri = parse_uri(view(request_uri_))) request_uri_parsed_ = *uri;
}

Message::Span Message::append(std::string_view text) {
  Span span{static_cast<uint32_t>(buf_.size()), static_cast<uint32_t>(text.size())};
  buf_.append(text);
  return span;
}

// ---------------------------------------------------------------- parsing

Result<Message> Message::parse(std::string_view wire) {
  if (wire.size() > kMaxMessageSize) {
    // Don't copy or parse a body we will refuse anyway; decide from the
    // header block alone whether a 513 can be sent (RFC 3261 §21.5.14).
    ParseError error{"Message Too Large", false, 513};
    error.answerable = build_error_response(wire.substr(0, kMaxMessageSize), error).has_value();
    return error;
  }
  Message m;
  m.buf_.assign(wire.data(), wire.size());
  std::string& buf = m.buf_;
  const std::string_view text(buf);

  // RFC 3261 §7.5: ignore CRLFs before the start line.
  size_t pos = 0;
  while (pos < text.size() && (text[pos] == '\r' || text[pos] == '\n')) ++pos;
  if (pos == text.size()) return ParseError{"Empty Message", false, 400};

  size_t next = 0;
  const size_t start_end = line_end(text, pos, next);
  const std::string_view start_line = text.substr(pos, start_end - pos);
  const bool is_response = is_version_prefix(start_line);
  m.is_request_ = !is_response;

  // Errors found before the headers are known; whether they are answerable
  // depends on the Via found below.
  std::optional<ParseError> start_error;
  if (is_response) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const size_t sp1 = start_line.find(' ');
    if (sp1 == std::string_view::npos) return ParseError{"Bad Status-Line", false, 400};
    if (start_line.substr(0, sp1) != kVersion) {
      return ParseError{"Unsupported SIP Version", false, 505};
    }
    const size_t code_begin = sp1 + 1;
    const size_t sp2 = start_line.find(' ', code_begin);
    if (sp2 == std::string_view::npos) return ParseError{"Bad Status-Line", false, 400};
    auto code_text = start_line.substr(code_begin, sp2 - code_begin);
    auto code = parse_uint32(code_text);
    if (code_text.size() != 3 || !code || *code < 100 || *code > 699) {
      return ParseError{"Bad Status-Code", false, 400};
    }
    m.status_ = static_cast<int>(*code);
    m.reason_ = Span{static_cast<uint32_t>(pos + sp2 + 1),
                     static_cast<uint32_t>(start_line.size() - sp2 - 1)};
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version (exactly one SP
    // each, RFC 3261 §25.1; RFC 4475 §3.1.2.9/§3.1.2.10).
    const size_t sp1 = start_line.find(' ');
    const size_t sp2 = start_line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2 || sp1 == 0) {
      return ParseError{"Bad Request-Line", false, 400};
    }
    auto method = start_line.substr(0, sp1);
    if (!is_token(method)) return ParseError{"Bad Request-Line", false, 400};
    m.method_ = Span{static_cast<uint32_t>(pos), static_cast<uint32_t>(sp1)};
    m.request_uri_ =
        Span{static_cast<uint32_t>(pos + sp1 + 1), static_cast<uint32_t>(sp2 - sp1 - 1)};
    m.method_id_ = parse_method(method);
    auto version = start_line.substr(sp2 + 1);
    auto uri_text = start_line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (version.empty() || uri_text.empty() || uri_text.front() == ' ' || uri_text.back() == ' ') {
      start_error = ParseError{"Bad Request-Line", true, 400};  // trailing SP
    } else if (!is_version_prefix(version)) {
      start_error = ParseError{"Bad Request-Line", true, 400};
    } else if (version != kVersion) {
      start_error = ParseError{"Unsupported SIP Version", true, 505};
    } else {
      auto uri = parse_uri(uri_text);
      // §19.1.1: headers are not allowed in a Request-URI.
      if (!uri || (uri->is_sip() && !uri->headers_text.empty())) {
        start_error = ParseError{"Bad Request-URI", true, 400};
      } else {
        m.request_uri_parsed_ = *uri;
      }
    }
  }

  // Header fields (RFC 3261 §7.3): name HCOLON value, continuation lines
  // start with SP/HT and are replaced by spaces in place (§7.3.1: folding is
  // equivalent to a single SP).
  pos = next;
  size_t body_begin = text.size();
  bool header_error = false;
  bool too_many_headers = false;
  while (pos < text.size()) {
    size_t line_next = 0;
    size_t end = line_end(text, pos, line_next);
    if (end == pos) {  // blank line: end of headers
      body_begin = line_next;
      break;
    }
    if (is_ws(text[pos])) {
      header_error = true;  // continuation with nothing to continue
      pos = line_next;
      continue;
    }
    // Gather continuation lines.
    while (line_next < text.size() && (text[line_next] == ' ' || text[line_next] == '\t')) {
      for (size_t k = end; k < line_next; ++k) buf[k] = ' ';
      end = line_end(text, line_next, line_next);
    }
    const std::string_view line = text.substr(pos, end - pos);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      header_error = true;
      pos = line_next;
      continue;
    }
    // HCOLON = *( SP / HTAB ) ":" SWS
    auto name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (!is_token(name)) {
      header_error = true;
      pos = line_next;
      continue;
    }
    if (m.headers_.size() == kMaxHeaderFields) {
      // The fields so far (a Via among them) still let the fault be answered.
      too_many_headers = true;
      break;
    }
    auto value = trim(line.substr(colon + 1));
    HeaderSlot slot;
    slot.name = Span{static_cast<uint32_t>(pos), static_cast<uint32_t>(name.size())};
    slot.value = Span{static_cast<uint32_t>(value.data() - text.data()),
                      static_cast<uint32_t>(value.size())};
    slot.id = header_id(name);
    m.headers_.push_back(slot);
    pos = line_next;
  }

  // Answerable = a request whose top Via can route a response back (checked
  // leniently only when the Vias are not all well-formed).
  const HeaderSlot* via_slot = m.find(HeaderId::kVia, {});
  bool vias_ok = via_slot != nullptr;
  for (const auto& h : m.headers_) {
    if (vias_ok && h.id == HeaderId::kVia && !valid_via_list(m.view(h.value))) vias_ok = false;
  }
  const bool answerable =
      !is_response && via_slot && (vias_ok || via_routable(m.view(via_slot->value)));
  auto fail = [&](std::string reason, int status = 400) {
    return ParseError{std::move(reason), answerable, status};
  };

  if (start_error) {
    start_error->answerable = answerable;
    return *start_error;
  }
  if (too_many_headers) return fail("Too Many Headers");
  if (header_error) return fail("Bad Header");

  // Headers that must appear exactly once (§8.1.1, §20) when present.
  auto count = [&](HeaderId id) {
    size_t n = 0;
    for (const auto& h : m.headers_) n += h.id == id ? 1 : 0;
    return n;
  };

  // Via
  if (!via_slot) return fail("Missing Via");
  if (!vias_ok) return fail("Bad Via");
  // CSeq
  const size_t cseq_count = count(HeaderId::kCSeq);
  if (cseq_count == 0) return fail("Missing CSeq");
  if (cseq_count > 1) return fail("Multiple CSeq");
  auto cseq = parse_cseq(m.view(m.find(HeaderId::kCSeq, {})->value));
  if (!cseq) return fail("Bad CSeq");
  if (!is_response && cseq->method_text != m.view(m.method_)) {
    return fail("CSeq Method Mismatch");
  }
  if (is_response) m.method_id_ = cseq->method;
  // Call-ID
  const size_t call_id_count = count(HeaderId::kCallId);
  if (call_id_count == 0) return fail("Missing Call-ID");
  if (call_id_count > 1) return fail("Multiple Call-ID");
  if (!valid_call_id(m.view(m.find(HeaderId::kCallId, {})->value))) return fail("Bad Call-ID");
  // From / To
  for (auto [id, what] : {std::pair{HeaderId::kFrom, std::string_view("From")},
                          std::pair{HeaderId::kTo, std::string_view("To")}}) {
    const size_t n = count(id);
    if (n == 0) return fail("Missing " + std::string(what));
    if (n > 1) return fail("Multiple " + std::string(what));
    if (!parse_name_addr(m.view(m.find(id, {})->value))) return fail("Bad " + std::string(what));
  }
  // Max-Forwards: 0..255 (§20.22)
  if (const size_t n = count(HeaderId::kMaxForwards); n > 0) {
    if (n > 1) return fail("Multiple Max-Forwards");
    auto mf = parse_uint32(m.view(m.find(HeaderId::kMaxForwards, {})->value));
    if (!mf || *mf > 255) return fail("Bad Max-Forwards");
  }
  // Contact, Route, Record-Route must parse.
  for (const auto& h : m.headers_) {
    if (h.id == HeaderId::kContact && !valid_contact(m.view(h.value))) return fail("Bad Contact");
    if (h.id == HeaderId::kRoute && !valid_name_addr_list(m.view(h.value))) {
      return fail("Bad Route");
    }
    if (h.id == HeaderId::kRecordRoute && !valid_name_addr_list(m.view(h.value))) {
      return fail("Bad Record-Route");
    }
    if (h.id == HeaderId::kDate && !valid_sip_date(m.view(h.value))) {
      return fail("Bad Date");
    }
  }
  if (count(HeaderId::kContentType) > 1) return fail("Multiple Content-Type");
  // A control character (§25.1 allows none but HTAB outside a quoted-pair;
  // a bare CR survives line splitting) would follow a header copied into
  // our answers and requests (make_response copies Via, From, To ...), and
  // writing it there is refused: the message would lose that header.
  for (const auto& h : m.headers_) {
    if (!writable_header(m.view(h.name), m.view(h.value))) return fail("Bad Header");
  }

  // Body and Content-Length (§18.3, §20.14): on a datagram the body is the
  // rest of the packet truncated to Content-Length; a shorter packet is an
  // error. Without Content-Length the rest of the datagram is the body.
  size_t body_len = text.size() - body_begin;
  if (const size_t n = count(HeaderId::kContentLength); n > 0) {
    if (n > 1) return fail("Bad Content-Length");
    auto cl = parse_uint32(m.view(m.find(HeaderId::kContentLength, {})->value));
    if (!cl) return fail("Bad Content-Length");
    if (*cl > body_len) return fail("Bad Content-Length");
    body_len = *cl;
  }
  m.body_ = Span{static_cast<uint32_t>(body_begin), static_cast<uint32_t>(body_len)};
  return m;
}

// ---------------------------------------------------------------- builders

Message Message::request(Method method, std::string_view request_uri) {
  assert(method != Method::kUnknown);
  return request(method_name(method), request_uri);
}

Message Message::request(std::string_view method_text, std::string_view request_uri) {
  Message m;
  m.is_request_ = true;
  m.buf_.reserve(512);
  m.method_ = m.append(method_text);
  m.method_id_ = parse_method(method_text);
  m.request_uri_ = m.append(request_uri);
  m.reparse_request_uri();
  assert(m.request_uri_parsed_.text.size() == request_uri.size());
  return m;
}

Message Message::response(int status, std::string_view reason) {
  assert(status >= 100 && status <= 699);
  Message m;
  m.is_request_ = false;
  m.buf_.reserve(512);
  m.status_ = status;
  m.reason_ = m.append(reason);
  return m;
}

void Message::set_request_uri(std::string_view uri) {
  assert(is_request_);
  request_uri_ = append(uri);
  reparse_request_uri();
  assert(request_uri_parsed_.text.size() == uri.size());
}

void Message::set_status(int status, std::string_view reason) {
  assert(!is_request_);
  status_ = status;
  reason_ = append(reason);
}

// ---------------------------------------------------------------- access

Method Message::method() const {
  if (is_request_) return method_id_;
  if (method_id_ != Method::kUnknown) return method_id_;
  return cseq().method;
}

std::string_view Message::method_text() const {
  if (is_request_) return view(method_);
  return cseq().method_text;
}

bool Message::matches(const HeaderSlot& slot, HeaderId id, std::string_view name) const {
  if (id != HeaderId::kOther) return slot.id == id;
  return slot.id == HeaderId::kOther && iequals(view(slot.name), name);
}

const Message::HeaderSlot* Message::find(HeaderId id, std::string_view name) const {
  for (const auto& h : headers_) {
    if (matches(h, id, name)) return &h;
  }
  return nullptr;
}

std::optional<std::string_view> Message::header(std::string_view name) const {
  const HeaderId id = header_id(name);
  const HeaderSlot* slot = find(id, name);
  if (!slot) return std::nullopt;
  auto value = view(slot->value);
  return header_is_list(id) ? first_list_element(value) : value;
}

std::vector<std::string_view> Message::header_values(std::string_view name) const {
  const HeaderId id = header_id(name);
  const bool list = header_is_list(id);
  std::vector<std::string_view> out;
  for (const auto& h : headers_) {
    if (!matches(h, id, name)) continue;
    auto value = view(h.value);
    if (!list) {
      out.push_back(value);
      continue;
    }
    auto elements = split_comma_list(value);
    if (!elements) {
      out.push_back(value);  // unbalanced quotes: keep the line whole
      continue;
    }
    out.insert(out.end(), elements->begin(), elements->end());
  }
  return out;
}

std::vector<std::string_view> Message::header_lines(std::string_view name) const {
  const HeaderId id = header_id(name);
  std::vector<std::string_view> out;
  for (const auto& h : headers_) {
    if (matches(h, id, name)) out.push_back(view(h.value));
  }
  return out;
}

bool Message::has_header(std::string_view name) const {
  return find(header_id(name), name) != nullptr;
}

std::pair<std::string_view, std::string_view> Message::header_at(size_t i) const {
  return {view(headers_[i].name), view(headers_[i].value)};
}

std::string_view Message::call_id() const {
  const HeaderSlot* slot = find(HeaderId::kCallId, {});
  return slot ? view(slot->value) : std::string_view{};
}

CSeq Message::cseq() const {
  const HeaderSlot* slot = find(HeaderId::kCSeq, {});
  if (!slot) return {};
  return parse_cseq(view(slot->value)).value_or(CSeq{});
}

Via Message::top_via() const {
  const HeaderSlot* slot = find(HeaderId::kVia, {});
  if (!slot) return {};
  return parse_via(first_list_element(view(slot->value))).value_or(Via{});
}

std::vector<Via> Message::vias() const {
  std::vector<Via> out;
  for (auto element : header_values("Via")) {
    if (auto via = parse_via(element)) out.push_back(*via);
  }
  return out;
}

NameAddr Message::from() const {
  const HeaderSlot* slot = find(HeaderId::kFrom, {});
  if (!slot) return {};
  return parse_name_addr(view(slot->value)).value_or(NameAddr{});
}

NameAddr Message::to() const {
  const HeaderSlot* slot = find(HeaderId::kTo, {});
  if (!slot) return {};
  return parse_name_addr(view(slot->value)).value_or(NameAddr{});
}

std::optional<uint32_t> Message::max_forwards() const {
  const HeaderSlot* slot = find(HeaderId::kMaxForwards, {});
  if (!slot) return std::nullopt;
  return parse_uint32(view(slot->value));
}

std::optional<uint32_t> Message::expires() const {
  const HeaderSlot* slot = find(HeaderId::kExpires, {});
  if (!slot) return std::nullopt;
  return parse_uint32(view(slot->value));
}

std::optional<uint32_t> Message::content_length() const {
  const HeaderSlot* slot = find(HeaderId::kContentLength, {});
  if (!slot) return std::nullopt;
  return parse_uint32(view(slot->value));
}

std::string_view Message::content_type() const {
  const HeaderSlot* slot = find(HeaderId::kContentType, {});
  return slot ? view(slot->value) : std::string_view{};
}

namespace {

std::vector<NameAddr> name_addrs(const std::vector<std::string_view>& values) {
  std::vector<NameAddr> out;
  for (auto v : values) {
    if (auto na = parse_name_addr(v)) out.push_back(*na);
  }
  return out;
}

}  // namespace

std::vector<NameAddr> Message::contacts() const {
  return name_addrs(header_values("Contact"));
}
std::vector<NameAddr> Message::routes() const {
  return name_addrs(header_values("Route"));
}
std::vector<NameAddr> Message::record_routes() const {
  return name_addrs(header_values("Record-Route"));
}

// ---------------------------------------------------------------- mutation

bool writable_header(std::string_view name, std::string_view value) {
  if (!is_token(name)) return false;
  value = trim(value);
  bool quoted = false;
  int comment = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\r' || c == '\n') return false;
    if ((quoted || comment > 0) && c == '\\' && i + 1 < value.size()) {
      // quoted-pair: any octet but CR and LF (RFC 4475 §3.1.1.2 escapes
      // BEL, NUL and DEL in a display name, and answers echo its To).
      ++i;
      if (value[i] == '\r' || value[i] == '\n') return false;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
    if (c == '"' && comment == 0) {
      quoted = !quoted;
    } else if (!quoted && c == '(') {
      ++comment;
    } else if (!quoted && c == ')' && comment > 0) {
      --comment;
    }
  }
  return true;
}

bool Message::add_header(std::string_view name, std::string_view value) {
  if (!writable_header(name, value)) return false;
  HeaderSlot slot;
  slot.name = append(name);
  slot.value = append(trim(value));
  slot.id = header_id(name);
  headers_.push_back(slot);
  reparse_request_uri();
  return true;
}

bool Message::prepend_header(std::string_view name, std::string_view value) {
  if (!writable_header(name, value)) return false;
  HeaderSlot slot;
  slot.name = append(name);
  slot.value = append(trim(value));
  slot.id = header_id(name);
  headers_.insert(headers_.begin(), slot);
  reparse_request_uri();
  return true;
}

bool Message::set_header(std::string_view name, std::string_view value) {
  if (!writable_header(name, value)) return false;
  const HeaderId id = header_id(name);
  auto it = headers_.begin();
  while (it != headers_.end() && !matches(*it, id, name)) ++it;
  if (it == headers_.end()) return add_header(name, value);
  const size_t index = static_cast<size_t>(it - headers_.begin());
  headers_[index].value = append(trim(value));
  for (size_t i = headers_.size(); i-- > index + 1;) {
    if (matches(headers_[i], id, name)) headers_.erase(headers_.begin() + static_cast<long>(i));
  }
  reparse_request_uri();
  return true;
}

void Message::remove_header(std::string_view name) {
  const HeaderId id = header_id(name);
  for (size_t i = headers_.size(); i-- > 0;) {
    if (matches(headers_[i], id, name)) headers_.erase(headers_.begin() + static_cast<long>(i));
  }
}

void Message::remove_first_value(std::string_view name) {
  const HeaderId id = header_id(name);
  for (size_t i = 0; i < headers_.size(); ++i) {
    if (!matches(headers_[i], id, name)) continue;
    auto value = view(headers_[i].value);
    auto first = first_list_element(value);
    const size_t after = static_cast<size_t>(first.data() - value.data()) + first.size();
    auto rest = trim(value.substr(after));
    if (header_is_list(id) && !rest.empty() && rest.front() == ',') {
      rest = trim(rest.substr(1));
      const uint32_t offset = static_cast<uint32_t>(rest.data() - buf_.data());
      headers_[i].value = Span{offset, static_cast<uint32_t>(rest.size())};
    } else {
      headers_.erase(headers_.begin() + static_cast<long>(i));
    }
    return;
  }
}

void Message::set_body(std::string_view content_type, std::string_view body) {
  if (content_type.empty()) {
    remove_header("Content-Type");
  } else {
    set_header("Content-Type", content_type);
  }
  body_ = append(body);
  reparse_request_uri();
}

void Message::set_top_via_param(std::string_view name, std::string_view value) {
  for (auto& h : headers_) {
    if (h.id != HeaderId::kVia) continue;
    const std::string_view whole = view(h.value);
    const std::string_view element = first_list_element(whole);
    const size_t element_end = static_cast<size_t>(element.data() - whole.data()) + element.size();
    const size_t semi = element.find(';');
    std::string rebuilt(element.substr(0, semi));
    while (!rebuilt.empty() && is_ws(rebuilt.back())) rebuilt.pop_back();
    if (semi != std::string_view::npos) {
      for_each_param(element.substr(semi + 1), [&](const Param& p, size_t, size_t) {
        if (iequals(p.name, name)) return;
        rebuilt += ';';
        rebuilt += p.name;
        if (p.has_value) {
          rebuilt += '=';
          rebuilt += p.value;
        }
      });
    }
    rebuilt += ';';
    rebuilt += name;
    if (!value.empty()) {
      rebuilt += '=';
      rebuilt += value;
    }
    rebuilt += whole.substr(element_end);
    h.value = append(rebuilt);
    reparse_request_uri();
    return;
  }
}

std::string Message::serialize() const {
  std::string out;
  out.reserve(buf_.size() + 64);
  if (is_request_) {
    out += view(method_);
    out += ' ';
    out += view(request_uri_);
    out += ' ';
    out += kVersion;
  } else {
    out += kVersion;
    out += ' ';
    char code[8];
    auto [end, ec] = std::to_chars(code, code + sizeof code, status_);
    (void)ec;
    out.append(code, end);
    out += ' ';
    out += view(reason_);
  }
  out += "\r\n";
  for (const auto& h : headers_) {
    if (h.id == HeaderId::kContentLength) continue;
    out += view(h.name);
    out += ": ";
    out += view(h.value);
    out += "\r\n";
  }
  char length[16];
  auto [end, ec] = std::to_chars(length, length + sizeof length, body_.length);
  (void)ec;
  out += "Content-Length: ";
  out.append(length, end);
  out += "\r\n\r\n";
  out += view(body_);
  return out;
}

// ---------------------------------------------------------------- responses

Message make_response(const Message& request, int status, std::string_view reason,
                      std::string_view to_tag) {
  assert(request.is_request());
  Message response = Message::response(status, reason.empty() ? default_reason(status) : reason);
  for (auto via : request.header_lines("Via")) response.add_header("Via", via);
  if (auto from = request.header("From")) response.add_header("From", *from);
  if (auto to = request.header("To")) {
    // §8.2.6.2: the UAS adds a To tag unless one is there; never on 100
    // (§8.2.6.1, a 100 is hop-by-hop and creates no dialog).
    auto parsed = parse_name_addr(*to);
    if (status > 100 && !to_tag.empty() && parsed && parsed->tag().empty()) {
      std::string tagged(*to);
      tagged += ";tag=";
      tagged += to_tag;
      response.add_header("To", tagged);
    } else {
      response.add_header("To", *to);
    }
  }
  response.add_header("Call-ID", request.call_id());
  if (auto cseq = request.header("CSeq")) response.add_header("CSeq", *cseq);
  if (status == 100) {
    if (auto ts = request.header("Timestamp")) response.add_header("Timestamp", *ts);
  }
  // §12.1.1: dialog-creating 18x/2xx copy Record-Route (in order).
  const Method m = request.method();
  const bool dialog_creating =
      m == Method::kInvite || m == Method::kSubscribe || m == Method::kRefer;
  if (dialog_creating && status > 100 && status < 300) {
    for (auto rr : request.header_lines("Record-Route")) response.add_header("Record-Route", rr);
  }
  return response;
}

}  // namespace chorus::sip
