// RFC 4475 torture test messages, read byte-exact from the shared test data.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "signaling/message/header_auth.hpp"
#include "signaling/message/header_misc.hpp"
#include "signaling/message/header_tokens.hpp"
#include "signaling/message/message.hpp"
#include "signaling/message/multipart.hpp"

namespace chorus::sip {
namespace {

std::string load(const std::string& name) {
  const std::string path =
      std::string(CHORUS_SOURCE_DIR) + "/../shared/testdata/rfc4475/" + name + ".dat";
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Message parse_valid(const std::string& name) {
  const std::string wire = load(name);
  auto result = Message::parse(wire);
  EXPECT_TRUE(result.ok()) << name << ": " << (result.ok() ? "" : result.error().reason);
  if (!result.ok()) return Message{};
  // Every valid message survives serialize -> parse with the same headers.
  const std::string again = result->serialize();
  auto reparsed = Message::parse(again);
  EXPECT_TRUE(reparsed.ok()) << name << " after serialize";
  if (reparsed.ok()) {
    EXPECT_EQ(reparsed->header_count(),
              result->header_count() - (result->has_header("Content-Length") ? 1 : 0) + 1);
    EXPECT_EQ(reparsed->body(), result->body());
    EXPECT_EQ(reparsed->call_id(), result->call_id());
  }
  return std::move(result).value();
}

ParseError parse_invalid(const std::string& name) {
  auto result = Message::parse(load(name));
  EXPECT_FALSE(result.ok()) << name << " parsed but is invalid";
  if (result.ok()) return {};
  return result.error();
}

// §3.1.1: valid messages -------------------------------------------------

TEST(Rfc4475Valid, AllValidMessagesParse) {
  for (const char* name :
       {"wsinv",  "intmeth",  "esc01",      "escnull",  "esc02",    "lwsdisp",  "longreq",
        "dblreq", "semiuri",  "transports", "mpart01",  "unreason", "noreason", "badbranch",
        "unkscm", "novelsc",  "unksm2",     "bext01",   "invut",    "regaut01", "bcast",
        "zeromf", "cparam01", "cparam02",   "regescrt", "sdp01",    "inv2543"}) {
    SCOPED_TRACE(name);
    parse_valid(name);
  }
}

TEST(Rfc4475Valid, WsinvShortTortuousInvite) {  // §3.1.1.1
  Message m = parse_valid("wsinv");
  EXPECT_EQ(m.method(), Method::kInvite);
  EXPECT_TRUE(m.request_uri().has_param("unknownparam"));
  EXPECT_EQ(m.to().uri.user, "vivekg");
  EXPECT_EQ(m.to().tag(), "1918181833n");
  EXPECT_EQ(m.from().display_name_unescaped(), "J Rosenberg \\\"");
  EXPECT_EQ(m.from().uri.user, "jdrosen");
  EXPECT_EQ(m.from().tag(), "98asjd8");
  EXPECT_EQ(m.max_forwards(), 68u);
  EXPECT_EQ(m.call_id(), "wsinv.ndaksdj@192.0.2.1");
  EXPECT_EQ(m.content_length(), 150u);
  EXPECT_EQ(m.body().size(), 150u);
  EXPECT_EQ(m.cseq().number, 9u);
  EXPECT_EQ(m.cseq().method, Method::kInvite);
  auto vias = m.vias();
  ASSERT_EQ(vias.size(), 3u);
  EXPECT_EQ(vias[0].transport, "UDP");
  EXPECT_EQ(vias[0].host, "192.0.2.2");
  EXPECT_EQ(vias[0].branch(), "390skdjuw");
  EXPECT_EQ(vias[1].transport, "TCP");
  EXPECT_EQ(vias[1].host, "spindle.example.com");
  EXPECT_EQ(vias[1].branch(), "z9hG4bK9ikj8");
  EXPECT_EQ(vias[2].host, "192.168.255.111");
  EXPECT_EQ(vias[2].branch(), "z9hG4bK30239");
  EXPECT_EQ(m.header("Subject"), "");  // "s :" with an empty value
  EXPECT_EQ(m.header("NewFangledHeader").value().substr(0, 16), "newfangled value");
  EXPECT_NE(m.header("NewFangledHeader")->find("continued newfangled value"), std::string::npos);
  auto routes = m.routes();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_TRUE(routes[0].uri.has_param("lr"));
  EXPECT_EQ(routes[0].uri.param("unknownwith"), "value");
  auto contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0].display_name_unescaped(), "Quoted string \"\"");
  EXPECT_EQ(contacts[0].param("newparam"), "newvalue");
  EXPECT_TRUE(contacts[0].has_param("secondparam"));
  EXPECT_EQ(contacts[0].param("q"), "0.33");
}

TEST(Rfc4475Valid, IntmethWideRangeOfCharacters) {  // §3.1.1.2
  Message m = parse_valid("intmeth");
  EXPECT_EQ(m.method(), Method::kUnknown);
  EXPECT_EQ(m.method_text(), "!interesting-Method0123456789_*+`.%indeed'~");
  EXPECT_EQ(m.request_uri().user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  EXPECT_EQ(m.request_uri().password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  EXPECT_EQ(m.request_uri().host, "example.com");
  EXPECT_EQ(m.top_via().branch(), "z9hG4bK-.!%66*_+`'~");
  EXPECT_EQ(m.to().display_name_unescaped(), std::string("BEL:\x07 NUL:\0 DEL:\x7f", 17));
  // Its answer echoes that To, escaped controls and all (writable_header
  // takes quoted-pairs).
  const Message answer = make_response(m, 200, {}, "t1");
  EXPECT_EQ(answer.to().display_name_unescaped(), m.to().display_name_unescaped());
  EXPECT_EQ(answer.to().tag(), "t1");
  EXPECT_EQ(m.from().display_name, "token1~` token2'+_ token3*%!.-");
  EXPECT_EQ(m.from().tag(), "_token~1'+`*%!-.");
  EXPECT_EQ(m.call_id(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  EXPECT_EQ(m.cseq().method_text, m.method_text());
  EXPECT_TRUE(m.has_header("extensionHeader-!.%*+_`'~"));
}

TEST(Rfc4475Valid, Esc01PercentEscapes) {  // §3.1.1.3
  Message m = parse_valid("esc01");
  EXPECT_EQ(m.request_uri().user_decoded(), "sips:user@example.com");
  EXPECT_EQ(m.request_uri().host, "example.net");
  EXPECT_EQ(m.to().uri.user_decoded(), "user");
  EXPECT_EQ(m.from().uri.user_decoded(), "I have spaces");
  auto contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0].uri.user_decoded(), "caller");
  EXPECT_EQ(m.content_type(), "application/sdp");  // compact "C"
}

TEST(Rfc4475Valid, EscnullAndEsc02) {  // §3.1.1.4, §3.1.1.5
  Message m = parse_valid("escnull");
  EXPECT_EQ(m.to().uri.user_decoded(), std::string("null-\0-null", 11));
  EXPECT_EQ(m.contacts().size(), 2u);
  Message e = parse_valid("esc02");
  EXPECT_EQ(e.method_text(), "RE%47IST%45R");  // not an escape in a method
  EXPECT_EQ(e.method(), Method::kUnknown);
  EXPECT_EQ(e.to().display_name, "%Z%45");
  EXPECT_EQ(e.header_values("Contact").size(), 2u);  // C%6Fntact is another header
  EXPECT_TRUE(e.has_header("C%6Fntact"));
}

TEST(Rfc4475Valid, LwsdispNoSpaceBeforeAngle) {  // §3.1.1.6
  Message m = parse_valid("lwsdisp");
  EXPECT_EQ(m.from().display_name, "caller");
  EXPECT_EQ(m.from().uri.user, "caller");
  EXPECT_EQ(m.from().tag(), "323");
}

TEST(Rfc4475Valid, LongreqLongValues) {  // §3.1.1.7
  Message m = parse_valid("longreq");
  EXPECT_GT(m.to().display_name.size(), 100u);
  EXPECT_EQ(m.to().uri.port, 6000);
  EXPECT_GT(m.from().tag().size(), 100u);
  EXPECT_GT(m.call_id().size(), 100u);
  EXPECT_GT(m.vias().size(), 30u);
  EXPECT_GT(
      m.header(
           "Unknown-"
           "LongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLongLong-Name")
          .value_or("")
          .size(),
      100u);
  EXPECT_GT(m.body().size(), 0u);
}

TEST(Rfc4475Valid, DblreqIgnoresTrailingOctets) {  // §3.1.1.8
  Message m = parse_valid("dblreq");
  EXPECT_EQ(m.method(), Method::kRegister);
  EXPECT_TRUE(m.body().empty());
  EXPECT_EQ(m.call_id(), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
}

TEST(Rfc4475Valid, SemiuriSemicolonInUser) {  // §3.1.1.9
  Message m = parse_valid("semiuri");
  EXPECT_EQ(m.request_uri().user, "user;par=u%40example.net");
  EXPECT_EQ(m.request_uri().host, "example.com");
  EXPECT_FALSE(m.request_uri().has_param("par"));
}

TEST(Rfc4475Valid, TransportsUnknownTransport) {  // §3.1.1.10
  Message m = parse_valid("transports");
  auto vias = m.vias();
  ASSERT_EQ(vias.size(), 5u);
  EXPECT_EQ(vias[0].transport, "UDP");
  EXPECT_EQ(vias[1].transport, "SCTP");
  EXPECT_EQ(vias[2].transport, "TLS");
  EXPECT_EQ(vias[3].transport, "UNKNOWN");
  EXPECT_EQ(vias[4].transport, "TCP");
  EXPECT_EQ(vias[4].host, "t5.example.com");
}

TEST(Rfc4475Valid, Mpart01Multipart) {  // §3.1.1.11
  Message m = parse_valid("mpart01");
  auto type = parse_content_type(m.content_type());
  ASSERT_TRUE(type);
  EXPECT_TRUE(type->is("multipart/mixed"));
  EXPECT_EQ(type->boundary(), "7a9cbec02ceef655");
  auto parts = parse_multipart(m.body(), type->boundary());
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].content_type(), "text/plain");
  EXPECT_EQ((*parts)[0].body, "Hello");
  EXPECT_EQ((*parts)[1].content_type(), "application/octet-stream");
  EXPECT_GT((*parts)[1].body.size(), 100u);
  EXPECT_TRUE(m.top_via().has_rport());
  EXPECT_FALSE(m.top_via().rport());
}

TEST(Rfc4475Valid, UnreasonAndNoreason) {  // §3.1.1.12, §3.1.1.13
  Message u = parse_valid("unreason");
  EXPECT_EQ(u.status(), 200);
  EXPECT_EQ(u.reason_phrase().substr(0, 15), "= 2**3 * 5**2 \xD0");
  EXPECT_EQ(u.method(), Method::kInvite);
  Message n = parse_valid("noreason");
  EXPECT_EQ(n.status(), 100);
  EXPECT_EQ(n.reason_phrase(), "");
}

TEST(Rfc4475Semantics, ApplicationLayerCasesParse) {  // §3.2, §3.3, §3.4
  EXPECT_EQ(parse_valid("badbranch").top_via().branch(), "z9hG4bK");
  EXPECT_FALSE(parse_valid("unkscm").request_uri().is_sip());  // 416 is the UAS's call
  EXPECT_EQ(parse_valid("novelsc").request_uri().scheme, "soap.beep");
  Message unksm2 = parse_valid("unksm2");
  EXPECT_EQ(unksm2.to().uri.scheme, "isbn");
  EXPECT_EQ(unksm2.from().uri.scheme, "http");
  Message bext = parse_valid("bext01");
  auto require = parse_token_list(bext.header_lines("Require").at(0));
  ASSERT_TRUE(require);
  EXPECT_FALSE(require->empty());
  Message reg = parse_valid("regaut01");
  auto auth = parse_auth_header(reg.header("Authorization").value());
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->scheme, "NoOneKnowsThisScheme");
  EXPECT_EQ(auth->param("opaque-data"), "here");
  Message bcast = parse_valid("bcast");
  EXPECT_EQ(bcast.vias().at(1).host, "255.255.255.255");
  EXPECT_EQ(parse_valid("zeromf").max_forwards(), 0u);
  Message cparam01 = parse_valid("cparam01");
  EXPECT_FALSE(cparam01.contacts().empty());
  Message cparam02 = parse_valid("cparam02");
  EXPECT_TRUE(cparam02.contacts().at(0).uri.has_param("unknownparam"));
  Message regescrt = parse_valid("regescrt");
  EXPECT_EQ(regescrt.contacts().at(0).uri.header("Route"), "<sip:sip.example.com>");
  Message inv2543 = parse_valid("inv2543");
  EXPECT_FALSE(inv2543.top_via().rfc3261_branch());
}

// §3.1.2: invalid messages -------------------------------------------------

struct Invalid {
  const char* name;
  const char* reason;
  bool answerable;
  int status;
};

TEST(Rfc4475Invalid, EachYieldsTheRightError) {
  const Invalid cases[] = {
      {"badinv01", "Bad Via", true, 400},                 // §3.1.2.1
      {"clerr", "Bad Content-Length", true, 400},         // §3.1.2.2
      {"ncl", "Bad Content-Length", true, 400},           // §3.1.2.3
      {"scalar02", "Bad CSeq", true, 400},                // §3.1.2.4
      {"scalarlg", "Bad CSeq", false, 400},               // §3.1.2.5: a response, dropped
      {"quotbal", "Bad To", true, 400},                   // §3.1.2.6
      {"ltgtruri", "Bad Request-URI", true, 400},         // §3.1.2.7
      {"lwsruri", "Bad Request-URI", true, 400},          // §3.1.2.8
      {"lwsstart", "Bad Request-Line", true, 400},        // §3.1.2.9
      {"trws", "Bad Request-Line", true, 400},            // §3.1.2.10
      {"escruri", "Bad Request-URI", true, 400},          // §3.1.2.11
      {"baddate", "Bad Date", true, 400},                 // §3.1.2.12
      {"regbadct", "Bad Contact", true, 400},             // §3.1.2.13
      {"badaspec", "Bad To", true, 400},                  // §3.1.2.14
      {"baddn", "Bad From", true, 400},                   // §3.1.2.15
      {"badvers", "Unsupported SIP Version", true, 505},  // §3.1.2.16
      {"mismatch01", "CSeq Method Mismatch", true, 400},  // §3.1.2.17
      {"mismatch02", "CSeq Method Mismatch", true, 400},  // §3.1.2.18
      {"bigcode", "Bad Status-Code", false, 400},         // §3.1.2.19
      {"insuf", "Missing Call-ID", true, 400},            // §3.3.1
      {"multi01", "Multiple CSeq", true, 400},            // §3.3.8
      {"mcl01", "Bad Content-Length", true, 400},         // §3.3.9
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ParseError e = parse_invalid(c.name);
    EXPECT_EQ(e.reason, c.reason);
    EXPECT_EQ(e.answerable, c.answerable);
    EXPECT_EQ(e.status, c.status);
    // An answerable error can actually be answered from the raw bytes.
    auto response = build_error_response(load(c.name), e, "srvtag");
    EXPECT_EQ(response.has_value(), c.answerable);
    if (response) {
      // The answer copies the request's (possibly broken) From/To/CSeq as
      // §8.2.6 says, so check its shape rather than re-parse it.
      EXPECT_TRUE(
          response->starts_with("SIP/2.0 " + std::to_string(c.status) + " " + c.reason + "\r\n"))
          << *response;
      EXPECT_NE(response->find("\r\nVia: SIP/"), std::string::npos);
      EXPECT_TRUE(response->ends_with("Content-Length: 0\r\n\r\n"));
    }
  }
}

TEST(Rfc4475Invalid, ErrorResponseCopiesTransactionHeaders) {  // RFC 3261 §8.2.6
  const std::string wire = load("mismatch01");
  auto result = Message::parse(wire);
  ASSERT_FALSE(result.ok());
  auto response = build_error_response(wire, result.error(), "abc");
  ASSERT_TRUE(response);
  auto parsed = Message::parse(*response);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->call_id(), "mismatch01.dj0234sxdfl3");
  EXPECT_EQ(parsed->cseq().number, 8u);
  EXPECT_EQ(parsed->to().tag(), "abc");
  EXPECT_EQ(parsed->from().tag(), "34525");
  EXPECT_EQ(parsed->top_via().branch(), "z9hG4bKkdjuw");
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
