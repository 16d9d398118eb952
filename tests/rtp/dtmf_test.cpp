// RFC 4733 telephone-events: payload codec, receiver (one digit per event),
// sender (start with marker, continuations, three end packets).
#include "rtp/dtmf.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace chorus::rtp {
namespace {

std::array<uint8_t, 4> payload(uint8_t event, bool end, uint16_t duration, uint8_t volume = 10) {
  std::array<uint8_t, 4> out{};
  write_dtmf_event(out, DtmfEvent{event, duration, volume, end});
  return out;
}

TEST(Dtmf, PayloadLayoutRfc4733Section2_3) {
  const auto p = payload(11, true, 0x0320, 7);
  EXPECT_EQ(p, (std::array<uint8_t, 4>{11, 0x87, 0x03, 0x20}));
  const auto e = parse_dtmf_event(p);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, (DtmfEvent{11, 0x0320, 7, true}));
  // The reserved R bit is ignored on receive.
  const std::array<uint8_t, 4> with_r{5, 0x40 | 12, 0, 160};
  EXPECT_EQ(*parse_dtmf_event(with_r), (DtmfEvent{5, 160, 12, false}));
  EXPECT_FALSE(parse_dtmf_event(std::span(p).first(3)));
  std::array<uint8_t, 3> small{};
  EXPECT_EQ(write_dtmf_event(small, *e), 0u);
}

TEST(Dtmf, DigitMapping) {
  const std::string all = "0123456789*#ABCD";
  for (uint8_t i = 0; i < 16; ++i) {
    EXPECT_EQ(dtmf_digit(i), all[i]);
    EXPECT_EQ(dtmf_event_code(all[i]), i);
  }
  EXPECT_EQ(dtmf_event_code('c'), 14);
  EXPECT_FALSE(dtmf_digit(16));  // flash is an event, not a digit
  EXPECT_FALSE(dtmf_event_code('E'));
}

TEST(DtmfReceiver, StartContinuationAndThreeEndsReportOneDigit) {
  DtmfReceiver rx;
  const uint32_t ts = 48000;
  EXPECT_EQ(rx.on_packet(ts, payload(5, false, 160)), '5');
  EXPECT_FALSE(rx.on_packet(ts, payload(5, false, 320)));
  EXPECT_FALSE(rx.on_packet(ts, payload(5, false, 480)));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(rx.on_packet(ts, payload(5, true, 640)));
  ASSERT_TRUE(rx.current());
  EXPECT_TRUE(rx.current()->end);
  EXPECT_EQ(rx.current()->duration, 640);
}

TEST(DtmfReceiver, SameDigitPressedAgainIsRecognisedByItsNewTimestamp) {
  DtmfReceiver rx;
  EXPECT_EQ(rx.on_packet(1000, payload(1, false, 160)), '1');
  EXPECT_FALSE(rx.on_packet(1000, payload(1, true, 800)));
  EXPECT_FALSE(rx.on_packet(1000, payload(1, true, 800)));
  EXPECT_EQ(rx.on_packet(3000, payload(1, false, 160)), '1');
  EXPECT_FALSE(rx.on_packet(3000, payload(1, true, 480)));
  EXPECT_EQ(rx.current_timestamp(), 3000u);
}

TEST(DtmfReceiver, OnlyTheEndPacketsArriveStillOneDigit) {
  DtmfReceiver rx;
  EXPECT_EQ(rx.on_packet(500, payload(10, true, 800)), '*');
  EXPECT_FALSE(rx.on_packet(500, payload(10, true, 800)));
  EXPECT_FALSE(rx.on_packet(500, payload(10, true, 800)));
}

TEST(DtmfReceiver, LateRedundantEndOfThePreviousEventIsIgnored) {
  DtmfReceiver rx;
  EXPECT_EQ(rx.on_packet(1000, payload(2, false, 160)), '2');
  EXPECT_EQ(rx.on_packet(2000, payload(3, false, 160)), '3');
  EXPECT_FALSE(rx.on_packet(1000, payload(2, true, 640)));  // delayed, older timestamp
  EXPECT_EQ(rx.current()->event, 3);
}

TEST(DtmfReceiver, TimestampWrapBetweenEvents) {
  DtmfReceiver rx;
  EXPECT_EQ(rx.on_packet(0xFFFFFF00u, payload(7, true, 800)), '7');
  EXPECT_EQ(rx.on_packet(0x00000100u, payload(8, false, 160)), '8');  // later, after wrap
  EXPECT_FALSE(rx.on_packet(0xFFFFFF00u, payload(7, true, 800)));
}

TEST(DtmfReceiver, LongEventSegmentsAreOneDigitRfc4733Section2_5_2_3) {
  DtmfReceiver rx;
  EXPECT_EQ(rx.on_packet(10000, payload(0, false, 160)), '0');
  EXPECT_FALSE(rx.on_packet(10000, payload(0, false, 0xFFFF)));
  // The next segment starts 0xFFFF later with the same event.
  EXPECT_FALSE(rx.on_packet(10000 + 0xFFFF, payload(0, false, 160)));
  EXPECT_FALSE(rx.on_packet(10000 + 0xFFFF, payload(0, true, 800)));
  EXPECT_TRUE(rx.current()->end);
  // A real second press after that is still reported.
  EXPECT_EQ(rx.on_packet(10000 + 0xFFFF + 4000, payload(0, false, 160)), '0');
}

// RFC 3550 §8.2: after an SSRC change the event already reported is still
// known (its packets under the new SSRC report nothing), while the new
// source's own timestamps, from a random base, are not taken for old events.
TEST(DtmfReceiver, ANewSourceNeitherRepeatsTheReportedEventNorHidesAnEarlierTimestamp) {
  DtmfReceiver rx;
  EXPECT_EQ(rx.on_packet(8000, payload(5, false, 160)), '5');
  rx.on_new_source();
  EXPECT_FALSE(rx.on_packet(8000, payload(5, false, 320)));
  EXPECT_FALSE(rx.on_packet(8000, payload(5, true, 480)));
  EXPECT_EQ(rx.on_packet(1000, payload(9, false, 160)), '9');  // "earlier", yet new
  // Ordered again from the new source's first event on.
  EXPECT_FALSE(rx.on_packet(500, payload(3, true, 640)));
  EXPECT_EQ(rx.on_packet(2000, payload(3, false, 160)), '3');
}

TEST(DtmfReceiver, DifferentEventAtSameTimestampIsANewEvent) {
  DtmfReceiver rx;
  EXPECT_EQ(rx.on_packet(100, payload(4, false, 160)), '4');
  EXPECT_EQ(rx.on_packet(100, payload(6, false, 160)), '6');
}

TEST(DtmfReceiver, IgnoresShortPayloadsAndNonDigitEvents) {
  DtmfReceiver rx;
  const std::array<uint8_t, 3> short_payload{1, 0, 0};
  EXPECT_FALSE(rx.on_packet(1, short_payload));
  EXPECT_FALSE(rx.on_packet(1, payload(16, false, 160)));  // flash
  EXPECT_FALSE(rx.on_packet(1, payload(255, false, 160)));
  EXPECT_FALSE(rx.current());
  EXPECT_EQ(rx.on_packet(1, payload(0, false, 160)), '0');
}

struct Sent {
  DtmfPacket packet;
  DtmfEvent event;
};

std::vector<Sent> drain(DtmfSender& tx) {
  std::vector<Sent> out;
  while (auto p = tx.next()) out.push_back({*p, *parse_dtmf_event(p->payload)});
  return out;
}

TEST(DtmfSender, StartWithMarkerContinuationsThenThreeEndsRfc4733Section2_5) {
  DtmfSender tx(160);  // 20 ms at 8 kHz
  ASSERT_TRUE(tx.start('#', 12345, 800, 10));
  EXPECT_FALSE(tx.start('1', 0, 800));  // busy
  const auto sent = drain(tx);
  EXPECT_FALSE(tx.active());
  // 160, 320, 480, 640 then 800 (end) ×3.
  ASSERT_EQ(sent.size(), 7u);
  for (size_t i = 0; i < sent.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(sent[i].packet.timestamp, 12345u);  // one timestamp for the whole event
    EXPECT_EQ(sent[i].packet.marker, i == 0);
    EXPECT_EQ(sent[i].event.event, 11);
    EXPECT_EQ(sent[i].event.volume, 10);
    EXPECT_EQ(sent[i].event.end, i >= 4);
    EXPECT_EQ(sent[i].packet.end, i >= 4);
    EXPECT_EQ(sent[i].event.duration, i < 4 ? 160 * (i + 1) : 800);
  }
  EXPECT_TRUE(tx.start('1', 20000, 100));  // idle again
}

TEST(DtmfSender, DurationNotAMultipleOfThePacketInterval) {
  DtmfSender tx(160);
  ASSERT_TRUE(tx.start('9', 0, 400));
  const auto sent = drain(tx);
  ASSERT_EQ(sent.size(), 5u);  // 160, 320, then 400 (end) ×3
  EXPECT_EQ(sent[1].event.duration, 320);
  EXPECT_EQ(sent[2].event.duration, 400);
  EXPECT_TRUE(sent[2].event.end);
}

TEST(DtmfSender, ShortEventIsThreeEndPacketsTheFirstWithMarker) {
  DtmfSender tx(160);
  ASSERT_TRUE(tx.start('A', 7, 100));
  const auto sent = drain(tx);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_TRUE(sent[0].packet.marker);
  EXPECT_FALSE(sent[1].packet.marker);
  for (const auto& s : sent) EXPECT_TRUE(s.event.end);
}

TEST(DtmfSender, RejectsUnknownDigitsAndZeroDuration) {
  DtmfSender tx(160);
  EXPECT_FALSE(tx.start('X', 0, 800));
  EXPECT_FALSE(tx.start('1', 0, 0));
  EXPECT_FALSE(tx.next());
  EXPECT_FALSE(DtmfSender(0).start('1', 0, 800));
}

// The sender's packets through the receiver: one digit, exactly once.
TEST(Dtmf, SenderToReceiverYieldsEachDigitOnce) {
  DtmfSender tx(160);
  DtmfReceiver rx;
  std::string heard;
  uint32_t ts = 0;
  for (char digit : std::string("1#1*D")) {
    ASSERT_TRUE(tx.start(digit, ts, 640));
    while (auto p = tx.next()) {
      if (auto d = rx.on_packet(p->timestamp, p->payload)) heard += *d;
    }
    ts += 1600;
  }
  EXPECT_EQ(heard, "1#1*D");
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
