#include "signaling/usage/sipfrag.hpp"

#include <cctype>
#include <charconv>

namespace chorus::sip {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string make_sipfrag(int status, std::string_view reason) {
  const size_t cut = reason.find_first_of("\r\n");
  if (cut != std::string_view::npos) reason = reason.substr(0, cut);
  std::string out = "SIP/2.0 ";
  out += std::to_string(status);
  out += ' ';
  out += reason;
  out += "\r\n";
  return out;
}

std::string make_sipfrag(int status, std::string_view reason,
                         std::span<const std::pair<std::string, std::string>> headers) {
  std::string out = make_sipfrag(status, reason);
  for (const auto& [name, value] : headers) {
    if (name.empty() || name.find_first_of("\r\n:") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  return out;
}

std::optional<SipfragStatus> parse_sipfrag_status(std::string_view body) {
  // The status line ends at CRLF; be lenient and accept a bare LF or no line
  // end at all (many stacks send "SIP/2.0 200 OK" without CRLF).
  size_t eol = body.find('\n');
  std::string_view line = body.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : body.substr(eol + 1);

  constexpr std::string_view kVersion = "SIP/2.0 ";
  if (line.size() < kVersion.size() + 3 || !iequals(line.substr(0, kVersion.size()), kVersion)) {
    return std::nullopt;
  }
  line.remove_prefix(kVersion.size());
  // RFC 3261 §25.1: Status-Code is exactly three digits.
  const std::string_view code = line.substr(0, 3);
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (line.size() > 3 && line[3] != ' ') return std::nullopt;
  int status = 0;
  std::from_chars(code.data(), code.data() + code.size(), status);
  if (status < 100 || status > 699) return std::nullopt;
  SipfragStatus out;
  out.status = status;
  out.reason = std::string(trim(line.size() > 3 ? line.substr(4) : std::string_view{}));
  out.headers = rest;
  return out;
}

bool is_sipfrag_content_type(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  return iequals(trim(content_type.substr(0, semi)), "message/sipfrag");
}

}  // namespace chorus::sip
