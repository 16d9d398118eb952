#include "signaling/message/header_dialog_ref.hpp"

namespace chorus::sip {
namespace {

// callid = word [ "@" word ] (RFC 3261 §25.1): no LWS, printable ASCII.
bool valid_call_id(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ';') return false;
  }
  return true;
}

struct DialogRef {
  std::string_view call_id;
  std::string_view params;
};

std::optional<DialogRef> split(std::string_view value) {
  value = trim(value);
  const size_t semi = value.find(';');
  DialogRef ref;
  ref.call_id = trim(value.substr(0, semi));
  if (!valid_call_id(ref.call_id)) return std::nullopt;
  if (semi != std::string_view::npos) {
    ref.params = trim(value.substr(semi + 1));
    if (!valid_params(ref.params)) return std::nullopt;
  }
  return ref;
}

// Tags are tokens; a quoted or missing tag is malformed.
std::optional<std::string_view> required_tag(const ParamList& params, std::string_view name) {
  auto tag = params.get(name);
  if (!tag || tag->empty() || tag->front() == '"') return std::nullopt;
  return tag;
}

}  // namespace

std::optional<Replaces> parse_replaces(std::string_view value) {
  auto ref = split(value);
  if (!ref) return std::nullopt;
  ParamList params(ref->params);
  auto to_tag = required_tag(params, "to-tag");
  auto from_tag = required_tag(params, "from-tag");
  // RFC 3891 §6.1: to-tag and from-tag are mandatory.
  if (!to_tag || !from_tag) return std::nullopt;
  Replaces out;
  out.call_id = ref->call_id;
  out.to_tag = *to_tag;
  out.from_tag = *from_tag;
  out.early_only = params.has("early-only");
  out.params_text = ref->params;
  return out;
}

std::optional<Join> parse_join(std::string_view value) {
  auto ref = split(value);
  if (!ref) return std::nullopt;
  ParamList params(ref->params);
  auto to_tag = required_tag(params, "to-tag");
  auto from_tag = required_tag(params, "from-tag");
  // RFC 3911 §7.1: both tags are mandatory.
  if (!to_tag || !from_tag) return std::nullopt;
  Join out;
  out.call_id = ref->call_id;
  out.to_tag = *to_tag;
  out.from_tag = *from_tag;
  out.params_text = ref->params;
  return out;
}

std::optional<TargetDialog> parse_target_dialog(std::string_view value) {
  auto ref = split(value);
  if (!ref) return std::nullopt;
  ParamList params(ref->params);
  auto local_tag = required_tag(params, "local-tag");
  auto remote_tag = required_tag(params, "remote-tag");
  // RFC 4538 §7: both tags are mandatory.
  if (!local_tag || !remote_tag) return std::nullopt;
  TargetDialog out;
  out.call_id = ref->call_id;
  out.local_tag = *local_tag;
  out.remote_tag = *remote_tag;
  out.params_text = ref->params;
  return out;
}

}  // namespace chorus::sip
