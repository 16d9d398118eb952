#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signaling/dialog/dialog_usage.hpp"
#include "signaling/message/message.hpp"
#include "signaling/message/method.hpp"

namespace chorus::sip {

// RFC 3261 §12: a dialog is identified by Call-ID, local tag and remote tag.
struct DialogId {
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;

  friend bool operator==(const DialogId&, const DialogId&) = default;
};

struct DialogIdHash {
  size_t operator()(const DialogId& id) const noexcept;
};

// The id of the dialog an incoming request belongs to, seen from our side
// (§12.2.2): local tag = To tag, remote tag = From tag.
DialogId dialog_id_of_request(const Message& request);
// The id for a response to a request we sent (§12.2.1.2): local tag = From
// tag, remote tag = To tag.
DialogId dialog_id_of_response(const Message& response);

enum class DialogState : uint8_t { kEarly, kConfirmed, kTerminated };
enum class DialogRole : uint8_t { kUac, kUas };

// The state of one dialog (RFC 3261 §12) and the usages that share it.
// I/O-free: it reads Messages and builds Messages; the stack sends them
// (adding the Via) and the transaction layer matches responses.
class Dialog {
 public:
  // §12.1.1 UAS: `request` is the dialog-creating request we received,
  // `response` our 1xx (with To tag) or 2xx to it. Returns nullopt if either
  // lacks what a dialog needs (tags, Call-ID, a parseable Contact in the
  // request; RFC 3261 §8.1.1.8 makes it mandatory for dialog creation).
  // The first local CSeq (§12.1.1: "empty" until we send a request) is
  // `initial_local_cseq`, which should be DialogRandom::initial_cseq().
  static std::optional<Dialog> create_uas(const Message& request, const Message& response,
                                          uint32_t initial_local_cseq);
  // §12.1.1 UAS, before any response exists: an early dialog with our
  // chosen To tag and Contact. Build the 1xx/2xx with make_response() (or
  // InviteSession::respond) so they carry that tag and Contact; a 2xx
  // confirms it (confirm(), which InviteSession::respond calls).
  static std::optional<Dialog> create_uas(const Message& request, std::string local_tag,
                                          std::string local_contact, uint32_t initial_local_cseq);
  // §12.1.2 UAC: our dialog-creating `request` and a 1xx-with-To-tag or 2xx
  // response. Each forked response with a different To tag makes a distinct
  // (early) dialog.
  static std::optional<Dialog> create_uac(const Message& request, const Message& response);

  Dialog(Dialog&&) noexcept = default;
  Dialog& operator=(Dialog&&) noexcept = default;
  ~Dialog() = default;

  const DialogId& id() const { return id_; }
  DialogRole role() const { return role_; }
  DialogState state() const { return state_; }
  bool early() const { return state_ == DialogState::kEarly; }
  bool confirmed() const { return state_ == DialogState::kConfirmed; }
  bool terminated() const { return state_ == DialogState::kTerminated; }
  // §12.1.1: the dialog-creating request came over TLS with a sips Request-URI
  // (we cannot see the transport here, so: a sips Request-URI).
  bool secure() const { return secure_; }
  // Whether we sent the dialog-creating request, so generated the Call-ID
  // (RFC 3261 §14.1 glare back-off depends on it).
  bool owns_call_id() const { return role_ == DialogRole::kUac; }

  // "<uri>" or "\"Display\" <uri>", without tag: what goes in From/To.
  const std::string& local_party() const { return local_party_; }
  const std::string& remote_party() const { return remote_party_; }
  const std::string& local_uri() const { return local_uri_; }
  const std::string& remote_uri() const { return remote_uri_; }
  // The URI of the peer's Contact: Request-URI of our requests.
  const std::string& remote_target() const { return remote_target_; }
  // Our Contact header value ("<sip:focus@host;transport=tcp>;isfocus").
  const std::string& local_contact() const { return local_contact_; }
  void set_local_contact(std::string contact) { local_contact_ = std::move(contact); }
  // Route set, each entry one name-addr ("<sip:p1.example.com;lr>") in the
  // order our requests carry them.
  const std::vector<std::string>& route_set() const { return route_set_; }
  // The CSeq number of the last request we sent in this dialog.
  uint32_t local_cseq() const { return local_cseq_; }
  std::optional<uint32_t> remote_cseq() const { return remote_cseq_; }

  // §12.2.1.1: a new in-dialog request (BYE, re-INVITE, UPDATE, INFO, NOTIFY,
  // REFER, SUBSCRIBE, PRACK, MESSAGE, OPTIONS). Increments the local CSeq.
  // Request-URI and Route follow the route set (loose or strict routing);
  // From/To carry the tags; Max-Forwards 70; Contact on target-refresh and
  // other requests that need it. No Via: the stack adds it.
  // Must not be called for ACK or CANCEL.
  Message make_request(Method method);
  // §13.2.2.4: ACK for a 2xx carries the INVITE's CSeq number and no new CSeq.
  Message make_ack(uint32_t invite_cseq) const;
  // A response to an in-dialog (or the dialog-creating) request: To tag = our
  // local tag, our Contact on 1xx/2xx to INVITE/SUBSCRIBE/REFER/UPDATE/NOTIFY.
  Message make_response(const Message& request, int status, std::string_view reason = {}) const;

  // §12.2.2: checks an incoming in-dialog request. nullopt: accepted (the
  // remote CSeq and, for target-refresh requests, the remote target are
  // updated). Otherwise the response to send: 500 "CSeq out of order" for a
  // CSeq below the remote CSeq. ACK and CANCEL are not sequenced and always
  // pass (they reuse the INVITE's number).
  std::optional<Message> check_request(const Message& request);

  // UAC side: a response to a request we sent in this dialog (or to the
  // dialog-creating request). A 2xx to INVITE confirms an early dialog and
  // recomputes the route set (§13.2.2.4); 1xx/2xx to a target-refresh
  // request update the remote target (§12.2.1.2). A 481 or 408 to an
  // in-dialog request terminates the dialog (§12.2.1.2).
  void on_response(const Message& response);

  // §13.3.1.4: our 2xx to the dialog-creating INVITE made it confirmed.
  void confirm();
  // Terminates the dialog and all its usages.
  void terminate();

  // Usages (RFC 5057), in the order they were added.
  DialogUsage& add_usage(std::unique_ptr<DialogUsage> usage);
  const std::vector<std::unique_ptr<DialogUsage>>& usages() const { return usages_; }
  // The first live usage of `kind` for which `match` returns true.
  DialogUsage* find_usage(UsageKind kind,
                          const std::function<bool(const DialogUsage&)>& match = {}) const;
  // Drops terminated usages; a dialog left without any is terminated
  // (RFC 5057 §5: a dialog ends with its last usage).
  void remove_terminated_usages();
  // Drops terminated usages of `kind` only (ended subscriptions of a dialog
  // whose other usages live on, or about to get a new one): the dialog's
  // state stays as it is, even with no usage left.
  void remove_terminated_usages(UsageKind kind);
  bool has_live_usages() const;
  // Usages of `kind` not yet terminated (the per-dialog caps count these).
  size_t live_usages(UsageKind kind) const;

  // Earliest deadline of any usage, and firing them.
  std::optional<TimePoint> next_deadline() const;
  DeadlineActions on_deadline(TimePoint now);

 private:
  Dialog() = default;
  Message build_request(Method method, uint32_t cseq) const;
  void set_route_set_from(const Message& message, bool reverse);
  void update_remote_target_from(const Message& message);

  DialogId id_;
  DialogRole role_ = DialogRole::kUas;
  DialogState state_ = DialogState::kEarly;
  bool secure_ = false;
  std::string local_party_;
  std::string remote_party_;
  std::string local_uri_;
  std::string remote_uri_;
  std::string remote_target_;
  std::string local_contact_;
  std::vector<std::string> route_set_;
  uint32_t local_cseq_ = 0;
  std::optional<uint32_t> remote_cseq_;
  std::vector<std::unique_ptr<DialogUsage>> usages_;
};

// RFC 3261 §12.1: 1xx/2xx to these create a dialog (INVITE, SUBSCRIBE and,
// by RFC 3515 §2.4.7's implicit subscription, REFER).
bool creates_dialog(Method method);
// §12.2 / RFC 3311 §5.1 / RFC 6665 §4.1: requests that refresh the remote
// target.
bool is_target_refresh(Method method);

}  // namespace chorus::sip
