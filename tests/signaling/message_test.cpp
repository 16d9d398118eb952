// sip::Message: parsing, ownership (copy/move keep views valid), mutation,
// serialization, make_response (RFC 3261 §8.2.6) and adversarial input.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "signaling/message/message.hpp"

namespace chorus::sip {
namespace {

const std::string kInvite =
    "INVITE sip:room42@conf.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport\r\n"
    "Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKabc;received=192.0.2.1\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:room42@conf.example.com>\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.10:5062;transport=udp>;+sip.instance=\"<urn:uuid:1>\"\r\n"
    "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n"
    "Supported: replaces, timer\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

Message parse_ok(std::string_view wire) {
  auto r = Message::parse(wire);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().reason);
  return r.ok() ? std::move(r).value() : Message{};
}

ParseError parse_err(std::string_view wire) {
  auto r = Message::parse(wire);
  EXPECT_FALSE(r.ok());
  return r.ok() ? ParseError{} : r.error();
}

std::string replace(std::string text, std::string_view from, std::string_view to) {
  const size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

TEST(Message, ParsesATypicalInvite) {
  Message m = parse_ok(kInvite);
  EXPECT_TRUE(m.is_request());
  EXPECT_EQ(m.method(), Method::kInvite);
  EXPECT_EQ(m.method_text(), "INVITE");
  EXPECT_EQ(m.request_uri_text(), "sip:room42@conf.example.com");
  EXPECT_EQ(m.request_uri().user, "room42");
  EXPECT_EQ(m.request_uri().host, "conf.example.com");
  EXPECT_EQ(m.call_id(), "a84b4c76e66710@pc33.example.com");
  EXPECT_EQ(m.cseq().number, 314159u);
  EXPECT_EQ(m.cseq().method, Method::kInvite);
  EXPECT_EQ(m.top_via().host, "192.0.2.10");
  EXPECT_EQ(m.top_via().port, 5062);
  EXPECT_EQ(m.top_via().branch(), "z9hG4bK776asdhds");
  EXPECT_TRUE(m.top_via().has_rport());
  EXPECT_EQ(m.vias().size(), 2u);
  EXPECT_EQ(m.vias()[1].received(), "192.0.2.1");
  EXPECT_EQ(m.from().display_name, "Alice");
  EXPECT_EQ(m.from().tag(), "1928301774");
  EXPECT_EQ(m.to().tag(), "");
  EXPECT_EQ(m.max_forwards(), 70u);
  EXPECT_EQ(m.content_length(), 4u);
  EXPECT_EQ(m.content_type(), "application/sdp");
  EXPECT_EQ(m.body(), "v=0\n");
  ASSERT_EQ(m.contacts().size(), 1u);
  EXPECT_EQ(m.contacts()[0].param("+sip.instance"), "\"<urn:uuid:1>\"");
  EXPECT_EQ(m.record_routes().size(), 2u);
  EXPECT_EQ(m.record_routes()[0].uri.host, "p2.example.com");
  EXPECT_EQ(m.header_values("Supported").size(), 2u);
  EXPECT_EQ(m.header("Supported"), "replaces");
  EXPECT_FALSE(m.header("Require"));
}

TEST(Message, HeaderNamesAreCaseInsensitiveAndCompactFormsMap) {  // RFC 3261 §7.3.3
  Message m = parse_ok(
      "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\n"
      "t: sip:a@b\r\ni: cid\r\nCSEQ: 1 OPTIONS\r\nk: timer\r\nx: 1800;refresher=uac\r\n"
      "o: conference;id=5\r\nr: <sip:c@d>\r\nb: <sip:e@f>\r\nu: dialog\r\nl: 0\r\n\r\n");
  EXPECT_EQ(m.call_id(), "cid");
  EXPECT_EQ(m.header("call-id"), "cid");
  EXPECT_EQ(m.header("CALL-ID"), "cid");
  EXPECT_EQ(m.header("I"), "cid");
  EXPECT_EQ(m.header("Supported"), "timer");
  EXPECT_EQ(m.header("Session-Expires"), "1800;refresher=uac");
  EXPECT_EQ(m.header("Event"), "conference;id=5");
  EXPECT_EQ(m.header("Refer-To"), "<sip:c@d>");
  EXPECT_EQ(m.header("Referred-By"), "<sip:e@f>");
  EXPECT_EQ(m.header("Allow-Events"), "dialog");
  EXPECT_EQ(m.content_length(), 0u);
}

TEST(Message, CommaListsSplitOutsideQuotesAndAngles) {  // RFC 3261 §7.3.1
  Message m = parse_ok(replace(kInvite, "Supported: replaces, timer\r\n",
                               "Contact: \"a, b\" <sip:x@y;p=1>, <sip:z@w>;x=\"a,b\"\r\n"
                               "Contact: sip:q@r\r\n"
                               "X-List: one, \"two, three\" , four\r\n"));
  auto contacts = m.header_values("Contact");
  ASSERT_EQ(contacts.size(), 4u);
  EXPECT_EQ(contacts[1], "\"a, b\" <sip:x@y;p=1>");
  EXPECT_EQ(contacts[2], "<sip:z@w>;x=\"a,b\"");
  EXPECT_EQ(contacts[3], "sip:q@r");
  auto x = m.header_values("x-list");
  ASSERT_EQ(x.size(), 3u);
  EXPECT_EQ(x[1], "\"two, three\"");
  // Single-valued headers and auth headers are never split.
  Message a = parse_ok(replace(kInvite, "Supported: replaces, timer\r\n",
                               "Authorization: Digest username=\"a\", realm=\"b\"\r\n"
                               "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n"));
  EXPECT_EQ(a.header("Authorization"), "Digest username=\"a\", realm=\"b\"");
  EXPECT_EQ(a.header_values("Date").size(), 1u);
}

TEST(Message, LineFoldingIsOneSpace) {  // RFC 3261 §7.3.1
  Message m = parse_ok(replace(kInvite, "Supported: replaces, timer\r\n",
                               "Subject: first\r\n   second\r\n\tthird\r\n"));
  auto subject = m.header("Subject").value();
  EXPECT_EQ(subject.substr(0, 5), "first");
  EXPECT_EQ(subject.find('\r'), std::string::npos);
  EXPECT_EQ(subject.find('\n'), std::string::npos);
  EXPECT_NE(subject.find("second"), std::string::npos);
  EXPECT_NE(subject.find("third"), std::string::npos);
}

TEST(Message, ParsesResponses) {
  Message m = parse_ok(
      "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
      "To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(m.is_response());
  EXPECT_EQ(m.status(), 180);
  EXPECT_EQ(m.reason_phrase(), "Ringing");
  EXPECT_EQ(m.method(), Method::kInvite);
  EXPECT_EQ(m.method_text(), "INVITE");
  EXPECT_EQ(m.to().tag(), "2");
}

TEST(Message, CopyKeepsViewsValidAfterTheOriginalIsGone) {  // STYLE.md §4
  auto original = std::make_unique<Message>(parse_ok(kInvite));
  Message copy(*original);
  Message assigned;
  assigned = *original;
  // Overwrite the original's buffer before destroying it, to catch aliasing.
  std::string wire = original->serialize();
  original->set_header("Call-ID", std::string(200, 'Z'));
  original.reset();
  // Reuse the freed memory with a fill pattern.
  auto junk = std::make_unique<std::string>(4096, '\xAA');
  for (const Message* m : {&copy, &assigned}) {
    EXPECT_EQ(m->call_id(), "a84b4c76e66710@pc33.example.com");
    EXPECT_EQ(m->request_uri().user, "room42");
    EXPECT_EQ(m->request_uri().host, "conf.example.com");
    EXPECT_EQ(m->from().tag(), "1928301774");
    EXPECT_EQ(m->body(), "v=0\n");
    EXPECT_EQ(m->serialize(), wire);
  }
}

TEST(Message, MoveKeepsViewsValidEvenForShortBuffers) {
  Message m = parse_ok(kInvite);
  Message moved(std::move(m));
  EXPECT_EQ(moved.request_uri().user, "room42");
  Message target;
  target = std::move(moved);
  EXPECT_EQ(target.request_uri().host, "conf.example.com");
  // A tiny built request lives in the std::string's inline (SSO) buffer.
  Message tiny = Message::request(Method::kAck, "sip:a@b");
  Message tiny_moved(std::move(tiny));
  EXPECT_EQ(tiny_moved.request_uri().user, "a");
  EXPECT_EQ(tiny_moved.request_uri().host, "b");
  Message tiny_assigned;
  tiny_assigned = std::move(tiny_moved);
  EXPECT_EQ(tiny_assigned.request_uri().host, "b");
  EXPECT_EQ(tiny_assigned.request_uri_text(), "sip:a@b");
  // Growing the buffer through mutation re-points the Request-URI too.
  for (int i = 0; i < 50; ++i) tiny_assigned.add_header("X-Pad", std::string(100, 'p'));
  EXPECT_EQ(tiny_assigned.request_uri().user, "a");
  EXPECT_EQ(tiny_assigned.request_uri().host, "b");
}

TEST(Message, SerializeParseRoundTrip) {
  Message m = parse_ok(kInvite);
  const std::string wire = m.serialize();
  Message again = parse_ok(wire);
  EXPECT_EQ(again.serialize(), wire);
  EXPECT_EQ(again.header_count(), m.header_count());
  for (size_t i = 0; i < m.header_count(); ++i) {
    EXPECT_EQ(again.header_at(i), m.header_at(i));
  }
  EXPECT_EQ(again.body(), m.body());
}

TEST(Message, BuildsRequestsWithCorrectContentLength) {
  Message m = Message::request(Method::kInvite, "sip:room@conf.example.com");
  m.add_header("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx1");
  m.add_header("From", "<sip:focus@conf.example.com>;tag=f1");
  m.add_header("To", "<sip:bob@example.com>");
  m.add_header("Call-ID", "c1");
  m.add_header("CSeq", "1 INVITE");
  m.add_header("Max-Forwards", "70");
  m.add_header("Content-Length", "999");  // stale: serialize() must fix it
  m.set_body("application/sdp", "v=0\r\ns=-\r\n");
  const std::string wire = m.serialize();
  EXPECT_TRUE(wire.starts_with("INVITE sip:room@conf.example.com SIP/2.0\r\n"));
  EXPECT_NE(wire.find("Content-Length: 10\r\n\r\nv=0\r\ns=-\r\n"), std::string::npos);
  EXPECT_EQ(wire.find("999"), std::string::npos);
  Message parsed = parse_ok(wire);
  EXPECT_EQ(parsed.body(), "v=0\r\ns=-\r\n");
  EXPECT_EQ(parsed.content_type(), "application/sdp");
  EXPECT_EQ(parsed.method(), Method::kInvite);
}

TEST(Message, MutationSetRemovePrependAndViaParams) {  // RFC 3581 §4, RFC 3261 §18.2.1
  Message m = parse_ok(kInvite);
  m.set_top_via_param("received", "198.51.100.7");
  m.set_top_via_param("rport", "40000");
  Via top = m.top_via();
  EXPECT_EQ(top.received(), "198.51.100.7");
  EXPECT_EQ(top.rport(), 40000);
  EXPECT_EQ(top.branch(), "z9hG4bK776asdhds");
  EXPECT_EQ(m.vias().size(), 2u);
  EXPECT_EQ(m.vias()[1].host, "proxy.example.com");
  m.prepend_header("Via", "SIP/2.0/UDP focus.example.com;branch=z9hG4bKnew");
  EXPECT_EQ(m.top_via().host, "focus.example.com");
  EXPECT_EQ(m.vias().size(), 3u);
  m.remove_first_value("Via");
  EXPECT_EQ(m.top_via().host, "192.0.2.10");
  m.remove_first_value("Record-Route");
  ASSERT_EQ(m.record_routes().size(), 1u);
  EXPECT_EQ(m.record_routes()[0].uri.host, "p1.example.com");
  m.set_header("Max-Forwards", "69");
  EXPECT_EQ(m.max_forwards(), 69u);
  m.remove_header("supported");
  EXPECT_FALSE(m.has_header("Supported"));
  m.set_request_uri("sip:other@conf.example.com");
  EXPECT_EQ(m.request_uri().user, "other");
  Message again = parse_ok(m.serialize());
  EXPECT_EQ(again.top_via().rport(), 40000);
  EXPECT_EQ(again.max_forwards(), 69u);
  EXPECT_EQ(again.request_uri().user, "other");
}

// A value decoded from a URI's ?headers (or copied from a peer) that holds
// CR or LF would end our header line and start another, or over TCP a second
// request: such a name or value is refused and the message left as it was.
TEST(Message, HeaderWritesRefuseNamesAndValuesThatWouldInjectLines) {  // RFC 3261 §7.3, §25.1
  const std::string smuggled =
      "x\r\nContent-Length: 0\r\n\r\nBYE sip:room42@conf.example.com SIP/2.0\r\nVia: a";
  // Subject is new to kInvite; Supported replaces (set_header) one it has.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"Subject", smuggled},
      {"Supported", smuggled},
      {"Subject", "x\ny"},
      {"Subject", "x\ry"},
      {"Supported", std::string("x\0y", 3)},
      {"Subject", "x\x01y"},
      {"Subject", "x\x7fy"},
      {"Subject\r\nX", "y"},
      {"Sub ject", "y"},
      {"Subject:", "y"},
      {"", "y"},
  };
  for (const auto& [name, value] : refused) {
    SCOPED_TRACE(testing::PrintToString(name) + " " + testing::PrintToString(value));
    EXPECT_FALSE(writable_header(name, value));
    Message m = parse_ok(kInvite);
    const std::string before = m.serialize();
    EXPECT_FALSE(m.add_header(name, value));
    EXPECT_FALSE(m.prepend_header(name, value));
    EXPECT_FALSE(m.set_header(name, value));
    EXPECT_EQ(m.serialize(), before);
  }
  // A quoted-pair may escape any octet but CR and LF (RFC 3261 §25.1; RFC
  // 4475 §3.1.1.2 has BEL, NUL and DEL so in a display name); outside
  // quotes a backslash escapes nothing.
  const std::string escaped =
      std::string("\"BEL:\\\x07 NUL:\\") + '\0' + " DEL:\\\x7f\" <sip:a@example.com>";
  EXPECT_TRUE(writable_header("To", escaped));
  EXPECT_FALSE(writable_header("To", "\"a\\\r\" <sip:a@example.com>"));
  EXPECT_FALSE(writable_header("To", "\"a\\\n\" <sip:a@example.com>"));
  EXPECT_FALSE(writable_header("To", std::string("a\\") + '\0' + " <sip:a@example.com>"));
  // HTAB, UTF-8 and surrounding white space (trimmed away) are fine.
  Message m = parse_ok(kInvite);
  EXPECT_TRUE(m.add_header("Subject", "caf\xc3\xa9\tand tea"));
  EXPECT_TRUE(m.set_header("X-Note", "  padded\r\n"));
  EXPECT_TRUE(m.prepend_header("Priority", "urgent"));
  const Message again = parse_ok(m.serialize());
  EXPECT_EQ(again.header("Subject"), "caf\xc3\xa9\tand tea");
  EXPECT_EQ(again.header("X-Note"), "padded");
  EXPECT_EQ(again.header_count(), parse_ok(kInvite).header_count() + 3);
  EXPECT_EQ(again.method(), Method::kInvite);
}

TEST(Message, EmptyListElementsAreSkipped) {  // found by fuzz_sip_message
  Message m =
      parse_ok(replace(kInvite, "Via: SIP/2.0/UDP 192.0.2.10", "Via: , ,SIP/2.0/UDP 192.0.2.10"));
  EXPECT_EQ(m.top_via().host, "192.0.2.10");
  EXPECT_EQ(m.header("Via").value().substr(0, 11), "SIP/2.0/UDP");
  m.set_top_via_param("received", "203.0.113.5");
  Message again = parse_ok(m.serialize());
  EXPECT_EQ(again.top_via().received(), "203.0.113.5");
  EXPECT_EQ(again.vias().size(), 2u);
  again.remove_first_value("Via");
  EXPECT_EQ(again.top_via().host, "proxy.example.com");
}

TEST(Message, MakeResponseFollowsRfc3261Section8_2_6) {
  Message req = parse_ok(replace(kInvite, "Supported: replaces, timer\r\n", "Timestamp: 54\r\n"));
  Message ok = make_response(req, 200, {}, "srv1");
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.reason_phrase(), "OK");
  ASSERT_EQ(ok.vias().size(), 2u);
  EXPECT_EQ(ok.vias()[0].branch(), "z9hG4bK776asdhds");
  EXPECT_EQ(ok.vias()[1].host, "proxy.example.com");
  EXPECT_EQ(ok.from().tag(), "1928301774");
  EXPECT_EQ(ok.to().tag(), "srv1");
  EXPECT_EQ(ok.call_id(), req.call_id());
  EXPECT_EQ(ok.cseq().number, 314159u);
  EXPECT_EQ(ok.method(), Method::kInvite);
  EXPECT_EQ(ok.record_routes().size(), 2u);  // §12.1.1
  EXPECT_FALSE(ok.has_header("Timestamp"));
  EXPECT_TRUE(parse_ok(ok.serialize()).is_response());

  Message trying = make_response(req, 100, {}, "srv1");
  EXPECT_EQ(trying.reason_phrase(), "Trying");
  EXPECT_EQ(trying.to().tag(), "");  // §8.2.6.1: no tag on 100
  EXPECT_EQ(trying.header("Timestamp"), "54");
  EXPECT_FALSE(trying.has_header("Record-Route"));

  Message busy = make_response(req, 486, "Busy Here Now", "srv1");
  EXPECT_EQ(busy.reason_phrase(), "Busy Here Now");
  EXPECT_FALSE(busy.has_header("Record-Route"));  // not for failures

  // An existing To tag (in-dialog request) is kept, never doubled.
  Message in_dialog = parse_ok(replace(kInvite, "To: <sip:room42@conf.example.com>",
                                       "To: <sip:room42@conf.example.com>;tag=old"));
  EXPECT_EQ(make_response(in_dialog, 200, {}, "new").to().tag(), "old");
  // Non-dialog-creating requests never copy Record-Route.
  Message options = parse_ok(
      replace(replace(kInvite, "INVITE sip:", "OPTIONS sip:"), "314159 INVITE", "314159 OPTIONS"));
  EXPECT_FALSE(make_response(options, 200, {}, "t").has_header("Record-Route"));
}

TEST(Message, DefaultReasons) {
  EXPECT_EQ(default_reason(200), "OK");
  EXPECT_EQ(default_reason(481), "Call/Transaction Does Not Exist");
  EXPECT_EQ(default_reason(513), "Message Too Large");
  EXPECT_EQ(default_reason(299), "Unknown");
}

// --- adversarial input -----------------------------------------------------

TEST(MessageAdversarial, TruncatedMessagesAreRejectedWithoutCrashing) {
  // Every prefix of a valid message either parses (only once the headers
  // that matter are complete) or fails cleanly; ASan watches the reads.
  const size_t after_length = kInvite.find("Content-Length: 4\r\n") + 19;
  for (size_t n = 0; n < kInvite.size(); ++n) {
    auto r = Message::parse(std::string_view(kInvite).substr(0, n));
    if (n >= after_length) {
      EXPECT_FALSE(r.ok()) << n;  // the body is shorter than Content-Length
    } else if (r.ok()) {
      // Cut inside the headers: what parsed must be self-consistent.
      EXPECT_LE(r->body().size(), n);
      EXPECT_TRUE(Message::parse(r->serialize()).ok()) << n;
    }
  }
}

TEST(MessageAdversarial, ShortBodyIsBadContentLength) {  // §18.3
  auto e = parse_err(replace(kInvite, "Content-Length: 4", "Content-Length: 5"));
  EXPECT_EQ(e.reason, "Bad Content-Length");
  EXPECT_TRUE(e.answerable);
  // A longer datagram is truncated to Content-Length.
  Message m = parse_ok(kInvite + "garbage");
  EXPECT_EQ(m.body(), "v=0\n");
}

TEST(MessageAdversarial, NumbersThatOverflowOrAreNegative) {
  EXPECT_EQ(parse_err(replace(kInvite, "Content-Length: 4", "Content-Length: -4")).reason,
            "Bad Content-Length");
  EXPECT_EQ(parse_err(replace(kInvite, "Content-Length: 4", "Content-Length: 4294967300")).reason,
            "Bad Content-Length");
  EXPECT_EQ(parse_err(replace(kInvite, "314159 INVITE", "4294967296 INVITE")).reason, "Bad CSeq");
  EXPECT_EQ(parse_err(replace(kInvite, "314159 INVITE", "-1 INVITE")).reason, "Bad CSeq");
  EXPECT_EQ(parse_err(replace(kInvite, "314159 INVITE", "1INVITE")).reason, "Bad CSeq");
  EXPECT_EQ(parse_ok(replace(kInvite, "314159 INVITE", "4294967295 INVITE")).cseq().number,
            4294967295u);
  EXPECT_EQ(parse_err(replace(kInvite, "Max-Forwards: 70", "Max-Forwards: 256")).reason,
            "Bad Max-Forwards");
  EXPECT_EQ(parse_err(replace(kInvite, "Max-Forwards: 70", "Max-Forwards: 7a")).reason,
            "Bad Max-Forwards");
  EXPECT_EQ(parse_err(replace(kInvite, ":5062;", ":65536;")).reason, "Bad Via");
  auto code = Message::parse("SIP/2.0 1000 Big\r\nVia: SIP/2.0/UDP h\r\n\r\n");
  ASSERT_FALSE(code.ok());
  EXPECT_FALSE(code.error().answerable);
}

TEST(MessageAdversarial, UnterminatedQuotesAndAngles) {
  EXPECT_EQ(parse_err(replace(kInvite, "\"Alice\" <", "\"Alice <")).reason, "Bad From");
  EXPECT_EQ(parse_err(replace(kInvite, "<sip:alice@example.com>", "<sip:alice@example.com")).reason,
            "Bad From");
  EXPECT_EQ(parse_err(replace(kInvite, "<sip:p1.example.com;lr>", "<sip:p1.example.com;lr")).reason,
            "Bad Record-Route");
  EXPECT_EQ(parse_err(replace(kInvite, "\"<urn:uuid:1>\"", "\"<urn:uuid:1>")).reason,
            "Bad Contact");
  EXPECT_EQ(parse_err(replace(kInvite, "tag=1928301774", "tag=\"19283")).reason, "Bad From");
}

TEST(MessageAdversarial, NulBytesAndGarbage) {
  std::string with_nul = kInvite;
  with_nul[with_nul.find("Call-ID") + 3] = '\0';  // header name with a NUL
  EXPECT_EQ(parse_err(with_nul).reason, "Bad Header");
  std::string nul_in_call_id = replace(kInvite, "a84b4c76", std::string("a8\0b", 4));
  EXPECT_EQ(parse_err(nul_in_call_id).reason, "Bad Call-ID");
  EXPECT_FALSE(parse_err(std::string(100, '\0')).answerable);
  EXPECT_FALSE(parse_err("").answerable);
  EXPECT_FALSE(parse_err("\r\n\r\n").answerable);
  EXPECT_FALSE(parse_err("INVITE\r\n\r\n").answerable);
  EXPECT_FALSE(parse_err("SIP/2.0\r\n").answerable);
  EXPECT_EQ(parse_err(replace(kInvite, "Max-Forwards: 70\r\n", "NoColonHere\r\n")).reason,
            "Bad Header");
  // A raw control character in a value (a bare CR survives line splitting)
  // could not be copied into an answer: refused, and still answerable.
  for (const std::string& control :
       {std::string("\r"), std::string("\x01"), std::string("\x7f"), std::string(1, '\0')}) {
    const ParseError e =
        parse_err(replace(kInvite, "replaces, timer", "replaces," + control + "timer"));
    EXPECT_EQ(e.reason, "Bad Header");
    EXPECT_TRUE(e.answerable);
  }
  EXPECT_EQ(parse_err(replace(kInvite, "Call-ID: a84b4c76e66710@pc33.example.com\r\n", "")).reason,
            "Missing Call-ID");
  EXPECT_EQ(parse_err(replace(kInvite, "CSeq: 314159 INVITE\r\n", "")).reason, "Missing CSeq");
  auto no_via = parse_err(
      "OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
      "CSeq: 1 OPTIONS\r\n\r\n");
  EXPECT_EQ(no_via.reason, "Missing Via");
  EXPECT_FALSE(no_via.answerable);
}

TEST(MessageAdversarial, HugeHeadersAndOversizedMessages) {
  std::string huge =
      replace(kInvite, "Supported: replaces, timer", "X-Huge: " + std::string(60000, 'h'));
  Message m = parse_ok(huge);
  EXPECT_EQ(m.header("X-Huge")->size(), 60000u);
  // kMaxMessageSize + 1 bytes: refused with 513 (RFC 3261 §21.5.14), answerable.
  std::string head = replace(kInvite, "Supported: replaces, timer\r\n", "");
  head = replace(head, "Content-Length: 4\r\n\r\nv=0\n", "X-Huge: ");
  std::string too_big = head + std::string(kMaxMessageSize + 1 - head.size() - 4, 'h') + "\r\n\r\n";
  ASSERT_EQ(too_big.size(), kMaxMessageSize + 1);
  auto e = parse_err(too_big);
  EXPECT_EQ(e.status, 513);
  EXPECT_EQ(e.reason, "Message Too Large");
  EXPECT_TRUE(e.answerable);
  too_big.erase(too_big.size() - 5, 1);  // exactly kMaxMessageSize: accepted
  EXPECT_EQ(parse_ok(too_big).header("X-Huge")->size(), kMaxMessageSize - head.size() - 4);
  std::string exactly(kMaxMessageSize, 'x');
  EXPECT_NE(parse_err(exactly).status, 513);
  // Many headers overflow the inline slots into the heap, still fine.
  std::string many = kInvite;
  std::string extra;
  for (int i = 0; i < 200; ++i)
    extra += "X-H" + std::to_string(i) + ": v" + std::to_string(i) + "\r\n";
  many = replace(many, "Supported: replaces, timer\r\n", extra);
  Message mm = parse_ok(many);
  EXPECT_EQ(mm.header("x-h199"), "v199");
  EXPECT_EQ(parse_ok(mm.serialize()).header("X-H150"), "v150");
}

// kInvite with "X:" lines in place of its Supported line, `fields` header
// fields in all.
std::string invite_with_fields(size_t fields) {
  const size_t own = parse_ok(kInvite).header_count() - 1;
  std::string filler;
  for (size_t i = own; i < fields; ++i) filler += "X:\r\n";
  return replace(kInvite, "Supported: replaces, timer\r\n", filler);
}

// A 64 KiB message of "X:" lines would cost ~0.7 MB of header slots, held
// as long as its transaction: the field count is capped.
TEST(MessageAdversarial, MoreThanTheMaximumHeaderFieldsIsTooManyHeaders) {
  EXPECT_EQ(parse_ok(invite_with_fields(kMaxHeaderFields)).header_count(), kMaxHeaderFields);
  for (const size_t fields : {kMaxHeaderFields + 1, size_t{16000}}) {
    SCOPED_TRACE(fields);
    const std::string wire = invite_with_fields(fields);
    ASSERT_LE(wire.size(), kMaxMessageSize);
    const ParseError e = parse_err(wire);
    EXPECT_EQ(e.reason, "Too Many Headers");
    EXPECT_EQ(e.status, 400);
    EXPECT_TRUE(e.answerable) << "its Via comes first: it can be answered";
    const auto answer = build_error_response(wire, e, "t1");
    ASSERT_TRUE(answer.has_value());
    const Message response = parse_ok(*answer);
    EXPECT_EQ(response.status(), 400);
    EXPECT_EQ(response.reason_phrase(), "Too Many Headers");
    EXPECT_EQ(response.call_id(), "a84b4c76e66710@pc33.example.com");
  }
  // Continuation lines (§7.3.1) belong to their field: 300 of them on one
  // field leave the message at the maximum.
  std::string continuations;
  for (int i = 0; i < 300; ++i) continuations += " more\r\n";
  const std::string folded =
      replace(invite_with_fields(kMaxHeaderFields), "X:\r\n", "X: first\r\n" + continuations);
  EXPECT_EQ(parse_ok(folded).header_count(), kMaxHeaderFields);
}

TEST(MessageAdversarial, VersionAndRequestLine) {
  auto v = parse_err(replace(kInvite, "conf.example.com SIP/2.0", "conf.example.com SIP/3.0"));
  EXPECT_EQ(v.status, 505);
  EXPECT_TRUE(v.answerable);
  EXPECT_EQ(parse_err(replace(kInvite, "INVITE sip:", "INV(TE sip:")).answerable, false);
  EXPECT_EQ(
      parse_err(replace(kInvite, "sip:room42@conf.example.com SIP", "sip:room42@ SIP")).reason,
      "Bad Request-URI");
  // Methods are case-sensitive: "invite" is an unknown method, whose CSeq
  // then mismatches.
  EXPECT_EQ(parse_err(replace(kInvite, "INVITE sip:", "invite sip:")).reason,
            "CSeq Method Mismatch");
  // Leading CRLFs before the start line are ignored (§7.5).
  EXPECT_EQ(parse_ok("\r\n\r\n" + kInvite).call_id(), "a84b4c76e66710@pc33.example.com");
  // Bare LF line endings from lenient peers are tolerated.
  std::string lf = kInvite;
  for (size_t p = lf.find("\r\n"); p != std::string::npos; p = lf.find("\r\n", p)) lf.erase(p, 1);
  Message m = parse_ok(lf);
  EXPECT_EQ(m.call_id(), "a84b4c76e66710@pc33.example.com");
  EXPECT_EQ(m.body(), "v=0\n");
}

TEST(MessageAdversarial, ErrorResponseForUnanswerableInputIsNone) {
  ParseError e{"Bad Via", true, 400};
  EXPECT_FALSE(build_error_response("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", e));
  EXPECT_FALSE(build_error_response("OPTIONS sip:a@b SIP/2.0\r\nFrom: x\r\n\r\n", e));
  EXPECT_FALSE(build_error_response("", e));
  ParseError injected{"Bad\r\nX: y", true, 400};
  EXPECT_FALSE(build_error_response(kInvite, injected));
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
