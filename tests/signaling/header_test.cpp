// Typed header parsers (RFC 3261 §20, RFC 3891, RFC 3911, RFC 4538, RFC 4028,
// RFC 6665, RFC 3515, RFC 3326, RFC 7616).
#include <gtest/gtest.h>

#include "signaling/message/header_auth.hpp"
#include "signaling/message/header_cseq.hpp"
#include "signaling/message/header_dialog_ref.hpp"
#include "signaling/message/header_event.hpp"
#include "signaling/message/header_misc.hpp"
#include "signaling/message/header_name.hpp"
#include "signaling/message/header_name_addr.hpp"
#include "signaling/message/header_refer.hpp"
#include "signaling/message/header_session_timer.hpp"
#include "signaling/message/header_tokens.hpp"
#include "signaling/message/header_via.hpp"

namespace chorus::sip {
namespace {

TEST(HeaderName, CompactFormsAndCanonicalNames) {
  EXPECT_EQ(header_id("i"), HeaderId::kCallId);
  EXPECT_EQ(header_id("M"), HeaderId::kContact);
  EXPECT_EQ(header_id("x"), HeaderId::kSessionExpires);
  EXPECT_EQ(header_id("www-authenticate"), HeaderId::kWwwAuthenticate);
  EXPECT_EQ(header_id("X-Custom"), HeaderId::kOther);
  EXPECT_EQ(header_id("q"), HeaderId::kOther);
  EXPECT_EQ(header_canonical_name(HeaderId::kCSeq), "CSeq");
  EXPECT_TRUE(header_is_list(HeaderId::kVia));
  EXPECT_FALSE(header_is_list(HeaderId::kAuthorization));
  EXPECT_FALSE(header_is_list(HeaderId::kDate));
}

TEST(HeaderParams, QuotedStringsAndParamLists) {
  EXPECT_EQ(quoted_string_length("\"a\\\"b\" rest"), 6u);
  EXPECT_FALSE(quoted_string_length("\"unterminated"));
  EXPECT_FALSE(quoted_string_length("\"ends in escape\\"));
  EXPECT_EQ(unquote("\"a \\\"b\\\\\""), "a \"b\\");
  ParamList p("tag = abc ; lr;q=0.5;x=\"semi;colon\"");
  EXPECT_EQ(p.get("TAG"), "abc");
  EXPECT_EQ(p.get("lr"), "");
  EXPECT_EQ(p.get("x"), "\"semi;colon\"");
  EXPECT_FALSE(p.get("missing"));
  EXPECT_EQ(p.all().size(), 4u);
  EXPECT_TRUE(valid_params("a=1;b"));
  EXPECT_FALSE(valid_params("a=1;;b"));
  EXPECT_FALSE(valid_params("a=1;"));
  EXPECT_FALSE(valid_params("a=\"x"));
  EXPECT_FALSE(valid_params("a b=1"));
  auto list = split_comma_list(" a , \"b,c\" ,<d,e>, (f,g) h,,");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[1], "\"b,c\"");
  EXPECT_EQ((*list)[2], "<d,e>");
  EXPECT_FALSE(split_comma_list("\"a,b"));
  EXPECT_FALSE(split_comma_list("<a,b"));
  EXPECT_EQ(first_list_element("x;a=\"1,2\", y"), "x;a=\"1,2\"");
  EXPECT_EQ(parse_uint32("4294967295"), 4294967295u);
  EXPECT_FALSE(parse_uint32("4294967296"));
  EXPECT_FALSE(parse_uint32("99999999999999999999999"));
  EXPECT_FALSE(parse_uint32(""));
  EXPECT_FALSE(parse_uint32("+1"));
}

TEST(HeaderNameAddr, FormsAndHeaderParams) {  // RFC 3261 §20.10
  auto na =
      parse_name_addr("\"Bob \\\"B\\\"\" <sip:bob@example.com;transport=tcp>;tag=xyz;isfocus");
  ASSERT_TRUE(na);
  EXPECT_EQ(na->display_name_unescaped(), "Bob \"B\"");
  EXPECT_EQ(na->uri.param("transport"), "tcp");
  EXPECT_EQ(na->tag(), "xyz");
  EXPECT_TRUE(na->has_param("isfocus"));
  EXPECT_TRUE(na->angle_brackets);
  // addr-spec: params after ';' belong to the header, not the URI.
  auto spec = parse_name_addr("sip:alice@example.com;tag=88");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->tag(), "88");
  EXPECT_FALSE(spec->uri.has_param("tag"));
  EXPECT_EQ(spec->uri_text, "sip:alice@example.com");
  EXPECT_EQ(spec->to_string(), "<sip:alice@example.com>;tag=88");
  auto token_name = parse_name_addr("Alice Smith <sip:a@b>");
  ASSERT_TRUE(token_name);
  EXPECT_EQ(token_name->display_name, "Alice Smith");
  for (const char* bad :
       {"", "<sip:a@b", "\"x <sip:a@b>", "Bell, A <sip:a@b>", "< sip:a@b>", "<sip:a@b> junk",
        "<sip:a@b>;", "<sip:a@b>;;tag=1", "sip:a@b?x=y", "sip:a@b junk", "<>", "\"x\" sip:a@b"}) {
    EXPECT_FALSE(parse_name_addr(bad)) << bad;
  }
}

TEST(HeaderNameAddr, ContactListsWildcardAndExpires) {
  auto c =
      parse_contact("<sip:a@b>;expires=60;q=0.5, \"X\" <sip:c@d>;+sip.instance=\"<urn:uuid:0>\"");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->wildcard);
  ASSERT_EQ(c->contacts.size(), 2u);
  EXPECT_EQ(c->contacts[0].expires(), 60u);
  EXPECT_FALSE(c->contacts[1].expires());
  EXPECT_TRUE(parse_contact(" * ")->wildcard);
  EXPECT_FALSE(parse_contact("<sip:a@b>, <sip:c@"));
  auto routes = parse_name_addr_list("<sip:p1.example.com;lr>,<sip:p2.example.com;lr>");
  ASSERT_TRUE(routes);
  EXPECT_EQ(routes->size(), 2u);
  EXPECT_TRUE((*routes)[1].uri.has_param("lr"));
}

TEST(HeaderVia, SentByParamsAndRport) {  // RFC 3261 §20.42, RFC 3581
  auto via =
      parse_via("SIP / 2.0 / UDP [2001:db8::1] : 5070 ; branch=z9hG4bKa ;rport;received=192.0.2.9");
  ASSERT_TRUE(via);
  EXPECT_EQ(via->protocol_name, "SIP");
  EXPECT_EQ(via->protocol_version, "2.0");
  EXPECT_EQ(via->transport, "UDP");
  EXPECT_EQ(via->host, "[2001:db8::1]");
  EXPECT_EQ(via->port, 5070);
  EXPECT_EQ(via->branch(), "z9hG4bKa");
  EXPECT_TRUE(via->rfc3261_branch());
  EXPECT_TRUE(via->has_rport());
  EXPECT_FALSE(via->rport());
  EXPECT_EQ(via->received(), "192.0.2.9");
  auto filled = parse_via("SIP/2.0/TCP h;rport=5062;branch=1");
  ASSERT_TRUE(filled);
  EXPECT_EQ(filled->rport(), 5062);
  EXPECT_FALSE(filled->rfc3261_branch());
  EXPECT_EQ(parse_via_list("SIP/2.0/UDP a, SIP/2.0/TCP b:1")->size(), 2u);
  for (const char* bad : {"", "SIP/2.0", "SIP/2.0/UDP", "SIP/2.0 UDP host", "SIP/2.0/UDP host:0",
                          "SIP/2.0/UDP host:70000", "SIP/2.0/UDP host;;branch=1",
                          "SIP/2.0/UDP ho st", "SIP/2.0/UDP [::1", "SIP/2.0/UDP host;branch=\"x"}) {
    EXPECT_FALSE(parse_via(bad)) << bad;
  }
}

TEST(HeaderCSeq, NumberAndMethod) {  // RFC 3261 §20.16
  auto c = parse_cseq(" 4711   REFER ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->number, 4711u);
  EXPECT_EQ(c->method, Method::kRefer);
  EXPECT_EQ(parse_cseq("1 FOO")->method, Method::kUnknown);
  for (const char* bad :
       {"", "1", "INVITE", "1INVITE", "-1 INVITE", "4294967296 INVITE", "1 IN VITE", "1 INV<TE"}) {
    EXPECT_FALSE(parse_cseq(bad)) << bad;
  }
}

TEST(HeaderTokens, OptionTagLists) {
  auto list = parse_token_list("replaces, Timer ,join");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 3u);
  EXPECT_TRUE(token_list_contains(*list, "timer"));
  EXPECT_FALSE(token_list_contains(*list, "100rel"));
  EXPECT_TRUE(parse_token_list("")->empty());
  EXPECT_FALSE(parse_token_list("a b"));
  EXPECT_EQ(parse_token_list("presence.winfo, conference")->size(), 2u);
}

TEST(HeaderEvent, EventAndSubscriptionState) {  // RFC 6665 §8.2
  auto e = parse_event("conference;id=42;foo");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->package, "conference");
  EXPECT_EQ(e->id(), "42");
  EXPECT_EQ(parse_event("refer")->id(), "");
  EXPECT_FALSE(parse_event(""));
  EXPECT_FALSE(parse_event("dia log"));
  auto s = parse_subscription_state("active;expires=3600");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->is_active());
  EXPECT_EQ(s->expires, 3600u);
  auto t = parse_subscription_state("terminated;reason=noresource;retry-after=30");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->is_terminated());
  EXPECT_EQ(t->reason, "noresource");
  EXPECT_EQ(t->retry_after, 30u);
  EXPECT_FALSE(parse_subscription_state("active;expires=-1"));
  EXPECT_FALSE(parse_subscription_state(""));
}

TEST(HeaderDialogRef, ReplacesJoinTargetDialog) {
  auto r = parse_replaces("425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only");
  ASSERT_TRUE(r);  // RFC 3891 §6.1
  EXPECT_EQ(r->call_id, "425928@bobster.example.org");
  EXPECT_EQ(r->to_tag, "7743");
  EXPECT_EQ(r->from_tag, "6472");
  EXPECT_TRUE(r->early_only);
}

TEST(HeaderDialogRef, MissingTagsAreErrors) {
  EXPECT_FALSE(parse_replaces("abc;to-tag=1"));
  EXPECT_FALSE(parse_replaces("abc;from-tag=1"));
  EXPECT_FALSE(parse_replaces(";to-tag=1;from-tag=2"));
  EXPECT_FALSE(parse_replaces("a b;to-tag=1;from-tag=2"));
  auto j = parse_join("12adf2f34456gs5;to-tag=12345;from-tag=54321");  // RFC 3911 §7.1
  ASSERT_TRUE(j);
  EXPECT_EQ(j->to_tag, "12345");
  EXPECT_EQ(j->from_tag, "54321");
  EXPECT_FALSE(parse_join("x;to-tag=1"));
  auto td =
      parse_target_dialog("fa77as7dad8-sd98ajzz@host.example.com;local-tag=kkaz-;remote-tag=6544");
  ASSERT_TRUE(td);  // RFC 4538 §7
  EXPECT_EQ(td->call_id, "fa77as7dad8-sd98ajzz@host.example.com");
  EXPECT_EQ(td->local_tag, "kkaz-");
  EXPECT_EQ(td->remote_tag, "6544");
  EXPECT_FALSE(parse_target_dialog("x;local-tag=1"));
  EXPECT_FALSE(parse_target_dialog("x;local-tag=\"1\";remote-tag=2"));
}

TEST(HeaderSessionTimer, SessionExpiresAndMinSE) {  // RFC 4028 §4, §5
  auto se = parse_session_expires("1800;refresher=uas");
  ASSERT_TRUE(se);
  EXPECT_EQ(se->delta, 1800u);
  EXPECT_EQ(se->refresher, SessionExpires::Refresher::kUas);
  EXPECT_EQ(parse_session_expires("90")->refresher, SessionExpires::Refresher::kNone);
  EXPECT_EQ(parse_session_expires(" 4000 ; REFRESHER = UAC ")->refresher,
            SessionExpires::Refresher::kUac);
  EXPECT_FALSE(parse_session_expires("1800;refresher=me"));
  EXPECT_FALSE(parse_session_expires("abc"));
  EXPECT_FALSE(parse_session_expires("99999999999"));
  EXPECT_EQ(parse_min_se("90"), 90u);
  EXPECT_EQ(parse_min_se("120;x=1"), 120u);
  EXPECT_FALSE(parse_min_se("-5"));
}

TEST(HeaderAuth, DigestChallengeAndCredentials) {  // RFC 7616 §3.3, §3.4
  auto c = parse_auth_header(
      "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, "
      "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scheme, "Digest");
  EXPECT_EQ(c->param("REALM"), "http-auth@example.org");
  EXPECT_EQ(c->param("qop"), "auth, auth-int");
  EXPECT_EQ(c->param("algorithm"), "SHA-256");
  EXPECT_FALSE(c->param_quoted("algorithm"));
  EXPECT_TRUE(c->param_quoted("nonce"));
  auto esc = parse_auth_header("Digest username=\"a\\\"b\\\\c\",uri=\"sip:x@y\",nc=00000001");
  ASSERT_TRUE(esc);
  EXPECT_EQ(esc->param("username"), "a\"b\\c");
  EXPECT_EQ(esc->param("nc"), "00000001");
  for (const char* bad : {"", "Digest realm", "Digest realm=\"x", "Digest realm=\"a\", realm=\"b\"",
                          "Digest a=1,", "Digest a=1,,b=2", "Digest =1", "Digest a=1 b=2"}) {
    EXPECT_FALSE(parse_auth_header(bad)) << bad;
  }
  const std::string built = format_auth_header(
      "Digest", {{"realm", "chorus"}, {"nonce", "n\"1"}, {"algorithm", "MD5", false}});
  EXPECT_EQ(built, "Digest realm=\"chorus\", nonce=\"n\\\"1\", algorithm=MD5");
  auto round = parse_auth_header(built);
  ASSERT_TRUE(round);
  EXPECT_EQ(round->param("nonce"), "n\"1");
}

TEST(HeaderRefer, ReferToForms) {  // RFC 3515, RFC 3891 §7, RFC 4579
  auto r = parse_refer_to("<sip:carol@example.com?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->replaces(), "abc@h;to-tag=1;from-tag=2");
  const std::string decoded = *r->replaces();  // the parse views into it: keep it alive
  auto replaces = parse_replaces(decoded);
  ASSERT_TRUE(replaces);
  EXPECT_EQ(replaces->call_id, "abc@h");
  EXPECT_EQ(r->method(), "INVITE");
  EXPECT_FALSE(r->is_action_urn());
  auto bye = parse_refer_to("<sip:bob@example.com;method=BYE>");
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->method(), "BYE");
  auto urn = parse_refer_to("<urn:sip-action:call:mute>");
  ASSERT_TRUE(urn);
  EXPECT_TRUE(urn->is_action_urn());
  EXPECT_EQ(urn->action(), "call:mute");
  EXPECT_TRUE(parse_refer_to("sip:x@y"));
  EXPECT_FALSE(parse_refer_to("sip:x@y?Replaces=a"));  // headers need <>
  auto by = parse_referred_by(
      "<sip:referrer@atlanta.example.com>;cid=\"20398823.2UWQFN309shb3@atlanta.example.com\"");
  ASSERT_TRUE(by);
  EXPECT_TRUE(by->param("cid"));
}

TEST(HeaderMisc, RetryAfterReasonWarningContentType) {
  auto ra = parse_retry_after("120 (I'm in a meeting) ;duration=3600");
  ASSERT_TRUE(ra);
  EXPECT_EQ(ra->seconds, 120u);
  EXPECT_EQ(ra->comment, "I'm in a meeting");
  EXPECT_EQ(ra->duration, 3600u);
  EXPECT_EQ(parse_retry_after("18000")->seconds, 18000u);
  EXPECT_FALSE(parse_retry_after("949302838503028349304023988"));  // RFC 4475 scalarlg
  EXPECT_FALSE(parse_retry_after("5 (unclosed"));
  auto reason = parse_reason("Q.850 ;cause=16 ;text=\"Terminated \\\"ok\\\"\"");
  ASSERT_TRUE(reason);
  EXPECT_EQ(reason->protocol, "Q.850");
  EXPECT_EQ(reason->cause, 16u);
  EXPECT_EQ(reason->text, "Terminated \"ok\"");
  EXPECT_FALSE(parse_reason("SIP;cause=abc"));
  auto w = parse_warning("307 isi.edu \"Session parameter 'foo' not understood\"");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->code, 307);
  EXPECT_EQ(w->agent, "isi.edu");
  EXPECT_EQ(w->text, "Session parameter 'foo' not understood");
  EXPECT_FALSE(parse_warning("1812 overture \"In Progress\""));  // RFC 4475 scalarlg
  EXPECT_FALSE(parse_warning("307 isi.edu unquoted"));
  auto ct = parse_content_type("multipart/mixed; boundary=\"simple boundary\"");
  ASSERT_TRUE(ct);
  EXPECT_TRUE(ct->is("MULTIPART/Mixed"));
  EXPECT_EQ(ct->boundary(), "simple boundary");
  EXPECT_TRUE(parse_content_type("application/sdp")->is("application/sdp"));
  EXPECT_FALSE(parse_content_type("application"));
  EXPECT_FALSE(parse_content_type("a/b;;c"));
}

// RFC 3261 §20.1 / §21.4.7: which Accept lets an SDP answer through.
TEST(Accept, MostSpecificRangeDecidesAndQZeroRefuses) {
  struct Case {
    std::vector<std::string> accept;  // one header line each; none: no Accept
    bool sdp;
  };
  const std::vector<Case> cases = {
      {{}, true},                                            // §20.1 default
      {{"application/sdp"}, true},
      {{"APPLICATION/SDP"}, true},                           // case-insensitive
      {{"text/plain"}, false},
      {{""}, false},                                         // empty: no body at all
      {{"*/*"}, true},
      {{"application/*"}, true},
      {{"application/*;q=0"}, false},
      {{"*/*;q=0.000"}, false},
      {{"application/sdp;q=0.5, application/*;q=0"}, true},  // the exact range wins
      {{"application/sdp;q=0", "*/*"}, false},
      {{"text/html", "application/sdp;level=1"}, true},      // several lines
      {{"application/sdp;q=0.001"}, true},
      {{"garbage, application/sdp"}, true},                  // a bad range is skipped
  };
  for (const Case& c : cases) {
    Message m = Message::request(Method::kInvite, "sip:room@example.com");
    std::string trace;
    for (const std::string& line : c.accept) {
      m.add_header("Accept", line);
      trace += "[" + line + "]";
    }
    SCOPED_TRACE(trace);
    EXPECT_EQ(accepts_body(m, "application", "sdp"), c.sdp);
  }
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
