#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/dialog/dialog.hpp"
#include "signaling/dialog/dialog_random.hpp"
#include "signaling/dialog/dialog_usage.hpp"
#include "signaling/message/message.hpp"
#include "signaling/dialog/session_timer.hpp"

namespace chorus::sip {

enum class InviteState : uint8_t { kEarly, kConfirmed, kTerminated };

// RFC 3264 offer/answer as carried by INVITE/UPDATE (RFC 3261 §13.2.1,
// RFC 3311 §5, RFC 6337): who owes the next answer.
enum class OfferState : uint8_t {
  kStable,       // no offer outstanding
  kLocalOffer,   // we sent an offer, the answer has not arrived
  kRemoteOffer,  // the peer sent an offer, we have not answered
};

// What to do with a request received on the INVITE usage.
struct InviteRequestOutcome {
  // Answered here (491, 500 + Retry-After, 422, 200 to BYE, 481): send it.
  std::optional<Message> response;
  // Hand the request to the application, which answers through respond().
  bool deliver = false;
  // ACK for our 2xx arrived: stop retransmitting it.
  bool ack_received = false;
  // That ACK should have answered the offer in our 2xx and did not.
  bool ack_without_answer = false;
  // The session ended (BYE).
  bool terminated = false;
  // A peer re-INVITE still pending when the BYE arrived gets 487 (§15.1.2).
  std::optional<Message> pending_invite_response;
  // BYE with Config::bye_ends_dialog: final NOTIFYs of the dialog's
  // subscriptions, to send after the 200.
  std::vector<Message> final_notifies;
};

// What a response to one of our requests on the usage means.
struct InviteResponseOutcome {
  std::optional<Message> ack;  // ACK for a 2xx to INVITE (send it, also for retransmitted 2xx)
  std::optional<TimePoint> retry_at;  // glare (491, §14.1) or 422: re-send the request then
  bool offer_received = false;        // a 2xx to our offer-less INVITE carried an offer: put the
                                      // answer into `ack` before sending it (§13.2.1)
  bool answer_received = false;       // our offer was answered (2xx body)
  bool rejected = false;              // the re-INVITE/UPDATE failed; the session is unchanged
  bool terminated = false;            // the session ended (non-2xx to the initial INVITE, 481, 408)
  std::optional<Message> bye;         // §14.1: after 408 to a re-INVITE, send this BYE
  // Our refresh UPDATE was refused as unsupported (405/501): refresh with a
  // re-INVITE now (and from now on, on_deadline() reports session_refresh_due).
  bool refresh_by_reinvite = false;
};

// The INVITE usage of a dialog (RFC 3261 §13-§15, RFC 3311 UPDATE, RFC 4028
// session timers): states, offer/answer, re-INVITE glare, BYE. I/O-free: it
// reads requests/responses, returns messages and deadlines.
class InviteSession final : public DialogUsage {
 public:
  struct Config {
    SessionTimerConfig session_timer;
    // Refresh the session with an offer-less UPDATE (RFC 4028 §7.4) when we
    // are the refresher; if false, on_deadline() reports
    // session_refresh_due and the application sends a re-INVITE.
    bool refresh_with_update = true;
    // BYE ends the whole dialog: subscriptions sharing it (e.g. an in-dialog
    // conference SUBSCRIBE) get a final NOTIFY "terminated;reason=noresource".
    // RFC 5057 §5.4 lets them outlive the INVITE usage; false keeps them.
    bool bye_ends_dialog = true;
  };

  // UAS: the initial INVITE we received is pending; the application answers
  // it with respond(). Session-timer policy is applied at once: if it
  // demands a 422, initial_rejected_by_timer() is true and respond() with 422
  // carries the Min-SE.
  static std::unique_ptr<InviteSession> create_uas(const Message& initial_invite,
                                                   const Config& config);
  // UAC: `initial_invite` is the INVITE we sent (built by the application;
  // add_session_timer_request_headers() if it wants timers).
  static std::unique_ptr<InviteSession> create_uac(const Message& initial_invite,
                                                   const Config& config);

  UsageKind kind() const override { return UsageKind::kInviteSession; }
  bool terminated() const override { return state_ == InviteState::kTerminated; }
  std::optional<TimePoint> next_deadline() const override;
  void on_deadline(Dialog& dialog, TimePoint now, DeadlineActions& out) override;
  void terminate() override;

  InviteState state() const { return state_; }
  OfferState offer_state() const { return offer_state_; }
  DialogRole role() const { return role_; }
  const SessionTimer& session_timer() const { return timer_; }
  // UAS: a 422 the initial INVITE must get instead of being delivered.
  const std::optional<SessionTimerUasDecision>& pending_timer_decision() const {
    return uas_timer_;
  }
  bool initial_rejected_by_timer() const { return uas_timer_ && uas_timer_->reject; }
  // Our re-INVITE / the peer's re-INVITE is in progress.
  bool local_invite_pending() const { return uac_invite_cseq_.has_value(); }
  bool remote_invite_pending() const { return uas_invite_.has_value(); }

  // --- UAS: requests from the peer (after Dialog::check_request accepted them).
  InviteRequestOutcome on_request(Dialog& dialog, const Message& request, TimePoint now,
                                  DialogRandom& random);
  // The application's answer to a delivered INVITE/UPDATE (or any request on
  // this usage). `sdp` non-empty = an application/sdp body (an answer or, in
  // a 2xx to an offer-less INVITE, an offer). Confirms the dialog on 2xx to
  // INVITE, applies session timers, and ends the session on a failure of the
  // initial INVITE.
  Message respond(Dialog& dialog, const Message& request, int status, std::string_view reason = {},
                  std::string_view sdp = {}, TimePoint now = TimePoint{});

  // --- UAC: requests we send.
  // re-INVITE (§14.1), with an offer if `sdp` is non-empty. Asserts no INVITE
  // of ours is pending (check local_invite_pending()).
  Message make_reinvite(Dialog& dialog, std::string_view sdp = {});
  // UPDATE (RFC 3311), with an offer if `sdp` is non-empty.
  Message make_update(Dialog& dialog, std::string_view sdp = {});
  // A 2xx to our offer-less INVITE carried an offer (offer_received) and our
  // ACK now carries the answer (§13.2.1): the offer/answer is complete.
  void answered_in_ack();
  // BYE (§15.1.1): the session is over as soon as it is sent.
  Message make_bye(Dialog& dialog);
  // A response to INVITE/UPDATE/BYE we sent on this usage (the dialog has
  // not seen it yet: this calls Dialog::on_response).
  InviteResponseOutcome on_response(Dialog& dialog, const Message& response, TimePoint now,
                                    DialogRandom& random);

 private:
  InviteSession() = default;
  InviteResponseOutcome handle_response(Dialog& dialog, const Message& response, TimePoint now,
                                        DialogRandom& random, InviteState before);
  void start_timer_from_uac_result(const Message& response, uint32_t requested, TimePoint now);

  DialogRole role_ = DialogRole::kUas;
  InviteState state_ = InviteState::kEarly;
  OfferState offer_state_ = OfferState::kStable;
  Config config_;
  // UAS: the peer's INVITE awaiting our final response (initial or re-INVITE).
  std::optional<Message> uas_invite_;
  bool uas_invite_had_offer_ = false;
  std::optional<SessionTimerUasDecision> uas_timer_;
  // UAS: CSeq of the INVITE whose 2xx awaits its ACK.
  std::optional<uint32_t> awaiting_ack_cseq_;
  // UAC: CSeq of our INVITE in progress, and of the last one that got a 2xx
  // (to ACK retransmitted 2xx).
  std::optional<uint32_t> uac_invite_cseq_;
  std::optional<uint32_t> uac_acked_cseq_;
  bool uac_invite_had_offer_ = false;
  std::optional<uint32_t> uac_update_cseq_;
  bool uac_update_had_offer_ = false;
  uint32_t requested_interval_ = 0;
  bool update_unsupported_ = false;
  uint32_t interval_floor_ = 0;  // the Min-SE of a 422 to our refresh
  std::optional<TimePoint> retry_at_;
  SessionTimer timer_;
};

// True if the message body is an SDP (Content-Type application/sdp).
bool has_sdp(const Message& message);

}  // namespace chorus::sip
