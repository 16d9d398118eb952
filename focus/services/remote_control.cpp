// Remote call control (README "Remote call control"): the ANSWER, PICKUP and
// REJECT methods of the remote-call-control draft. Each is sent outside any
// dialog; its text/csv body names the affected dialog (Call-ID, From tag,
// To tag, in either order) and, for PICKUP and REJECT, a reason (a SIP
// status code and optional text), fields separated by ';' (the draft's
// example) or ','. Target-Dialog, when present, names the controller's own
// dialog and is not needed to find the target. The answer carries no body.
//
//             waiting caller        ringing dial-out        member in the room
//   ANSWER    200 to its INVITE     481                     481
//   PICKUP    302 to the PICKUP's   CANCEL, and the focus   REFER to the PICKUP's
//             Contact (+ Reason)    calls that Contact in   Contact
//   REJECT    the given code        CANCEL                  BYE
//             (right moderate)      (right remove)          (right remove)

#include <spdlog/spdlog.h>

#include <charconv>

#include "focus/ops/log.hpp"
#include "focus/rooms/media_setup.hpp"
#include "focus/server.hpp"
#include "signaling/message/uri.hpp"

namespace chorus::focus {

using sip::Message;

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

std::optional<RemoteControlBody> parse_remote_control_body(std::string_view body,
                                                           std::string* error) {
  const auto fail = [&](std::string_view why) -> std::optional<RemoteControlBody> {
    if (error != nullptr) *error = std::string(why);
    return std::nullopt;
  };
  body = trim(body.substr(0, body.find_first_of("\r\n")));  // one record
  RemoteControlBody out;
  std::string_view* fields[] = {&out.call_id, &out.tag_a, &out.tag_b};
  for (std::string_view* field : fields) {
    const size_t cut = body.find_first_of(";,");
    *field = trim(body.substr(0, cut));
    body = cut == std::string_view::npos ? std::string_view{} : body.substr(cut + 1);
    if (field->empty()) return fail("it needs Call-ID, From tag and To tag");
  }
  const size_t cut = body.find_first_of(";,");
  const std::string_view code = trim(body.substr(0, cut));
  if (!code.empty()) {
    int value = 0;
    const auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), value);
    if (ec != std::errc() || end != code.data() + code.size() || value < 300 || value > 699) {
      return fail("the reason code must be a SIP status 300-699");
    }
    out.code = value;
    if (cut != std::string_view::npos) out.text = trim(body.substr(cut + 1));
    // The text goes into a quoted Reason parameter: no quotes, no controls.
    for (const char c : out.text) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\' || u < 0x20 || u == 0x7f) {
        return fail("the reason text may not hold quotes, backslashes or control characters");
      }
    }
  }
  return out;
}

void Server::handle_remote_control(const sip::ServerTransaction& tx) {
  const Message& request = tx.request();
  const std::string method(request.method_text());
  const std::string tag = random_.tag();
  const bool pickup = method == "PICKUP";
  const bool reject = method == "REJECT";
  const Operation operation = pickup   ? Operation::kRemotePickup
                              : reject ? Operation::kRemoteReject
                                       : Operation::kRemoteAnswer;
  const std::string_view type = request.content_type();
  if (!sip::iequals(trim(type.substr(0, type.find(';'))), "text/csv")) {
    Message response = sip::make_response(request, 415, "Unsupported Media Type", tag);
    response.set_header("Accept", "text/csv");
    tx.respond(std::move(response));
    return;
  }
  std::string error;
  const std::optional<RemoteControlBody> body = parse_remote_control_body(request.body(), &error);
  if (!body) {
    tx.respond(400, reason_text("Bad " + method + " Body", error), tag);
    return;
  }
  // The picker's Contact: where PICKUP sends the call (so it dials out).
  std::string picker;
  if (pickup) {
    const auto contacts = request.contacts();
    const auto uri = contacts.empty() ? std::nullopt : sip::parse_uri(contacts.front().uri_text);
    if (!uri || !uri->is_sip()) {
      tx.respond(400, "PICKUP Needs A SIP Contact", tag);
      return;
    }
    picker = sip::request_target(*uri);
  }
  // Authorised before the lookup: a stranger learns nothing of the calls.
  // What a REJECT does shows only after it: refusing a waiting caller is the
  // admission decision (moderate), ending a member's call or a ringing
  // dial-out is a removal (remove, as kick and call:terminate); either
  // right gets past here and the one that applies is checked below.
  const std::optional<std::string> user =
      pickup   ? authorize_dial(tx, operation, picker)
      : reject ? authorize_any(tx, {operation, Operation::kRemoteRejectCall})
               : authorize(tx, operation);
  if (!user) return;

  const std::string call_id(body->call_id);
  const NamedCall named = find_by_ids(call_id, body->tag_a, body->tag_b);
  Call* member = named.member;
  Call* ringing = named.ringing;
  if (member == nullptr && ringing == nullptr) {
    tx.respond(481, "Call Does Not Exist", tag);
    return;
  }
  const Call& target = member != nullptr ? *member : *ringing;
  const LogContext context(call_id, target.room());
  spdlog::info("{} from {} on {} ({})", method, user->empty() ? "a trusted source" : *user,
               target.roster.entity,
               ringing != nullptr ? "ringing dial-out"
               : member->roster.waiting ? "waiting caller"
                                        : "member");

  if (method == "ANSWER") {
    if (member == nullptr || !member->roster.waiting) {
      tx.respond(481, "Call Is Not Waiting", tag);
      return;
    }
    tx.respond(200, "OK", tag);
    admit_waiting(*member);
    return;
  }
  const int code = body->code != 0 ? body->code : (pickup ? 302 : 603);
  const std::string text = body->text.empty()
                               ? std::string(pickup ? "picked up" : "rejected by a controller")
                               : std::string(body->text);
  if (pickup) {
    // PICKUP of a ringing call makes the focus INVITE a URI of the
    // requester's: a new call, held to what a REFER dial-out is (the
    // overload budget, the account's call cap, and the reflection budget
    // of the address the INVITE really goes to: a maddr, RFC 3261
    // §19.1.1, not the host). The call it replaces gives its place back
    // once its CANCEL is answered.
    if (ringing != nullptr) {
      if (refuse_overload(tx)) return;
      if (!user->empty() && !guard_.may_add_call("account:" + *user)) {
        reply_limited(tx, "Too Many Calls From This Source", 5);
        return;
      }
      if (refuse_reflection(tx, first_hop_host({}, *sip::parse_uri(picker)))) return;
    }
    tx.respond(200, "OK", tag);
    pick_up(member != nullptr ? *member : *ringing, picker, *user, source_of(tx), source_proven(tx),
            code >= 300 && code < 400 ? code : 302, text);
    return;
  }
  const Operation rejecting = ringing == nullptr && member->roster.waiting
                                  ? Operation::kRemoteReject
                                  : Operation::kRemoteRejectCall;
  if (!user->empty() && !digest_->has_right(*user, privilege(rejecting).right)) {
    spdlog::info("{} refused: account {} lacks the {} right", privilege(rejecting).name, *user,
                 privilege(rejecting).right);
    tx.respond(403,
               reason_text("Forbidden", "account lacks the " +
                                            std::string(privilege(rejecting).right) + " right"),
               tag);
    return;
  }
  tx.respond(200, "OK", tag);
  if (ringing != nullptr) {
    cancel_dial_out(*ringing);
  } else if (member->roster.waiting) {
    refuse_waiting(*member, code >= 400 ? code : 603, {}, text);  // the code's own phrase
  } else {
    end_call(sip::DialogId(member->id()), /*send_bye=*/true);
  }
}

void Server::pick_up(Call& call, const std::string& target, const std::string& account,
                     const std::string& source, bool source_proven, int status,
                     std::string_view why) {
  if (dialing_.contains(call.id())) {
    // A dial-out still ringing: CANCEL it and call the picker in instead.
    DialOut out;
    out.room = call.room();
    out.target = target;
    out.account = account;
    out.source = source;
    out.source_proven = source_proven;
    // Checked by both callers (handle_remote_control, Server::pickup).
    if (!account.empty()) out.limit_key = "account:" + account;
    cancel_dial_out(call);
    start_dial_out(std::move(out));
    return;
  }
  if (call.roster.waiting) {
    // Redirected to the picker (RFC 3261 §21.3.3), saying why.
    refuse_waiting(call, status, "Moved Temporarily", why, target);
    return;
  }
  transfer_member(call, target);
}

ControlResult Server::pickup(std::string_view room, uint64_t member, std::string_view uri,
                             std::string_view account) {
  const auto parsed = sip::parse_uri(uri);
  if (!parsed || !parsed->is_sip()) return {400, "a sip: or sips: URI is needed"};
  Call* call = find_member(room, member);
  if (call == nullptr) call = find_ringing(room, member);
  if (call == nullptr) return {404, "no such member"};
  // Only a ringing dial-out makes the focus place a call: the account's
  // dial-out patterns decide where (the operator's token: anywhere).
  const bool dials = call->sip.outbound && dialing_.contains(call->id());
  if (dials && !account.empty() && !dial_out_allowed(account, uri)) {
    return {403, "outside the account's dial-out patterns"};
  }
  // The call it places passes what the admin dial does (Server::dial_out):
  // the call and transaction budgets, and for an account the reflection
  // budget of the first hop (a maddr, not the host) and, as its PICKUP
  // over SIP would, the account's call cap.
  // An authenticated account (never an address a reply could go back to).
  const std::string source = account.empty() ? std::string() : "account:" + std::string(account);
  if (dials) {
    std::string why;
    if (guard_.overloaded(rooms_.call_count() + dialing_.size(),
                          stack_.transactions().pending_server(),
                          /*exempt_source=*/true, &why)) {
      guard_.log("overload-" + why, account.empty() ? "admin" : std::string(account));
      return {503, "overloaded (" + why + "): try again later"};
    }
    if (!source.empty() && !guard_.may_add_call(source)) {
      return {429, "too many calls for this account: try again later"};
    }
    if (!source.empty() &&
        !guard_.may_reflect(source, first_hop_host({}, *parsed), /*source_proven=*/true)) {
      return {429, "too many calls toward that destination: try again later"};
    }
  }
  const std::string done = call->roster.waiting || dials ? "picked up" : "transferred";
  pick_up(*call, std::string(uri), std::string(account), source, /*source_proven=*/true, 302,
          "picked up by an operator");
  return {200, done};  // `call` may be gone now
}

uint32_t Server::transfer_member(Call& call, std::string_view target,
                                 sip::ClientCallback on_response) {
  // RFC 3515: the member is asked to call `target`. Without a handler no
  // subscription is asked for (RFC 4488): its phone ends our dialog with BYE
  // once transferred, and NOTIFYs that come anyway are answered 200.
  sip::Dialog* dialog = dialogs_.find(call.id());
  if (dialog == nullptr || !dialog->confirmed()) return 0;
  Message refer = dialog->make_request(sip::Method::kRefer);
  refer.set_header("Refer-To", "<" + std::string(target) + ">");
  refer.set_header("Referred-By", "<" + conference_uri(call.room()) + ">");
  if (!on_response) {
    refer.set_header("Refer-Sub", "false");
    on_response = [](const sip::ClientEvent&) {};
  }
  const uint32_t cseq = refer.cseq().number;
  // No next hop: nothing will ever answer, so the caller hears it now.
  if (stack_.send_request(std::move(refer), std::move(on_response)) == 0) return 0;
  return cseq;
}

}  // namespace chorus::focus
