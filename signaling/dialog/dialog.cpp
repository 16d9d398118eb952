#include "signaling/dialog/dialog.hpp"

#include <algorithm>
#include <cassert>
#include <string>

#include "signaling/message/header_params.hpp"

namespace chorus::sip {
namespace {

// "\"Display\" <uri>" without any header parameter: the From/To of requests
// we build (§12.2.1.1: the URI and display name of the dialog's parties;
// tags are added per request).
std::string party_of(const NameAddr& addr) {
  std::string out;
  if (!addr.display_name.empty()) {
    out += '"';
    out += addr.display_name;
    out += "\" ";
  }
  out += '<';
  out += addr.uri_text;
  out += '>';
  return out;
}

std::string with_tag(const std::string& party, const std::string& tag) {
  if (tag.empty()) return party;
  return party + ";tag=" + tag;
}

// The first Contact URI of a message, if it has a parseable one.
std::optional<std::string> contact_uri(const Message& message) {
  const std::vector<NameAddr> contacts = message.contacts();
  if (contacts.empty()) return std::nullopt;
  return std::string(contacts.front().uri_text);
}

std::string first_contact_value(const Message& message) {
  const auto value = message.header("Contact");
  return value ? std::string(*value) : std::string();
}

// A Route URI used as Request-URI under strict routing (§12.2.1.1) loses the
// parameters a Request-URI may not carry: embedded headers and `method`
// (§19.1.1 table).
std::string strip_for_request_uri(const Uri& uri) {
  std::string text(uri.text);
  if (!uri.headers_text.empty()) {
    const size_t q = text.find('?');
    if (q != std::string::npos) text.erase(q);
  }
  if (uri.has_param("method")) {
    std::string rebuilt(text.substr(0, text.find(';')));
    for (const Param& p : uri.params()) {
      if (iequals(p.name, "method")) continue;
      rebuilt += ';';
      rebuilt += p.name;
      if (p.has_value) {
        rebuilt += '=';
        rebuilt += p.value;
      }
    }
    text = std::move(rebuilt);
  }
  return text;
}

// Requests that carry our Contact (RFC 3261 §8.1.1.8 and Table 3; RFC 3311,
// RFC 3515, RFC 6665 make it mandatory for UPDATE, REFER, SUBSCRIBE, NOTIFY).
bool request_carries_contact(Method method) {
  switch (method) {
    case Method::kInvite:
    case Method::kUpdate:
    case Method::kSubscribe:
    case Method::kNotify:
    case Method::kRefer:
    case Method::kOptions:
      return true;
    default:
      return false;
  }
}

bool response_carries_contact(Method method, int status) {
  if (status < 101 || status >= 300) return false;
  switch (method) {
    case Method::kInvite:
    case Method::kUpdate:
    case Method::kSubscribe:
    case Method::kRefer:
      return true;
    default:
      return false;
  }
}

}  // namespace

size_t DialogIdHash::operator()(const DialogId& id) const noexcept {
  const std::hash<std::string> h;
  size_t seed = h(id.call_id);
  seed ^= h(id.local_tag) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  seed ^= h(id.remote_tag) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

DialogId dialog_id_of_request(const Message& request) {
  return DialogId{std::string(request.call_id()), std::string(request.to().tag()),
                  std::string(request.from().tag())};
}

DialogId dialog_id_of_response(const Message& response) {
  return DialogId{std::string(response.call_id()), std::string(response.from().tag()),
                  std::string(response.to().tag())};
}

bool creates_dialog(Method method) {
  return method == Method::kInvite || method == Method::kSubscribe || method == Method::kRefer;
}

bool is_target_refresh(Method method) {
  return method == Method::kInvite || method == Method::kUpdate || method == Method::kSubscribe ||
         method == Method::kNotify;
}

std::optional<Dialog> Dialog::create_uas(const Message& request, const Message& response,
                                         uint32_t initial_local_cseq) {
  if (!response.is_response()) return std::nullopt;
  const int status = response.status();
  if (status < 101 || status >= 300) return std::nullopt;
  auto d = create_uas(request, std::string(response.to().tag()), first_contact_value(response),
                      initial_local_cseq);
  if (d && status >= 200) d->state_ = DialogState::kConfirmed;
  return d;
}

std::optional<Dialog> Dialog::create_uas(const Message& request, std::string local_tag,
                                         std::string local_contact, uint32_t initial_local_cseq) {
  if (!request.is_request() || local_tag.empty() || request.call_id().empty()) {
    return std::nullopt;
  }
  auto target = contact_uri(request);
  if (!target) return std::nullopt;

  Dialog d;
  d.role_ = DialogRole::kUas;
  d.state_ = DialogState::kEarly;
  // §12.1.1: remote tag from From (may be empty for an RFC 2543 peer).
  d.id_ = DialogId{std::string(request.call_id()), std::move(local_tag),
                   std::string(request.from().tag())};
  d.secure_ = request.request_uri().is_sips();
  d.local_party_ = party_of(request.to());
  d.remote_party_ = party_of(request.from());
  d.local_uri_ = std::string(request.to().uri_text);
  d.remote_uri_ = std::string(request.from().uri_text);
  d.remote_target_ = std::move(*target);
  d.local_contact_ = std::move(local_contact);
  d.set_route_set_from(request, /*reverse=*/false);
  d.remote_cseq_ = request.cseq().number;
  d.local_cseq_ = initial_local_cseq;
  return d;
}

std::optional<Dialog> Dialog::create_uac(const Message& request, const Message& response) {
  if (!request.is_request() || !response.is_response()) return std::nullopt;
  const int status = response.status();
  if (status < 101 || status >= 300) return std::nullopt;
  const std::string_view remote_tag = response.to().tag();
  const std::string_view local_tag = request.from().tag();
  if (remote_tag.empty() || local_tag.empty() || request.call_id().empty()) return std::nullopt;
  if (response.call_id() != request.call_id()) return std::nullopt;

  Dialog d;
  d.role_ = DialogRole::kUac;
  d.state_ = status < 200 ? DialogState::kEarly : DialogState::kConfirmed;
  d.id_ = DialogId{std::string(request.call_id()), std::string(local_tag), std::string(remote_tag)};
  d.secure_ = request.request_uri().is_sips();
  d.local_party_ = party_of(request.from());
  d.remote_party_ = party_of(request.to());
  d.local_uri_ = std::string(request.from().uri_text);
  d.remote_uri_ = std::string(request.to().uri_text);
  // §12.1.2: remote target from the response's Contact. A 1xx without one
  // (sloppy but seen) leaves the Request-URI as the best target we have.
  d.remote_target_ = contact_uri(response).value_or(std::string(request.request_uri_text()));
  d.local_contact_ = first_contact_value(request);
  d.set_route_set_from(response, /*reverse=*/true);
  d.local_cseq_ = request.cseq().number;
  return d;
}

void Dialog::set_route_set_from(const Message& message, bool reverse) {
  route_set_.clear();
  for (const NameAddr& rr : message.record_routes()) route_set_.push_back(rr.to_string());
  if (reverse) std::reverse(route_set_.begin(), route_set_.end());
}

void Dialog::update_remote_target_from(const Message& message) {
  if (auto target = contact_uri(message)) remote_target_ = std::move(*target);
}

Message Dialog::make_request(Method method) {
  assert(method != Method::kAck && method != Method::kCancel && method != Method::kUnknown);
  // §12.2.1.1: the local sequence number is incremented by one for each new
  // request. Wrap-around is not a real concern (it starts below 2^31).
  ++local_cseq_;
  Message m = build_request(method, local_cseq_);
  if (request_carries_contact(method) && !local_contact_.empty()) {
    m.add_header("Contact", local_contact_);
  }
  return m;
}

Message Dialog::make_ack(uint32_t invite_cseq) const {
  // §13.2.2.4: built like any in-dialog request, but with the INVITE's CSeq
  // number and without touching the local sequence number.
  return build_request(Method::kAck, invite_cseq);
}

Message Dialog::build_request(Method method, uint32_t cseq) const {
  std::string request_uri = remote_target_;
  std::vector<std::string> routes = route_set_;
  if (!route_set_.empty()) {
    const auto first = parse_name_addr(route_set_.front());
    if (first && !first->uri.has_param("lr")) {
      // Strict routing (§12.2.1.1): the first route becomes the
      // Request-URI, the remote target goes to the end of the Route list.
      request_uri = strip_for_request_uri(first->uri);
      routes.erase(routes.begin());
      routes.push_back("<" + remote_target_ + ">");
    }
  }
  Message m = Message::request(method, request_uri);
  for (const std::string& route : routes) m.add_header("Route", route);
  m.add_header("Max-Forwards", "70");
  m.add_header("From", with_tag(local_party_, id_.local_tag));
  m.add_header("To", with_tag(remote_party_, id_.remote_tag));
  m.add_header("Call-ID", id_.call_id);
  m.add_header("CSeq", std::to_string(cseq) + " " + std::string(method_name(method)));
  return m;
}

Message Dialog::make_response(const Message& request, int status, std::string_view reason) const {
  Message r = sip::make_response(request, status, reason, id_.local_tag);
  if (response_carries_contact(request.method(), status) && !local_contact_.empty()) {
    r.set_header("Contact", local_contact_);
  }
  return r;
}

std::optional<Message> Dialog::check_request(const Message& request) {
  const Method method = request.method();
  if (method == Method::kAck || method == Method::kCancel) return std::nullopt;
  const uint32_t cseq = request.cseq().number;
  if (remote_cseq_ && cseq < *remote_cseq_) {
    // §12.2.2: out of order → 500. The reason phrase names why.
    return make_response(request, 500, "CSeq out of order");
  }
  remote_cseq_ = cseq;
  if (is_target_refresh(method)) update_remote_target_from(request);
  return std::nullopt;
}

void Dialog::on_response(const Message& response) {
  if (state_ == DialogState::kTerminated) return;
  const int status = response.status();
  const Method method = response.method();
  if (status == 481) {
    // §12.2.1.2; RFC 5057 §5.1 lists 481 among the responses that destroy
    // the dialog (the peer has no such dialog).
    terminate();
    return;
  }
  if (status < 101) return;
  if (method == Method::kInvite && state_ == DialogState::kEarly) {
    if (status >= 300) {
      // §13.2.2.3: a non-2xx final ends every early dialog of the INVITE.
      terminate();
      return;
    }
    if (status >= 200) {
      // §13.2.2.4: 2xx confirms the early dialog; the route set is
      // recomputed from the 2xx (reversed Record-Route).
      state_ = DialogState::kConfirmed;
      if (role_ == DialogRole::kUac) set_route_set_from(response, /*reverse=*/true);
    }
  }
  if (status < 300 && is_target_refresh(method)) update_remote_target_from(response);
}

void Dialog::confirm() {
  if (state_ == DialogState::kEarly) state_ = DialogState::kConfirmed;
}

void Dialog::terminate() {
  state_ = DialogState::kTerminated;
  for (auto& usage : usages_) {
    if (!usage->terminated()) usage->terminate();
  }
}

DialogUsage& Dialog::add_usage(std::unique_ptr<DialogUsage> usage) {
  assert(usage);
  usages_.push_back(std::move(usage));
  return *usages_.back();
}

DialogUsage* Dialog::find_usage(UsageKind kind,
                                const std::function<bool(const DialogUsage&)>& match) const {
  for (const auto& usage : usages_) {
    if (usage->kind() != kind || usage->terminated()) continue;
    if (!match || match(*usage)) return usage.get();
  }
  return nullptr;
}

void Dialog::remove_terminated_usages() {
  const bool had_usages = !usages_.empty();
  std::erase_if(usages_, [](const auto& usage) { return usage->terminated(); });
  if (had_usages && usages_.empty()) state_ = DialogState::kTerminated;
}

void Dialog::remove_terminated_usages(UsageKind kind) {
  std::erase_if(usages_,
                [kind](const auto& usage) { return usage->kind() == kind && usage->terminated(); });
}

bool Dialog::has_live_usages() const {
  return std::any_of(usages_.begin(), usages_.end(),
                     [](const auto& usage) { return !usage->terminated(); });
}

size_t Dialog::live_usages(UsageKind kind) const {
  return static_cast<size_t>(std::count_if(usages_.begin(), usages_.end(), [kind](const auto& u) {
    return u->kind() == kind && !u->terminated();
  }));
}

std::optional<TimePoint> Dialog::next_deadline() const {
  std::optional<TimePoint> earliest;
  for (const auto& usage : usages_) {
    if (usage->terminated()) continue;
    const auto at = usage->next_deadline();
    if (at && (!earliest || *at < *earliest)) earliest = at;
  }
  return earliest;
}

DeadlineActions Dialog::on_deadline(TimePoint now) {
  DeadlineActions out;
  // Index loop: a usage's handler may not add usages, but stay safe anyway.
  for (size_t i = 0; i < usages_.size(); ++i) {
    DialogUsage& usage = *usages_[i];
    if (usage.terminated()) continue;
    const auto at = usage.next_deadline();
    if (at && *at <= now) usage.on_deadline(*this, now, out);
  }
  return out;
}

}  // namespace chorus::sip
