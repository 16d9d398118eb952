#pragma once

// Shared by the focus end-to-end tests: callers that send a tone as PCMU RTP
// and measure what they hear (Goertzel), and a fixture with a client
// sip::Stack talking to an in-process focus Server on 127.0.0.1.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <numbers>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "focus/ops/admin_api.hpp"
#include "focus/server.hpp"
#include "mixer/codec.hpp"
#include "mixer/goertzel.hpp"
#include "rtp/dtmf.hpp"
#include "rtp/packet.hpp"
#include "signaling/auth/digest_hash.hpp"
#include "signaling/message/header_auth.hpp"
#include "signaling/transaction/timer_asio.hpp"
#include "signaling/transaction/transaction_ids.hpp"

namespace chorus::focus::e2e {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using sip::ClientEvent;
using sip::Message;
using sip::Method;

// Clearly present / clearly absent Goertzel amplitudes for a 6000-peak tone
// after G.711 and the mixer's limiter.
constexpr double kHeard = 1500.0;
constexpr double kSilent = 300.0;

// A port on 127.0.0.1 free a moment ago (SOCK_DGRAM or SOCK_STREAM), for a
// peer process (sipp, baresip) or a chorus process to listen on.
inline uint16_t free_port(int type = SOCK_DGRAM) {
  const int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// One caller: its SIP dialog state and a UDP socket sending one tone as PCMU.
class Caller {
 public:
  Caller(double freq, std::string name) : freq_(freq), name_(std::move(name)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    encoder_ = mixer::make_encoder(mixer::default_params(mixer::CodecId::kPcmu));
    decoder_ = mixer::make_decoder(mixer::default_params(mixer::CodecId::kPcmu));
  }
  ~Caller() { ::close(fd_); }
  Caller(const Caller&) = delete;
  Caller& operator=(const Caller&) = delete;

  std::string sdp(std::string_view direction) const {
    return "v=0\r\no=" + name_ + " 1 " + std::to_string(++version_) +
           " IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio " +
           std::to_string(port_) + " RTP/AVP " + std::to_string(pt_) +
           (telephone_events ? " 101" : "") + "\r\na=rtpmap:" + std::to_string(pt_) +
           (pt_ == 8 ? " PCMA/8000" : " PCMU/8000") +
           (telephone_events ? "\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15" : "") +
           "\r\na=" + std::string(direction) + "\r\n";
  }

  // Queues key presses sent as RFC 4733 events (100 ms each) instead of
  // audio frames; needs telephone_events in the SDP.
  void press(std::string_view digits) { pending_digits_ += digits; }

  void send_frame() {
    if (mixer_port == 0 || !sending) return;
    if (!dtmf_.active() && !pending_digits_.empty()) {
      dtmf_.start(pending_digits_.front(), ts_, 800);
      pending_digits_.erase(0, 1);
    }
    if (dtmf_.active()) {
      if (const auto event = dtmf_.next()) {
        std::array<uint8_t, 64> packet{};
        const rtp::RtpHeader h{101, event->marker, seq_, event->timestamp, 0x2000u + port_};
        const size_t n = rtp::write_packet(packet, h, event->payload);
        ++seq_;
        ts_ += 160;
        send_datagram(std::span<const uint8_t>(packet.data(), n));
        return;
      }
    }
    mixer::Frame f;
    f.sample_rate = 8000;
    f.samples = 160;
    for (size_t i = 0; i < 160; ++i) {
      f.data[i] = static_cast<int16_t>(6000.0 * std::sin(phase_));
      phase_ += 2.0 * std::numbers::pi * freq_ / 8000.0;
    }
    std::array<uint8_t, 200> payload{};
    const size_t size = encoder_->encode(f, payload);
    std::array<uint8_t, 300> packet{};
    const rtp::RtpHeader h{pt_, seq_ == 0, seq_, ts_, 0x2000u + port_};
    const size_t n = rtp::write_packet(packet, h, std::span<const uint8_t>(payload.data(), size));
    ++seq_;
    ts_ += 160;
    send_datagram(std::span<const uint8_t>(packet.data(), n));
  }

  void send_datagram(std::span<const uint8_t> datagram) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(mixer_port);
    ::sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }

  // Drains the socket (bounded by what is queued); keeps decoded audio when asked.
  void receive(bool keep) {
    std::array<uint8_t, 2048> buf{};
    for (int i = 0; i < 256; ++i) {
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) return;
      ++packets_;
      const auto view = rtp::PacketView::parse(std::span<const uint8_t>(buf.data(), size_t(n)));
      if (!view || view->payload_type() != pt_) continue;
      mixer::Frame f;
      if (keep && decoder_->decode(view->payload(), f)) {
        heard_.insert(heard_.end(), f.pcm().begin(), f.pcm().end());
      }
    }
  }

  // Switch between G.711 mu-law (PT 0) and A-law (PT 8): what sdp() offers
  // and what is sent and decoded from now on.
  void use_pcma(bool pcma) {
    pt_ = pcma ? 8 : 0;
    const auto id = pcma ? mixer::CodecId::kPcma : mixer::CodecId::kPcmu;
    encoder_ = mixer::make_encoder(mixer::default_params(id));
    decoder_ = mixer::make_decoder(mixer::default_params(id));
  }

  double heard(double freq) const { return mixer::goertzel_amplitude(heard_, freq, 8000); }
  // The same over `count` samples from sample `from` (0 when out of range).
  double heard_in(double freq, size_t from, size_t count) const {
    if (from + count > heard_.size()) return 0;
    return mixer::goertzel_amplitude(std::span<const int16_t>(heard_.data() + from, count), freq,
                                     8000);
  }
  double level() const { return mixer::rms(heard_); }
  void forget() { heard_.clear(); }
  size_t samples() const { return heard_.size(); }
  // RTP datagrams that reached this caller's socket, ever.
  size_t packets() const { return packets_; }
  double freq() const { return freq_; }
  const std::string& name() const { return name_; }

  // SIP state, filled by the fixture.
  std::string call_id = "e2e-" + sip::make_tag();
  std::string from_tag = sip::make_tag();
  std::string to_tag;
  std::string remote_target;
  uint32_t cseq = 0;
  uint16_t mixer_port = 0;
  std::string answer;  // the SDP of the last 2xx to our INVITE
  bool sending = true;
  bool telephone_events = false;  // offer RFC 4733 telephone-event (PT 101)

 private:
  double freq_;
  std::string name_;
  mutable int version_ = 0;
  double phase_ = 0;
  uint8_t pt_ = 0;
  rtp::DtmfSender dtmf_{160};
  std::string pending_digits_;
  int fd_ = -1;
  uint16_t port_ = 0;
  uint16_t seq_ = 0;
  uint32_t ts_ = 0;
  size_t packets_ = 0;
  std::unique_ptr<mixer::Encoder> encoder_;
  std::unique_ptr<mixer::Decoder> decoder_;
  std::vector<int16_t> heard_;
};

std::optional<uint16_t> audio_port(std::string_view sdp) {
  const size_t at = sdp.find("m=audio ");
  if (at == std::string_view::npos) return std::nullopt;
  uint32_t port = 0;
  size_t i = at + 8;
  for (; i < sdp.size() && i < at + 14 && sdp[i] >= '0' && sdp[i] <= '9'; ++i) {
    port = port * 10 + static_cast<uint32_t>(sdp[i] - '0');
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return static_cast<uint16_t>(port);
}

class FocusE2e : public ::testing::Test {
 protected:
  FocusE2e() : client_(io_, client_config()) {}

  // The server comes after the client so that it is destroyed first: its
  // shutdown BYEs still find the client's handlers alive.
  void start_server(uint16_t rtp_first, uint16_t rtp_last,
                    std::chrono::milliseconds rtp_timeout = 30s,
                    const std::function<void(Options&)>& tweak = {}) {
    Options options;
    options.recording.dir = recording_dir();
    if (tweak) tweak(options);
    options.rtp_timeout = rtp_timeout;
    options.sip_port = 0;
    options.tcp = false;
    options.rtp_first = rtp_first;
    options.rtp_last = rtp_last;
    if (manual_clock_) {
      server_.emplace(io_, options, *manual_clock_);
    } else {
      server_.emplace(io_, options);
    }
    start_client();
  }

  // Recordings of an in-process focus stay in the test's temporary tree.
  // Per process; whatever a test recorded into it is removed when the
  // process exits.
  static std::string recording_dir() {
    struct Dir {
      std::string path =
          ::testing::TempDir() + "chorus-e2e-recordings-" + std::to_string(::getpid());
      ~Dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
      }
    };
    static const Dir dir;
    return dir.path;
  }

  // The server on a media engine of the test's (a fake: no sockets, no
  // threads on the media side).
  void start_server_with_engine(std::unique_ptr<mixer::MediaEngine> engine,
                                const std::function<void(Options&)>& tweak = {}) {
    Options options;
    options.recording.dir = recording_dir();
    if (tweak) tweak(options);
    options.sip_port = 0;
    options.tcp = false;
    server_.emplace(io_, options, timers_, std::move(engine));
    start_client();
  }

  void start_client() {
    server_->start();
    client_.start();
    sip::StackHandlers handlers;
    handlers.on_request = [this](const sip::ServerTransaction& tx) {
      client_requests_.push_back(tx.request());
      if (tx.request().method() == Method::kNotify && hold_notifies_) {
        held_.push_back(tx);  // a subscriber that does not keep up
        return;
      }
      if (tx.request().method() == Method::kInvite) {
        const auto redirect = redirects_.find(std::string(tx.request().request_uri().user));
        if (redirect != redirects_.end()) {
          Message moved = sip::make_response(tx.request(), 302, "Moved Temporarily", "moved");
          moved.set_header("Contact", "<" + redirect->second + ">");
          tx.respond(std::move(moved));
          return;
        }
        const std::string user(tx.request().request_uri().user);
        if (ring_only_.contains(user)) {
          Message ringing = sip::make_response(tx.request(), 180, "Ringing", "ring-" + user);
          ringing.set_header("Contact",
                             "<" + client_.contact_uri(user, sip::TransportKind::kUdp) + ">");
          tx.respond(std::move(ringing));
          ringing_[user] = tx;
          return;
        }
      }
      if (tx.request().method() == Method::kInvite) {
        const auto refusal = refusals_.find(std::string(tx.request().request_uri().user));
        if (refusal != refusals_.end()) {
          tx.respond(refusal->second.first, refusal->second.second);
          return;
        }
      }
      if (tx.request().method() == Method::kRefer) {
        const auto refusal = refer_refusals_.find(std::string(tx.request().request_uri().user));
        if (refusal != refer_refusals_.end()) {
          tx.respond(refusal->second, "Refused");
          return;
        }
      }
      if (tx.request().method() == Method::kInvite && callee_ != nullptr) {
        answer_dial_out(tx);
        return;
      }
      tx.respond(200, "OK");
    };
    handlers.on_cancel = [this](const sip::ServerTransaction&, const Message& cancel) {
      client_cancels_.push_back(cancel);  // the stack answered 200 and 487
    };
    handlers.on_ack = [this](const Message& ack, const sip::Endpoint&) {
      client_acks_.push_back(ack);
      if (callee_ != nullptr && ack.call_id() == callee_->call_id) {
        if (const auto port = audio_port(ack.body())) callee_->mixer_port = *port;
      }
    };
    client_.set_handlers(handlers);
    focus_ = server_->stack().listening().front();
  }

  static sip::StackConfig client_config() {
    sip::StackConfig config;
    config.listeners.push_back({sip::TransportKind::kUdp, "127.0.0.1", 0});
    return config;
  }

  Message request(Caller& caller, Method method, std::string_view room) {
    const bool in_dialog = !caller.to_tag.empty();
    const std::string uri =
        in_dialog ? caller.remote_target
                  : "sip:" + std::string(room) + "@127.0.0.1:" + std::to_string(focus_.port);
    Message m = Message::request(method, uri);
    m.add_header("From", "<sip:" + caller.name() + "@127.0.0.1>;tag=" + caller.from_tag);
    m.add_header("To", "<sip:" + std::string(room) + "@127.0.0.1>" +
                           (in_dialog ? ";tag=" + caller.to_tag : ""));
    m.add_header("Call-ID", caller.call_id);
    m.add_header("CSeq", std::to_string(++caller.cseq) + " " + std::string(method_name(method)));
    m.add_header("Contact",
                 "<" + client_.contact_uri(caller.name(), sip::TransportKind::kUdp) + ">");
    m.set_body({}, {});
    return m;
  }

  // Sends and runs the io until the final response (bounded); returns it.
  // The outcome is shared with the handler: a response after the limit
  // reaches it, not this returned frame.
  std::optional<Message> exchange(Message m, std::chrono::milliseconds limit = 3000ms) {
    struct Outcome {
      std::optional<Message> final_response;
      bool done = false;
    };
    auto outcome = std::make_shared<Outcome>();
    client_.send_request(std::move(m), focus_, [outcome](const ClientEvent& event) {
      if (event.response && event.response->status() >= 200) {
        outcome->final_response = *event.response;
      }
      if (!event.response || event.response->status() >= 200) outcome->done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!outcome->done && std::chrono::steady_clock::now() < deadline) io_.run_for(5ms);
    return outcome->final_response;
  }

  void ack(Caller& caller, const Message& ok, std::string_view room) {
    Message a = Message::request(Method::kAck, caller.remote_target);
    a.add_header("From", "<sip:" + caller.name() + "@127.0.0.1>;tag=" + caller.from_tag);
    a.add_header("To", "<sip:" + std::string(room) + "@127.0.0.1>;tag=" + caller.to_tag);
    a.add_header("Call-ID", caller.call_id);
    a.add_header("CSeq", std::to_string(ok.cseq().number) + " ACK");
    a.set_body({}, {});
    ASSERT_TRUE(client_.send_ack(std::move(a)));
  }

  // INVITE (or re-INVITE) with the caller's SDP; returns the final status.
  int invite(Caller& caller, std::string_view direction, std::string_view room = "e2e") {
    Message m = request(caller, Method::kInvite, room);
    m.set_body("application/sdp", caller.sdp(direction));
    const std::optional<Message> ok = exchange(std::move(m));
    if (!ok) return 0;
    if (ok->status() != 200) return ok->status();
    EXPECT_EQ(ok->content_type(), "application/sdp");
    EXPECT_FALSE(ok->contacts().empty());
    if (ok->contacts().empty()) return 0;
    EXPECT_TRUE(ok->contacts().front().has_param("isfocus"));  // RFC 4579 §2.4
    if (caller.to_tag.empty()) {
      caller.to_tag = std::string(ok->to().tag());
      caller.remote_target = ok->contacts().front().uri_text;
    }
    const std::optional<uint16_t> port = audio_port(ok->body());
    EXPECT_TRUE(port.has_value()) << ok->body();
    if (port) caller.mixer_port = *port;
    caller.answer = std::string(ok->body());
    ack(caller, *ok, room);
    return 200;
  }

  int bye(Caller& caller, std::string_view room = "e2e") {
    const std::optional<Message> ok = exchange(request(caller, Method::kBye, room));
    caller.sending = false;
    return ok ? ok->status() : 0;
  }

  // `ticks` of 20 ms: everyone sends a frame, the io runs until the next
  // tick, everyone drains; audio is kept from tick `keep_from` on.
  void talk(std::vector<Caller*> callers, int ticks, int keep_from) {
    for (Caller* c : callers) c->forget();
    auto next = std::chrono::steady_clock::now();
    for (int t = 0; t < ticks; ++t) {
      for (Caller* c : callers) c->send_frame();
      next += 20ms;
      while (std::chrono::steady_clock::now() < next) {
        io_.run_for(std::chrono::duration_cast<std::chrono::milliseconds>(
                        next - std::chrono::steady_clock::now()) +
                    1ms);
      }
      for (Caller* c : callers) c->receive(t >= keep_from);
    }
  }

  // ---- requests with extra headers, digest credentials, a callee for dial-out

  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Computes an Authorization value answering `challenge` (RFC 7616 §3.4).
  static std::string authorization(const Message& challenge_response, const Message& request,
                                   std::string_view user, std::string_view password) {
    const auto value = challenge_response.header("WWW-Authenticate");
    if (!value) return {};
    return digest_answer(*value, request.method_text(), request.request_uri().to_string(), user,
                         password);
  }

 public:
  // The Digest credentials answering one challenge header value (SIP's
  // WWW-Authenticate or HTTP's), qop=auth, for `method` on `uri`.
  static std::string digest_answer(std::string_view challenge_text, std::string_view method,
                                   std::string_view uri, std::string_view user,
                                   std::string_view password) {
    const auto challenge = sip::parse_auth_header(challenge_text);
    if (!challenge) return {};
    const std::string realm(challenge->param("realm").value_or(""));
    const std::string nonce(challenge->param("nonce").value_or(""));
    const auto algorithm =
        sip::digest_algorithm_from_name(challenge->param("algorithm").value_or("MD5"))
            .value_or(sip::DigestAlgorithm::kMd5);
    const std::string ha1 = sip::digest_ha1(algorithm, user, realm, password);
    sip::DigestInput in;
    in.algorithm = algorithm;
    in.ha1 = ha1;
    in.nonce = nonce;
    in.nc = "00000001";
    in.cnonce = "e2ecnonce";
    in.qop = "auth";
    in.method = method;
    in.uri = uri;
    const std::string response = sip::digest_response(in);
    return sip::format_auth_header("Digest",
                                   {{"username", user},
                                    {"realm", realm},
                                    {"nonce", nonce},
                                    {"uri", uri},
                                    {"response", response},
                                    {"algorithm", sip::digest_algorithm_name(algorithm), false},
                                    {"qop", "auth", false},
                                    {"nc", "00000001", false},
                                    {"cnonce", "e2ecnonce"}});
  }

 protected:
  // Sends `m` (with `headers` added); on 401 and with credentials, resends
  // once with Authorization (a new CSeq). Returns the final response.
  std::optional<Message> exchange_auth(Caller& caller, Message m, const Headers& headers,
                                       std::string_view user = {}, std::string_view password = {}) {
    for (const auto& [name, value] : headers) m.add_header(name, value);
    Message copy = m;
    std::optional<Message> response = exchange(std::move(m));
    if (!response || response->status() != 401 || user.empty()) return response;
    copy.set_header("CSeq", std::to_string(++caller.cseq) + " " + std::string(copy.method_text()));
    copy.set_header("Authorization", authorization(*response, copy, user, password));
    return exchange(std::move(copy));
  }

  // INVITE to `uri` (default: the room) with extra headers; on 200 the
  // caller is in the call (ACK sent). Returns the final status.
  int invite_to(Caller& caller, std::string_view direction, std::string_view room,
                std::string_view uri, const Headers& headers, std::string_view user = {},
                std::string_view password = {}) {
    Message m = request(caller, Method::kInvite, room);
    if (!uri.empty()) m.set_request_uri(uri);
    m.set_body("application/sdp", caller.sdp(direction));
    const std::optional<Message> ok = exchange_auth(caller, std::move(m), headers, user, password);
    if (!ok) return 0;
    if (ok->status() != 200) return ok->status();
    caller.to_tag = std::string(ok->to().tag());
    if (!ok->contacts().empty()) caller.remote_target = ok->contacts().front().uri_text;
    if (const auto port = audio_port(ok->body())) caller.mixer_port = *port;
    ack(caller, *ok, room);
    return 200;
  }

  // The focus dials out to us: the next INVITE is answered 200 with the
  // callee's SDP offer (the focus sends an offerless INVITE) from callee's socket.
  void answer_dial_out(const sip::ServerTransaction& tx) {
    Caller& callee = *callee_;
    const Message& invite = tx.request();
    callee.call_id = std::string(invite.call_id());
    callee.to_tag = std::string(invite.from().tag());  // the focus's tag
    if (!invite.contacts().empty()) callee.remote_target = invite.contacts().front().uri_text;
    Message ok = sip::make_response(invite, 200, "OK", callee.from_tag);
    ok.set_header("Contact",
                  "<" + client_.contact_uri(callee.name(), sip::TransportKind::kUdp) + ">");
    ok.set_body("application/sdp", callee.sdp("sendrecv"));
    tx.respond(std::move(ok));
  }

  // Runs the io until `done` or `limit`.
  // One HTTP/1.1 request to the admin listener on `port` while the io
  // (which serves it) runs; `bearer`: the operator token, if any;
  // `extra_headers`: more header lines, each ending in CRLF.
  struct HttpReply {
    int status = 0;
    std::string body;
    std::string head;  // the status line and headers
  };
  HttpReply http(uint16_t port, std::string_view method, std::string_view path,
                 std::string_view body = {}, std::string_view bearer = {},
                 std::string_view extra_headers = {}) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    // The listener's backlog accepts the connection before the io runs.
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    std::string request = std::string(method) + " " + std::string(path) +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!bearer.empty()) request += "Authorization: Bearer " + std::string(bearer) + "\r\n";
    request += extra_headers;
    if (!body.empty()) {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += "\r\n" + std::string(body);
    EXPECT_EQ(::send(fd, request.data(), request.size(), 0), ssize_t(request.size()));
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    std::string reply;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      io_.run_for(2ms);
      char buf[16384];
      ssize_t n = 0;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, size_t(n));
      if (n == 0) break;  // closed: the whole reply is here
      const size_t head = reply.find("\r\n\r\n");
      const size_t length_at = reply.find("Content-Length: ");
      if (head != std::string::npos && length_at != std::string::npos && length_at < head) {
        const size_t length = std::stoul(reply.substr(length_at + 16));
        if (reply.size() >= head + 4 + length) break;
      }
    }
    ::close(fd);
    HttpReply out;
    if (reply.starts_with("HTTP/1.1 ") && reply.size() >= 12)
      out.status = std::stoi(reply.substr(9, 3));
    const size_t head = reply.find("\r\n\r\n");
    if (head != std::string::npos) {
      out.body = reply.substr(head + 4);
      out.head = reply.substr(0, head + 2);
    }
    return out;
  }

  void run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_for(5ms);
  }

  // The Join / Replaces / Target-Dialog value naming `caller`'s dialog with
  // the focus, from a third party's point of view: call-id;to-tag=<focus's
  // tag>;from-tag=<caller's tag> (RFC 3911 §7.1 / RFC 3891 §6.1).
  static std::string dialog_ref(const Caller& caller) {
    return caller.call_id + ";to-tag=" + caller.to_tag + ";from-tag=" + caller.from_tag;
  }

  std::string room_uri(std::string_view room) const {
    return "sip:" + std::string(room) + "@127.0.0.1:" + std::to_string(focus_.port);
  }

  // ---- the waiting room and action URNs

  // An INVITE left to the focus (a waiting room keeps it unanswered): every
  // response it gets is kept.
  struct Pending {
    std::vector<Message> responses;
    size_t count(int status) const {
      return static_cast<size_t>(
          std::count_if(responses.begin(), responses.end(),
                        [&](const Message& m) { return m.status() == status; }));
    }
    const Message* final_response() const {
      for (const Message& m : responses) {
        if (m.status() >= 200) return &m;
      }
      return nullptr;
    }
  };

  // Dials in to `room` and runs until the 180; the early dialog's tag and
  // Contact fill `caller`, the early media port comes from the first 183's
  // SDP (later, while the io runs).
  void call_in(Caller& caller, std::string_view room, Pending& pending) {
    Message m = request(caller, Method::kInvite, room);
    m.set_body("application/sdp", caller.sdp("sendrecv"));
    client_.send_request(std::move(m), focus_, [&caller, &pending](const ClientEvent& event) {
      if (!event.response) return;
      const Message& response = *event.response;
      pending.responses.push_back(response);
      if (response.status() > 100 && caller.to_tag.empty()) {
        caller.to_tag = std::string(response.to().tag());
        if (!response.contacts().empty())
          caller.remote_target = response.contacts().front().uri_text;
      }
      if (response.status() == 183 && caller.mixer_port == 0) {
        if (const auto port = audio_port(response.body())) caller.mixer_port = *port;
      }
    });
    run_until([&] { return pending.count(180) > 0; });
  }

  // `caller` as the focus publishes it in `room`, if there.
  std::optional<MemberState> member(std::string_view room, const Caller& caller) const {
    const std::optional<ConferenceState> state = server_->room_state(room);
    if (!state) return std::nullopt;
    for (const MemberState& m : state->members) {
      if (m.dialog.call_id == caller.call_id) return m;
    }
    return std::nullopt;
  }

  // Its member id there (0: not there).
  uint64_t id_of(std::string_view room, const Caller& caller) const {
    const std::optional<MemberState> state = member(room, caller);
    return state ? state->id : 0;
  }

  // The admin API on the running server (the operator's token is
  // "operator-token"; accounts are the server's).
  AdminApi& operator_api() {
    if (!operator_api_) {
      operator_api_.emplace(*server_, MetricsSource{}, AdminConfig{.token = "operator-token"});
    }
    return *operator_api_;
  }
  // A request to it as the operator.
  AdminResponse admin(std::string_view method, const std::string& target,
                      std::string_view body = {}) {
    return operator_api().handle(AdminRequest{method, target, "Bearer operator-token", body, {}});
  }

  // RFC 4538 Target-Dialog naming `caller`'s dialog with the focus, as the
  // focus sees it (local-tag: the focus's) or, `member_view`, as the
  // member itself does.
  static std::string target_dialog(const Caller& caller, bool member_view = false) {
    const std::string& local = member_view ? caller.from_tag : caller.to_tag;
    const std::string& remote = member_view ? caller.to_tag : caller.from_tag;
    return caller.call_id + ";local-tag=" + local + ";remote-tag=" + remote;
  }

  // Requests of `method` the client received (for `call_id`, when given).
  size_t received(Method method, std::string_view call_id = {}) const {
    return static_cast<size_t>(
        std::count_if(client_requests_.begin(), client_requests_.end(), [&](const Message& m) {
          return m.method() == method && (call_id.empty() || m.call_id() == call_id);
        }));
  }
  const Message* last_received(Method method) const {
    const Message* found = nullptr;
    for (const Message& m : client_requests_) {
      if (m.method() == method) found = &m;
    }
    return found;
  }

  // The NOTIFYs received in the dialog(s) of Call-ID `call_id`, in order.
  std::vector<const Message*> notifies(std::string_view call_id) const {
    std::vector<const Message*> out;
    for (const Message& m : client_requests_) {
      if (m.method() == Method::kNotify && m.call_id() == call_id) out.push_back(&m);
    }
    return out;
  }

  // SUBSCRIBE Event: conference (RFC 4575) to `room` as `watcher` (at
  // `request_uri` when given: a sidebar's); the final response.
  std::optional<Message> subscribe_conference(Caller& watcher, std::string_view room,
                                              std::string_view request_uri = {}) {
    Message subscribe = request(watcher, Method::kSubscribe, room);
    if (!request_uri.empty()) subscribe.set_request_uri(request_uri);
    subscribe.set_header("Event", "conference");
    subscribe.set_header("Accept", "application/conference-info+xml");
    subscribe.set_header("Expires", "600");
    return exchange(std::move(subscribe));
  }

  // The sipfrag status lines of NOTIFYs received (RFC 3515 §2.4.5).
  std::vector<std::string> sipfrags() const {
    std::vector<std::string> out;
    for (const Message& m : client_requests_) {
      if (m.method() != Method::kNotify) continue;
      std::string_view body = m.body();
      out.emplace_back(body.substr(0, body.find('\r')));
    }
    return out;
  }

  Caller* callee_ = nullptr;
  // INVITEs to these users (Request-URI user) are answered 302 with the URI.
  std::map<std::string, std::string> redirects_;
  // INVITEs to these users ring (180, To tag "ring-<user>") and are kept
  // unanswered in ringing_.
  std::set<std::string> ring_only_;
  // NOTIFYs left unanswered (in held_) while set.
  bool hold_notifies_ = false;
  std::vector<sip::ServerTransaction> held_;
  std::map<std::string, sip::ServerTransaction> ringing_;
  // INVITEs to these users are refused with this status and reason.
  std::map<std::string, std::pair<int, std::string>> refusals_;
  // REFERs to these users (their Contact's user) are refused with this status.
  std::map<std::string, int> refer_refusals_;
  std::vector<Message> client_acks_;
  std::vector<Message> client_cancels_;

  asio::io_context io_;
  sip::AsioTimerService timers_{io_};
  // The focus's SIP clock (transaction timers) when a test drives it:
  // engaged before start_server; else the real one.
  std::optional<sip::ManualTimerService> manual_clock_;
  sip::Stack client_;
  std::optional<Server> server_;
  std::optional<AdminApi> operator_api_;  // admin(): goes before the server
  sip::Endpoint focus_;
  std::vector<Message> client_requests_;
};

}  // namespace chorus::focus::e2e
