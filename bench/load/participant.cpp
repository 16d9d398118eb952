#include "bench/load/participant.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <stdexcept>
#include <system_error>

#include "mixer/goertzel.hpp"
#include "rtp/packet.hpp"
#include "webrtc/demux.hpp"

namespace chorus::load {
namespace {

// RFC 6464 level of the tone: 20*log10(4000/sqrt(2)/32768) ≈ -21 dBov.
constexpr uint8_t kToneLevelDbov = 21;

uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

}  // namespace

double tone_for(int index_in_room) {
  return 350.0 + 150.0 * (index_in_room % kDistinctTones);
}

Participant::Participant(int room, int index, bool talker, bool verified,
                         const mixer::CodecParams& params, uint8_t payload_type,
                         uint16_t local_port)
    : room_(room),
      index_(index),
      talker_(talker),
      verified_(verified),
      freq_(tone_for(index)),
      params_(params),
      payload_type_(payload_type) {
  const uint32_t id = static_cast<uint32_t>(room) * 100003u + static_cast<uint32_t>(index);
  seq_ = static_cast<uint16_t>(mix32(id * 2 + 1));
  ssrc_ = mix32(id * 2 + 2) | 1u;
  // Talkers of a room gap at different moments so their onsets are distinct.
  gap_offset_ = (index * 37) % kCycleFrames;
  for (size_t i = 0; i < local_key_.size(); ++i) {
    local_key_[i] = static_cast<uint8_t>(mix32(id * 131u + static_cast<uint32_t>(i) + 7u));
  }

  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  const int buffer = 256 * 1024;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(local_port);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(),
                            "bind 127.0.0.1:" + std::to_string(local_port));
  }
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  local_port_ = ntohs(a.sin_port);
  if (verified_) {
    decoder_ = mixer::make_decoder(params_);
    onsets_ = std::make_unique<OnsetTracker>();
  }
  epoch_ = Clock::now();
}

Participant::~Participant() {
  if (fd_ >= 0) ::close(fd_);
}

bool Participant::set_srtp(rtp::SrtpSuite suite, std::span<const uint8_t> ours,
                           std::span<const uint8_t> theirs) {
  srtp_out_ = rtp::SrtpSession::create(suite, ours, rtp::SrtpSession::Direction::kOutbound);
  srtp_in_ = rtp::SrtpSession::create(suite, theirs, rtp::SrtpSession::Direction::kInbound);
  return srtp_out_.has_value() && srtp_in_.has_value();
}

void Participant::start_webrtc(Clock::time_point now) {
  if (webrtc_ && has_remote()) webrtc_->start(fd_, remote_, now);
}

void Participant::poll_webrtc(Clock::time_point now) {
  if (!webrtc_) return;
  webrtc_->poll(now);
}

void Participant::take_webrtc_keys() {
  auto keys = webrtc_->take_keys();
  if (!keys) return;
  // Client side: outbound = client_write protects what we send.
  set_srtp(keys->suite, keys->outbound(), keys->inbound());
  keys->wipe();
}

size_t Participant::build(int64_t tick, ToneScripts& scripts, bool dtx, Clock::time_point now) {
  (void)now;
  packet_size_ = 0;
  if (webrtc_ && !srtp_out_) return 0;  // a browser sends no media before its keys
  std::span<const uint8_t> payload;
  bool voice = false;
  if (talker_) {
    const int frame = static_cast<int>((tick + gap_offset_) % kCycleFrames);
    payload = scripts.tone_frame(freq_, frame);
    voice = frame >= kGapFrames;
    onset_pending_ = frame == kGapFrames;
  } else if (dtx) {
    // RFC 7587 §3.1.3: a DTX sender still sends a frame every 400 ms.
    if (tick % 20 != 0) return 0;
    payload = scripts.dtx();
  } else {
    payload = scripts.silence();
  }
  const rtp::RtpHeader header{payload_type_, packets_sent_ == 0, seq_,
                              static_cast<uint32_t>(tick) * mixer::rtp_timestamp_step(params_),
                              ssrc_};
  std::optional<std::pair<uint8_t, rtp::AudioLevel>> level;
  if (level_ext_id_ != 0) {
    level.emplace(level_ext_id_, rtp::AudioLevel{voice, voice ? kToneLevelDbov : uint8_t{127}});
  }
  size_t size = rtp::write_packet(packet_, header, payload, level);
  if (size == 0) return 0;
  if (srtp_out_ && !srtp_out_->protect_rtp(packet_.data(), size, packet_.size())) return 0;
  ++seq_;
  packet_size_ = size;
  return size;
}

void Participant::send_built() {
  if (packet_size_ == 0 || !has_remote()) return;
  if (onset_pending_) {
    last_onset_sent_ = Clock::now();
    onset_pending_ = false;
  }
  ::sendto(fd_, packet_.data(), packet_size_, 0, reinterpret_cast<const sockaddr*>(&remote_),
           sizeof remote_);
  ++packets_sent_;
  packet_size_ = 0;
}

void Participant::receive(Clock::time_point now) {
  std::array<uint8_t, 2048> buffer;
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n <= 0) return;
    on_packet(std::span<uint8_t>(buffer.data(), static_cast<size_t>(n)), now);
  }
}

void Participant::on_packet(std::span<uint8_t> datagram, Clock::time_point now) {
  if (webrtc_) {
    // RFC 7983: STUN and DTLS go to the browser's transport.
    const auto kind = webrtc::classify(datagram);
    if (kind == webrtc::PacketKind::kStun || kind == webrtc::PacketKind::kDtls) {
      webrtc_->on_datagram(datagram, now);
      if (!srtp_out_ && webrtc_->phase() == WebRtcPeer::Phase::kKeyed) take_webrtc_keys();
      return;
    }
    if (!srtp_in_) return;  // media before keys: not ours to read
  }
  if (rtp::is_rtcp(datagram)) return;
  size_t size = datagram.size();
  if (srtp_in_ && !srtp_in_->unprotect_rtp(datagram.data(), size)) {
    ++counters_.undecodable;
    return;
  }
  const auto view = rtp::PacketView::parse(datagram.first(size));
  if (!view) {
    ++counters_.undecodable;
    return;
  }
  ++counters_.received;

  // RFC 3550 A.1, simplified: extend the sequence number across wraps.
  const uint16_t seq = view->sequence();
  if (!have_seq_) {
    have_seq_ = true;
    first_ext_seq_ = max_ext_seq_ = seq;
  } else {
    const uint16_t max16 = static_cast<uint16_t>(max_ext_seq_);
    const int16_t delta = static_cast<int16_t>(static_cast<uint16_t>(seq - max16));
    if (delta > 0) max_ext_seq_ += static_cast<uint32_t>(delta);
  }
  counters_.expected = max_ext_seq_ - first_ext_seq_ + 1;

  // RFC 3550 A.8 interarrival jitter, in timestamp units; transit in ms for
  // "late" (later than the fastest packet so far by late_ms).
  const double clock = params_.rtp_clock_rate;
  const double arrival_s = std::chrono::duration<double>(now - epoch_).count();
  const double transit = arrival_s * clock - static_cast<double>(view->timestamp());
  bool new_timeline = !have_transit_;
  if (have_transit_) {
    const double d = transit - last_transit_;
    if (std::fabs(d) < clock) {
      jitter_ts_ += (std::fabs(d) - jitter_ts_) / 16.0;
    } else {
      // A timestamp jump of a second or more (the sender re-based its RTP
      // clock, e.g. a new encoder or SSRC) starts a new timeline: it is
      // neither jitter nor lateness.
      new_timeline = true;
    }
  }
  last_transit_ = transit;
  have_transit_ = true;
  const double transit_ms = transit / clock * 1000.0;
  if (new_timeline || transit_ms < min_transit_ms_) min_transit_ms_ = transit_ms;
  if (transit_ms - min_transit_ms_ > late_ms_) ++counters_.late;

  if (decoder_ && view->payload_type() == payload_type_ && !view->payload().empty()) {
    if (decoder_->decode(view->payload(), decoded_)) analyse(decoded_, seq, now);
  }
}

void Participant::analyse(const mixer::Frame& frame, uint16_t seq, Clock::time_point arrival) {
  const std::span<const OnsetTracker::Onset> onsets = onsets_->on_frame(frame, seq, arrival);
  if (!measuring_) return;
  for (size_t j = 0; j < watched_.size(); ++j) {
    const double amplitude = onsets_->amplitude(j);
    const int key = static_cast<int>(std::lround(watched_[j]));
    window_[key].amplitude_sum += amplitude;
    ++window_[key].frames;
    total_[key].amplitude_sum += amplitude;
    ++total_[key].frames;
  }
  for (const OnsetTracker::Onset& onset : onsets) {
    const Participant* source = sources_[onset.watched];
    if (source == nullptr) continue;
    const double delay =
        std::chrono::duration<double, std::milli>(onset.at - source->last_onset_sent()).count();
    if (delay < 0 || delay >= 1000.0) continue;
    onset_delays_ms_.push_back(delay);
    if (!onset.sample_accurate) ++frame_level_onsets_;
  }
}

void Participant::watch(std::vector<double> freqs, std::vector<Participant*> sources) {
  watched_ = std::move(freqs);
  sources_ = std::move(sources);
  sources_.resize(watched_.size(), nullptr);
  if (onsets_) onsets_->watch(watched_);
}

void Participant::start_measuring() {
  measuring_ = true;
  counters_ = {};
  have_seq_ = false;
  window_.clear();
  total_.clear();
  onset_delays_ms_.clear();
  frame_level_onsets_ = 0;
}

double Participant::jitter_ms() const {
  return jitter_ts_ / params_.rtp_clock_rate * 1000.0;
}

std::map<int, ToneWindow> Participant::take_window() {
  std::map<int, ToneWindow> out;
  out.swap(window_);
  for (const double f : watched_) out.try_emplace(static_cast<int>(std::lround(f)));
  return out;
}

}  // namespace chorus::load
