#pragma once
// RFC 4733 telephone-events (DTMF digits 0-9, *, #, A-D).
//
// RFC 4733 §2.3 payload:
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     event     |E|R| volume    |          duration             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace chorus::rtp {

inline constexpr size_t kDtmfPayloadSize = 4;

struct DtmfEvent {
  uint8_t event;      // 0-9, 10='*', 11='#', 12-15=A-D
  uint16_t duration;  // timestamp units since the event's timestamp
  uint8_t volume;     // 0-63, -dBm0
  bool end;
  friend bool operator==(const DtmfEvent&, const DtmfEvent&) = default;
};

// The first event of a payload (§2.3); nullopt when shorter than 4 bytes.
// (Several events may be stacked in one payload for redundancy, RFC 4733
// §2.5.1.5 "multiple events"; the first is the current one.)
std::optional<DtmfEvent> parse_dtmf_event(std::span<const uint8_t> payload);
// Writes 4 bytes; returns 4, or 0 when `out` is too small.
size_t write_dtmf_event(std::span<uint8_t> out, const DtmfEvent& event);

// '0'-'9', '*', '#', 'A'-'D' ↔ event codes 0-15 (RFC 4733 §3.2).
std::optional<char> dtmf_digit(uint8_t event);
std::optional<uint8_t> dtmf_event_code(char digit);  // accepts 'a'-'d' too

// Reports each digit exactly once, when its first packet arrives (start, a
// continuation, or — if all earlier ones were lost — an end packet). A packet
// belongs to the current event when it carries the same RTP timestamp and
// event code (§2.5.1.1: all packets of one event share the timestamp); a new
// timestamp starts a new event, even for the same digit pressed twice.
// Packets older than the current event (reordered retransmissions of a
// finished one) are ignored. A long event split into segments (§2.5.2.3: a
// segment of duration 0xFFFF followed by one timestamped 0xFFFF later) stays
// one digit.
class DtmfReceiver {
 public:
  std::optional<char> on_packet(uint32_t rtp_timestamp, std::span<const uint8_t> payload);

  // The most recent event (its latest duration / end flag), if any.
  std::optional<DtmfEvent> current() const {
    return have_current_ ? std::optional<DtmfEvent>(current_) : std::nullopt;
  }
  uint32_t current_timestamp() const { return current_timestamp_; }
  void reset() { have_current_ = false; }
  // The sender changed SSRC (RFC 3550 §8.2). Its timestamps may start from a
  // new random base, so "earlier than the current event" no longer means an
  // old event: the next event is reported whatever its timestamp. The event
  // already reported is kept, so its continuation or end packets (a relay
  // that rewrote only the SSRC, a source that came back) do not report the
  // digit a second time.
  void on_new_source() { ordered_ = false; }

 private:
  DtmfEvent current_{};
  uint32_t current_timestamp_ = 0;
  bool have_current_ = false;
  bool ordered_ = true;  // current_timestamp_ orders the next packet's timestamp
};

// One packet the sender should emit now.
struct DtmfPacket {
  std::array<uint8_t, kDtmfPayloadSize> payload;
  uint32_t timestamp;  // the event's start timestamp (all packets of one event)
  bool marker;         // set on the first packet of the event (§2.5.1.1)
  bool end;
};

// Produces the packets of one event: a start packet with the marker bit,
// continuation packets every `samples_per_packet` with growing duration, then
// three end packets carrying the same timestamp and final duration (§2.5.1.4:
// the end packet is sent three times for reliability).
class DtmfSender {
 public:
  static constexpr int kEndRepeats = 3;

  explicit DtmfSender(uint32_t samples_per_packet) : samples_per_packet_(samples_per_packet) {}

  // Starts an event at RTP timestamp `timestamp` lasting `duration` timestamp
  // units (capped at 0xFFFF; §2.5.2.3 segmentation of longer events is not
  // needed for key presses). False if the digit is unknown or an event is
  // still being sent.
  bool start(char digit, uint32_t timestamp, uint16_t duration, uint8_t volume = 10);
  // The next packet, one per packet interval; nullopt when idle.
  std::optional<DtmfPacket> next();
  bool active() const { return state_ != State::kIdle; }

 private:
  enum class State : uint8_t { kIdle, kSending, kEnding };
  State state_ = State::kIdle;
  uint32_t samples_per_packet_;
  uint32_t timestamp_ = 0;
  uint8_t event_ = 0;
  uint8_t volume_ = 0;
  uint16_t total_duration_ = 0;
  uint32_t elapsed_ = 0;
  int ends_sent_ = 0;
  bool first_ = true;
};

}  // namespace chorus::rtp
