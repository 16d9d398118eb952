// A dial-in conference end to end on 127.0.0.1: a client sip::Stack dials
// three callers into one room of an in-process focus Server; each caller
// sends its own tone as PCMU RTP from its own socket and decodes what the
// mixer sends back. Checks N-1 mixing, leaving by BYE, hold by re-INVITE
// (RFC 3264 §8.4) and 503 when the mixer has no port left.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include "focus/server.hpp"
#include "mixer/codec.hpp"
#include "mixer/goertzel.hpp"
#include "rtp/packet.hpp"
#include "signaling/transaction_ids.hpp"

namespace chorus::focus {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using sip::ClientEvent;
using sip::Message;
using sip::Method;

// Clearly present / clearly absent Goertzel amplitudes for a 6000-peak tone
// after G.711 and the mixer's limiter.
constexpr double kHeard = 1500.0;
constexpr double kSilent = 300.0;

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
           std::to_string(port_) +
           " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=" + std::string(direction) + "\r\n";
  }

  void send_frame() {
    if (mixer_port == 0 || !sending) return;
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
    const rtp::RtpHeader h{0, seq_ == 0, seq_, ts_, 0x2000u + port_};
    const size_t n = rtp::write_packet(packet, h, std::span<const uint8_t>(payload.data(), size));
    ++seq_;
    ts_ += 160;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(mixer_port);
    ::sendto(fd_, packet.data(), n, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }

  // Drains the socket (bounded by what is queued); keeps decoded audio when asked.
  void receive(bool keep) {
    std::array<uint8_t, 2048> buf{};
    for (int i = 0; i < 256; ++i) {
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) return;
      ++packets_;
      const auto view = rtp::PacketView::parse(std::span<const uint8_t>(buf.data(), size_t(n)));
      if (!view || view->payload_type() != 0) continue;
      mixer::Frame f;
      if (keep && decoder_->decode(view->payload(), f)) {
        heard_.insert(heard_.end(), f.pcm().begin(), f.pcm().end());
      }
    }
  }

  double heard(double freq) const { return mixer::goertzel_amplitude(heard_, freq, 8000); }
  double level() const { return mixer::rms(heard_); }
  void forget() { heard_.clear(); }
  size_t samples() const { return heard_.size(); }
  double freq() const { return freq_; }
  const std::string& name() const { return name_; }

  // SIP state, filled by the fixture.
  std::string call_id = "e2e-" + sip::make_tag();
  std::string from_tag = sip::make_tag();
  std::string to_tag;
  std::string remote_target;
  uint32_t cseq = 0;
  uint16_t mixer_port = 0;
  bool sending = true;

 private:
  double freq_;
  std::string name_;
  mutable int version_ = 0;
  double phase_ = 0;
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

class ConferenceE2eTest : public ::testing::Test {
 protected:
  ConferenceE2eTest() : client_(io_, client_config()) {}

  // The server comes after the client so that it is destroyed first: its
  // shutdown BYEs still find the client's handlers alive.
  void start_server(uint16_t rtp_first, uint16_t rtp_last,
                    std::chrono::milliseconds rtp_timeout = 30s) {
    Options options;
    options.rtp_timeout = rtp_timeout;
    options.sip_port = 0;
    options.tcp = false;
    options.rtp_first = rtp_first;
    options.rtp_last = rtp_last;
    server_.emplace(io_, options);
    server_->start();
    client_.start();
    sip::StackHandlers handlers;
    handlers.on_request = [this](const sip::ServerTransaction& tx) {
      client_requests_.push_back(tx.request());
      tx.respond(200, "OK");
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
  std::optional<Message> exchange(Message m, std::chrono::milliseconds limit = 3000ms) {
    std::optional<Message> final_response;
    bool done = false;
    client_.send_request(std::move(m), focus_, [&](const ClientEvent& event) {
      if (event.response && event.response->status() >= 200) final_response = *event.response;
      if (!event.response || event.response->status() >= 200) done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) io_.run_for(5ms);
    return final_response;
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

  asio::io_context io_;
  sip::Stack client_;
  std::optional<Server> server_;
  sip::Endpoint focus_;
  std::vector<Message> client_requests_;
};

TEST_F(ConferenceE2eTest, EachCallerHearsTheOthersButNotItselfAndByeLeaves) {
  start_server(44000, 44099);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  std::vector<Caller*> all{&a, &b, &c};
  for (Caller* caller : all) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  EXPECT_EQ(server_->call_count(), 3u);
  EXPECT_EQ(server_->conferences().rooms(), 1u);
  EXPECT_EQ(server_->conferences().members("e2e"), 3u);
  EXPECT_NE(a.mixer_port, b.mixer_port);
  EXPECT_NE(b.mixer_port, c.mixer_port);
  EXPECT_GE(a.mixer_port, 44000);
  EXPECT_LE(a.mixer_port, 44099);

  talk(all, 60, 30);  // 1.2 s; judge the last 0.6 s
  for (Caller* me : all) {
    SCOPED_TRACE(me->name());
    ASSERT_GT(me->samples(), 160u * 10);
    for (Caller* other : all) {
      if (other == me) {
        EXPECT_LT(me->heard(other->freq()), kSilent);
      } else {
        EXPECT_GT(me->heard(other->freq()), kHeard);
      }
    }
  }

  // Carol leaves: the other two stop hearing her and still hear each other.
  ASSERT_EQ(bye(c), 200);
  EXPECT_EQ(server_->call_count(), 2u);
  EXPECT_EQ(server_->conferences().members("e2e"), 2u);
  talk({&a, &b}, 40, 15);
  ASSERT_GT(a.samples(), 160u * 10);
  EXPECT_LT(a.heard(1100), kSilent);
  EXPECT_LT(b.heard(1100), kSilent);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);

  // The last members leave: the room is gone.
  ASSERT_EQ(bye(a), 200);
  ASSERT_EQ(bye(b), 200);
  EXPECT_EQ(server_->call_count(), 0u);
  EXPECT_EQ(server_->conferences().rooms(), 0u);
}

TEST_F(ConferenceE2eTest, SendonlyReinviteHoldsWithMusicAndSendrecvResumes) {
  start_server(44100, 44199);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  std::vector<Caller*> all{&a, &b, &c};
  for (Caller* caller : all) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  talk(all, 20, 20);

  // Bob holds the focus (RFC 3264 §8.4): heard by nobody, hears music.
  ASSERT_EQ(invite(b, "sendonly"), 200);
  talk(all, 40, 15);
  EXPECT_LT(a.heard(700), kSilent);
  EXPECT_LT(c.heard(700), kSilent);
  EXPECT_GT(a.heard(1100), kHeard);
  EXPECT_GT(c.heard(400), kHeard);
  ASSERT_GT(b.samples(), 160u * 10);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_LT(b.heard(1100), kSilent);
  EXPECT_GT(b.level(), kSilent);  // the music, not silence

  // Resumed: back to N-1.
  ASSERT_EQ(invite(b, "sendrecv"), 200);
  talk(all, 40, 15);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(c.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_GT(b.heard(1100), kHeard);
  EXPECT_LT(b.heard(700), kSilent);
}

TEST_F(ConferenceE2eTest, InactiveReinviteHoldsInSilence) {
  start_server(44200, 44299);
  Caller a(400, "alice"), b(700, "bob");
  for (Caller* caller : {&a, &b}) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  ASSERT_EQ(invite(b, "inactive"), 200);
  talk({&a, &b}, 40, 15);
  EXPECT_LT(a.heard(700), kSilent);
  EXPECT_LT(b.heard(400), kSilent);
  EXPECT_LT(b.level(), kSilent);  // no music either
}

// The mixer's port range holds one even port: the second caller gets 503
// with Retry-After (RFC 3261 §21.5.4) and the room keeps its first member.
TEST_F(ConferenceE2eTest, NoMediaPortLeftIs503WithRetryAfter) {
  start_server(44300, 44301);
  Caller a(400, "alice"), b(700, "bob");
  ASSERT_EQ(invite(a, "sendrecv"), 200);
  Message m = request(b, Method::kInvite, "e2e");
  m.set_body("application/sdp", b.sdp("sendrecv"));
  const std::optional<Message> refused = exchange(std::move(m));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status(), 503);
  EXPECT_TRUE(refused->header("Retry-After").has_value());
  EXPECT_EQ(server_->call_count(), 1u);
  EXPECT_EQ(server_->conferences().members("e2e"), 1u);
}

// Graceful shutdown: every member gets a BYE from the focus.
TEST_F(ConferenceE2eTest, StopSendsByeToEveryMember) {
  start_server(44400, 44499);
  Caller a(400, "alice"), b(700, "bob");
  for (Caller* caller : {&a, &b}) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  server_->stop();
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (client_requests_.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    io_.run_for(5ms);
  }
  ASSERT_EQ(client_requests_.size(), 2u);
  for (const Message& m : client_requests_) EXPECT_EQ(m.method(), Method::kBye);
  EXPECT_EQ(server_->call_count(), 0u);
}

// §13.2.1: without an offer in the INVITE the ACK's answer names the peer;
// alone in the room, the caller hears music there although it never sent.
TEST_F(ConferenceE2eTest, OfferlessInviteLearnsThePeerFromTheAck) {
  start_server(44600, 44699);
  Caller a(400, "alice");
  const std::optional<Message> ok = exchange(request(a, Method::kInvite, "e2e"));
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200);
  ASSERT_FALSE(ok->contacts().empty());
  a.to_tag = std::string(ok->to().tag());
  a.remote_target = ok->contacts().front().uri_text;
  Message ack = Message::request(Method::kAck, a.remote_target);
  ack.add_header("From", "<sip:alice@127.0.0.1>;tag=" + a.from_tag);
  ack.add_header("To", "<sip:e2e@127.0.0.1>;tag=" + a.to_tag);
  ack.add_header("Call-ID", a.call_id);
  ack.add_header("CSeq", std::to_string(ok->cseq().number) + " ACK");
  ack.set_body("application/sdp", a.sdp("sendrecv"));
  ASSERT_TRUE(client_.send_ack(std::move(ack)));
  a.sending = false;
  talk({&a}, 40, 15);
  EXPECT_EQ(server_->call_count(), 1u);
  ASSERT_GT(a.samples(), 160u * 10);
  EXPECT_GT(a.level(), kSilent);  // music on hold for the lone member
}

// A member whose media stops is hung up on with BYE and leaves the room.
TEST_F(ConferenceE2eTest, RtpTimeoutEndsTheCallWithBye) {
  start_server(44500, 44599, 300ms);
  Caller a(400, "alice"), b(700, "bob");
  for (Caller* caller : {&a, &b}) ASSERT_EQ(invite(*caller, "sendrecv"), 200);
  b.sending = false;  // bob goes silent on the wire; alice keeps talking
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (client_requests_.empty() && std::chrono::steady_clock::now() < deadline) {
    talk({&a}, 5, 5);
  }
  ASSERT_FALSE(client_requests_.empty());
  EXPECT_EQ(client_requests_.front().method(), Method::kBye);
  EXPECT_EQ(client_requests_.front().call_id(), b.call_id);
  EXPECT_EQ(server_->call_count(), 1u);
  EXPECT_EQ(server_->conferences().members("e2e"), 1u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
