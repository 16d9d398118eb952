#include "bench/load/sip_uac.hpp"

#include <arpa/inet.h>

#include <chrono>
#include <sstream>
#include <string_view>

#include "signaling/sdp/sdp_attributes.hpp"
#include "signaling/sdp/sdp_base64.hpp"
#include "signaling/transaction/transaction_ids.hpp"

namespace chorus::load {
namespace {

sip::StackConfig uac_config() {
  sip::StackConfig config;
  config.listeners.push_back({sip::TransportKind::kUdp, "127.0.0.1", 0});
  config.user_agent = "chorus-load";
  return config;
}

std::string_view trim_cr(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  return line;
}

bool parse_port(std::string_view text, uint16_t& port) {
  uint32_t value = 0;
  size_t i = 0;
  for (; i < text.size() && i < 6 && text[i] >= '0' && text[i] <= '9'; ++i) {
    value = value * 10 + static_cast<uint32_t>(text[i] - '0');
  }
  if (i == 0 || value == 0 || value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

uint8_t payload_type_for(mixer::CodecId id) {
  switch (id) {
    case mixer::CodecId::kPcmu:
      return 0;
    case mixer::CodecId::kPcma:
      return 8;
    case mixer::CodecId::kG722:
      return 9;
    case mixer::CodecId::kOpus:
      return 111;
  }
  return 0;
}

SipUac::SipUac(boost::asio::io_context& io, const Options& options)
    : options_(options), stack_(io, uac_config()), payload_type_(payload_type_for(options.codec)) {
  target_.transport = sip::TransportKind::kUdp;
  target_.address = options.target_host;
  target_.port = options.target_port;
}

void SipUac::start() {
  sip::StackHandlers handlers;
  handlers.on_request = [this](const sip::ServerTransaction& tx) {
    const sip::Message& m = tx.request();
    if (m.method() == sip::Method::kBye) {
      ++counters_.byes_from_server;
      auto found = by_call_id_.find(std::string(m.call_id()));
      if (found != by_call_id_.end()) found->second->state = CallState::kGone;
      tx.respond(200, "OK");
      return;
    }
    if (m.method() == sip::Method::kInvite) {
      // A re-INVITE (e.g. session refresh): answer with the same offer we made.
      auto found = by_call_id_.find(std::string(m.call_id()));
      if (found == by_call_id_.end()) {
        tx.respond(481, "Call/Transaction Does Not Exist");
        return;
      }
      sip::Message ok = sip::make_response(m, 200, "OK", found->second->from_tag);
      ok.set_header("Contact", "<" + stack_.contact_uri("load", sip::TransportKind::kUdp) + ">");
      ok.set_body("application/sdp", offer(*found->second));
      tx.respond(std::move(ok));
      return;
    }
    tx.respond(200, "OK");  // OPTIONS, NOTIFY, INFO, UPDATE without a body
  };
  stack_.set_handlers(std::move(handlers));
  stack_.start();
}

std::string SipUac::room_name(const Participant& p) const {
  return options_.room_prefix + std::to_string(p.room());
}

sip::Message SipUac::request(Participant& p, sip::Method method) const {
  const bool in_dialog = !p.to_tag.empty();
  const std::string room = room_name(p);
  const std::string uri = in_dialog ? p.remote_target
                                    : "sip:" + room + "@" + options_.target_host + ":" +
                                          std::to_string(options_.target_port);
  sip::Message m = sip::Message::request(method, uri);
  const std::string user = "p" + std::to_string(p.index()) + "r" + std::to_string(p.room());
  m.add_header("From", "<sip:" + user + "@127.0.0.1>;tag=" + p.from_tag);
  m.add_header("To", "<sip:" + room + "@" + options_.target_host + ">" +
                         (in_dialog ? ";tag=" + p.to_tag : ""));
  m.add_header("Call-ID", p.call_id);
  m.add_header("CSeq", std::to_string(++p.cseq) + " " + std::string(sip::method_name(method)));
  m.add_header("Contact", "<" + stack_.contact_uri(user, sip::TransportKind::kUdp) + ">");
  m.set_body({}, {});
  return m;
}

// A browser's offer (RFC 8829 §5.2.1, as Chromium writes it, audio only):
// UDP/TLS/RTP/SAVPF, BUNDLE, ICE credentials and a host candidate, our
// certificate's fingerprint, actpass, rtcp-mux, Opus and telephone-event at
// 48 kHz, RFC 6464 levels.
std::string SipUac::webrtc_offer(const Participant& p) const {
  const WebRtcPeer& w = *p.webrtc();
  const std::string port = std::to_string(p.local_port());
  std::string sdp = "v=0\r\no=chorus-load " + port + " " + std::to_string(p.sdp_version) +
                    " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
                    "a=msid-semantic: WMS\r\n"
                    "m=audio 9 UDP/TLS/RTP/SAVPF 111 110\r\nc=IN IP4 0.0.0.0\r\n"
                    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
                    "a=candidate:1 1 udp 2122260223 127.0.0.1 " +
                    port + " typ host\r\n";
  sdp += "a=ice-ufrag:" + w.local_ufrag() + "\r\na=ice-pwd:" + w.local_pwd() +
         "\r\na=ice-options:trickle\r\na=fingerprint:" + w.fingerprint_sdp() +
         "\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 " + std::string(sdp::kAudioLevelUri) +
         "\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
         "a=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1" +
         (options_.quiet == Quiet::kDtx ? ";usedtx=1" : "") +
         "\r\na=rtpmap:110 telephone-event/48000\r\n";
  return sdp;
}

std::string SipUac::offer(const Participant& p) const {
  if (p.webrtc() != nullptr) return webrtc_offer(p);
  const mixer::CodecParams params = mixer::default_params(options_.codec);
  const std::string pt = std::to_string(payload_type_);
  std::string sdp = "v=0\r\no=chorus-load " + std::to_string(p.local_port()) + " " +
                    std::to_string(p.sdp_version) +
                    " IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
                    std::to_string(p.local_port()) + (options_.srtp ? " RTP/SAVP " : " RTP/AVP ") +
                    pt + "\r\n";
  switch (options_.codec) {
    case mixer::CodecId::kOpus:
      // RFC 7587 §7: always opus/48000/2.
      sdp += "a=rtpmap:" + pt + " opus/48000/2\r\na=fmtp:" + pt + " useinbandfec=1" +
             (options_.quiet == Quiet::kDtx ? ";usedtx=1" : "") + "\r\n";
      break;
    default:
      sdp += "a=rtpmap:" + pt + " " + std::string(mixer::codec_name(options_.codec)) + "/" +
             std::to_string(params.rtp_clock_rate) + "\r\n";
      break;
  }
  sdp += "a=ptime:20\r\n";
  if (options_.levels) sdp += "a=extmap:1 " + std::string(sdp::kAudioLevelUri) + "\r\n";
  if (options_.srtp) {
    sdp += "a=crypto:1 " + std::string(rtp::srtp_suite_name(options_.srtp_suite)) + " inline:" +
           sdp::base64_encode(p.local_key().first(rtp::srtp_key_salt_size(options_.srtp_suite))) +
           "\r\n";
  }
  sdp += "a=sendrecv\r\n";
  return sdp;
}

void SipUac::invite(Participant& p) {
  if (p.call_id.empty()) {
    p.call_id = "load-" + sip::make_tag() + "-" + std::to_string(p.local_port());
    p.from_tag = sip::make_tag();
    by_call_id_[p.call_id] = &p;
  }
  ++p.sdp_version;
  sip::Message m = request(p, sip::Method::kInvite);
  m.set_body("application/sdp", offer(p));
  p.state = CallState::kInviting;
  p.invite_sent = Clock::now();
  ++counters_.invites;
  ++pending_;
  Participant* target = &p;
  const auto id = stack_.send_request(
      std::move(m), target_,
      [this, target](const sip::ClientEvent& event) { on_invite_event(*target, event); });
  if (id == 0) {
    --pending_;
    ++counters_.failed;
    p.state = CallState::kFailed;
    last_error_ = "no route to " + options_.target_host;
  }
}

void SipUac::on_invite_event(Participant& p, const sip::ClientEvent& event) {
  if (p.state != CallState::kInviting) return;  // a 2xx retransmission
  if (event.response && event.response->status() < 200) return;
  --pending_;
  if (!event.response) {
    ++counters_.failed;
    p.state = CallState::kFailed;
    last_error_ = event.kind == sip::ClientEvent::Kind::kTimeout ? "INVITE timed out"
                                                                 : "INVITE transport error";
    return;
  }
  const sip::Message& ok = *event.response;
  if (ok.status() >= 300) {
    ++counters_.failed;
    p.state = CallState::kFailed;
    last_error_ = "INVITE answered " + std::to_string(ok.status());
    return;
  }
  p.to_tag = std::string(ok.to().tag());
  if (!ok.contacts().empty()) p.remote_target = ok.contacts().front().uri_text;
  // ACK the 2xx whatever its body says (§13.2.2.4), then BYE if unusable.
  sip::Message ack = sip::Message::request(sip::Method::kAck, p.remote_target);
  const std::string user = "p" + std::to_string(p.index()) + "r" + std::to_string(p.room());
  ack.add_header("From", "<sip:" + user + "@127.0.0.1>;tag=" + p.from_tag);
  ack.add_header("To", "<sip:" + room_name(p) + "@" + options_.target_host + ">;tag=" + p.to_tag);
  ack.add_header("Call-ID", p.call_id);
  ack.add_header("CSeq", std::to_string(ok.cseq().number) + " ACK");
  ack.set_body({}, {});
  if (p.remote_target.empty() || !stack_.send_ack(std::move(ack))) {
    ++counters_.failed;
    p.state = CallState::kFailed;
    last_error_ = "200 without a usable Contact";
    return;
  }
  if (!apply_answer(p, ok)) {
    ++counters_.failed;
    p.state = CallState::kUp;
    bye(p);
    return;
  }
  p.setup_ms = std::chrono::duration<double, std::milli>(Clock::now() - p.invite_sent).count();
  counters_.setup_ms.push_back(p.setup_ms);
  ++counters_.answered;
  p.state = CallState::kUp;
}

bool SipUac::apply_answer(Participant& p, const sip::Message& ok) {
  const std::string_view body = ok.body();
  std::string address = options_.target_host;
  uint16_t port = 0;
  std::optional<sdp::Crypto> crypto;
  std::string ice_ufrag, ice_pwd;
  std::optional<webrtc::Fingerprint> fingerprint;
  std::string candidate_address;
  uint16_t candidate_port = 0;
  size_t at = 0;
  while (at < body.size()) {
    size_t end = body.find('\n', at);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view line = trim_cr(body.substr(at, end - at));
    at = end + 1;
    if (line.starts_with("m=audio ")) {
      if (!parse_port(line.substr(8), port)) port = 0;
    } else if (line.starts_with("c=IN IP4 ")) {
      address = std::string(line.substr(9));
    } else if (line.starts_with("a=crypto:") && !crypto) {
      auto parsed = sdp::parse_crypto(line.substr(9));
      if (parsed && rtp::srtp_suite_from_name(parsed->suite) == options_.srtp_suite &&
          !parsed->keys.empty()) {
        crypto = std::move(parsed.value());
      }
    } else if (line.starts_with("a=ice-ufrag:")) {
      ice_ufrag = std::string(line.substr(12));
    } else if (line.starts_with("a=ice-pwd:")) {
      ice_pwd = std::string(line.substr(10));
    } else if (line.starts_with("a=fingerprint:") && !fingerprint) {
      fingerprint = webrtc::Fingerprint::parse(line.substr(14));
    } else if (line.starts_with("a=candidate:") && candidate_port == 0) {
      // "<foundation> <component> udp <priority> <address> <port> typ host": the
      // first UDP candidate of component 1 (RFC 8839 §5.1).
      std::istringstream fields{std::string(line.substr(12))};
      std::string foundation, component, transport, priority, addr, port_text;
      if (fields >> foundation >> component >> transport >> priority >> addr >> port_text &&
          component == "1" && (transport == "udp" || transport == "UDP") &&
          parse_port(port_text, candidate_port)) {
        candidate_address = addr;
      } else {
        candidate_port = 0;
      }
    } else if (line.starts_with("a=extmap:")) {
      const auto ext = sdp::parse_extmap(line.substr(9));
      if (ext && ext->uri == sdp::kAudioLevelUri && ext->id >= 1 && ext->id <= 14 &&
          options_.levels) {
        p.set_level_extension(static_cast<uint8_t>(ext->id));
      }
    }
  }
  if (p.webrtc() != nullptr) {
    // ICE-lite answer: its candidate is where checks, DTLS and SRTP go.
    if (ice_ufrag.empty() || ice_pwd.empty() || !fingerprint) {
      last_error_ = "WebRTC answer without ice-ufrag, ice-pwd or a sha-256 fingerprint";
      return false;
    }
    if (candidate_port != 0) {
      address = candidate_address;
      port = candidate_port;
    }
    p.webrtc()->set_answer(ice_ufrag, ice_pwd, *fingerprint);
  }
  if (port == 0) {
    last_error_ = "answer without an audio port";
    return false;
  }
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &remote.sin_addr) != 1) {
    last_error_ = "answer with a non-IPv4 address " + address;
    return false;
  }
  if (options_.srtp) {
    if (!crypto) {
      last_error_ = "answer without an " + std::string(rtp::srtp_suite_name(options_.srtp_suite)) +
                    " a=crypto";
      return false;
    }
    if (!p.set_srtp(options_.srtp_suite,
                    p.local_key().first(rtp::srtp_key_salt_size(options_.srtp_suite)),
                    crypto->keys.front().key_salt)) {
      last_error_ = "libsrtp refused the keys";
      return false;
    }
  }
  p.set_remote(remote);
  return true;
}

void SipUac::bye(Participant& p) {
  if (p.state != CallState::kUp) return;
  p.state = CallState::kLeaving;
  ++counters_.byes_sent;
  ++pending_;
  Participant* target = &p;
  const auto id = stack_.send_request(request(p, sip::Method::kBye), target_,
                                      [this, target](const sip::ClientEvent& event) {
                                        if (event.response && event.response->status() < 200) {
                                          return;
                                        }
                                        --pending_;
                                        if (event.response) ++counters_.byes_answered;
                                        target->state = CallState::kGone;
                                      });
  if (id == 0) {
    --pending_;
    p.state = CallState::kGone;
  }
}

}  // namespace chorus::load
