// The focus's event packages end to end over 127.0.0.1: a subscriber Stack
// SUBSCRIBEs to a room through the focus's Stack and EventService and
// checks the NOTIFYs (RFC 6665 §4.2, RFC 4575 §4.6 versions, RFC 4235).
// The focus's timers run on a manual clock, so expiry and the talker rate
// limit take no wall time.
#include "focus/events/event_service.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include "focus/events/conference_info.hpp"
#include "focus/events/dialog_info.hpp"
#include "signaling/asio.hpp"
#include "signaling/auth/digest_server.hpp"
#include "signaling/message/header_event.hpp"
#include "signaling/message/message.hpp"
#include "signaling/stack.hpp"
#include "signaling/transaction/timer.hpp"
#include "signaling/transaction/transaction_ids.hpp"
#include "tests/focus/schema/xmllint.hpp"

namespace chorus::focus {
namespace {

namespace asio = boost::asio;
using boost::property_tree::ptree;
using sip::Message;
using sip::Method;
using namespace std::chrono_literals;

sip::StackConfig loopback() {
  sip::StackConfig config;
  config.listeners.push_back({sip::TransportKind::kUdp, "127.0.0.1", 0});
  return config;
}

ptree parse_xml(std::string_view text) {
  std::istringstream in{std::string(text)};
  ptree tree;
  boost::property_tree::read_xml(in, tree);
  return tree;
}

MemberState member(uint64_t id, const std::string& user) {
  MemberState m;
  m.id = id;
  m.entity = "sip:" + user + "@example.com";
  m.display_text = user;
  m.endpoint = m.entity + ";ep=" + std::to_string(id);
  m.dialog.call_id = "call-" + std::to_string(id);
  m.dialog.local_tag = "ft" + std::to_string(id);
  m.dialog.remote_tag = "rt" + std::to_string(id);
  m.dialog.confirmed = true;
  return m;
}

class EventServiceTest : public ::testing::Test {
 protected:
  EventServiceTest()
      : focus_(io_, loopback(), clock_),
        carol_(io_, loopback()),
        random_(7),
        service_(std::make_unique<EventService>(
            focus_, random_,
            [this](std::string_view room) -> std::optional<ConferenceState> {
              const auto it = rooms_.find(std::string(room));
              if (it == rooms_.end()) return std::nullopt;
              return it->second;
            },
            [this](const sip::ServerTransaction& tx,
                   Operation operation) -> std::optional<std::string> {
              rights_asked_.emplace_back(privilege(operation).right);
              if (tx.request().header("Authorization") == "supervisor") return "boss";
              tx.respond(403, "Forbidden", "auth-tag");
              return std::nullopt;
            })) {
    ConferenceState room;
    room.room = "room1";
    room.entity = "sip:room1@127.0.0.1";
    room.subject = "Standup";
    room.members.push_back(member(1, "alice"));
    rooms_["room1"] = room;

    focus_.start();
    carol_.start();
    sip::StackHandlers focus_handlers;
    focus_handlers.on_request = [this](const sip::ServerTransaction& tx) {
      if (service_->handle_in_dialog(tx)) return;
      if (tx.request().method() == Method::kSubscribe) {
        service_->on_subscribe(tx);
      } else {
        tx.respond(481, {}, "x");
      }
    };
    focus_.set_handlers(focus_handlers);
    sip::StackHandlers carol_handlers;
    carol_handlers.on_request = [this](const sip::ServerTransaction& tx) {
      notifies_.push_back(tx.request());
      tx.respond(sip::make_response(tx.request(), notify_answer_));
    };
    carol_.set_handlers(carol_handlers);
  }

  ~EventServiceTest() override { service_.reset(); }

  const sip::Endpoint& focus_endpoint() const { return focus_.listening().front(); }

  // A SUBSCRIBE from Carol; in-dialog when `to_tag` is given (then sent to
  // the focus's Contact, like a real subscriber does).
  Message subscribe(std::string_view event, std::optional<uint32_t> expires,
                    std::string_view to_tag = {}, std::string_view room = "room1") {
    const std::string host = "127.0.0.1:" + std::to_string(focus_endpoint().port);
    const std::string uri = to_tag.empty() ? "sip:" + std::string(room) + "@" + host : contact_;
    Message m = Message::request(Method::kSubscribe, uri);
    m.add_header("From", "<sip:carol@example.com>;tag=carol-tag");
    m.add_header("To", "<sip:" + std::string(room) + "@127.0.0.1>" +
                           (to_tag.empty() ? "" : ";tag=" + std::string(to_tag)));
    m.add_header("Call-ID", call_id_);
    m.add_header("CSeq", std::to_string(++cseq_) + " SUBSCRIBE");
    m.add_header("Contact",
                 "<sip:carol@127.0.0.1:" + std::to_string(carol_.listening().front().port) + ">");
    m.add_header("Event", event);
    if (expires) m.add_header("Expires", std::to_string(*expires));
    m.set_body({}, {});
    return m;
  }

  // Sends and waits for the final response.
  Message send(Message request) {
    std::optional<Message> final;
    carol_.send_request(std::move(request), focus_endpoint(), [&](const sip::ClientEvent& e) {
      if (e.kind == sip::ClientEvent::Kind::kResponse && e.response->status() >= 200) {
        final = *e.response;
      }
    });
    EXPECT_TRUE(run_until([&] { return final.has_value(); })) << "no final response";
    if (!final) return Message::response(0, "none");
    if (final->status() == 200 && final->has_header("Contact")) {
      const auto contacts = final->contacts();
      if (!contacts.empty()) contact_ = contacts.front().uri.to_string();
    }
    return *final;
  }

  template <class Predicate>
  bool run_until(Predicate done, std::chrono::milliseconds limit = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_for(5ms);
    }
    return true;
  }

  // NOTIFY responses the focus has received.
  uint64_t notify_answers() const {
    uint64_t count = 0;
    for (const auto& [key, n] : focus_.stats().messages.responses_received) {
      if (key.first == Method::kNotify) count += n;
    }
    return count;
  }

  // Waits for the n-th NOTIFY (1-based) and for Carol's answer to it to
  // reach the focus (so the next publish or clock step starts from a
  // settled subscription), and returns it.
  const Message& notify(size_t n) {
    EXPECT_TRUE(run_until([&] { return notifies_.size() >= n && notify_answers() >= n; }))
        << "no NOTIFY #" << n << " or no answer to it";
    if (notifies_.size() < n) {
      static const Message kNone = Message::request(Method::kNotify, "sip:none@127.0.0.1");
      return kNone;
    }
    return notifies_[n - 1];
  }

  // No further NOTIFY arrives within a short while.
  void expect_no_more_notifies(size_t count) {
    io_.run_for(60ms);
    EXPECT_EQ(notifies_.size(), count);
  }

  // A subscription is live: subscribed, first NOTIFY seen. Returns the
  // focus's tag.
  std::string subscribe_conference(uint32_t expires = 600) {
    const size_t seen = notifies_.size();
    const Message ok = send(subscribe("conference", expires));
    EXPECT_EQ(ok.status(), 200);
    notify(seen + 1);
    return std::string(ok.to().tag());
  }

  static void expect_valid(std::string_view schema, std::string_view body) {
    if (!testing::have_xmllint()) return;  // the document tests report the skip
    const auto check = testing::validate_against(schema, std::string(body));
    EXPECT_TRUE(check.valid) << check.output << "\n" << body;
  }

  static std::string version_of(const Message& n, std::string_view root) {
    return parse_xml(n.body()).get<std::string>(std::string(root) + ".<xmlattr>.version", "");
  }
  static std::string state_of(const Message& n, std::string_view root) {
    return parse_xml(n.body()).get<std::string>(std::string(root) + ".<xmlattr>.state", "");
  }

  asio::io_context io_;
  sip::ManualTimerService clock_;
  sip::Stack focus_;
  sip::Stack carol_;
  sip::DialogRandom random_;
  std::map<std::string, ConferenceState> rooms_;
  std::vector<std::string> rights_asked_;
  std::unique_ptr<EventService> service_;
  std::vector<Message> notifies_;
  int notify_answer_ = 200;
  std::string call_id_ = "sub-" + sip::make_tag();
  uint32_t cseq_ = 0;
  std::string contact_;
};

TEST_F(EventServiceTest, SubscribeFullThenPartialWithVersionPlusOneThenUnsubscribe) {
  const Message ok = send(subscribe("conference", 600));
  ASSERT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.expires(), 600u);
  const std::string tag(ok.to().tag());
  EXPECT_FALSE(tag.empty());
  EXPECT_NE(contact_.find("sip:room1@127.0.0.1:"), std::string::npos);

  // RFC 6665 §4.2.1.2: the full state right away.
  const Message first = notify(1);
  EXPECT_EQ(first.header("Event"), "conference");
  EXPECT_EQ(first.header("Subscription-State"), "active;expires=600");
  EXPECT_EQ(first.content_type(), kConferenceInfoType);
  EXPECT_EQ(first.from().tag(), tag);
  EXPECT_EQ(first.to().tag(), "carol-tag");
  EXPECT_EQ(first.call_id(), call_id_);
  EXPECT_EQ(state_of(first, "conference-info"), "full");
  EXPECT_EQ(version_of(first, "conference-info"), "1");
  const ptree full = parse_xml(first.body());
  EXPECT_EQ(full.get<std::string>("conference-info.users.user.<xmlattr>.entity"),
            "sip:alice@example.com");
  expect_valid("conference-info.xsd", first.body());
  EXPECT_EQ(service_->subscription_count("room1"), 1u);

  // Bob joins: a partial document with only Bob, version 2 (RFC 4575 §4.6).
  rooms_["room1"].members.push_back(member(2, "bob"));
  service_->publish("room1");
  const Message second = notify(2);
  EXPECT_EQ(state_of(second, "conference-info"), "partial");
  EXPECT_EQ(version_of(second, "conference-info"), "2");
  const ptree partial = parse_xml(second.body());
  EXPECT_EQ(partial.get_child("conference-info.users").count("user"), 1u);
  EXPECT_EQ(partial.get<std::string>("conference-info.users.user.<xmlattr>.entity"),
            "sip:bob@example.com");
  EXPECT_EQ(partial.get<std::string>("conference-info.conference-state.user-count"), "2");
  expect_valid("conference-info.xsd", second.body());
  EXPECT_GT(second.cseq().number, first.cseq().number);

  // Nothing it publishes changed: no NOTIFY.
  rooms_["room1"].members[0].level_dbov = -30;
  service_->publish("room1");
  expect_no_more_notifies(2);

  // Alice is muted: version 3.
  rooms_["room1"].members[0].muted = true;
  service_->publish("room1");
  EXPECT_EQ(version_of(notify(3), "conference-info"), "3");
  EXPECT_EQ(parse_xml(notify(3).body())
                .get<std::string>("conference-info.users.user.endpoint.media.status"),
            "recvonly");

  // Unsubscribe (Expires: 0): 200 and a final NOTIFY (RFC 6665 §4.2.1.3).
  const Message bye = send(subscribe("conference", 0, tag));
  EXPECT_EQ(bye.status(), 200);
  const Message last = notify(4);
  EXPECT_EQ(last.header("Subscription-State"), "terminated;reason=timeout");
  EXPECT_EQ(version_of(last, "conference-info"), "4");
  EXPECT_EQ(state_of(last, "conference-info"), "full");
  EXPECT_EQ(service_->subscription_count(), 0u);

  // The dialog is gone: a further in-dialog SUBSCRIBE is not ours.
  EXPECT_EQ(send(subscribe("conference", 600, tag)).status(), 481);
}

TEST_F(EventServiceTest, UnknownPackageGets489WithAllowEvents) {
  const Message r = send(subscribe("presence", 600));
  EXPECT_EQ(r.status(), 489);
  const std::vector<std::string_view> allow = r.header_values("Allow-Events");
  EXPECT_NE(std::find(allow.begin(), allow.end(), "conference"), allow.end());
  EXPECT_NE(std::find(allow.begin(), allow.end(), "dialog"), allow.end());
  EXPECT_EQ(service_->allow_events(), "conference, dialog");
  // Event names compare byte-exact (RFC 6665 §8.2.1).
  EXPECT_EQ(send(subscribe("Conference", 600)).status(), 489);
  expect_no_more_notifies(0);
}

TEST_F(EventServiceTest, UnknownRoomGets404) {
  EXPECT_EQ(send(subscribe("conference", 600, {}, "nosuchroom")).status(), 404);
  EXPECT_EQ(send(subscribe("dialog", 600, {}, "nosuchroom")).status(), 404);
  EXPECT_EQ(service_->subscription_count(), 0u);
  expect_no_more_notifies(0);
}

TEST_F(EventServiceTest, TooBriefExpiresGets423WithMinExpires) {
  const Message r = send(subscribe("conference", 30));
  EXPECT_EQ(r.status(), 423);
  EXPECT_EQ(r.header("Min-Expires"), "60");
  EXPECT_EQ(service_->subscription_count(), 0u);
  // Without Expires the default of 3600 s is granted (RFC 4575 §3.7).
  const Message ok = send(subscribe("conference", std::nullopt));
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.expires(), 3600u);
}

TEST_F(EventServiceTest, DialogPackageNeedsTheDialogSubscribeRight) {
  EXPECT_EQ(send(subscribe("dialog", 600)).status(), 403);
  ASSERT_EQ(rights_asked_.size(), 1u);
  EXPECT_EQ(rights_asked_[0], sip::kRightDialogSubscribe);
  EXPECT_EQ(service_->subscription_count(), 0u);
  // The conference package asks for nothing.
  subscribe_conference();
  EXPECT_EQ(rights_asked_.size(), 1u);

  call_id_ = "sub-dialog";
  Message authorised = subscribe("dialog", 600);
  authorised.add_header("Authorization", "supervisor");
  const Message ok = send(std::move(authorised));
  ASSERT_EQ(ok.status(), 200);
  const Message first = notify(2);
  EXPECT_EQ(first.header("Event"), "dialog");
  EXPECT_EQ(first.content_type(), kDialogInfoType);
  const ptree doc = parse_xml(first.body());
  EXPECT_EQ(doc.get<std::string>("dialog-info.<xmlattr>.version"), "1");
  EXPECT_EQ(doc.get<std::string>("dialog-info.dialog.<xmlattr>.call-id"), "call-1");
  EXPECT_EQ(doc.get<std::string>("dialog-info.dialog.<xmlattr>.local-tag"), "ft1");
  EXPECT_EQ(doc.get<std::string>("dialog-info.dialog.<xmlattr>.remote-tag"), "rt1");
  expect_valid("dialog-info.xsd", first.body());

  // A talker change means nothing to the dialog package; a new member
  // does: both subscriptions hear of Bob, each with its own version.
  rooms_["room1"].members[0].talking = true;
  service_->publish("room1");
  EXPECT_EQ(version_of(notify(3), "conference-info"), "2");
  expect_no_more_notifies(3);
  rooms_["room1"].members.push_back(member(2, "bob"));
  service_->publish("room1");
  notify(5);
  std::map<std::string, std::string> versions;
  for (size_t i = 3; i < 5; ++i) {
    const auto event = notifies_[i].header("Event");
    ASSERT_TRUE(event);
    versions[std::string(*event)] =
        version_of(notifies_[i], *event == "dialog" ? "dialog-info" : "conference-info");
  }
  EXPECT_EQ(versions["conference"], "3");
  EXPECT_EQ(versions["dialog"], "2");
}

TEST_F(EventServiceTest, ExpiryEndsWithTimeoutAndARefreshMovesIt) {
  const std::string tag = subscribe_conference(60);
  clock_.advance(30s);
  // Refresh (RFC 6665 §4.2.1.2): 200 and the full state again.
  const Message ok = send(subscribe("conference", 120, tag));
  EXPECT_EQ(ok.status(), 200);
  const Message refreshed = notify(2);
  EXPECT_EQ(refreshed.header("Subscription-State"), "active;expires=120");
  EXPECT_EQ(state_of(refreshed, "conference-info"), "full");
  EXPECT_EQ(version_of(refreshed, "conference-info"), "2");
  clock_.advance(60s);  // past the first expiry, within the refreshed one
  expect_no_more_notifies(2);
  EXPECT_EQ(service_->subscription_count(), 1u);
  clock_.advance(61s);
  const Message last = notify(3);
  EXPECT_EQ(last.header("Subscription-State"), "terminated;reason=timeout");
  EXPECT_EQ(service_->subscription_count(), 0u);
}

TEST_F(EventServiceTest, ANotifyAnswered481RemovesTheSubscription) {
  subscribe_conference();
  notify_answer_ = 481;
  rooms_["room1"].members.push_back(member(2, "bob"));
  service_->publish("room1");
  notify(2);
  EXPECT_TRUE(run_until([&] { return service_->subscription_count() == 0; }));
}

TEST_F(EventServiceTest, ARetryableRefusalResendsTheFullStateThenGivesUp) {
  subscribe_conference();
  notify_answer_ = 503;
  rooms_["room1"].members.push_back(member(2, "bob"));
  service_->publish("room1");
  EXPECT_EQ(state_of(notify(2), "conference-info"), "partial");
  // Bob may have been missed: after the retry delay the full state again,
  // with the next version.
  notify_answer_ = 200;
  clock_.advance(2000ms);
  const Message retry = notify(3);
  EXPECT_EQ(state_of(retry, "conference-info"), "full");
  EXPECT_EQ(version_of(retry, "conference-info"), "3");
  EXPECT_EQ(service_->subscription_count(), 1u);

  // Refused every time: dropped after three retries.
  notify_answer_ = 500;
  rooms_["room1"].members[0].muted = true;
  service_->publish("room1");
  notify(4);
  for (size_t n = 5; n <= 7; ++n) {
    clock_.advance(2000ms);
    notify(n);
  }
  EXPECT_EQ(service_->subscription_count(), 0u);
  clock_.advance(2000ms);
  expect_no_more_notifies(7);
}

TEST_F(EventServiceTest, AChallengeToANotifyEndsTheSubscription) {
  subscribe_conference();
  notify_answer_ = 401;  // we hold no credentials for the subscriber
  rooms_["room1"].members.push_back(member(2, "bob"));
  service_->publish("room1");
  notify(2);
  EXPECT_EQ(service_->subscription_count(), 0u);
}

TEST_F(EventServiceTest, AFetchGetsOneFinalNotifyWithTheState) {
  // RFC 6665 §4.4.3: Expires: 0 on a new subscription.
  const Message ok = send(subscribe("conference", 0));
  EXPECT_EQ(ok.status(), 200);
  const Message only = notify(1);
  EXPECT_EQ(only.header("Subscription-State"), "terminated;reason=timeout");
  EXPECT_EQ(state_of(only, "conference-info"), "full");
  EXPECT_EQ(service_->subscription_count(), 0u);
  rooms_["room1"].members.push_back(member(2, "bob"));
  service_->publish("room1");
  expect_no_more_notifies(1);
}

TEST_F(EventServiceTest, ChangesDuringAnOutstandingNotifyAreCoalesced) {
  subscribe_conference();
  // Three changes before the first NOTIFY's answer can arrive: Bob's join
  // goes out at once, Carol's and Dave's together once it is answered.
  rooms_["room1"].members.push_back(member(2, "bob"));
  service_->publish("room1");
  rooms_["room1"].members.push_back(member(3, "carol"));
  service_->publish("room1");
  rooms_["room1"].members.push_back(member(4, "dave"));
  service_->publish("room1");
  const Message second = notify(2);
  const Message third = notify(3);
  expect_no_more_notifies(3);
  EXPECT_EQ(version_of(second, "conference-info"), "2");
  EXPECT_EQ(parse_xml(second.body()).get_child("conference-info.users").count("user"), 1u);
  EXPECT_EQ(version_of(third, "conference-info"), "3");
  EXPECT_EQ(parse_xml(third.body()).get_child("conference-info.users").count("user"), 2u);
  expect_valid("conference-info.xsd", third.body());
}

TEST_F(EventServiceTest, TalkerUpdatesAreLimitedToOnePerInterval) {
  subscribe_conference();
  rooms_["room1"].members[0].talking = true;
  service_->publish_talkers("room1");
  notify(2);
  rooms_["room1"].members[0].talking = false;
  service_->publish_talkers("room1");
  rooms_["room1"].members.push_back(member(2, "bob"));
  rooms_["room1"].members[1].talking = true;
  service_->publish_talkers("room1");
  expect_no_more_notifies(2);  // within the second: held back
  clock_.advance(1000ms);
  const Message later = notify(3);
  const ptree doc = parse_xml(later.body());
  EXPECT_EQ(doc.get_child("conference-info.users").count("user"), 2u);  // both, in one
  expect_no_more_notifies(3);
}

// A reload that takes the right away from the account a dialog-package
// subscription was authorised with ends that subscription (reason
// rejected, RFC 6665 §4.1.3); a conference subscription, authorised by
// nobody, and accounts that keep their right are untouched.
TEST_F(EventServiceTest, ARevokedRightEndsTheDialogSubscriptionsItOpened) {
  subscribe_conference();
  call_id_ = "sub-dialog";
  Message authorised = subscribe("dialog", 600);
  authorised.add_header("Authorization", "supervisor");
  ASSERT_EQ(send(std::move(authorised)).status(), 200);
  notify(2);
  ASSERT_EQ(service_->subscription_count(), 2u);

  std::vector<std::string> asked;
  EXPECT_EQ(service_->revoke([&](std::string_view account, Operation operation) {
    asked.emplace_back(std::string(account) + " " + std::string(privilege(operation).right));
    return true;
  }),
            0u);
  EXPECT_EQ(asked, std::vector<std::string>{"boss " + std::string(sip::kRightDialogSubscribe)});
  expect_no_more_notifies(2);

  EXPECT_EQ(service_->revoke([](std::string_view, Operation) { return false; }), 1u);
  const Message ended = notify(3);
  EXPECT_EQ(ended.header("Event"), "dialog");
  EXPECT_EQ(ended.header("Subscription-State"), "terminated;reason=rejected");
  EXPECT_EQ(service_->subscription_count(), 1u);
  // Later changes reach the conference subscriber only.
  rooms_["room1"].members.push_back(member(2, "bob"));
  service_->publish("room1");
  EXPECT_EQ(notify(4).header("Event"), "conference");
  expect_no_more_notifies(4);
}

TEST_F(EventServiceTest, RoomEndedSendsNoresourceAndStopSendsDeactivated) {
  subscribe_conference();
  ConferenceState other = rooms_["room1"];
  other.room = "room2";
  other.entity = "sip:room2@127.0.0.1";
  rooms_["room2"] = other;
  call_id_ = "sub-room2";
  const Message ok = send(subscribe("conference", 600, {}, "room2"));
  ASSERT_EQ(ok.status(), 200);
  notify(2);

  rooms_.erase("room1");
  service_->room_ended("room1");
  const Message ended = notify(3);
  EXPECT_EQ(ended.header("Subscription-State"), "terminated;reason=noresource");
  const ptree doc = parse_xml(ended.body());
  EXPECT_EQ(doc.get<std::string>("conference-info.conference-state.user-count"), "0");
  expect_valid("conference-info.xsd", ended.body());
  EXPECT_EQ(service_->subscription_count(), 1u);

  service_->stop();
  const Message stopped = notify(4);
  EXPECT_EQ(stopped.header("Subscription-State"), "terminated;reason=deactivated");
  EXPECT_EQ(service_->subscription_count(), 0u);
  call_id_ = "sub-after-stop";
  EXPECT_EQ(send(subscribe("conference", 600, {}, "room2")).status(), 503);
}

TEST_F(EventServiceTest, OtherRequestsInASubscriptionDialog) {
  const std::string tag = subscribe_conference();
  Message info = subscribe("conference", 600, tag);
  info = Message::request(Method::kInfo, contact_);
  info.add_header("From", "<sip:carol@example.com>;tag=carol-tag");
  info.add_header("To", "<sip:room1@127.0.0.1>;tag=" + tag);
  info.add_header("Call-ID", call_id_);
  info.add_header("CSeq", std::to_string(++cseq_) + " INFO");
  info.set_body({}, {});
  Message bye = info;
  const Message refused = send(std::move(info));
  EXPECT_EQ(refused.status(), 405);
  EXPECT_EQ(refused.header_values("Allow"),
            (std::vector<std::string_view>{"SUBSCRIBE", "OPTIONS"}));
  bye = Message::request(Method::kBye, contact_);
  bye.add_header("From", "<sip:carol@example.com>;tag=carol-tag");
  bye.add_header("To", "<sip:room1@127.0.0.1>;tag=" + tag);
  bye.add_header("Call-ID", call_id_);
  bye.add_header("CSeq", std::to_string(++cseq_) + " BYE");
  bye.set_body({}, {});
  EXPECT_EQ(send(std::move(bye)).status(), 481);
  // A stale CSeq is refused (RFC 3261 §12.2.2), the subscription stays.
  cseq_ = 0;
  EXPECT_EQ(send(subscribe("conference", 600, tag)).status(), 500);
  EXPECT_EQ(service_->subscription_count(), 1u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
