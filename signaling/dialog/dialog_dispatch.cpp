#include "signaling/dialog/dialog_dispatch.hpp"

namespace chorus::sip {

InviteSession* invite_session_of(const Dialog& dialog) {
  return static_cast<InviteSession*>(dialog.find_usage(UsageKind::kInviteSession));
}

DialogRoute route_request(DialogSet& dialogs, const Message& request) {
  DialogRoute route;
  DialogSet::RequestMatch match = dialogs.match_request(request);
  if (match.out_of_dialog) return route;
  const Method method = request.method();
  if (match.reject) {
    route.kind = DialogRoute::Kind::kReject;
    route.response = std::move(match.reject);
    return route;
  }
  if (!match.dialog) {
    route.kind = DialogRoute::Kind::kDropped;  // unmatched ACK
    return route;
  }
  route.dialog = match.dialog;
  if (auto reject = match.dialog->check_request(request)) {
    route.kind = DialogRoute::Kind::kReject;
    route.response = std::move(reject);
    return route;
  }
  switch (method) {
    case Method::kInvite:
    case Method::kAck:
    case Method::kBye:
    case Method::kUpdate:
    case Method::kInfo:
    case Method::kPrack:
      route.invite = invite_session_of(*match.dialog);
      if (route.invite) {
        route.kind = DialogRoute::Kind::kInviteSession;
      } else if (method == Method::kAck) {
        route.kind = DialogRoute::Kind::kDropped;
      } else {
        // RFC 5057 §5.3: the dialog has no INVITE usage for this request.
        route.kind = DialogRoute::Kind::kReject;
        route.response = match.dialog->make_response(request, 481, "Session Does Not Exist");
      }
      return route;
    case Method::kSubscribe:
      route.kind = DialogRoute::Kind::kSubscribe;
      return route;
    case Method::kRefer:
      route.kind = DialogRoute::Kind::kRefer;
      return route;
    case Method::kNotify:
      route.kind = DialogRoute::Kind::kNotify;
      return route;
    default:
      route.kind = DialogRoute::Kind::kOther;
      return route;
  }
}

}  // namespace chorus::sip
