#include "focus/events/conference_info.hpp"

#include <cctype>

#include <algorithm>
#include <array>
#include <ctime>
#include <sstream>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

namespace chorus::focus {

namespace {

using boost::property_tree::ptree;

constexpr std::string_view kEndpointStatuses[] = {
    "pending",   "dialing-out",     "dialing-in",    "alerting",     "on-hold",
    "connected", "muted-via-focus", "disconnecting", "disconnected",
};
constexpr std::string_view kJoiningMethods[] = {"dialed-in", "dialed-out", "focus-owner"};

template <size_t N>
bool one_of(std::string_view value, const std::string_view (&values)[N]) {
  return std::find(std::begin(values), std::end(values), value) != std::end(values);
}

// Appends <name>text</name> to `parent` (element order follows the RFC 4575
// §6 schema's sequences, so callers add children in that order).
ptree& add_text(ptree& parent, std::string_view name, std::string_view text) {
  return parent.push_back({std::string(name), ptree(xml_safe(text))})->second;
}
ptree& add_element(ptree& parent, std::string_view name) {
  return parent.push_back({std::string(name), ptree()})->second;
}
void set_attribute(ptree& element, std::string_view name, std::string_view value) {
  ptree* attributes = nullptr;
  if (auto it = element.find("<xmlattr>"); it != element.not_found()) {
    attributes = &it->second;
  } else {
    // Attributes first, so the writer sees them before any child.
    attributes = &element.push_front({"<xmlattr>", ptree()})->second;
  }
  attributes->push_back({std::string(name), ptree(xml_safe(value))});
}

std::string serialize(const ptree& document) {
  std::ostringstream out;
  boost::property_tree::write_xml(
      out, document, boost::property_tree::xml_writer_make_settings<std::string>(' ', 0));
  return out.str();
}

// xs:dateTime in UTC (RFC 4575 §5.6.6 <when>).
std::string date_time(int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> text{};
  const size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(text.data(), n);
}

std::string_view endpoint_key(const MemberState& member, std::string& scratch) {
  if (!member.endpoint.empty()) return member.endpoint;
  scratch = "urn:x-chorus:member:" + std::to_string(member.id);
  return scratch;
}

// A <user>: the visible members sharing one entity, in roster order.
struct UserView {
  std::string_view entity;
  std::vector<const MemberState*> endpoints;
};

std::vector<UserView> users_of(const ConferenceState& state) {
  std::vector<UserView> users;
  for (const MemberState& member : state.members) {
    if (member.hidden) continue;
    auto it = std::find_if(users.begin(), users.end(),
                           [&](const UserView& u) { return u.entity == member.entity; });
    if (it == users.end()) {
      users.push_back(UserView{member.entity, {}});
      it = users.end() - 1;
    }
    it->endpoints.push_back(&member);
  }
  return users;
}

const UserView* find_user(const std::vector<UserView>& users, std::string_view entity) {
  for (const UserView& u : users) {
    if (u.entity == entity) return &u;
  }
  return nullptr;
}

const MemberState* find_endpoint(const UserView& user, std::string_view key) {
  std::string scratch;
  for (const MemberState* m : user.endpoints) {
    if (endpoint_key(*m, scratch) == key) return m;
  }
  return nullptr;
}

// The user's display text: the first endpoint that has one.
std::string_view user_display_text(const UserView& user) {
  for (const MemberState* m : user.endpoints) {
    if (!m->display_text.empty()) return m->display_text;
  }
  return {};
}

// Distinct roles of the user's endpoints, in enum order.
std::vector<std::string_view> user_roles(const UserView& user) {
  std::vector<std::string_view> roles;
  for (MemberRole role :
       {MemberRole::kParticipant, MemberRole::kMonitor, MemberRole::kWhisper, MemberRole::kBarge}) {
    if (std::any_of(user.endpoints.begin(), user.endpoints.end(),
                    [&](const MemberState* m) { return m->role == role; })) {
      roles.push_back(role_name(role));
    }
  }
  return roles;
}

// The endpoint's child groups, compared one by one for partial documents.
bool same_joining(const MemberState& a, const MemberState& b) {
  return a.joining_method == b.joining_method && a.joined_at == b.joined_at &&
         a.joined_by == b.joined_by;
}
bool same_media(const MemberState& a, const MemberState& b) {
  return a.media_label == b.media_label && a.ssrc == b.ssrc && media_status(a) == media_status(b) &&
         a.talking == b.talking;
}
bool same_endpoint(const MemberState& a, const MemberState& b) {
  return a.display_text == b.display_text && endpoint_status(a) == endpoint_status(b) &&
         same_joining(a, b) && same_media(a, b);
}
bool same_user(const UserView& a, const UserView& b) {
  if (user_display_text(a) != user_display_text(b) || user_roles(a) != user_roles(b) ||
      a.endpoints.size() != b.endpoints.size()) {
    return false;
  }
  std::string scratch;
  for (const MemberState* m : a.endpoints) {
    const MemberState* other = find_endpoint(b, endpoint_key(*m, scratch));
    if (other == nullptr || !same_endpoint(*m, *other)) return false;
  }
  return true;
}

void add_joining(ptree& endpoint, const MemberState& member) {
  if (one_of(member.joining_method, kJoiningMethods)) {
    add_text(endpoint, "joining-method", member.joining_method);
  }
  if (member.joined_at != 0 || !member.joined_by.empty()) {
    ptree& info = add_element(endpoint, "joining-info");
    if (member.joined_at != 0) add_text(info, "when", date_time(member.joined_at));
    if (!member.joined_by.empty()) add_text(info, "by", member.joined_by);
  }
}

void add_media(ptree& endpoint, const MemberState& member) {
  ptree& media = add_element(endpoint, "media");
  // §5.7: id is unique among the endpoint's media; one audio stream each.
  set_attribute(media, "id", member.media_label.empty() ? "audio" : member.media_label);
  add_text(media, "type", "audio");
  if (!member.media_label.empty()) add_text(media, "label", member.media_label);
  if (member.ssrc != 0) add_text(media, "src-id", std::to_string(member.ssrc));
  add_text(media, "status", media_status(member));
  add_text(media, "chorus:talking", member.talking ? "true" : "false");
}

void add_endpoint_full(ptree& user, const MemberState& member, std::string_view state) {
  std::string scratch;
  ptree& endpoint = add_element(user, "endpoint");
  set_attribute(endpoint, "entity", endpoint_key(member, scratch));
  set_attribute(endpoint, "state", state);
  if (!member.display_text.empty()) add_text(endpoint, "display-text", member.display_text);
  if (const auto status = endpoint_status(member); !status.empty()) {
    add_text(endpoint, "status", status);
  }
  add_joining(endpoint, member);
  add_media(endpoint, member);
  // No <call-info>: a member's Call-ID and tags are enough to Join, Replace
  // or forge requests in its dialog, and anyone may subscribe to this
  // package. The dialog package (right dialog-subscribe) publishes them.
}

// Only the child elements that changed; <media> is sent
// whole (media is keyed by its id, RFC 4575 §4.6).
void add_endpoint_partial(ptree& user, const MemberState& before, const MemberState& after) {
  std::string scratch;
  ptree& endpoint = add_element(user, "endpoint");
  set_attribute(endpoint, "entity", endpoint_key(after, scratch));
  set_attribute(endpoint, "state", "partial");
  if (before.display_text != after.display_text) {
    add_text(endpoint, "display-text", after.display_text);
  }
  if (endpoint_status(before) != endpoint_status(after)) {
    if (const auto status = endpoint_status(after); !status.empty()) {
      add_text(endpoint, "status", status);
    }
  }
  if (!same_joining(before, after)) add_joining(endpoint, after);
  if (!same_media(before, after)) add_media(endpoint, after);
}

void add_roles(ptree& user, const UserView& view) {
  ptree& roles = add_element(user, "roles");
  for (std::string_view role : user_roles(view)) add_text(roles, "entry", role);
}

void add_user_full(ptree& users, const UserView& view) {
  ptree& user = add_element(users, "user");
  set_attribute(user, "entity", view.entity);
  set_attribute(user, "state", "full");
  if (const auto text = user_display_text(view); !text.empty()) {
    add_text(user, "display-text", text);
  }
  add_roles(user, view);
  for (const MemberState* m : view.endpoints) add_endpoint_full(user, *m, "full");
}

void add_user_partial(ptree& users, const UserView& before, const UserView& after) {
  ptree& user = add_element(users, "user");
  set_attribute(user, "entity", after.entity);
  set_attribute(user, "state", "partial");
  if (user_display_text(before) != user_display_text(after)) {
    add_text(user, "display-text", user_display_text(after));
  }
  if (user_roles(before) != user_roles(after)) add_roles(user, after);
  std::string scratch;
  for (const MemberState* m : after.endpoints) {
    const MemberState* old = find_endpoint(before, endpoint_key(*m, scratch));
    if (old == nullptr) {
      add_endpoint_full(user, *m, "full");
    } else if (!same_endpoint(*old, *m)) {
      add_endpoint_partial(user, *old, *m);
    }
  }
  for (const MemberState* m : before.endpoints) {
    const std::string_view key = endpoint_key(*m, scratch);
    if (find_endpoint(after, key) != nullptr) continue;
    ptree& gone = add_element(user, "endpoint");
    set_attribute(gone, "entity", key);
    set_attribute(gone, "state", "deleted");
  }
}

void add_description(ptree& root, const ConferenceState& state) {
  ptree& description = add_element(root, "conference-description");
  if (!state.subject.empty()) {
    add_text(description, "display-text", state.subject);
    add_text(description, "subject", state.subject);
  }
  ptree& entry = add_element(add_element(description, "conf-uris"), "entry");
  add_text(entry, "uri", state.entity);
  add_text(entry, "purpose", "participation");  // RFC 4575 §5.3.2
  if (state.max_members != 0) {
    add_text(description, "maximum-user-count", std::to_string(state.max_members));
  }
  ptree& medium = add_element(add_element(description, "available-media"), "entry");
  set_attribute(medium, "label", "audio");
  add_text(medium, "type", "audio");
  add_text(medium, "status", "sendrecv");
}

void add_state(ptree& root, size_t user_count, bool recording) {
  ptree& state = add_element(root, "conference-state");
  add_text(state, "user-count", std::to_string(user_count));
  add_text(state, "active", user_count > 0 ? "true" : "false");
  add_text(state, "locked", "false");
  // RFC 4575 has no element for it; conference-state takes extension
  // elements (##other): ours, README "Recording".
  add_text(state, "chorus:recording", recording ? "true" : "false");
}

bool same_sidebars(const ConferenceState& a, const ConferenceState& b) {
  if (a.sidebars.size() != b.sidebars.size()) return false;
  for (size_t i = 0; i < a.sidebars.size(); ++i) {
    // What the entry shows: its URI and name (members are in the
    // sidebar's own document).
    if (a.sidebars[i].uri != b.sidebars[i].uri || a.sidebars[i].name != b.sidebars[i].name) {
      return false;
    }
  }
  return true;
}

// RFC 4575 §5.9 <sidebars-by-ref>: one <entry> per sidebar (none: no element,
// the schema wants one entry at least).
void add_sidebars(ptree& root, const ConferenceState& state) {
  if (state.sidebars.empty()) return;
  ptree& list = add_element(root, "sidebars-by-ref");
  set_attribute(list, "state", "full");
  for (const SidebarState& sidebar : state.sidebars) {
    ptree& entry = add_element(list, "entry");
    add_text(entry, "uri", sidebar.uri);
    if (!sidebar.name.empty()) add_text(entry, "display-text", sidebar.name);
  }
}

ptree& add_root(ptree& document, const ConferenceState& state, std::string_view kind,
                uint32_t version) {
  ptree& root = add_element(document, "conference-info");
  set_attribute(root, "xmlns", kConferenceInfoNamespace);
  set_attribute(root, "xmlns:chorus", kChorusInfoNamespace);
  set_attribute(root, "entity", state.entity);
  set_attribute(root, "state", kind);
  set_attribute(root, "version", std::to_string(version));
  return root;
}

}  // namespace

std::string_view role_name(MemberRole role) {
  switch (role) {
    case MemberRole::kParticipant:
      return "participant";
    case MemberRole::kMonitor:
      return "monitor";
    case MemberRole::kWhisper:
      return "whisper";
    case MemberRole::kBarge:
      return "barge";
  }
  return "participant";
}

std::optional<MemberRole> parse_role(std::string_view name) {
  for (const MemberRole role :
       {MemberRole::kParticipant, MemberRole::kMonitor, MemberRole::kWhisper, MemberRole::kBarge}) {
    const std::string_view known = role_name(role);
    if (name.size() == known.size() &&
        std::equal(name.begin(), name.end(), known.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return role;
    }
  }
  return std::nullopt;
}

std::string_view endpoint_status(const MemberState& member) {
  if (member.status == "connected") {
    if (member.on_hold) return "on-hold";
    if (member.muted) return "muted-via-focus";
    return "connected";
  }
  return one_of(member.status, kEndpointStatuses) ? std::string_view(member.status)
                                                  : std::string_view();
}

std::string_view media_status(const MemberState& member) {
  const bool silent = member.muted || member.role == MemberRole::kMonitor;
  if (member.on_hold) return silent ? "inactive" : "sendonly";
  return silent ? "recvonly" : "sendrecv";
}

ConferenceDiff diff_conference(const ConferenceState& before, const ConferenceState& after) {
  ConferenceDiff diff;
  diff.description = before.entity != after.entity || before.subject != after.subject ||
                     before.max_members != after.max_members;
  const std::vector<UserView> old_users = users_of(before);
  const std::vector<UserView> new_users = users_of(after);
  diff.state = old_users.size() != new_users.size() || before.recording != after.recording;
  for (const UserView& user : new_users) {
    const UserView* old = find_user(old_users, user.entity);
    if (old == nullptr || !same_user(*old, user)) diff.users.emplace_back(user.entity);
  }
  for (const UserView& user : old_users) {
    if (find_user(new_users, user.entity) == nullptr) diff.deleted_users.emplace_back(user.entity);
  }
  diff.sidebars = !same_sidebars(before, after);
  diff.full_required = diff.sidebars && after.sidebars.empty();
  return diff;
}

std::string conference_info_full(const ConferenceState& state, uint32_t version) {
  ptree document;
  ptree& root = add_root(document, state, "full", version);
  add_description(root, state);
  const std::vector<UserView> users = users_of(state);
  add_state(root, users.size(), state.recording);
  ptree& list = add_element(root, "users");
  set_attribute(list, "state", "full");
  for (const UserView& user : users) add_user_full(list, user);
  add_sidebars(root, state);
  return serialize(document);
}

std::string conference_info_partial(const ConferenceState& before, const ConferenceState& after,
                                    const ConferenceDiff& diff, uint32_t version) {
  ptree document;
  ptree& root = add_root(document, after, "partial", version);
  if (diff.description) add_description(root, after);
  const std::vector<UserView> old_users = users_of(before);
  const std::vector<UserView> new_users = users_of(after);
  if (diff.state) add_state(root, new_users.size(), after.recording);
  if (!diff.users.empty() || !diff.deleted_users.empty()) {
    ptree& list = add_element(root, "users");
    set_attribute(list, "state", "partial");
    for (const std::string& entity : diff.users) {
      const UserView* now = find_user(new_users, entity);
      if (now == nullptr) continue;
      const UserView* old = find_user(old_users, entity);
      if (old == nullptr) {
        add_user_full(list, *now);
      } else {
        add_user_partial(list, *old, *now);
      }
    }
    for (const std::string& entity : diff.deleted_users) {
      ptree& gone = add_element(list, "user");
      set_attribute(gone, "entity", entity);
      set_attribute(gone, "state", "deleted");
    }
  }
  if (diff.sidebars) add_sidebars(root, after);
  return serialize(document);
}

std::string capped_display_text(std::string_view text) {
  if (text.size() <= kMaxDisplayText) return std::string(text);
  size_t cut = kMaxDisplayText;
  // Back over continuation bytes (10xxxxxx) to the start of the character.
  while (cut > 0 && (static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut));
}

std::string xml_safe(std::string_view text) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      // XML 1.0 §2.2 Char: of the C0 controls only tab, LF and CR.
      if (lead >= 0x20 || lead == '\t' || lead == '\n' || lead == '\r') {
        out += static_cast<char>(lead);
      } else {
        out += kReplacement;
      }
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0;
    uint32_t min = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2, code = lead & 0x1F, min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code = lead & 0x0F, min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code = lead & 0x07, min = 0x10000;
    }
    bool valid = length != 0 && i + length <= text.size();
    for (size_t k = 1; valid && k < length; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      valid = (c & 0xC0) == 0x80;
      code = (code << 6) | (c & 0x3F);
    }
    // Overlong forms, surrogates, beyond U+10FFFF and the non-characters
    // U+FFFE/U+FFFF are not XML characters.
    valid = valid && code >= min && code <= 0x10FFFF && !(code >= 0xD800 && code <= 0xDFFF) &&
            code != 0xFFFE && code != 0xFFFF;
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

}  // namespace chorus::focus
