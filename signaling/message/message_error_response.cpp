#include <charconv>

#include "signaling/message/header_params.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {
namespace {

// One raw header of a message Message::parse refused, folded lines joined.
struct RawHeader {
  HeaderId id;
  std::string value;
};

bool valid_reason_phrase(std::string_view reason) {
  for (char c : reason) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

}  // namespace

// RFC 3261 §8.2.6 for a request we could not fully parse: the answer must
// still carry the Via(s) (to be routed back, §18.2.2), From, To, Call-ID and
// CSeq so the client transaction matches it. Everything is taken leniently
// from the raw bytes.
std::optional<std::string> build_error_response(std::string_view wire, const ParseError& error,
                                                std::string_view to_tag) {
  if (!valid_reason_phrase(error.reason) || error.status < 300 || error.status > 699) {
    return std::nullopt;
  }
  if (wire.size() > kMaxMessageSize) wire = wire.substr(0, kMaxMessageSize);
  size_t pos = 0;
  while (pos < wire.size() && (wire[pos] == '\r' || wire[pos] == '\n')) ++pos;
  // A response is never answered; a request line needs at least a method.
  if (wire.size() - pos >= 4 && iequals(wire.substr(pos, 4), "SIP/")) return std::nullopt;
  size_t lf = wire.find('\n', pos);
  if (lf == std::string_view::npos || lf == pos) return std::nullopt;
  pos = lf + 1;

  std::vector<RawHeader> headers;
  while (pos < wire.size()) {
    lf = wire.find('\n', pos);
    size_t end = lf == std::string_view::npos ? wire.size() : lf;
    std::string_view line = wire.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    pos = end + (lf == std::string_view::npos ? 0 : 1);
    if (is_ws(line.front())) {
      if (!headers.empty()) {
        headers.back().value += ' ';
        headers.back().value += trim(line);
      }
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      headers.push_back({HeaderId::kOther, {}});  // keeps continuation lines off the previous
      continue;
    }
    const HeaderId id = header_id(trim(line.substr(0, colon)));
    headers.push_back({id, std::string(trim(line.substr(colon + 1)))});
    if (lf == std::string_view::npos) break;
  }

  std::string out = "SIP/2.0 ";
  char code[8];
  auto [code_end, ec] = std::to_chars(code, code + sizeof code, error.status);
  (void)ec;
  out.append(code, code_end);
  out += ' ';
  out += error.reason;
  out += "\r\n";
  bool has_via = false;
  for (const auto& h : headers) {
    if (h.id != HeaderId::kVia || h.value.empty()) continue;
    // Only a Via whose sent-by parses can route the answer back.
    if (!has_via) {
      auto top = first_list_element(h.value);
      if (!parse_via(top.substr(0, top.find(';')))) return std::nullopt;
    }
    has_via = true;
    if (parse_via_list(h.value)) {
      out += "Via: " + h.value + "\r\n";
      continue;
    }
    // A malformed Via (RFC 4475 §3.1.2.1): keep the sent-by and the
    // well-formed parameters of its first element, so the answer is itself
    // well-formed and still matches the branch.
    auto element = first_list_element(h.value);
    const size_t semi = element.find(';');
    if (!parse_via(element.substr(0, semi))) continue;
    out += "Via: ";
    out += trim(element.substr(0, semi));
    if (semi != std::string_view::npos) {
      for_each_param(element.substr(semi + 1), [&](const Param& p, size_t, size_t) {
        out += ';';
        out += p.name;
        if (p.has_value) {
          out += '=';
          out += p.value;
        }
      });
    }
    out += "\r\n";
  }
  if (!has_via) return std::nullopt;
  auto copy_one = [&](HeaderId id, std::string_view name, bool add_tag) {
    for (const auto& h : headers) {
      if (h.id != id) continue;
      out += name;
      out += ": ";
      out += h.value;
      if (add_tag && !to_tag.empty()) {
        auto parsed = parse_name_addr(h.value);
        if (parsed && parsed->tag().empty()) {
          out += ";tag=";
          out += to_tag;
        }
      }
      out += "\r\n";
      return;
    }
  };
  copy_one(HeaderId::kFrom, "From", false);
  copy_one(HeaderId::kTo, "To", true);
  copy_one(HeaderId::kCallId, "Call-ID", false);
  copy_one(HeaderId::kCSeq, "CSeq", false);
  out += "Content-Length: 0\r\n\r\n";
  return out;
}

}  // namespace chorus::sip
