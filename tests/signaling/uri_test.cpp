// SIP/SIPS/tel/absolute URIs (RFC 3261 §19.1, RFC 3966, RFC 3986).
#include <gtest/gtest.h>

#include "signaling/message/uri.hpp"

namespace chorus::sip {
namespace {

TEST(Uri, ParsesAllSipParts) {
  auto uri = parse_uri(
      "sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr;Maddr=239.255.255.1?subject="
      "project%20x&priority=urgent");
  ASSERT_TRUE(uri);
  EXPECT_TRUE(uri->is_sip());
  EXPECT_TRUE(uri->is_sips());
  EXPECT_EQ(uri->scheme, "sips");
  EXPECT_EQ(uri->user, "alice");
  EXPECT_EQ(uri->password, "secret");
  EXPECT_EQ(uri->host, "atlanta.example.com");
  EXPECT_EQ(uri->port, 5061);
  EXPECT_EQ(uri->param("transport"), "tcp");
  EXPECT_EQ(uri->param("TRANSPORT"), "tcp");  // case-insensitive names
  EXPECT_EQ(uri->param("maddr"), "239.255.255.1");
  EXPECT_EQ(uri->param("lr"), "");  // present without value
  EXPECT_TRUE(uri->has_param("lr"));
  EXPECT_FALSE(uri->param("user"));
  EXPECT_EQ(uri->header("Subject"), "project x");  // percent-decoded
  EXPECT_EQ(uri->header("priority"), "urgent");
  EXPECT_EQ(uri->headers().size(), 2u);
  EXPECT_EQ(uri->params().size(), 3u);
  EXPECT_EQ(uri->host_port(), "atlanta.example.com:5061");
  EXPECT_EQ(uri->to_string(), uri->text);
}

TEST(Uri, HostForms) {
  auto v4 = parse_uri("sip:192.0.2.1");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "192.0.2.1");
  EXPECT_EQ(v4->user, "");
  EXPECT_EQ(v4->port, 0);
  auto v6 = parse_uri("sip:bob@[2001:db8::10]:5070;transport=udp");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "[2001:db8::10]");
  EXPECT_EQ(v6->port, 5070);
  EXPECT_EQ(v6->host_port(), "[2001:db8::10]:5070");
  EXPECT_TRUE(parse_uri("sip:conf.example.com;isfocus"));
}

TEST(Uri, ReplacesEmbeddedHeaderIsDecoded) {  // RFC 3891 §7 example
  auto uri = parse_uri(
      "sip:bob@bobster.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%"
      "3D5FFE-3994");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->header("replaces"), "12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994");
  EXPECT_FALSE(uri->header("Require"));
}

TEST(Uri, TelAndOtherSchemes) {
  auto tel = parse_uri("tel:+1-201-555-0123;phone-context=example.com");
  ASSERT_TRUE(tel);
  EXPECT_TRUE(tel->is_tel());
  EXPECT_FALSE(tel->is_sip());
  EXPECT_EQ(tel->user, "+1-201-555-0123");
  EXPECT_EQ(tel->param("phone-context"), "example.com");
  auto urn = parse_uri("urn:sip-action:call:mute");
  ASSERT_TRUE(urn);
  EXPECT_EQ(urn->scheme, "urn");
  EXPECT_EQ(urn->opaque, "sip-action:call:mute");
  EXPECT_FALSE(urn->is_sip());
  EXPECT_TRUE(parse_uri("http://www.example.com/a?b=c"));
  EXPECT_FALSE(parse_uri("tel:"));
  EXPECT_FALSE(parse_uri("tel:xyz;x"));
}

TEST(Uri, RejectsMalformed) {
  for (const char* bad : {"",
                          ":",
                          "sip:",
                          "sip",
                          "1sip:a@b",
                          "sip:@host",
                          "sip:user@",
                          "sip:user@host:",
                          "sip:user@host:65536",
                          "sip:user@host:99999999999",
                          "sip:user@host:-1",
                          "sip:user@host:5a",
                          "sip:us er@host",
                          "sip:user@ho st",
                          "sip:user@host;;lr",
                          "sip:user@host;=x",
                          "sip:user@host?",
                          "sip:user@host?a",
                          "sip:user@host?=b",
                          "sip:a%2@host",
                          "sip:a%zz@host",
                          "sip:user@host%",
                          "sip:user@[::1",
                          "sip:user@[zz]",
                          "sip:a@b@c",
                          "sip:user@host\"",
                          "sip:<user@host>",
                          "sip:user@-host",
                          "sip:user@host;a=\"b\"",
                          "sip:user@host\r\n",
                          "sip:user@host;x=%"}) {
    EXPECT_FALSE(parse_uri(bad)) << bad;
  }
  std::string nul("sip:a@b\0c", 9);
  EXPECT_FALSE(parse_uri(nul));
}

TEST(Uri, PercentHelpers) {
  EXPECT_EQ(percent_decode("a%20b%3c%3E"), "a b<>");
  EXPECT_EQ(percent_decode("100%"), "100%");  // invalid escapes kept literally
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_TRUE(valid_escapes("a%41b"));
  EXPECT_FALSE(valid_escapes("a%4"));
  EXPECT_FALSE(valid_escapes("a%G1"));
}

TEST(Uri, EquivalenceFollowsRfc3261Section19_1_4) {
  auto eq = [](const char* a, const char* b) {
    auto x = parse_uri(a);
    auto y = parse_uri(b);
    EXPECT_TRUE(x && y) << a << " / " << b;
    return x && y && uri_equivalent(*x, *y);
  };
  // The RFC's equivalent pairs.
  EXPECT_TRUE(eq("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"));
  EXPECT_TRUE(eq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
  EXPECT_TRUE(eq("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"));
  EXPECT_TRUE(eq("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                 "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
  EXPECT_TRUE(eq("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                 "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));
  // The RFC's non-equivalent pairs.
  EXPECT_FALSE(eq("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"));
  EXPECT_FALSE(eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
  EXPECT_FALSE(eq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
  EXPECT_FALSE(eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
  EXPECT_FALSE(eq("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
  EXPECT_FALSE(eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
  EXPECT_FALSE(eq("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"));
  EXPECT_FALSE(eq("sip:a@b", "sips:a@b"));
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
