#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "signaling/dialog/dialog.hpp"
#include "signaling/dialog/dialog_random.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/message/message.hpp"
#include "signaling/usage/subscription.hpp"

namespace chorus::sip {

struct ReferConfig {
  // Lifetime of the implicit subscription (RFC 3515 §2.4.4 leaves it to the
  // notifier); long enough for the referred call to ring and be answered.
  uint32_t subscription_expires = 300;
};

// RFC 3515 §2.4.1: exactly one Refer-To, and it must parse. Returns the 400
// to send ("Missing Refer-To", "Multiple Refer-To", "Bad Refer-To"), built
// with `to_tag` (our local tag, or a fresh one for an out-of-dialog REFER),
// or nullopt if the REFER is well-formed. Authorization (is the requester
// allowed to make us dial that?) is the application's, between this check
// and accept_refer().
std::optional<Message> check_refer(const Message& refer, std::string_view to_tag);

// RFC 4488 §4: the REFER asks for no implicit subscription (Refer-Sub: false).
bool refer_declines_subscription(const Message& refer);

struct ReferOutcome {
  Message response;  // 202 Accepted (with Refer-Sub: false if so), or 400/481/500
  bool accepted = false;
  std::string refer_to;                  // the Refer-To value of an accepted REFER
  std::optional<Message> notify;         // the initial NOTIFY "SIP/2.0 100 Trying" (§2.4.4)
  Dialog* dialog = nullptr;              // where the subscription lives (created if out of dialog)
  Subscription* subscription = nullptr;  // null with Refer-Sub: false
};

// Accepts a REFER, in or out of dialog (looked up in `dialogs`; 481 for an
// unknown dialog, 500 for CSeq out of order). Creates the `refer`
// subscription (Event: refer;id=<CSeq of the REFER>, message/sipfrag) and,
// for an out-of-dialog REFER, its dialog. With Refer-Sub: false (RFC 4488)
// there is no subscription and no dialog, and the 202 says Refer-Sub: false.
ReferOutcome accept_refer(DialogSet& dialogs, const Message& refer, DialogRandom& random,
                          std::string_view local_contact, TimePoint now,
                          const ReferConfig& config = {});
// Same, for a REFER already matched to `dialog` (it passed check_request).
ReferOutcome accept_refer(Dialog& dialog, const Message& refer, TimePoint now,
                          const ReferConfig& config = {});

// A progress NOTIFY for the referred request (RFC 3515 §2.4.5): body
// "SIP/2.0 <status> <reason>" as message/sipfrag. A final status (>= 200)
// ends the subscription: "terminated;reason=noresource". `headers` go
// after the status line (RFC 5359 §2.3 F17: the 200's From, To and Call-ID).
Message make_refer_notify(Dialog& dialog, Subscription& subscription, int status,
                          std::string_view reason, TimePoint now,
                          std::span<const std::pair<std::string, std::string>> headers = {});

}  // namespace chorus::sip
