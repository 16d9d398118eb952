#pragma once

#include <optional>
#include <string_view>

#include "signaling/message/header_params.hpp"

namespace chorus::sip {

// Headers that name an existing dialog by its id. Views point into the
// parsed text; for a Replaces taken out of a Refer-To URI, parse the decoded
// std::string from Uri::header("Replaces") and keep it alive.

// Replaces (RFC 3891 §6.1): callid ;to-tag= ;from-tag= [;early-only]
struct Replaces {
  std::string_view call_id;
  std::string_view to_tag;
  std::string_view from_tag;
  bool early_only = false;
  std::string_view params_text;
};
std::optional<Replaces> parse_replaces(std::string_view value);

// Join (RFC 3911 §7.1): callid ;to-tag= ;from-tag=
struct Join {
  std::string_view call_id;
  std::string_view to_tag;
  std::string_view from_tag;
  std::string_view params_text;
};
std::optional<Join> parse_join(std::string_view value);

// Target-Dialog (RFC 4538 §7): callid ;local-tag= ;remote-tag=
// (local/remote from the point of view of the sender of the header's target).
struct TargetDialog {
  std::string_view call_id;
  std::string_view local_tag;
  std::string_view remote_tag;
  std::string_view params_text;
};
std::optional<TargetDialog> parse_target_dialog(std::string_view value);

}  // namespace chorus::sip
