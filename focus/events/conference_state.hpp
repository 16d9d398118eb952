#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chorus::focus {

// What a member does in the mix (ARCHITECTURE.md "Roles and relations").
enum class MemberRole : uint8_t { kParticipant, kMonitor, kWhisper, kBarge };

// The SIP dialog a member is in, as the focus sees it: what RFC 4235's
// <dialog> element publishes (never RFC 4575's <call-info>: anyone may
// subscribe to the conference package), and what a supervisor needs to
// build Join / Replaces headers (RFC 3911 §5, RFC 3891 §6: call-id, to-tag,
// from-tag from the supervisor's point of view).
struct MemberDialog {
  std::string call_id;
  std::string local_tag;      // the focus's tag
  std::string remote_tag;     // the member's tag
  bool confirmed = false;     // false while dialing out or ringing
  bool initiator = false;     // true when the focus sent the INVITE (dial-out)
  std::string local_uri;      // the conference URI (our side's From/To)
  std::string remote_uri;     // the member's address-of-record
  std::string remote_target;  // the member's Contact
  std::string local_target;   // the focus's Contact in that dialog ("" = unknown)
  // A ringing dial-out: the remote tags of its early dialogs, one per
  // forked provisional (RFC 3261 §12.1.2); the dialog package lists each.
  std::vector<std::string> early_remote_tags;
  bool operator==(const MemberDialog&) const = default;
};

// One member of a room: one endpoint with one audio stream (RFC 4575 §5.4–5.7).
struct MemberState {
  uint64_t id = 0;  // the focus's member id (stable for the call; admin API key)
  // RFC 4575 <user entity>: the member's URI (From of a dial-in, the target
  // of a dial-out).
  std::string entity;
  std::string display_text;
  // RFC 4575 <endpoint entity>: unique per member in the room (the dialog's
  // remote Contact plus a suffix if needed).
  std::string endpoint;
  // RFC 4575 §5.6.4 endpoint status: "pending", "dialing-out", "alerting",
  // "connected", "on-hold", "muted-via-focus", "disconnecting",
  // "disconnected".
  std::string status = "connected";
  // RFC 4575 §5.6.5: "dialed-in", "dialed-out", "focus-owner".
  std::string joining_method = "dialed-in";
  MemberRole role = MemberRole::kParticipant;
  std::string whisper_target;  // endpoint of the member a whisperer talks to
  bool muted = false;          // muted by the focus (admin, action URN, DTMF)
  bool talking = false;        // current talker (top-K)
  bool on_hold = false;
  bool waiting = false;  // in the room's waiting room (README "Waiting room")
  std::string codec;  // "PCMU", "opus", …
  uint32_t clock_rate = 0;
  uint32_t ssrc = 0;        // the member's RTP SSRC once known, else 0
  std::string media_label;  // RFC 4575 §5.7 <media id>/<label>
  // Live media figures for operators (admin API), 0 when unknown.
  int level_dbov = -127;     // last reported input level, dBov
  double loss_fraction = 0;  // RFC 3550 fraction lost, 0..1
  double jitter_ms = 0;      // RFC 3550 interarrival jitter
  double jitter_buffer_ms = 0;  // mean wait of a played packet in our jitter buffer
  MemberDialog dialog;
  // RFC 4575 §5.6.6 joining-info: when the member joined (Unix seconds, 0 =
  // unknown) and who made the focus dial it (the REFER's Referred-By / From).
  int64_t joined_at = 0;
  std::string joined_by;
  // Left out of the conference package (a silent monitor); the dialog
  // package, which only authorised supervisors see, still lists it.
  bool hidden = false;
  uint32_t sidebar = 0;  // the sidebar it talks in (README "Sidebars"), 0: the main room
  bool operator==(const MemberState&) const = default;
};

// A sidebar of a room (README "Sidebars"), published as an RFC 4575
// <sidebars-by-ref> entry.
struct SidebarState {
  uint32_t id = 0;
  std::string name;
  std::string uri;  // the parent's conference URI with ;sidebar=<id>
  std::vector<uint64_t> members;
  double main_gain_db = -12.0;
  bool whisper_main = false;
  bool operator==(const SidebarState&) const = default;
};

// A room as published by the conference package.
struct ConferenceState {
  std::string room;
  std::string entity;  // sip:<room>@<host>, the conference URI
  std::string subject;
  uint32_t max_members = 0;  // 0: no limit
  bool recording = false;    // README "Recording": published as <chorus:recording>
  std::vector<MemberState> members;
  std::vector<SidebarState> sidebars;  // by id
  bool operator==(const ConferenceState&) const = default;
};

}  // namespace chorus::focus
