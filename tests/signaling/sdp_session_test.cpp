// RFC 4566 line-level parsing and serialization of sdp::Session.

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "signaling/sdp/sdp_session.hpp"

namespace chorus::sdp {
namespace {

constexpr const char* kLinphoneOffer =
    "v=0\r\n"
    "o=alice 1234 678 IN IP4 192.168.1.20\r\n"
    "s=Talk\r\n"
    "c=IN IP4 192.168.1.20\r\n"
    "t=0 0\r\n"
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
    "m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=rtpmap:97 speex/16000\r\n"
    "a=fmtp:97 vbr=on\r\n"
    "a=rtpmap:98 speex/8000\r\n"
    "a=fmtp:98 vbr=on\r\n"
    "a=fmtp:18 annexb=yes\r\n"
    "a=rtpmap:101 telephone-event/48000\r\n"
    "a=rtpmap:99 telephone-event/16000\r\n"
    "a=rtpmap:100 telephone-event/8000\r\n"
    "a=rtcp-fb:* trr-int 1000\r\n"
    "a=rtcp-fb:* ccm tmmbr\r\n";

TEST(SdpSession, ParsesLinphoneLikeOffer) {
  auto parsed = Session::parse(kLinphoneOffer);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Session& s = parsed.value();
  EXPECT_EQ(s.version, 0);
  EXPECT_EQ(s.origin.username, "alice");
  EXPECT_EQ(s.origin.session_id, "1234");
  EXPECT_EQ(s.origin.session_version, 678u);
  EXPECT_EQ(s.origin.address, "192.168.1.20");
  EXPECT_EQ(s.name, "Talk");
  ASSERT_TRUE(s.connection.has_value());
  EXPECT_EQ(s.connection->address, "192.168.1.20");
  ASSERT_EQ(s.timings.size(), 1u);
  EXPECT_EQ(s.timings[0].start, 0u);
  ASSERT_EQ(s.attributes.size(), 1u);
  EXPECT_EQ(s.attributes[0].name, "rtcp-xr");
  EXPECT_EQ(*s.attributes[0].value,
            "rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics");
  ASSERT_EQ(s.media.size(), 1u);
  const Media& m = s.media[0];
  EXPECT_EQ(m.media, "audio");
  EXPECT_EQ(m.port, 7078);
  EXPECT_FALSE(m.port_count.has_value());
  EXPECT_EQ(m.proto, "RTP/AVP");
  EXPECT_EQ(m.formats,
            (std::vector<std::string>{"96", "97", "98", "0", "8", "18", "101", "99", "100"}));
  EXPECT_EQ(m.attributes.size(), 12u);
  EXPECT_EQ(m.attribute_values("rtpmap").size(), 6u);
  EXPECT_EQ(m.find_attribute("rtcp-fb")->value, "* trr-int 1000");
  EXPECT_EQ(s.connection_for(0), &*s.connection);
}

TEST(SdpSession, SerializesWithCrlfAndRoundTrips) {
  auto parsed = Session::parse(kLinphoneOffer);
  ASSERT_TRUE(parsed.ok());
  const std::string text = parsed->serialize();
  EXPECT_EQ(text, kLinphoneOffer);  // this input is already in canonical order
  auto again = Session::parse(text);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->serialize(), text);
}

TEST(SdpSession, AcceptsBareLfAndEmitsCrlf) {
  auto parsed =
      Session::parse("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->serialize(),
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n");
}

TEST(SdpSession, ParsesEveryFieldTypeOfRfc4566Section5) {
  const char* text =
      "v=0\r\n"
      "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
      "s=SDP Seminar\r\n"
      "i=A Seminar on the session description protocol\r\n"
      "u=http://www.example.com/seminars/sdp.pdf\r\n"
      "e=j.doe@example.com (Jane Doe)\r\n"
      "p=+1 617 555-6011\r\n"
      "c=IN IP4 224.2.17.12/127\r\n"
      "b=CT:128\r\n"
      "t=2873397496 2873404696\r\n"
      "r=7d 1h 0 25h\r\n"
      "z=2882844526 -1h 2898848070 0\r\n"
      "k=prompt\r\n"
      "a=recvonly\r\n"
      "m=audio 49170/2 RTP/AVP 0\r\n"
      "i=main audio\r\n"
      "c=IN IP4 224.2.17.12/127/2\r\n"
      "b=AS:64\r\n"
      "k=prompt\r\n"
      "a=ptime:20\r\n"
      "m=video 51372 RTP/AVP 99\r\n"
      "a=rtpmap:99 h263-1998/90000\r\n";
  auto parsed = Session::parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Session& s = parsed.value();
  EXPECT_EQ(*s.info, "A Seminar on the session description protocol");
  EXPECT_EQ(*s.uri, "http://www.example.com/seminars/sdp.pdf");
  ASSERT_EQ(s.emails.size(), 1u);
  ASSERT_EQ(s.phones.size(), 1u);
  EXPECT_EQ(s.connection->address, "224.2.17.12");
  EXPECT_EQ(s.connection->address_suffix, "127");
  ASSERT_EQ(s.bandwidths.size(), 1u);
  EXPECT_EQ(s.bandwidths[0].type, "CT");
  EXPECT_EQ(s.bandwidths[0].kbps, 128u);
  ASSERT_EQ(s.timings[0].repeats.size(), 1u);
  EXPECT_EQ(s.timings[0].repeats[0], "7d 1h 0 25h");
  EXPECT_EQ(*s.zone, "2882844526 -1h 2898848070 0");
  EXPECT_EQ(*s.key, "prompt");
  ASSERT_EQ(s.media.size(), 2u);
  EXPECT_EQ(*s.media[0].port_count, 2u);
  EXPECT_EQ(*s.media[0].title, "main audio");
  EXPECT_EQ(s.media[0].connections[0].address_suffix, "127/2");
  EXPECT_EQ(s.media[0].bandwidths[0].kbps, 64u);
  EXPECT_EQ(*s.media[0].key, "prompt");
  EXPECT_EQ(s.connection_for(1), &*s.connection);  // video inherits the session c=
  EXPECT_EQ(s.serialize(), text);
}

TEST(SdpSession, UnknownAttributesArePreservedInOrder) {
  const char* text =
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "a=x-vendor-thing:1 2 3\r\na=group:BUNDLE 0\r\n"
      "m=audio 4000 RTP/AVP 0\r\na=x-flag\r\na=mid:0\r\na=x-other:v\r\n";
  auto parsed = Session::parse(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->media[0].attributes[0].value.has_value());
  EXPECT_EQ(parsed->serialize(), text);
}

TEST(SdpSession, OwnsItsTextAfterTheInputIsGone) {
  std::string buffer = kLinphoneOffer;
  auto parsed = Session::parse(buffer);
  ASSERT_TRUE(parsed.ok());
  Session copy = parsed.value();
  std::memset(buffer.data(), 'X', buffer.size());  // catches hidden views into the input
  EXPECT_EQ(copy.origin.username, "alice");
  EXPECT_EQ(copy.media[0].attributes[0].value, "96 opus/48000/2");
  EXPECT_EQ(copy.serialize(), kLinphoneOffer);
}

TEST(SdpSession, ToleratesTrailingBlankLinesAndBlanks) {
  auto parsed = Session::parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4 \r\ns=x\r\nt=0 0\r\n\r\n\r\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->origin.address, "1.2.3.4");
}

TEST(SdpSession, MissingTimingSerializesAsPermanentSession) {
  auto parsed = Session::parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->serialize(), "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=x\r\nt=0 0\r\n");
}

struct BadCase {
  const char* name;
  std::string text;
  const char* expected_error;  // substring of the message
};

class SdpSessionRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(SdpSessionRejects, WithAClearError) {
  const BadCase& c = GetParam();
  auto parsed = Session::parse(c.text);
  ASSERT_FALSE(parsed.ok()) << c.name;
  EXPECT_NE(parsed.error().message.find(c.expected_error), std::string::npos)
      << c.name << ": got '" << parsed.error().message << "'";
}

const std::string kHead = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n";

std::string many_attributes(int n) {
  std::string text = kHead + "m=audio 4000 RTP/AVP 0\r\n";
  for (int i = 0; i < n; ++i) text += "a=x-attr" + std::to_string(i) + ":1\r\n";
  return text;
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, SdpSessionRejects,
    ::testing::Values(
        BadCase{"empty", "", "empty SDP"},
        BadCase{"missing v", "o=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n", "line 1 must be v=0"},
        BadCase{"version 1", "v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n", "bad v= line 1"},
        BadCase{"missing o", "v=0\r\ns=-\r\nt=0 0\r\n", "missing o= line"},
        BadCase{"missing s", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=0 0\r\n", "missing s= line"},
        BadCase{"short o", "v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", "bad o= line 2"},
        BadCase{"non-numeric version", "v=0\r\no=- 1 x IN IP4 1.2.3.4\r\ns=-\r\n", "bad o= line 2"},
        BadCase{"garbage port", kHead + "m=audio 4x00 RTP/AVP 0\r\n", "bad m= line 5: bad port"},
        BadCase{"port too big", kHead + "m=audio 65536 RTP/AVP 0\r\n", "bad m= line 5: bad port"},
        BadCase{"negative port", kHead + "m=audio -1 RTP/AVP 0\r\n", "bad m= line 5"},
        BadCase{"port count zero", kHead + "m=audio 4000/0 RTP/AVP 0\r\n", "bad port count"},
        BadCase{"no formats", kHead + "m=audio 4000 RTP/AVP\r\n", "bad m= line 5"},
        BadCase{"bad proto", kHead + "m=audio 4000 RTP//AVP 0\r\n", "bad proto"},
        BadCase{"unknown type", kHead + "x=foo\r\n", "bad x= line 5: unknown type"},
        BadCase{"upper-case type", kHead + "M=audio 4000 RTP/AVP 0\r\n", "malformed line 5"},
        BadCase{"no equals", kHead + "m audio\r\n", "malformed line 5"},
        BadCase{"space before equals", kHead + "a =x\r\n", "malformed line 5"},
        BadCase{"empty attribute", kHead + "a=\r\n", "bad a= line 5"},
        BadCase{"NUL byte", kHead + std::string("a=x\0y\r\n", 7),
                "bad a= line 5: control character"},
        BadCase{"bare CR inside", kHead + "a=x\ry\r\n", "bad a= line 5: control character"},
        BadCase{"blank line in middle", "v=0\r\n\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n",
                "empty line 2"},
        BadCase{"duplicate o", kHead + "o=- 1 1 IN IP4 1.2.3.4\r\n", "bad o= line 5"},
        BadCase{"t in media", kHead + "m=audio 4000 RTP/AVP 0\r\nt=0 0\r\n", "bad t= line 6"},
        BadCase{"bad c", kHead + "c=IN IP4\r\n", "bad c= line 5"},
        BadCase{"bad c suffix", kHead + "c=IN IP4 224.1.1.1/ttl\r\n", "bad c= line 5"},
        BadCase{"bad b", kHead + "b=AS\r\n", "bad b= line 5"},
        BadCase{"r without t", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nr=1d 1h 0\r\n",
                "r= without t="},
        BadCase{"huge line", kHead + "a=x:" + std::string(5000, 'a') + "\r\n", "line 5 too long"},
        BadCase{"huge sdp", kHead + std::string(70000, 'a'), "SDP larger than"},
        BadCase{"1000 attributes", many_attributes(1000), "too many attributes"},
        BadCase{"too many media",
                [] {
                  std::string t = kHead;
                  for (int i = 0; i < 40; ++i) t += "m=audio 4000 RTP/AVP 0\r\n";
                  return t;
                }(),
                "too many m= sections"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name;
      for (const char* p = info.param.name; *p; ++p)
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
      return name;
    });

TEST(SdpSession, AcceptsTheMaximumNumberOfAttributes) {
  auto parsed = Session::parse(many_attributes(static_cast<int>(kMaxAttributesPerSection)));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->media[0].attributes.size(), kMaxAttributesPerSection);
}

}  // namespace
}  // namespace chorus::sdp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
