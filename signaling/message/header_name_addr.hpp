#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/message/header_params.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::sip {

// From, To, Contact, Route, Record-Route, Refer-To, Referred-By, Reply-To ...
// (RFC 3261 §20.10, §25.1):  [display-name] <URI> *(;param)  |  addr-spec *(;param)
// In the addr-spec form everything after the first ';' is a HEADER parameter,
// not a URI parameter (RFC 3261 §20: "sip:a@b;tag=1" has tag in the header).
struct NameAddr {
  std::string_view display_name;  // without surrounding quotes, escapes still raw; "" if none
  Uri uri;
  std::string_view uri_text;     // the URI as written (without < >)
  std::string_view params_text;  // header params after the first ';' (no leading ';')
  bool angle_brackets = false;   // name-addr form

  std::optional<std::string_view> param(std::string_view name) const {
    return ParamList(params_text).get(name);
  }
  bool has_param(std::string_view name) const { return param(name).has_value(); }
  std::vector<Param> params() const { return ParamList(params_text).all(); }
  std::string_view tag() const { return param("tag").value_or(std::string_view{}); }
  std::string display_name_unescaped() const;  // `J Rosenberg \"` -> `J Rosenberg "`
  // Contact `expires` param (RFC 3261 §20.10).
  std::optional<uint32_t> expires() const;
  // "<uri>;params" or `"name" <uri>;params`.
  std::string to_string() const;
};

// Parses ONE element (no top-level commas). Views point into `value`.
std::optional<NameAddr> parse_name_addr(std::string_view value);

// Route, Record-Route, Contact, ... : a comma-separated list of elements.
// nullopt if any element is malformed.
std::optional<std::vector<NameAddr>> parse_name_addr_list(std::string_view value);

// Contact (RFC 3261 §20.10): either "*" (only in REGISTER) or a list.
struct ContactList {
  bool wildcard = false;
  std::vector<NameAddr> contacts;
};
std::optional<ContactList> parse_contact(std::string_view value);

}  // namespace chorus::sip
