// RFC 4575 conference-info+xml: full and partial documents checked element
// by element, and validated against the RFC's schema with xmllint.
#include "focus/events/conference_info.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include "tests/focus/schema/xmllint.hpp"

namespace chorus::focus {
namespace {

using boost::property_tree::ptree;

ptree parse_xml(const std::string& text) {
  std::istringstream in(text);
  ptree tree;
  boost::property_tree::read_xml(in, tree);  // throws on ill-formed XML: the test fails
  return tree;
}

std::string attr(const ptree& element, const std::string& name) {
  return element.get<std::string>("<xmlattr>." + name, "<absent>");
}

// The children named `name`, in document order.
std::vector<const ptree*> children(const ptree& element, const std::string& name) {
  std::vector<const ptree*> out;
  for (const auto& [key, child] : element) {
    if (key == name) out.push_back(&child);
  }
  return out;
}

// Child element names (attributes left out), in order.
std::vector<std::string> child_names(const ptree& element) {
  std::vector<std::string> out;
  for (const auto& [key, child] : element) {
    if (key != "<xmlattr>") out.push_back(key);
  }
  return out;
}

void expect_valid(const std::string& document) {
  if (!testing::have_xmllint()) {
    GTEST_SKIP() << "xmllint (libxml2-utils) is not installed: schema validation skipped";
  }
  const testing::SchemaCheck check = testing::validate_against("conference-info.xsd", document);
  EXPECT_TRUE(check.valid) << check.output << "\n" << document;
}

MemberState member(uint64_t id, std::string entity, std::string display) {
  MemberState m;
  m.id = id;
  m.entity = entity;
  m.display_text = std::move(display);
  m.endpoint = entity + ";ep=" + std::to_string(id);
  m.ssrc = 0x1000 + static_cast<uint32_t>(id);
  m.media_label = "a" + std::to_string(id);
  m.dialog.call_id = "call-" + std::to_string(id) + "@198.51.100.7";
  m.dialog.local_tag = "focus" + std::to_string(id);
  m.dialog.remote_tag = "peer" + std::to_string(id);
  m.dialog.confirmed = true;
  return m;
}

ConferenceState room() {
  ConferenceState state;
  state.room = "room1";
  state.entity = "sip:room1@focus.example.com";
  state.subject = "Weekly sync";
  state.max_members = 10;
  state.members.push_back(member(1, "sip:alice@example.com", "Alice"));
  state.members.push_back(member(2, "sip:bob@example.com", "Bob"));
  return state;
}

TEST(ConferenceInfo, FullDocumentCarriesDescriptionStateUsersEndpointsMediaAndDialog) {
  ConferenceState state = room();
  state.members[1].dialog.initiator = true;  // the focus dialled Bob out
  state.members[1].joining_method = "dialed-out";
  state.members[1].joined_at = 1'700'000'000;
  state.members[1].joined_by = "sip:carol@example.com";
  const std::string xml = conference_info_full(state, 7);
  const ptree doc = parse_xml(xml);
  const ptree& root = doc.get_child("conference-info");
  EXPECT_EQ(attr(root, "xmlns"), kConferenceInfoNamespace);
  EXPECT_EQ(attr(root, "entity"), "sip:room1@focus.example.com");
  EXPECT_EQ(attr(root, "state"), "full");
  EXPECT_EQ(attr(root, "version"), "7");
  EXPECT_EQ(child_names(root),
            (std::vector<std::string>{"conference-description", "conference-state", "users"}));

  const ptree& description = root.get_child("conference-description");
  EXPECT_EQ(description.get<std::string>("display-text"), "Weekly sync");
  EXPECT_EQ(description.get<std::string>("conf-uris.entry.uri"), "sip:room1@focus.example.com");
  EXPECT_EQ(description.get<std::string>("conf-uris.entry.purpose"), "participation");
  EXPECT_EQ(description.get<std::string>("maximum-user-count"), "10");

  const ptree& conference_state = root.get_child("conference-state");
  EXPECT_EQ(conference_state.get<std::string>("user-count"), "2");
  EXPECT_EQ(conference_state.get<std::string>("active"), "true");
  EXPECT_EQ(conference_state.get<std::string>("locked"), "false");

  const auto users = children(root.get_child("users"), "user");
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(attr(*users[0], "entity"), "sip:alice@example.com");
  EXPECT_EQ(users[0]->get<std::string>("display-text"), "Alice");
  EXPECT_EQ(users[0]->get<std::string>("roles.entry"), "participant");

  const auto alice = children(*users[0], "endpoint");
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_EQ(attr(*alice[0], "entity"), "sip:alice@example.com;ep=1");
  EXPECT_EQ(alice[0]->get<std::string>("status"), "connected");
  EXPECT_EQ(alice[0]->get<std::string>("joining-method"), "dialed-in");
  EXPECT_FALSE(alice[0]->get_child_optional("joining-info"));
  const ptree& media = alice[0]->get_child("media");
  EXPECT_EQ(attr(media, "id"), "a1");
  EXPECT_EQ(media.get<std::string>("type"), "audio");
  EXPECT_EQ(media.get<std::string>("label"), "a1");
  EXPECT_EQ(media.get<std::string>("src-id"), "4097");  // SSRC 0x1001, decimal
  EXPECT_EQ(media.get<std::string>("status"), "sendrecv");
  EXPECT_EQ(media.get<std::string>("chorus:talking"), "false");
  // Anyone may subscribe to this package: a member's dialog identifiers
  // (enough to Join, Replace or forge requests) are the dialog package's.
  EXPECT_FALSE(alice[0]->get_child_optional("call-info"));
  EXPECT_EQ(xml.find("call-1@198.51.100.7"), std::string::npos);
  EXPECT_EQ(xml.find("peer1"), std::string::npos);
  EXPECT_EQ(xml.find("focus1"), std::string::npos);

  const ptree& bob = users[1]->get_child("endpoint");
  EXPECT_EQ(bob.get<std::string>("joining-method"), "dialed-out");
  EXPECT_EQ(bob.get<std::string>("joining-info.when"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(bob.get<std::string>("joining-info.by"), "sip:carol@example.com");
  EXPECT_FALSE(bob.get_child_optional("call-info"));
  expect_valid(xml);
}

TEST(ConferenceInfo, MediaStatusFollowsRoleMuteAndHoldPerRfc4575Section5_7) {
  struct Case {
    MemberRole role;
    bool muted;
    bool on_hold;
    std::string_view media;
    std::string_view endpoint;
  };
  const Case cases[] = {
      {MemberRole::kParticipant, false, false, "sendrecv", "connected"},
      {MemberRole::kParticipant, true, false, "recvonly", "muted-via-focus"},
      {MemberRole::kMonitor, false, false, "recvonly", "connected"},
      {MemberRole::kWhisper, false, false, "sendrecv", "connected"},
      {MemberRole::kBarge, false, false, "sendrecv", "connected"},
      {MemberRole::kParticipant, false, true, "sendonly", "on-hold"},
      {MemberRole::kParticipant, true, true, "inactive", "on-hold"},
      {MemberRole::kMonitor, false, true, "inactive", "on-hold"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(role_name(c.role)) + (c.muted ? " muted" : "") +
                 (c.on_hold ? " on hold" : ""));
    ConferenceState state = room();
    state.members[0].role = c.role;
    state.members[0].muted = c.muted;
    state.members[0].on_hold = c.on_hold;
    EXPECT_EQ(media_status(state.members[0]), c.media);
    EXPECT_EQ(endpoint_status(state.members[0]), c.endpoint);
    const ptree doc = parse_xml(conference_info_full(state, 1));
    const ptree& user = *children(doc.get_child("conference-info.users"), "user")[0];
    EXPECT_EQ(user.get<std::string>("endpoint.media.status"), c.media);
    EXPECT_EQ(user.get<std::string>("endpoint.status"), c.endpoint);
    EXPECT_EQ(user.get<std::string>("roles.entry"), role_name(c.role));
  }
  EXPECT_EQ(role_name(MemberRole::kMonitor), "monitor");
  EXPECT_EQ(role_name(MemberRole::kWhisper), "whisper");
  EXPECT_EQ(role_name(MemberRole::kBarge), "barge");
}

TEST(ConferenceInfo, OneUserWithTwoPhonesIsOneUserWithTwoEndpointsAndBothRoles) {
  ConferenceState state = room();
  MemberState second = member(3, "sip:alice@example.com", "");
  second.role = MemberRole::kMonitor;
  state.members.push_back(second);
  const std::string xml = conference_info_full(state, 1);
  const ptree doc = parse_xml(xml);
  const auto users = children(doc.get_child("conference-info.users"), "user");
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(children(*users[0], "endpoint").size(), 2u);
  const auto roles = children(users[0]->get_child("roles"), "entry");
  ASSERT_EQ(roles.size(), 2u);
  EXPECT_EQ(roles[0]->data(), "participant");
  EXPECT_EQ(roles[1]->data(), "monitor");
  EXPECT_EQ(doc.get<std::string>("conference-info.conference-state.user-count"), "2");
  expect_valid(xml);
}

TEST(ConferenceInfo, HiddenMembersAndAnEmptyRoomAreNotListed) {
  ConferenceState state = room();
  state.members[0].hidden = true;
  state.members[1].hidden = true;
  state.max_members = 0;
  state.subject.clear();
  const std::string xml = conference_info_full(state, 3);
  const ptree doc = parse_xml(xml);
  EXPECT_TRUE(children(doc.get_child("conference-info.users"), "user").empty());
  EXPECT_EQ(doc.get<std::string>("conference-info.conference-state.user-count"), "0");
  EXPECT_EQ(doc.get<std::string>("conference-info.conference-state.active"), "false");
  EXPECT_FALSE(doc.get_child_optional("conference-info.conference-description.display-text"));
  EXPECT_FALSE(doc.get_child_optional("conference-info.conference-description.maximum-user-count"));
  expect_valid(xml);
}

TEST(ConferenceInfo, NothingChangedIsAnEmptyDiff) {
  const ConferenceState state = room();
  EXPECT_TRUE(diff_conference(state, state).empty());
  // Live figures the package does not publish are no change either.
  ConferenceState noisy = state;
  noisy.members[0].level_dbov = -20;
  noisy.members[0].jitter_ms = 12;
  noisy.members[0].codec = "opus";
  EXPECT_TRUE(diff_conference(state, noisy).empty());
}

TEST(ConferenceInfo, JoinIsAPartialDocumentWithOnlyTheNewUserInFull) {
  const ConferenceState before = room();
  ConferenceState after = before;
  after.members.push_back(member(3, "sip:carol@example.com", "Carol"));
  const ConferenceDiff diff = diff_conference(before, after);
  EXPECT_FALSE(diff.description);
  EXPECT_TRUE(diff.state);
  EXPECT_EQ(diff.users, std::vector<std::string>{"sip:carol@example.com"});
  EXPECT_TRUE(diff.deleted_users.empty());

  const std::string xml = conference_info_partial(before, after, diff, 2);
  const ptree doc = parse_xml(xml);
  const ptree& root = doc.get_child("conference-info");
  EXPECT_EQ(attr(root, "state"), "partial");
  EXPECT_EQ(attr(root, "version"), "2");
  EXPECT_EQ(child_names(root), (std::vector<std::string>{"conference-state", "users"}));
  EXPECT_EQ(root.get<std::string>("conference-state.user-count"), "3");
  EXPECT_EQ(attr(root.get_child("users"), "state"), "partial");
  const auto users = children(root.get_child("users"), "user");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(attr(*users[0], "entity"), "sip:carol@example.com");
  EXPECT_EQ(attr(*users[0], "state"), "full");
  EXPECT_EQ(attr(users[0]->get_child("endpoint"), "state"), "full");
  EXPECT_EQ(users[0]->get<std::string>("endpoint.status"), "connected");
  expect_valid(xml);
}

// RFC 4575 §5.9: sidebars by reference, after <users>; a partial document
// carries the whole list when it changed; the last one gone needs a full one.
TEST(ConferenceInfo, SidebarsAreListedByReferenceAfterTheUsers) {
  ConferenceState state = room();
  state.sidebars.push_back(SidebarState{1, "huddle", "sip:room1@focus.example.com;sidebar=1", {1}});
  state.sidebars.push_back(SidebarState{3, "Q&A", "sip:room1@focus.example.com;sidebar=3", {}});
  const std::string xml = conference_info_full(state, 1);
  const ptree doc = parse_xml(xml);
  const ptree& root = doc.get_child("conference-info");
  EXPECT_EQ(child_names(root),
            (std::vector<std::string>{"conference-description", "conference-state", "users",
                                      "sidebars-by-ref"}));
  const auto entries = children(root.get_child("sidebars-by-ref"), "entry");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0]->get<std::string>("uri"), "sip:room1@focus.example.com;sidebar=1");
  EXPECT_EQ(entries[0]->get<std::string>("display-text"), "huddle");
  EXPECT_EQ(entries[1]->get<std::string>("display-text"), "Q&A");
  expect_valid(xml);

  // Membership alone is not in this document: no change to publish.
  ConferenceState moved = state;
  moved.sidebars[1].members = {2};
  EXPECT_TRUE(diff_conference(state, moved).empty());

  ConferenceState fewer = state;
  fewer.sidebars.erase(fewer.sidebars.begin());
  const ConferenceDiff diff = diff_conference(state, fewer);
  EXPECT_TRUE(diff.sidebars);
  EXPECT_FALSE(diff.full_required);
  const std::string partial = conference_info_partial(state, fewer, diff, 2);
  const ptree partial_doc = parse_xml(partial);
  const ptree& partial_root = partial_doc.get_child("conference-info");
  EXPECT_EQ(child_names(partial_root), std::vector<std::string>{"sidebars-by-ref"});
  EXPECT_EQ(attr(partial_root.get_child("sidebars-by-ref"), "state"), "full");
  EXPECT_EQ(children(partial_root.get_child("sidebars-by-ref"), "entry").size(), 1u);
  expect_valid(partial);

  const ConferenceDiff none_left = diff_conference(state, room());
  EXPECT_TRUE(none_left.sidebars);
  EXPECT_TRUE(none_left.full_required);
  EXPECT_EQ(conference_info_full(room(), 3).find("sidebars-by-ref"), std::string::npos);
}

TEST(ConferenceInfo, LeaveIsADeletedUser) {
  const ConferenceState before = room();
  ConferenceState after = before;
  after.members.erase(after.members.begin());
  const ConferenceDiff diff = diff_conference(before, after);
  EXPECT_TRUE(diff.users.empty());
  EXPECT_EQ(diff.deleted_users, std::vector<std::string>{"sip:alice@example.com"});
  const std::string xml = conference_info_partial(before, after, diff, 5);
  const ptree doc = parse_xml(xml);
  const auto users = children(doc.get_child("conference-info.users"), "user");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(attr(*users[0], "entity"), "sip:alice@example.com");
  EXPECT_EQ(attr(*users[0], "state"), "deleted");
  EXPECT_TRUE(child_names(*users[0]).empty());
  expect_valid(xml);
}

TEST(ConferenceInfo, MuteIsAPartialEndpointWithOnlyStatusAndMedia) {
  const ConferenceState before = room();
  ConferenceState after = before;
  after.members[1].muted = true;
  const ConferenceDiff diff = diff_conference(before, after);
  EXPECT_FALSE(diff.state);
  EXPECT_EQ(diff.users, std::vector<std::string>{"sip:bob@example.com"});
  const std::string xml = conference_info_partial(before, after, diff, 3);
  const ptree doc = parse_xml(xml);
  const ptree& root = doc.get_child("conference-info");
  EXPECT_EQ(child_names(root), std::vector<std::string>{"users"});
  const auto users = children(root.get_child("users"), "user");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(attr(*users[0], "state"), "partial");
  // Roles and display text did not change: not repeated.
  EXPECT_EQ(child_names(*users[0]), std::vector<std::string>{"endpoint"});
  const ptree& endpoint = users[0]->get_child("endpoint");
  EXPECT_EQ(attr(endpoint, "state"), "partial");
  EXPECT_EQ(child_names(endpoint), (std::vector<std::string>{"status", "media"}));
  EXPECT_EQ(endpoint.get<std::string>("status"), "muted-via-focus");
  EXPECT_EQ(endpoint.get<std::string>("media.status"), "recvonly");
  EXPECT_EQ(attr(endpoint.get_child("media"), "id"), "a2");
  expect_valid(xml);
}

TEST(ConferenceInfo, TalkerChangeAndRoleChangeArePartialUpdates) {
  const ConferenceState before = room();
  ConferenceState after = before;
  after.members[0].talking = true;
  after.members[1].role = MemberRole::kBarge;
  const ConferenceDiff diff = diff_conference(before, after);
  ASSERT_EQ(diff.users.size(), 2u);
  const std::string xml = conference_info_partial(before, after, diff, 4);
  const ptree doc = parse_xml(xml);
  const auto users = children(doc.get_child("conference-info.users"), "user");
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0]->get<std::string>("endpoint.media.chorus:talking"), "true");
  EXPECT_EQ(child_names(*users[1]), (std::vector<std::string>{"roles"}));
  EXPECT_EQ(users[1]->get<std::string>("roles.entry"), "barge");
  expect_valid(xml);
}

TEST(ConferenceInfo, OneOfTwoEndpointsLeavingIsADeletedEndpointInAPartialUser) {
  ConferenceState before = room();
  before.members.push_back(member(3, "sip:alice@example.com", "Alice"));
  ConferenceState after = before;
  after.members.erase(after.members.begin());  // Alice's first phone
  const ConferenceDiff diff = diff_conference(before, after);
  EXPECT_FALSE(diff.state);  // still two users
  EXPECT_EQ(diff.users, std::vector<std::string>{"sip:alice@example.com"});
  const std::string xml = conference_info_partial(before, after, diff, 9);
  const ptree doc = parse_xml(xml);
  const auto users = children(doc.get_child("conference-info.users"), "user");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(attr(*users[0], "state"), "partial");
  const auto endpoints = children(*users[0], "endpoint");
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_EQ(attr(*endpoints[0], "entity"), "sip:alice@example.com;ep=1");
  EXPECT_EQ(attr(*endpoints[0], "state"), "deleted");
  expect_valid(xml);
}

TEST(ConferenceInfo, SubjectChangeResendsTheDescription) {
  const ConferenceState before = room();
  ConferenceState after = before;
  after.subject = "Retro";
  const ConferenceDiff diff = diff_conference(before, after);
  EXPECT_TRUE(diff.description);
  EXPECT_TRUE(diff.users.empty());
  const std::string xml = conference_info_partial(before, after, diff, 2);
  const ptree doc = parse_xml(xml);
  EXPECT_EQ(doc.get<std::string>("conference-info.conference-description.subject"), "Retro");
  EXPECT_FALSE(doc.get_child_optional("conference-info.users"));
  expect_valid(xml);
}

TEST(ConferenceInfo, HostileNamesStayWellFormedAndValid) {
  ConferenceState state = room();
  // Markup, quotes, a NUL, an escape, invalid UTF-8 and an overlong '<'.
  state.members[0].display_text = std::string("<b>\"Eve\" & 'co'</b>\x01\x1b", 22) +
                                  std::string("\0x", 2) + "\xff\xfe" + "\xc0\xbc" + "\xed\xa0\x80";
  state.members[0].entity = "sip:eve@example.com;x=\"<&>\"";
  state.members[0].endpoint = "sip:eve@example.com;\x02";
  state.members[1].status = "exploded";  // not an RFC 4575 status: left out
  state.members[1].joining_method = "teleported";
  state.subject = "]]><!-- -->";
  const std::string xml = conference_info_full(state, 1);
  const ptree doc = parse_xml(xml);
  const auto users = children(doc.get_child("conference-info.users"), "user");
  ASSERT_EQ(users.size(), 2u);
  const std::string name = users[0]->get<std::string>("display-text");
  EXPECT_EQ(name.substr(0, 22), "<b>\"Eve\" & 'co'</b>\xEF\xBF\xBD");
  EXPECT_EQ(name.find('\0'), std::string::npos);
  EXPECT_EQ(name.find('\x01'), std::string::npos);
  EXPECT_EQ(attr(*users[0], "entity"), "sip:eve@example.com;x=\"<&>\"");
  EXPECT_FALSE(users[1]->get_child_optional("endpoint.status"));
  EXPECT_FALSE(users[1]->get_child_optional("endpoint.joining-method"));
  expect_valid(xml);
}

TEST(ConferenceInfo, TheSchemaCheckRejectsWhatTheRfcForbids) {
  // A control for expect_valid(): the schema is live, not a pass-all.
  if (!testing::have_xmllint()) GTEST_SKIP() << "xmllint (libxml2-utils) is not installed";
  std::string xml = conference_info_full(room(), 1);
  const size_t at = xml.find("<status>connected</status>");
  ASSERT_NE(at, std::string::npos);
  xml.replace(at, 26, "<status>exploded</status>");
  EXPECT_FALSE(testing::validate_against("conference-info.xsd", xml).valid);
  std::string no_entity = conference_info_full(room(), 1);
  const size_t entity = no_entity.find(" entity=");
  no_entity.replace(entity, 8, " entityx=");
  EXPECT_FALSE(testing::validate_against("conference-info.xsd", no_entity).valid);
}

// A display name is the caller's to choose, up to a whole SIP message: the
// documents carry at most kMaxDisplayText bytes of it, whole characters.
TEST(CappedDisplayText, KeepsAShortNameAndCutsALongOneAtACharacterBoundary) {
  EXPECT_EQ(capped_display_text("Alice"), "Alice");
  const std::string exact(kMaxDisplayText, 'a');
  EXPECT_EQ(capped_display_text(exact), exact);
  EXPECT_EQ(capped_display_text(std::string(60000, 'x')), std::string(kMaxDisplayText, 'x'));
  // 127 ASCII bytes, then a 3-byte euro sign across byte 128: dropped whole.
  const std::string euro = "\xe2\x82\xac";
  const std::string name = std::string(kMaxDisplayText - 1, 'e') + euro + "tail";
  EXPECT_EQ(capped_display_text(name), std::string(kMaxDisplayText - 1, 'e'));
  // Two-byte characters only: 64 of them fill 128 bytes exactly.
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += "\xc3\xa9";
  EXPECT_EQ(capped_display_text(accents), accents.substr(0, kMaxDisplayText));
  // A 4-byte character starting at byte 126: cut before it.
  const std::string note = std::string(kMaxDisplayText - 2, 'n') + "\xf0\x9f\x8e\xb5";
  EXPECT_EQ(capped_display_text(note), std::string(kMaxDisplayText - 2, 'n'));
  // What comes out is still valid UTF-8: xml_safe leaves it as it is.
  EXPECT_EQ(xml_safe(capped_display_text(name)), capped_display_text(name));
}

TEST(XmlSafe, KeepsValidUtf8AndReplacesWhatXmlForbids) {
  EXPECT_EQ(xml_safe("plain"), "plain");
  EXPECT_EQ(xml_safe("tab\tlf\ncr\r"), "tab\tlf\ncr\r");
  EXPECT_EQ(xml_safe("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5");
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(xml_safe(std::string("a\0b", 3)), "a" + r + "b");
  EXPECT_EQ(xml_safe("\x7f"), "\x7f");                     // DEL is an XML Char
  EXPECT_EQ(xml_safe("\xc3"), r);                          // truncated sequence
  EXPECT_EQ(xml_safe("\xc3x"), r + "x");                   // bad continuation
  EXPECT_EQ(xml_safe("\xc0\xaf"), r + r);                  // overlong '/'
  EXPECT_EQ(xml_safe("\xed\xa0\x80"), r + r + r);          // UTF-16 surrogate
  EXPECT_EQ(xml_safe("\xef\xbf\xbe"), r + r + r);          // U+FFFE
  EXPECT_EQ(xml_safe("\xf4\x90\x80\x80"), r + r + r + r);  // beyond U+10FFFF
  EXPECT_EQ(xml_safe("\xf8\x88\x80\x80\x80"), r + r + r + r + r);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
