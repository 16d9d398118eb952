// Hostile input through every entry point of the dialog layer: mutated
// requests and responses (byte flips, deleted and duplicated header lines,
// truncation) that still parse must never crash the dialog, INVITE session,
// notifier or REFER code, and every message they produce must survive the
// wire (serialize → parse).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "signaling/dialog/dialog.hpp"
#include "signaling/dialog/dialog_random.hpp"
#include "signaling/dialog/dialog_set.hpp"
#include "signaling/usage/event_package.hpp"
#include "signaling/dialog/invite_session.hpp"
#include "signaling/message/message.hpp"
#include "signaling/usage/refer.hpp"
#include "signaling/usage/sipfrag.hpp"
#include "signaling/usage/subscription.hpp"

namespace chorus::sip {
namespace {

std::string crlf(std::string_view text) {
  std::string wire;
  for (char c : text) {
    if (c == '\n') wire += '\r';
    wire += c;
  }
  return wire;
}

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> kSeeds = {
      crlf("INVITE sip:room1@focus.example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK1\n"
           "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com>\n"
           "Max-Forwards: 70\n"
           "From: \"A\" <sip:alice@example.com>;tag=a1\n"
           "To: <sip:room1@focus.example.com>\n"
           "Call-ID: adv-1@alice\n"
           "CSeq: 10 INVITE\n"
           "Contact: <sip:alice@192.0.2.10>\n"
           "Supported: timer, norefersub\n"
           "Session-Expires: 120;refresher=uac\n"
           "Min-SE: 90\n"
           "Content-Type: application/sdp\n"
           "Content-Length: 10\n\n"
           "v=0\r\ns=-\r\n"),
      crlf("INVITE sip:room1@focus.example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK2\n"
           "From: <sip:alice@example.com>;tag=a1\n"
           "To: <sip:room1@focus.example.com>;tag=f1\n"
           "Call-ID: adv-1@alice\n"
           "CSeq: 11 INVITE\n"
           "Contact: <sip:alice@198.51.100.1>\n"
           "Content-Length: 0\n\n"),
      crlf("BYE sip:room1@focus.example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK3\n"
           "From: <sip:alice@example.com>;tag=a1\n"
           "To: <sip:room1@focus.example.com>;tag=f1\n"
           "Call-ID: adv-1@alice\n"
           "CSeq: 12 BYE\n"
           "Content-Length: 0\n\n"),
      crlf("UPDATE sip:room1@focus.example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK4\n"
           "From: <sip:alice@example.com>;tag=a1\n"
           "To: <sip:room1@focus.example.com>;tag=f1\n"
           "Call-ID: adv-1@alice\n"
           "CSeq: 13 UPDATE\n"
           "Session-Expires: 95\n"
           "Content-Type: application/sdp\n"
           "Content-Length: 4\n\nv=0\n"),
      crlf("ACK sip:room1@focus.example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK5\n"
           "From: <sip:alice@example.com>;tag=a1\n"
           "To: <sip:room1@focus.example.com>;tag=f1\n"
           "Call-ID: adv-1@alice\n"
           "CSeq: 10 ACK\n"
           "Content-Length: 0\n\n"),
      crlf("SUBSCRIBE sip:room1@focus.example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP carol.example.com;branch=z9hG4bK6\n"
           "From: <sip:carol@example.com>;tag=c1\n"
           "To: <sip:room1@focus.example.com>\n"
           "Call-ID: adv-2@carol\n"
           "CSeq: 1 SUBSCRIBE\n"
           "Contact: <sip:carol@198.51.100.20>\n"
           "Event: conference;id=7\n"
           "Accept: application/conference-info+xml, */*;q=0\n"
           "Expires: 600\n"
           "Content-Length: 0\n\n"),
      crlf("REFER sip:room1@focus.example.com SIP/2.0\n"
           "Via: SIP/2.0/UDP alice.example.com;branch=z9hG4bK7\n"
           "From: <sip:alice@example.com>;tag=a1\n"
           "To: <sip:room1@focus.example.com>\n"
           "Call-ID: adv-3@alice\n"
           "CSeq: 5 REFER\n"
           "Contact: <sip:alice@192.0.2.10>\n"
           "Refer-To: <sip:bob@example.net?Replaces=x%40y%3Bto-tag%3D1%3Bfrom-tag%3D2>\n"
           "Refer-Sub: false\n"
           "Content-Length: 0\n\n"),
      crlf("SIP/2.0 200 OK\n"
           "Via: SIP/2.0/UDP focus.example.com;branch=z9hG4bK8\n"
           "Record-Route: <sip:p9.example.net;lr>\n"
           "From: <sip:room1@focus.example.com>;tag=f9\n"
           "To: <sip:bob@example.net>;tag=b1\n"
           "Call-ID: out-1@focus\n"
           "CSeq: 20 INVITE\n"
           "Contact: <sip:bob@203.0.113.5>\n"
           "Session-Expires: 100;refresher=uas\n"
           "Content-Type: application/sdp\n"
           "Content-Length: 4\n\nv=0\n"),
      crlf("SIP/2.0 491 Request Pending\n"
           "Via: SIP/2.0/UDP focus.example.com;branch=z9hG4bK9\n"
           "From: <sip:room1@focus.example.com>;tag=f9\n"
           "To: <sip:bob@example.net>;tag=b1\n"
           "Call-ID: out-1@focus\n"
           "CSeq: 21 INVITE\n"
           "Min-SE: 4294967295\n"
           "Content-Length: 0\n\n"),
  };
  return kSeeds;
}

std::string mutate(const std::string& seed, std::mt19937& rng) {
  std::string s = seed;
  const int edits = 1 + static_cast<int>(rng() % 2);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    switch (rng() % 6) {
      case 0:  // flip a byte
        s[rng() % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 1: {  // delete a header line
        const size_t at = s.find("\r\n", rng() % s.size());
        if (at == std::string::npos) break;
        const size_t end = s.find("\r\n", at + 2);
        if (end != std::string::npos) s.erase(at, end - at);
        break;
      }
      case 2: {  // duplicate a header line
        const size_t at = s.find("\r\n", rng() % s.size());
        if (at == std::string::npos) break;
        const size_t end = s.find("\r\n", at + 2);
        if (end != std::string::npos) s.insert(at, s.substr(at, end - at));
        break;
      }
      case 3:  // truncate
        s.resize(rng() % s.size());
        break;
      case 4: {  // replace a digit run with a huge or odd number
        const size_t at = s.find_first_of("0123456789", rng() % s.size());
        if (at == std::string::npos) break;
        static const char* const kOdd[] = {"0", "4294967295", "4294967296", "-1", "99999999999"};
        s.replace(at, 1, kOdd[rng() % 5]);
        break;
      }
      case 5: {  // insert structural characters
        static const char kChars[] = ";,<>\"=?%@: \t";
        s.insert(rng() % s.size(), 1, kChars[rng() % (sizeof(kChars) - 1)]);
        break;
      }
    }
  }
  return s;
}

void expect_wire_safe(const Message& built) {
  Message m = built;
  // Requests leave the dialog layer without Via; the stack adds it.
  if (m.is_request()) m.prepend_header("Via", "SIP/2.0/UDP focus.example.com;branch=z9hG4bKw");
  const std::string wire = m.serialize();
  const auto reparsed = Message::parse(wire);
  // Responses we build may copy a hostile-but-parsed header verbatim; what
  // matters is that the message is still a message.
  EXPECT_TRUE(reparsed.ok()) << (reparsed.ok() ? "" : reparsed.error().reason) << "\n" << wire;
}

TEST(DialogAdversarial, MutatedMessagesNeverCrashAnyEntryPoint) {
  std::mt19937 rng(20260521);
  DialogRandom random(1);
  EventPackageRegistry packages;
  EventPackage conference;
  conference.name = "conference";
  conference.accept = {"application/conference-info+xml"};
  conference.full_state = [](const Subscription&) {
    return NotifyBody{"application/conference-info+xml", "<conference-info/>"};
  };
  packages.add(conference);
  Notifier notifier(packages, random, "<sip:room1@focus.example.com>");

  // A fixed dialog and session to feed in-dialog requests to.
  const auto invite = Message::parse(seeds()[0]);
  ASSERT_TRUE(invite.ok());
  int parsed_count = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string& seed = seeds()[rng() % seeds().size()];
    const std::string wire = i < 9 ? seeds()[static_cast<size_t>(i)] : mutate(seed, rng);
    auto parsed = Message::parse(wire);
    if (!parsed.ok()) continue;
    ++parsed_count;
    const Message& m = *parsed;
    const TimePoint now = TimePoint{} + std::chrono::seconds(i);

    DialogSet dialogs;
    auto dialog = Dialog::create_uas(*invite, "f1", "<sip:room1@focus.example.com>", 100);
    ASSERT_TRUE(dialog);
    Dialog& d = dialogs.insert(std::move(*dialog));
    auto& session = static_cast<InviteSession&>(
        d.add_usage(InviteSession::create_uas(*invite, InviteSession::Config{})));
    expect_wire_safe(session.respond(d, *invite, 200, {}, "v=0\r\n", now));

    if (m.is_request()) {
      // Out-of-dialog creation paths.
      if (auto created = Dialog::create_uas(m, random.tag(), "<sip:f@x>", 1)) {
        expect_wire_safe(created->make_request(Method::kBye));
        expect_wire_safe(created->make_ack(m.cseq().number));
      }
      (void)dialogs.find_replaces(m.header("Replaces").value_or(m.call_id()));
      (void)dialogs.find_target_dialog(m.header("Target-Dialog").value_or(""));
      // In-dialog path.
      auto match = dialogs.match_request(m);
      if (match.reject) expect_wire_safe(*match.reject);
      if (match.dialog) {
        if (auto reject = match.dialog->check_request(m)) {
          expect_wire_safe(*reject);
        } else {
          switch (m.method()) {
            case Method::kSubscribe: {
              auto out = notifier.on_subscribe(*match.dialog, m, now);
              expect_wire_safe(out.response);
              if (out.notify) expect_wire_safe(*out.notify);
              break;
            }
            case Method::kRefer: {
              auto out = accept_refer(*match.dialog, m, now);
              expect_wire_safe(out.response);
              if (out.notify) expect_wire_safe(*out.notify);
              break;
            }
            default: {
              auto out = session.on_request(*match.dialog, m, now, random);
              if (out.response) expect_wire_safe(*out.response);
              if (out.pending_invite_response) expect_wire_safe(*out.pending_invite_response);
              if (out.deliver && m.method() != Method::kAck) {
                expect_wire_safe(session.respond(*match.dialog, m, 200, {}, "v=0\r\n", now));
              }
            }
          }
        }
      }
      // Out-of-dialog SUBSCRIBE / REFER into a fresh set.
      DialogSet fresh;
      auto sub = notifier.on_subscribe(fresh, m, now);
      expect_wire_safe(sub.response);
      if (sub.notify) expect_wire_safe(*sub.notify);
      auto ref = accept_refer(fresh, m, random, "<sip:room1@focus.example.com>", now);
      expect_wire_safe(ref.response);
      if (ref.notify) expect_wire_safe(*ref.notify);
      for (auto& fired : fresh.on_deadline(now + std::chrono::hours(48))) {
        for (const Message& r : fired.actions.requests) expect_wire_safe(r);
      }
      (void)negotiate_session_timer_uas(m, SessionTimerConfig{});
      (void)parse_sipfrag_status(m.body());
    } else {
      // Responses: UAC dialog creation and the session's response handling.
      const auto our_invite =
          Message::parse(crlf("INVITE sip:bob@example.net SIP/2.0\n"
                              "Via: SIP/2.0/UDP focus.example.com;branch=z9hG4bK8\n"
                              "From: <sip:room1@focus.example.com>;tag=f9\n"
                              "To: <sip:bob@example.net>\n"
                              "Call-ID: out-1@focus\n"
                              "CSeq: 20 INVITE\n"
                              "Contact: <sip:room1@focus.example.com>\n"
                              "Content-Length: 0\n\n"));
      ASSERT_TRUE(our_invite.ok());
      if (auto uac = Dialog::create_uac(*our_invite, m)) {
        auto& s = static_cast<InviteSession&>(
            uac->add_usage(InviteSession::create_uac(*our_invite, InviteSession::Config{})));
        auto out = s.on_response(*uac, m, now, random);
        if (out.ack) expect_wire_safe(*out.ack);
        if (out.bye) expect_wire_safe(*out.bye);
        if (!s.terminated() && !s.local_invite_pending()) {
          expect_wire_safe(s.make_reinvite(*uac, "v=0\r\n"));
        }
        auto actions = uac->on_deadline(now + std::chrono::hours(1));
        for (const Message& r : actions.requests) expect_wire_safe(r);
      }
      (void)session_timer_from_response(m, 90);
    }
  }
  // The mutations must leave a good share parseable, or this test tests nothing.
  EXPECT_GT(parsed_count, 500);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
