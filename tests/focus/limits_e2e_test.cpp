// Abuse limits on the wire (README "Security / Limits"): digest brute force
// (lockout per source and account, slow-down per account, no oracle), the
// per-source request rate, call and subscription caps, reflection toward
// third parties and the global overload budget. Sources are 127.0.0.2 and
// 127.0.0.3 (127.0.0.1 is exempt by default). Their requests come over UDP,
// so even NOTIFYs back to their own address spend its reflection budget.

#include "tests/focus/e2e_support.hpp"

#include "focus/ops/admin_api.hpp"
#include "focus/ops/admin_server.hpp"
#include "focus/ops/metrics.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;

sip::StackConfig stack_on(const char* address) {
  sip::StackConfig config;
  config.listeners.push_back({sip::TransportKind::kUdp, address, 0});
  return config;
}

class LimitsE2eTest : public FocusE2e {
 protected:
  LimitsE2eTest() : from2_(io_, stack_on("127.0.0.2")), from3_(io_, stack_on("127.0.0.3")) {}

  void start(uint16_t first, const std::function<void(Options&)>& tweak) {
    start_server(first, first + 99, 30s, [&](Options& options) {
      options.accounts = {{"op", "right-pw", {"dialog-subscribe"}}};
      options.limits.exempt = {"127.0.0.1"};
      tweak(options);
    });
    for (sip::Stack* stack : {&from2_, &from3_}) {
      stack->start();
      sip::StackHandlers handlers;
      handlers.on_request = [](const sip::ServerTransaction& tx) { tx.respond(200, "OK"); };
      stack->set_handlers(handlers);
    }
  }

  // A request from `stack` whose Contact is that stack (NOTIFYs come back to
  // the sender; over UDP that still spends the sender's reflection budget).
  Message request_from(sip::Stack& stack, Caller& caller, Method method, std::string_view room) {
    Message m = request(caller, method, room);
    m.set_header("Contact", "<" + stack.contact_uri(caller.name(), sip::TransportKind::kUdp) + ">");
    return m;
  }

  std::optional<Message> send_from(sip::Stack& stack, Message m,
                                   std::chrono::milliseconds limit = 3000ms) {
    // Shared: an unacknowledged 2xx keeps coming back after we return.
    struct Outcome {
      std::optional<Message> final_response;
      bool done = false;
    };
    auto outcome = std::make_shared<Outcome>();
    stack.send_request(std::move(m), focus_, [outcome](const ClientEvent& event) {
      if (outcome->done) return;
      if (event.response && event.response->status() >= 200) {
        outcome->final_response = *event.response;
      }
      if (!event.response || event.response->status() >= 200) outcome->done = true;
    });
    // One handler at a time: the answer is seen as soon as it arrives.
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!outcome->done && std::chrono::steady_clock::now() < deadline) io_.run_one_for(5ms);
    return outcome->final_response;
  }

  // A dialog-package SUBSCRIBE from `stack` answering `challenge` with
  // `password` (a fresh Call-ID each time).
  std::optional<Message> attempt(sip::Stack& stack, const Message& challenge,
                                 std::string_view password) {
    Caller who(0, "op");
    Message m = request_from(stack, who, Method::kSubscribe, "vault");
    m.set_header("Event", "dialog");
    m.set_header("Expires", "0");  // a fetch: nothing stays subscribed
    m.set_header("Authorization", authorization(challenge, m, "op", password));
    return send_from(stack, std::move(m));
  }

  std::optional<Message> fresh_challenge(sip::Stack& stack) {
    Caller who(0, "op");
    Message m = request_from(stack, who, Method::kSubscribe, "vault");
    m.set_header("Event", "dialog");
    return send_from(stack, std::move(m));
  }

  LimitCounters counters() const { return server_->gauges().limits; }

  // `m` from `stack`; a 401 is answered once with `user`'s credentials
  // (a new CSeq). The final response.
  std::optional<Message> send_auth(sip::Stack& stack, Caller& caller, Message m,
                                   std::string_view user, std::string_view password) {
    Message copy = m;
    std::optional<Message> response = send_from(stack, std::move(m));
    if (!response || response->status() != 401) return response;
    copy.set_header("CSeq", std::to_string(++caller.cseq) + " " + std::string(copy.method_text()));
    copy.set_header("Authorization", authorization(*response, copy, user, password));
    return send_from(stack, std::move(copy));
  }

  // An out-of-dialog REFER from `stack` to room `room` asking the focus to
  // call `target`, as the dial-out account "dialer"; the final response.
  std::optional<Message> refer_from(sip::Stack& stack, std::string_view room,
                                    const std::string& target) {
    Caller who(0, "referrer");
    Message m = request_from(stack, who, Method::kRefer, room);
    m.set_header("Refer-To", "<" + target + ">");
    return send_auth(stack, who, std::move(m), "dialer", "dial-pw");
  }
  static int status_of(const std::optional<Message>& answer) {
    return answer ? answer->status() : 0;
  }

  sip::Stack from2_;
  sip::Stack from3_;
};

TEST_F(LimitsE2eTest, BruteForceLocksTheSourceOutOfTheAccountOnlySlowsTheAccount) {
  start(47300, [](Options& options) {
    // 1,000 attempts in a row: only the digest rules act (each attempt's
    // transaction lives 32 s, Timer J; each would spend 127.0.0.2's
    // reflection budget, its Contact being its UDP address).
    options.limits.rate = 0;
    options.limits.reflection_rate = 0;
    options.limits.transactions_per_source = 5000;
    options.limits.auth_failures = 10;
    options.limits.auth_lockout = 5000ms;
    options.limits.account_slow_after = 5;
    options.limits.account_delay = 300ms;
  });
  Caller member(400, "alice");
  ASSERT_EQ(invite(member, "sendrecv", "vault"), 200);

  std::optional<Message> challenge = fresh_challenge(from2_);
  ASSERT_TRUE(challenge && challenge->status() == 401);
  // The first 10 wrong passwords, one after the other: the 10th locks
  // 127.0.0.2 out of "op" (from the 6th on the account is slowed).
  for (int i = 0; i < 10; ++i) {
    std::optional<Message> answer = attempt(from2_, *challenge, "wrong-" + std::to_string(i));
    ASSERT_TRUE(answer.has_value()) << "attempt " << i;
    ASSERT_EQ(answer->status(), 401) << "attempt " << i;
    challenge = std::move(answer);
  }
  EXPECT_EQ(counters().auth_failures, 10u);
  EXPECT_EQ(counters().auth_lockouts, 1u);
  EXPECT_EQ(server_->gauges().limit_locked_pairs, 1u);
  EXPECT_GE(counters().auth_slowed, 5u);

  // The right password from the locked source: answered as a wrong one.
  std::optional<Message> locked = attempt(from2_, *challenge, "right-pw");
  ASSERT_TRUE(locked.has_value());
  EXPECT_EQ(locked->status(), 401);
  EXPECT_TRUE(locked->header("WWW-Authenticate").has_value());
  EXPECT_EQ(counters().auth_locked, 1u);

  // 990 more wrong passwords, 110 in flight at a time.
  auto answers = std::make_shared<std::vector<Message>>();
  for (int batch = 0; batch < 9; ++batch) {
    const size_t expected = answers->size() + 110;
    for (int i = 0; i < 110; ++i) {
      Caller who(0, "op");
      Message m = request_from(from2_, who, Method::kSubscribe, "vault");
      m.set_header("Event", "dialog");
      m.set_header("Expires", "0");
      m.set_header("Authorization",
                   authorization(*challenge, m, "op", "wrong-" + std::to_string(batch * 110 + i)));
      from2_.send_request(std::move(m), focus_, [answers](const ClientEvent& event) {
        if (event.response && event.response->status() >= 200) {
          answers->push_back(*event.response);
        }
      });
    }
    run_until([&] { return answers->size() >= expected; }, 10000ms);
    ASSERT_EQ(answers->size(), expected) << "batch " << batch;
  }
  for (const Message& answer : *answers) {
    // Wrong, locked or slowed: every answer is the wrong-password answer.
    ASSERT_EQ(answer.status(), 401);
    ASSERT_TRUE(answer.header("WWW-Authenticate").has_value());
  }
  // Only the configured count per lockout was ever verified (a loaded
  // machine may outlast the 5 s lockout once: then 10 more, and a relock).
  const LimitCounters after = counters();
  EXPECT_EQ(after.auth_failures, 10u * after.auth_lockouts);
  EXPECT_EQ(after.auth_failures + after.auth_locked, 1001u);
  EXPECT_GE(after.auth_locked, 900u);

  // From another source the owner still gets in, only slowed down.
  std::optional<Message> other = fresh_challenge(from3_);
  ASSERT_TRUE(other && other->status() == 401);
  const auto before = std::chrono::steady_clock::now();
  std::optional<Message> owner = attempt(from3_, *other, "right-pw");
  const auto waited = std::chrono::steady_clock::now() - before;
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->status(), 200);
  EXPECT_GE(waited, 300ms);
  EXPECT_GE(counters().auth_slowed, 6u);

  // Once the lockout expires the locked source works again.
  run_until([&] { return server_->gauges().limit_locked_pairs == 0; }, 6000ms);
  EXPECT_EQ(server_->gauges().limit_locked_pairs, 0u);
  std::optional<Message> again = fresh_challenge(from2_);
  ASSERT_TRUE(again && again->status() == 401);
  std::optional<Message> back = attempt(from2_, *again, "right-pw");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->status(), 200);

  const std::string metrics = render_metrics(collect_metrics(make_metrics_source(*server_), {}));
  EXPECT_NE(
      metrics.find("chorus_auth_lockouts_total " + std::to_string(after.auth_lockouts) + "\n"),
      std::string::npos);
  EXPECT_NE(metrics.find("chorus_limit_refused_total{limit=\"auth_locked\",action=\"401\"} " +
                         std::to_string(after.auth_locked) + "\n"),
            std::string::npos);
}

// RFC 3261 §9.2: a CANCEL while account_delay holds an INVITE gets the
// INVITE its 487, and the INVITE is never handled afterwards: no call, no
// waiting member, no media. (The room is a waiting room, where a call set
// up for an INVITE that can no longer be answered would stay 300 s.)
TEST_F(LimitsE2eTest, AnInviteCancelledDuringTheAccountDelayLeavesNoCall) {
  start(50800, [](Options& options) {
    options.limits.account_slow_after = 1;
    options.limits.account_delay = 1000ms;
    RoomPolicy vault;
    vault.name = "vault";
    vault.waiting_room = true;
    options.rooms = {vault};
  });
  // One wrong password: from now on whatever names "op" waits account_delay.
  std::optional<Message> challenge = fresh_challenge(from2_);
  ASSERT_TRUE(challenge && challenge->status() == 401);
  std::optional<Message> wrong = attempt(from2_, *challenge, "wrong");
  ASSERT_TRUE(wrong && wrong->status() == 401);
  const FocusGauges before = server_->gauges();
  ASSERT_EQ(before.limit_deferred, 0u);

  Caller caller(400, "op");
  Message invite = request_from(from2_, caller, Method::kInvite, "vault");
  invite.set_body("application/sdp", caller.sdp("sendrecv"));
  invite.set_header("Authorization", authorization(*challenge, invite, "op", "right-pw"));
  // Shared: the transaction may report after the test's frame is gone.
  auto statuses = std::make_shared<std::vector<int>>();
  const sip::TransactionId tx =
      from2_.send_request(std::move(invite), focus_, [statuses](const ClientEvent& event) {
        if (event.response) statuses->push_back(event.response->status());
      });
  const auto got = [&](int status) {
    return std::find(statuses->begin(), statuses->end(), status) != statuses->end();
  };
  // §9.1: the CANCEL after a provisional (the layer's 100 Trying).
  run_until([&] { return got(100); });
  ASSERT_TRUE(got(100));
  EXPECT_EQ(server_->gauges().limit_deferred, 1u);
  ASSERT_NE(from2_.cancel(tx), 0u);
  run_until([&] { return got(487); });
  EXPECT_TRUE(got(487));
  EXPECT_EQ(server_->gauges().limit_deferred, 0u);

  // Past the delay: nothing was set up for it.
  run_until([] { return false; }, 1500ms);
  const FocusGauges after = server_->gauges();
  EXPECT_EQ(after.calls, before.calls);
  EXPECT_EQ(after.rooms, before.rooms);
  EXPECT_EQ(after.dialogs, before.dialogs);
  EXPECT_EQ(after.limit_deferred, 0u);
  EXPECT_EQ(server_->room_calls("vault"), 0u);
  EXPECT_FALSE(got(180));
  EXPECT_FALSE(got(200));
}

// The admin API's Digest (RFC 7616) is behind the same guard as SIP's: the
// (source, account) lockout, the account slow-down, no oracle.
TEST_F(LimitsE2eTest, AdminApiDigestIsBehindTheSameLockoutAndSlowDown) {
  start(47350, [](Options& options) {
    options.limits.auth_failures = 10;
    options.limits.auth_lockout = 1500ms;
    options.limits.account_slow_after = 5;
    options.limits.account_delay = 300ms;
  });
  AdminApi admin(*server_, MetricsSource{}, AdminConfig{.token = "operator-token"});
  const std::string target = "/api/rooms";
  // One GET /api/rooms from `source` answering a fresh challenge.
  const auto get = [&](std::string_view source, std::string_view password) {
    AdminRequest in{"GET", target, {}, {}, source};
    const AdminResponse challenge = admin.handle(in);
    EXPECT_EQ(challenge.status, 401);
    EXPECT_FALSE(challenge.challenges.empty());
    if (challenge.challenges.empty()) return challenge;
    const std::string authorization =
        digest_answer(challenge.challenges.front(), "GET", target, "op", password);
    in.authorization = authorization;
    return admin.handle(in);
  };

  for (int i = 0; i < 10; ++i) {
    const AdminResponse wrong = get("192.0.2.7", "wrong-" + std::to_string(i));
    ASSERT_EQ(wrong.status, 401) << "attempt " << i;
    EXPECT_FALSE(wrong.challenges.empty());
    // From the 6th failure on the account is slowed: the answer waits.
    EXPECT_EQ(wrong.delay, i >= 5 ? 300ms : 0ms) << "attempt " << i;
  }
  EXPECT_EQ(counters().auth_failures, 10u);
  EXPECT_EQ(counters().auth_lockouts, 1u);
  EXPECT_EQ(server_->gauges().limit_locked_pairs, 1u);

  // The right password from the locked source: the wrong-password answer.
  const AdminResponse locked = get("192.0.2.7", "right-pw");
  EXPECT_EQ(locked.status, 401);
  EXPECT_FALSE(locked.challenges.empty());
  EXPECT_EQ(counters().auth_locked, 1u);
  EXPECT_EQ(counters().auth_failures, 10u);  // not verified, not counted again

  // Another source with the right password gets in, slowed.
  const AdminResponse owner = get("192.0.2.8", "right-pw");
  EXPECT_EQ(owner.status, 200);
  EXPECT_EQ(owner.delay, 300ms);
  EXPECT_TRUE(owner.body.starts_with("[")) << owner.body;  // the room list
  // The event stream's own Digest login is slowed alike: its upgrade (or
  // refusal) waits as long.
  {
    const AdminResponse challenge = admin.handle(AdminRequest{"GET", target, {}, {}, "192.0.2.9"});
    ASSERT_FALSE(challenge.challenges.empty());
    const std::string events = "/api/events";
    std::chrono::milliseconds delay{0};
    EXPECT_EQ(admin.event_stream_refusal(
                  digest_answer(challenge.challenges.front(), "GET", events, "op", "right-pw"),
                  events, "192.0.2.9", &delay),
              0);
    EXPECT_EQ(delay, 300ms);
    EXPECT_EQ(admin.event_stream_refusal(
                  digest_answer(challenge.challenges.front(), "GET", events, "op", "wrong"), events,
                  "192.0.2.9", &delay),
              401);
    EXPECT_EQ(delay, 300ms);
  }

  // Once the lockout expires the first source gets in again.
  run_until([&] { return server_->gauges().limit_locked_pairs == 0; }, 3000ms);
  EXPECT_EQ(get("192.0.2.7", "right-pw").status, 200);
}

// Wrong operator tokens count toward the same per-source lockout as wrong
// passwords (Bearer, the event stream's ?token=, the metrics token), but the
// right token is let in even while the source is locked: behind a TLS proxy
// every operator shares the proxy's address, and a 32+ character token is
// no guessable secret the lockout must hide.
TEST_F(LimitsE2eTest, WrongAdminTokensLockTheSourceOutButTheRightTokenStillGetsIn) {
  start(51600, [](Options& options) {
    options.limits.auth_failures = 10;
    options.limits.auth_lockout = 1500ms;
  });
  const std::string right = "operator-token-of-32-characters!";
  AdminApi admin(*server_, MetricsSource{}, AdminConfig{.token = right, .metrics_token = true});
  const auto get = [&](std::string_view target, std::string_view source, std::string token) {
    std::string authorization("Bearer ");
    authorization += token;
    return admin.handle(AdminRequest{"GET", target, authorization, {}, source}).status;
  };
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(get("/api/rooms", "192.0.2.7", "guess-" + std::to_string(i)), 401) << i;
  }
  EXPECT_EQ(get("/metrics", "192.0.2.7", "guess-metrics"), 401);
  EXPECT_EQ(admin.event_stream_refusal({}, "/api/events?token=guess-events", "192.0.2.7"), 401);
  EXPECT_EQ(counters().auth_failures, 10u);
  EXPECT_EQ(counters().auth_lockouts, 1u);
  EXPECT_EQ(server_->gauges().limit_locked_pairs, 1u);

  // Locked (the source may be the TLS proxy every operator comes through):
  // the right token still gets in, on every path, and leaves the lock be.
  EXPECT_EQ(get("/api/rooms", "192.0.2.7", right), 200);
  EXPECT_EQ(get("/metrics", "192.0.2.7", right), 200);
  EXPECT_EQ(admin.event_stream_refusal({}, std::string("/api/events?token=") + right, "192.0.2.7"),
            0);
  EXPECT_EQ(server_->gauges().limit_locked_pairs, 1u);
  EXPECT_EQ(counters().auth_locked, 0u);
  // A wrong token from there is refused and counted as a locked attempt.
  EXPECT_EQ(get("/api/rooms", "192.0.2.7", "guess-while-locked"), 401);
  EXPECT_EQ(get("/metrics", "192.0.2.7", "guess-while-locked"), 401);
  EXPECT_EQ(admin.event_stream_refusal({}, "/api/events?token=guess-while-locked", "192.0.2.7"),
            401);
  EXPECT_EQ(counters().auth_locked, 3u);
  EXPECT_EQ(counters().auth_lockouts, 1u);
  // Another source is not affected.
  EXPECT_EQ(get("/api/rooms", "192.0.2.8", right), 200);

  run_until([&] { return server_->gauges().limit_locked_pairs == 0; }, 3000ms);
  EXPECT_EQ(get("/api/rooms", "192.0.2.7", right), 200);
}

// The admin listener behind reverse proxies (admin.trusted_proxies): the
// lockout keys on the client X-Forwarded-For names when, and only when, the
// TCP peer is a trusted proxy. The listener is real (HTTP on 127.0.0.1, the
// "proxy"), served by the focus's io while the request waits.
class AdminBehindProxyTest : public LimitsE2eTest {
 protected:
  void start_admin(uint16_t first, std::vector<std::string> trusted_proxies) {
    start(first, [](Options& options) {
      options.limits.auth_failures = 10;
      options.limits.auth_lockout = 60s;
      options.limits.account_slow_after = 0;  // no slow-down: only the lockout acts
    });
    admin_.emplace(io_, *server_, MetricsSource{},
                   AdminConfig{.port = 0,
                               .token = "operator-token-of-32-characters!",
                               .trusted_proxies = std::move(trusted_proxies)});
    admin_->start();
  }

  // GET /api/rooms as account "op" with `password` (the challenge fetched
  // first), carrying `forwarded_for` as X-Forwarded-For lines (none when
  // empty); the final status.
  int login(std::string_view password, const std::vector<std::string>& forwarded_for) {
    std::string headers;
    for (const std::string& value : forwarded_for) headers += "X-Forwarded-For: " + value + "\r\n";
    const HttpReply challenge = http(admin_->port(), "GET", kTarget, {}, {}, headers);
    EXPECT_EQ(challenge.status, 401) << challenge.body;
    const std::string digest = digest_challenge(challenge.head);
    EXPECT_FALSE(digest.empty()) << challenge.head;
    if (challenge.status != 401 || digest.empty()) return challenge.status;
    headers += "Authorization: " + digest_answer(digest, "GET", kTarget, "op", password) + "\r\n";
    return http(admin_->port(), "GET", kTarget, {}, {}, headers).status;
  }

  // Ten wrong passwords with this X-Forwarded-For: a lockout of whichever
  // source they count against.
  void ten_wrong(const std::vector<std::string>& forwarded_for) {
    for (int i = 0; i < 10; ++i) {
      ASSERT_EQ(login("wrong-" + std::to_string(i), forwarded_for), 401) << "attempt " << i;
    }
  }

  // The first Digest challenge among a 401's WWW-Authenticate lines.
  static std::string digest_challenge(const std::string& head) {
    constexpr std::string_view kField = "\r\nWWW-Authenticate: Digest ";
    const size_t at = head.find(kField);
    if (at == std::string::npos) return {};
    const size_t value = at + 2 + std::string_view("WWW-Authenticate: ").size();
    return head.substr(value, head.find("\r\n", value) - value);
  }

  static constexpr std::string_view kTarget = "/api/rooms";
  std::optional<AdminServer> admin_;  // after server_: stopped and gone first
};

// Through a trusted proxy each client is its own source: ten wrong passwords
// from client A lock A out of the account, and client B, behind the same
// proxy, still logs in.
TEST_F(AdminBehindProxyTest, ATrustedProxysClientsAreLockedOutOneByOne) {
  start_admin(51700, {"127.0.0.1"});
  ten_wrong({"198.51.100.7"});
  EXPECT_EQ(counters().auth_failures, 10u);
  EXPECT_EQ(counters().auth_lockouts, 1u);
  // A is locked: even the right password gets the wrong-password answer.
  EXPECT_EQ(login("right-pw", {"198.51.100.7"}), 401);
  EXPECT_EQ(counters().auth_locked, 1u);
  // B, through the same proxy, is not.
  EXPECT_EQ(login("right-pw", {"198.51.100.8"}), 200);
  // Nor is the proxy itself, asking on its own behalf.
  EXPECT_EQ(login("right-pw", {}), 200);
  EXPECT_EQ(server_->gauges().limit_locked_pairs, 1u);
}

// From a peer that is no trusted proxy X-Forwarded-For is ignored: a client
// cannot pick a fresh source for every guess.
TEST_F(AdminBehindProxyTest, WithoutTrustedProxiesXForwardedForIsIgnored) {
  start_admin(51800, {});
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(login("wrong-" + std::to_string(i), {"198.51.100." + std::to_string(10 + i)}), 401)
        << "attempt " << i;
  }
  EXPECT_EQ(counters().auth_lockouts, 1u);
  // One source (the peer, 127.0.0.1) is locked, whatever the header says.
  EXPECT_EQ(login("right-pw", {"198.51.100.99"}), 401);
  EXPECT_EQ(login("right-pw", {}), 401);
  EXPECT_EQ(server_->gauges().limit_locked_pairs, 1u);
}

// The list is read from the right: the entry our trusted proxies appended
// last is the client, trusted hops are skipped, and what the client wrote
// itself left of that (a "spoofed" address) is never the key.
TEST_F(AdminBehindProxyTest, TheClientIsTheRightmostEntryNoTrustedProxyAppended) {
  start_admin(51900, {"127.0.0.1", "10.0.0.0/8"});
  // "spoofed, real-client", through an inner proxy 10.1.2.3 and then us.
  ten_wrong({"203.0.113.66, 198.51.100.7", "10.1.2.3"});
  EXPECT_EQ(counters().auth_lockouts, 1u);
  // The real client is locked, whatever it claims left of itself.
  EXPECT_EQ(login("right-pw", {"203.0.113.1, 198.51.100.7"}), 401);
  EXPECT_EQ(login("right-pw", {"198.51.100.7,10.1.2.3"}), 401);
  // The spoofed address was never counted.
  EXPECT_EQ(login("right-pw", {"203.0.113.66"}), 200);
  EXPECT_EQ(login("right-pw", {"198.51.100.7, 203.0.113.66"}), 200);
  // Every hop trusted: the leftmost is the client (the inner proxy's own).
  EXPECT_EQ(login("right-pw", {"10.9.9.9, 10.1.2.3"}), 200);
  EXPECT_EQ(server_->gauges().limit_locked_pairs, 1u);
}

// A malformed entry from a trusted proxy is answered 400 naming it, before
// any credentials are looked at (nothing counted); from any other peer the
// header is not read.
TEST_F(AdminBehindProxyTest, AMalformedEntryFromATrustedProxyIs400NamingIt) {
  start_admin(51950, {"127.0.0.1"});
  for (const char* bad : {"unknown", "198.51.100.7, not-an-ip", "198.51.100.7:http",
                          "2001:db8::1:443]", "198.51.100.300"}) {
    const HttpReply reply =
        http(admin_->port(), "GET", kTarget, {}, {},
             "X-Forwarded-For: " + std::string(bad) + "\r\nAuthorization: Digest username=x\r\n");
    EXPECT_EQ(reply.status, 400) << bad;
    EXPECT_NE(reply.body.find("X-Forwarded-For entry"), std::string::npos) << reply.body;
  }
  const HttpReply named =
      http(admin_->port(), "GET", kTarget, {}, {}, "X-Forwarded-For: 198.51.100.7, bogus\r\n");
  EXPECT_NE(named.body.find("\\\"bogus\\\""), std::string::npos) << named.body;
  EXPECT_EQ(counters().auth_failures, 0u);
  // Ports in the two forms proxies write them are addresses.
  EXPECT_EQ(login("right-pw", {"198.51.100.7:4711"}), 200);
  EXPECT_EQ(login("right-pw", {"[2001:db8::7]:4711"}), 200);
  EXPECT_EQ(login("right-pw", {"[2001:db8::8]"}), 200);
}

// The transaction caps count pending work. A transaction that has sent its
// final response only absorbs retransmissions for 32 s (Timer J over UDP):
// a peer doing steady business (OPTIONS keepalives, call after call) is not
// capped by those, while requests not yet answered are.
TEST_F(LimitsE2eTest, TransactionCapsCountPendingNotFinishedTransactions) {
  start(47360, [](Options& options) {
    options.limits.rate = 0;
    options.limits.transactions_per_source = 5;
  });
  Caller who(0, "keepalive");
  for (int i = 0; i < 20; ++i) {
    std::optional<Message> answer =
        send_from(from2_, request_from(from2_, who, Method::kOptions, "talk"));
    ASSERT_TRUE(answer.has_value()) << "OPTIONS " << i;
    EXPECT_EQ(answer->status(), 200) << "OPTIONS " << i;
  }
  const sip::TransactionLayer& layer = server_->stack().transactions();
  EXPECT_GE(layer.size(), 20u);  // all still absorbing retransmissions
  EXPECT_EQ(layer.pending(), 0u);
  EXPECT_EQ(layer.server_transactions_from("127.0.0.2"), 0u);
  EXPECT_EQ(counters().transactions_refused, 0u);
}

TEST_F(LimitsE2eTest, RequestsOverTheSourceRateAreDroppedOthersAnswered) {
  start(47400, [](Options& options) {
    options.limits.rate = 10;
    options.limits.burst = 20;
  });
  auto answered_count = std::make_shared<size_t>(0);
  size_t& answered = *answered_count;
  size_t sent = 0;
  for (int i = 0; i < 100; ++i) {
    Caller who(0, "scan" + std::to_string(i));
    from2_.send_request(request_from(from2_, who, Method::kOptions, "x"), focus_,
                        [answered_count](const ClientEvent& event) {
                          if (event.response && event.response->status() == 200) {
                            ++*answered_count;
                          }
                        });
    ++sent;
  }
  run_until([] { return false; }, 300ms);
  // The burst, plus what 10/s refills while they arrive.
  EXPECT_GE(answered, 20u);
  EXPECT_LE(answered, 26u);
  EXPECT_GE(counters().rate_dropped, sent - 26);
  Caller other(0, "other");
  std::optional<Message> ok = send_from(from3_, request_from(from3_, other, Method::kOptions, "x"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status(), 200);
  EXPECT_EQ(server_->stack().stats().transactions.screened_dropped, counters().rate_dropped);
}

TEST_F(LimitsE2eTest, OverTheRateWithRejectAnswers503WithRetryAfter) {
  start(47500, [](Options& options) {
    options.limits.rate = 1;
    options.limits.burst = 1;
    options.limits.reject_over_rate = true;
  });
  Caller a(0, "a"), b(0, "b");
  std::optional<Message> first = send_from(from2_, request_from(from2_, a, Method::kOptions, "x"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status(), 200);
  std::optional<Message> second = send_from(from2_, request_from(from2_, b, Method::kOptions, "x"));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status(), 503);
  EXPECT_TRUE(second->header("Retry-After").has_value());
  EXPECT_EQ(counters().rate_rejected, 1u);
}

TEST_F(LimitsE2eTest, CallCapPerSourceAndOverloadKeepExistingCallsTalking) {
  start(47600, [](Options& options) {
    options.limits.calls_per_source = 1;
    options.limits.overload_calls = 4;
    options.limits.overload_cpu_percent = 0;
  });
  // Two calls from 127.0.0.1 (exempt from the per-source cap).
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "cap"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "cap"), 200);
  // 127.0.0.2: the first call is fine, the second is over its cap.
  Caller c(0, "carol"), d(0, "dave");
  Message first = request_from(from2_, c, Method::kInvite, "cap");
  first.set_body("application/sdp", c.sdp("sendrecv"));
  std::optional<Message> ok = send_from(from2_, std::move(first));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status(), 200);
  Message second = request_from(from2_, d, Method::kInvite, "cap");
  second.set_body("application/sdp", d.sdp("sendrecv"));
  std::optional<Message> capped = send_from(from2_, std::move(second));
  ASSERT_TRUE(capped.has_value());
  EXPECT_EQ(capped->status(), 503);
  EXPECT_TRUE(capped->header("Retry-After").has_value());
  EXPECT_EQ(counters().calls_refused, 1u);
  // A fourth call (exempt source) reaches the overload budget: a new INVITE
  // from anyone gets 503.
  Caller f(900, "frank");
  ASSERT_EQ(invite(f, "sendrecv", "cap"), 200);
  Caller e(0, "erin");
  Message third = request_from(from3_, e, Method::kInvite, "cap");
  third.set_body("application/sdp", e.sdp("sendrecv"));
  std::optional<Message> overloaded = send_from(from3_, std::move(third));
  ASSERT_TRUE(overloaded.has_value());
  EXPECT_EQ(overloaded->status(), 503);
  EXPECT_TRUE(overloaded->header("Retry-After").has_value());
  EXPECT_EQ(counters().overload_refused, 1u);
  // The calls in progress keep their audio.
  talk({&a, &b}, 60, 20);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
}

TEST_F(LimitsE2eTest, SubscriptionCapAndNotifiesTowardThirdPartiesAreLimited) {
  start(47700, [](Options& options) {
    options.limits.subscriptions_per_source = 2;
    options.limits.reflection_rate = 1;
    options.limits.reflection_burst = 1;
  });
  Caller member(400, "alice");
  ASSERT_EQ(invite(member, "sendrecv", "subs"), 200);
  const auto subscribe = [&](sip::Stack& stack, std::string_view contact) {
    Caller who(0, "watcher");
    Message m = request_from(stack, who, Method::kSubscribe, "subs");
    m.set_header("Event", "conference");
    if (!contact.empty()) m.set_header("Contact", contact);
    std::optional<Message> answer = send_from(stack, std::move(m));
    return answer ? answer->status() : 0;
  };
  EXPECT_EQ(subscribe(from2_, {}), 200);
  io_.run_for(1100ms);  // 127.0.0.2 (UDP) spent its own reflection token
  EXPECT_EQ(subscribe(from2_, {}), 200);
  EXPECT_EQ(subscribe(from2_, {}), 503);  // per-source cap
  EXPECT_EQ(counters().subscriptions_refused, 1u);
  // NOTIFYs toward 127.0.0.9, which never asked: one, then refused.
  EXPECT_EQ(subscribe(from3_, "<sip:victim@127.0.0.9:5999>"), 200);
  EXPECT_EQ(subscribe(from3_, "<sip:victim@127.0.0.9:5999>"), 503);
  EXPECT_EQ(counters().reflection_refused, 1u);
}

// A UDP source can be spoofed: SUBSCRIBEs "from" 127.0.0.2 whose Contact is
// 127.0.0.2 may be an attacker's aimed at it, each making the focus send it a
// full conference document, retransmitted by Timer E. So NOTIFYs back to a
// UDP sender spend its reflection budget as toward anyone else: past the
// burst they are refused as toward a third party, and nothing is sent. A
// phone subscribing to a couple of rooms, and refreshing, stays well within.
TEST_F(LimitsE2eTest, SubscribesOverUdpSpendTheReflectionBudgetOfTheirOwnAddress) {
  start(50100, [](Options& options) {
    options.limits.reflection_rate = 1;
    options.limits.reflection_burst = 10;
  });
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "subs"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "other"), 200);
  auto notified = std::make_shared<std::set<std::string>>();  // Call-IDs
  sip::StackHandlers handlers;
  handlers.on_request = [notified](const sip::ServerTransaction& tx) {
    if (tx.request().method() == Method::kNotify) {
      notified->insert(std::string(tx.request().call_id()));
    }
    tx.respond(200, "OK");
  };
  from2_.set_handlers(handlers);

  constexpr size_t kSent = 15;
  size_t accepted = 0;
  size_t refused = 0;
  const auto began = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kSent; ++i) {
    Caller who(0, "watcher");
    Message m = request_from(from2_, who, Method::kSubscribe, "subs");
    m.set_header("Event", "conference");
    const std::optional<Message> answer = send_from(from2_, std::move(m));
    ASSERT_TRUE(answer.has_value()) << i;
    if (i < 10) {
      EXPECT_EQ(answer->status(), 200) << i;  // the burst
    }
    if (answer->status() == 200) {
      ++accepted;
      continue;
    }
    ++refused;
    EXPECT_EQ(answer->status(), 503) << i;
    EXPECT_EQ(answer->reason_phrase(), "Too Many Requests Toward Third Parties") << i;
    EXPECT_TRUE(answer->header("Retry-After").has_value()) << i;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  // 10 at once, then one a second (a slow machine may earn one or two).
  EXPECT_LE(accepted, 10 + static_cast<size_t>(seconds));
  EXPECT_GE(refused, 1u);
  EXPECT_EQ(accepted + refused, kSent);
  EXPECT_EQ(counters().reflection_refused, refused);
  // One NOTIFY per accepted subscription; none for a refused one.
  run_until([&] { return notified->size() >= accepted; });
  io_.run_for(200ms);
  EXPECT_EQ(notified->size(), accepted);

  // A phone on 127.0.0.3 subscribed to two rooms, refreshing each (the
  // same Contact: no new destination) far more often than it would.
  for (const char* room : {"subs", "other"}) {
    Caller phone(0, "phone");
    Message m = request_from(from3_, phone, Method::kSubscribe, room);
    m.set_header("Event", "conference");
    const std::optional<Message> answer = send_from(from3_, std::move(m));
    ASSERT_EQ(status_of(answer), 200) << room;
    ASSERT_FALSE(answer->contacts().empty());
    phone.to_tag = std::string(answer->to().tag());
    phone.remote_target = answer->contacts().front().uri_text;
    for (int refresh = 0; refresh < 12; ++refresh) {
      Message again = request_from(from3_, phone, Method::kSubscribe, room);
      again.set_header("Event", "conference");
      EXPECT_EQ(status_of(send_from(from3_, std::move(again))), 200) << room << " " << refresh;
    }
  }
  EXPECT_EQ(counters().reflection_refused, refused);
}

// The caps and the reflection check hold inside a subscription dialog as
// out of one, and the reflection check looks where NOTIFYs really go: the
// first Record-Route, a maddr, a refresh's new Contact.
TEST_F(LimitsE2eTest, InDialogSubscribesAndRoutedOrMaddrTargetsPassTheSameLimits) {
  start(47800, [](Options& options) {
    options.limits.subscriptions_per_source = 5;
    options.limits.reflection_rate = 1;
    options.limits.reflection_burst = 1;
  });
  Caller member(400, "alice");
  ASSERT_EQ(invite(member, "sendrecv", "subs"), 200);
  Caller who(0, "watcher");
  const auto subscribe = [&](sip::Stack& stack, Caller& caller, std::string_view event,
                             std::string_view contact, std::string_view record_route) {
    Message m = request_from(stack, caller, Method::kSubscribe, "subs");
    m.set_header("Event", event);
    if (!contact.empty()) m.set_header("Contact", contact);
    if (!record_route.empty()) m.set_header("Record-Route", record_route);
    return send_from(stack, std::move(m));
  };
  const auto status = [](const std::optional<Message>& answer) {
    return answer ? answer->status() : 0;
  };
  // Each new subscription of 127.0.0.2 (UDP) spends its own reflection
  // token, back one a second.
  const auto refilled = [&] { io_.run_for(1100ms); };
  const std::optional<Message> first = subscribe(from2_, who, "conference", {}, {});
  ASSERT_EQ(status(first), 200);
  ASSERT_FALSE(first->contacts().empty());
  who.to_tag = std::string(first->to().tag());
  who.remote_target = first->contacts().front().uri_text;
  // Three more in the dialog (4 live), then the dialog's cap.
  for (const char* event : {"conference;id=1", "conference;id=2", "conference;id=3"}) {
    refilled();
    EXPECT_EQ(status(subscribe(from2_, who, event, {}, {})), 200) << event;
  }
  EXPECT_EQ(status(subscribe(from2_, who, "conference;id=4", {}, {})), 403);
  // The in-dialog ones count against the source: one more dialog, then 503.
  Caller other(0, "watcher2");
  refilled();
  EXPECT_EQ(status(subscribe(from2_, other, "conference", {}, {})), 200);
  Caller third(0, "watcher3");
  EXPECT_EQ(status(subscribe(from2_, third, "conference", {}, {})), 503);
  EXPECT_EQ(counters().subscriptions_refused, 1u);
  // A refresh is no new subscription: the cap does not refuse it.
  EXPECT_EQ(status(subscribe(from2_, who, "conference", {}, {})), 200);

  // Contact is the sender, but the NOTIFYs would go to the first
  // Record-Route: toward 127.0.0.9, one, then refused.
  Caller routed(0, "routed"), routed2(0, "routed2"), via_maddr(0, "maddr");
  const std::string own = from3_.contact_uri("x", sip::TransportKind::kUdp);
  const std::optional<Message> routed_ok =
      subscribe(from3_, routed, "conference", {}, "<sip:127.0.0.9:5999;lr>");
  ASSERT_EQ(status(routed_ok), 200);
  EXPECT_EQ(status(subscribe(from3_, routed2, "conference", {}, "<sip:127.0.0.9:5999;lr>")), 503);
  EXPECT_EQ(counters().reflection_refused, 1u);
  // A maddr sends them there as well.
  EXPECT_EQ(status(subscribe(from3_, via_maddr, "conference", "<" + own + ";maddr=127.0.0.9>", {})),
            503);
  EXPECT_EQ(counters().reflection_refused, 2u);
  // A refresh that moves the dialog's target there: refused too, and the
  // refused refresh moves nothing: the next NOTIFYs still reach 127.0.0.2.
  EXPECT_EQ(status(subscribe(from2_, who, "conference", "<sip:w@127.0.0.9:5999>", {})), 503);
  EXPECT_EQ(counters().reflection_refused, 3u);
  auto notifies = std::make_shared<size_t>(0);
  sip::StackHandlers handlers;
  handlers.on_request = [notifies, call_id = who.call_id](const sip::ServerTransaction& tx) {
    if (tx.request().method() == Method::kNotify && tx.request().call_id() == call_id) {
      ++*notifies;
    }
    tx.respond(200, "OK");
  };
  from2_.set_handlers(handlers);
  Caller late(700, "bob");
  ASSERT_EQ(invite(late, "sendrecv", "subs"), 200);  // the room changes
  run_until([&] { return *notifies >= 4; }, 3000ms);
  EXPECT_GE(*notifies, 4u);  // one per subscription of the dialog
  // A refresh of a dialog whose NOTIFYs follow its route set is no new
  // reflection, whatever its Contact says; nor is an unsubscribe keeping
  // its Contact.
  ASSERT_FALSE(routed_ok->contacts().empty());
  routed.to_tag = std::string(routed_ok->to().tag());
  routed.remote_target = routed_ok->contacts().front().uri_text;
  EXPECT_EQ(status(subscribe(from3_, routed, "conference", "<sip:w@127.0.0.7:5999>", {})), 200);
  Message bye = request_from(from2_, who, Method::kSubscribe, "subs");
  bye.set_header("Event", "conference");
  bye.set_header("Expires", "0");
  EXPECT_EQ(status(send_from(from2_, std::move(bye))), 200);
  EXPECT_EQ(counters().reflection_refused, 3u);
}

// A dial-out INVITE goes to a maddr, not to the host (RFC 3261 §19.1.1):
// the INVITE a followed 3xx, a PICKUP or the admin pickup sends spends the
// reflection budget of that address. 127.0.0.3 (another stack of ours,
// which counts what reaches it) plays the victim behind a maddr.
TEST_F(LimitsE2eTest, DialOutsToAMaddrSpendTheMaddrsReflectionBudget) {
  start(47850, [](Options& options) {
    options.accounts = {{"dialer", "dial-pw", {"dial-out", "pickup"}}};
    options.limits.reflection_rate = 1;
    options.limits.reflection_burst = 1;
  });
  auto reached = std::make_shared<size_t>(0);
  sip::StackHandlers victim;
  victim.on_request = [reached](const sip::ServerTransaction& tx) {
    if (tx.request().method() == Method::kInvite) ++*reached;
    tx.respond(486, "Busy Here");
  };
  from3_.set_handlers(victim);
  const uint16_t victim_port = from3_.listening().front().port;
  const std::string behind_maddr =
      "sip:x@127.0.0.8:" + std::to_string(victim_port) + ";maddr=127.0.0.3";
  // 127.0.0.3's one token, spent by a REFER from 127.0.0.2 (nobody listens
  // on 5999 there).
  ASSERT_EQ(status_of(refer_from(from2_, "out", "sip:v@127.0.0.3:5999")), 202);
  EXPECT_EQ(counters().reflection_refused, 0u);

  // 1. A callee's 302 naming a Contact whose host is fresh but whose maddr
  //    is 127.0.0.3: not followed, the referrer hears the 302.
  redirects_["mover"] = behind_maddr;
  ASSERT_EQ(
      status_of(refer_from(from2_, "out", client_.contact_uri("mover", sip::TransportKind::kUdp))),
      202);
  run_until([&] { return received(Method::kInvite) == 1 && counters().reflection_refused == 1; });
  EXPECT_EQ(received(Method::kInvite), 1u);  // the one to "mover"
  EXPECT_EQ(counters().reflection_refused, 1u);
  io_.run_for(100ms);
  EXPECT_EQ(*reached, 0u);

  // 2. PICKUP of a ringing dial-out onto a Contact behind that maddr: 503
  //    before anything moves; the dial-out keeps ringing. (The operator's
  //    dial spends no budget: 127.0.0.1's went on "mover".)
  Caller member(400, "alice");  // the room exists (and is published) with a member
  ASSERT_EQ(invite(member, "sendrecv", "out"), 200);
  ring_only_ = {"ringer"};
  ASSERT_EQ(
      server_->dial_out("out", client_.contact_uri("ringer", sip::TransportKind::kUdp), "").status,
      202);
  MemberState ringer;
  run_until([&] {
    const auto room = server_->room_state("out");
    for (const MemberState& m : room ? room->members : std::vector<MemberState>{}) {
      if (m.entity.find("ringer") != std::string::npos && !m.dialog.early_remote_tags.empty()) {
        ringer = m;
      }
    }
    return !ringer.dialog.early_remote_tags.empty();
  });
  ASSERT_FALSE(ringer.dialog.early_remote_tags.empty());
  const size_t dialing = server_->gauges().dialing;
  Caller picker(0, "picker");
  Message pickup = Message::request("PICKUP", room_uri("out"));
  pickup.add_header("From", "<sip:picker@127.0.0.2>;tag=" + picker.from_tag);
  pickup.add_header("To", "<sip:out@127.0.0.1>");
  pickup.add_header("Call-ID", picker.call_id);
  pickup.add_header("CSeq", std::to_string(++picker.cseq) + " PICKUP");
  pickup.add_header("Contact", "<" + behind_maddr + ">");
  pickup.set_body("text/csv", ringer.dialog.call_id + ";" + ringer.dialog.local_tag + ";" +
                                  ringer.dialog.early_remote_tags.front());
  const std::optional<Message> picked =
      send_auth(from2_, picker, std::move(pickup), "dialer", "dial-pw");
  ASSERT_TRUE(picked.has_value());
  EXPECT_EQ(picked->status(), 503);
  EXPECT_EQ(picked->reason_phrase(), "Too Many Requests Toward Third Parties");
  EXPECT_TRUE(picked->header("Retry-After").has_value());
  EXPECT_EQ(counters().reflection_refused, 2u);
  EXPECT_EQ(server_->gauges().dialing, dialing);
  EXPECT_EQ(received(Method::kCancel), 0u);

  // 3. The admin pickup, for an account: refused alike (the operator's
  //    token is not held to it, as for the admin dial).
  const ControlResult admin = server_->pickup("out", ringer.id, behind_maddr, "dialer");
  EXPECT_EQ(admin.status, 429) << admin.message;
  EXPECT_EQ(counters().reflection_refused, 3u);
  EXPECT_EQ(server_->gauges().dialing, dialing);
  io_.run_for(100ms);
  EXPECT_EQ(*reached, 0u);
}

// The admin API's dial-out (Server::dial_out, what POST /api/rooms/R/dial
// runs once the account is checked): an account's INVITEs toward a third
// party spend a reflection budget as a REFER's do, and no call is placed
// past the overload budget.
TEST_F(LimitsE2eTest, AdminDialOutsSpendAReflectionBudgetAndStopUnderOverload) {
  start(47900, [](Options& options) {
    options.limits.reflection_rate = 1;
    options.limits.reflection_burst = 1;
    options.limits.overload_calls = 3;
  });
  EXPECT_EQ(server_->dial_out("out", "sip:x@127.0.0.9:5999", "dialer").status, 202);
  EXPECT_EQ(server_->dial_out("out", "sip:y@127.0.0.9:5999", "dialer").status, 429);
  // A maddr is where it goes.
  EXPECT_EQ(server_->dial_out("out", "sip:y@127.0.0.8:5999;maddr=127.0.0.9", "dialer").status, 429);
  EXPECT_EQ(counters().reflection_refused, 2u);
  // The operator's token is not held to it.
  EXPECT_EQ(server_->dial_out("out", "sip:z@127.0.0.9:5999", "").status, 202);
  // Two dial-outs ringing and one member: the call budget is spent.
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "out"), 200);
  const ControlResult refused = server_->dial_out("out", "sip:w@127.0.0.1:5999", "");
  EXPECT_EQ(refused.status, 503) << refused.message;
  EXPECT_EQ(counters().overload_refused, 1u);
}

// An account's admin-API dial-outs count against its call cap like its
// REFERs and its own INVITEs (the operator's token has no cap); a place
// comes back when the dial-out ends.
TEST_F(LimitsE2eTest, AdminDialOutsOfAnAccountCountAgainstItsCallCap) {
  start(48500, [](Options& options) { options.limits.calls_per_source = 2; });
  refusals_["busy"] = {486, "Busy Here"};
  EXPECT_EQ(server_->dial_out("out", "sip:x@127.0.0.9:5999", "dialer").status, 202);
  EXPECT_EQ(server_->dial_out("out", "sip:x@127.0.0.7:5999", "dialer").status, 202);
  const ControlResult capped = server_->dial_out("out", "sip:x@127.0.0.6:5999", "dialer");
  EXPECT_EQ(capped.status, 429) << capped.message;
  EXPECT_EQ(server_->dial_out("out", "sip:x@127.0.0.6:5999", "").status, 202);
  EXPECT_EQ(server_->gauges().dialing, 3u);
  // Another account is not held to this one's cap; its refused dial-out
  // gives its place back.
  EXPECT_EQ(server_->dial_out("out", client_.contact_uri("busy", sip::TransportKind::kUdp), "other")
                .status,
            202);
  run_until([&] { return server_->gauges().dialing == 3; });
  EXPECT_EQ(server_->gauges().dialing, 3u);
  EXPECT_EQ(server_->dial_out("out", "sip:y@127.0.0.5:5999", "other").status, 202);
  EXPECT_EQ(server_->dial_out("out", "sip:y@127.0.0.4:5999", "other").status, 202);
  EXPECT_EQ(server_->dial_out("out", "sip:y@127.0.0.3:5999", "other").status, 429);
}

// The REFER variant: a dial-out a REFER asks for is held to what an INVITE
// is — the reflection budget of where it goes, the requesting account's
// call cap (from its INVITE until its call ends) and the overload budget.
TEST_F(LimitsE2eTest, ReferDialOutsSpendTheBudgetsAndTheCallCapAndStopUnderOverload) {
  start(47950, [](Options& options) {
    options.accounts = {{"dialer", "dial-pw", {"dial-out"}}};
    options.limits.reflection_rate = 1;
    options.limits.reflection_burst = 1;
    options.limits.calls_per_source = 2;
    options.limits.overload_calls = 4;
    options.limits.overload_cpu_percent = 0;
  });
  // Reflection: one INVITE toward 127.0.0.9, then refused, a maddr too.
  ASSERT_EQ(status_of(refer_from(from2_, "out", "sip:x@127.0.0.9:5999")), 202);
  const std::optional<Message> reflected = refer_from(from2_, "out", "sip:y@127.0.0.9:5999");
  ASSERT_TRUE(reflected.has_value());
  EXPECT_EQ(reflected->status(), 503);
  EXPECT_EQ(reflected->reason_phrase(), "Too Many Requests Toward Third Parties");
  EXPECT_EQ(status_of(refer_from(from2_, "out", "sip:y@127.0.0.8:5999;maddr=127.0.0.9")), 503);
  EXPECT_EQ(counters().reflection_refused, 2u);
  EXPECT_EQ(server_->gauges().dialing, 1u);

  // The call cap: the ringing dial-out to 127.0.0.9 is one of the account's
  // two. A dial-out the callee refuses gives its place back ...
  refusals_["busy"] = {486, "Busy Here"};
  ASSERT_EQ(
      status_of(refer_from(from2_, "out", client_.contact_uri("busy", sip::TransportKind::kUdp))),
      202);
  run_until([&] { return received(Method::kInvite) == 1 && server_->gauges().dialing == 1; });
  ASSERT_EQ(server_->gauges().dialing, 1u);
  // ... so one more may ring, and then the account is at its cap, from any
  // address: 503, nothing dialled.
  ASSERT_EQ(status_of(refer_from(from2_, "out", "sip:z@127.0.0.7:5999")), 202);
  EXPECT_EQ(server_->gauges().dialing, 2u);
  for (sip::Stack* stack : {&from2_, &from3_}) {
    const std::optional<Message> capped = refer_from(*stack, "out", "sip:w@127.0.0.6:5999");
    ASSERT_TRUE(capped.has_value());
    EXPECT_EQ(capped->status(), 503);
    EXPECT_EQ(capped->reason_phrase(), "Too Many Calls From This Source");
    EXPECT_TRUE(capped->header("Retry-After").has_value());
  }
  EXPECT_EQ(counters().calls_refused, 2u);
  EXPECT_EQ(server_->gauges().dialing, 2u);

  // Overload: two dial-outs ringing and two members spend the call budget;
  // a REFER dial-out is refused as an INVITE would be.
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv", "out"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "out"), 200);
  const std::optional<Message> overloaded = refer_from(from3_, "out", "sip:v@127.0.0.5:5999");
  ASSERT_TRUE(overloaded.has_value());
  EXPECT_EQ(overloaded->status(), 503);
  EXPECT_EQ(overloaded->reason_phrase(), "Overloaded");
  EXPECT_TRUE(overloaded->header("Retry-After").has_value());
  EXPECT_EQ(counters().overload_refused, 1u);
  EXPECT_EQ(server_->gauges().dialing, 2u);
  EXPECT_EQ(counters().reflection_refused, 2u);  // refused before the reflection check
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
