#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "focus/control.hpp"
#include "focus/events/conference_state.hpp"
#include "focus/ops/limits.hpp"
#include "focus/ops/metrics_media.hpp"
#include "focus/ops/options.hpp"
#include "focus/rooms/call.hpp"
#include "focus/rooms/media_session.hpp"
#include "focus/rooms/room.hpp"
#include "focus/services/move_grant.hpp"
#include "mixer/media_engine.hpp"
#include "record/writer.hpp"
#include "signaling/asio.hpp"
#include "signaling/auth/digest_server.hpp"
#include "signaling/dialog/dialog_random.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/dialog/invite_session.hpp"
#include "signaling/sdp/offer_answer.hpp"
#include "signaling/stack.hpp"
#include "webrtc/dtls_transport.hpp"

namespace chorus::focus {

class EventService;

// Counts of what the focus holds, for /metrics and the churn checks: after
// every call has ended each returns to its baseline.
// The text/csv body of ANSWER, PICKUP and REJECT (remote call control):
// the affected dialog's Call-ID and its two tags (either order), then an
// optional reason: a status code and text. Views into the parsed body.
struct RemoteControlBody {
  std::string_view call_id;
  std::string_view tag_a;
  std::string_view tag_b;
  int code = 0;  // 0: none given
  std::string_view text;
};
// nullopt (and why, in `error`) when the body does not hold one record of
// at least three ';'- or ','-separated fields, or the code is no status.
std::optional<RemoteControlBody> parse_remote_control_body(std::string_view body,
                                                           std::string* error = nullptr);

// A header embedded in a REFER's Refer-To URI (percent-decoded) that the
// dial-out INVITE may carry: "" when it may, else the 400 reason phrase
// (services/refer.cpp: an allowlist of names, no control characters).
inline constexpr std::string_view kHeaderNotAllowedInReferTo = "Header Not Allowed In Refer-To";
inline constexpr std::string_view kControlCharacterInReferToHeader =
    "Control Character In Refer-To Header";
std::string_view embedded_header_fault(std::string_view name, std::string_view value);

// What an action URN does (services/refer.cpp's action table).
enum class ActionKind : uint8_t;

struct FocusGauges {
  size_t calls = 0;
  size_t rooms = 0;
  size_t dialogs = 0;        // call dialogs and refer-subscription dialogs
  size_t dialing = 0;        // dial-outs waiting for a final response
  size_t subscriptions = 0;  // conference and dialog package subscribers
  size_t transactions = 0;   // SIP transactions alive in the stack
  size_t media_totals_entries = 0;
  size_t unsent_removes = 0;     // media removals waiting for the engine to take them
  size_t unsent_changes = 0;     // members with refused media changes kept for a retry
  size_t removes_in_flight = 0;  // submitted, completion not yet seen
  uint64_t media_commands_failed = 0;
  uint64_t media_removes_retried = 0;
  uint64_t joins_refused_busy = 0;  // 503: the media engine pushed back
  size_t relay_subscriptions = 0;   // dialog subscriptions relaying message/sip
  uint64_t relay_overflows = 0;     // of those, ended because they could not keep up
  size_t recordings_active = 0;     // rooms being recorded
  uint64_t recordings_failed = 0;   // recordings stopped by a write error
  uint64_t recordings_finished = 0;  // recordings whose files are complete
  size_t remote_moves = 0;           // members REFERred to another node, outcome pending
  uint64_t referrals_expired = 0;    // REFER subscriptions ended by expiry, no outcome seen
  uint64_t pin_timeouts = 0;         // calls ended because their PIN was not keyed in time
  // Abuse limits (focus/ops/limits.hpp).
  LimitCounters limits;
  size_t limit_sources_tracked = 0;
  size_t limit_locked_pairs = 0;
  size_t limit_deferred = 0;  // requests waiting out account_delay
  double cpu_percent = 0;
};

// The conference focus (RFC 4579). Answers OPTIONS with our capabilities;
// an INVITE to sip:<room>@host joins room <room> (created on first use): the
// negotiated stream goes to the media engine as an acknowledged add, and once
// its completion reports the bound RTP port the 200 carries the SDP answer
// (RFC 3264) naming that port. Join (RFC 3911) picks a supervisor role,
// Replaces (RFC 3891) takes a member's place, REFER (RFC 3515 / RFC 4579
// §5.5) dials out, removes members, or acts through action URNs; SUBSCRIBE
// serves the conference (RFC 4575) and dialog (RFC 4235) packages. Rooms
// (focus/rooms/room.hpp) own their calls. When `sip.slow_room_prefix` is set
// (a test hook, off by default), rooms named with it ring (180) for
// Options::ring_delay before answering, so CANCEL can be tested. Everything
// runs on the signalling io_context thread.
class Server final : public Control {
 public:
  Server(boost::asio::io_context& io, Options options);
  Server(boost::asio::io_context& io, Options options, sip::TimerService& timers);
  // With a media engine of the caller's (tests: a fake that records commands).
  Server(boost::asio::io_context& io, Options options, sip::TimerService& timers,
         std::unique_ptr<mixer::MediaEngine> engine);
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the SIP listeners; throws on failure (start-up).
  void start();
  // Ends every call with BYE (best effort) and closes the transports.
  void stop();
  // Applies a new configuration's rooms, accounts and music on hold without
  // touching calls (SIGHUP). Listeners, ports and shards need a restart.
  void reload(const Options& options);

  sip::Stack& stack() { return stack_; }
  const sip::Stack& stack() const { return stack_; }
  mixer::MediaEngine& engine() { return *engine_; }
  // The process's DTLS certificate (browser members; its fingerprint is in
  // every UDP/TLS/RTP/SAVPF answer) and the context the handshakes share.
  const webrtc::DtlsCertificate& dtls_certificate() const { return *dtls_certificate_; }
  const webrtc::DtlsContext& dtls_context() const { return *dtls_context_; }
  size_t call_count() const { return rooms_.call_count(); }
  const EventService& events() const { return *events_; }
  size_t dialog_count() const { return dialogs_.size(); }
  // Usages (live or ended) the dialog `id` holds; 0 when there is no such
  // dialog.
  size_t dialog_usage_count(const sip::DialogId& id) const {
    const sip::Dialog* dialog = dialogs_.find(id);
    return dialog != nullptr ? dialog->usages().size() : 0;
  }
  size_t room_count() const { return rooms_.room_count(); }
  // Calls in `room` (hidden members included); 0 for a room that does not exist.
  size_t room_calls(std::string_view room) const {
    const Room* found = rooms_.find(room);
    return found != nullptr ? found->size() : 0;
  }
  FocusGauges gauges() const;
  // RTP/RTCP totals of every stream, live and closed (for /metrics).
  const MediaTotals& media_totals() const { return media_totals_; }
  // The published state of a room (nullopt if it does not exist).
  std::optional<ConferenceState> room_state(std::string_view room) const;
  // sip:park@host as a room: every parked call (RFC 5359 §2.15).
  ConferenceState park_state() const;

  // Control (admin API, action URNs, DTMF keys).
  std::vector<ConferenceState> rooms() const override;
  ControlResult set_muted(std::string_view room, uint64_t member, bool muted) override;
  ControlResult kick(std::string_view room, uint64_t member) override;
  ControlResult set_role(std::string_view room, uint64_t member, MemberRole role,
                         uint64_t whisper_target) override;
  ControlResult set_hold(std::string_view room, uint64_t member, bool hold) override;
  ControlResult admit(std::string_view room, uint64_t member) override;
  ControlResult refuse(std::string_view room, uint64_t member) override;
  ControlResult pickup(std::string_view room, uint64_t member, std::string_view uri,
                       std::string_view account) override;
  ControlResult dial_out(std::string_view room, std::string_view uri,
                         std::string_view account) override;
  ControlResult set_recording(std::string_view room, bool on,
                              std::string_view account = {}) override;
  ControlResult move_member(std::string_view room, uint64_t member, std::string_view to,
                            std::optional<std::string> pin, std::string_view account) override;
  ControlResult merge_rooms(std::string_view room, std::string_view into,
                            std::optional<std::string> pin, std::string_view account,
                            RoomMoveReport* report) override;
  ControlResult split_room(std::string_view room, std::string_view to,
                           const std::vector<uint64_t>& members, std::optional<std::string> pin,
                           std::string_view account, RoomMoveReport* report) override;
  ControlResult create_sidebar(std::string_view room, const SidebarSpec& spec,
                               uint32_t* id) override;
  ControlResult dissolve_sidebar(std::string_view room, uint32_t id) override;
  ControlResult set_sidebar_member(std::string_view room, uint32_t id, uint64_t member,
                                   bool in) override;
  // Recordings whose files could not be written (record::Writer).
  uint64_t recordings_failed() const { return recorder_->recordings_failed(); }
  // Recording frames the taps could not queue (silence in the files).
  uint64_t recording_frames_dropped() const { return recorder_->frames_dropped(); }
  AccountCheck check_account(std::string_view authorization, std::string_view method,
                             std::string_view uri, Operation operation,
                             std::string_view source) override;
  void count_token_attempt(std::string_view source, bool right) override;
  std::vector<std::string> account_challenges(bool stale) override;
  bool dial_out_allowed(std::string_view user, std::string_view uri) const override;
  bool account_holds(std::string_view user, Operation operation) const override;
  void set_event_listener(std::function<void(const ControlEvent&)> listener) override;

  // Drains the media engine's events now (tests with a fake engine).
  void poll_media() { poll_engine(); }

  // RFC 3261 §20.5 / §20.1 / §20.37 values we advertise.
  static constexpr std::string_view kAllow =
      "INVITE, ACK, BYE, CANCEL, OPTIONS, SUBSCRIBE, NOTIFY, REFER, UPDATE, INFO, ANSWER, PICKUP, "
      "REJECT";
  static constexpr std::string_view kAccept =
      "application/sdp, message/sipfrag, application/conference-info+xml, "
      "application/dialog-info+xml";
  static constexpr std::string_view kSupported =
      "replaces, join, norefersub, tdialog, timer, action-ref";

 private:
  // What a dial-out needs beyond the room.
  struct DialOut {
    std::string room;
    std::string target;  // the URI to INVITE, without embedded headers
    std::vector<std::pair<std::string, std::string>> headers;  // from the Refer-To URI
    std::string referred_by;
    std::optional<Referral> referral;
    bool hidden = false;  // a service call (music on hold, park)
    mixer::HoldMode hold = mixer::HoldMode::kNone;
    // Who authorised it: an account (a 3xx is followed only to a target its
    // dial-out patterns allow), or "" for the operator's token and the
    // trusted service source.
    std::string account;
    std::string source;  // the requester, whose reflection budget a 3xx spends
    bool source_proven = false;  // Server::source_proven of its request
    // The per-source call cap it counts against while it rings and once
    // answered (AbuseGuard::may_add_call, checked by the caller), "" for
    // none.
    std::string limit_key;
  };
  struct Admission;

  Server(boost::asio::io_context& io, Options options, sip::TimerService* timers,
         std::unique_ptr<mixer::MediaEngine> engine);

  void on_request(const sip::ServerTransaction& tx);
  void handle_request(const sip::ServerTransaction& tx);
  // Abuse limits around a request (server_limits.cpp). Each returns true
  // when it answered (or deferred) the request.
  bool defer_slowed(const sip::ServerTransaction& tx);
  bool refuse_overload(const sip::ServerTransaction& tx);
  // `dialog`: the subscription dialog an in-dialog SUBSCRIBE adds to (its
  // route set, not the request's Record-Route, is where NOTIFYs go).
  bool refuse_subscription(const sip::ServerTransaction& tx, const sip::Dialog* dialog = nullptr);
  bool refuse_reflection(const sip::ServerTransaction& tx, std::string_view destination_host);
  // A SUBSCRIBE refresh whose Contact moves its NOTIFYs elsewhere: the
  // reflection check of refuse_subscription, without the caps.
  bool refuse_retarget(const sip::ServerTransaction& tx, const sip::Dialog& dialog);
  // A REFER in `dialog` when kMaxReferralsPerDialog of its referrals are
  // open: answered 503 + Retry-After (true). Ended ones leave it first.
  bool refuse_referral_backlog(const sip::ServerTransaction& tx, sip::Dialog* dialog);
  // Where a request toward `target` behind `routes` goes first: the first
  // route's host, else the target's; a maddr parameter wins.
  // REFER subscriptions one dialog may have running at once (each lives
  // until its referral's outcome or its expiry); one more is 503.
  static constexpr size_t kMaxReferralsPerDialog = 8;
  void release_referral_dialog(const sip::DialogId& id, sip::Dialog& dialog);
  static std::string first_hop_host(const std::vector<sip::NameAddr>& routes,
                                    const sip::Uri& target);
  void reply_limited(const sip::ServerTransaction& tx, std::string_view reason,
                     uint32_t retry_after);
  // Once a second: after a flood has drained (transactions, calls and
  // subscriptions down by kTrimAfter from their peak) the allocator gives
  // the freed memory back to the system (malloc_trim), so RSS returns.
  void housekeep();
  // REFER subscriptions past their expiry get their final NOTIFY (timeout);
  // an out-of-dialog REFER's dialog goes with it (services/dial_out.cpp).
  void expire_referrals();
  std::string source_of(const sip::ServerTransaction& tx) const {
    return guard_.source_of(tx.request(), tx.source());
  }
  // The source is the peer of the connection the request came on (TCP,
  // TLS, WS), proven by its handshake; not a UDP address, which anyone can
  // spoof, nor one a trusted proxy's Via names (AbuseGuard::may_reflect).
  bool source_proven(const sip::ServerTransaction& tx) const {
    return sip::is_reliable(tx.source().transport) && source_of(tx) == tx.source().address;
  }
  void on_ack(const sip::Message& ack);
  void on_cancel(const sip::ServerTransaction& invite);
  void on_ack_timeout(const sip::Message& response);

  // Checks every request must pass (Max-Forwards, method, Require, URI
  // scheme); returns true when it answered.
  bool reject_early(const sip::ServerTransaction& tx);
  void handle_new_invite(const sip::ServerTransaction& tx);
  void handle_in_dialog(const sip::ServerTransaction& tx, sip::Dialog& dialog);
  // The INVITE usage of call dialogs (rooms/invite_usage.cpp): re-INVITE,
  // UPDATE, BYE and ACK of a call pass through the dialog's
  // sip::InviteSession; the focus answers what it delivers and sends what
  // its deadlines ask for (RFC 4028 refresh, §14.1 glare retry, expiry BYE).
  sip::InviteSession::Config session_config() const;
  static sip::InviteSession* invite_session(const sip::Dialog& dialog);
  void on_session_request(const sip::ServerTransaction& tx, sip::Dialog& dialog, Call* call);
  // The answer to a request the session delivered (always through
  // InviteSession::respond); re-arms the call's session deadline.
  sip::Message session_response(Call& call, sip::Dialog& dialog, const sip::Message& request,
                                int status, std::string_view reason = {},
                                std::string_view sdp = {});
  void arm_session_deadline(Call& call);
  void on_session_deadline(const sip::DialogId& id);
  void send_in_session(const sip::DialogId& id, sip::Message request);
  void send_session_reinvite(Call& call);
  void on_session_response(const sip::DialogId& id, const sip::ClientEvent& event);
  void handle_reinvite(const sip::ServerTransaction& tx, sip::Dialog& dialog, Call& call);
  // A CANCEL of a re-INVITE whose answer waits for the shard (RFC 3261
  // §9.2): the 487 is out; the session forgets the INVITE and the codec
  // change is undone once the shard completes it.
  void cancel_reoffer(const sip::ServerTransaction& invite);
  void answer_reoffer(Call& call, const sip::ServerTransaction& tx);
  // The address, keys and direction of an accepted re-offer go to the shard.
  void apply_reoffer(Call& call, const sdp::Negotiated& result);
  void answer_invite(Call& call, const sip::ServerTransaction& tx);
  void end_call(const sip::DialogId& id, bool send_bye);
  // A member left: releases hidden members when no visible one is left;
  // when the room closes, CANCELs the dial-outs still ringing into it.
  // By value: ending the room's hidden members may free the Call whose
  // room() the caller passed (a role change of the last visible member).
  void after_leave(std::string room);
  // `room` has just closed: its ringing dial-outs are CANCELled and its end
  // published (after_leave, and a move target nobody reached).
  void end_room(const std::string& room);
  // sip:moh@ / sip:park@ (RFC 5359): every member there hears music on hold.
  bool is_service_room(std::string_view room) const;

  // The waiting room (rooms/waiting_room.cpp): the provisional timer (repeat
  // every interval, 480 at the deadline), 183/180, admission and refusal.
  void arm_waiting_timer(Call& call);
  void on_waiting_timer(const sip::DialogId& id);
  void send_waiting_provisional(Call& call);
  void admit_waiting(Call& call);
  // The waiting caller's INVITE gets a final `status` with an RFC 3326
  // Reason (`why`) and, for a redirect, Contact `redirect`; the call ends.
  void refuse_waiting(Call& call, int status, std::string_view phrase, std::string_view why,
                      std::string_view redirect = {});

  // Remote call control (services/remote_control.cpp): ANSWER, PICKUP and
  // REJECT on a waiting caller, a ringing dial-out or a member.
  void handle_remote_control(const sip::ServerTransaction& tx);
  // PICKUP onto `target`: a ringing dial-out is CANCELled and `target`
  // called in (on `account`'s behalf), a waiting caller redirected (`status`,
  // `why`), a member transferred (REFER).
  void pick_up(Call& call, const std::string& target, const std::string& account,
               const std::string& source, bool source_proven, int status, std::string_view why);
  // RFC 3515 REFER to the member in its dialog, to call `target`. Without
  // `on_response` no subscription is asked for (Refer-Sub: false, RFC 4488);
  // with it the member's NOTIFYs report the referred INVITE. Returns the
  // REFER's CSeq (its NOTIFYs' Event id), 0 when the dialog cannot take it.
  uint32_t transfer_member(Call& call, std::string_view target,
                           sip::ClientCallback on_response = {});

  // Join / Replaces (rooms/admission.cpp).
  std::optional<Admission> admit(const sip::ServerTransaction& tx, std::string_view room);
  // A dial-out still ringing, named from the Join/Replaces view (to-tag =
  // our tag, from-tag = an early dialog's remote tag), or nullptr.
  Call* find_ringing_dial_out(std::string_view call_id, std::string_view to_tag,
                              std::string_view from_tag) const;
  // Directed pickup of a ringing dial-out (Replaces naming its early
  // dialog): the pickup right, then the dial-out is cancelled and the
  // newcomer takes its room and role.
  std::optional<Admission> admit_pickup(const sip::ServerTransaction& tx, Admission admission,
                                        Call& ringing);
  // Room policy of a dial-in (listed rooms, member limit, PIN); false after
  // answering the refusal.
  bool admit_by_policy(const sip::ServerTransaction& tx, Admission& admission);
  void on_dtmf(Call& call, char digit);
  // PIN entry by DTMF: the room's pin_timeout runs from the answer; when it
  // passes with the PIN still not right, the call ends with BYE.
  void arm_pin_timer(Call& call);
  void on_pin_timeout(const sip::DialogId& id);
  // One wrong PIN (a wrong one before '#', or too many digits): the third
  // ends the call.
  void wrong_pin(Call& call);

  // REFER and dial-out (services/).
  void handle_refer(const sip::ServerTransaction& tx, sip::Dialog* dialog);
  // services/recording.cpp (README "Recording").
  bool handle_record_urn(const sip::ServerTransaction& tx, sip::Dialog* dialog,
                         const std::string& room, const sip::Uri& target);
  ControlResult start_recording(Room& room, std::string_view by);
  ControlResult stop_recording(Room& room, std::string_view why);
  mixer::NoticeTone recording_tone(int beeps) const;
  void auto_record(Room& room);
  void auto_record_refused(Room& room, std::string_view why);
  void submit_recording_stop(mixer::ConferenceId conference, int beeps);
  bool flush_recording_stop(mixer::ConferenceId conference);
  void retry_recording();
  void on_recording_completion(const mixer::Event& event);
  // services/sidebars.cpp (README "Sidebars"): REFER with Refer-To
  // urn:x-chorus:conference:sidebar-join / sidebar-leave.
  bool handle_sidebar_urn(const sip::ServerTransaction& tx, sip::Dialog* dialog,
                          const std::string& room, const sip::Uri& target);
  // What a subscription key (EventService) names: a room, or a sidebar
  // (sidebar_key): its members only, under its own URI.
  std::optional<ConferenceState> subscribed_state(std::string_view key) const;
  // The member's calls take its sidebar's mixer settings.
  void apply_sidebar(Room& room, uint64_t member);
  double sidebar_default_gain_db(std::string_view room) const;
  // services/announcements.cpp (README "Announcements").
  Announcements announcements_for(std::string_view room) const;
  void play_room_tone(const Room& room, bool join);
  void play_prompt(const Call& call, const std::string& prompt);
  // A member's media is up (or it left the waiting room, or its PIN was
  // right): the join tone to the others, or the first-participant prompt.
  void announce_join(const Call& call);
  // A member left (released from its room, which is still open): the
  // leave tone to those still present.
  void announce_leave(const Call& leaving);
  void announce_mute(const Call& call);
  void poll_recorder();
  void handle_action_urn(const sip::ServerTransaction& tx, sip::Dialog* dialog,
                         std::string_view action, const std::string& request_room);
  // Moving a member (services/move.cpp): the checks and the engine command
  // (202 when submitted), and what its completion does.
  struct MoveRefusal {
    int status;  // for the admin API (ControlResult)
    int sip_status;
    std::string_view sip_phrase;
    std::string why;
  };
  std::optional<MoveRefusal> refuse_move(const Call& call, const std::string& to,
                                         const std::optional<std::string>& pin,
                                         bool privileged) const;
  // A PIN given for a move (a REFER's ?pin=, the admin API, merge and
  // split) is a guess like one in an INVITE's Request-URI: counted per
  // (guesser, room `to`) with the same lockout, once per request. `guesser`:
  // the REFER's source (not counted when exempt) or "account:<user>".
  std::optional<MoveRefusal> guard_move_pin(std::string_view guesser, bool counted,
                                            const std::string& to,
                                            const std::optional<std::string>& pin, bool privileged);
  ControlResult start_move(Call& call, const std::string& to, const std::optional<std::string>& pin,
                           bool privileged, std::optional<Referral> referral);
  void move_by_refer(const sip::ServerTransaction& tx, sip::Dialog* dialog, Call& member,
                     const std::string& to, std::optional<std::string> user);
  void on_move_completion(const mixer::Event& event, bool done);
  // Our Contact names the call's (new) room: UPDATE, or re-INVITE.
  void refresh_target(Call& call);
  // A move target nobody reached: closed when it is empty and no other move
  // is on its way there, and announced ended. Only a room whose end a move
  // held back (ends_deferred_) ends as a leave ends it (end_room, which
  // CANCELs the dial-outs ringing into it); any other room is only undone:
  // a dial-out ringing into it rang into no room before the move, and goes
  // on ringing.
  void close_unused(const std::string& room);
  // Rooms whose last member left while a move was on its way in
  // (after_leave): their end waits for that move.
  std::unordered_set<std::string> ends_deferred_;
  // A move is on its way into `room` (it must not close meanwhile).
  bool move_pending_into(std::string_view room) const;
  // How many: they count against room B's member limit.
  size_t moves_pending_into(std::string_view room) const;
  // Merge and split (services/merge.cpp): every call checked, then each
  // moved by start_move. `all_or_nothing`: a call that cannot move refuses
  // the request (split) instead of staying behind (merge).
  ControlResult move_calls(const std::string& from, const std::string& to,
                           const std::vector<Call*>& calls, const std::optional<std::string>& pin,
                           std::string_view account, bool all_or_nothing, RoomMoveReport* report);
  struct MoveInFlight {
    std::string target;
    mixer::ConferenceId from_conference = 0;
  };
  std::unordered_map<mixer::CommandId, MoveInFlight> moves_in_flight_;
  // A move to a room on another node (services/move_remote.cpp, README
  // "Moving members"): with a cluster front and no such room here, the
  // member is REFERred to sip:ROOM@front; its NOTIFY with a 2xx sipfrag ends
  // our dialog with BYE (RFC 5589 §6), anything else leaves it in its room.
  struct RemoteMove {
    std::string to;
    std::optional<Referral> referral;  // the mover's REFER subscription, if any
    uint32_t refer_cseq = 0;           // our REFER's CSeq: its NOTIFYs' Event id
    sip::TimerId timer = 0;            // cluster_transfer_timeout
  };
  bool moves_remotely(std::string_view to) const;
  ControlResult start_remote_move(Call& call, const std::string& to,
                                  const std::optional<std::string>& pin, bool privileged,
                                  std::optional<Referral> referral);
  // Grants for moderators' moves between nodes (services/move_grant.hpp):
  // made for REFERs to another node, redeemed by admit_by_policy.
  MoveGrants grants_;
  bool warned_no_secret_ = false;  // "cluster.secret is unset" said once
  // A `;grant=` in the INVITE's Request-URI that lets it pass room
  // `room`'s PIN, member limit and waiting room (logged either way).
  bool redeem_grant(const sip::ServerTransaction& tx, std::string_view room);
  // A NOTIFY in a call dialog: true when it reported a remote move (answered).
  bool on_transfer_notify(const sip::ServerTransaction& tx, sip::Dialog& dialog);
  // The outcome: 2xx moved (BYE, unless the call is gone), else it stays.
  void finish_remote_move(const sip::DialogId& id, int status, std::string_view reason);
  std::unordered_map<sip::DialogId, RemoteMove, sip::DialogIdHash> remote_moves_;
  static constexpr size_t kMaxRemoteMoves = 256;
  // A remote move given up at cluster_transfer_timeout whose member may
  // still get into room B (B's waiting room admits it later): until
  // `expires` a 2xx sipfrag for its REFER ends the call here as a move in
  // time would, or the member would be in both rooms. At most
  // kMaxRemoteMoves, dropped with the call, on its outcome and once expired.
  struct LateRemoteMove {
    std::string to;
    uint32_t refer_cseq = 0;
    sip::TimePoint expires{};
  };
  void remember_late_move(const sip::DialogId& id, const RemoteMove& move);
  bool on_late_transfer_notify(const sip::ServerTransaction& tx, sip::Dialog& dialog);
  std::unordered_map<sip::DialogId, LateRemoteMove, sip::DialogIdHash> late_remote_moves_;
  // Answers a REFER 202 (RFC 3515) and sends the implicit subscription's
  // first NOTIFY; nullopt when the REFER was refused (and answered), else
  // where the final NOTIFY goes (none: Refer-Sub: false, RFC 4488).
  std::optional<std::optional<Referral>> accept_referral(const sip::ServerTransaction& tx,
                                                       sip::Dialog* dialog, std::string_view room);
  void run_action(ActionKind kind, Call& member);
  // The call a Target-Dialog value names, in either reading of its tags: a
  // member, or a dial-out still ringing; nullopt when it does not parse.
  struct NamedCall {
    Call* member = nullptr;
    Call* ringing = nullptr;
  };
  std::optional<NamedCall> resolve_target_dialog(std::string_view value);
  // The call whose dialog is `call_id` with these two tags in either order
  // (ours and the peer's): a member, or a dial-out still ringing.
  NamedCall find_by_ids(std::string_view call_id, std::string_view tag_a, std::string_view tag_b);
  // REFER method=BYE: the one member of `room` named by Target-Dialog, by
  // the Call-ID/From/To embedded in the Refer-To URI, or by the URI alone
  // (refused 485 when several match); nullopt after answering the refusal.
  std::optional<NamedCall> member_to_remove(const sip::ServerTransaction& tx,
                                            std::string_view room, const sip::Uri& target);
  void start_dial_out(DialOut request);
  void on_dial_out_response(const sip::DialogId& pending, const sip::ClientEvent& event);
  // A 3xx to a ringing dial-out: INVITE the first SIP Contact instead, once,
  // when it passes the original's authorisation. False: not followed.
  bool follow_redirect(Call& call, const sip::Message& response);
  void notify_referrer(const Referral& referral, int status, std::string_view reason,
                       std::span<const std::pair<std::string, std::string>> frag_headers = {});
  void send_bye(sip::Dialog& dialog);

  // Authorization (server_control.cpp): the user holding the operation's
  // right (focus/privileges.hpp), or nullopt after answering 401 (challenge)
  // or 403.
  std::optional<std::string> authorize(const sip::ServerTransaction& tx, Operation operation);
  // As authorize(), when which of `operations` a request is becomes known
  // only after a lookup that must not come first (the account holds one of
  // their rights; the caller checks the one that applies, has_right()).
  // `self`, when not empty, is an account that passes whatever its rights
  // (the owner of a call acting on it from another dialog).
  std::optional<std::string> authorize_any(const sip::ServerTransaction& tx,
                                           std::initializer_list<Operation> operations,
                                           std::string_view self = {});
  // The (source, account) bookkeeping of one checked Digest answer, SIP or
  // admin API: false when the pair is locked out (answer as a wrong password).
  bool count_digest_attempt(std::string_view source, const sip::DigestResult& result);
  // Authorization of a request that makes the focus INVITE `target`: the
  // operation's right, then the account's dial-out patterns (403 outside).
  std::optional<std::string> authorize_dial(const sip::ServerTransaction& tx, Operation operation,
                                            std::string_view target);
  // The request came from a configured trusted service source.
  bool trusted_service_source(const sip::ServerTransaction& tx) const;
  // 401 with a fresh challenge per algorithm (RFC 3261 §22.3).
  void challenge(const sip::ServerTransaction& tx, bool stale);
  void load_accounts();
  void make_event_service();
  const RoomPolicy* policy_for(std::string_view room) const;
  // State changed: conference package NOTIFYs and admin events.
  void publish(const std::string& room, ControlEvent::Kind kind, uint64_t member);
  void apply_settings(Call& call);
  Call* find_member(std::string_view room, uint64_t member) const;
  MemberState member_state(const Room* room, const Call& call) const;
  // Dial-outs into `room` not yet answered (dialing-out / alerting).
  std::vector<Call*> ringing_in(std::string_view room) const;
  Call* find_ringing(std::string_view room, uint64_t member) const;
  // A ringing dial-out named by Call-ID and its two tags in either order.
  Call* find_ringing(std::string_view call_id, std::string_view tag_a,
                     std::string_view tag_b) const;
  // Stops a ringing dial-out: CANCEL now, or with its first provisional.
  void cancel_dial_out(Call& call);
  std::string member_state_endpoint(const Call& call) const;
  // Hook for the event packages: a room's published state changed.
  void on_room_changed(const std::string& room, ControlEvent::Kind kind);

  // Media (rooms/media_session.cpp): one path from a negotiated SDP to the
  // engine for dial-in and dial-out, the completions, and the engine events.
  // Records the negotiation in the call's MediaLeg and submits the add; false
  // when the codec cannot be carried (488) or the engine pushes back (503).
  enum class MediaStart { kQueued, kUnsupported, kBusy };
  MediaStart start_media(std::unique_ptr<Call>& call, const sdp::OfferAnswerOutput& output,
                         const sdp::Negotiated& chosen);
  void remove_media(Call& call);
  void submit_remove(mixer::ConferenceId conference, mixer::ParticipantId participant);
  // False: refused, kept in unsent_conference_removes_.
  bool submit_conference_remove(mixer::ConferenceId conference);
  void close_room_if_empty(const std::string& room);
  // Offers the engine again what it refused (unsent_removes_,
  // unsent_conference_removes_, unsent_changes_).
  void retry_unsent();
  void schedule_poll();
  void poll_engine();
  void on_engine_event(const mixer::Event& event);
  void on_media_added(Call& call, uint16_t port);
  // RFC 7866 §6.1: an answer to an offer carrying a=record (any value) says
  // a=record:on while the call's room records. True when `answer` changed.
  bool mark_recorded(const Call& call, sdp::Session& answer, std::string_view offer) const;
  void on_media_failed(Call& call);
  void on_codec_result(Call& call, bool ok);
  // The completion of a cancelled re-INVITE's codec change (`switched`:
  // the shard took it): the session before it comes back, on the shard too.
  void undo_cancelled_codec(Call& call, bool switched);
  // The switch back the engine refused (UnsentMediaChanges::codec), offered
  // again: false when refused again (kept for the next poll).
  bool resubmit_codec_back(Call& call);
  // A switch back waits for the engine: a new re-offer waits too (500).
  bool codec_back_unsent(const Call& call) const;
  void reject_unavailable(const sip::ServerTransaction& tx);
  // Points the call's stream at the peer named by an SDP exchange.
  void set_remote(const Call& call, const sdp::Negotiated& negotiated);
  // A new offer/answer picked another codec: the member's decoder and mix
  // slot switch to it (same port). Returns the pending command id, 0 when no
  // change is needed, nullopt when the codec cannot be carried or submitted.
  std::optional<mixer::CommandId> change_codec(Call& call, const sdp::Negotiated& negotiated);
  // A new SDES key (or none) from a re-offer goes to the shard.
  void update_srtp(Call& call, const sdp::Negotiated& negotiated);
  // A browser's re-offer restarting ICE or DTLS goes to the shard (kept and
  // retried when the engine refuses it, like the changes above).
  void set_webrtc(const Call& call, const rtp::WebRtcConfig& webrtc);

  sip::Message with_capabilities(sip::Message response) const;
  std::string contact_for(std::string_view room, sip::TransportKind transport) const;
  // sip:<room>@<this node>: where in-dialog and node-local requests go.
  std::string conference_uri(std::string_view room) const;
  // The URI the conference package and admin API publish for a room: the
  // cluster front's (front_uri) when one is configured, else conference_uri.
  std::string published_uri(std::string_view room) const;
  // published_uri(room);sidebar=<id> (README "Sidebars").
  std::string sidebar_uri(std::string_view room, uint32_t sidebar) const;
  // sip:<room>@<cluster front> (its parameters kept); "" without a front.
  std::string front_uri(std::string_view room) const;

  boost::asio::io_context& io_;
  Options options_;
  std::unique_ptr<sip::TimerService> own_timers_;  // when none is injected
  sip::Stack stack_;
  // Before engine_: the shards' handshakes use the context, so it outlives them.
  std::shared_ptr<const webrtc::DtlsCertificate> dtls_certificate_;
  std::shared_ptr<const webrtc::DtlsContext> dtls_context_;
  std::unique_ptr<mixer::MediaEngine> engine_;
  std::unique_ptr<record::Writer> recorder_;
  uint64_t last_recording_ = 0;
  std::unordered_map<uint64_t, std::string> recording_rooms_;  // job → room, until finished
  // auto_record starts not taken yet, by room: tried again on the next
  // member's media or a while later, a bounded number of times.
  struct AutoRecordTry {
    mixer::ConferenceId conference = 0;  // the room's (reopened: a new one)
    uint32_t tries = 0;
    mixer::CommandId start = 0;  // awaiting its completion; 0: a retry is due
    std::chrono::steady_clock::time_point due{};
  };
  std::unordered_map<std::string, AutoRecordTry> auto_record_tries_;
  // Recording stops the engine refused (a full ring): until it takes one it
  // holds the room's recording and refuses the next start. (conference, beeps)
  std::vector<std::pair<mixer::ConferenceId, int>> unsent_recording_stops_;
  boost::asio::steady_timer poll_timer_;
  // Freed heap memory goes back to the kernel (malloc_trim) a moment after
  // the last call ends, and every kTrimPeriod under steady load, so RSS
  // follows the calls alive rather than the busiest hour's peak.
  boost::asio::steady_timer trim_timer_;
  std::chrono::steady_clock::time_point trim_due_{};
  void schedule_memory_trim(std::chrono::steady_clock::duration delay);
  // Empty buffer-pool chunks and the allocator's free pages back to the system.
  void give_memory_back();
  // After the engine started: what the shards' real-time scheduling and
  // pinning came to (a warning for each refusal; the shards run on).
  void log_shard_scheduling();
  bool polling_ = false;
  bool engine_started_ = false;
  bool running_ = false;
  // Polls since the last statistics request (one a second).
  unsigned polls_since_stats_ = 0;
  MediaTotals media_totals_;
  RoomRegistry rooms_;
  uint64_t last_member_ = 0;
  uint64_t last_park_ = 0;
  sip::DialogSet dialogs_;
  sip::DialogRandom random_;
  sdp::LocalCapabilities capabilities_;
  std::unique_ptr<sip::DigestServer> digest_;
  // After stack_: destroyed first (its NOTIFYs and timers live in the stack).
  std::unique_ptr<EventService> events_;
  std::function<void(const ControlEvent&)> listener_;
  // INVITEs not yet answered (the add is pending, or a slow room rings), by
  // server transaction, so a CANCEL ends the call at once (RFC 3261 §9.2).
  std::unordered_map<sip::TransactionId, sip::DialogId> pending_invites_;
  // Dial-outs waiting for a final response, by their placeholder id; they
  // join their room (and the RoomRegistry) once answered.
  std::unordered_map<sip::DialogId, std::unique_ptr<Call>, sip::DialogIdHash> dialing_;
  // Removals the engine refused (its retry queue was full), retried on every
  // poll so that no participant or port is left behind. Bounded by the calls
  // that ended while the engine was saturated.
  std::vector<std::pair<mixer::ConferenceId, mixer::ParticipantId>> unsent_removes_;
  // Conference removals the engine refused, retried the same way: only this
  // command frees the shard's room and the engine's placement. Bounded by
  // the rooms closed while the engine was saturated (ids are never reused).
  std::vector<mixer::ConferenceId> unsent_conference_removes_;
  // Settings, remote and SRTP changes the engine refused, by participant:
  // the latest of each, resubmitted on every poll until taken. An entry goes
  // with its call (remove_media), so they are bounded by the calls.
  std::unordered_map<mixer::ParticipantId, UnsentMediaChanges> unsent_changes_;
  // Participant and conference removals submitted, completion not yet seen.
  size_t removes_in_flight_ = 0;
  uint64_t media_commands_failed_ = 0;
  uint64_t media_removes_retried_ = 0;
  uint64_t referrals_expired_ = 0;
  uint64_t joins_refused_busy_ = 0;
  uint64_t pin_timeouts_ = 0;
  AbuseGuard guard_;
  // Requests held for account_delay (an account under a password attack),
  // by transaction, with their timers; bounded by kMaxDeferred.
  std::unordered_map<sip::TransactionId, sip::TimerId> deferred_;
  static constexpr size_t kMaxDeferred = 1024;
  sip::TimerId housekeeping_timer_ = 0;
  size_t load_peak_ = 0;
  size_t trimmed_at_ = 0;  // load at the last trim (0: none pending)
  size_t quiet_from_ = 0;   // load when it last fell
  size_t quiet_seconds_ = 0;
  static constexpr size_t kTrimAfter = 500;
  static constexpr size_t kQuietSeconds = 5;
};

}  // namespace chorus::focus
