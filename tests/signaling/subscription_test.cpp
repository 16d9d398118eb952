// RFC 6665 notifier: SUBSCRIBE → 200 + NOTIFY active → refresh → expiry →
// NOTIFY terminated, plus the error answers, on real messages.
#include "signaling/usage/subscription.hpp"

#include <gtest/gtest.h>

#include <string>

#include "signaling/dialog/dialog_set.hpp"
#include "signaling/usage/event_package.hpp"
#include "signaling/message/header_event.hpp"
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

constexpr std::string_view kConfInfo = "application/conference-info+xml";

// SUBSCRIBE from Carol; `to_tag` empty = out of dialog.
Message subscribe(uint32_t cseq, std::string_view extra, std::string_view to_tag = "") {
  std::string to = "To: <sip:room1@focus.example.com>";
  if (!to_tag.empty()) to += ";tag=" + std::string(to_tag);
  return parse(
      "SUBSCRIBE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP carol.example.com;branch=z9hG4bKs" +
      std::to_string(cseq) +
      "\n"
      "Max-Forwards: 70\n"
      "From: <sip:carol@example.com>;tag=c1\n" +
      to +
      "\n"
      "Call-ID: sub-1@carol\n"
      "CSeq: " +
      std::to_string(cseq) +
      " SUBSCRIBE\n"
      "Contact: <sip:carol@198.51.100.20:5062>\n" +
      std::string(extra) + "Content-Length: 0\n\n");
}

class NotifierTest : public ::testing::Test {
 protected:
  NotifierTest() : random_(42), notifier_(packages_, random_, "<sip:room1@focus.example.com>") {
    EventPackage conference;
    conference.name = "conference";
    conference.accept = {std::string(kConfInfo)};
    conference.default_expires = 3600;
    conference.min_expires = 60;
    conference.max_expires = 7200;
    conference.authorize = [this](const Message& m) {
      SubscriptionAuthorization a;
      if (m.from().uri.user == "mallory") {
        a.decision = SubscriptionAuthorization::Decision::kReject;
        a.reject_status = 403;
      } else if (m.from().uri.user == "dave") {
        a.decision = SubscriptionAuthorization::Decision::kPending;
      }
      ++authorizations_;
      return a;
    };
    conference.full_state = [this](const Subscription& s) {
      return NotifyBody{s.content_type(),
                        "<conference-info version=\"" + std::to_string(++version_) + "\"/>"};
    };
    packages_.add(conference);
    EventPackage dialog;
    dialog.name = "dialog";
    dialog.accept = {"application/dialog-info+xml"};
    packages_.add(dialog);
  }

  EventPackageRegistry packages_;
  DialogRandom random_;
  Notifier notifier_;
  DialogSet dialogs_;
  int authorizations_ = 0;
  int version_ = 0;
};

TEST_F(NotifierTest, SubscribeActiveRefreshExpire) {
  const TimePoint t0 = TimePoint{} + seconds(50);
  auto out = notifier_.on_subscribe(
      dialogs_,
      subscribe(1, "Event: conference\nExpires: 600\nAccept: " + std::string(kConfInfo) + "\n"),
      t0);
  // 200 with the granted expiry, our tag and Contact.
  EXPECT_EQ(out.response.status(), 200);
  EXPECT_EQ(out.response.expires(), 600u);
  const std::string tag(out.response.to().tag());
  EXPECT_FALSE(tag.empty());
  EXPECT_EQ(out.response.header("Contact"), "<sip:room1@focus.example.com>");
  EXPECT_TRUE(out.created);
  ASSERT_NE(out.dialog, nullptr);
  ASSERT_NE(out.subscription, nullptr);
  EXPECT_EQ(dialogs_.size(), 1u);
  EXPECT_EQ(authorizations_, 1);

  // The immediate NOTIFY (RFC 6665 §4.2.1.2).
  ASSERT_TRUE(out.notify);
  const Message& n = *out.notify;
  EXPECT_EQ(n.method(), Method::kNotify);
  EXPECT_EQ(n.request_uri_text(), "sip:carol@198.51.100.20:5062");
  EXPECT_EQ(n.from().tag(), tag);
  EXPECT_EQ(n.to().tag(), "c1");
  EXPECT_EQ(n.call_id(), "sub-1@carol");
  EXPECT_EQ(n.header("Event"), "conference");
  EXPECT_EQ(n.header("Subscription-State"), "active;expires=600");
  EXPECT_EQ(n.content_type(), kConfInfo);
  EXPECT_EQ(n.body(), "<conference-info version=\"1\"/>");
  EXPECT_EQ(n.header("Contact"), "<sip:room1@focus.example.com>");
  const uint32_t first_cseq = n.cseq().number;

  // Refresh in the dialog at t0 + 300.
  const TimePoint t300 = t0 + seconds(300);
  out = notifier_.on_subscribe(dialogs_, subscribe(2, "Event: conference\nExpires: 900\n", tag),
                               t300);
  EXPECT_EQ(out.response.status(), 200);
  EXPECT_EQ(out.response.expires(), 900u);
  EXPECT_FALSE(out.created);
  ASSERT_TRUE(out.notify);
  EXPECT_EQ(out.notify->header("Subscription-State"), "active;expires=900");
  EXPECT_EQ(out.notify->body(), "<conference-info version=\"2\"/>");
  EXPECT_EQ(out.notify->cseq().number, first_cseq + 1);
  EXPECT_EQ(authorizations_, 1);  // a refresh is not re-authorized

  // Expiry: the deadline, then NOTIFY terminated;reason=timeout, and the
  // dialog goes away.
  EXPECT_EQ(dialogs_.next_deadline(), t300 + seconds(900));
  EXPECT_TRUE(dialogs_.on_deadline(t300 + seconds(899)).empty());
  auto fired = dialogs_.on_deadline(t300 + seconds(900));
  ASSERT_EQ(fired.size(), 1u);
  ASSERT_EQ(fired[0].actions.requests.size(), 1u);
  const Message& last = fired[0].actions.requests[0];
  EXPECT_EQ(last.header("Subscription-State"), "terminated;reason=timeout");
  EXPECT_EQ(last.header("Event"), "conference");
  EXPECT_EQ(last.cseq().number, first_cseq + 2);
  EXPECT_TRUE(dialogs_.empty());
}

TEST_F(NotifierTest, UnsubscribeSendsFinalNotify) {
  const TimePoint t0{};
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\n"), t0);
  ASSERT_EQ(out.response.status(), 200);
  EXPECT_EQ(out.response.expires(), 3600u);  // the package default
  const std::string tag(out.response.to().tag());
  out = notifier_.on_subscribe(dialogs_, subscribe(2, "Event: conference\nExpires: 0\n", tag), t0);
  EXPECT_EQ(out.response.status(), 200);
  EXPECT_EQ(out.response.expires(), 0u);
  EXPECT_TRUE(out.terminated);
  ASSERT_TRUE(out.notify);
  EXPECT_EQ(out.notify->header("Subscription-State"), "terminated;reason=timeout");
  EXPECT_FALSE(out.notify->body().empty());  // the final state
  dialogs_.collect_garbage();
  EXPECT_TRUE(dialogs_.empty());
}

TEST_F(NotifierTest, FetchWithExpiresZeroOutOfDialog) {
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\nExpires: 0\n"), {});
  EXPECT_EQ(out.response.status(), 200);
  EXPECT_TRUE(out.terminated);
  ASSERT_TRUE(out.notify);
  EXPECT_EQ(out.notify->header("Subscription-State"), "terminated;reason=timeout");
  dialogs_.collect_garbage();
  EXPECT_TRUE(dialogs_.empty());
}

TEST_F(NotifierTest, TooBriefIs423WithMinExpires) {
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\nExpires: 10\n"), {});
  EXPECT_EQ(out.response.status(), 423);
  EXPECT_EQ(out.response.header("Min-Expires"), "60");
  EXPECT_FALSE(out.response.to().tag().empty());
  EXPECT_FALSE(out.notify);
  EXPECT_TRUE(dialogs_.empty());
}

TEST_F(NotifierTest, TooLongIsShortenedToMax) {
  auto out =
      notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\nExpires: 999999\n"), {});
  EXPECT_EQ(out.response.status(), 200);
  EXPECT_EQ(out.response.expires(), 7200u);
  ASSERT_TRUE(out.notify);
  EXPECT_EQ(out.notify->header("Subscription-State"), "active;expires=7200");
}

TEST_F(NotifierTest, UnknownPackageIs489WithAllowEvents) {
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: presence\n"), {});
  EXPECT_EQ(out.response.status(), 489);
  EXPECT_EQ(out.response.header_values("Allow-Events"),
            (std::vector<std::string_view>{"conference", "dialog"}));
  EXPECT_TRUE(dialogs_.empty());
}

// Adversarial: Expires: abc, no Event, a broken Event.
TEST_F(NotifierTest, MalformedSubscribesGet400NamingTheFault) {
  auto out =
      notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\nExpires: abc\n"), {});
  EXPECT_EQ(out.response.status(), 400);
  EXPECT_EQ(out.response.reason_phrase(), "Bad Expires");
  out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\nExpires: -1\n"), {});
  EXPECT_EQ(out.response.status(), 400);
  out = notifier_.on_subscribe(dialogs_,
                               subscribe(1, "Event: conference\nExpires: 99999999999999\n"), {});
  EXPECT_EQ(out.response.status(), 400);
  out = notifier_.on_subscribe(dialogs_, subscribe(1, ""), {});
  EXPECT_EQ(out.response.status(), 400);
  EXPECT_EQ(out.response.reason_phrase(), "Missing Event");
  out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: ;id=\n"), {});
  EXPECT_EQ(out.response.status(), 400);
  EXPECT_TRUE(dialogs_.empty());
}

TEST_F(NotifierTest, UnacceptableAcceptIs406) {
  auto out = notifier_.on_subscribe(
      dialogs_, subscribe(1, "Event: conference\nAccept: application/pidf+xml\n"), {});
  EXPECT_EQ(out.response.status(), 406);
  EXPECT_EQ(out.response.header("Accept"), kConfInfo);
  // Ranges work.
  out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\nAccept: application/*\n"),
                               {});
  EXPECT_EQ(out.response.status(), 200);
}

TEST_F(NotifierTest, EventIdsDistinguishSubscriptionsInOneDialog) {
  const TimePoint t0{};
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference;id=1\n"), t0);
  ASSERT_EQ(out.response.status(), 200);
  ASSERT_TRUE(out.notify);
  EXPECT_EQ(out.notify->header("Event"), "conference;id=1");
  const std::string tag(out.response.to().tag());
  Dialog* dialog = out.dialog;

  out = notifier_.on_subscribe(dialogs_, subscribe(2, "Event: conference;id=2\n", tag), t0);
  ASSERT_EQ(out.response.status(), 200);
  EXPECT_TRUE(out.created);
  EXPECT_EQ(out.dialog, dialog);
  EXPECT_EQ(out.notify->header("Event"), "conference;id=2");
  EXPECT_EQ(dialog->usages().size(), 2u);

  // Ending id=1 leaves id=2 alive, and the dialog with it.
  out = notifier_.on_subscribe(dialogs_, subscribe(3, "Event: conference;id=1\nExpires: 0\n", tag),
                               t0);
  EXPECT_TRUE(out.terminated);
  dialogs_.collect_garbage();
  ASSERT_EQ(dialogs_.size(), 1u);
  EXPECT_NE(find_subscription(*dialog, "conference", "2"), nullptr);
  EXPECT_EQ(find_subscription(*dialog, "conference", "1"), nullptr);
  // Unsubscribing what does not exist → 481.
  out = notifier_.on_subscribe(dialogs_, subscribe(4, "Event: conference;id=9\nExpires: 0\n", tag),
                               t0);
  EXPECT_EQ(out.response.status(), 481);
}

TEST_F(NotifierTest, SubscribeInUnknownDialogIs481AndStaleCSeqIs500) {
  auto out =
      notifier_.on_subscribe(dialogs_, subscribe(5, "Event: conference\n", "no-such-tag"), {});
  EXPECT_EQ(out.response.status(), 481);
  out = notifier_.on_subscribe(dialogs_, subscribe(5, "Event: conference\n"), {});
  const std::string tag(out.response.to().tag());
  out = notifier_.on_subscribe(dialogs_, subscribe(4, "Event: conference\n", tag), {});
  EXPECT_EQ(out.response.status(), 500);
  EXPECT_EQ(out.response.reason_phrase(), "CSeq out of order");
}

TEST_F(NotifierTest, RejectedSubscriberGetsNoDialog) {
  std::string text(subscribe(1, "Event: conference\n").serialize());
  text.replace(text.find("carol@example.com"), 5, "mallory");
  auto parsed = Message::parse(text);
  ASSERT_TRUE(parsed.ok());
  auto out = notifier_.on_subscribe(dialogs_, *parsed, {});
  EXPECT_EQ(out.response.status(), 403);
  EXPECT_FALSE(out.notify);
  EXPECT_TRUE(dialogs_.empty());
}

TEST_F(NotifierTest, PendingThenActivated) {
  std::string text(subscribe(1, "Event: conference\nExpires: 600\n").serialize());
  text.replace(text.find("carol@example.com"), 5, "dave");
  auto parsed = Message::parse(text);
  ASSERT_TRUE(parsed.ok());
  const TimePoint t0{};
  auto out = notifier_.on_subscribe(dialogs_, *parsed, t0);
  EXPECT_EQ(out.response.status(), 200);
  ASSERT_TRUE(out.notify);
  EXPECT_EQ(out.notify->header("Subscription-State"), "pending;expires=600");
  EXPECT_TRUE(out.notify->body().empty());
  ASSERT_NE(out.subscription, nullptr);
  EXPECT_EQ(out.subscription->status(), SubscriptionStatus::kPending);
  EXPECT_EQ(version_, 0);  // no state was produced for an unauthorized subscriber
  EXPECT_EQ(out.notify->cseq().number, out.dialog->local_cseq());

  out.subscription->activate();
  const Message n =
      out.subscription->make_notify(*out.dialog, t0 + seconds(10), out.subscription->full_state());
  EXPECT_EQ(n.header("Subscription-State"), "active;expires=590");
  EXPECT_FALSE(n.body().empty());
}

// RFC 6665 §4.2.2: a NOTIFY answered 481 removes the subscription.
TEST_F(NotifierTest, NotifyAnswered481RemovesSubscription) {
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\n"), {});
  ASSERT_TRUE(out.notify);
  Subscription* sub = out.subscription;
  Message r481 = make_response(*out.notify, 481);
  EXPECT_TRUE(sub->on_notify_response(r481));
  dialogs_.collect_garbage();
  EXPECT_TRUE(dialogs_.empty());
}

TEST_F(NotifierTest, NotifyChallengeOrSuccessKeepsSubscription) {
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\n"), {});
  ASSERT_TRUE(out.notify);
  EXPECT_FALSE(out.subscription->on_notify_response(make_response(*out.notify, 200)));
  EXPECT_FALSE(out.subscription->on_notify_response(make_response(*out.notify, 407)));
  EXPECT_TRUE(out.subscription->on_notify_response(make_response(*out.notify, 404)));
}

// Adversarial: a NOTIFY for a subscription we do not have.
TEST_F(NotifierTest, NotifyForUnknownSubscriptionIs481) {
  const Message notify = parse(
      "NOTIFY sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP carol.example.com;branch=z9hG4bKn1\n"
      "From: <sip:carol@example.com>;tag=c1\n"
      "To: <sip:room1@focus.example.com>;tag=never-issued\n"
      "Call-ID: sub-1@carol\n"
      "CSeq: 1 NOTIFY\n"
      "Event: conference\n"
      "Subscription-State: active;expires=60\n"
      "Content-Length: 0\n\n");
  const auto match = dialogs_.match_request(notify);
  ASSERT_TRUE(match.reject);
  EXPECT_EQ(match.reject->status(), 481);
  // In a dialog that exists, but for an event it has no subscription for.
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\n"), {});
  ASSERT_NE(out.dialog, nullptr);
  EXPECT_EQ(find_subscription(*out.dialog, "dialog", ""), nullptr);
  EXPECT_EQ(find_subscription(*out.dialog, "conference", "1"), nullptr);
  EXPECT_NE(find_subscription(*out.dialog, "conference", ""), nullptr);
  // RFC 6665 §8.2.1: byte-by-byte.
  EXPECT_EQ(find_subscription(*out.dialog, "CONFERENCE", ""), nullptr);
}

TEST_F(NotifierTest, SubscriptionsForEventFindsEverySubscriberOfAPackage) {
  auto a = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: conference\n"), {});
  std::string other(subscribe(1, "Event: dialog\n").serialize());
  other.replace(other.find("sub-1@carol"), 11, "sub-2@carol");
  auto parsed = Message::parse(other);
  ASSERT_TRUE(parsed.ok());
  auto b = notifier_.on_subscribe(dialogs_, *parsed, {});
  ASSERT_EQ(a.response.status(), 200);
  ASSERT_EQ(b.response.status(), 200);
  auto refs = subscriptions_for_event(dialogs_, "conference");
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].subscription, a.subscription);
  EXPECT_EQ(refs[0].dialog, a.dialog);
  // A state change goes out as NOTIFY to each.
  const Message n =
      refs[0].subscription->make_notify(*refs[0].dialog, {}, refs[0].subscription->full_state());
  EXPECT_EQ(n.header("Event"), "conference");
  EXPECT_EQ(subscriptions_for_event(dialogs_, "dialog").size(), 1u);
  EXPECT_TRUE(subscriptions_for_event(dialogs_, "presence").empty());
}

// A participant subscribed inside its INVITE dialog hangs up: the BYE ends
// the subscription too, with a final NOTIFY.
TEST_F(NotifierTest, ByeEndsSubscriptionsSharingTheInviteDialog) {
  const Message invite = parse(
      "INVITE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP carol.example.com;branch=z9hG4bKi\n"
      "From: <sip:carol@example.com>;tag=c1\n"
      "To: <sip:room1@focus.example.com>\n"
      "Call-ID: sub-1@carol\n"
      "CSeq: 1 INVITE\n"
      "Contact: <sip:carol@198.51.100.20:5062>\n"
      "Content-Length: 0\n\n");
  auto created = Dialog::create_uas(invite, "f5", "<sip:room1@focus.example.com>", 10);
  ASSERT_TRUE(created);
  Dialog& dialog = dialogs_.insert(std::move(*created));
  auto& session = static_cast<InviteSession&>(
      dialog.add_usage(InviteSession::create_uas(invite, InviteSession::Config{})));
  session.respond(dialog, invite, 200, {}, {}, {});

  auto sub = notifier_.on_subscribe(dialogs_, subscribe(2, "Event: conference\n", "f5"), {});
  ASSERT_EQ(sub.response.status(), 200);
  EXPECT_EQ(sub.dialog, &dialog);
  EXPECT_EQ(dialog.usages().size(), 2u);

  const Message bye = parse(
      "BYE sip:room1@focus.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP carol.example.com;branch=z9hG4bKb\n"
      "From: <sip:carol@example.com>;tag=c1\n"
      "To: <sip:room1@focus.example.com>;tag=f5\n"
      "Call-ID: sub-1@carol\n"
      "CSeq: 3 BYE\n"
      "Content-Length: 0\n\n");
  ASSERT_FALSE(dialog.check_request(bye));
  auto out = session.on_request(dialog, bye, {}, random_);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status(), 200);
  ASSERT_EQ(out.final_notifies.size(), 1u);
  EXPECT_EQ(out.final_notifies[0].header("Subscription-State"), "terminated;reason=noresource");
  EXPECT_EQ(out.final_notifies[0].header("Event"), "conference");
  dialogs_.collect_garbage();
  EXPECT_TRUE(dialogs_.empty());
}

TEST(EventPackageRegistryTest, LookupIsByteByByteAndReplaces) {
  EventPackageRegistry r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.allow_events(), "");
  EventPackage conference;
  conference.name = "conference";
  r.add(conference);
  EventPackage refer;
  refer.name = "refer";
  r.add(refer);
  ASSERT_NE(r.find("conference"), nullptr);
  EXPECT_EQ(r.find("Conference"), nullptr);
  EXPECT_EQ(r.find("presence"), nullptr);
  EventPackage replacement;
  replacement.name = "conference";
  replacement.min_expires = 5;
  r.add(replacement);
  EXPECT_EQ(r.find("conference")->min_expires, 5u);
  EXPECT_EQ(r.allow_events(), "conference, refer");
}

TEST_F(NotifierTest, PackageNameInOtherCaseIsABadEvent) {
  auto out = notifier_.on_subscribe(dialogs_, subscribe(1, "Event: Conference\n"), {});
  EXPECT_EQ(out.response.status(), 489);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
