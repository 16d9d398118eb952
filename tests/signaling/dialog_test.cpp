// RFC 3261 §12 dialogs, fed real INVITE / 1xx / 2xx / ACK exchanges.
#include "signaling/dialog/dialog.hpp"

#include <gtest/gtest.h>

#include <string>

#include "signaling/dialog/dialog_dispatch.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/dialog/invite_session.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {
namespace {

// Test messages are written with "\n"; the wire wants CRLF.
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

// Alice calls the focus through two proxies that record-route.
const char* const kInvite =
    "INVITE sip:room1@focus.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\n"
    "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK1\n"
    "Record-Route: <sip:p2.example.com;lr>\n"
    "Record-Route: <sip:p1.example.com;lr>\n"
    "Max-Forwards: 68\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=a1\n"
    "To: <sip:room1@focus.example.com>\n"
    "Call-ID: call-1@alice\n"
    "CSeq: 314 INVITE\n"
    "Contact: <sip:alice@192.0.2.10:5070;transport=udp>\n"
    "Content-Length: 0\n\n";

Message uas_response(const Message& invite, int status, std::string_view tag) {
  Message r = make_response(invite, status, {}, tag);
  r.set_header("Contact", "<sip:room1@focus.example.com>;isfocus");
  return r;
}

Dialog make_uas_dialog(uint32_t initial_cseq = 1000) {
  const Message invite = parse(kInvite);
  auto d = Dialog::create_uas(invite, uas_response(invite, 200, "f1"), initial_cseq);
  EXPECT_TRUE(d.has_value());
  return std::move(*d);
}

TEST(DialogUas, CreatedFrom2xxCarriesIdTargetRouteSetAndCSeqs) {
  const Dialog d = make_uas_dialog();
  EXPECT_EQ(d.id().call_id, "call-1@alice");
  EXPECT_EQ(d.id().local_tag, "f1");
  EXPECT_EQ(d.id().remote_tag, "a1");
  EXPECT_EQ(d.role(), DialogRole::kUas);
  EXPECT_TRUE(d.confirmed());
  EXPECT_FALSE(d.secure());
  EXPECT_EQ(d.remote_target(), "sip:alice@192.0.2.10:5070;transport=udp");
  EXPECT_EQ(d.remote_uri(), "sip:alice@example.com");
  EXPECT_EQ(d.local_uri(), "sip:room1@focus.example.com");
  // §12.1.1: UAS keeps Record-Route in the received order.
  ASSERT_EQ(d.route_set().size(), 2u);
  EXPECT_EQ(d.route_set()[0], "<sip:p2.example.com;lr>");
  EXPECT_EQ(d.route_set()[1], "<sip:p1.example.com;lr>");
  EXPECT_EQ(d.remote_cseq(), 314u);
  EXPECT_EQ(d.local_contact(), "<sip:room1@focus.example.com>;isfocus");
  EXPECT_FALSE(d.owns_call_id());
}

TEST(DialogUas, EarlyFrom180ConfirmedLater) {
  const Message invite = parse(kInvite);
  auto d = Dialog::create_uas(invite, uas_response(invite, 180, "f1"), 7);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->early());
  d->confirm();
  EXPECT_TRUE(d->confirmed());
}

TEST(DialogUas, CreatedBeforeAnyResponseStampsItsTagAndContact) {
  const Message invite = parse(kInvite);
  auto d = Dialog::create_uas(invite, "f7", "<sip:room1@10.0.0.1>;isfocus", 42);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->early());
  EXPECT_EQ(d->id().local_tag, "f7");
  const Message ringing = d->make_response(invite, 180);
  EXPECT_EQ(ringing.to().tag(), "f7");
  EXPECT_EQ(ringing.header("Contact"), "<sip:room1@10.0.0.1>;isfocus");
  // §12.1.1: Record-Route is copied into the 18x/2xx.
  EXPECT_EQ(ringing.header_values("Record-Route").size(), 2u);
  // A 100 never gets a tag (§8.2.6.1) nor a Contact.
  const Message trying = d->make_response(invite, 100);
  EXPECT_TRUE(trying.to().tag().empty());
  EXPECT_FALSE(trying.has_header("Contact"));
  EXPECT_FALSE(Dialog::create_uas(invite, "", "<sip:x@y>", 1));
}

TEST(DialogUas, NoDialogWithout2xxOr1xxTagOrContact) {
  const Message invite = parse(kInvite);
  EXPECT_FALSE(Dialog::create_uas(invite, make_response(invite, 100), 1));
  EXPECT_FALSE(Dialog::create_uas(invite, make_response(invite, 486, {}, "f1"), 1));
  EXPECT_FALSE(Dialog::create_uas(invite, make_response(invite, 200), 1));  // no To tag
  std::string no_contact = kInvite;
  no_contact.erase(no_contact.find("Contact:"),
                   no_contact.find("Content-Length") - no_contact.find("Contact:"));
  const Message bad = parse(no_contact);
  EXPECT_FALSE(Dialog::create_uas(bad, uas_response(bad, 200, "f1"), 1));
}

// §12.2.1.1: every header of a request we build in the dialog.
TEST(DialogUas, ByeHasRequestUriRoutesTagsCSeqAndNoVia) {
  Dialog d = make_uas_dialog(1000);
  const Message bye = d.make_request(Method::kBye);
  EXPECT_TRUE(bye.is_request());
  EXPECT_EQ(bye.method(), Method::kBye);
  EXPECT_EQ(bye.request_uri_text(), "sip:alice@192.0.2.10:5070;transport=udp");
  const auto routes = bye.header_values("Route");
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0], "<sip:p2.example.com;lr>");
  EXPECT_EQ(routes[1], "<sip:p1.example.com;lr>");
  EXPECT_EQ(bye.from().tag(), "f1");
  EXPECT_EQ(bye.from().uri_text, "sip:room1@focus.example.com");
  EXPECT_EQ(bye.to().tag(), "a1");
  EXPECT_EQ(bye.to().uri_text, "sip:alice@example.com");
  EXPECT_EQ(bye.to().display_name, "Alice");
  EXPECT_EQ(bye.call_id(), "call-1@alice");
  EXPECT_EQ(bye.cseq().number, 1001u);
  EXPECT_EQ(bye.cseq().method, Method::kBye);
  EXPECT_EQ(bye.max_forwards(), 70u);
  EXPECT_FALSE(bye.has_header("Via"));
  EXPECT_FALSE(bye.has_header("Contact"));
  EXPECT_EQ(d.local_cseq(), 1001u);

  // The next request increments again; target-refresh requests carry Contact.
  const Message reinvite = d.make_request(Method::kInvite);
  EXPECT_EQ(reinvite.cseq().number, 1002u);
  EXPECT_EQ(reinvite.cseq().method, Method::kInvite);
  EXPECT_EQ(reinvite.header("Contact"), "<sip:room1@focus.example.com>;isfocus");
  const Message notify = d.make_request(Method::kNotify);
  EXPECT_EQ(notify.cseq().number, 1003u);
  EXPECT_TRUE(notify.has_header("Contact"));
}

TEST(DialogUas, BuiltRequestSurvivesTheWire) {
  Dialog d = make_uas_dialog();
  Message info = d.make_request(Method::kInfo);
  info.prepend_header("Via", "SIP/2.0/UDP focus.example.com;branch=z9hG4bKx");
  info.set_body("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
  auto reparsed = Message::parse(info.serialize());
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().reason;
  EXPECT_EQ(reparsed->cseq().number, info.cseq().number);
  EXPECT_EQ(reparsed->to().tag(), "a1");
  EXPECT_EQ(reparsed->header_values("Route").size(), 2u);
}

// §12.2.2
TEST(DialogUas, LowerCSeqIsRejectedWith500OutOfOrder) {
  Dialog d = make_uas_dialog();
  const Message stale = parse(
      "INFO sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK9\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>;tag=f1\n"
      "Call-ID: call-1@alice\n"
      "CSeq: 313 INFO\n"
      "Content-Length: 0\n\n");
  const auto reject = d.check_request(stale);
  ASSERT_TRUE(reject);
  EXPECT_EQ(reject->status(), 500);
  EXPECT_EQ(reject->reason_phrase(), "CSeq out of order");
  EXPECT_EQ(reject->to().tag(), "f1");
  EXPECT_FALSE(reject->has_header("Retry-After"));
  EXPECT_EQ(d.remote_cseq(), 314u);  // unchanged
}

TEST(DialogUas, HigherCSeqAcceptedAndAckIsNotSequenced) {
  Dialog d = make_uas_dialog();
  const Message info = parse(
      "INFO sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK9\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>;tag=f1\n"
      "Call-ID: call-1@alice\n"
      "CSeq: 316 INFO\n"
      "Contact: <sip:alice@198.51.100.7>\n"
      "Content-Length: 0\n\n");
  EXPECT_FALSE(d.check_request(info));
  EXPECT_EQ(d.remote_cseq(), 316u);
  // INFO is not a target refresh: the target stays.
  EXPECT_EQ(d.remote_target(), "sip:alice@192.0.2.10:5070;transport=udp");
  // The ACK of the INVITE (CSeq 314) arrives late: still fine.
  const Message ack = parse(
      "ACK sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKa\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>;tag=f1\n"
      "Call-ID: call-1@alice\n"
      "CSeq: 314 ACK\n"
      "Content-Length: 0\n\n");
  EXPECT_FALSE(d.check_request(ack));
  EXPECT_EQ(d.remote_cseq(), 316u);
}

TEST(DialogUas, ReInviteRefreshesTheRemoteTarget) {
  Dialog d = make_uas_dialog();
  const Message reinvite = parse(
      "INVITE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/TCP alice.example.com;branch=z9hG4bKr\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>;tag=f1\n"
      "Call-ID: call-1@alice\n"
      "CSeq: 315 INVITE\n"
      "Contact: <sip:alice@198.51.100.7;transport=tcp>\n"
      "Content-Length: 0\n\n");
  EXPECT_FALSE(d.check_request(reinvite));
  EXPECT_EQ(d.remote_target(), "sip:alice@198.51.100.7;transport=tcp");
  EXPECT_EQ(d.make_request(Method::kBye).request_uri_text(),
            "sip:alice@198.51.100.7;transport=tcp");
}

TEST(DialogUas, ResponseCarriesLocalTagAndContact) {
  Dialog d = make_uas_dialog();
  const Message reinvite = parse(
      "INVITE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKr\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>;tag=f1\n"
      "Call-ID: call-1@alice\n"
      "CSeq: 315 INVITE\n"
      "Contact: <sip:alice@198.51.100.7>\n"
      "Content-Length: 0\n\n");
  const Message ok = d.make_response(reinvite, 200);
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.to().tag(), "f1");
  EXPECT_EQ(ok.header("Contact"), "<sip:room1@focus.example.com>;isfocus");
  EXPECT_EQ(ok.cseq().number, 315u);
  EXPECT_FALSE(d.make_response(reinvite, 486).has_header("Contact"));
}

// --- UAC: the focus dials out.
const char* const kOutInvite =
    "INVITE sip:bob@example.net SIP/2.0\n"
    "Via: SIP/2.0/UDP focus.example.com;branch=z9hG4bKo1\n"
    "Max-Forwards: 70\n"
    "From: <sip:room1@focus.example.com>;tag=f9\n"
    "To: \"Bob\" <sip:bob@example.net>\n"
    "Call-ID: out-1@focus\n"
    "CSeq: 20 INVITE\n"
    "Contact: <sip:room1@focus.example.com>;isfocus\n"
    "Content-Length: 0\n\n";

Message bob_response(int status, std::string_view tag, std::string_view contact,
                     std::string_view record_routes) {
  std::string text = "SIP/2.0 " + std::to_string(status) + " X\n" +
                     "Via: SIP/2.0/UDP focus.example.com;branch=z9hG4bKo1\n" +
                     std::string(record_routes) + "From: <sip:room1@focus.example.com>;tag=f9\n" +
                     "To: \"Bob\" <sip:bob@example.net>;tag=" + std::string(tag) + "\n" +
                     "Call-ID: out-1@focus\n" + "CSeq: 20 INVITE\n" + "Contact: <" +
                     std::string(contact) + ">\n" + "Content-Length: 0\n\n";
  return parse(text);
}

TEST(DialogUac, RouteSetIsReversedAndAckUsesInviteCSeq) {
  const Message invite = parse(kOutInvite);
  const Message ok = bob_response(200, "b1", "sip:bob@203.0.113.5",
                                  "Record-Route: <sip:p1.example.net;lr>\n"
                                  "Record-Route: <sip:p2.example.net;lr>\n");
  auto d = Dialog::create_uac(invite, ok);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->role(), DialogRole::kUac);
  EXPECT_TRUE(d->owns_call_id());
  EXPECT_EQ(d->id().local_tag, "f9");
  EXPECT_EQ(d->id().remote_tag, "b1");
  EXPECT_EQ(d->local_cseq(), 20u);
  ASSERT_EQ(d->route_set().size(), 2u);
  EXPECT_EQ(d->route_set()[0], "<sip:p2.example.net;lr>");
  EXPECT_EQ(d->route_set()[1], "<sip:p1.example.net;lr>");

  const Message ack = d->make_ack(20);
  EXPECT_EQ(ack.method(), Method::kAck);
  EXPECT_EQ(ack.request_uri_text(), "sip:bob@203.0.113.5");
  EXPECT_EQ(ack.cseq().number, 20u);
  EXPECT_EQ(ack.cseq().method, Method::kAck);
  EXPECT_EQ(ack.header_values("Route")[0], "<sip:p2.example.net;lr>");
  EXPECT_EQ(ack.to().tag(), "b1");
  EXPECT_EQ(d->local_cseq(), 20u);  // ACK does not consume a number

  const Message bye = d->make_request(Method::kBye);
  EXPECT_EQ(bye.cseq().number, 21u);
  EXPECT_EQ(bye.from().tag(), "f9");
  EXPECT_EQ(bye.to().display_name, "Bob");
}

TEST(DialogUac, StrictRouterBecomesRequestUriAndTargetGoesLast) {
  const Message invite = parse(kOutInvite);
  const Message ok = bob_response(200, "b1", "sip:bob@203.0.113.5",
                                  "Record-Route: <sip:p1.example.net;lr>\n"
                                  "Record-Route: <sip:strict.example.net;maddr=10.0.0.1>\n");
  auto d = Dialog::create_uac(invite, ok);
  ASSERT_TRUE(d);
  const Message bye = d->make_request(Method::kBye);
  // §12.2.1.1: the first route (no lr) is the Request-URI.
  EXPECT_EQ(bye.request_uri_text(), "sip:strict.example.net;maddr=10.0.0.1");
  const auto routes = bye.header_values("Route");
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0], "<sip:p1.example.net;lr>");
  EXPECT_EQ(routes[1], "<sip:bob@203.0.113.5>");
}

TEST(DialogUac, ForkedProvisionalsMakeDistinctEarlyDialogs) {
  const Message invite = parse(kOutInvite);
  DialogSet set;
  auto d1 = Dialog::create_uac(invite, bob_response(180, "b1", "sip:bob@phone1", ""));
  auto d2 = Dialog::create_uac(invite, bob_response(183, "b2", "sip:bob@phone2", ""));
  ASSERT_TRUE(d1 && d2);
  EXPECT_TRUE(d1->early());
  EXPECT_FALSE(d1->id() == d2->id());
  set.insert(std::move(*d1));
  set.insert(std::move(*d2));
  EXPECT_EQ(set.size(), 2u);

  // The 2xx from phone 2 confirms that dialog only, with the 2xx's route set.
  const Message ok2 =
      bob_response(200, "b2", "sip:bob@phone2-final", "Record-Route: <sip:edge.example.net;lr>\n");
  Dialog* confirmed = set.find_for_response(ok2);
  ASSERT_NE(confirmed, nullptr);
  EXPECT_EQ(confirmed->id().remote_tag, "b2");
  confirmed->on_response(ok2);
  EXPECT_TRUE(confirmed->confirmed());
  EXPECT_EQ(confirmed->remote_target(), "sip:bob@phone2-final");
  ASSERT_EQ(confirmed->route_set().size(), 1u);
  EXPECT_EQ(confirmed->route_set()[0], "<sip:edge.example.net;lr>");
  Dialog* other = set.find(DialogId{"out-1@focus", "f9", "b1"});
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(other->early());
}

TEST(DialogUac, NoDialogFromResponseWithoutToTag) {
  const Message invite = parse(kOutInvite);
  const Message no_tag = parse(
      "SIP/2.0 180 Ringing\n"
      "Via: SIP/2.0/UDP focus.example.com;branch=z9hG4bKo1\n"
      "From: <sip:room1@focus.example.com>;tag=f9\n"
      "To: <sip:bob@example.net>\n"
      "Call-ID: out-1@focus\n"
      "CSeq: 20 INVITE\n"
      "Content-Length: 0\n\n");
  EXPECT_FALSE(Dialog::create_uac(invite, no_tag));
}

TEST(DialogUac, FailureEndsEarlyDialogAnd481EndsConfirmed) {
  const Message invite = parse(kOutInvite);
  auto early = Dialog::create_uac(invite, bob_response(180, "b1", "sip:bob@phone1", ""));
  ASSERT_TRUE(early);
  early->on_response(bob_response(486, "b1", "sip:bob@phone1", ""));
  EXPECT_TRUE(early->terminated());

  auto d = Dialog::create_uac(invite, bob_response(200, "b1", "sip:bob@phone1", ""));
  ASSERT_TRUE(d);
  Message bye = d->make_request(Method::kBye);
  Message r481 = make_response(bye, 481);
  d->on_response(r481);
  EXPECT_TRUE(d->terminated());
}

// --- The registry.
TEST(DialogSetTest, MatchesInDialogRequestsAndRejectsUnknownWith481) {
  DialogSet set;
  set.insert(make_uas_dialog());
  const Message bye = parse(
      "BYE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKb\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>;tag=f1\n"
      "Call-ID: call-1@alice\n"
      "CSeq: 315 BYE\n"
      "Content-Length: 0\n\n");
  auto match = set.match_request(bye);
  ASSERT_NE(match.dialog, nullptr);
  EXPECT_FALSE(match.reject);
  EXPECT_FALSE(match.out_of_dialog);

  std::string unknown_text =
      "BYE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKb\n"
      "From: <sip:alice@example.com>;tag=a1\n"
      "To: <sip:room1@focus.example.com>;tag=nope\n"
      "Call-ID: call-1@alice\n"
      "CSeq: 315 BYE\n"
      "Content-Length: 0\n\n";
  const Message unknown = parse(unknown_text);
  match = set.match_request(unknown);
  EXPECT_EQ(match.dialog, nullptr);
  ASSERT_TRUE(match.reject);
  EXPECT_EQ(match.reject->status(), 481);
  EXPECT_EQ(match.reject->to().tag(), "nope");

  // An unmatched ACK is never answered.
  std::string ack_text = unknown_text;
  ack_text.replace(0, 3, "ACK");
  ack_text.replace(ack_text.find("315 BYE"), 7, "315 ACK");
  match = set.match_request(parse(ack_text));
  EXPECT_EQ(match.dialog, nullptr);
  EXPECT_FALSE(match.reject);

  // No To tag: outside any dialog.
  match = set.match_request(parse(kInvite));
  EXPECT_TRUE(match.out_of_dialog);
  EXPECT_FALSE(match.reject);
}

// RFC 3891 §3: Replaces' to-tag is our local tag, from-tag our remote tag.
TEST(DialogSetTest, ReplacesJoinAndTargetDialogFindTheDialog) {
  DialogSet set;
  set.insert(make_uas_dialog());
  auto r = set.find_replaces("call-1@alice;to-tag=f1;from-tag=a1");
  EXPECT_EQ(r.status, DialogSet::ReferencedStatus::kFound);
  ASSERT_NE(r.dialog, nullptr);
  EXPECT_EQ(r.dialog->id().remote_tag, "a1");
  // Tags swapped: that is some other dialog.
  EXPECT_EQ(set.find_replaces("call-1@alice;to-tag=a1;from-tag=f1").status,
            DialogSet::ReferencedStatus::kNoSuchDialog);
  // early-only on a confirmed dialog (RFC 3891 §3: 486).
  EXPECT_EQ(set.find_replaces("call-1@alice;to-tag=f1;from-tag=a1;early-only").status,
            DialogSet::ReferencedStatus::kNotEarly);
  EXPECT_EQ(set.find_join("call-1@alice;to-tag=f1;from-tag=a1").status,
            DialogSet::ReferencedStatus::kFound);
  // RFC 4538: the sender's remote-tag is our local tag.
  EXPECT_EQ(set.find_target_dialog("call-1@alice;local-tag=a1;remote-tag=f1").status,
            DialogSet::ReferencedStatus::kFound);
  EXPECT_EQ(set.find_target_dialog("call-1@alice;local-tag=f1;remote-tag=a1").status,
            DialogSet::ReferencedStatus::kNoSuchDialog);
  // Garbage never matches.
  EXPECT_EQ(set.find_replaces(";;;").status, DialogSet::ReferencedStatus::kNoSuchDialog);
  EXPECT_EQ(set.find_replaces("").status, DialogSet::ReferencedStatus::kNoSuchDialog);
  EXPECT_EQ(set.find_join("call-1@alice").status, DialogSet::ReferencedStatus::kNoSuchDialog);
}

TEST(DialogSetTest, EarlyOnlyMatchesAnEarlyDialog) {
  DialogSet set;
  const Message invite = parse(kInvite);
  auto d = Dialog::create_uas(invite, uas_response(invite, 180, "f1"), 1);
  ASSERT_TRUE(d);
  set.insert(std::move(*d));
  EXPECT_EQ(set.find_replaces("call-1@alice;to-tag=f1;from-tag=a1;early-only").status,
            DialogSet::ReferencedStatus::kFound);
}

TEST(DialogSetTest, EraseAndGarbageCollection) {
  DialogSet set;
  Dialog& d = set.insert(make_uas_dialog());
  const DialogId id = d.id();
  d.terminate();
  set.collect_garbage();
  EXPECT_EQ(set.find(id), nullptr);
  EXPECT_TRUE(set.empty());
  set.insert(make_uas_dialog());
  set.erase(id);
  EXPECT_TRUE(set.empty());
}

Message alice_in_dialog(std::string_view method, uint32_t cseq, std::string_view to_tag = "f1") {
  return parse(std::string(method) + " sip:room1@focus.example.com SIP/2.0\n" +
               "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKd" + std::to_string(cseq) + "\n" +
               "From: <sip:alice@example.com>;tag=a1\n" +
               "To: <sip:room1@focus.example.com>;tag=" + std::string(to_tag) + "\n" +
               "Call-ID: call-1@alice\n" + "CSeq: " + std::to_string(cseq) + " " +
               std::string(method) + "\n" + "Content-Length: 0\n\n");
}

TEST(DialogDispatch, RoutesEachMethodToItsUsage) {
  DialogSet set;
  Dialog& d = set.insert(make_uas_dialog());
  // No INVITE usage yet: session methods get 481, ACK is dropped.
  auto route = route_request(set, alice_in_dialog("INFO", 320));
  EXPECT_EQ(route.kind, DialogRoute::Kind::kReject);
  ASSERT_TRUE(route.response);
  EXPECT_EQ(route.response->status(), 481);
  EXPECT_EQ(route_request(set, alice_in_dialog("ACK", 314)).kind, DialogRoute::Kind::kDropped);

  InviteSession::Config config;
  config.session_timer.enabled = false;
  auto& session =
      static_cast<InviteSession&>(d.add_usage(InviteSession::create_uas(parse(kInvite), config)));
  route = route_request(set, alice_in_dialog("BYE", 321));
  EXPECT_EQ(route.kind, DialogRoute::Kind::kInviteSession);
  EXPECT_EQ(route.invite, &session);
  EXPECT_EQ(route.dialog, &d);
  EXPECT_EQ(route_request(set, alice_in_dialog("SUBSCRIBE", 322)).kind,
            DialogRoute::Kind::kSubscribe);
  EXPECT_EQ(route_request(set, alice_in_dialog("REFER", 323)).kind, DialogRoute::Kind::kRefer);
  EXPECT_EQ(route_request(set, alice_in_dialog("NOTIFY", 324)).kind, DialogRoute::Kind::kNotify);
  EXPECT_EQ(route_request(set, alice_in_dialog("MESSAGE", 325)).kind, DialogRoute::Kind::kOther);
  // Stale CSeq → 500; unknown tag → 481; no tag → out of dialog.
  route = route_request(set, alice_in_dialog("INFO", 300));
  EXPECT_EQ(route.kind, DialogRoute::Kind::kReject);
  EXPECT_EQ(route.response->status(), 500);
  route = route_request(set, alice_in_dialog("INFO", 400, "zz"));
  EXPECT_EQ(route.kind, DialogRoute::Kind::kReject);
  EXPECT_EQ(route.response->status(), 481);
  EXPECT_EQ(route_request(set, parse(kInvite)).kind, DialogRoute::Kind::kOutOfDialog);
  EXPECT_EQ(invite_session_of(d), &session);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
