// REFER (RFC 3515) with its implicit subscription, Refer-Sub: false
// (RFC 4488), and message/sipfrag bodies (RFC 3420).
#include "signaling/usage/refer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "signaling/dialog/dialog_random.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/message/message.hpp"
#include "signaling/usage/sipfrag.hpp"

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

Message refer(uint32_t cseq, std::string_view extra, std::string_view to_tag = "") {
  std::string to = "To: <sip:room1@focus.example.com>";
  if (!to_tag.empty()) to += ";tag=" + std::string(to_tag);
  return parse(
      "REFER sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bKr" +
      std::to_string(cseq) +
      "\n"
      "Max-Forwards: 70\n"
      "From: <sip:alice@example.com>;tag=a1\n" +
      to +
      "\n"
      "Call-ID: refer-1@alice\n"
      "CSeq: " +
      std::to_string(cseq) +
      " REFER\n"
      "Contact: <sip:alice@192.0.2.10>\n" +
      std::string(extra) + "Content-Length: 0\n\n");
}

constexpr std::string_view kContact = "<sip:room1@focus.example.com>;isfocus";

TEST(Refer, OutOfDialogReferIsAcceptedWithSubscriptionAndTryingNotify) {
  DialogSet dialogs;
  DialogRandom random(9);
  const TimePoint t0{};
  auto out =
      accept_refer(dialogs, refer(77, "Refer-To: <sip:bob@example.net>\n"), random, kContact, t0);
  EXPECT_TRUE(out.accepted);
  EXPECT_EQ(out.response.status(), 202);
  EXPECT_EQ(out.response.reason_phrase(), "Accepted");
  const std::string tag(out.response.to().tag());
  EXPECT_FALSE(tag.empty());
  EXPECT_EQ(out.response.header("Contact"), kContact);
  EXPECT_FALSE(out.response.has_header("Refer-Sub"));
  EXPECT_EQ(out.refer_to, "<sip:bob@example.net>");
  ASSERT_NE(out.dialog, nullptr);
  ASSERT_NE(out.subscription, nullptr);
  EXPECT_EQ(dialogs.size(), 1u);
  EXPECT_EQ(out.dialog->id().local_tag, tag);

  // RFC 3515 §2.4.4/§2.4.6: NOTIFY "100 Trying" with Event: refer;id=<CSeq>.
  ASSERT_TRUE(out.notify);
  const Message& n = *out.notify;
  EXPECT_EQ(n.method(), Method::kNotify);
  EXPECT_EQ(n.request_uri_text(), "sip:alice@192.0.2.10");
  EXPECT_EQ(n.header("Event"), "refer;id=77");
  EXPECT_EQ(n.header("Subscription-State"), "active;expires=300");
  EXPECT_EQ(n.content_type(), "message/sipfrag;version=2.0");
  EXPECT_EQ(n.body(), "SIP/2.0 100 Trying\r\n");
  EXPECT_EQ(n.from().tag(), tag);
  EXPECT_EQ(n.to().tag(), "a1");

  // Progress: 180, then 200 ends the subscription with reason=noresource.
  const Message ringing =
      make_refer_notify(*out.dialog, *out.subscription, 180, "Ringing", t0 + seconds(2));
  EXPECT_EQ(ringing.header("Subscription-State"), "active;expires=298");
  EXPECT_EQ(ringing.body(), "SIP/2.0 180 Ringing\r\n");
  EXPECT_EQ(ringing.cseq().number, n.cseq().number + 1);
  const Message done =
      make_refer_notify(*out.dialog, *out.subscription, 200, "OK", t0 + seconds(5));
  EXPECT_EQ(done.header("Subscription-State"), "terminated;reason=noresource");
  EXPECT_EQ(done.body(), "SIP/2.0 200 OK\r\n");
  EXPECT_TRUE(out.subscription->terminated());
  dialogs.collect_garbage();
  EXPECT_TRUE(dialogs.empty());
}

TEST(Refer, FailureOfTheReferredCallIsReportedAndEnds) {
  DialogSet dialogs;
  DialogRandom random(9);
  auto out =
      accept_refer(dialogs, refer(5, "Refer-To: sip:bob@example.net\n"), random, kContact, {});
  ASSERT_TRUE(out.subscription);
  const Message failed =
      make_refer_notify(*out.dialog, *out.subscription, 486, "Busy Here", TimePoint{});
  EXPECT_EQ(failed.body(), "SIP/2.0 486 Busy Here\r\n");
  EXPECT_EQ(failed.header("Subscription-State"), "terminated;reason=noresource");
}

TEST(Refer, UnansweredReferSubscriptionExpires) {
  DialogSet dialogs;
  DialogRandom random(9);
  ReferConfig config;
  config.subscription_expires = 60;
  auto out = accept_refer(dialogs, refer(5, "Refer-To: <sip:bob@example.net>\n"), random, kContact,
                          TimePoint{}, config);
  ASSERT_TRUE(out.subscription);
  EXPECT_EQ(dialogs.next_deadline(), TimePoint{} + seconds(60));
  auto fired = dialogs.on_deadline(TimePoint{} + seconds(60));
  ASSERT_EQ(fired.size(), 1u);
  ASSERT_EQ(fired[0].actions.requests.size(), 1u);
  const Message& last = fired[0].actions.requests[0];
  EXPECT_EQ(last.header("Subscription-State"), "terminated;reason=timeout");
  EXPECT_EQ(last.header("Event"), "refer;id=5");
  // The last progress (100 Trying) is repeated as the final state.
  EXPECT_EQ(last.body(), "SIP/2.0 100 Trying\r\n");
  EXPECT_TRUE(dialogs.empty());
}

// RFC 4488: no implicit subscription.
TEST(Refer, ReferSubFalseMeansNoSubscriptionAndNoDialog) {
  DialogSet dialogs;
  DialogRandom random(9);
  auto out = accept_refer(dialogs,
                          refer(8,
                                "Refer-To: <sip:bob@example.net>\n"
                                "Refer-Sub: false\n"
                                "Supported: norefersub\n"),
                          random, kContact, {});
  EXPECT_TRUE(out.accepted);
  EXPECT_EQ(out.response.status(), 202);
  EXPECT_EQ(out.response.header("Refer-Sub"), "false");
  EXPECT_FALSE(out.notify);
  EXPECT_EQ(out.subscription, nullptr);
  EXPECT_TRUE(dialogs.empty());
}

TEST(Refer, ReferSubTrueKeepsTheSubscription) {
  DialogSet dialogs;
  DialogRandom random(9);
  auto out = accept_refer(dialogs, refer(8, "Refer-To: <sip:bob@example.net>\nRefer-Sub: true\n"),
                          random, kContact, {});
  EXPECT_NE(out.subscription, nullptr);
  EXPECT_TRUE(out.notify);
}

TEST(Refer, InDialogReferUsesCSeqAsIdAndTwoRefersCoexist) {
  DialogSet dialogs;
  DialogRandom random(9);
  auto first =
      accept_refer(dialogs, refer(1, "Refer-To: <sip:bob@example.net>\n"), random, kContact, {});
  ASSERT_TRUE(first.accepted);
  const std::string tag(first.response.to().tag());
  auto second = accept_refer(dialogs, refer(2, "Refer-To: <sip:carol@example.net>\n", tag), random,
                             kContact, {});
  ASSERT_TRUE(second.accepted);
  EXPECT_EQ(second.response.status(), 202);
  EXPECT_EQ(second.response.to().tag(), tag);
  EXPECT_EQ(second.dialog, first.dialog);
  ASSERT_TRUE(second.notify);
  EXPECT_EQ(second.notify->header("Event"), "refer;id=2");
  EXPECT_EQ(find_subscription(*first.dialog, "refer", "1"), first.subscription);
  EXPECT_EQ(find_subscription(*first.dialog, "refer", "2"), second.subscription);
  // A stale CSeq in the dialog → 500; an unknown dialog → 481.
  auto stale =
      accept_refer(dialogs, refer(1, "Refer-To: <sip:d@example.net>\n", tag), random, kContact, {});
  EXPECT_FALSE(stale.accepted);
  EXPECT_EQ(stale.response.status(), 500);
  auto unknown = accept_refer(dialogs, refer(3, "Refer-To: <sip:d@example.net>\n", "zzz"), random,
                              kContact, {});
  EXPECT_EQ(unknown.response.status(), 481);
}

// Adversarial REFERs (RFC 3515 §2.4.1: exactly one Refer-To).
TEST(Refer, MissingDuplicateOrBrokenReferToIs400) {
  DialogSet dialogs;
  DialogRandom random(9);
  auto out = accept_refer(dialogs, refer(1, ""), random, kContact, {});
  EXPECT_FALSE(out.accepted);
  EXPECT_EQ(out.response.status(), 400);
  EXPECT_EQ(out.response.reason_phrase(), "Missing Refer-To");
  EXPECT_FALSE(out.response.to().tag().empty());

  out = accept_refer(dialogs,
                     refer(1,
                           "Refer-To: <sip:bob@example.net>\n"
                           "Refer-To: <sip:carol@example.net>\n"),
                     random, kContact, {});
  EXPECT_EQ(out.response.status(), 400);
  EXPECT_EQ(out.response.reason_phrase(), "Multiple Refer-To");

  out = accept_refer(dialogs, refer(1, "Refer-To: <sip:bob@example.net>, <sip:c@example.net>\n"),
                     random, kContact, {});
  EXPECT_EQ(out.response.status(), 400);
  EXPECT_EQ(out.response.reason_phrase(), "Multiple Refer-To");

  out = accept_refer(dialogs, refer(1, "Refer-To: <sip:bob@example.net\n"), random, kContact, {});
  EXPECT_EQ(out.response.status(), 400);

  out =
      accept_refer(dialogs, refer(1, "Refer-To: \"unterminated <sip:x@y>\n"), random, kContact, {});
  EXPECT_EQ(out.response.status(), 400);
  EXPECT_TRUE(dialogs.empty());
}

TEST(Refer, ReferToWithEmbeddedReplacesIsKeptVerbatim) {
  DialogSet dialogs;
  DialogRandom random(9);
  const std::string value =
      "<sip:bob@example.net?Replaces=call-9%40bob%3Bto-tag%3D1%3Bfrom-tag%3D2>";
  auto out = accept_refer(dialogs, refer(1, "Refer-To: " + value + "\n"), random, kContact, {});
  ASSERT_TRUE(out.accepted);
  EXPECT_EQ(out.refer_to, value);
}

// --- message/sipfrag
TEST(Sipfrag, RoundTrip) {
  for (const auto& [status, reason] : std::vector<std::pair<int, std::string>>{
           {100, "Trying"}, {180, "Ringing"}, {200, "OK"}, {486, "Busy Here"}, {603, "Decline"}}) {
    SCOPED_TRACE(status);
    const std::string frag = make_sipfrag(status, reason);
    const auto parsed = parse_sipfrag_status(frag);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->status, status);
    EXPECT_EQ(parsed->reason, reason);
    EXPECT_TRUE(parsed->headers.empty());
  }
}

TEST(Sipfrag, ReasonCannotInjectHeaders) {
  const std::string frag = make_sipfrag(200, "OK\r\nContact: <sip:evil@x>");
  EXPECT_EQ(frag, "SIP/2.0 200 OK\r\n");
}

// RFC 5359 §2.3 F17: the final fragment names the new dialog; a header
// that would break the fragment's lines is left out, not cut.
TEST(Sipfrag, CarriesHeaderLinesAndDropsOnesThatWouldInject) {
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"From", "<sip:moh@x>;tag=1"},
      {"To", "<sip:a@y>;tag=2\r\nContact: <sip:evil@x>"},
      {"Bad\nName", "v"},
      {"Call-ID", "c@x"}};
  const std::string frag = make_sipfrag(200, "OK", headers);
  EXPECT_EQ(frag, "SIP/2.0 200 OK\r\nFrom: <sip:moh@x>;tag=1\r\nCall-ID: c@x\r\n");
  const auto parsed = parse_sipfrag_status(frag);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->headers, "From: <sip:moh@x>;tag=1\r\nCall-ID: c@x\r\n");
}

TEST(Sipfrag, ParsesLenientLineEndsAndKeepsHeaders) {
  auto p = parse_sipfrag_status("SIP/2.0 503 Service Unavailable");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 503);
  EXPECT_EQ(p->reason, "Service Unavailable");
  p = parse_sipfrag_status("SIP/2.0 180 Ringing\nContact: <sip:b@x>\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 180);
  EXPECT_EQ(p->headers, "Contact: <sip:b@x>\n");
  p = parse_sipfrag_status("sip/2.0 200\r\n");  // empty reason, any case
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 200);
  EXPECT_EQ(p->reason, "");
}

TEST(Sipfrag, RejectsWhatIsNotAStatusLine) {
  for (std::string_view bad : std::vector<std::string_view>{
           "", "SIP/2.0", "SIP/2.0 ", "SIP/2.0 20", "SIP/2.0 2000 OK", "SIP/2.0 099 Low",
           "SIP/2.0 700 High", "SIP/2.0 2x0 OK", "SIP/3.0 200 OK", "INVITE sip:a@b SIP/2.0\r\n",
           "SIP/2.0 -20 OK", std::string_view("SIP/2.0 2\0\0 OK", 15)}) {
    SCOPED_TRACE(std::string(bad));
    EXPECT_FALSE(parse_sipfrag_status(bad));
  }
}

TEST(Sipfrag, ContentTypeCheck) {
  EXPECT_TRUE(is_sipfrag_content_type("message/sipfrag"));
  EXPECT_TRUE(is_sipfrag_content_type("Message/SIPfrag;version=2.0"));
  EXPECT_TRUE(is_sipfrag_content_type(kSipfragContentType));
  EXPECT_FALSE(is_sipfrag_content_type("message/sip"));
  EXPECT_FALSE(is_sipfrag_content_type(""));
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
