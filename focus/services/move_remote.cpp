// Moving a member to a room on another node (issue #17, README "Moving
// members"). Behind the cluster front (deploy/kamailio hashes the room name
// over the nodes) room B may live elsewhere: when `cluster.front` is set and
// this node holds no room B, the focus acts as transferor (RFC 5589 §6)
// instead of opening B here:
//
//   focus → member   REFER  Refer-To: <sip:B@front>       (in the member's dialog;
//                                  ;grant=… from a moderator, else ;pin=… if given)
//   member → front   INVITE sip:B@front  → B's node
//   member → focus   NOTIFY Event: refer;id=N  "SIP/2.0 200 OK" (message/sipfrag)
//   focus → member   BYE                                   (the member has left A)
//
// A rejected REFER, a failure sipfrag, a subscription ended without a final
// status, or no outcome within cluster.transfer_timeout leave the member in
// room A: the mover hears the failure (its REFER's final NOTIFY, or the admin
// event "move_failed"). A 2xx sipfrag that comes after the timeout (room B's
// waiting room admitted the member late) still ends the call here: the
// member is in room B, and must not keep a place in A. Only a move that
// passed refuse_move() gets here; one transfer per call at a time
// (refuse_move: 491) and kMaxRemoteMoves in all.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "focus/ops/log.hpp"
#include "focus/server.hpp"
#include "signaling/message/header_event.hpp"
#include "signaling/usage/sipfrag.hpp"

namespace chorus::focus {

namespace {

// A PIN as a URI parameter value (RFC 3261 §25.1 paramchar): anything but
// letters and digits escaped.
std::string escape_param(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// RFC 3515 §2.4.6: the NOTIFY's Event is "refer;id=<our REFER's CSeq>" (the
// id may be left out when the dialog saw one REFER only).
bool reports_refer(std::string_view value, uint32_t cseq) {
  const std::optional<sip::Event> event = sip::parse_event(value);
  if (!event || !sip::iequals(event->package, "refer")) return false;
  return event->id().empty() || event->id() == std::to_string(cseq);
}

// The status a NOTIFY's message/sipfrag body reports (RFC 3515 §2.4.5).
std::optional<sip::SipfragStatus> reported_status(const sip::Message& notify) {
  if (!sip::is_sipfrag_content_type(notify.content_type())) return std::nullopt;
  return sip::parse_sipfrag_status(notify.body());
}

uint64_t unix_seconds() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

bool Server::redeem_grant(const sip::ServerTransaction& tx, std::string_view room) {
  const auto grant = tx.request().request_uri().param("grant");
  if (!grant) return false;
  const MoveGrants::Check verdict = grants_.redeem(*grant, room, unix_seconds());
  const LogContext context(tx.request().call_id(), room);
  if (verdict == MoveGrants::Check::kValid) {
    spdlog::info(
        "{} moved here by a moderator on another node: past the PIN, member limit and "
        "waiting room (grant)",
        tx.request().from().uri.to_string());
    return true;
  }
  // Never the grant itself: until it expires it is a pass.
  spdlog::info("{}: grant ignored ({}); treated as any dial-in",
               tx.request().from().uri.to_string(), check_name(verdict));
  return false;
}

bool Server::moves_remotely(std::string_view to) const {
  return !options_.cluster_front.empty() && rooms_.find(to) == nullptr && !is_service_room(to);
}

ControlResult Server::start_remote_move(Call& call, const std::string& to,
                                        const std::optional<std::string>& pin, bool privileged,
                                        std::optional<Referral> referral) {
  if (remote_moves_.size() >= kMaxRemoteMoves) {
    return {503, "too many transfers to other nodes under way; try again"};
  }
  // The plain URI of room B in the cluster's domain (no Replaces: the member
  // makes a new call there). A privileged mover's pass travels as a grant
  // signed with cluster.secret (move_grant.hpp), valid for B only until the
  // transfer times out; otherwise a PIN the mover gave travels, so B's node
  // admits the member as it admitted the mover's request here.
  std::string target = front_uri(to);
  if (target.empty()) return {500, "cluster.front does not parse"};
  if (privileged && grants_.enabled()) {
    const auto timeout =
        std::chrono::ceil<std::chrono::seconds>(options_.cluster_transfer_timeout).count();
    target += ";grant=" + grants_.make(to, unix_seconds() + static_cast<uint64_t>(timeout));
  } else {
    if (privileged && !warned_no_secret_) {
      warned_no_secret_ = true;
      spdlog::warn(
          "cluster.secret is unset: a moderator's move to another node carries no grant, so "
          "room B's node applies its PIN (asked by DTMF), member limit and waiting room");
    }
    if (pin) target += ";pin=" + escape_param(*pin);
  }
  const sip::DialogId id = call.id();
  // A send that fails at once (no flow to a WebSocket member, a socket
  // error) reports before transfer_member returns, so before this move is
  // in remote_moves_: the outcome waits here, and the mover hears it now
  // rather than after cluster.transfer_timeout. `cseq` tells this REFER's
  // outcome from a late one of an earlier REFER in the same dialog.
  struct Attempt {
    uint32_t cseq = 0;
    std::optional<int> early_status;
  };
  const auto attempt = std::make_shared<Attempt>();
  const uint32_t cseq =
      transfer_member(call, target, [this, id, attempt](const sip::ClientEvent& event) {
        int status = 0;
        std::string reason;
        if (event.kind == sip::ClientEvent::Kind::kTimeout) {
          status = 408;
          reason = "Request Timeout";
        } else if (event.kind == sip::ClientEvent::Kind::kTransportError) {
          status = 503;
          reason = "Service Unavailable";
        } else if (event.response != nullptr && event.response->status() >= 300) {
          // The member refused the REFER (RFC 3515 §2.4.2): it stays in room A.
          status = event.response->status();
          reason = event.response->reason_phrase();
        }
        if (status == 0) return;
        if (attempt->cseq == 0) {
          attempt->early_status = status;
          return;
        }
        const auto it = remote_moves_.find(id);
        if (it == remote_moves_.end() || it->second.refer_cseq != attempt->cseq) return;
        finish_remote_move(id, status, reason);
      });
  if (cseq == 0) return {409, "the member's dialog cannot take a REFER"};
  if (attempt->early_status) {
    const LogContext context(call.id().call_id, call.room());
    spdlog::warn("member {}: the REFER to room {} on another node could not be sent ({})",
                 call.member(), to, *attempt->early_status);
    return {503, "the member could not be reached; it stays in " + call.room()};
  }
  attempt->cseq = cseq;
  RemoteMove move;
  move.to = to;
  move.referral = std::move(referral);
  move.refer_cseq = cseq;
  move.timer = stack_.timers().start(options_.cluster_transfer_timeout, [this, id] {
    const auto it = remote_moves_.find(id);
    if (it == remote_moves_.end()) return;
    it->second.timer = 0;
    remember_late_move(id, it->second);
    finish_remote_move(id, 408, "Request Timeout");
  });
  remote_moves_[id] = std::move(move);
  {
    const LogContext context(call.id().call_id, call.room());
    spdlog::info("member {} referred to room {} on another node ({})", call.member(), to,
                 options_.cluster_front);
  }
  return {202, "transferring to " + to + " on another node"};
}

bool Server::on_transfer_notify(const sip::ServerTransaction& tx, sip::Dialog& dialog) {
  const auto it = remote_moves_.find(dialog.id());
  const sip::Message& notify = tx.request();
  if (it == remote_moves_.end() ||
      !reports_refer(notify.header("Event").value_or(""), it->second.refer_cseq)) {
    return on_late_transfer_notify(tx, dialog);
  }
  tx.respond(dialog.make_response(notify, 200));
  const std::optional<sip::SipfragStatus> frag = reported_status(notify);
  const sip::DialogId id = dialog.id();
  if (frag && frag->status >= 200) {
    finish_remote_move(id, frag->status, frag->reason);
    return true;
  }
  // RFC 6665 §4.1.3: a subscription ended without a final status reported
  // no success.
  const auto state =
      sip::parse_subscription_state(notify.header("Subscription-State").value_or(""));
  if (state && state->is_terminated()) {
    finish_remote_move(id, 503, "Transfer Ended Without Outcome");
  }
  return true;
}

void Server::remember_late_move(const sip::DialogId& id, const RemoteMove& move) {
  const sip::TimePoint now = stack_.timers().now();
  std::erase_if(late_remote_moves_, [&](const auto& late) { return late.second.expires <= now; });
  if (late_remote_moves_.size() >= kMaxRemoteMoves && !late_remote_moves_.contains(id)) {
    // Full: the one closest to its expiry goes, the least likely to report.
    late_remote_moves_.erase(std::min_element(
        late_remote_moves_.begin(), late_remote_moves_.end(),
        [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; }));
  }
  // A member that reached room B before the timeout waits there at most
  // B's waiting_timeout (the same [[room]] on every node of a cluster).
  const RoomPolicy* policy = policy_for(move.to);
  const std::chrono::seconds window =
      policy != nullptr ? policy->waiting_timeout : RoomPolicy{}.waiting_timeout;
  late_remote_moves_[id] = LateRemoteMove{move.to, move.refer_cseq, now + window};
}

bool Server::on_late_transfer_notify(const sip::ServerTransaction& tx, sip::Dialog& dialog) {
  const auto it = late_remote_moves_.find(dialog.id());
  if (it == late_remote_moves_.end()) return false;
  if (it->second.expires <= stack_.timers().now()) {
    late_remote_moves_.erase(it);
    return false;
  }
  const sip::Message& notify = tx.request();
  if (!reports_refer(notify.header("Event").value_or(""), it->second.refer_cseq)) return false;
  tx.respond(dialog.make_response(notify, 200));
  const std::optional<sip::SipfragStatus> frag = reported_status(notify);
  const auto state =
      sip::parse_subscription_state(notify.header("Subscription-State").value_or(""));
  const bool decided = frag && frag->status >= 200;
  if (!decided && !(state && state->is_terminated())) return true;  // still trying
  const LateRemoteMove late = std::move(it->second);
  late_remote_moves_.erase(it);
  // A failure now changes nothing: the member stayed, and was told so.
  if (!decided || frag->status >= 300) return true;
  const sip::DialogId id = dialog.id();
  if (const Call* call = rooms_.find_call(id)) {
    const LogContext context(id.call_id, call->room());
    spdlog::info("member {} reached room {} on another node after the transfer timed out",
                 call->member(), late.to);
  }
  // RFC 5589 §6: the transferee is in its new call after all; the
  // transferor ends the old one, and its place in this room with it.
  end_call(id, /*send_bye=*/true);
  return true;
}

void Server::finish_remote_move(const sip::DialogId& id, int status, std::string_view reason) {
  const auto it = remote_moves_.find(id);
  if (it == remote_moves_.end()) return;
  const RemoteMove move = std::move(it->second);
  remote_moves_.erase(it);
  if (move.timer != 0) stack_.timers().cancel(move.timer);
  const bool moved = status >= 200 && status < 300;
  Call* call = rooms_.find_call(id);
  if (call != nullptr) {
    const LogContext context(id.call_id, call->room());
    if (moved) {
      spdlog::info("member {} moved to room {} on another node", call->member(), move.to);
    } else {
      spdlog::warn("member {} did not move to room {} on another node: {} {}", call->member(),
                   move.to, status, reason);
    }
  }
  if (move.referral) {
    if (moved) {
      notify_referrer(*move.referral, 200, "OK");
    } else {
      notify_referrer(*move.referral, status, reason);
    }
  }
  if (call == nullptr) return;  // it hung up meanwhile (end_call)
  if (moved) {
    // RFC 5589 §6: the transferee is in its new call; the transferor ends
    // the old one.
    end_call(id, /*send_bye=*/true);
  } else {
    publish(call->room(), ControlEvent::Kind::kMoveFailed, call->member());
  }
}

}  // namespace chorus::focus
