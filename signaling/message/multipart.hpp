#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::sip {

// One body part of a multipart body (RFC 2046 §5.1): its own headers
// (Content-Type, Content-ID, ...) and its content. Views into the body.
struct BodyPart {
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // (name, value)
  std::string_view body;

  std::optional<std::string_view> header(std::string_view name) const;  // case-insensitive
  std::string_view content_type() const { return header("Content-Type").value_or(""); }
};

// Splits a multipart/* body at `--boundary` delimiters (RFC 2046 §5.1.1):
// preamble and epilogue are ignored, the CRLF before each delimiter belongs
// to the delimiter. nullopt if the boundary is empty, no delimiter is found,
// the close delimiter is missing, or a part's header block is malformed.
std::optional<std::vector<BodyPart>> parse_multipart(std::string_view body,
                                                     std::string_view boundary);

// Finds the first part whose Content-Type is `type_slash_subtype`
// (case-insensitive), e.g. "application/sdp".
std::optional<BodyPart> find_part(const std::vector<BodyPart>& parts,
                                  std::string_view type_slash_subtype);

}  // namespace chorus::sip
