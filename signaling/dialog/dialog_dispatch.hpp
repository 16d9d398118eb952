#pragma once

#include <cstdint>
#include <optional>

#include "signaling/dialog/dialog.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/dialog/invite_session.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {

// Where an incoming request goes (PJSIP's usage dispatch): one call that
// does the §12.2.2 work — find the dialog (481 if the To tag names none),
// check the CSeq (500), and pick the usage that handles the method.
struct DialogRoute {
  enum class Kind : uint8_t {
    kOutOfDialog,    // no To tag: a new INVITE / SUBSCRIBE / REFER / OPTIONS ...
    kReject,         // send `response` (481, 500 CSeq out of order); ACKs are never rejected
    kInviteSession,  // INVITE/ACK/BYE/UPDATE/INFO/PRACK → invite->on_request(*dialog, ...)
    kSubscribe,      // → Notifier::on_subscribe(*dialog, ...)
    kRefer,          // → accept_refer(*dialog, ...) after the application's authorization
    kNotify,         // we keep no subscriber usages: answer 481 unless the application tracks it
    kOther,          // MESSAGE, OPTIONS, ... in a dialog: the application answers
    kDropped,        // an ACK that matches no dialog/session: absorb silently (§17.1.1.3)
  };
  Kind kind = Kind::kOutOfDialog;
  Dialog* dialog = nullptr;
  InviteSession* invite = nullptr;
  std::optional<Message> response;
};

DialogRoute route_request(DialogSet& dialogs, const Message& request);

// The INVITE usage of a dialog, if it has a live one.
InviteSession* invite_session_of(const Dialog& dialog);

}  // namespace chorus::sip
