#pragma once

// Server internals shared by focus/server*.cpp: one member's call.

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "focus/events/conference_info.hpp"
#include "focus/server.hpp"

namespace chorus::focus {

struct Server::Call {
  sip::DialogId id;
  uint64_t member = 0;  // roster id: survives Replaces
  std::string room;
  sip::TransportKind transport = sip::TransportKind::kUdp;
  uint16_t rtp_port = 0;  // 0 until the shard reports it
  sdp::OfferAnswer media;
  sdp::Session local_session;
  size_t media_index = 0;
  bool rtcp_mux = false;
  std::string local_sdp;
  mixer::ConferenceId conference = 0;
  mixer::ParticipantId participant = 0;
  rtp::StreamId stream = 0;
  mixer::ParticipantSettings settings;
  std::string codec;
  uint32_t clock_rate = 0;
  // Our SRTP key, reused in every later answer so the shard's outbound
  // context stays valid (RFC 4568 §7.1.4).
  std::vector<sdp::LocalKey> srtp_keys;
  // The peer's SDES key in use (empty: plain RTP), to spot a re-key.
  std::vector<uint8_t> remote_srtp_key;
  // The INVITE waiting for the shard's port, and whether its ring time is over.
  std::optional<sip::ServerTransaction> pending;
  bool ring_done = true;
  std::optional<sip::ServerTransaction> ringing;
  sip::TimerId ring_timer = 0;
  // RFC 4028: the negotiated interval ("" if none) and its watchdog.
  std::string session_expires;
  uint32_t session_interval = 0;
  sip::TimerId session_timer = 0;

  // Roster (RFC 4575 user/endpoint).
  std::string entity;   // the member's URI
  std::string display;  // its display name
  std::string remote_tag;
  int64_t joined_at = std::time(nullptr);  // RFC 4575 §5.6.6 joining-info
  std::string joined_by;                   // a dial-out's referrer
  bool outbound = false;                   // dialed out by the focus
  bool hidden = false;                     // a service call (music on hold, park): not a member
  // Held by the music-on-hold or park service: hears music, heard by none,
  // until a retrieval (park) lifts it.
  bool parked = false;
  // A park retrieval: the parked call this one talks to, taken off hold
  // once this call is answered.
  std::optional<sip::DialogId> unpark;
  MemberRole role = MemberRole::kParticipant;
  uint64_t whisper_target = 0;  // member id a whisperer is heard by
  bool talking = false;
  int level = -127;
  double loss_fraction = 0;  // RFC 3550 fraction lost, last report
  double jitter_ms = 0;
  uint32_t ssrc = 0;
  // The account that authorised a supervisor join: DTMF role keys are
  // honoured only within that account's rights.
  std::string auth_user;
  // PIN collection by DTMF (RFC 4733 or in-band) before joining the mix.
  bool awaiting_pin = false;
  std::string digits;
  int pin_failures = 0;

  // Dial-out (REFER, admin): the INVITE we sent and the referrer to tell.
  std::optional<Referral> referral;
  sip::TransactionId invite_tx = 0;
  std::optional<sip::Message> invite;
  std::optional<sip::Message> ack;  // sent once the answer's port is known
  bool provisional_seen = false;
  // The dialog this call takes over (Replaces): BYE'd once this one is up.
  std::optional<sip::DialogId> replaces;

  explicit Call(sdp::LocalCapabilities caps) : media(std::move(caps)) {}

  // Heard by the room (ARCHITECTURE.md roles): keeps the room alive.
  bool visible() const {
    return !hidden && (role == MemberRole::kParticipant || role == MemberRole::kBarge);
  }
};

struct Server::Admission {
  std::string room;
  MemberRole role = MemberRole::kParticipant;
  uint64_t whisper_target = 0;
  std::string auth_user;
  bool awaiting_pin = false;
  // Replaces: the call whose place is taken (its member id, mute, role).
  std::optional<sip::DialogId> replaces;
  uint64_t member = 0;
  bool muted = false;
  bool hidden = false;
  // Park retrieval (RFC 5359 §2.15): the parked call the newcomer talks to.
  std::optional<sip::DialogId> unpark;
};

mixer::Role to_mixer_role(MemberRole role);

}  // namespace chorus::focus
