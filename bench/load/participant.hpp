#pragma once
// One load-generator participant: its own UDP socket, what it sends (a tone
// cycle or quiet frames, optionally SRTP-protected) and what it measures on
// what it receives (RFC 3550 loss and interarrival jitter, late packets and,
// when verified, the tones it hears and their onset delay).

#include <netinet/in.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "bench/load/onset.hpp"
#include "bench/load/tone_script.hpp"
#include "bench/load/webrtc_peer.hpp"
#include "mixer/codec.hpp"
#include "mixer/frame.hpp"
#include "rtp/srtp.hpp"

namespace chorus::load {

using Clock = std::chrono::steady_clock;

// Distinct per participant of a room (every multiple of 50 Hz is a whole
// number of periods per 20 ms frame, so Goertzel bins do not leak).
inline constexpr int kDistinctTones = 20;
double tone_for(int index_in_room);

// Receive-side counters (cumulative; windows are differences of snapshots).
struct ReceiveCounters {
  uint64_t received = 0;
  uint64_t expected = 0;  // highest extended sequence - first + 1
  uint64_t late = 0;
  uint64_t undecodable = 0;  // SRTP auth failures, bad RTP
};

// A verified participant's view of one frequency over a window.
struct ToneWindow {
  double amplitude_sum = 0;
  uint64_t frames = 0;
  double mean() const { return frames == 0 ? 0.0 : amplitude_sum / static_cast<double>(frames); }
};

enum class CallState : uint8_t { kIdle, kInviting, kUp, kFailed, kLeaving, kGone };

class Participant {
 public:
  Participant(int room, int index, bool talker, bool verified, const mixer::CodecParams& params,
              uint8_t payload_type, uint16_t local_port);
  ~Participant();
  Participant(const Participant&) = delete;
  Participant& operator=(const Participant&) = delete;

  int fd() const { return fd_; }
  uint16_t local_port() const { return local_port_; }
  int room() const { return room_; }
  int index() const { return index_; }
  bool talker() const { return talker_; }
  bool verified() const { return verified_; }
  double freq() const { return freq_; }

  void set_remote(const sockaddr_in& remote) { remote_ = remote; }
  bool has_remote() const { return remote_.sin_port != 0; }
  // SDES keys (RFC 4568): ours protects what we send, the answer's
  // unprotects what we receive. False if libsrtp refuses a key.
  bool set_srtp(rtp::SrtpSuite suite, std::span<const uint8_t> ours,
                std::span<const uint8_t> theirs);
  std::span<const uint8_t> local_key() const { return local_key_; }
  void set_level_extension(uint8_t id) { level_ext_id_ = id; }
  // --webrtc: this participant is a browser (ICE, DTLS-SRTP); nothing is
  // sent or accepted as media before its keys.
  void set_webrtc(std::unique_ptr<WebRtcPeer> peer) { webrtc_ = std::move(peer); }
  WebRtcPeer* webrtc() { return webrtc_.get(); }
  const WebRtcPeer* webrtc() const { return webrtc_.get(); }
  // Starts the browser's ICE + DTLS towards the answer's candidate.
  void start_webrtc(Clock::time_point now);
  // The browser's timers (checks, DTLS retransmission, consent).
  void poll_webrtc(Clock::time_point now);
  void set_late_ms(double ms) { late_ms_ = ms; }

  // Builds this tick's packet (frame `tick` of the run); returns its size or
  // 0 when nothing is sent this tick (DTX).
  size_t build(int64_t tick, ToneScripts& scripts, bool dtx, Clock::time_point now);
  // Sends the packet built last (now, or later under scripted jitter).
  void send_built();
  // Drains the socket (bounded).
  void receive(Clock::time_point now);

  // Statistics start now (after warm-up): forget what came before.
  void start_measuring();
  const ReceiveCounters& counters() const { return counters_; }
  double jitter_ms() const;
  std::vector<double>& onset_delays_ms() { return onset_delays_ms_; }
  // Of those, onsets measured to the frame only (a frame around the onset
  // was lost, or the sample estimate failed): see bench/load/onset.hpp.
  uint64_t frame_level_onsets() const { return frame_level_onsets_; }
  // Tones heard since the last take (verified participants only).
  std::map<int, ToneWindow> take_window();
  const std::map<int, ToneWindow>& total() const { return total_; }
  // Frequencies whose mean amplitude this participant tracks.
  void watch(std::vector<double> freqs, std::vector<Participant*> sources);
  Clock::time_point last_onset_sent() const { return last_onset_sent_; }
  uint64_t packets_sent() const { return packets_sent_; }

  // SIP dialog state (owned by the UAC).
  CallState state = CallState::kIdle;
  std::string call_id;
  std::string from_tag;
  std::string to_tag;
  std::string remote_target;
  uint32_t cseq = 0;
  Clock::time_point invite_sent;
  double setup_ms = 0;
  int sdp_version = 0;

 private:
  void on_packet(std::span<uint8_t> datagram, Clock::time_point now);
  void take_webrtc_keys();
  void analyse(const mixer::Frame& frame, uint16_t seq, Clock::time_point arrival);

  int room_;
  int index_;
  bool talker_;
  bool verified_;
  double freq_;
  mixer::CodecParams params_;
  uint8_t payload_type_;
  int fd_ = -1;
  uint16_t local_port_ = 0;
  sockaddr_in remote_{};
  uint8_t level_ext_id_ = 0;

  std::unique_ptr<WebRtcPeer> webrtc_;
  std::optional<rtp::SrtpSession> srtp_out_;
  std::optional<rtp::SrtpSession> srtp_in_;
  std::array<uint8_t, 30> local_key_{};

  // Sending.
  std::array<uint8_t, mixer::kMaxPayloadBytes + 200> packet_{};
  size_t packet_size_ = 0;
  uint16_t seq_;
  uint32_t ssrc_;
  int gap_offset_;
  uint64_t packets_sent_ = 0;
  Clock::time_point last_onset_sent_{};
  bool onset_pending_ = false;

  // Receiving (RFC 3550 A.1, A.8).
  bool have_seq_ = false;
  uint32_t first_ext_seq_ = 0;
  uint32_t max_ext_seq_ = 0;
  double jitter_ts_ = 0;  // in RTP timestamp units
  double last_transit_ = 0;
  bool have_transit_ = false;
  double min_transit_ms_ = 1e18;
  double late_ms_ = 60;
  Clock::time_point epoch_;
  ReceiveCounters counters_;

  // Verification.
  std::unique_ptr<mixer::Decoder> decoder_;
  mixer::Frame decoded_;
  std::vector<double> watched_;
  std::vector<Participant*> sources_;  // per watched frequency: whose onset it is
  std::unique_ptr<OnsetTracker> onsets_;  // verified only: ~40 KB of frames and scratch
  std::map<int, ToneWindow> window_;
  std::map<int, ToneWindow> total_;
  std::vector<double> onset_delays_ms_;
  uint64_t frame_level_onsets_ = 0;
  bool measuring_ = false;
};

}  // namespace chorus::load
