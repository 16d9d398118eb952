// libFuzzer target: URI and name-addr parsing on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "signaling/message/header_name_addr.hpp"
#include "signaling/message/header_via.hpp"
#include "signaling/message/uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus::sip;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto uri = parse_uri(text)) {
    // Views point into the input and the URI reproduces it.
    if (uri->to_string() != text) std::abort();
    (void)uri->params();
    (void)uri->headers();
    (void)uri->user_decoded();
    (void)uri->host_port();
    if (!uri_equivalent(*uri, *uri)) std::abort();
    // Wrapped in <> it is a valid name-addr with the same URI.
    const std::string wrapped = "<" + std::string(text) + ">";
    auto na = parse_name_addr(wrapped);
    if (!na || na->uri_text != text) std::abort();
  }
  if (auto na = parse_name_addr(text)) {
    (void)na->display_name_unescaped();
    (void)na->expires();
    // What parsed re-serializes into something that parses.
    const std::string again = na->to_string();
    if (!parse_name_addr(again)) std::abort();
  }
  (void)parse_contact(text);
  (void)parse_via_list(text);
  (void)percent_decode(text);
  return 0;
}
