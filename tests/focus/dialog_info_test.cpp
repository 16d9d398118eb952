// RFC 4235 dialog-info+xml for a room: one <dialog> per member with the ids
// a supervisor needs for Join / Replaces, checked element by element and
// validated against the RFC's schema with xmllint.
#include "focus/events/dialog_info.hpp"

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
  boost::property_tree::read_xml(in, tree);
  return tree;
}

std::string attr(const ptree& element, const std::string& name) {
  return element.get<std::string>("<xmlattr>." + name, "<absent>");
}

std::vector<const ptree*> dialogs_of(const ptree& doc) {
  std::vector<const ptree*> out;
  for (const auto& [key, child] : doc.get_child("dialog-info")) {
    if (key == "dialog") out.push_back(&child);
  }
  return out;
}

void expect_valid(const std::string& document) {
  if (!testing::have_xmllint()) {
    GTEST_SKIP() << "xmllint (libxml2-utils) is not installed: schema validation skipped";
  }
  const testing::SchemaCheck check = testing::validate_against("dialog-info.xsd", document);
  EXPECT_TRUE(check.valid) << check.output << "\n" << document;
}

ConferenceState room() {
  ConferenceState state;
  state.room = "room1";
  state.entity = "sip:room1@focus.example.com";
  MemberState alice;
  alice.id = 1;
  alice.entity = "sip:alice@example.com";
  alice.display_text = "Alice";
  alice.dialog.call_id = "a84b4c76e66710@pc33.example.com";
  alice.dialog.local_tag = "f0c05";
  alice.dialog.remote_tag = "1928301774";
  alice.dialog.confirmed = true;
  alice.dialog.local_uri = "sip:room1@focus.example.com";
  alice.dialog.remote_uri = "sip:alice@example.com";
  alice.dialog.remote_target = "sip:alice@192.0.2.4:5060";
  alice.dialog.local_target = "sip:room1@203.0.113.1:5060";
  state.members.push_back(alice);
  MemberState bob;  // being dialled out, no answer yet
  bob.id = 2;
  bob.entity = "sip:bob@example.com";
  bob.status = "dialing-out";
  bob.joining_method = "dialed-out";
  bob.dialog.call_id = "out-2@203.0.113.1";
  bob.dialog.local_tag = "f0c06";
  bob.dialog.initiator = true;
  bob.dialog.remote_target = "sip:bob@192.0.2.9";
  state.members.push_back(bob);
  return state;
}

TEST(DialogInfo, OneDialogPerMemberWithIdsDirectionStateAndParties) {
  const std::string xml = dialog_info_full(room(), 4);
  const ptree doc = parse_xml(xml);
  const ptree& root = doc.get_child("dialog-info");
  EXPECT_EQ(attr(root, "xmlns"), kDialogInfoNamespace);
  EXPECT_EQ(attr(root, "version"), "4");
  EXPECT_EQ(attr(root, "state"), "full");
  EXPECT_EQ(attr(root, "entity"), "sip:room1@focus.example.com");

  const auto dialogs = dialogs_of(doc);
  ASSERT_EQ(dialogs.size(), 2u);
  const ptree& alice = *dialogs[0];
  EXPECT_EQ(attr(alice, "id"), "a84b4c76e66710@pc33.example.com;f0c05");
  EXPECT_EQ(attr(alice, "call-id"), "a84b4c76e66710@pc33.example.com");
  // Local = the focus: a Join to the focus carries to-tag=f0c05,
  // from-tag=1928301774 (RFC 3911 §7.1).
  EXPECT_EQ(attr(alice, "local-tag"), "f0c05");
  EXPECT_EQ(attr(alice, "remote-tag"), "1928301774");
  EXPECT_EQ(attr(alice, "direction"), "recipient");
  EXPECT_EQ(alice.get<std::string>("state"), "confirmed");
  EXPECT_EQ(alice.get<std::string>("local.identity"), "sip:room1@focus.example.com");
  EXPECT_EQ(attr(alice.get_child("local.target"), "uri"), "sip:room1@203.0.113.1:5060");
  EXPECT_EQ(alice.get<std::string>("remote.identity"), "sip:alice@example.com");
  EXPECT_EQ(attr(alice.get_child("remote.identity"), "display-name"), "Alice");
  EXPECT_EQ(attr(alice.get_child("remote.target"), "uri"), "sip:alice@192.0.2.4:5060");

  const ptree& bob = *dialogs[1];
  EXPECT_EQ(attr(bob, "direction"), "initiator");
  EXPECT_EQ(attr(bob, "remote-tag"), "<absent>");  // no answer yet, no tag
  EXPECT_EQ(bob.get<std::string>("state"), "trying");
  // Without a recorded local URI the conference URI stands in, and the
  // member's entity for the remote identity.
  EXPECT_EQ(bob.get<std::string>("local.identity"), "sip:room1@focus.example.com");
  EXPECT_FALSE(bob.get_child_optional("local.target"));
  EXPECT_EQ(bob.get<std::string>("remote.identity"), "sip:bob@example.com");
  EXPECT_EQ(attr(bob.get_child("remote.identity"), "display-name"), "<absent>");
  expect_valid(xml);
}

TEST(DialogInfo, TheSchemaCheckRejectsWhatTheRfcForbids) {
  // A control for expect_valid(): a <dialog> without its <state> is invalid.
  if (!testing::have_xmllint()) GTEST_SKIP() << "xmllint (libxml2-utils) is not installed";
  std::string xml = dialog_info_full(room(), 1);
  const size_t at = xml.find("<state>confirmed</state>");
  ASSERT_NE(at, std::string::npos);
  xml.erase(at, 24);
  EXPECT_FALSE(testing::validate_against("dialog-info.xsd", xml).valid);
}

TEST(DialogInfo, StateFollowsTheDialogLifecyclePerRfc4235Section3_7_1) {
  MemberState m;
  m.dialog.initiator = true;
  EXPECT_EQ(dialog_state(m), "trying");
  m.dialog.remote_tag = "t";
  EXPECT_EQ(dialog_state(m), "early");
  m.dialog.confirmed = true;
  EXPECT_EQ(dialog_state(m), "confirmed");
  m.status = "disconnecting";
  EXPECT_EQ(dialog_state(m), "terminated");
  m.status = "disconnected";
  EXPECT_EQ(dialog_state(m), "terminated");
  MemberState incoming;  // a dial-in before its ACK
  incoming.dialog.remote_tag = "r";
  EXPECT_EQ(dialog_state(incoming), "early");
}

TEST(DialogInfo, DialogIdsAreUniqueEvenWhenAReplacesKeepsTheMemberId) {
  ConferenceState state = room();
  MemberState replacing = state.members[0];
  replacing.dialog.call_id = "replacing@192.0.2.4";
  replacing.dialog.local_tag = "f0c07";
  state.members.push_back(replacing);
  const ptree doc = parse_xml(dialog_info_full(state, 1));
  const auto dialogs = dialogs_of(doc);
  ASSERT_EQ(dialogs.size(), 3u);
  EXPECT_NE(attr(*dialogs[0], "id"), attr(*dialogs[2], "id"));
  MemberState no_call;
  no_call.id = 42;
  EXPECT_EQ(dialog_element_id(no_call), "member-42");
}

TEST(DialogInfo, HiddenMembersAreListedAndAnEmptyRoomIsValid) {
  ConferenceState state = room();
  state.members[0].hidden = true;
  EXPECT_EQ(dialogs_of(parse_xml(dialog_info_full(state, 1))).size(), 2u);
  state.members.clear();
  const std::string xml = dialog_info_full(state, 2);
  EXPECT_TRUE(dialogs_of(parse_xml(xml)).empty());
  expect_valid(xml);
}

TEST(DialogInfo, HostileValuesStayWellFormedAndValid) {
  ConferenceState state = room();
  state.members[0].display_text = std::string("\"><dialog id=\"x\x00\x01\xff", 19);
  state.members[0].dialog.call_id = "<&>\"'";
  state.members[0].dialog.remote_target = "sip:a@b;x=\"<>\"";
  const std::string xml = dialog_info_full(state, 1);
  const ptree doc = parse_xml(xml);
  const auto dialogs = dialogs_of(doc);
  ASSERT_EQ(dialogs.size(), 2u);
  EXPECT_EQ(attr(*dialogs[0], "call-id"), "<&>\"'");
  const std::string name = attr(dialogs[0]->get_child("remote.identity"), "display-name");
  EXPECT_EQ(name.substr(0, 14), "\"><dialog id=\"");
  EXPECT_EQ(name.find('\0'), std::string::npos);
  expect_valid(xml);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
