// RFC 4028 session timers: negotiation as UAS, 422, refresh and expiry
// deadlines on a manual clock, and the UAC side of our refreshes.
#include "signaling/dialog/session_timer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "signaling/dialog/dialog.hpp"
#include "signaling/dialog/dialog_random.hpp"
#include "signaling/message/header_session_timer.hpp"
#include "signaling/dialog/invite_session.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {
namespace {

using std::chrono::seconds;

Message parse(std::string text) {
  std::string wire;
  for (char c : text) {
    if (c == '\n') wire += '\r';
    wire += c;
  }
  auto result = Message::parse(wire);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().reason) << "\n" << wire;
  return result.ok() ? std::move(result).value() : Message{};
}

Message invite_with(std::string_view timer_headers, std::string_view to_tag = "",
                    uint32_t cseq = 10) {
  std::string to = "To: <sip:room1@focus.example.com>";
  if (!to_tag.empty()) to += ";tag=" + std::string(to_tag);
  return parse(
      "INVITE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK" +
      std::to_string(cseq) +
      "\n"
      "From: <sip:alice@example.com>;tag=a1\n" +
      to +
      "\n"
      "Call-ID: st-1@alice\n"
      "CSeq: " +
      std::to_string(cseq) +
      " INVITE\n"
      "Contact: <sip:alice@192.0.2.10>\n" +
      std::string(timer_headers) + "Content-Length: 0\n\n");
}

TEST(SessionTimerNegotiation, TooSmallFromTimerCapableUacIs422WithOurMinSe) {
  const Message invite = invite_with("Supported: timer\nSession-Expires: 60\n");
  const auto d = negotiate_session_timer_uas(invite, SessionTimerConfig{});
  EXPECT_TRUE(d.reject);
  EXPECT_EQ(d.min_se, 90u);
  Message r = make_response(invite, 422, {}, "f1");
  apply_session_timer(d, r);
  EXPECT_EQ(r.header("Min-SE"), "90");
  EXPECT_FALSE(r.has_header("Session-Expires"));
}

TEST(SessionTimerNegotiation, ConfiguredMinimumAbove90IsEnforced) {
  SessionTimerConfig config;
  config.min_se = 600;
  const auto d =
      negotiate_session_timer_uas(invite_with("Supported: timer\nSession-Expires: 300\n"), config);
  EXPECT_TRUE(d.reject);
  EXPECT_EQ(d.min_se, 600u);
}

// A UAC without timer support cannot retry after 422: raise the value instead.
TEST(SessionTimerNegotiation, TooSmallFromUacWithoutSupportIsRaisedAndUasRefreshes) {
  const auto d = negotiate_session_timer_uas(invite_with("Session-Expires: 60\n"), {});
  EXPECT_FALSE(d.reject);
  EXPECT_TRUE(d.use_timer);
  EXPECT_EQ(d.interval, 90u);
  EXPECT_TRUE(d.uas_refreshes());
  EXPECT_FALSE(d.require_timer);
}

TEST(SessionTimerNegotiation, UacChoiceOfRefresherIsKeptAndRequireTimerAdded) {
  const Message invite = invite_with("Supported: timer\nSession-Expires: 1200;refresher=uas\n");
  const auto d = negotiate_session_timer_uas(invite, {});
  EXPECT_EQ(d.interval, 1200u);
  EXPECT_TRUE(d.uas_refreshes());
  Message ok = make_response(invite, 200, {}, "f1");
  apply_session_timer(d, ok);
  const auto se = parse_session_expires(ok.header("Session-Expires").value_or(""));
  ASSERT_TRUE(se);
  EXPECT_EQ(se->delta, 1200u);
  EXPECT_EQ(se->refresher, SessionExpires::Refresher::kUas);
  EXPECT_EQ(ok.header("Require"), "timer");
}

TEST(SessionTimerNegotiation, RefresherLeftOpenGoesToTimerCapableUac) {
  const auto d = negotiate_session_timer_uas(invite_with("Supported: timer\n"), {});
  EXPECT_TRUE(d.use_timer);
  EXPECT_EQ(d.interval, 1800u);
  EXPECT_EQ(d.refresher, SessionExpires::Refresher::kUac);
  EXPECT_TRUE(d.require_timer);
}

TEST(SessionTimerNegotiation, NoSupportNoHeaderMeansWeRefreshAtPreferredInterval) {
  const auto d = negotiate_session_timer_uas(invite_with(""), {});
  EXPECT_TRUE(d.use_timer);
  EXPECT_EQ(d.interval, 1800u);
  EXPECT_EQ(d.refresher, SessionExpires::Refresher::kUas);
  EXPECT_FALSE(d.require_timer);
}

TEST(SessionTimerNegotiation, LargeIntervalIsLoweredButNotBelowRequestMinSe) {
  EXPECT_EQ(
      negotiate_session_timer_uas(invite_with("Supported: timer\nSession-Expires: 7200\n"), {})
          .interval,
      1800u);
  EXPECT_EQ(negotiate_session_timer_uas(
                invite_with("Supported: timer\nSession-Expires: 7200\nMin-SE: 3000\n"), {})
                .interval,
            3000u);
}

TEST(SessionTimerNegotiation, GarbageHeadersAreIgnoredAndDisabledMeansNoTimer) {
  const auto d = negotiate_session_timer_uas(
      invite_with("Supported: timer\nSession-Expires: abc\nMin-SE: -5\n"), {});
  EXPECT_FALSE(d.reject);
  EXPECT_EQ(d.interval, 1800u);
  SessionTimerConfig off;
  off.enabled = false;
  const auto none =
      negotiate_session_timer_uas(invite_with("Supported: timer\nSession-Expires: 60\n"), off);
  EXPECT_FALSE(none.use_timer);
  EXPECT_FALSE(none.reject);
}

// §7.2 / §10 deadlines on a manual clock.
TEST(SessionTimerDeadlines, RefresherRefreshesAtHalfAndExpiresAtIntervalMinus32) {
  const TimePoint t0 = TimePoint{} + seconds(1000);
  SessionTimer timer;
  timer.start(1800, /*we_refresh=*/true, t0);
  EXPECT_EQ(timer.refresh_at(), t0 + seconds(900));
  EXPECT_EQ(timer.expire_at(), t0 + seconds(1768));
  EXPECT_EQ(timer.next_deadline(), t0 + seconds(900));
  EXPECT_EQ(timer.poll(t0 + seconds(899)), SessionTimer::Due::kNone);
  EXPECT_EQ(timer.poll(t0 + seconds(900)), SessionTimer::Due::kRefresh);
  // Reported once; the next deadline is the expiry.
  EXPECT_EQ(timer.poll(t0 + seconds(901)), SessionTimer::Due::kNone);
  EXPECT_EQ(timer.next_deadline(), t0 + seconds(1768));
  EXPECT_EQ(timer.poll(t0 + seconds(1768)), SessionTimer::Due::kExpire);
  EXPECT_FALSE(timer.active());
  EXPECT_FALSE(timer.next_deadline());
}

TEST(SessionTimerDeadlines, ShortIntervalUsesOneThirdMargin) {
  SessionTimer timer;
  timer.start(90, /*we_refresh=*/false, TimePoint{});
  EXPECT_FALSE(timer.refresh_at());
  // min(32, 90/3) = 30
  EXPECT_EQ(timer.expire_at(), TimePoint{} + seconds(60));
}

TEST(SessionTimerDeadlines, RefreshRestartsTheClock) {
  SessionTimer timer;
  timer.start(600, false, TimePoint{});
  timer.start(600, false, TimePoint{} + seconds(500));
  EXPECT_EQ(timer.poll(TimePoint{} + seconds(600)), SessionTimer::Due::kNone);
  EXPECT_EQ(timer.expire_at(), TimePoint{} + seconds(500 + 600 - 32));
}

TEST(SessionTimerUac, Response422GivesRetryIntervalAnd2xxGivesRefresher) {
  const Message ours = invite_with("Supported: timer\nSession-Expires: 90;refresher=uac\n");
  Message r422 = make_response(ours, 422, {}, "b1");
  r422.set_header("Min-SE", "120");
  auto t = session_timer_from_response(r422, 90);
  EXPECT_TRUE(t.retry);
  EXPECT_EQ(t.retry_interval, 120u);

  Message ok = make_response(ours, 200, {}, "b1");
  ok.set_header("Session-Expires", "120;refresher=uac");
  t = session_timer_from_response(ok, 120);
  EXPECT_TRUE(t.use_timer);
  EXPECT_EQ(t.interval, 120u);
  EXPECT_TRUE(t.we_refresh);
  ok.set_header("Session-Expires", "120;refresher=uas");
  EXPECT_FALSE(session_timer_from_response(ok, 120).we_refresh);
  ok.remove_header("Session-Expires");
  EXPECT_FALSE(session_timer_from_response(ok, 120).use_timer);
}

TEST(SessionTimerUac, RequestHeaders) {
  Message m = Message::request(Method::kUpdate, "sip:alice@192.0.2.10");
  add_session_timer_request_headers(m, 1800, 90, /*we_refresh=*/true);
  EXPECT_EQ(m.header("Session-Expires"), "1800;refresher=uac");
  EXPECT_EQ(m.header("Min-SE"), "90");
  EXPECT_EQ(m.header("Supported"), "timer");
}

// --- Through the INVITE session: 422, then the deadlines produce UPDATE / BYE.
struct TimedCall {
  Dialog dialog;
  InviteSession* session;
};

TimedCall answer(const Message& invite, TimePoint now) {
  Message ok = make_response(invite, 200, {}, "f1");
  ok.set_header("Contact", "<sip:room1@focus.example.com>");
  auto dialog = Dialog::create_uas(invite, ok, 100);
  EXPECT_TRUE(dialog);
  TimedCall call{std::move(*dialog), nullptr};
  call.session = static_cast<InviteSession*>(
      &call.dialog.add_usage(InviteSession::create_uas(invite, InviteSession::Config{})));
  const Message sent = call.session->respond(call.dialog, invite, 200, {}, {}, now);
  EXPECT_EQ(sent.status(), 200);
  return call;
}

TEST(SessionTimerInSession, InitialInviteTooSmallGets422WithMinSe) {
  const Message invite = invite_with("Supported: timer\nSession-Expires: 30\n");
  auto session = InviteSession::create_uas(invite, InviteSession::Config{});
  EXPECT_TRUE(session->initial_rejected_by_timer());
  Message ringing = make_response(invite, 180, {}, "f1");
  ringing.set_header("Contact", "<sip:room1@focus.example.com>");
  auto dialog = Dialog::create_uas(invite, ringing, 1);
  ASSERT_TRUE(dialog);
  const Message r = session->respond(*dialog, invite, 422);
  EXPECT_EQ(r.status(), 422);
  EXPECT_EQ(r.header("Min-SE"), "90");
  EXPECT_TRUE(session->terminated());
}

TEST(SessionTimerInSession, UasRefresherSendsUpdateAtHalfAndByeWithoutAnswer) {
  const TimePoint t0{};
  const Message invite = invite_with("Session-Expires: 600\n");  // no Supported: timer
  TimedCall call = answer(invite, t0);
  EXPECT_TRUE(call.session->session_timer().active());
  EXPECT_TRUE(call.session->session_timer().we_refresh());
  EXPECT_EQ(call.dialog.next_deadline(), t0 + seconds(300));

  auto actions = call.dialog.on_deadline(t0 + seconds(300));
  ASSERT_EQ(actions.requests.size(), 1u);
  const Message& update = actions.requests[0];
  EXPECT_EQ(update.method(), Method::kUpdate);
  EXPECT_EQ(update.cseq().number, 101u);
  EXPECT_EQ(update.header("Session-Expires"), "600;refresher=uac");
  EXPECT_TRUE(update.body().empty());

  // The peer never answers; at 600 - 32 s the session is over.
  EXPECT_EQ(call.dialog.next_deadline(), t0 + seconds(568));
  actions = call.dialog.on_deadline(t0 + seconds(568));
  EXPECT_TRUE(actions.session_expired);
  ASSERT_EQ(actions.requests.size(), 1u);
  EXPECT_EQ(actions.requests[0].method(), Method::kBye);
  EXPECT_TRUE(call.session->terminated());
}

TEST(SessionTimerInSession, UpdateAnsweredRestartsTheTimer) {
  DialogRandom random(1);
  const TimePoint t0{};
  TimedCall call = answer(invite_with("Session-Expires: 600\n"), t0);
  auto actions = call.dialog.on_deadline(t0 + seconds(300));
  ASSERT_EQ(actions.requests.size(), 1u);
  Message ok = make_response(actions.requests[0], 200);
  ok.set_header("Session-Expires", "600;refresher=uac");
  call.session->on_response(call.dialog, ok, t0 + seconds(301), random);
  EXPECT_EQ(call.dialog.next_deadline(), t0 + seconds(301 + 300));
}

TEST(SessionTimerInSession, PeerWithoutUpdateGetsReInviteRefreshes) {
  DialogRandom random(1);
  const TimePoint t0{};
  TimedCall call = answer(invite_with("Session-Expires: 600\n"), t0);
  auto actions = call.dialog.on_deadline(t0 + seconds(300));
  ASSERT_EQ(actions.requests.size(), 1u);
  const auto out = call.session->on_response(call.dialog, make_response(actions.requests[0], 501),
                                             t0 + seconds(300), random);
  EXPECT_TRUE(out.refresh_by_reinvite);
  EXPECT_FALSE(out.terminated);
  // The application re-INVITEs (with its SDP); the 2xx restarts the timer.
  const Message reinvite = call.session->make_reinvite(call.dialog, {});
  EXPECT_EQ(reinvite.header("Session-Expires"), "600;refresher=uac");
  Message ok = make_response(reinvite, 200);
  ok.set_header("Session-Expires", "600;refresher=uac");
  call.session->on_response(call.dialog, ok, t0 + seconds(310), random);
  // Next refresh: no UPDATE any more, the application is asked instead.
  actions = call.dialog.on_deadline(t0 + seconds(610));
  EXPECT_TRUE(actions.requests.empty());
  EXPECT_TRUE(actions.session_refresh_due);
}

// RFC 4028 §7.4: our re-INVITE (say, hold) while the peer is the refresher
// keeps the peer as refresher; a 422 raises the interval of the retry.
TEST(SessionTimerInSession, OurReInviteKeepsThePeerAsRefresherAndHonours422) {
  DialogRandom random(1);
  const TimePoint t0{};
  TimedCall call =
      answer(invite_with("Supported: timer\nSession-Expires: 1800;refresher=uac\n"), t0);
  ASSERT_FALSE(call.session->session_timer().we_refresh());
  const Message hold = call.session->make_reinvite(call.dialog, {});
  EXPECT_EQ(hold.header("Session-Expires"), "1800;refresher=uas");
  Message r422 = make_response(hold, 422);
  r422.set_header("Min-SE", "2400");
  const auto out = call.session->on_response(call.dialog, r422, t0, random);
  ASSERT_TRUE(out.retry_at);
  EXPECT_EQ(*out.retry_at, t0);
  const Message retry = call.session->make_reinvite(call.dialog, {});
  EXPECT_EQ(retry.header("Session-Expires"), "2400;refresher=uas");
  // §7.3: the retry's Min-SE is the largest a 422 gave.
  EXPECT_EQ(retry.header("Min-SE"), "2400");
}

TEST(SessionTimerInSession, UacRefresherIsWatchedAndItsRefreshExtendsTheSession) {
  DialogRandom random(1);
  const TimePoint t0{};
  TimedCall call =
      answer(invite_with("Supported: timer\nSession-Expires: 1800;refresher=uac\n"), t0);
  EXPECT_FALSE(call.session->session_timer().we_refresh());
  EXPECT_EQ(call.dialog.next_deadline(), t0 + seconds(1768));

  // Alice refreshes with an UPDATE at 900 s: the expiry moves.
  const Message update = parse(
      "UPDATE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKup\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>;tag=f1\n"
      "Call-ID: st-1@alice\n"
      "CSeq: 11 UPDATE\n"
      "Contact: <sip:alice@192.0.2.10>\n"
      "Supported: timer\n"
      "Session-Expires: 1800;refresher=uac\n"
      "Content-Length: 0\n\n");
  ASSERT_FALSE(call.dialog.check_request(update));
  const TimePoint t900 = t0 + seconds(900);
  auto out = call.session->on_request(call.dialog, update, t900, random);
  ASSERT_TRUE(out.deliver);
  const Message ok = call.session->respond(call.dialog, update, 200, {}, {}, t900);
  EXPECT_EQ(ok.header("Session-Expires"), "1800;refresher=uac");
  EXPECT_EQ(ok.header("Require"), "timer");
  EXPECT_EQ(call.dialog.next_deadline(), t900 + seconds(1768));

  // A refresh asking too little is refused with 422.
  Message small = update;
  small.set_header("CSeq", "12 UPDATE");
  small.set_header("Session-Expires", "45");
  ASSERT_FALSE(call.dialog.check_request(small));
  out = call.session->on_request(call.dialog, small, t900, random);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status(), 422);
  EXPECT_EQ(out.response->header("Min-SE"), "90");
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
