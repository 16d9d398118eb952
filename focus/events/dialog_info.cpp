#include "focus/events/dialog_info.hpp"

#include <sstream>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include "focus/events/conference_info.hpp"

namespace chorus::focus {

namespace {

using boost::property_tree::ptree;

ptree& add_element(ptree& parent, std::string_view name, std::string_view text = {}) {
  return parent.push_back({std::string(name), ptree(xml_safe(text))})->second;
}
void set_attribute(ptree& element, std::string_view name, std::string_view value) {
  auto it = element.find("<xmlattr>");
  // Attributes first, so the writer sees them before any child.
  ptree& attributes =
      it != element.not_found() ? it->second : element.push_front({"<xmlattr>", ptree()})->second;
  attributes.push_back({std::string(name), ptree(xml_safe(value))});
}

// <local>/<remote> (RFC 4235 §4.1.6): identity (a name-addr's URI with its
// display name) and target (the Contact).
void add_participant(ptree& dialog, std::string_view name, std::string_view identity,
                     std::string_view display_name, std::string_view target) {
  if (identity.empty() && target.empty()) return;
  ptree& participant = add_element(dialog, name);
  if (!identity.empty()) {
    ptree& id = add_element(participant, "identity", identity);
    if (!display_name.empty()) set_attribute(id, "display-name", display_name);
  }
  if (!target.empty()) set_attribute(add_element(participant, "target"), "uri", target);
}

}  // namespace

std::string_view dialog_state(const MemberState& member) {
  if (member.status == "disconnecting" || member.status == "disconnected") return "terminated";
  if (member.dialog.confirmed) return "confirmed";
  if (member.dialog.initiator && member.dialog.remote_tag.empty()) return "trying";
  return "early";
}

std::string dialog_element_id(const MemberState& member) {
  // A Replaces keeps the member id for the new dialog, so the id comes from
  // the dialog itself; the member id only while no Call-ID exists.
  if (member.dialog.call_id.empty()) return "member-" + std::to_string(member.id);
  return member.dialog.call_id + ";" + member.dialog.local_tag;
}

std::string dialog_info_full(const ConferenceState& state, uint32_t version) {
  ptree document;
  ptree& root = add_element(document, "dialog-info");
  set_attribute(root, "xmlns", kDialogInfoNamespace);
  set_attribute(root, "version", std::to_string(version));
  set_attribute(root, "state", "full");
  set_attribute(root, "entity", state.entity);
  for (const MemberState& member : state.members) {
    const MemberDialog& d = member.dialog;
    // A ringing dial-out that forked has one early dialog per remote tag
    // (RFC 4235 §3.7.1: each listed on its own).
    const bool forks = !d.confirmed && d.initiator && !d.early_remote_tags.empty();
    const size_t count = forks ? d.early_remote_tags.size() : 1;
    for (size_t i = 0; i < count; ++i) {
      const std::string& remote_tag = forks ? d.early_remote_tags[i] : d.remote_tag;
      ptree& dialog = add_element(root, "dialog");
      set_attribute(dialog, "id",
                    forks ? dialog_element_id(member) + ";" + remote_tag : dialog_element_id(member));
      if (!d.call_id.empty()) set_attribute(dialog, "call-id", d.call_id);
      if (!d.local_tag.empty()) set_attribute(dialog, "local-tag", d.local_tag);
      if (!remote_tag.empty()) set_attribute(dialog, "remote-tag", remote_tag);
      set_attribute(dialog, "direction", d.initiator ? "initiator" : "recipient");
      add_element(dialog, "state", forks ? std::string_view("early") : dialog_state(member));
      add_participant(dialog, "local", d.local_uri.empty() ? state.entity : d.local_uri, {},
                      d.local_target);
      add_participant(dialog, "remote", d.remote_uri.empty() ? member.entity : d.remote_uri,
                      member.display_text, d.remote_target);
    }
  }
  std::ostringstream out;
  boost::property_tree::write_xml(
      out, document, boost::property_tree::xml_writer_make_settings<std::string>(' ', 0));
  return out.str();
}

}  // namespace chorus::focus
