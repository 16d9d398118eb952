#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "focus/options.hpp"
#include "rtp/port_pool.hpp"
#include "signaling/asio.hpp"
#include "signaling/dialog_random.hpp"
#include "signaling/dialog_set.hpp"
#include "signaling/offer_answer.hpp"
#include "signaling/stack.hpp"

namespace chorus::focus {

// The conference focus, stage 2: the SIP side of dial-in without media.
// Answers OPTIONS with our capabilities; answers an INVITE to
// sip:<room>@host with 200 and an SDP answer (RFC 3264) naming an RTP port
// reserved for the call — no media flows yet; the mixer is wired later —
// then tracks the dialog (ACK, re-INVITE, BYE). Rooms named `slow-*` ring
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

  sip::Message with_capabilities(sip::Message response) const;
  std::string contact_for(std::string_view room, sip::TransportKind transport) const;

  boost::asio::io_context& io_;
  Options options_;
  sip::Stack stack_;
  rtp::PortPool ports_;
  sip::DialogSet dialogs_;
  sip::DialogRandom random_;
  sdp::LocalCapabilities capabilities_;
  std::unordered_map<sip::DialogId, std::unique_ptr<Call>, sip::DialogIdHash> calls_;
  // Ringing INVITEs (slow rooms) by server transaction, for CANCEL.
  std::unordered_map<sip::TransactionId, sip::DialogId> ringing_;
};

}  // namespace chorus::focus
