#include "signaling/dialog/dialog_set.hpp"

#include <cassert>

#include "signaling/message/header_dialog_ref.hpp"

namespace chorus::sip {

Dialog& DialogSet::insert(Dialog dialog) {
  DialogId id = dialog.id();
  auto [it, inserted] = dialogs_.try_emplace(std::move(id), nullptr);
  assert(inserted && "dialog id already in the set");
  if (inserted) it->second = std::make_unique<Dialog>(std::move(dialog));
  return *it->second;
}

Dialog* DialogSet::find(const DialogId& id) const {
  const auto it = dialogs_.find(id);
  return it == dialogs_.end() ? nullptr : it->second.get();
}

void DialogSet::erase(const DialogId& id) {
  dialogs_.erase(id);
}

DialogSet::RequestMatch DialogSet::match_request(const Message& request) const {
  RequestMatch match;
  if (request.to().tag().empty()) {
    match.out_of_dialog = true;
    return match;
  }
  match.dialog = find(dialog_id_of_request(request));
  if (!match.dialog && request.method() != Method::kAck) {
    // §12.2.2: a request with a To tag that matches no dialog.
    match.reject = make_response(request, 481);
  }
  return match;
}

Dialog* DialogSet::find_for_response(const Message& response) const {
  return find(dialog_id_of_response(response));
}

DialogSet::Referenced DialogSet::find_referenced(std::string_view call_id,
                                                 std::string_view local_tag,
                                                 std::string_view remote_tag,
                                                 bool early_only) const {
  Referenced out;
  Dialog* dialog =
      find(DialogId{std::string(call_id), std::string(local_tag), std::string(remote_tag)});
  if (!dialog || dialog->terminated()) return out;
  out.dialog = dialog;
  out.status =
      early_only && !dialog->early() ? ReferencedStatus::kNotEarly : ReferencedStatus::kFound;
  return out;
}

DialogSet::Referenced DialogSet::find_replaces(std::string_view replaces_value) const {
  const auto r = parse_replaces(replaces_value);
  if (!r) return {};
  // RFC 3891 §3: "the to-tag parameter is compared to the local tag, and the
  // from-tag parameter is compared to the remote tag".
  return find_referenced(r->call_id, r->to_tag, r->from_tag, r->early_only);
}

DialogSet::Referenced DialogSet::find_join(std::string_view join_value) const {
  const auto j = parse_join(join_value);
  if (!j) return {};
  // RFC 3911 §4: matched like Replaces.
  return find_referenced(j->call_id, j->to_tag, j->from_tag);
}

DialogSet::Referenced DialogSet::find_target_dialog(std::string_view target_dialog_value) const {
  const auto t = parse_target_dialog(target_dialog_value);
  if (!t) return {};
  // RFC 4538 §7: the tags are the sender's view of its dialog with us, so its
  // remote tag is our local tag.
  return find_referenced(t->call_id, t->remote_tag, t->local_tag);
}

std::optional<TimePoint> DialogSet::next_deadline() const {
  std::optional<TimePoint> earliest;
  for (const auto& [id, dialog] : dialogs_) {
    const auto at = dialog->next_deadline();
    if (at && (!earliest || *at < *earliest)) earliest = at;
  }
  return earliest;
}

std::vector<DialogSet::DialogActions> DialogSet::on_deadline(TimePoint now) {
  std::vector<DialogActions> out;
  for (auto& [id, dialog] : dialogs_) {
    const auto at = dialog->next_deadline();
    if (!at || *at > now) continue;
    DeadlineActions actions = dialog->on_deadline(now);
    if (!actions.requests.empty() || actions.reinvite_retry_due || actions.session_expired ||
        actions.session_refresh_due) {
      out.push_back(DialogActions{id, std::move(actions)});
    }
  }
  collect_garbage();
  return out;
}

void DialogSet::collect_garbage() {
  for (auto it = dialogs_.begin(); it != dialogs_.end();) {
    it->second->remove_terminated_usages();
    if (it->second->terminated()) {
      it = dialogs_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace chorus::sip
