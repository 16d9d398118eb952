#include "signaling/message/header_params.hpp"

#include <limits>

#include "signaling/message/method.hpp"

namespace chorus::sip {

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_ws(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ws(text.back())) text.remove_suffix(1);
  return text;
}

std::optional<uint32_t> parse_uint32(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  }
  return static_cast<uint32_t>(value);
}

std::optional<size_t> quoted_string_length(std::string_view text) {
  if (text.empty() || text.front() != '"') return std::nullopt;
  for (size_t i = 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      // quoted-pair (RFC 3261 §25.1): '\' followed by any char but CR/LF.
      if (i + 1 >= text.size() || text[i + 1] == '\r' || text[i + 1] == '\n') return std::nullopt;
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return std::nullopt;
}

std::string unquote(std::string_view text) {
  text = trim(text);
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::string(text);
  text = text.substr(1, text.size() - 2);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) ++i;
    out.push_back(text[i]);
  }
  return out;
}

namespace {

// Index of the next top-level comma at or after `from`, or npos; sets `bad`
// if a quote or '<' never closes.
// Characters that matter to the comma scan; everything else is skipped fast.
struct ListSpecials {
  bool chars[256] = {};
  constexpr ListSpecials() {
    for (char c : {'"', '\\', '<', '>', '(', ')', ','}) chars[static_cast<unsigned char>(c)] = true;
  }
};
constexpr ListSpecials kListSpecials{};

size_t next_top_level_comma(std::string_view value, size_t from, bool& bad) {
  int angle = 0;
  int comment = 0;
  for (size_t i = from; i < value.size(); ++i) {
    const char c = value[i];
    if (!kListSpecials.chars[static_cast<unsigned char>(c)]) continue;
    if (c == '"' && comment == 0) {
      auto len = quoted_string_length(value.substr(i));
      if (!len) {
        bad = true;
        return std::string_view::npos;
      }
      i += *len - 1;
    } else if (c == '\\' && comment > 0) {
      ++i;
    } else if (c == '<' && comment == 0) {
      ++angle;
    } else if (c == '>' && comment == 0) {
      if (angle > 0) --angle;
    } else if (c == '(' && angle == 0) {
      ++comment;
    } else if (c == ')' && angle == 0) {
      if (comment > 0) --comment;
    } else if (c == ',' && angle == 0 && comment == 0) {
      return i;
    }
  }
  if (angle > 0 || comment > 0) bad = true;
  return std::string_view::npos;
}

}  // namespace

size_t find_list_comma(std::string_view value, size_t from, bool& unbalanced) {
  return next_top_level_comma(value, from, unbalanced);
}

std::optional<std::vector<std::string_view>> split_comma_list(std::string_view value) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= value.size()) {
    bool bad = false;
    const size_t comma = next_top_level_comma(value, pos, bad);
    if (bad) return std::nullopt;
    const size_t end = comma == std::string_view::npos ? value.size() : comma;
    auto element = trim(value.substr(pos, end - pos));
    if (!element.empty()) out.push_back(element);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string_view first_list_element(std::string_view value) {
  // Empty elements (",a" or " , a") are skipped, as split_comma_list does.
  size_t pos = 0;
  while (true) {
    bool bad = false;
    const size_t comma = next_top_level_comma(value, pos, bad);
    if (bad) return trim(value.substr(pos));
    const size_t end = comma == std::string_view::npos ? value.size() : comma;
    auto element = trim(value.substr(pos, end - pos));
    if (!element.empty() || comma == std::string_view::npos) return element;
    pos = comma + 1;
  }
}

std::optional<std::string_view> ParamList::get(std::string_view name) const {
  std::optional<std::string_view> found;
  for_each_param(text_, [&](const Param& p, size_t, size_t) {
    if (!found && iequals(p.name, name)) found = p.value;
  });
  return found;
}

std::vector<Param> ParamList::all() const {
  std::vector<Param> out;
  for_each_param(text_, [&](const Param& p, size_t, size_t) { out.push_back(p); });
  return out;
}

bool valid_params(std::string_view text) {
  return for_each_param(text, [](const Param&, size_t, size_t) {});
}

}  // namespace chorus::sip
