// The privilege matrix (issue 13): every privileged operation of the focus,
// each run with no credentials, a wrong password, an account lacking the
// operation's right and an account holding it, which must get 401, 401 (or
// 403), 403 and success — on the wire for SIP (a client sip::Stack against
// an in-process focus on 127.0.0.1 with a fake media engine), through
// AdminApi for the admin routes. Refused requests must have no effect, and
// an operation that makes the focus call someone must send no INVITE unless
// allowed.
//
// The rows are built from the code's own tables: one row per action URN of
// services/refer.cpp (in three spellings: `call:mute`, `Call:Mute`,
// `CALL:MUTE` act alike and need the same right) and one per admin route;
// CoversEveryPrivilegedOperation fails when an Operation of
// focus/privileges.hpp has no row, so a new privileged operation cannot be
// added without one.

#include <algorithm>
#include <memory>
#include <set>

#include "focus/ops/admin_api.hpp"
#include "tests/focus/e2e_support.hpp"
#include "tests/focus/fake_media_engine.hpp"

namespace chorus::focus::e2e {
namespace {

enum class Credentials : uint8_t { kNone, kWrongPassword, kLacking, kHolding };

std::string credentials_name(Credentials c) {
  switch (c) {
    case Credentials::kNone:
      return "NoCredentials";
    case Credentials::kWrongPassword:
      return "WrongPassword";
    case Credentials::kLacking:
      return "AccountLackingTheRight";
    case Credentials::kHolding:
      return "AccountHoldingTheRight";
  }
  return {};
}

// Every right some operation needs (admin implies each, so it is never one
// a "lacking" account holds).
std::vector<std::string> all_rights() {
  std::set<std::string> rights;
  for (const Privilege& p : privileges()) rights.emplace(p.right);
  return {rights.begin(), rights.end()};
}

class PrivilegeMatrix;

// What a row runs: set up the state the operation needs, perform it with
// the given user and password (empty user: no credentials), check the
// effect (allowed or not).
struct Row {
  std::string name;
  Operation operation;
  int success = 200;
  std::function<void(Options&)> tweak;
  std::function<void(PrivilegeMatrix&)> setup;
  std::function<int(PrivilegeMatrix&, std::string_view user, std::string_view password)> run;
  std::function<void(PrivilegeMatrix&, bool allowed)> effect;
};

const std::vector<Row>& rows();

class PrivilegeMatrix : public FocusE2e,
                        public ::testing::WithParamInterface<std::tuple<size_t, Credentials>> {
 public:
  // The rows drive the fixture from outside.
  using FocusE2e::callee_;
  using FocusE2e::client_;
  using FocusE2e::dialog_ref;
  using FocusE2e::exchange_auth;
  using FocusE2e::invite;
  using FocusE2e::invite_to;
  using FocusE2e::last_received;
  using FocusE2e::received;
  using FocusE2e::request;
  using FocusE2e::ring_only_;
  using FocusE2e::room_uri;
  using FocusE2e::run_until;
  using FocusE2e::server_;

  void start(const std::function<void(Options&)>& tweak) {
    auto engine = std::make_unique<focus::testing::FakeMediaEngine>();
    start_server_with_engine(std::move(engine), [&](Options& options) {
      for (const std::string& right : all_rights()) {
        options.accounts.push_back({"has-" + right, "pw-" + right, {right}, {}});
        Account lacking{"lacks-" + right, "pw-" + right, {}, {}};
        for (const std::string& other : all_rights()) {
          if (other != right) lacking.rights.push_back(other);
        }
        options.accounts.push_back(std::move(lacking));
      }
      if (tweak) tweak(options);
    });
    admin_.emplace(*server_, MetricsSource{}, AdminConfig{.token = "operator-token"});
  }

  void settle(std::chrono::milliseconds time = 60ms) {
    const auto end = std::chrono::steady_clock::now() + time;
    while (std::chrono::steady_clock::now() < end) {
      io_.run_for(5ms);
      server_->poll_media();
    }
  }

  // The focus dials Dan into room "m" (a REFER with the dial-out right);
  // Dan rings and does not answer. dan_: his early dialog as published.
  void ring_dan() {
    ring_only_ = {"dan"};
    const std::string dan = client_.contact_uri("dan", sip::TransportKind::kUdp);
    ASSERT_EQ(refer("m", "<" + dan + ">", "has-dial-out", "pw-dial-out"), 202);
    run_until([&] {
      const auto room = server_->room_state("m");
      for (const MemberState& m : room ? room->members : std::vector<MemberState>{}) {
        if (m.entity == dan && m.status == "alerting" && !m.dialog.early_remote_tags.empty()) {
          dan_ = m.dialog;
        }
      }
      return !dan_.early_remote_tags.empty();
    });
    ASSERT_FALSE(dan_.early_remote_tags.empty());
  }
  MemberDialog dan_;

  // ANSWER / PICKUP / REJECT out of dialog from `op`, text/csv `body`;
  // `contact` replaces op's Contact (PICKUP's target).
  int remote_control(std::string_view method, const std::string& body, std::string_view user,
                     std::string_view password, const std::string& contact = {}) {
    Message m = Message::request(method, room_uri("m"));
    m.add_header("From", "<sip:op@127.0.0.1>;tag=" + op.from_tag);
    m.add_header("To", "<sip:m@127.0.0.1>");
    m.add_header("Call-ID", op.call_id);
    m.add_header("CSeq", std::to_string(++op.cseq) + " " + std::string(method));
    m.add_header("Contact",
                 contact.empty() ? "<" + client_.contact_uri("op", sip::TransportKind::kUdp) + ">"
                                 : "<" + contact + ">");
    m.set_body("text/csv", body);
    const std::optional<Message> response = exchange_auth(op, m, {}, user, password);
    return response ? response->status() : 0;
  }

  // Room "m" as a waiting room (a Row::tweak), and Alice waiting in it:
  // her INVITE unanswered (its final status lands in alice_final_), her
  // dialog's ids known from the provisional.
  static void waiting_room_m(Options& options) {
    RoomPolicy room;
    room.name = "m";
    room.waiting_room = true;
    options.rooms = {room};
  }
  void alice_waits() {
    Message m = request(alice, Method::kInvite, "m");
    m.set_body("application/sdp", alice.sdp("sendrecv"));
    client_.send_request(std::move(m), focus_, [this](const ClientEvent& event) {
      if (!event.response) return;
      if (event.response->status() >= 200) alice_final_ = event.response->status();
      if (event.response->status() > 100) alice.to_tag = std::string(event.response->to().tag());
    });
    run_until([&] {
      const auto room = server_->room_state("m");
      return room && !room->members.empty() && !alice.to_tag.empty();
    });
    ASSERT_EQ(alice_state().status, "pending");
  }
  // Whether Alice's INVITE got `status` (0: still unanswered) once `allowed`
  // let the operation act.
  void expect_alice_final(bool allowed, int status) {
    run_until([&] { return !allowed || alice_final_ != 0; });
    EXPECT_EQ(alice_final_, allowed ? status : 0);
  }
  int alice_final_ = 0;

  // Alice moved from room "m" to room "n" once `allowed` let the move act.
  void expect_alice_moved(bool allowed) {
    run_until([&] { return !allowed || server_->room_calls("n") == 1; });
    EXPECT_EQ(server_->room_calls("n"), allowed ? 1u : 0u);
    EXPECT_EQ(server_->room_calls("m"), allowed ? 1u : 2u);
  }

  // Alice and Bob in room "m"; Alice's published state.
  void two_members() {
    ASSERT_EQ(invite(alice, "sendrecv", "m"), 200);
    ASSERT_EQ(invite(bob, "sendrecv", "m"), 200);
  }
  MemberState alice_state() const {
    const std::optional<ConferenceState> room = server_->room_state("m");
    for (const MemberState& m : room ? room->members : std::vector<MemberState>{}) {
      if (m.dialog.call_id == alice.call_id) return m;
    }
    ADD_FAILURE() << "alice is not in room m";
    return {};
  }

  // REFER (out of dialog, from `op`) to sip:<room>@focus with Refer-To.
  int refer(std::string_view room, const std::string& refer_to, std::string_view user,
            std::string_view password, Headers extra = {}) {
    extra.emplace_back("Refer-To", refer_to);
    const std::optional<Message> response =
        exchange_auth(op, request(op, Method::kRefer, room), extra, user, password);
    return response ? response->status() : 0;
  }

  std::string carol_uri() const { return client_.contact_uri("carol", sip::TransportKind::kUdp); }

  // One admin request, with HTTP Digest (RFC 7616) for `user` when given:
  // the first try fetches the challenge, the second answers it.
  AdminResponse admin(std::string_view method, const std::string& target, const std::string& body,
                      std::string_view user, std::string_view password) {
    AdminRequest in{method, target, {}, body, {}};
    AdminResponse first = admin_->handle(in);
    if (user.empty() || first.status != 401 || first.challenges.empty()) return first;
    const std::string authorization =
        digest_answer(first.challenges.front(), method, target, user, password);
    in.authorization = authorization;
    return admin_->handle(in);
  }

  Caller alice{400, "alice"}, bob{700, "bob"}, carol{1100, "carol"}, op{1300, "op"},
      mallory{1500, "mallory"};
  std::optional<AdminApi> admin_;
  std::string target_;  // what a row dialled or addressed, for its effect check
};

// ---- the rows

std::string capitalised(std::string_view name) {
  std::string out(name);
  bool start = true;
  for (char& c : out) {
    if (start) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    start = c == ':';
  }
  return out;
}

std::string upper(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Row join_row(std::string_view mode, Operation operation) {
  Row row;
  row.name = "JoinMode" + capitalised(mode);
  row.operation = operation;
  row.setup = [](PrivilegeMatrix& t) { t.two_members(); };
  row.run = [mode = std::string(mode)](PrivilegeMatrix& t, std::string_view user,
                                       std::string_view password) {
    return t.invite_to(t.mallory, "sendrecv", "m", t.room_uri("m") + ";mode=" + mode,
                       {{"Join", PrivilegeMatrix::dialog_ref(t.alice)}}, user, password);
  };
  row.effect = [](PrivilegeMatrix& t, bool allowed) {
    EXPECT_EQ(t.server_->room_calls("m"), allowed ? 3u : 2u);
  };
  return row;
}

// REFER with Replaces to a RFC 5359 service: the focus INVITEs Carol with
// the embedded Replaces and Require: replaces.
Row service_row(std::string_view service) {
  Row row;
  row.name = "ReferWithReplacesTo" + capitalised(service);
  row.operation = Operation::kReferService;
  row.success = 202;
  row.setup = [](PrivilegeMatrix& t) { t.callee_ = &t.carol; };
  row.run = [service = std::string(service)](PrivilegeMatrix& t, std::string_view user,
                                             std::string_view password) {
    return t.refer(service, "<" + t.carol_uri() + "?Replaces=x%40y%3Bto-tag%3D1%3Bfrom-tag%3D2>",
                   user, password);
  };
  row.effect = [](PrivilegeMatrix& t, bool allowed) {
    if (!allowed) return;
    t.run_until([&] { return t.received(Method::kInvite) > 0; });
    const Message* invite = t.last_received(Method::kInvite);
    ASSERT_NE(invite, nullptr);
    EXPECT_EQ(invite->header("Replaces").value_or(""), "x@y;to-tag=1;from-tag=2");
    // RFC 3891 §3: a UA that ignores Replaces refuses instead of ringing.
    EXPECT_EQ(invite->header("Require").value_or(""), "replaces");
  };
  return row;
}

// An action URN on Alice, from `op` out of dialog, spelled `spelling`.
Row action_row(Operation operation, const std::string& spelling) {
  Row row;
  row.name = "ActionUrn_" + spelling;
  std::replace(row.name.begin(), row.name.end(), ':', '_');
  row.operation = operation;
  row.success = 202;  // the action-referral draft: 202, the outcome in NOTIFYs
  const bool waiting =
      operation == Operation::kActionAnswer || operation == Operation::kActionDecline ||
      operation == Operation::kActionIgnore || operation == Operation::kActionSendVm;
  if (waiting) {
    row.tweak = [](Options& options) {
      PrivilegeMatrix::waiting_room_m(options);
      options.voicemail_uri = "sip:vm@127.0.0.1";
    };
  }
  row.setup = [operation, waiting](PrivilegeMatrix& t) {
    if (waiting) {
      t.alice_waits();
      return;
    }
    t.two_members();
    const uint64_t id = t.alice_state().id;
    // What the action undoes must be there first.
    if (operation == Operation::kActionUnmute || operation == Operation::kActionAdd) {
      t.server_->set_muted("m", id, true);
    }
    if (operation == Operation::kActionUnhold || operation == Operation::kActionAdd) {
      t.server_->set_hold("m", id, true);
    }
  };
  row.run = [spelling](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
    const std::string target_dialog =
        t.alice.call_id + ";local-tag=" + t.alice.from_tag + ";remote-tag=" + t.alice.to_tag;
    return t.refer("m", "<urn:sip-action:" + spelling + ">", user, password,
                   {{"Target-Dialog", target_dialog}});
  };
  row.effect = [operation](PrivilegeMatrix& t, bool allowed) {
    switch (operation) {
      case Operation::kActionAnswer:
        t.expect_alice_final(allowed, 200);
        return;
      case Operation::kActionDecline:
        t.expect_alice_final(allowed, 603);
        return;
      case Operation::kActionSendVm:
        t.expect_alice_final(allowed, 302);
        return;
      case Operation::kActionIgnore:
        t.expect_alice_final(false, 0);        // still waiting
        EXPECT_EQ(t.alice_state().hidden, allowed);  // off the conference package
        return;
      default:
        break;
    }
    const bool ends =
        operation == Operation::kActionTerminate || operation == Operation::kActionRemove;
    if (ends) {
      t.run_until([&] { return !allowed || t.received(Method::kBye, t.alice.call_id) > 0; });
      EXPECT_EQ(t.received(Method::kBye, t.alice.call_id), allowed ? 1u : 0u);
      EXPECT_EQ(t.server_->room_calls("m"), allowed ? 1u : 2u);
      return;
    }
    const MemberState alice = t.alice_state();
    EXPECT_EQ(t.received(Method::kBye), 0u);  // no other action ran
    switch (operation) {
      case Operation::kActionMute:
        EXPECT_EQ(alice.muted, allowed);
        EXPECT_FALSE(alice.on_hold);
        break;
      case Operation::kActionUnmute:
        EXPECT_EQ(alice.muted, !allowed);
        break;
      case Operation::kActionHold:
        EXPECT_EQ(alice.on_hold, allowed);
        EXPECT_FALSE(alice.muted);
        break;
      case Operation::kActionUnhold:
        EXPECT_EQ(alice.on_hold, !allowed);
        break;
      case Operation::kActionAdd:
        EXPECT_EQ(alice.muted, !allowed);
        EXPECT_EQ(alice.on_hold, !allowed);
        break;
      default:
        ADD_FAILURE() << "no effect check for " << privilege(operation).name;
    }
  };
  return row;
}

std::string admin_target(std::string_view pattern, PrivilegeMatrix& t) {
  std::string out(pattern);
  const auto replace = [&](std::string_view what, const std::string& with) {
    const size_t at = out.find(what);
    if (at != std::string::npos) out.replace(at, what.size(), with);
  };
  replace("{room}", "m");
  replace("{sidebar}", "1");
  replace("{id}", std::to_string(t.alice_state().id));
  return out;
}

Row admin_row(const AdminRoute& route) {
  Row row;
  row.name = "Admin" + std::string(route.method) + std::string(route.path);
  for (char& c : row.name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  row.operation = route.operation;
  const bool waiting = route.handler == AdminHandler::kAdmit ||
                       route.handler == AdminHandler::kRefuse ||
                       route.handler == AdminHandler::kPickup;
  if (waiting) row.tweak = PrivilegeMatrix::waiting_room_m;
  row.setup = [waiting, handler = route.handler](PrivilegeMatrix& t) {
    if (waiting) {
      t.alice_waits();
      return;
    }
    t.two_members();
    t.callee_ = &t.carol;
    // Sidebar 1 for the routes that act on one; Alice in it for DELETE.
    if (handler == AdminHandler::kSidebarDissolve || handler == AdminHandler::kSidebarMemberPut ||
        handler == AdminHandler::kSidebarMemberDelete) {
      SidebarSpec spec;
      spec.name = "s";
      if (handler == AdminHandler::kSidebarMemberDelete) spec.members = {t.alice_state().id};
      uint32_t id = 0;
      ASSERT_TRUE(t.server_->create_sidebar("m", spec, &id).ok());
      ASSERT_EQ(id, 1u);
    }
  };
  std::string body;
  switch (route.handler) {
    case AdminHandler::kRooms:
    case AdminHandler::kRoom:
      break;
    case AdminHandler::kEvents:
      row.success = 400;  // allowed, but plain HTTP: "needs a WebSocket upgrade"
      break;
    case AdminHandler::kEventTicket:
      row.success = 201;
      break;
    case AdminHandler::kDial:
      row.success = 202;
      break;
    case AdminHandler::kMute:
      body = R"({"muted":true})";
      break;
    case AdminHandler::kHold:
      body = R"({"hold":true})";
      break;
    case AdminHandler::kRole:
      body = R"({"role":"monitor"})";
      break;
    case AdminHandler::kRecording:
      body = R"({"record":true})";
      break;
    case AdminHandler::kMove:
      body = R"({"to":"n"})";
      row.success = 202;  // moving; done once the shard has it
      break;
    case AdminHandler::kMerge:
      body = R"({"into":"n"})";
      row.success = 202;
      break;
    case AdminHandler::kSplit:
      row.success = 202;  // the body names Alice's id (below)
      break;
    case AdminHandler::kSidebarCreate:
      body = R"({"name":"new"})";
      row.success = 201;
      break;
    case AdminHandler::kSidebarDissolve:
    case AdminHandler::kSidebarMemberPut:
    case AdminHandler::kSidebarMemberDelete:
      break;
    case AdminHandler::kKick:
    case AdminHandler::kAdmit:
    case AdminHandler::kRefuse:
    case AdminHandler::kPickup:
      break;
  }
  row.run = [route, body](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
    const std::string target = admin_target(route.path, t);
    std::string payload =
        route.handler == AdminHandler::kDial || route.handler == AdminHandler::kPickup
            ? R"({"uri":")" + t.carol_uri() + R"("})"
            : body;
    if (route.handler == AdminHandler::kSplit) {
      payload = R"({"to":"n","members":[)" + std::to_string(t.alice_state().id) + "]}";
    }
    return t.admin(route.method, target, payload, user, password).status;
  };
  row.effect = [route](PrivilegeMatrix& t, bool allowed) {
    switch (route.handler) {
      case AdminHandler::kRooms:
      case AdminHandler::kRoom:
        break;
      case AdminHandler::kEvents: {
        // The WebSocket upgrade takes the same credentials, with the same answers.
        const std::string target = "/api/events";
        const AdminResponse challenge = t.admin("GET", target, {}, {}, {});
        ASSERT_FALSE(challenge.challenges.empty());
        const std::string right(privilege(route.operation).right);
        const auto refusal = [&](const std::string& user) {
          return t.admin_->event_stream_refusal(
              PrivilegeMatrix::digest_answer(t.admin("GET", target, {}, {}, {}).challenges.front(),
                                           "GET", target, user, "pw-" + right),
              target);
        };
        EXPECT_EQ(refusal("has-" + right), 0);
        EXPECT_EQ(refusal("lacks-" + right), 403);
        EXPECT_EQ(t.admin_->event_stream_refusal("", target), 401);
        (void)allowed;
        break;
      }
      case AdminHandler::kEventTicket:
        break;  // what a ticket opens: AdminServerTest.AnEventTicketOpensOneStreamOnce
      case AdminHandler::kDial:
        break;  // the INVITE check is the matrix's (Privilege::dials)
      case AdminHandler::kRecording:
        EXPECT_EQ(t.server_->room_state("m")->recording, allowed);
        break;
      case AdminHandler::kSidebarCreate:
        EXPECT_EQ(t.server_->room_state("m")->sidebars.size(), allowed ? 1u : 0u);
        break;
      case AdminHandler::kSidebarDissolve:
        EXPECT_EQ(t.server_->room_state("m")->sidebars.size(), allowed ? 0u : 1u);
        break;
      case AdminHandler::kSidebarMemberPut:
        EXPECT_EQ(t.alice_state().sidebar, allowed ? 1u : 0u);
        break;
      case AdminHandler::kSidebarMemberDelete:
        EXPECT_EQ(t.alice_state().sidebar, allowed ? 0u : 1u);
        break;
      case AdminHandler::kMute:
        EXPECT_EQ(t.alice_state().muted, allowed);
        break;
      case AdminHandler::kHold:
        EXPECT_EQ(t.alice_state().on_hold, allowed);
        break;
      case AdminHandler::kRole:
        EXPECT_EQ(t.alice_state().role, allowed ? MemberRole::kMonitor : MemberRole::kParticipant);
        break;
      case AdminHandler::kKick:
        t.run_until([&] { return !allowed || t.received(Method::kBye, t.alice.call_id) > 0; });
        EXPECT_EQ(t.received(Method::kBye, t.alice.call_id), allowed ? 1u : 0u);
        break;
      case AdminHandler::kAdmit:
        t.expect_alice_final(allowed, 200);
        break;
      case AdminHandler::kRefuse:
        t.expect_alice_final(allowed, 603);
        break;
      case AdminHandler::kPickup:
        t.expect_alice_final(allowed, 302);  // redirected to Carol
        break;
      case AdminHandler::kMove:
      case AdminHandler::kSplit:
        t.expect_alice_moved(allowed);
        break;
      case AdminHandler::kMerge:
        // Alice and Bob both: room "m" is gone.
        t.run_until([&] { return !allowed || t.server_->room_calls("n") == 2; });
        EXPECT_EQ(t.server_->room_calls("n"), allowed ? 2u : 0u);
        EXPECT_EQ(t.server_->room_calls("m"), allowed ? 0u : 2u);
        break;
    }
  };
  return row;
}

std::vector<Row> make_rows() {
  std::vector<Row> out;
  out.push_back(join_row("monitor", Operation::kJoinMonitor));
  out.push_back(join_row("whisper", Operation::kJoinWhisper));
  out.push_back(join_row("barge", Operation::kJoinBarge));
  {
    // Mallory takes Alice's place: someone else's call (RFC 3891 §6.1).
    Row row;
    row.name = "ReplacesOfAnotherUsersCall";
    row.operation = Operation::kReplaceOthersCall;
    row.setup = [](PrivilegeMatrix& t) { t.two_members(); };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      return t.invite_to(t.mallory, "sendrecv", "m", {},
                         {{"Replaces", PrivilegeMatrix::dialog_ref(t.alice)}}, user, password);
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      t.run_until([&] { return !allowed || t.received(Method::kBye, t.alice.call_id) > 0; });
      EXPECT_EQ(t.received(Method::kBye, t.alice.call_id), allowed ? 1u : 0u);
    };
    out.push_back(std::move(row));
  }
  {
    // RFC 5359 §2.15: Carol parked (by a trusted PBX), retrieved by Mallory.
    Row row;
    row.name = "ParkRetrieval";
    row.operation = Operation::kRetrieveParked;
    row.tweak = [](Options& options) { options.service_trusted_sources = {"127.0.0.1"}; };
    row.setup = [](PrivilegeMatrix& t) {
      t.callee_ = &t.carol;
      ASSERT_EQ(
          t.refer("park", "<" + t.carol_uri() + "?Replaces=p%40q%3Bto-tag%3D1%3Bfrom-tag%3D2>", {},
                  {}),
          202);
      t.run_until([&] { return t.carol.mixer_port != 0; });
      ASSERT_NE(t.carol.mixer_port, 0);
      t.callee_ = nullptr;
      ASSERT_EQ(t.server_->park_state().members.size(), 1u);
    };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      return t.invite_to(t.mallory, "sendrecv", "park", {},
                         {{"Replaces", PrivilegeMatrix::dialog_ref(t.carol)}}, user, password);
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      EXPECT_EQ(t.server_->park_state().members.empty(), allowed);
      EXPECT_EQ(t.received(Method::kBye, t.carol.call_id), 0u);
    };
    out.push_back(std::move(row));
  }
  {
    // RFC 5359 §2.16: Mallory picks up the focus's ringing dial-out to Dan
    // with Replaces naming its early dialog; allowed, Dan is CANCELled and
    // Mallory is in the room.
    Row row;
    row.name = "PickupOfARingingDialOut";
    row.operation = Operation::kPickupDialOut;
    row.setup = [](PrivilegeMatrix& t) {
      t.two_members();
      t.ring_dan();
      const MemberDialog& d = t.dan_;
      t.target_ = d.call_id + ";to-tag=" + d.local_tag +
                  ";from-tag=" + d.early_remote_tags.front() + ";early-only";
    };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      return t.invite_to(t.mallory, "sendrecv", "m", {}, {{"Replaces", t.target_}}, user,
                         password);
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      t.run_until([&] { return !allowed || t.server_->gauges().dialing == 0; });
      EXPECT_EQ(t.server_->gauges().dialing, allowed ? 0u : 1u);
      EXPECT_EQ(t.server_->room_calls("m"), allowed ? 3u : 2u);
    };
    out.push_back(std::move(row));
  }
  for (const auto& [method, operation] :
       {std::pair{"ANSWER", Operation::kRemoteAnswer}, {"REJECT", Operation::kRemoteReject}}) {
    // Remote call control on Alice in the waiting room (the admission
    // decision: `moderate`; the lacking account holds `remove`, which
    // gets a REJECT past the challenge but not past this).
    Row row;
    row.name = std::string("RemoteControl") + method;
    row.operation = operation;
    row.tweak = PrivilegeMatrix::waiting_room_m;
    row.setup = [](PrivilegeMatrix& t) { t.alice_waits(); };
    row.run = [method = std::string(method)](PrivilegeMatrix& t, std::string_view user,
                                             std::string_view password) {
      return t.remote_control(method, t.alice.call_id + ";" + t.alice.from_tag + ";" + t.alice.to_tag,
                              user, password);
    };
    row.effect = [operation = operation](PrivilegeMatrix& t, bool allowed) {
      t.expect_alice_final(allowed, operation == Operation::kRemoteAnswer ? 200 : 603);
    };
    out.push_back(std::move(row));
  }
  {
    // REJECT of a member ends its call (BYE): a removal, whose right is
    // `remove` as for kick and call:terminate; `moderate`, enough for a
    // waiting caller, is not (the lacking account holds it, and gets 403).
    Row row;
    row.name = "RemoteControlREJECTOfAMember";
    row.operation = Operation::kRemoteRejectCall;
    row.setup = [](PrivilegeMatrix& t) { t.two_members(); };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      return t.remote_control("REJECT", t.bob.call_id + ";" + t.bob.from_tag + ";" + t.bob.to_tag,
                              user, password);
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      t.run_until([&] { return !allowed || t.received(Method::kBye, t.bob.call_id) > 0; });
      EXPECT_EQ(t.received(Method::kBye, t.bob.call_id), allowed ? 1u : 0u);
      EXPECT_EQ(t.server_->room_calls("m"), allowed ? 1u : 2u);
    };
    out.push_back(std::move(row));
  }
  {
    // REJECT of the focus's ringing dial-out to Dan CANCELs it: the same
    // removal, the same right.
    Row row;
    row.name = "RemoteControlREJECTOfARingingDialOut";
    row.operation = Operation::kRemoteRejectCall;
    row.setup = [](PrivilegeMatrix& t) {
      t.two_members();
      t.ring_dan();
    };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      const MemberDialog& d = t.dan_;
      return t.remote_control("REJECT",
                              d.call_id + ";" + d.local_tag + ";" + d.early_remote_tags.front(),
                              user, password);
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      t.run_until([&] { return !allowed || t.server_->gauges().dialing == 0; });
      EXPECT_EQ(t.server_->gauges().dialing, allowed ? 0u : 1u);
      EXPECT_EQ(t.server_->room_calls("m"), 2u);
    };
    out.push_back(std::move(row));
  }
  {
    // PICKUP of the focus's ringing dial-out to Dan, onto Carol (the
    // PICKUP's Contact): Dan is CANCELled and the focus INVITEs Carol.
    Row row;
    row.name = "RemoteControlPICKUP";
    row.operation = Operation::kRemotePickup;
    row.setup = [](PrivilegeMatrix& t) {
      t.two_members();
      t.ring_dan();
      t.callee_ = &t.carol;
    };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      const MemberDialog& d = t.dan_;
      return t.remote_control("PICKUP",
                              d.call_id + "," + d.local_tag + "," + d.early_remote_tags.front(),
                              user, password, t.carol_uri());
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      t.run_until([&] { return !allowed || t.server_->room_calls("m") == 3; });
      EXPECT_EQ(t.server_->room_calls("m"), allowed ? 3u : 2u);
      EXPECT_EQ(t.server_->gauges().dialing, allowed ? 0u : 1u);
    };
    out.push_back(std::move(row));
  }
  {
    Row row;
    row.name = "ReferDialOut";
    row.operation = Operation::kReferDialOut;
    row.success = 202;
    row.setup = [](PrivilegeMatrix& t) {
      ASSERT_EQ(t.invite(t.alice, "sendrecv", "m"), 200);
      t.callee_ = &t.carol;
    };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      return t.refer("m", "<" + t.carol_uri() + ">", user, password);
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      if (allowed) t.run_until([&] { return t.server_->room_calls("m") == 2; });
      EXPECT_EQ(t.server_->room_calls("m"), allowed ? 2u : 1u);
    };
    out.push_back(std::move(row));
  }
  {
    Row row;
    row.name = "ReferMethodBye";
    row.operation = Operation::kReferBye;
    row.success = 202;
    row.setup = [](PrivilegeMatrix& t) { t.two_members(); };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      return t.refer("m", "<sip:bob@127.0.0.1;method=BYE>", user, password);
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      t.run_until([&] { return !allowed || t.received(Method::kBye, t.bob.call_id) > 0; });
      EXPECT_EQ(t.received(Method::kBye, t.bob.call_id), allowed ? 1u : 0u);
    };
    out.push_back(std::move(row));
  }
  {
    // conference:add sent to another room's URI: a move (README "Moving
    // members"), with the move right instead of moderate.
    Row row;
    row.name = "MoveByConferenceAdd";
    row.operation = Operation::kMoveRefer;
    row.success = 202;
    row.setup = [](PrivilegeMatrix& t) { t.two_members(); };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      const std::string target_dialog =
          t.alice.call_id + ";local-tag=" + t.alice.from_tag + ";remote-tag=" + t.alice.to_tag;
      return t.refer("n", "<urn:sip-action:conference:add>", user, password,
                     {{"Target-Dialog", target_dialog}});
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) { t.expect_alice_moved(allowed); };
    out.push_back(std::move(row));
  }
  out.push_back(service_row("moh"));
  out.push_back(service_row("park"));
  for (const std::string action : {"record-start", "record-stop"}) {
    // Our vendor action URNs (README "Recording"), to the room, no Target-Dialog.
    Row row;
    row.name = "RecordUrn_" + action;
    std::replace(row.name.begin(), row.name.end(), '-', '_');
    row.operation = Operation::kRecordRefer;
    row.success = 202;
    const bool stop = action == "record-stop";
    row.setup = [stop](PrivilegeMatrix& t) {
      t.two_members();
      if (stop) {
        ASSERT_TRUE(t.server_->set_recording("m", true).ok());
      }
    };
    row.run = [action](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      return t.refer("m", "<urn:x-chorus:conference:" + action + ">", user, password);
    };
    row.effect = [stop](PrivilegeMatrix& t, bool allowed) {
      EXPECT_EQ(t.server_->room_state("m")->recording, stop ? !allowed : allowed);
    };
    out.push_back(std::move(row));
  }
  {
    // Our vendor sidebar URN (README "Sidebars"): Alice into sidebar "s",
    // which the REFER creates.
    Row row;
    row.name = "SidebarUrn_sidebar_join";
    row.operation = Operation::kSidebarRefer;
    row.success = 202;
    row.setup = [](PrivilegeMatrix& t) { t.two_members(); };
    row.run = [](PrivilegeMatrix& t, std::string_view user, std::string_view password) {
      const std::string target_dialog =
          t.alice.call_id + ";local-tag=" + t.alice.to_tag + ";remote-tag=" + t.alice.from_tag;
      return t.refer("m", "<urn:x-chorus:conference:sidebar-join;sidebar=s>", user, password,
                     {{"Target-Dialog", target_dialog}});
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      EXPECT_EQ(t.alice_state().sidebar, allowed ? 1u : 0u);
      EXPECT_EQ(t.server_->room_state("m")->sidebars.size(), allowed ? 1u : 0u);
    };
    out.push_back(std::move(row));
  }
  for (const auto& [name, operation] : action_urns()) {
    for (const std::string& spelling : {std::string(name), capitalised(name), upper(name)}) {
      out.push_back(action_row(operation, spelling));
    }
  }
  // The dialog package as RFC 4235 documents, and as the relay of the
  // messages themselves (message/sip, whose first NOTIFY has no body).
  const std::pair<Operation, const char*> dialog_kinds[] = {
      {Operation::kDialogSubscribe, "application/dialog-info+xml"},
      {Operation::kDialogMessages, "message/sip"}};
  for (const auto& [operation, accept] : dialog_kinds) {
    Row row;
    row.name = operation == Operation::kDialogSubscribe ? "DialogPackageSubscribe"
                                                        : "DialogPackageMessages";
    row.operation = operation;
    row.setup = [](PrivilegeMatrix& t) { ASSERT_EQ(t.invite(t.alice, "sendrecv", "m"), 200); };
    row.run = [accept = std::string(accept)](PrivilegeMatrix& t, std::string_view user,
                                             std::string_view password) {
      Message subscribe = t.request(t.op, Method::kSubscribe, "m");
      subscribe.set_header("Event", "dialog");
      subscribe.set_header("Accept", accept);
      const std::optional<Message> response = t.exchange_auth(t.op, subscribe, {}, user, password);
      return response ? response->status() : 0;
    };
    row.effect = [](PrivilegeMatrix& t, bool allowed) {
      if (allowed) t.run_until([&] { return t.received(Method::kNotify) > 0; });
      EXPECT_EQ(t.received(Method::kNotify) > 0, allowed);
    };
    out.push_back(std::move(row));
  }
  for (const AdminRoute& route : admin_routes()) out.push_back(admin_row(route));
  return out;
}

const std::vector<Row>& rows() {
  static const std::vector<Row> all = make_rows();
  return all;
}

TEST_P(PrivilegeMatrix, AnswersAsTheCredentialsAllow) {
  const auto [index, credentials] = GetParam();
  const Row& row = rows().at(index);
  const Privilege& needed = privilege(row.operation);
  const std::string right(needed.right);
  SCOPED_TRACE(row.name + " (" + std::string(needed.name) + ", right " + right + ") with " +
               credentials_name(credentials));
  start(row.tweak);
  if (row.setup) row.setup(*this);
  if (HasFatalFailure()) return;
  settle();
  const size_t invites_before = received(Method::kInvite);
  const size_t calls_before = server_->call_count();

  std::string user, password;
  switch (credentials) {
    case Credentials::kNone:
      break;
    case Credentials::kWrongPassword:
      user = "has-" + right;
      password = "not-the-password";
      break;
    case Credentials::kLacking:
      user = "lacks-" + right;
      password = "pw-" + right;
      break;
    case Credentials::kHolding:
      user = "has-" + right;
      password = "pw-" + right;
      break;
  }
  const int status = row.run(*this, user, password);
  const bool allowed = credentials == Credentials::kHolding;
  switch (credentials) {
    case Credentials::kNone:
      EXPECT_EQ(status, 401);
      break;
    case Credentials::kWrongPassword:
      EXPECT_TRUE(status == 401 || status == 403) << status;
      break;
    case Credentials::kLacking:
      EXPECT_EQ(status, 403);
      break;
    case Credentials::kHolding:
      EXPECT_EQ(status, row.success);
      break;
  }
  settle();
  if (row.effect) row.effect(*this, allowed);
  if (needed.dials) {
    // The focus called someone only when the account had the right.
    if (allowed) run_until([&] { return received(Method::kInvite) > invites_before; });
    settle();
    EXPECT_EQ(received(Method::kInvite) > invites_before, allowed);
  } else if (!allowed) {
    EXPECT_EQ(received(Method::kInvite), invites_before);
    EXPECT_LE(server_->call_count(), calls_before);
  }
}

std::vector<std::tuple<size_t, Credentials>> every_cell() {
  std::vector<std::tuple<size_t, Credentials>> out;
  for (size_t i = 0; i < rows().size(); ++i) {
    for (Credentials c : {Credentials::kNone, Credentials::kWrongPassword, Credentials::kLacking,
                          Credentials::kHolding}) {
      out.emplace_back(i, c);
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Rows, PrivilegeMatrix, ::testing::ValuesIn(every_cell()),
                         [](const ::testing::TestParamInfo<std::tuple<size_t, Credentials>>& info) {
                           return rows().at(std::get<0>(info.param)).name + "_" +
                                  credentials_name(std::get<1>(info.param));
                         });

TEST(PrivilegeMatrixTable, CoversEveryPrivilegedOperation) {
  for (const Privilege& p : privileges()) {
    SCOPED_TRACE(std::string(p.name));
    const bool covered = std::any_of(rows().begin(), rows().end(),
                                     [&](const Row& row) { return row.operation == p.operation; });
    EXPECT_TRUE(covered) << "privileged operation without a row in the matrix";
    EXPECT_FALSE(p.right.empty());
    EXPECT_NE(p.right, sip::kRightAdmin) << "admin implies every right: no operation needs only it";
  }
  // Every action URN and every admin route is in the matrix, by name.
  for (const auto& [name, operation] : action_urns()) {
    std::string row_name = "ActionUrn_" + std::string(name);
    std::replace(row_name.begin(), row_name.end(), ':', '_');
    EXPECT_TRUE(std::any_of(rows().begin(), rows().end(), [&](const Row& row) {
      return row.name == row_name;
    })) << name;
  }
  EXPECT_EQ(static_cast<size_t>(
                std::count_if(rows().begin(), rows().end(),
                              [](const Row& row) { return row.name.starts_with("Admin"); })),
            admin_routes().size());
}

TEST(PrivilegeMatrixTable, ActionNamesAreNormalisedOnce) {
  EXPECT_EQ(normalise_action("call:mute"), "call:mute");
  EXPECT_EQ(normalise_action("Call:Mute"), "call:mute");
  EXPECT_EQ(normalise_action("CALL:TERMINATE"), "call:terminate");
  EXPECT_EQ(normalise_action("call%3Amute"), "call:mute");
  EXPECT_EQ(normalise_action("call:mute;x=1"), "call:mute");
  EXPECT_EQ(normalise_action("call:mute?=q#f"), "call:mute");
  EXPECT_EQ(normalise_action("call:mutex"), "call:mutex");  // unknown stays unknown
}

}  // namespace
}  // namespace chorus::focus::e2e

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
