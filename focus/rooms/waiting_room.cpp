// The waiting room (README "Waiting room"): a dial-in to a room with
// `waiting_room = true` is held in an early dialog until a moderator admits
// it (200) or refuses it, or its time is up (480). While it waits it hears
// music on hold as early media (183 with our SDP; RFC 3261 §13.2.1 lets a
// provisional carry the answer the 2xx repeats) or nothing (180), and
// nobody hears it (the mixer holds it like a parked call). The provisional
// is repeated at least once a minute (RFC 3261 §13.3.1.1) so that proxies
// on the way do not give up on the transaction.

#include <spdlog/spdlog.h>

#include <algorithm>

#include "focus/ops/log.hpp"
#include "focus/rooms/media_setup.hpp"
#include "focus/server.hpp"

namespace chorus::focus {

using sip::Message;

void Server::arm_waiting_timer(Call& call) {
  using std::chrono::milliseconds;
  const auto left =
      std::chrono::duration_cast<milliseconds>(call.roster.waiting_until - stack_.timers().now());
  const milliseconds delay =
      std::clamp(left, milliseconds(0), options_.waiting_provisional_interval);
  const sip::DialogId id = call.id();
  call.sip.ring_timer = stack_.timers().start(delay, [this, id] { on_waiting_timer(id); });
}

void Server::on_waiting_timer(const sip::DialogId& id) {
  Call* call = rooms_.find_call(id);
  if (call == nullptr || !call->roster.waiting || !call->sip.ringing) return;
  call->sip.ring_timer = 0;
  if (stack_.timers().now() >= call->roster.waiting_until) {
    refuse_waiting(*call, 480, "Temporarily Unavailable", "waiting room timed out");
    return;
  }
  send_waiting_provisional(*call);
  arm_waiting_timer(*call);
}

void Server::send_waiting_provisional(Call& call) {
  const sip::Dialog* dialog = dialogs_.find(call.id());
  if (dialog == nullptr || !call.sip.ringing) return;
  // Early media once the shard has bound the port (our SDP names it).
  const bool early_media = call.roster.waiting_music && call.media.rtp_port != 0;
  Message progress =
      sip::make_response(call.sip.ringing->request(), early_media ? 183 : 180,
                         early_media ? "Session Progress" : "Ringing", call.id().local_tag);
  progress.set_header("Contact", dialog->local_contact());
  if (early_media) progress.set_body("application/sdp", call.media.local_sdp);
  call.sip.ringing->respond(with_capabilities(std::move(progress)));
}

void Server::admit_waiting(Call& call) {
  call.roster.waiting = false;
  if (call.sip.ring_timer != 0) stack_.timers().cancel(call.sip.ring_timer);
  call.sip.ring_timer = 0;
  call.sip.ring_done = true;
  {
    const LogContext context(call.id().call_id, call.room());
    spdlog::info("member {} admitted from the waiting room", call.member());
  }
  // Into the mix (unless held for another reason), then the 200.
  call.media.settings.hold = call.effective_hold();
  apply_settings(call);
  announce_join(call);
  if (call.media.rtp_port == 0 || !call.sip.ringing) return;  // answered when the port arrives
  const sip::ServerTransaction invite = *call.sip.ringing;
  call.sip.ringing.reset();
  call.sip.pending.reset();
  pending_invites_.erase(invite.id());
  answer_invite(call, invite);
}

void Server::refuse_waiting(Call& call, int status, std::string_view phrase, std::string_view why,
                            std::string_view redirect) {
  if (!call.sip.ringing) return;
  const sip::ServerTransaction invite = *call.sip.ringing;
  Message response = sip::make_response(invite.request(), status, phrase, call.id().local_tag);
  if (!redirect.empty()) response.set_header("Contact", "<" + std::string(redirect) + ">");
  // RFC 3326: why the caller was not let in.
  response.set_header("Reason",
                      "SIP;cause=" + std::to_string(status) + ";text=\"" + std::string(why) + "\"");
  {
    const LogContext context(call.id().call_id, call.room());
    spdlog::info("member {} leaves the waiting room unanswered: {} ({})", call.member(), status,
                 why);
  }
  invite.respond(std::move(response));
  end_call(sip::DialogId(call.id()), /*send_bye=*/false);
}

ControlResult Server::admit(std::string_view room, uint64_t member) {
  Call* call = find_member(room, member);
  if (call == nullptr) return {404, "no such member"};
  if (!call->roster.waiting) return {409, "member is not in the waiting room"};
  admit_waiting(*call);
  return {200, "admitted"};
}

ControlResult Server::refuse(std::string_view room, uint64_t member) {
  Call* call = find_member(room, member);
  if (call == nullptr) return {404, "no such member"};
  if (!call->roster.waiting) return {409, "member is not in the waiting room"};
  refuse_waiting(*call, 603, "Decline", "refused by a moderator");
  return {200, "refused"};
}

}  // namespace chorus::focus
