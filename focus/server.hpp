#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "focus/conference_registry.hpp"
#include "focus/options.hpp"
#include "mixer/engine.hpp"
#include "signaling/asio.hpp"
#include "signaling/dialog_random.hpp"
#include "signaling/dialog_set.hpp"
#include "signaling/offer_answer.hpp"
#include "signaling/stack.hpp"

namespace chorus::focus {

// The conference focus: dial-in with media. Answers OPTIONS with our
// capabilities; an INVITE to sip:<room>@host joins room <room> (created on
// first use): the negotiated stream is handed to the mixer Engine, and once
// its shard reports the bound RTP port the 200 carries the SDP answer
// (RFC 3264) naming that port. Tracks the dialog (ACK, re-INVITE hold/resume,
// BYE); RTP timeouts end the call with BYE. Rooms named `slow-*` ring
// (180) for Options::ring_delay before answering, so CANCEL can be tested.
// Everything runs on the signalling io_context thread.
class Server {
 public:
  Server(boost::asio::io_context& io, Options options);
  Server(boost::asio::io_context& io, Options options, sip::TimerService& timers);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the SIP listeners; throws on failure (start-up).
  void start();
  // Ends every call with BYE (best effort) and closes the transports.
  void stop();

  sip::Stack& stack() { return stack_; }
  size_t call_count() const { return calls_.size(); }
  size_t dialog_count() const { return dialogs_.size(); }
  const ConferenceRegistry& conferences() const { return conferences_; }

  // RFC 3261 §20.5 / §20.1 / §20.37 values we advertise.
  static constexpr std::string_view kAllow =
      "INVITE, ACK, BYE, CANCEL, OPTIONS, SUBSCRIBE, NOTIFY, REFER, UPDATE, INFO";
  static constexpr std::string_view kAccept =
      "application/sdp, message/sipfrag, application/conference-info+xml, "
      "application/dialog-info+xml";
  static constexpr std::string_view kSupported = "replaces, join, norefersub, tdialog, timer";

 private:
  struct Call;

  void on_request(const sip::ServerTransaction& tx);
  void on_ack(const sip::Message& ack);
  void on_cancel(const sip::ServerTransaction& invite);
  void on_ack_timeout(const sip::Message& response);

  // Checks every request must pass (Max-Forwards, method, Require, URI
  // scheme); returns true when it answered.
  bool reject_early(const sip::ServerTransaction& tx);
  void handle_new_invite(const sip::ServerTransaction& tx);
  void handle_in_dialog(const sip::ServerTransaction& tx, sip::Dialog& dialog);
  void answer_invite(Call& call, const sip::ServerTransaction& tx);
  void end_call(const sip::DialogId& id, bool send_bye);
  // Media: the engine's answer to an add, and its other events.
  void schedule_poll();
  void poll_engine();
  void on_media_added(Call& call, uint16_t port);
  void on_media_failed(Call& call);
  void reject_unavailable(const sip::ServerTransaction& tx);
  // Points the call's stream at the peer named by an SDP exchange.
  void set_remote(const Call& call, const sdp::Negotiated& negotiated);

  sip::Message with_capabilities(sip::Message response) const;
  std::string contact_for(std::string_view room, sip::TransportKind transport) const;

  boost::asio::io_context& io_;
  Options options_;
  sip::Stack stack_;
  mixer::Engine engine_;
  boost::asio::steady_timer poll_timer_;
  bool polling_ = false;
  bool engine_started_ = false;
  ConferenceRegistry conferences_;
  rtp::StreamId last_stream_ = 0;
  sip::DialogSet dialogs_;
  sip::DialogRandom random_;
  sdp::LocalCapabilities capabilities_;
  std::unordered_map<sip::DialogId, std::unique_ptr<Call>, sip::DialogIdHash> calls_;
  // Ringing INVITEs (slow rooms) by server transaction, for CANCEL.
  std::unordered_map<sip::TransactionId, sip::DialogId> ringing_;
  // Calls by mixer participant id and by RTP stream id, for engine events.
  std::unordered_map<mixer::ParticipantId, sip::DialogId> by_participant_;
  std::unordered_map<rtp::StreamId, sip::DialogId> by_stream_;
};

}  // namespace chorus::focus
