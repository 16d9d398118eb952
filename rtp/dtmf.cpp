#include "rtp/dtmf.hpp"

#include <algorithm>

namespace chorus::rtp {
namespace {

constexpr char kDigits[] = "0123456789*#ABCD";

}  // namespace

std::optional<DtmfEvent> parse_dtmf_event(std::span<const uint8_t> payload) {
  if (payload.size() < kDtmfPayloadSize) return std::nullopt;
  DtmfEvent e;
  e.event = payload[0];
  e.end = (payload[1] & 0x80) != 0;
  // Bit 0x40 is reserved (R): ignored on receive (§2.3).
  e.volume = payload[1] & 0x3F;
  e.duration = static_cast<uint16_t>((payload[2] << 8) | payload[3]);
  return e;
}

size_t write_dtmf_event(std::span<uint8_t> out, const DtmfEvent& event) {
  if (out.size() < kDtmfPayloadSize) return 0;
  out[0] = event.event;
  out[1] = static_cast<uint8_t>((event.end ? 0x80 : 0) | (event.volume & 0x3F));
  out[2] = static_cast<uint8_t>(event.duration >> 8);
  out[3] = static_cast<uint8_t>(event.duration);
  return kDtmfPayloadSize;
}

std::optional<char> dtmf_digit(uint8_t event) {
  if (event >= 16) return std::nullopt;
  return kDigits[event];
}

std::optional<uint8_t> dtmf_event_code(char digit) {
  if (digit >= 'a' && digit <= 'd') digit = static_cast<char>(digit - 'a' + 'A');
  for (uint8_t i = 0; i < 16; ++i) {
    if (kDigits[i] == digit) return i;
  }
  return std::nullopt;
}

std::optional<char> DtmfReceiver::on_packet(uint32_t rtp_timestamp,
                                            std::span<const uint8_t> payload) {
  const auto event = parse_dtmf_event(payload);
  if (!event) return std::nullopt;
  const auto digit = dtmf_digit(event->event);
  if (!digit) return std::nullopt;  // non-DTMF events (flash, tones) are not digits

  if (have_current_) {
    if (rtp_timestamp == current_timestamp_ && event->event == current_.event) {
      // A continuation or a (redundant) end packet of the event already
      // reported. Durations only grow; an end packet is final.
      current_.duration = std::max(current_.duration, event->duration);
      current_.end = current_.end || event->end;
      current_.volume = event->volume;
      return std::nullopt;
    }
    // RFC 4733 §2.5.2.3: an event longer than the 16-bit duration field is
    // sent as segments; each new segment's timestamp is the previous one plus
    // its (maximal) duration. Same event, not ended: a continuation, not a
    // second key press.
    if (!current_.end && event->event == current_.event && current_.duration == 0xFFFF &&
        rtp_timestamp - current_timestamp_ == 0xFFFFu) {
      current_ = *event;
      current_timestamp_ = rtp_timestamp;
      return std::nullopt;
    }
    // Serial-number comparison: a timestamp before the current event's belongs
    // to an older event delayed in the network.
    if (ordered_ && static_cast<int32_t>(rtp_timestamp - current_timestamp_) < 0)
      return std::nullopt;
  }
  current_ = *event;
  current_timestamp_ = rtp_timestamp;
  have_current_ = true;
  ordered_ = true;
  return digit;
}

bool DtmfSender::start(char digit, uint32_t timestamp, uint16_t duration, uint8_t volume) {
  const auto code = dtmf_event_code(digit);
  if (!code || active() || duration == 0 || samples_per_packet_ == 0) return false;
  state_ = State::kSending;
  event_ = *code;
  timestamp_ = timestamp;
  total_duration_ = duration;
  volume_ = std::min<uint8_t>(volume, 63);
  elapsed_ = 0;
  ends_sent_ = 0;
  first_ = true;
  return true;
}

std::optional<DtmfPacket> DtmfSender::next() {
  if (state_ == State::kIdle) return std::nullopt;
  if (state_ == State::kSending) {
    elapsed_ = std::min<uint32_t>(elapsed_ + samples_per_packet_, total_duration_);
    if (elapsed_ >= total_duration_) state_ = State::kEnding;
  }
  DtmfEvent e{event_, static_cast<uint16_t>(elapsed_), volume_, state_ == State::kEnding};
  DtmfPacket packet{};
  write_dtmf_event(packet.payload, e);
  packet.timestamp = timestamp_;
  packet.marker = first_;
  packet.end = e.end;
  first_ = false;
  if (e.end && ++ends_sent_ == kEndRepeats) state_ = State::kIdle;
  return packet;
}

}  // namespace chorus::rtp
