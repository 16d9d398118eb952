#include "focus/privileges.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cstring>

#include "signaling/auth/digest_server.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::focus {
namespace {

using O = Operation;

constexpr std::array<Privilege, 42> kPrivileges = {{
    {O::kJoinMonitor, "Join mode=monitor", sip::kRightMonitor},
    {O::kJoinWhisper, "Join mode=whisper", sip::kRightWhisper},
    {O::kJoinBarge, "Join mode=barge", sip::kRightBarge},
    {O::kReplaceOthersCall, "Replaces of another user's call", sip::kRightReplace},
    {O::kRetrieveParked, "Replaces retrieving a parked call", sip::kRightReplace},
    {O::kPickupDialOut, "Replaces picking up a ringing dial-out", sip::kRightPickup},
    {O::kReferDialOut, "REFER dial-out", sip::kRightDialOut, true},
    {O::kReferBye, "REFER method=BYE", sip::kRightRemove},
    {O::kReferService, "REFER to music on hold or park", sip::kRightPark, true},
    {O::kActionMute, "urn:sip-action:call:mute", sip::kRightModerate},
    {O::kActionUnmute, "urn:sip-action:call:unmute", sip::kRightModerate},
    {O::kActionHold, "urn:sip-action:call:hold", sip::kRightModerate},
    {O::kActionUnhold, "urn:sip-action:call:unhold", sip::kRightModerate},
    {O::kActionTerminate, "urn:sip-action:call:terminate", sip::kRightRemove},
    {O::kActionRemove, "urn:sip-action:conference:remove", sip::kRightRemove},
    {O::kActionAdd, "urn:sip-action:conference:add", sip::kRightModerate},
    {O::kActionAnswer, "urn:sip-action:call:answer", sip::kRightModerate},
    {O::kActionDecline, "urn:sip-action:call:decline", sip::kRightModerate},
    {O::kActionIgnore, "urn:sip-action:call:ignore", sip::kRightModerate},
    {O::kActionSendVm, "urn:sip-action:call:sendvm", sip::kRightModerate},
    {O::kRemoteAnswer, "ANSWER", sip::kRightModerate},
    {O::kRemoteReject, "REJECT of a waiting caller", sip::kRightModerate},
    {O::kRemotePickup, "PICKUP (onto the sender's Contact)", sip::kRightPickup, true},
    {O::kRemoteRejectCall, "REJECT of a member or a ringing dial-out", sip::kRightRemove},
    {O::kDialogSubscribe, "SUBSCRIBE Event: dialog", sip::kRightDialogSubscribe},
    {O::kDialogMessages, "SUBSCRIBE Event: dialog, Accept: message/sip", sip::kRightModerate},
    {O::kAdminView, "admin: view rooms and events", sip::kRightDialogSubscribe},
    {O::kAdminMute, "admin: mute", sip::kRightModerate},
    {O::kAdminKick, "admin: kick", sip::kRightRemove},
    {O::kAdminRole, "admin: role", sip::kRightModerate},
    {O::kAdminHold, "admin: hold", sip::kRightModerate},
    {O::kAdminDial, "admin: dial", sip::kRightDialOut, true},
    {O::kAdminAdmit, "admin: admit or refuse a waiting caller", sip::kRightModerate},
    {O::kAdminPickup, "admin: pick up a call onto a URI", sip::kRightPickup},
    // Its own right, not moderate: recording is a privacy matter an operator
    // may want to keep from moderators who mute and hold.
    {O::kRecordRefer, "urn:x-chorus:conference:record-start / record-stop", sip::kRightRecord},
    {O::kAdminRecord, "admin: start or stop a room's recording", sip::kRightRecord},
    // Its own right: a move crosses rooms (and their PINs); "moderate" on
    // top lets it past the target's PIN and member limit.
    {O::kMoveRefer, "urn:sip-action:conference:add naming another room", sip::kRightMove},
    {O::kAdminMove, "admin: move a member to another room", sip::kRightMove},
    {O::kAdminMerge, "admin: merge a room into another", sip::kRightMove},
    {O::kAdminSplit, "admin: split members off into another room", sip::kRightMove},
    {O::kSidebarRefer, "urn:x-chorus:conference:sidebar-join / sidebar-leave", kRightSidebar},
    {O::kAdminSidebar, "admin: create, dissolve and fill a room's sidebars", kRightSidebar},
}};

constexpr bool in_enum_order() {
  for (size_t i = 0; i < kPrivileges.size(); ++i) {
    if (static_cast<size_t>(kPrivileges[i].operation) != i) return false;
  }
  return true;
}
static_assert(in_enum_order(), "kPrivileges: one row per Operation, in enum order");
static_assert(static_cast<size_t>(O::kAdminSidebar) + 1 == kPrivileges.size());

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// `*` any run, `?` one character; iterative with one backtrack point.
bool glob(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool matches(std::string_view pattern, std::string_view user, std::string_view host) {
  const size_t at = pattern.rfind('@');
  if (at == std::string_view::npos) return glob(lower(pattern), host);
  return glob(pattern.substr(0, at), user) && glob(lower(pattern.substr(at + 1)), host);
}

struct Range {
  int family = AF_INET;
  std::array<unsigned char, 16> bytes{};
  int bits = 0;
};

std::optional<Range> parse_range(std::string_view text) {
  Range range;
  std::string address(text.substr(0, text.find('/')));
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  if (inet_pton(AF_INET, address.c_str(), range.bytes.data()) == 1) {
    range.family = AF_INET;
    range.bits = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), range.bytes.data()) == 1) {
    range.family = AF_INET6;
    range.bits = 128;
  } else {
    return std::nullopt;
  }
  const size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    int bits = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || bits < 0 ||
        bits > range.bits) {
      return std::nullopt;
    }
    range.bits = bits;
  }
  return range;
}

bool in_range(const Range& range, const Range& address) {
  if (range.family != address.family) return false;
  const int whole = range.bits / 8;
  if (std::memcmp(range.bytes.data(), address.bytes.data(), static_cast<size_t>(whole)) != 0) {
    return false;
  }
  const int rest = range.bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (range.bytes[whole] & mask) == (address.bytes[whole] & mask);
}

}  // namespace

std::span<const Privilege> privileges() {
  return kPrivileges;
}

const Privilege& privilege(Operation operation) {
  const auto index = static_cast<size_t>(operation);
  assert(index < kPrivileges.size());
  return kPrivileges[index];
}

bool valid_dial_out_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 256) return false;
  const size_t at = pattern.rfind('@');
  const std::string_view host = at == std::string_view::npos ? pattern : pattern.substr(at + 1);
  if (host.empty()) return false;
  return std::none_of(pattern.begin(), pattern.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == '"';
  });
}

bool dial_out_allowed(std::span<const std::string> patterns, std::string_view uri_text) {
  const auto uri = sip::parse_uri(uri_text);
  if (!uri || !uri->is_sip()) return false;
  if (patterns.empty()) return true;
  const std::string user = uri->user_decoded();
  std::vector<std::string> hosts = {lower(uri->host)};
  if (const auto maddr = uri->param("maddr")) hosts.push_back(lower(sip::percent_decode(*maddr)));
  return std::all_of(hosts.begin(), hosts.end(), [&](const std::string& host) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& pattern) { return matches(pattern, user, host); });
  });
}

bool valid_address_range(std::string_view range) {
  return parse_range(range).has_value();
}

bool address_in_ranges(std::span<const std::string> ranges, std::string_view address) {
  const auto parsed = parse_range(address);
  if (!parsed || address.find('/') != std::string_view::npos) return false;
  return std::any_of(ranges.begin(), ranges.end(), [&](const std::string& text) {
    const auto range = parse_range(text);
    return range && in_range(*range, *parsed);
  });
}

}  // namespace chorus::focus
