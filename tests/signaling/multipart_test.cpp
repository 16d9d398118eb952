// multipart/* bodies (RFC 2046 §5.1), e.g. SDP + resource lists or
// message/sipfrag alongside SDP.
#include <gtest/gtest.h>

#include "signaling/message/multipart.hpp"

namespace chorus::sip {
namespace {

const std::string kBody =
    "This is the preamble, ignored.\r\n"
    "--boundary42\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-ID: <sdp@x>\r\n"
    "\r\n"
    "v=0\r\n"
    "s=-\r\n"
    "\r\n--boundary42 \t\r\n"
    "\r\n"
    "implicitly typed\r\n"
    "--boundary42\r\n"
    "Content-Type: application/resource-lists+xml;\r\n"
    "  charset=utf-8\r\n"
    "\r\n"
    "<list/>\r\n"
    "--boundary42--\r\n"
    "epilogue --boundary42\r\n";

TEST(Multipart, SplitsPartsWithHeaders) {
  auto parts = parse_multipart(kBody, "boundary42");
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0].content_type(), "application/sdp");
  EXPECT_EQ((*parts)[0].header("content-id"), "<sdp@x>");
  EXPECT_EQ((*parts)[0].body, "v=0\r\ns=-\r\n");  // the CRLF before -- belongs to the delimiter
  EXPECT_TRUE((*parts)[1].headers.empty());
  EXPECT_EQ((*parts)[1].body, "implicitly typed");
  EXPECT_EQ((*parts)[2].body, "<list/>");
  EXPECT_NE((*parts)[2].content_type().find("charset=utf-8"), std::string_view::npos);
  auto sdp = find_part(*parts, "APPLICATION/SDP");
  ASSERT_TRUE(sdp);
  EXPECT_EQ(sdp->body.substr(0, 3), "v=0");
  EXPECT_TRUE(find_part(*parts, "application/resource-lists+xml"));
  EXPECT_FALSE(find_part(*parts, "text/plain"));
}

TEST(Multipart, DelimiterMustStartALine) {
  const std::string body = "--b\r\n\r\nx--b inside\r\n--b--";
  auto parts = parse_multipart(body, "b");
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].body, "x--b inside");
}

TEST(Multipart, MalformedBodiesAreRefused) {
  EXPECT_FALSE(parse_multipart(kBody, ""));
  EXPECT_FALSE(parse_multipart(kBody, std::string(71, 'b')));
  EXPECT_FALSE(parse_multipart(kBody, "other"));
  EXPECT_FALSE(parse_multipart("--b\r\nContent-Type: text/plain\r\n\r\nno close", "b"));
  EXPECT_FALSE(parse_multipart("--b--\r\n", "b"));  // no parts at all
  EXPECT_FALSE(parse_multipart("--b\r\nNo colon here\r\n\r\nx\r\n--b--", "b"));
  EXPECT_FALSE(parse_multipart("--b\r\nContent-Type: a/b\r\n--b--", "b"));  // no blank line
  EXPECT_FALSE(parse_multipart("--bjunk\r\n\r\nx\r\n--b--", "b"));
  EXPECT_FALSE(parse_multipart("", "b"));
  // Every truncation of a valid body fails cleanly (or still parses when the
  // cut falls in the epilogue).
  for (size_t n = 0; n < kBody.size(); ++n) {
    auto r = parse_multipart(std::string_view(kBody).substr(0, n), "boundary42");
    if (r) {
      EXPECT_EQ(r->size(), 3u);
    }
  }
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
