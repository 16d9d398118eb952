#pragma once

// Every privileged operation of the focus and the one right it needs.
//
// Authorisation goes through this table only: Server::authorize takes an
// Operation, never a right, and the action-URN table (services/refer.cpp)
// and the admin route table (ops/admin_api.cpp) name an Operation per row.
// So a new privileged operation is a new row here, and
// tests/focus/privilege_matrix_test.cpp fails until it has a row as well.
// Rights are the sip::kRight* names; "admin" implies every other.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::focus {

enum class Operation : uint8_t {
  // INVITE with Join (RFC 3911), per mode.
  kJoinMonitor,
  kJoinWhisper,
  kJoinBarge,
  // INVITE with Replaces (RFC 3891) naming someone else's call, and the
  // retrieval of a parked call (RFC 5359 §2.15).
  kReplaceOthersCall,
  kRetrieveParked,
  // INVITE with Replaces naming a ringing dial-out (RFC 5359 §2.16 pickup).
  kPickupDialOut,
  // REFER to a conference URI (RFC 4579 §5.5): dial-out, removal.
  kReferDialOut,
  kReferBye,
  // REFER with Replaces to sip:moh@ / sip:park@ (RFC 5359 §2.3 / §2.15).
  kReferService,
  // REFER with an action URN and Target-Dialog (RFC 4538).
  kActionMute,
  kActionUnmute,
  kActionHold,
  kActionUnhold,
  kActionTerminate,
  kActionRemove,
  kActionAdd,
  kActionAnswer,
  kActionDecline,
  kActionIgnore,
  kActionSendVm,
  // The remote-call-control methods (services/remote_control.cpp).
  kRemoteAnswer,
  kRemoteReject,  // of a caller in the waiting room: the admission decision
  kRemotePickup,
  // REJECT of an admitted member (BYE) or a ringing dial-out (CANCEL):
  // ending a call, as kick and call:terminate.
  kRemoteRejectCall,
  // SUBSCRIBE Event: dialog (RFC 4235): the ids Join and Replaces need.
  kDialogSubscribe,
  // The same with Accept: message/sip: the SIP messages themselves.
  kDialogMessages,
  // The admin API (ops/admin_api.hpp), with an account instead of the token.
  kAdminView,
  kAdminMute,
  kAdminKick,
  kAdminRole,
  kAdminHold,
  kAdminDial,
  kAdminAdmit,
  kAdminPickup,
  // Recording (README "Recording"): REFER with Refer-To
  // urn:x-chorus:conference:record-start / record-stop, and the admin route.
  kRecordRefer,
  kAdminRecord,
  // Moving a member to another room (README "Moving members"): REFER to the
  // target room's URI with urn:sip-action:conference:add, and the admin route.
  kMoveRefer,
  kAdminMove,
  // Merging a room into another and splitting members off into another
  // (README "Moving members"): many moves at once, the same right.
  kAdminMerge,
  kAdminSplit,
  // Sidebars (README "Sidebars"): REFER with Refer-To
  // urn:x-chorus:conference:sidebar-join / sidebar-leave, and the admin
  // routes that create, dissolve and fill sidebars.
  kSidebarRefer,
  kAdminSidebar,
};

// Create, dissolve and fill a room's sidebars. Its own right, as "record"
// is: rights do not imply each other, only "admin" implies every one.
inline constexpr std::string_view kRightSidebar = "sidebar";

struct Privilege {
  Operation operation;
  std::string_view name;   // for logs, reason phrases and the README
  std::string_view right;  // the sip::kRight* it needs
  // The focus sends an INVITE to a URI the requester chose: the account's
  // dial-out patterns apply (Account::dial_out).
  bool dials = false;
};

// One row per Operation, in enum order.
std::span<const Privilege> privileges();
const Privilege& privilege(Operation operation);

// The action URNs the focus acts on (services/refer.cpp's table): the name
// after "urn:sip-action:" and its operation.
std::vector<std::pair<std::string_view, Operation>> action_urns();
// An action name as that table spells it: cut at the first ';', '?' or '#'
// (parameters, RFC 8141 components), percent-decoded, lower-cased.
std::string normalise_action(std::string_view name);

// Dial-out patterns (Account::dial_out): each "USER@HOST" or "HOST", with
// `*` (any run) and `?` (one character) as wildcards; a HOST alone means
// any user at that host. The user compares percent-decoded and exactly, the
// host case-insensitively. A URI with `maddr` must match with that address
// as well (it is where the request would go, RFC 3261 §19.1.1).
bool valid_dial_out_pattern(std::string_view pattern);
// Whether `uri` (sip: or sips:) matches one of `patterns`. An empty list
// allows every URI; an unparsable URI matches nothing.
bool dial_out_allowed(std::span<const std::string> patterns, std::string_view uri);

// Source addresses (trusted service sources): "ADDRESS" or "ADDRESS/BITS",
// IPv4 or IPv6.
bool valid_address_range(std::string_view range);
bool address_in_ranges(std::span<const std::string> ranges, std::string_view address);

}  // namespace chorus::focus
