// INVITE session usage: offer/answer, re-INVITE as UAS and UAC, glare
// (RFC 3261 §14), BYE (§15), on real message exchanges.
#include "signaling/dialog/invite_session.hpp"

#include <gtest/gtest.h>

#include <string>

#include "signaling/dialog/dialog.hpp"
#include "signaling/dialog/dialog_random.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/message/header_misc.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {
namespace {

using std::chrono::milliseconds;
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

const std::string kSdp =
    "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n";

// A request from Alice in the dialog (after the initial INVITE, To has our tag).
Message alice_request(std::string_view method, uint32_t cseq, bool with_sdp = false,
                      std::string_view extra = "") {
  std::string text = std::string(method) + " sip:room1@focus.example.com SIP/2.0\n" +
                     "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK" + std::to_string(cseq) +
                     std::string(method) + "\n" + "From: <sip:alice@example.com>;tag=a1\n" +
                     "To: <sip:room1@focus.example.com>;tag=f1\n" + "Call-ID: call-1@alice\n" +
                     "CSeq: " + std::to_string(cseq) + " " + std::string(method) + "\n" +
                     "Contact: <sip:alice@192.0.2.10>\n" + std::string(extra);
  if (with_sdp) {
    text +=
        "Content-Type: application/sdp\nContent-Length: " + std::to_string(kSdp.size()) + "\n\n";
    return parse(text + kSdp);
  }
  return parse(text + "Content-Length: 0\n\n");
}

Message initial_invite(bool with_sdp = true, std::string_view extra = "") {
  std::string text =
      "INVITE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKinv\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>\n"
      "Call-ID: call-1@alice\n"
      "CSeq: 10 INVITE\n"
      "Contact: <sip:alice@192.0.2.10>\n" +
      std::string(extra);
  if (with_sdp) {
    text +=
        "Content-Type: application/sdp\nContent-Length: " + std::to_string(kSdp.size()) + "\n\n";
    return parse(text + kSdp);
  }
  return parse(text + "Content-Length: 0\n\n");
}

struct Call {
  Dialog dialog;
  InviteSession* session;
};

InviteSession::Config no_timer_config() {
  InviteSession::Config c;
  c.session_timer.enabled = false;
  return c;
}

// The focus answers Alice's INVITE: 180 (early dialog), then 200 + ACK.
Call answered_call(const TimePoint now, const InviteSession::Config& config = no_timer_config()) {
  const Message invite = initial_invite();
  Message ringing = make_response(invite, 180, {}, "f1");
  ringing.set_header("Contact", "<sip:room1@focus.example.com>");
  auto dialog = Dialog::create_uas(invite, ringing, 500);
  EXPECT_TRUE(dialog);
  Call call{std::move(*dialog), nullptr};
  call.session = static_cast<InviteSession*>(
      &call.dialog.add_usage(InviteSession::create_uas(invite, config)));
  EXPECT_EQ(call.session->offer_state(), OfferState::kRemoteOffer);
  const Message r180 = call.session->respond(call.dialog, invite, 180, {}, {}, now);
  EXPECT_EQ(r180.status(), 180);
  EXPECT_TRUE(call.dialog.early());
  EXPECT_EQ(call.session->state(), InviteState::kEarly);
  const Message ok = call.session->respond(call.dialog, invite, 200, {}, kSdp, now);
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.to().tag(), "f1");
  EXPECT_EQ(ok.body(), kSdp);
  EXPECT_TRUE(call.dialog.confirmed());
  EXPECT_EQ(call.session->state(), InviteState::kConfirmed);
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
  return call;
}

TEST(InviteSessionUas, InitialOfferAnsweredIn200ThenAckMatches) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  // A stale ACK (other CSeq) is not the one we wait for.
  auto out = call.session->on_request(call.dialog, alice_request("ACK", 9), t0, random);
  EXPECT_FALSE(out.ack_received);
  out = call.session->on_request(call.dialog, alice_request("ACK", 10), t0, random);
  EXPECT_TRUE(out.ack_received);
  EXPECT_FALSE(out.response);
  // Retransmitted ACK: absorbed, nothing to do.
  out = call.session->on_request(call.dialog, alice_request("ACK", 10), t0, random);
  EXPECT_FALSE(out.ack_received);
}

TEST(InviteSessionUas, FailedInitialInviteEndsSessionAndDialog) {
  const Message invite = initial_invite();
  Message ringing = make_response(invite, 180, {}, "f1");
  ringing.set_header("Contact", "<sip:room1@focus.example.com>");
  auto dialog = Dialog::create_uas(invite, ringing, 1);
  ASSERT_TRUE(dialog);
  auto& session = static_cast<InviteSession&>(
      dialog->add_usage(InviteSession::create_uas(invite, no_timer_config())));
  const Message busy = session.respond(*dialog, invite, 486);
  EXPECT_EQ(busy.status(), 486);
  EXPECT_EQ(busy.to().tag(), "f1");
  EXPECT_TRUE(session.terminated());
  EXPECT_TRUE(dialog->terminated());
}

TEST(InviteSessionUas, ReInviteDeliveredAndAnswered) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  const Message reinvite = alice_request("INVITE", 11, /*with_sdp=*/true);
  ASSERT_FALSE(call.dialog.check_request(reinvite));
  auto out = call.session->on_request(call.dialog, reinvite, t0, random);
  EXPECT_TRUE(out.deliver);
  EXPECT_FALSE(out.response);
  EXPECT_TRUE(call.session->remote_invite_pending());
  EXPECT_EQ(call.session->offer_state(), OfferState::kRemoteOffer);
  const Message ok = call.session->respond(call.dialog, reinvite, 200, {}, kSdp, t0);
  EXPECT_EQ(ok.cseq().number, 11u);
  EXPECT_EQ(ok.content_type(), "application/sdp");
  EXPECT_FALSE(call.session->remote_invite_pending());
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
}

// §14.2: a second INVITE before we answered the first → 500 + Retry-After 0..10.
TEST(InviteSessionUas, SecondReInviteWhileFirstPendingGets500WithRetryAfter) {
  DialogRandom random(7);
  const TimePoint t0{};
  Call call = answered_call(t0);
  ASSERT_TRUE(
      call.session->on_request(call.dialog, alice_request("INVITE", 11), t0, random).deliver);
  const Message second = alice_request("INVITE", 12, true);
  auto out = call.session->on_request(call.dialog, second, t0, random);
  EXPECT_FALSE(out.deliver);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status(), 500);
  const auto retry = out.response->header("Retry-After");
  ASSERT_TRUE(retry);
  const auto parsed = parse_retry_after(*retry);
  ASSERT_TRUE(parsed);
  EXPECT_LE(parsed->seconds, 10u);
  EXPECT_EQ(out.response->cseq().number, 12u);
}

// §14.2 glare: the peer's re-INVITE while ours is in progress → 491.
TEST(InviteSessionGlare, PeerReInviteWhileOursPendingGets491) {
  DialogRandom random(3);
  const TimePoint t0{};
  Call call = answered_call(t0);
  const Message ours = call.session->make_reinvite(call.dialog, kSdp);
  EXPECT_EQ(ours.method(), Method::kInvite);
  EXPECT_EQ(ours.cseq().number, 501u);
  EXPECT_EQ(ours.request_uri_text(), "sip:alice@192.0.2.10");
  EXPECT_TRUE(call.session->local_invite_pending());
  EXPECT_EQ(call.session->offer_state(), OfferState::kLocalOffer);

  auto out = call.session->on_request(call.dialog, alice_request("INVITE", 11, true), t0, random);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status(), 491);
  EXPECT_FALSE(out.deliver);
  // The same for an UPDATE offer (RFC 3311 §5.2).
  out = call.session->on_request(call.dialog, alice_request("UPDATE", 12, true), t0, random);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status(), 491);
}

// §14.1: our re-INVITE answered 491 → retry after 0–2 s when the peer owns the
// Call-ID (we are the UAS of the dialog), in 10 ms units.
TEST(InviteSessionGlare, Our491RetryDeadlineIsWithinTheNonOwnerRange) {
  DialogRandom random(11);
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    const TimePoint t0 = TimePoint{} + seconds(100);
    Call call = answered_call(t0);
    const Message ours = call.session->make_reinvite(call.dialog, kSdp);
    const Message r491 = make_response(ours, 491, {}, "a1");
    const auto out = call.session->on_response(call.dialog, r491, t0, random);
    EXPECT_TRUE(out.rejected);
    ASSERT_TRUE(out.retry_at);
    const auto wait = std::chrono::duration_cast<milliseconds>(*out.retry_at - t0);
    EXPECT_GE(wait.count(), 0);
    EXPECT_LE(wait.count(), 2000);
    EXPECT_EQ(wait.count() % 10, 0);
    EXPECT_FALSE(call.session->local_invite_pending());
    EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
    // The deadline surfaces through the dialog and fires once.
    EXPECT_EQ(call.dialog.next_deadline(), out.retry_at);
    EXPECT_FALSE(call.dialog.on_deadline(*out.retry_at - milliseconds(1)).reinvite_retry_due);
    EXPECT_TRUE(call.dialog.on_deadline(*out.retry_at).reinvite_retry_due);
    EXPECT_FALSE(call.dialog.next_deadline());
  }
}

TEST(InviteSessionGlare, CallIdOwnerWaits2100To4000Ms) {
  DialogRandom random(5);
  const Message invite = parse(
      "INVITE sip:bob@example.net SIP/2.0\n"
      "Via: SIP/2.0/UDP focus.example.com;branch=z9hG4bKo1\n"
      "From: <sip:room1@focus.example.com>;tag=f9\n"
      "To: <sip:bob@example.net>\n"
      "Call-ID: out-1@focus\n"
      "CSeq: 20 INVITE\n"
      "Contact: <sip:room1@focus.example.com>\n"
      "Content-Type: application/sdp\n"
      "Content-Length: " +
      std::to_string(kSdp.size()) + "\n\n" + kSdp);
  Message ok = make_response(invite, 200, {}, "b1");
  ok.set_header("Contact", "<sip:bob@203.0.113.5>");
  ok.set_body("application/sdp", kSdp);
  auto dialog = Dialog::create_uac(invite, ok);
  ASSERT_TRUE(dialog);
  auto& session = static_cast<InviteSession&>(
      dialog->add_usage(InviteSession::create_uac(invite, no_timer_config())));
  const TimePoint t0{};
  auto out = session.on_response(*dialog, ok, t0, random);
  ASSERT_TRUE(out.ack);
  EXPECT_TRUE(out.answer_received);
  EXPECT_EQ(out.ack->cseq().number, 20u);
  EXPECT_EQ(out.ack->request_uri_text(), "sip:bob@203.0.113.5");
  EXPECT_EQ(session.state(), InviteState::kConfirmed);

  for (int round = 0; round < 20; ++round) {
    const Message ours = session.make_reinvite(*dialog, kSdp);
    EXPECT_EQ(ours.cseq().number, 21u + static_cast<uint32_t>(round));
    out = session.on_response(*dialog, make_response(ours, 491), t0, random);
    ASSERT_TRUE(out.retry_at);
    const auto wait = std::chrono::duration_cast<milliseconds>(*out.retry_at - t0).count();
    EXPECT_GE(wait, 2100);
    EXPECT_LE(wait, 4000);
  }
}

// §13.2.1: an offer-less re-INVITE from the peer gets our offer in the 2xx;
// its ACK answers.
TEST(InviteSessionUas, OfferlessReInviteIsAnsweredInAck) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  call.session->on_request(call.dialog, alice_request("ACK", 10), t0, random);
  const Message reinvite = alice_request("INVITE", 11, /*with_sdp=*/false);
  ASSERT_TRUE(call.session->on_request(call.dialog, reinvite, t0, random).deliver);
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
  call.session->respond(call.dialog, reinvite, 200, {}, kSdp, t0);
  EXPECT_EQ(call.session->offer_state(), OfferState::kLocalOffer);
  auto out = call.session->on_request(call.dialog, alice_request("ACK", 11, true), t0, random);
  EXPECT_TRUE(out.ack_received);
  EXPECT_FALSE(out.ack_without_answer);
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);

  // Again, but the ACK forgets the answer.
  const Message again = alice_request("INVITE", 12, false);
  ASSERT_TRUE(call.session->on_request(call.dialog, again, t0, random).deliver);
  call.session->respond(call.dialog, again, 200, {}, kSdp, t0);
  out = call.session->on_request(call.dialog, alice_request("ACK", 12, false), t0, random);
  EXPECT_TRUE(out.ack_received);
  EXPECT_TRUE(out.ack_without_answer);
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
}

TEST(InviteSessionUac, Retransmitted2xxGetsTheSameAck) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  const Message ours = call.session->make_reinvite(call.dialog, kSdp);
  Message ok = make_response(ours, 200);
  ok.set_header("Contact", "<sip:alice@192.0.2.99>");
  ok.set_body("application/sdp", kSdp);
  auto first = call.session->on_response(call.dialog, ok, t0, random);
  ASSERT_TRUE(first.ack);
  EXPECT_TRUE(first.answer_received);
  // The 2xx to a re-INVITE refreshed the target (§12.2.1.2).
  EXPECT_EQ(first.ack->request_uri_text(), "sip:alice@192.0.2.99");
  auto again = call.session->on_response(call.dialog, ok, t0, random);
  ASSERT_TRUE(again.ack);
  EXPECT_EQ(again.ack->cseq().number, first.ack->cseq().number);
  EXPECT_FALSE(again.answer_received);
}

// §13.2.1: an offer-less re-INVITE gets the offer in the 2xx; the ACK answers.
TEST(InviteSessionUac, OfferlessReInviteReceivesOfferIn2xx) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  const Message ours = call.session->make_reinvite(call.dialog);
  EXPECT_TRUE(ours.body().empty());
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
  Message ok = make_response(ours, 200);
  ok.set_body("application/sdp", kSdp);
  auto out = call.session->on_response(call.dialog, ok, t0, random);
  EXPECT_TRUE(out.offer_received);
  EXPECT_EQ(call.session->offer_state(), OfferState::kRemoteOffer);
  ASSERT_TRUE(out.ack);
  // The answer rides on the ACK: the next offer of the peer is welcome.
  call.session->answered_in_ack();
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
}

TEST(InviteSessionUac, FailedReInviteKeepsTheSession) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  const Message ours = call.session->make_reinvite(call.dialog, kSdp);
  auto out = call.session->on_response(call.dialog, make_response(ours, 488), t0, random);
  EXPECT_TRUE(out.rejected);
  EXPECT_FALSE(out.terminated);
  EXPECT_FALSE(out.retry_at);
  EXPECT_EQ(call.session->state(), InviteState::kConfirmed);
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
}

TEST(InviteSessionUac, TimeoutOnReInviteSendsBye) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  const Message ours = call.session->make_reinvite(call.dialog, kSdp);
  auto out = call.session->on_response(call.dialog, make_response(ours, 408), t0, random);
  EXPECT_TRUE(out.terminated);
  ASSERT_TRUE(out.bye);
  EXPECT_EQ(out.bye->method(), Method::kBye);
  EXPECT_EQ(out.bye->cseq().number, ours.cseq().number + 1);
  EXPECT_TRUE(call.session->terminated());
}

TEST(InviteSessionUas, UpdateOfferWhileOursOutstandingAndWhilePeersUnanswered) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  // Peer's UPDATE offer delivered; a second one before our answer → 500.
  auto out = call.session->on_request(call.dialog, alice_request("UPDATE", 11, true), t0, random);
  EXPECT_TRUE(out.deliver);
  out = call.session->on_request(call.dialog, alice_request("UPDATE", 12, true), t0, random);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status(), 500);
  EXPECT_TRUE(out.response->has_header("Retry-After"));
  // Our answer settles it.
  const Message ok =
      call.session->respond(call.dialog, alice_request("UPDATE", 11, true), 200, {}, kSdp, t0);
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(call.session->offer_state(), OfferState::kStable);
}

// §15.1.2: BYE → 200, the usage ends, a pending re-INVITE gets 487.
TEST(InviteSessionUas, ByeAnswers200AndEndsSessionAndPendingInvite) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  ASSERT_TRUE(
      call.session->on_request(call.dialog, alice_request("INVITE", 11, true), t0, random).deliver);
  const Message bye = alice_request("BYE", 12);
  ASSERT_FALSE(call.dialog.check_request(bye));
  auto out = call.session->on_request(call.dialog, bye, t0, random);
  EXPECT_TRUE(out.terminated);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status(), 200);
  EXPECT_EQ(out.response->cseq().method, Method::kBye);
  ASSERT_TRUE(out.pending_invite_response);
  EXPECT_EQ(out.pending_invite_response->status(), 487);
  EXPECT_EQ(out.pending_invite_response->cseq().number, 11u);
  EXPECT_TRUE(call.session->terminated());
  // Anything for the dead usage → 481.
  out = call.session->on_request(call.dialog, alice_request("INFO", 13), t0, random);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status(), 481);

  // The dialog had only this usage: it is over (this destroys the usage).
  call.dialog.remove_terminated_usages();
  EXPECT_TRUE(call.dialog.terminated());
  EXPECT_TRUE(call.dialog.usages().empty());
}

TEST(InviteSessionUac, ByeEndsTheSessionAtOnce) {
  const TimePoint t0{};
  Call call = answered_call(t0);
  const Message bye = call.session->make_bye(call.dialog);
  EXPECT_EQ(bye.method(), Method::kBye);
  EXPECT_EQ(bye.to().tag(), "a1");
  EXPECT_EQ(bye.from().tag(), "f1");
  EXPECT_EQ(bye.cseq().number, 501u);
  EXPECT_TRUE(call.session->terminated());
}

TEST(InviteSessionUas, InfoIsDeliveredToTheApplication) {
  DialogRandom random(1);
  const TimePoint t0{};
  Call call = answered_call(t0);
  const auto out = call.session->on_request(call.dialog, alice_request("INFO", 11), t0, random);
  EXPECT_TRUE(out.deliver);
  EXPECT_FALSE(out.response);
}

// The whole UAS call as the stack drives it: every message goes through the
// DialogSet, the dialog's CSeq check and the session.
TEST(InviteSessionFlow, FullCallThroughTheDialogSet) {
  DialogSet dialogs;
  DialogRandom random(99);
  const TimePoint t0{};
  const Message invite = initial_invite();
  ASSERT_TRUE(dialogs.match_request(invite).out_of_dialog);

  auto created = Dialog::create_uas(invite, random.tag(), "<sip:room1@focus.example.com>;isfocus",
                                    random.initial_cseq());
  ASSERT_TRUE(created);
  Dialog& dialog = dialogs.insert(std::move(*created));
  const DialogId id = dialog.id();
  auto& session = static_cast<InviteSession&>(
      dialog.add_usage(InviteSession::create_uas(invite, InviteSession::Config{})));
  const Message ringing = session.respond(dialog, invite, 180, {}, {}, t0);
  EXPECT_EQ(ringing.to().tag(), id.local_tag);
  const Message ok = session.respond(dialog, invite, 200, {}, kSdp, t0);
  EXPECT_EQ(ok.to().tag(), id.local_tag);
  EXPECT_EQ(ok.header("Contact"), "<sip:room1@focus.example.com>;isfocus");
  // Session timer: Alice did not ask, so we refresh (RFC 4028 §9).
  EXPECT_EQ(ok.header("Session-Expires"), "1800;refresher=uas");
  EXPECT_FALSE(ok.has_header("Require"));
  EXPECT_TRUE(dialog.confirmed());

  // Everything Alice sends from now on carries our tag.
  auto from_alice = [&](std::string_view method, uint32_t cseq, bool sdp) {
    std::string text = alice_request(method, cseq, sdp).serialize();
    const size_t at = text.find(";tag=f1");
    text.replace(at, 7, ";tag=" + id.local_tag);
    auto parsed = Message::parse(text);
    EXPECT_TRUE(parsed.ok());
    return std::move(parsed).value();
  };
  auto deliver = [&](const Message& m) {
    auto match = dialogs.match_request(m);
    EXPECT_NE(match.dialog, nullptr);
    if (auto reject = match.dialog->check_request(m)) {
      InviteRequestOutcome rejected;
      rejected.response = std::move(*reject);
      return rejected;
    }
    auto* usage = static_cast<InviteSession*>(match.dialog->find_usage(UsageKind::kInviteSession));
    EXPECT_NE(usage, nullptr);
    return usage->on_request(*match.dialog, m, t0, random);
  };

  EXPECT_TRUE(deliver(from_alice("ACK", 10, false)).ack_received);
  // Hold: a re-INVITE with an offer.
  const Message hold = from_alice("INVITE", 11, true);
  ASSERT_TRUE(deliver(hold).deliver);
  EXPECT_EQ(session.respond(dialog, hold, 200, {}, kSdp, t0).status(), 200);
  EXPECT_TRUE(deliver(from_alice("ACK", 11, false)).ack_received);
  // A stale request → 500 from the dialog.
  auto stale = deliver(from_alice("INFO", 5, false));
  ASSERT_TRUE(stale.response);
  EXPECT_EQ(stale.response->status(), 500);
  // Hang up.
  auto bye = deliver(from_alice("BYE", 12, false));
  EXPECT_TRUE(bye.terminated);
  ASSERT_TRUE(bye.response);
  EXPECT_EQ(bye.response->status(), 200);
  dialogs.collect_garbage();
  EXPECT_EQ(dialogs.find(id), nullptr);
  // A BYE retransmitted after the dialog is gone → 481 from the set.
  auto late = dialogs.match_request(from_alice("BYE", 12, false));
  ASSERT_TRUE(late.reject);
  EXPECT_EQ(late.reject->status(), 481);
}

// The focus dials out with session timers and is named refresher.
TEST(InviteSessionFlow, UacWithSessionTimerRefreshesByUpdate) {
  DialogRandom random(5);
  const TimePoint t0{};
  Message invite = Message::request(Method::kInvite, "sip:bob@example.net");
  invite.add_header("Via", "SIP/2.0/UDP focus.example.com;branch=z9hG4bKo9");
  invite.add_header("From", "<sip:room1@focus.example.com>;tag=f9");
  invite.add_header("To", "<sip:bob@example.net>");
  invite.add_header("Call-ID", "out-9@focus");
  invite.add_header("CSeq", "1 INVITE");
  invite.add_header("Contact", "<sip:room1@focus.example.com>");
  add_session_timer_request_headers(invite, 1800, 90, /*we_refresh=*/true);
  invite.set_body("application/sdp", kSdp);

  Message ok = make_response(invite, 200, {}, "b9");
  ok.set_header("Contact", "<sip:bob@203.0.113.9>");
  ok.set_header("Session-Expires", "1200;refresher=uac");
  ok.set_body("application/sdp", kSdp);
  auto dialog = Dialog::create_uac(invite, ok);
  ASSERT_TRUE(dialog);
  auto& session = static_cast<InviteSession&>(
      dialog->add_usage(InviteSession::create_uac(invite, InviteSession::Config{})));
  const auto out = session.on_response(*dialog, ok, t0, random);
  ASSERT_TRUE(out.ack);
  EXPECT_EQ(out.ack->cseq().number, 1u);
  EXPECT_TRUE(session.session_timer().active());
  EXPECT_TRUE(session.session_timer().we_refresh());
  EXPECT_EQ(session.session_timer().interval(), 1200u);
  auto actions = dialog->on_deadline(t0 + seconds(600));
  ASSERT_EQ(actions.requests.size(), 1u);
  EXPECT_EQ(actions.requests[0].method(), Method::kUpdate);
  EXPECT_EQ(actions.requests[0].request_uri_text(), "sip:bob@203.0.113.9");
  EXPECT_EQ(actions.requests[0].cseq().number, 2u);
  EXPECT_EQ(actions.requests[0].header("Session-Expires"), "1200;refresher=uac");
}

TEST(InviteSessionUac, CancelledInitialInviteEndsTheSession) {
  DialogRandom random(5);
  const Message invite = parse(
      "INVITE sip:bob@example.net SIP/2.0\n"
      "Via: SIP/2.0/UDP focus.example.com;branch=z9hG4bKo1\n"
      "From: <sip:room1@focus.example.com>;tag=f9\n"
      "To: <sip:bob@example.net>\n"
      "Call-ID: out-2@focus\n"
      "CSeq: 1 INVITE\n"
      "Contact: <sip:room1@focus.example.com>\n"
      "Content-Length: 0\n\n");
  Message ringing = make_response(invite, 180, {}, "b1");
  ringing.set_header("Contact", "<sip:bob@203.0.113.5>");
  auto dialog = Dialog::create_uac(invite, ringing);
  ASSERT_TRUE(dialog);
  auto& session = static_cast<InviteSession&>(
      dialog->add_usage(InviteSession::create_uac(invite, no_timer_config())));
  EXPECT_FALSE(session.on_response(*dialog, ringing, {}, random).terminated);
  EXPECT_EQ(session.state(), InviteState::kEarly);
  const auto out = session.on_response(*dialog, make_response(invite, 487, {}, "b1"), {}, random);
  EXPECT_TRUE(out.terminated);
  EXPECT_FALSE(out.ack);  // the transaction layer ACKs non-2xx (§17.1.1.3)
  EXPECT_TRUE(dialog->terminated());
}

TEST(HasSdp, OnlyApplicationSdpBodiesCount) {
  EXPECT_TRUE(has_sdp(initial_invite(true)));
  EXPECT_FALSE(has_sdp(initial_invite(false)));
  Message m = initial_invite(false);
  m.set_body("application/dtmf-relay", "Signal=1\r\n");
  EXPECT_FALSE(has_sdp(m));
  m.set_body("Application/SDP; charset=utf-8", kSdp);
  EXPECT_TRUE(has_sdp(m));
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
