#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "signaling/dialog/dialog.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {

// Every dialog of one user agent, keyed by dialog id. Dialogs live at stable
// addresses (owned through unique_ptr) until erased, so a Dialog* taken from
// the set stays valid across inserts.
class DialogSet {
 public:
  // Inserts a new dialog. A dialog with the same id already present is a
  // caller bug (asserted); in release the existing one is returned.
  Dialog& insert(Dialog dialog);
  Dialog* find(const DialogId& id) const;
  void erase(const DialogId& id);
  size_t size() const { return dialogs_.size(); }
  bool empty() const { return dialogs_.empty(); }

  // Result of matching an incoming request against the set (§12.2.2).
  struct RequestMatch {
    Dialog* dialog = nullptr;       // the dialog it belongs to
    bool out_of_dialog = false;     // no To tag: a request outside any dialog
    std::optional<Message> reject;  // 481 for a To tag naming no dialog
  };
  // A request whose To carries a tag is in-dialog: it matches a dialog or is
  // rejected "481 Call/Transaction Does Not Exist". ACK never gets a response
  // (§17.1.1.3): an unmatched ACK has dialog == nullptr and no reject.
  RequestMatch match_request(const Message& request) const;
  // The dialog a response to our in-dialog request belongs to (local = From
  // tag, remote = To tag), or nullptr.
  Dialog* find_for_response(const Message& response) const;

  // Dialogs named by a peer in Replaces (RFC 3891 §3), Join (RFC 3911 §4)
  // or Target-Dialog (RFC 4538 §4). The caller maps the header's tags onto
  // OUR view:
  //   Replaces / Join:  local_tag = to-tag,      remote_tag = from-tag
  //   Target-Dialog:    local_tag = remote-tag,  remote_tag = local-tag
  // (use find_replaces / find_join / find_target_dialog, which do that).
  enum class ReferencedStatus : uint8_t {
    kFound,
    kNoSuchDialog,  // RFC 3891 §3 / RFC 3911 §4: 481
    kNotEarly,      // early-only given and the dialog is confirmed: 486 (RFC 3891 §3)
  };
  struct Referenced {
    Dialog* dialog = nullptr;
    ReferencedStatus status = ReferencedStatus::kNoSuchDialog;
  };
  Referenced find_referenced(std::string_view call_id, std::string_view local_tag,
                             std::string_view remote_tag, bool early_only = false) const;
  // Parse a header value and look it up; a value that does not parse is
  // kNoSuchDialog (the caller answers 400 if it wants to distinguish).
  Referenced find_replaces(std::string_view replaces_value) const;
  Referenced find_join(std::string_view join_value) const;
  Referenced find_target_dialog(std::string_view target_dialog_value) const;

  // Deadlines of every usage of every dialog.
  std::optional<TimePoint> next_deadline() const;
  struct DialogActions {
    DialogId dialog;
    DeadlineActions actions;
  };
  // Fires every deadline due at `now`, then drops terminated usages and
  // dialogs left without one. Returns what to send, per dialog.
  std::vector<DialogActions> on_deadline(TimePoint now);

  // Drops terminated usages and erases terminated dialogs. Call after
  // handing a message to a dialog's usages.
  void collect_garbage();

  // Iteration for the application (roster, dialog event package).
  // Must not insert or erase dialogs from inside `f`.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [id, dialog] : dialogs_) f(static_cast<const Dialog&>(*dialog));
  }
  template <class F>
  void for_each(F&& f) {
    for (auto& [id, dialog] : dialogs_) f(*dialog);
  }

 private:
  std::unordered_map<DialogId, std::unique_ptr<Dialog>, DialogIdHash> dialogs_;
};

}  // namespace chorus::sip
