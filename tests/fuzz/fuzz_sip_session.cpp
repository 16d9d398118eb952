// libFuzzer target: whole SIP message sequences through the transport,
// transaction, dialog and focus layers of an in-process focus::Server with
// the fake media engine (tests/focus/fake_media_engine.hpp), no media
// sockets and no shard threads.
//
// Input: messages separated by lines "%%" (optionally "%%<ms>": advance the
// clock that many milliseconds before the next message). Each message is
// injected into the stack as a UDP datagram from 127.0.0.1:<our port>
// (TransportLayer::inject). Before that, placeholders are filled in so a
// mutated sequence can still reach in-dialog states:
//   $PORT  our capture socket's port (use it in Via and Contact),
//   $TAG   the To tag the focus last answered for this Call-ID,
//   $TAG(<call-id>)  the one it answered for that Call-ID,
//   $AUTH  digest credentials (alice / secret) for the focus's last challenge.
// What the focus sends lands on the capture socket: responses teach us tags
// and challenges; requests (NOTIFY, BYE, dial-out INVITE, REFER progress)
// are answered 200 through the same injection path. After the sequence the
// clock runs 40 s on (timers B/F/H, session timers, expiries), then the
// server stops; ASan/UBSan and the leak checker watch everything.
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "focus/server.hpp"
#include "signaling/auth/digest_hash.hpp"
#include "signaling/message/header_auth.hpp"
#include "signaling/transaction/timer.hpp"
#include "tests/focus/fake_media_engine.hpp"

namespace {

using namespace std::chrono_literals;
using chorus::sip::Message;

constexpr size_t kMaxMessages = 24;
constexpr size_t kMaxPumpRounds = 16;

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// The value of the first "Call-ID:" (or "i:") line, raw.
std::string raw_call_id(std::string_view text) {
  for (std::string_view key : {"\nCall-ID:", "\ni:"}) {
    const size_t at = text.find(key);
    if (at == std::string_view::npos) continue;
    size_t start = at + key.size();
    while (start < text.size() && text[start] == ' ') ++start;
    const size_t end = text.find_first_of("\r\n", start);
    return std::string(text.substr(start, end == std::string_view::npos ? text.npos : end - start));
  }
  return {};
}

class Session {
 public:
  Session() {
    chorus::focus::Options options;
    options.sip_host = "127.0.0.1";
    options.sip_port = 0;
    options.tcp = false;
    options.slow_room_prefix = "slow-";
    options.ring_delay = 500ms;
    options.accounts.push_back(
        {"alice", "secret", {"admin"}});  // every right: services and Join modes
    options.accounts.push_back({"bob", "secret", {}});
    chorus::focus::RoomPolicy pinned;
    pinned.name = "pinned";
    pinned.pin = "1234";
    options.rooms.push_back(pinned);
    chorus::focus::RoomPolicy lobby;  // the waiting room, ANSWER/PICKUP/REJECT
    lobby.name = "lobby";
    lobby.waiting_room = true;
    lobby.waiting_timeout = std::chrono::seconds(20);
    options.rooms.push_back(lobby);
    options.voicemail_uri = "sip:vm@127.0.0.1";
    auto engine = std::make_unique<chorus::focus::testing::FakeMediaEngine>();
    fake_ = engine.get();
    server_ = std::make_unique<chorus::focus::Server>(io_, options, timers_, std::move(engine));
    server_->start();
    capture_.open(boost::asio::ip::udp::v4());
    capture_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    capture_.non_blocking(true);
    source_ = {chorus::sip::TransportKind::kUdp, "127.0.0.1", capture_.local_endpoint().port(), 1};
  }

  ~Session() {
    server_->stop();
    pump();
    server_.reset();
  }

  void run(std::string_view input) {
    size_t count = 0;
    size_t start = 0;
    uint32_t advance_ms = 0;
    while (start <= input.size() && count < kMaxMessages) {
      size_t sep = input.find("%%", start);
      while (sep != std::string_view::npos && sep != 0 && input[sep - 1] != '\n') {
        sep = input.find("%%", sep + 2);
      }
      const std::string_view message =
          input.substr(start, sep == std::string_view::npos ? input.npos : sep - start);
      if (advance_ms != 0) advance(std::chrono::milliseconds(advance_ms));
      if (!message.empty()) send(message);
      ++count;
      if (sep == std::string_view::npos) break;
      // "%%<digits>\n": the clock advance before the next message.
      size_t at = sep + 2;
      advance_ms = 0;
      while (at < input.size() && input[at] >= '0' && input[at] <= '9' && advance_ms < 100000) {
        advance_ms = advance_ms * 10 + static_cast<uint32_t>(input[at++] - '0');
      }
      while (at < input.size() && (input[at] == '\r' || input[at] == '\n')) ++at;
      start = at;
    }
    // Let every timer the sequence started run out (transactions, session
    // timers, ringing rooms, subscription expiry).
    advance(40s, 1s);
  }

 private:
  void send(std::string_view raw) {
    static const bool trace = std::getenv("CHORUS_FUZZ_TRACE") != nullptr;
    if (trace) std::fprintf(stderr, "-> %.*s\n", static_cast<int>(raw.find('\r')), raw.data());
    std::string text(raw);
    // Messages in seeds end lines with LF or CRLF; SIP wants CRLF.
    if (text.find('\r') == std::string::npos) replace_all(text, "\n", "\r\n");
    replace_all(text, "$PORT", std::to_string(source_.port));
    // $TAG(<call-id>): the To tag the focus gave that other call (Join,
    // Replaces and Target-Dialog name another dialog).
    for (size_t at = text.find("$TAG("); at != std::string::npos; at = text.find("$TAG(", at)) {
      const size_t close = text.find(')', at);
      if (close == std::string::npos) break;
      const auto it = tags_.find(text.substr(at + 5, close - at - 5));
      const std::string tag = it != tags_.end() ? it->second : last_tag_;
      text.replace(at, close + 1 - at, tag);
      at += tag.size();
    }
    if (text.find("$TAG") != std::string::npos) {
      const auto it = tags_.find(raw_call_id(text));
      replace_all(text, "$TAG", it != tags_.end() ? it->second : last_tag_);
    }
    if (text.find("$AUTH") != std::string::npos) fill_auth(text);
    server_->stack().transport().inject(text, source_);
    pump();
  }

  void fill_auth(std::string& text) {
    std::string probe = text;
    replace_all(probe, "$AUTH", "x");
    auto parsed = Message::parse(probe);
    std::string value = "x";
    if (parsed.ok() && parsed.value().is_request() && challenge_) {
      const Message& request = parsed.value();
      const auto header = challenge_->header("WWW-Authenticate");
      const auto challenge = header ? chorus::sip::parse_auth_header(*header) : std::nullopt;
      if (challenge) {
        const std::string realm(challenge->param("realm").value_or(""));
        const std::string nonce(challenge->param("nonce").value_or(""));
        const auto algorithm = chorus::sip::digest_algorithm_from_name(
                                   challenge->param("algorithm").value_or("MD5"))
                                   .value_or(chorus::sip::DigestAlgorithm::kMd5);
        const std::string ha1 = chorus::sip::digest_ha1(algorithm, "alice", realm, "secret");
        const std::string uri = request.request_uri().to_string();
        char nc[9];
        std::snprintf(nc, sizeof nc, "%08x", ++nonce_count_);
        chorus::sip::DigestInput in;
        in.algorithm = algorithm;
        in.ha1 = ha1;
        in.nonce = nonce;
        in.nc = nc;
        in.cnonce = "fuzzcnonce";
        in.qop = "auth";
        in.method = request.method_text();
        in.uri = uri;
        value = chorus::sip::format_auth_header(
            "Digest", {{"username", "alice"},
                       {"realm", realm},
                       {"nonce", nonce},
                       {"uri", uri},
                       {"response", chorus::sip::digest_response(in)},
                       {"algorithm", chorus::sip::digest_algorithm_name(algorithm), false},
                       {"qop", "auth", false},
                       {"nc", nc, false},
                       {"cnonce", "fuzzcnonce"}});
      }
    }
    replace_all(text, "$AUTH", value);
  }

  void advance(std::chrono::milliseconds by, std::chrono::milliseconds steps = 100ms) {
    // In steps, so what the timers send is answered in between.
    while (by > 0ms) {
      const auto step = std::min<std::chrono::milliseconds>(by, steps);
      timers_.advance(step);
      by -= step;
      pump();
    }
  }

  // Runs what is ready, lets the server take the fake engine's completions,
  // and reads what the focus sent us.
  void pump() {
    for (size_t round = 0; round < kMaxPumpRounds; ++round) {
      io_.poll();
      io_.restart();
      if (server_) server_->poll_media();
      bool any = false;
      std::array<char, 65536> buffer;
      for (;;) {
        boost::system::error_code error;
        boost::asio::ip::udp::endpoint from;
        const size_t size = capture_.receive_from(boost::asio::buffer(buffer), from, 0, error);
        if (error) break;
        any = true;
        take(std::string_view(buffer.data(), size));
      }
      if (!any) break;
    }
  }

  void take(std::string_view wire) {
    // CHORUS_FUZZ_TRACE=1: print the first line of what the focus sent
    // (to check that a seed reaches the states it is meant to).
    static const bool trace = std::getenv("CHORUS_FUZZ_TRACE") != nullptr;
    if (trace) std::fprintf(stderr, "  <- %.*s\n", static_cast<int>(wire.find('\r')), wire.data());
    auto parsed = Message::parse(wire);
    if (!parsed.ok()) return;
    Message message = std::move(parsed).value();
    if (message.is_response()) {
      const std::string tag(message.to().tag());
      if (!tag.empty()) {
        tags_[std::string(message.call_id())] = tag;
        last_tag_ = tag;
      }
      if (message.status() == 401 || message.status() == 407) challenge_ = message;
      return;
    }
    if (message.method() == chorus::sip::Method::kAck || !server_) return;
    // The focus asked us something: say yes, through the same path.
    const Message ok = chorus::sip::make_response(message, 200, "OK", "fuzzpeer");
    server_->stack().transport().inject(ok.serialize(), source_);
  }

  boost::asio::io_context io_;
  chorus::sip::ManualTimerService timers_{chorus::sip::Clock::now()};
  chorus::focus::testing::FakeMediaEngine* fake_ = nullptr;
  std::unique_ptr<chorus::focus::Server> server_;
  boost::asio::ip::udp::socket capture_{io_};
  chorus::sip::Endpoint source_;
  std::map<std::string, std::string> tags_;
  std::string last_tag_;
  std::optional<Message> challenge_;
  uint32_t nonce_count_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;
  Session session;
  session.run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
