#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "focus/events/conference_state.hpp"

namespace chorus::focus {

// RFC 4575: the conference event package's document, application/
// conference-info+xml, built from a ConferenceState snapshot.
//
// Users (<user entity>) are the members' entities; members sharing an
// entity (one address-of-record on two phones) are two <endpoint>s of one
// user. Hidden members (silent monitors) are left out entirely.

inline constexpr std::string_view kConferenceInfoType = "application/conference-info+xml";
inline constexpr std::string_view kConferenceInfoNamespace =
    "urn:ietf:params:xml:ns:conference-info";
// Our extension elements (RFC 4575 §5.11: elements of other namespaces may
// extend the document): under <media>, <chorus:talking>true</chorus:talking>
// while the member is one of the current talkers; under <conference-state>,
// <chorus:recording>true</chorus:recording> while the room is recorded
// (README "Recording"). Sidebars (README "Sidebars") are <sidebars-by-ref>
// entries: <uri> sip:<room>@host;sidebar=<id>, <display-text> its name.
inline constexpr std::string_view kChorusInfoNamespace =
    "urn:x-chorus:params:xml:ns:conference-info";

// The <roles><entry> name of a role: participant, monitor, whisper, barge.
std::string_view role_name(MemberRole role);
// The role a name stands for (case-insensitive), nullopt for anything else.
std::optional<MemberRole> parse_role(std::string_view name);
// RFC 4575 §5.6.4 endpoint <status>: the member's status, with "connected"
// refined to "on-hold" (the member holds the call) or "muted-via-focus".
// Empty for a status outside the RFC's enumeration (then no <status>).
std::string_view endpoint_status(const MemberState& member);
// RFC 4575 §5.7.5 media <status>, from the endpoint's point of view: a muted
// member or a monitor only receives ("recvonly"); on hold it sends only
// ("sendonly"), or nothing flows ("inactive") if it could not be heard anyway.
std::string_view media_status(const MemberState& member);

// What changed between two snapshots of one room (RFC 4575 §4.6: a partial
// notification carries only that).
struct ConferenceDiff {
  bool description = false;                // entity, subject, maximum-user-count
  bool state = false;                      // user-count, active
  std::vector<std::string> users;          // user entities added or changed (present in `after`)
  std::vector<std::string> deleted_users;  // user entities no longer present
  // <sidebars-by-ref> changed; sent whole (state="full"). Its schema needs
  // one <entry> at least, so a change to no sidebars at all can only go in
  // a full document: full_required.
  bool sidebars = false;
  bool full_required = false;
  bool empty() const {
    return !description && !state && users.empty() && deleted_users.empty() && !sidebars;
  }
};
ConferenceDiff diff_conference(const ConferenceState& before, const ConferenceState& after);

// The full document (<conference-info state="full" version=N>).
std::string conference_info_full(const ConferenceState& state, uint32_t version);
// The partial document taking a subscriber from `before` to `after`
// (state="partial"): new users in full, changed users state="partial" with
// their new endpoints in full, changed endpoints state="partial" with the
// changed child elements, and gone users/endpoints state="deleted".
// `diff` is diff_conference(before, after).
std::string conference_info_partial(const ConferenceState& before, const ConferenceState& after,
                                    const ConferenceDiff& diff, uint32_t version);

// A member's display name as the documents (and the admin API) show it: at
// most kMaxDisplayText bytes, cut before a UTF-8 character that would not
// fit. The caller chooses it (From, a 2xx's To) and every NOTIFY carries it
// twice to every watcher, so it must not grow them by a message's size.
inline constexpr size_t kMaxDisplayText = 128;
std::string capped_display_text(std::string_view text);

// `text` as XML 1.0 character data: invalid UTF-8 and characters XML
// forbids (C0 controls but tab, LF, CR; U+FFFE/U+FFFF) become U+FFFD, so a
// display name from the network never makes the document ill-formed.
std::string xml_safe(std::string_view text);

}  // namespace chorus::focus
