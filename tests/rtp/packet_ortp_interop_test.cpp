// Interop: packets Chorus writes are read correctly by an independent RTP
// stack (oRTP, as linked into tests/rtp): header fields, the RFC 8285
// one-byte extension carrying the RFC 6464 audio level, and the payload.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ortp/ortp.h>

#include <array>
#include <memory>

#include "rtp/packet.hpp"

namespace chorus::rtp {
namespace {

struct MsgDeleter {
  void operator()(mblk_t* m) const { freemsg(m); }
};
using Msg = std::unique_ptr<mblk_t, MsgDeleter>;

Msg to_ortp(std::span<const uint8_t> bytes) {
  return Msg(rtp_session_create_packet_raw(bytes.data(), bytes.size()));
}

TEST(PacketOrtpInterop, OrtpReadsHeaderFieldsAndPayload) {
  std::array<uint8_t, 256> out{};
  std::array<uint8_t, 160> payload{};
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i);
  const size_t n = write_packet(out, RtpHeader{8, true, 0xBEEF, 0x01020304, 0xCAFEBABE}, payload);
  ASSERT_EQ(n, 172u);
  const Msg m = to_ortp(std::span(out).first(n));
  ASSERT_TRUE(m);
  EXPECT_EQ(rtp_get_version(m.get()), 2);
  EXPECT_EQ(rtp_get_markbit(m.get()), 1);
  EXPECT_EQ(rtp_get_payload_type(m.get()), 8);
  // Raw packets keep network byte order in oRTP's header view.
  EXPECT_EQ(ntohs(rtp_get_seqnumber(m.get())), 0xBEEF);
  EXPECT_EQ(ntohl(rtp_get_timestamp(m.get())), 0x01020304u);
  EXPECT_EQ(ntohl(rtp_get_ssrc(m.get())), 0xCAFEBABEu);
  unsigned char* start = nullptr;
  ASSERT_EQ(rtp_get_payload(m.get(), &start), 160);
  EXPECT_EQ(start - m->b_rptr, 12);
  EXPECT_EQ(start[159], 159);
}

TEST(PacketOrtpInterop, OrtpReadsTheAudioLevelExtensionRfc6464) {
  std::array<uint8_t, 256> out{};
  std::array<uint8_t, 160> payload{};
  for (uint8_t id : {1, 3, 14}) {
    for (const AudioLevel level :
         {AudioLevel{true, 42}, AudioLevel{false, 127}, AudioLevel{true, 0}}) {
      SCOPED_TRACE(testing::Message() << "id " << int(id) << " level " << int(level.level_dbov));
      const size_t n = write_packet(out, RtpHeader{0, false, 1, 160, 7}, payload,
                                    std::pair<uint8_t, AudioLevel>{id, level});
      ASSERT_EQ(n, 180u);
      const Msg m = to_ortp(std::span(out).first(n));
      bool_t voice = 0;
      // oRTP reports the level as negative dBov.
      EXPECT_EQ(rtp_get_client_to_mixer_audio_level(m.get(), id, &voice), -int{level.level_dbov});
      EXPECT_EQ(voice != 0, level.voice);
      unsigned char* start = nullptr;
      ASSERT_EQ(rtp_get_payload(m.get(), &start), 160);
      EXPECT_EQ(start - m->b_rptr, 20);
      // And our own parser agrees on the same bytes.
      const auto view = PacketView::parse(std::span(out).first(n));
      ASSERT_TRUE(view);
      EXPECT_EQ(view->audio_level(id), level);
    }
  }
}

TEST(PacketOrtpInterop, OrtpReadsCsrcs) {
  std::array<uint8_t, 256> out{};
  const std::array<uint32_t, 3> csrcs{0x01010101, 0x02020202, 0x03030303};
  PacketOptions options;
  options.csrcs = csrcs;
  const std::array<uint8_t, 4> payload{1, 2, 3, 4};
  const size_t n = write_packet(out, RtpHeader{0, false, 1, 1, 1}, payload, options);
  const Msg m = to_ortp(std::span(out).first(n));
  ASSERT_EQ(rtp_get_cc(m.get()), 3);
  EXPECT_EQ(ntohl(rtp_get_csrc(m.get(), 2)), 0x03030303u);
  unsigned char* start = nullptr;
  EXPECT_EQ(rtp_get_payload(m.get(), &start), 4);
}

}  // namespace
}  // namespace chorus::rtp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
