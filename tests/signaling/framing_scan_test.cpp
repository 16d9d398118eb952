// Stream framing across reads (RFC 3261 §18.3): a connection's framer picks
// up where the last read left off, so a peer trickling bytes costs work
// linear in what it sends, and nothing split across reads is missed; live
// on 127.0.0.1, the framer starts afresh for each message of a connection.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "signaling/asio.hpp"
#include "signaling/message/framing.hpp"
#include "signaling/message/message.hpp"
#include "signaling/transport/transport.hpp"

namespace chorus::sip {
namespace {

using boost::asio::ip::tcp;
using namespace std::chrono_literals;

std::string request(std::string_view body, std::string_view length_header = {},
                    std::string_view eol = "\r\n") {
  std::string m;
  for (std::string_view line :
       {"MESSAGE sip:a@b SIP/2.0", "Via: SIP/2.0/TCP h;branch=z9hG4bK1", "From: <sip:x@y>;tag=1",
        "To: <sip:a@b>", "Call-ID: c", "CSeq: 1 MESSAGE"}) {
    m.append(line).append(eol);
  }
  if (length_header.empty()) {
    m.append("Content-Length: " + std::to_string(body.size())).append(eol);
  } else {
    m.append(length_header).append(eol);
  }
  m.append(eol);
  m.append(body);
  return m;
}

// Header lines of padding, exactly `size` (> 100) bytes, none of them blank.
std::string padding(size_t size) {
  std::string pad;
  while (size - pad.size() > 100) pad += "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  pad += "X-Fill: " + std::string(size - pad.size() - 10, 'f') + "\r\n";
  return pad;
}

// Feeds `wire` to one framer a byte per read, as a peer sending one-byte TCP
// segments would; every read but the last must ask for more. Returns the
// last read's answer.
Result<size_t> trickle(StreamFramer& framer, std::string_view wire) {
  std::string inbox;
  for (size_t n = 1; n < wire.size(); ++n) {
    inbox += wire[n - 1];
    const Result<size_t> framed = framer.frame(inbox);
    EXPECT_TRUE(framed.ok() && *framed == 0) << "after " << n << " of " << wire.size() << " bytes";
    if (!framed.ok() || *framed != 0) return framed;
  }
  inbox += wire.back();
  return framer.frame(inbox);
}

TEST(StreamFramer, AnEndlessHeaderBlockTrickledAByteAtATimeIsSearchedInLinearTime) {
  // No blank line ever: refused (513) at the first byte past the limit.
  const std::string start_line = "INVITE sip:a@b SIP/2.0\r\n";
  const std::string wire = start_line + padding(kMaxMessageSize + 1 - start_line.size());
  ASSERT_EQ(wire.size(), kMaxMessageSize + 1);
  StreamFramer framer;
  std::string inbox;
  for (size_t n = 1; n <= kMaxMessageSize; ++n) {
    inbox += wire[n - 1];
    const size_t before = framer.bytes_examined();
    const Result<size_t> framed = framer.frame(inbox);
    ASSERT_TRUE(framed.ok() && *framed == 0) << n;
    // The new byte and the two before it, which may begin a blank line the
    // new byte completes; a rescan from the front would look at all n.
    ASSERT_LE(framer.bytes_examined() - before, 3u) << "read " << n;
  }
  inbox += wire.back();
  const Result<size_t> framed = framer.frame(inbox);
  ASSERT_FALSE(framed.ok());
  EXPECT_EQ(framed.error().status, 513);
  EXPECT_LE(framer.bytes_examined(), 3 * wire.size());
}

TEST(StreamFramer, AHeaderBlockIsParsedOnceAndItsBodyTrickledWithoutLookingAgain) {
  const std::string body(3000, 'b');
  // Padding headers bring the message to the limit exactly.
  const std::string length = "Content-Length: " + std::to_string(body.size());
  const size_t unpadded =
      request("").size() - std::string("Content-Length: 0").size() + length.size() + body.size();
  const std::string wire = request(body, padding(kMaxMessageSize - unpadded) + length);
  ASSERT_EQ(wire.size(), kMaxMessageSize);
  const size_t header_size = wire.size() - body.size();

  StreamFramer framer;
  std::string inbox;
  for (size_t n = 1; n <= header_size; ++n) {
    inbox += wire[n - 1];
    const size_t before = framer.bytes_examined();
    const Result<size_t> framed = framer.frame(inbox);
    ASSERT_TRUE(framed.ok() && *framed == 0) << n;
    // Until the blank line is complete, as for the endless block above.
    if (n < header_size) {
      ASSERT_LE(framer.bytes_examined() - before, 3u) << "read " << n;
    }
  }
  // Searched (≤ 3 looks a byte) and parsed (1) once.
  const size_t framing_headers = framer.bytes_examined();
  EXPECT_LE(framing_headers, 4 * header_size);
  for (size_t n = header_size + 1; n < wire.size(); ++n) {
    inbox += wire[n - 1];
    const Result<size_t> framed = framer.frame(inbox);
    ASSERT_TRUE(framed.ok() && *framed == 0) << n;
    ASSERT_EQ(framer.bytes_examined(), framing_headers) << "body byte " << n - header_size;
  }
  inbox += wire.back();
  const Result<size_t> framed = framer.frame(inbox);
  ASSERT_TRUE(framed.ok());
  EXPECT_EQ(*framed, wire.size());
}

TEST(StreamFramer, ABlankLineSplitAcrossReadsAtAnyPointIsFound) {
  for (std::string_view eol : {"\r\n", "\n"}) {  // LF LF from a lenient peer
    const std::string wire = request("hello", {}, eol);
    const std::string blank_line = std::string(eol) + std::string(eol);
    const size_t blank_at = wire.find(blank_line);
    ASSERT_NE(blank_at, std::string::npos);
    // Every split of the message into two reads, among them those with
    // 1..3 bytes of the CRLFCRLF in the first read.
    for (size_t split = 1; split < wire.size(); ++split) {
      SCOPED_TRACE(testing::Message()
                   << (eol.size() == 2 ? "CRLF" : "LF") << " split after " << split << " bytes ("
                   << (split > blank_at ? std::min(split - blank_at, blank_line.size()) : 0)
                   << " of the blank line)");
      StreamFramer framer;
      const Result<size_t> first = framer.frame(std::string_view(wire).substr(0, split));
      ASSERT_TRUE(first.ok() && *first == 0);
      const Result<size_t> second = framer.frame(wire);
      ASSERT_TRUE(second.ok());
      EXPECT_EQ(*second, wire.size());
    }
    // And one byte per read: the blank line spread over four reads.
    StreamFramer framer;
    const Result<size_t> framed = trickle(framer, wire);
    ASSERT_TRUE(framed.ok());
    EXPECT_EQ(*framed, wire.size());
  }
}

TEST(StreamFramer, AMessagePipelinedAfterABodyIsFramedAfresh) {
  // The first body holds what would look like a header block's end and a
  // different Content-Length were it searched or parsed as headers.
  const std::string a = request("\r\n\r\nContent-Length: 5\r\n\r\n");
  const std::string b = request("second body");
  std::string inbox = a.substr(0, 40);
  StreamFramer framer;
  const Result<size_t> early = framer.frame(inbox);
  ASSERT_TRUE(early.ok() && *early == 0);
  // The rest of a, and b up to the middle of its blank line, in one read.
  const size_t b_cut = b.find("\r\n\r\n") + 2;
  inbox += a.substr(40) + b.substr(0, b_cut);
  Result<size_t> framed = framer.frame(inbox);
  ASSERT_TRUE(framed.ok());
  ASSERT_EQ(*framed, a.size());
  EXPECT_EQ(Message::parse(inbox.substr(0, a.size()))->body(), "\r\n\r\nContent-Length: 5\r\n\r\n");
  inbox.erase(0, a.size());
  framer.reset();
  framed = framer.frame(inbox);
  ASSERT_TRUE(framed.ok());
  EXPECT_EQ(*framed, 0u);
  inbox += b.substr(b_cut);
  framed = framer.frame(inbox);
  ASSERT_TRUE(framed.ok());
  ASSERT_EQ(*framed, b.size());
  EXPECT_EQ(Message::parse(inbox)->body(), "second body");
}

TEST(StreamFramer, KeepAlivesAndFaultsAreTheSameTrickledAsInOneRead) {  // RFC 5626 §3.5.1
  const std::string m = request("xyz", "l: 3");
  StreamFramer framer;
  Result<size_t> framed = trickle(framer, "\r\n\r\n" + m);
  ASSERT_TRUE(framed.ok());
  EXPECT_EQ(*framed, m.size() + 4);

  struct Case {
    std::string wire;
    std::string_view reason;
  };
  for (const Case& c : {Case{request("", "X-Nothing: 1"), "Missing Content-Length"},
                        Case{request("ab", "Content-Length: 2\r\nl: 3"), "Bad Content-Length"},
                        Case{request("", "Content-Length: 70000"), "Message Too Large"}}) {
    SCOPED_TRACE(c.reason);
    StreamFramer trickled;
    framed = trickle(trickled, c.wire.substr(0, c.wire.find("\r\n\r\n") + 4));
    ASSERT_FALSE(framed.ok());
    EXPECT_EQ(framed.error().reason, c.reason);
  }
}

TEST(StreamFramer, EachMessageOfAConnectionIsFramedAfreshWhetherTrickledOrPipelined) {
  boost::asio::io_context io;
  TransportLayer transport(io, TransportConfig{});
  std::vector<std::string> bodies;
  transport.set_handler(
      [&](Message message, const Endpoint&) { bodies.emplace_back(message.body()); });
  const Endpoint local = transport.listen(TransportKind::kTcp, "127.0.0.1", 0);
  tcp::socket client(io);
  client.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), local.port));
  const auto run_until_delivered = [&](size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (bodies.size() < count && std::chrono::steady_clock::now() < deadline) io.run_for(5ms);
    return bodies.size() == count;
  };

  boost::asio::write(client, boost::asio::buffer(request("short")));
  ASSERT_TRUE(run_until_delivered(1));
  // Longer than the first, a byte per segment: framed with what the first
  // message's framing left behind, it would be cut at the first's size.
  const std::string longer = request("a longer body than the first");
  for (char c : longer) {
    boost::asio::write(client, boost::asio::buffer(&c, 1));
    io.run_for(1ms);
  }
  ASSERT_TRUE(run_until_delivered(2));
  // Two in one segment, the first body holding a blank line and another
  // Content-Length.
  const std::string tricky = "\r\n\r\nContent-Length: 99\r\n\r\n";
  boost::asio::write(
      client, boost::asio::buffer(request(tricky) + request("the longest body of them all")));
  ASSERT_TRUE(run_until_delivered(4));
  EXPECT_EQ(bodies, (std::vector<std::string>{"short", "a longer body than the first", tricky,
                                              "the longest body of them all"}));
  EXPECT_EQ(transport.counters().framing_errors, 0u);
  EXPECT_EQ(transport.connection_count(), 1u);
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
