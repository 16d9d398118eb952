// Stream framing for TCP/TLS (RFC 3261 §18.3).
#include <gtest/gtest.h>

#include <string>

#include "signaling/message/framing.hpp"
#include "signaling/message/message.hpp"

namespace chorus::sip {
namespace {

std::string request(std::string_view body, std::string_view length_header = {}) {
  std::string m =
      "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
      "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n";
  if (length_header.empty()) {
    m += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  } else {
    m += length_header;
  }
  m += "\r\n";
  m += body;
  return m;
}

size_t frame_ok(std::string_view buffered) {
  auto r = frame_stream_message(buffered);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().reason);
  return r.ok() ? *r : 0;
}

TEST(Framing, WholeMessageAndEveryPrefix) {
  const std::string m = request("hello world");
  EXPECT_EQ(frame_ok(m), m.size());
  for (size_t n = 0; n < m.size(); ++n) {
    EXPECT_EQ(frame_ok(std::string_view(m).substr(0, n)), 0u) << n;  // need more bytes
  }
}

TEST(Framing, CoalescedMessagesFrameOneAtATime) {
  const std::string a = request("first");
  const std::string b = request("second body");
  std::string stream = a + b + a.substr(0, 10);
  std::string_view rest(stream);
  size_t n = frame_ok(rest);
  ASSERT_EQ(n, a.size());
  EXPECT_TRUE(Message::parse(rest.substr(0, n)).ok());
  rest.remove_prefix(n);
  n = frame_ok(rest);
  ASSERT_EQ(n, b.size());
  EXPECT_EQ(Message::parse(rest.substr(0, n))->body(), "second body");
  rest.remove_prefix(n);
  EXPECT_EQ(frame_ok(rest), 0u);
}

TEST(Framing, KeepAlivesAndCompactContentLength) {  // RFC 5626 §3.5.1
  const std::string m = request("xyz", "l: 3\r\n");
  EXPECT_EQ(skip_keepalive("\r\n\r\n" + m), 4u);
  EXPECT_EQ(frame_ok("\r\n\r\n"), 0u);
  EXPECT_EQ(frame_ok("\r\n\r\n" + m), m.size() + 4);
  EXPECT_EQ(frame_ok(request("", "CONTENT-LENGTH :  0\r\n")),
            request("", "CONTENT-LENGTH :  0\r\n").size());
}

TEST(Framing, ContentLengthIsMandatoryAndValid) {
  auto missing = frame_stream_message(request("", "X-Nothing: 1\r\n"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().reason, "Missing Content-Length");
  for (const char* bad : {"Content-Length: -1\r\n", "Content-Length: abc\r\n",
                          "Content-Length: 99999999999\r\n", "Content-Length: 1\r\nl: 2\r\n"}) {
    auto r = frame_stream_message(request("", bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "Bad Content-Length") << bad;
  }
  // Equal duplicates are harmless for framing (Message::parse still refuses).
  EXPECT_TRUE(frame_stream_message(request("ab", "Content-Length: 2\r\nl: 2\r\n")).ok());
}

TEST(Framing, RefusesMoreThan64KiB) {
  auto big_body = frame_stream_message(request("", "Content-Length: 70000\r\n"));
  ASSERT_FALSE(big_body.ok());
  EXPECT_EQ(big_body.error().status, 513);
  // A header block that never ends is refused once it passes the limit.
  std::string endless = "INVITE sip:a@b SIP/2.0\r\n";
  while (endless.size() <= kMaxMessageSize)
    endless += "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  auto r = frame_stream_message(endless);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "Message Too Large");
  EXPECT_EQ(frame_ok(endless.substr(0, 1000)), 0u);
  // Exactly at the limit is fine.
  std::string head = request("", "Content-Length: 00000\r\n");
  const size_t body = kMaxMessageSize - head.size();
  std::string exact =
      request(std::string(body, 'b'), "Content-Length: " + std::to_string(body) + "\r\n");
  ASSERT_EQ(exact.size(), kMaxMessageSize);
  EXPECT_EQ(frame_ok(exact), kMaxMessageSize);
  auto over = frame_stream_message(
      request(std::string(body + 1, 'b'), "Content-Length: " + std::to_string(body + 1) + "\r\n"));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().status, 513);
}

TEST(Framing, BareLfHeaderBlock) {
  std::string m = "OPTIONS sip:a@b SIP/2.0\nContent-Length: 2\n\nok";
  EXPECT_EQ(frame_ok(m), m.size());
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
