#pragma once
// One member's call, in three parts with one owner each:
// - SipLeg: the dialog's call-control state (pending transactions, timers,
//   the dial-out's INVITE and ACK, Replaces in progress). Written only by the
//   call-control code (focus/server.cpp, focus/services/).
// - MediaLeg: what the focus asked of the media engine for this call and
//   what the shard confirmed (conference, participant, port, codec, keys,
//   mixer settings, the command still awaiting its completion). Written only
//   by focus/rooms/media_session.cpp and the engine-event handler.
// - RosterEntry: the member as the room publishes it (RFC 4575 user and
//   endpoint: id, role, talking, statistics, PIN entry). Written by the room
//   logic (admission, Control actions, DTMF keys).
// The Room that holds the call owns it (focus/rooms/room.hpp).

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "focus/events/conference_state.hpp"
#include "focus/events/relay_binding.hpp"
#include "mixer/command.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/message/message.hpp"
#include "signaling/sdp/offer_answer.hpp"
#include "signaling/sdp/sdp_session.hpp"
#include "signaling/stack.hpp"

namespace chorus::focus {

// Where progress of a referred INVITE is reported (RFC 3515 §2.4.5).
struct Referral {
  sip::DialogId dialog;
  std::string event_id;  // the refer subscription's id (CSeq of the REFER)
};

struct SipLeg {
  sip::DialogId id;
  // While the call lives its messages reach the room's message/sip
  // subscribers (EventService::bind_call).
  RelayBinding relay;
  sip::TransportKind transport = sip::TransportKind::kUdp;
  std::string remote_tag;
  // The INVITE waiting for the shard's port, and whether its ring time is over.
  std::optional<sip::ServerTransaction> pending;
  bool ring_done = true;
  std::optional<sip::ServerTransaction> ringing;
  sip::TimerId ring_timer = 0;
  // Answered but still keying the room's PIN: the deadline for it
  // (Server::arm_pin_timer), cancelled once the PIN is right.
  sip::TimerId pin_timer = 0;
  // A re-INVITE / UPDATE whose answer waits for the shard (codec change).
  std::optional<sip::ServerTransaction> pending_reoffer;
  // That re-INVITE was CANCELled (487): its codec change is undone when the
  // shard completes it (Server::on_codec_result).
  bool reoffer_cancelled = false;
  // The dialog's sip::InviteSession (the INVITE usage: re-INVITE, UPDATE,
  // glare, RFC 4028 timers) keeps its state; this timer fires at its next
  // deadline (refresh, expiry, glare retry). focus/rooms/invite_usage.cpp.
  sip::TimerId session_deadline = 0;
  // Dial-out (REFER, admin): the INVITE we sent and the referrer to tell.
  bool outbound = false;
  std::optional<Referral> referral;
  sip::TransactionId invite_tx = 0;
  std::optional<sip::Message> invite;
  std::optional<sip::Message> ack;  // sent once the answer's port is known
  bool provisional_seen = false;
  // A ringing dial-out's early dialogs: the To tags of its provisionals
  // (one per fork, RFC 3261 §12.1.2), at most kMaxEarlyDialogs.
  std::vector<std::string> early_remote_tags;
  static constexpr size_t kMaxEarlyDialogs = 8;
  // The dialog this call takes over (Replaces): BYE'd once this one is up.
  std::optional<sip::DialogId> replaces;
  // Dial-out: the account that authorised it ("" : the operator's token or
  // a trusted service source), the requester's address (reflection budget)
  // and whether its connection proved it (Server::source_proven), and
  // whether its one 3xx has been followed (services/dial_out.cpp).
  std::string dial_account;
  std::string dial_source;
  bool dial_source_proven = false;
  bool redirected = false;
  // Dial-out: options.dial_timeout, after which it is CANCELled; stopped
  // when the call leaves dialing_ (answered, refused, shut down).
  sip::TimerId dial_timer = 0;
  bool cancelling = false;   // stopped while ringing (kick, terminate, REFER BYE)
  bool cancel_sent = false;  // its CANCEL left (else it waits for a provisional, §9.1)
  // Whose per-source call cap this call counts against ("" : none).
  std::string limit_key;
};

struct MediaLeg {
  explicit MediaLeg(sdp::LocalCapabilities caps) : offer_answer(std::move(caps)) {}

  sdp::OfferAnswer offer_answer;
  sdp::Session local_session;
  size_t media_index = 0;
  bool rtcp_mux = false;
  std::string local_sdp;
  // The offer of our own re-INVITE (session refresh), ours once answered.
  std::string offered_sdp;
  mixer::ConferenceId conference = 0;
  mixer::ParticipantId participant = 0;
  uint16_t rtp_port = 0;  // 0 until the shard reports it
  mixer::ParticipantSettings settings;
  // Hold has two sources (RFC 3264 §6.1, README "Who hears what"): the
  // member's SDP (sendonly, inactive, c=0.0.0.0: it takes no media, so the
  // focus sends it no RTP and mixes none of its audio: kInactive) and the
  // focus's own hold (admin hold, call:hold; parked calls), which plays
  // music on hold. settings.hold is effective_hold() of the two.
  mixer::HoldMode peer_hold = mixer::HoldMode::kNone;
  bool focus_hold = false;
  std::string codec;
  uint32_t clock_rate = 0;
  // Our SRTP key, reused in every later answer so the shard's outbound
  // context stays valid (RFC 4568 §7.1.4).
  std::vector<sdp::LocalKey> srtp_keys;
  // The peer's SDES key in use (empty: plain RTP), to spot a re-key.
  std::vector<uint8_t> remote_srtp_key;
  // The add and the codec change still waiting for their completion.
  mixer::CommandId pending_add = 0;
  mixer::CommandId pending_codec = 0;
  // What the shard's stream format (codec, payload types) was last built
  // from, and before pending_codec, the one it replaces: switching back
  // needs the whole of it, not just the codec's name.
  std::optional<sdp::Negotiated> format;
  std::optional<sdp::Negotiated> previous_format;
  // pending_codec switches back to `format` after a cancelled re-INVITE:
  // its failure leaves the call as it is.
  bool codec_revert = false;
  // A move to another room (services/move.cpp) waiting for the shard: the
  // room it goes to, and the referrer to tell how it ended.
  mixer::CommandId pending_move = 0;
  std::string move_target;
  std::optional<Referral> move_referral;
  // What a pending codec change replaces, restored if the shard refuses it,
  // and the rest of the re-offer, applied once the shard takes the codec.
  std::optional<sdp::OfferAnswer> previous_offer_answer;
  std::string previous_codec;
  uint32_t previous_clock_rate = 0;
  std::string previous_local_sdp;
  std::optional<sdp::Negotiated> pending_negotiated;
};

struct RosterEntry {
  uint64_t member = 0;  // roster id: survives Replaces
  std::string room;
  std::string entity;   // the member's URI
  std::string display;  // its display name
  int64_t joined_at = std::time(nullptr);  // RFC 4575 §5.6.6 joining-info
  std::string joined_by;                   // a dial-out's referrer
  bool hidden = false;  // a service call (music on hold, park): not a member
  // Held by the music-on-hold or park service: hears music, heard by none,
  // until a retrieval (park) lifts it.
  bool parked = false;
  // A park retrieval: the parked call this one talks to, taken off hold
  // once this call is answered.
  std::optional<sip::DialogId> unpark;
  MemberRole role = MemberRole::kParticipant;
  // The member id a whisperer is heard by; for a supervisor who joined by
  // Join, the joined member in every role (its *2 key whispers to it).
  uint64_t whisper_target = 0;
  // Dialled a sidebar URI (sip:<room>@host;sidebar=<id>, README
  // "Sidebars") or joined (RFC 3911) a member of one: the sidebar it joins
  // with its media (the main room when it is gone by then).
  uint32_t join_sidebar = 0;
  bool talking = false;
  int level = -127;
  double loss_fraction = 0;  // RFC 3550 fraction lost, last report
  double jitter_ms = 0;
  double jitter_buffer_ms = 0;  // mean time a played packet waited in the jitter buffer
  uint32_t ssrc = 0;
  // The account that authorised a supervisor join: DTMF role keys are
  // honoured only within that account's rights.
  std::string auth_user;
  // Waiting room: the call waits unanswered (its INVITE in SipLeg::ringing)
  // until admitted, refused or waiting_until; music as early media or none.
  bool waiting = false;
  bool waiting_music = true;
  bool waiting_ignored = false;  // call:ignore: left to time out, off the conference package
  sip::TimePoint waiting_until{};
  // PIN collection by DTMF (RFC 4733 or in-band) before joining the mix,
  // until pin_deadline (set once answered; a Replaces keeps it).
  bool awaiting_pin = false;
  std::optional<sip::TimePoint> pin_deadline;
  std::string digits;
  int pin_failures = 0;
};

struct Call {
  explicit Call(sdp::LocalCapabilities caps) : media(std::move(caps)) {}

  SipLeg sip;
  MediaLeg media;
  RosterEntry roster;

  const sip::DialogId& id() const { return sip.id; }
  const std::string& room() const { return roster.room; }
  uint64_t member() const { return roster.member; }
  // What the shard applies: the member's own hold wins (it takes no media);
  // else the focus's hold (or parking) plays music on hold.
  mixer::HoldMode effective_hold() const {
    if (roster.waiting) {
      return roster.waiting_music ? mixer::HoldMode::kMusic : mixer::HoldMode::kInactive;
    }
    if (media.peer_hold != mixer::HoldMode::kNone) return mixer::HoldMode::kInactive;
    if (media.focus_hold || roster.parked) return mixer::HoldMode::kMusic;
    return mixer::HoldMode::kNone;
  }
  // Heard by the room (ARCHITECTURE.md roles): keeps the room alive.
  bool visible() const {
    return !roster.hidden &&
           (roster.role == MemberRole::kParticipant || roster.role == MemberRole::kBarge);
  }
};

mixer::Role to_mixer_role(MemberRole role);

}  // namespace chorus::focus
