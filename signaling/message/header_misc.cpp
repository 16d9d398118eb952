#include "signaling/message/header_misc.hpp"

#include "signaling/message/method.hpp"

namespace chorus::sip {

std::optional<RetryAfter> parse_retry_after(std::string_view value) {
  value = trim(value);
  size_t i = 0;
  while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
  auto seconds = parse_uint32(value.substr(0, i));
  if (!seconds) return std::nullopt;
  RetryAfter out;
  out.seconds = *seconds;
  auto rest = trim(value.substr(i));
  if (!rest.empty() && rest.front() == '(') {
    // comment = "(" *(ctext / quoted-pair / comment) ")"
    int depth = 0;
    size_t k = 0;
    for (; k < rest.size(); ++k) {
      if (rest[k] == '\\') {
        ++k;
      } else if (rest[k] == '(') {
        ++depth;
      } else if (rest[k] == ')' && --depth == 0) {
        break;
      }
    }
    if (k >= rest.size()) return std::nullopt;
    out.comment = rest.substr(1, k - 1);
    rest = trim(rest.substr(k + 1));
  }
  if (!rest.empty()) {
    if (rest.front() != ';') return std::nullopt;
    auto params_text = trim(rest.substr(1));
    if (!valid_params(params_text)) return std::nullopt;
    if (auto duration = ParamList(params_text).get("duration")) {
      out.duration = parse_uint32(*duration);
      if (!out.duration) return std::nullopt;
    }
  }
  return out;
}

std::optional<Reason> parse_reason(std::string_view value) {
  value = trim(value);
  const size_t semi = value.find(';');
  Reason out;
  out.protocol = trim(value.substr(0, semi));
  if (!is_token(out.protocol)) return std::nullopt;
  if (semi != std::string_view::npos) {
    auto params_text = trim(value.substr(semi + 1));
    if (!valid_params(params_text)) return std::nullopt;
    ParamList params(params_text);
    if (auto cause = params.get("cause")) {
      out.cause = parse_uint32(*cause);
      if (!out.cause) return std::nullopt;
    }
    if (auto text = params.get("text")) out.text = unquote(*text);
  }
  return out;
}

std::optional<Warning> parse_warning(std::string_view value) {
  value = trim(value);
  // warn-code = 3DIGIT SP warn-agent SP warn-text
  if (value.size() < 5) return std::nullopt;
  auto code = parse_uint32(value.substr(0, 3));
  if (!code || *code < 100 || !is_ws(value[3])) return std::nullopt;
  auto rest = trim(value.substr(4));
  size_t i = 0;
  while (i < rest.size() && !is_ws(rest[i])) ++i;
  Warning out;
  out.code = static_cast<uint16_t>(*code);
  out.agent = rest.substr(0, i);
  auto text = trim(rest.substr(i));
  auto len = quoted_string_length(text);
  if (out.agent.empty() || !len || *len != text.size()) return std::nullopt;
  out.text = unquote(text);
  return out;
}

std::optional<ContentType> parse_content_type(std::string_view value) {
  value = trim(value);
  const size_t semi = value.find(';');
  auto media = trim(value.substr(0, semi));
  const size_t slash = media.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ContentType out;
  // m-type SLASH m-subtype, SLASH allowing LWS.
  out.type = trim(media.substr(0, slash));
  out.subtype = trim(media.substr(slash + 1));
  if (!is_token(out.type) || !is_token(out.subtype)) return std::nullopt;
  if (semi != std::string_view::npos) {
    out.params_text = trim(value.substr(semi + 1));
    if (!valid_params(out.params_text)) return std::nullopt;
  }
  return out;
}

std::string ContentType::boundary() const {
  auto b = param("boundary");
  return b ? unquote(*b) : std::string{};
}

bool ContentType::is(std::string_view type_slash_subtype) const {
  const size_t slash = type_slash_subtype.find('/');
  if (slash == std::string_view::npos) return false;
  return iequals(type, type_slash_subtype.substr(0, slash)) &&
         iequals(subtype, type_slash_subtype.substr(slash + 1));
}

namespace {

// q-value (RFC 3261 §25.1: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]): zero?
bool q_is_zero(std::string_view q) {
  q = trim(q);
  if (q.empty() || q[0] != '0') return false;
  for (char c : q.substr(1)) {
    if (c != '.' && c != '0') return false;
  }
  return true;
}

}  // namespace

bool accepts_body(const Message& request, std::string_view type, std::string_view subtype) {
  const std::vector<std::string_view> lines = request.header_lines("Accept");
  if (lines.empty()) return iequals(type, "application") && iequals(subtype, "sdp");
  int best = -1;  // specificity of the best match: 0 */*, 1 type/*, 2 exact
  bool acceptable = false;
  for (std::string_view line : lines) {
    const auto ranges = split_comma_list(line);
    if (!ranges) continue;
    for (std::string_view range : *ranges) {
      const auto media = parse_content_type(range);
      if (!media) continue;
      int specificity = -1;
      if (media->type == "*" && media->subtype == "*") {
        specificity = 0;
      } else if (iequals(media->type, type) && media->subtype == "*") {
        specificity = 1;
      } else if (iequals(media->type, type) && iequals(media->subtype, subtype)) {
        specificity = 2;
      }
      if (specificity < best || specificity < 0) continue;
      const auto q = media->param("q");
      const bool zero = q && q_is_zero(*q);
      if (specificity > best) {
        best = specificity;
        acceptable = !zero;
      } else {
        acceptable = acceptable || !zero;
      }
    }
  }
  return acceptable;
}

}  // namespace chorus::sip
