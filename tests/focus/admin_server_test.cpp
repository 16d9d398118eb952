// The admin listener on 127.0.0.1 with a fake Control: every endpoint, token
// failures, bad JSON and arguments, unknown rooms and members, method errors,
// size limits, malformed HTTP, idle timeout, the WebSocket event stream
// (snapshot, events, levels) and /metrics.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "focus/ops/admin_server.hpp"
#include "signaling/asio.hpp"
#include "tests/focus/refused_upload.hpp"
// Beast after Asio (signaling/asio.hpp puts <utility> first).
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

namespace chorus::focus {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "s3cret-token";
// The Authorization value as one literal: built by `"Bearer " + kToken` in a
// default argument, GCC 12 at -O1 (the TSan build) warns of a bogus
// out-of-bounds memcpy (-Warray-bounds) where the test inlines it.
constexpr const char* kBearer = "Bearer s3cret-token";

// Records every call; rooms "r1" (members 1, 2) and "a b" (member 3).
class FakeControl final : public Control {
 public:
  FakeControl() {
    ConferenceState r1;
    r1.room = "r1";
    r1.entity = "sip:r1@127.0.0.1";
    r1.members.push_back(member(1, "sip:alice@127.0.0.1", "Alice"));
    r1.members.push_back(member(2, "sip:bob@127.0.0.1", "B\xffob"));  // not UTF-8
    ConferenceState spaced;
    spaced.room = "a b";
    spaced.members.push_back(member(3, "sip:carol@127.0.0.1", "Carol"));
    rooms_ = {r1, spaced};
  }

  static MemberState member(uint64_t id, std::string entity, std::string display) {
    MemberState m;
    m.id = id;
    m.entity = std::move(entity);
    m.display_text = std::move(display);
    m.endpoint = m.entity + ";ep";
    m.codec = "PCMU";
    m.clock_rate = 8000;
    return m;
  }

  std::vector<ConferenceState> rooms() const override { return rooms_; }

  ControlResult set_muted(std::string_view room, uint64_t id, bool muted) override {
    calls.push_back("mute " + std::string(room) + " " + std::to_string(id) + " " +
                    (muted ? "1" : "0"));
    MemberState* m = find(room, id);
    if (m == nullptr) return {404, "no such member"};
    m->muted = muted;
    return {};
  }
  ControlResult kick(std::string_view room, uint64_t id) override {
    calls.push_back("kick " + std::string(room) + " " + std::to_string(id));
    return find(room, id) ? ControlResult{} : ControlResult{404, "no such member"};
  }
  ControlResult set_role(std::string_view room, uint64_t id, MemberRole role,
                         uint64_t target) override {
    calls.push_back("role " + std::string(room) + " " + std::to_string(id) + " " +
                    std::to_string(static_cast<int>(role)) + " " + std::to_string(target));
    if (find(room, id) == nullptr) return {404, "no such member"};
    if (role == MemberRole::kWhisper && find(room, target) == nullptr) {
      return {409, "no such whisper target"};
    }
    return {};
  }
  ControlResult set_hold(std::string_view room, uint64_t id, bool hold) override {
    calls.push_back("hold " + std::string(room) + " " + std::to_string(id) + " " +
                    (hold ? "1" : "0"));
    return find(room, id) ? ControlResult{} : ControlResult{404, "no such member"};
  }
  ControlResult admit(std::string_view room, uint64_t id) override {
    calls.push_back("admit " + std::string(room) + " " + std::to_string(id));
    return find(room, id) ? ControlResult{} : ControlResult{404, "no such member"};
  }
  ControlResult refuse(std::string_view room, uint64_t id) override {
    calls.push_back("refuse " + std::string(room) + " " + std::to_string(id));
    return find(room, id) ? ControlResult{} : ControlResult{404, "no such member"};
  }
  ControlResult pickup(std::string_view room, uint64_t id, std::string_view uri,
                       std::string_view account) override {
    calls.push_back("pickup " + std::string(room) + " " + std::to_string(id) + " " +
                    std::string(uri) + " " + std::string(account));
    return find(room, id) ? ControlResult{} : ControlResult{404, "no such member"};
  }
  ControlResult dial_out(std::string_view room, std::string_view uri, std::string_view) override {
    calls.push_back("dial " + std::string(room) + " " + std::string(uri));
    return {202, "calling"};
  }
  // One account, "acct", allowed exactly the view routes (its "password" is
  // the whole Authorization value here: the digest itself is the matrix
  // test's, tests/focus/privilege_matrix_test.cpp).
  // "Digest viewer-N" is account viewer-N, which may view (many accounts,
  // for the event tickets' per-account cap).
  AccountCheck check_account(std::string_view authorization, std::string_view, std::string_view,
                             Operation operation, std::string_view source) override {
    sources.push_back("account " + std::string(source));
    if (authorization.starts_with("Digest viewer-")) {
      return {operation == Operation::kAdminView ? AccountCheck::Outcome::kAllowed
                                                 : AccountCheck::Outcome::kForbidden,
              std::string(authorization.substr(7)), false};
    }
    if (authorization != "Digest acct") {
      return {authorization.empty() ? AccountCheck::Outcome::kNoCredentials
                                    : AccountCheck::Outcome::kWrong,
              {},
              false};
    }
    return {operation == Operation::kAdminView ? AccountCheck::Outcome::kAllowed
                                               : AccountCheck::Outcome::kForbidden,
            "acct", false};
  }
  bool account_holds(std::string_view user, Operation operation) const override {
    return ((user == "acct" && acct_may_view) || user.starts_with("viewer-")) &&
           operation == Operation::kAdminView;
  }
  bool acct_may_view = true;  // a reload may take the right away
  void count_token_attempt(std::string_view source, bool) override {
    sources.push_back("token " + std::string(source));
  }
  // The source each login was counted under ("account 192.0.2.1", "token …").
  std::vector<std::string> sources;
  std::vector<std::string> account_challenges(bool) override {
    return {"Digest realm=\"chorus\", nonce=\"n1\", qop=\"auth\""};
  }
  void set_event_listener(std::function<void(const ControlEvent&)> listener) override {
    listener_ = std::move(listener);
  }

  void emit(const ControlEvent& event) {
    if (listener_) listener_(event);
  }
  MemberState* find(std::string_view room, uint64_t id) {
    for (auto& r : rooms_) {
      if (r.room != room) continue;
      for (auto& m : r.members) {
        if (m.id == id) return &m;
      }
    }
    return nullptr;
  }

  std::vector<ConferenceState> rooms_;
  std::vector<std::string> calls;
  std::function<void(const ControlEvent&)> listener_;
};

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string allow;
  std::vector<std::string> www_authenticate;
  bool keep_alive = false;
};

// The server runs on its own io_context thread; the test thread is the client
// (blocking sockets with a receive timeout, so nothing can hang).
class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start(AdminConfig{}); }
  void TearDown() override { shutdown(); }

  void start(AdminConfig config) {
    config.address = "127.0.0.1";
    config.port = 0;
    if (config.token.empty() && !no_token_) config.token = kToken;
    config.levels_interval = 50ms;
    MetricsSource metrics;
    metrics.sip = []() -> std::optional<sip::StackStats> {
      sip::StackStats stats;
      stats.messages.requests_received[static_cast<size_t>(sip::Method::kInvite)] = 3;
      stats.transactions.timeouts = 2;
      return stats;
    };
    server_ = std::make_unique<AdminServer>(io_, control_, metrics, config);
    server_->start();
    port_ = server_->port();
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_);
      io_.run();
    });
  }

  void shutdown() {
    if (!thread_.joinable()) return;
    on_io([this] { server_->stop(); });
    io_.stop();
    thread_.join();
    server_.reset();
    io_.restart();
  }

  // Runs `fn` on the server's thread and waits for it.
  template <class Fn>
  auto on_io(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto future = task.get_future();
    asio::post(io_, [&task] { task(); });
    return future.get();
  }

  // `from`: the local address to connect from (a loopback address).
  tcp::socket connect(const char* from = nullptr) {
    tcp::socket socket(client_io_);
    if (from != nullptr) {
      socket.open(tcp::v4());
      socket.bind({asio::ip::make_address(from), 0});
    }
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    timeval tv{3, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return socket;
  }

  Reply exchange(tcp::socket& socket, http::verb method, std::string target,
                 std::optional<std::string> body = std::nullopt,
                 std::string authorization = std::string(kBearer)) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (!authorization.empty()) request.set(http::field::authorization, authorization);
    if (body) {
      request.set(http::field::content_type, "application/json");
      request.body() = *body;
    }
    request.prepare_payload();
    http::write(socket, request);
    return read_reply(socket);
  }

  Reply read_reply(tcp::socket& socket) {
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    beast::error_code ec;
    http::read(socket, buffer, response, ec);
    if (ec) return Reply{};
    Reply reply;
    reply.status = static_cast<int>(response.result_int());
    reply.body = response.body();
    reply.content_type = std::string(response[http::field::content_type]);
    reply.allow = std::string(response[http::field::allow]);
    const auto [first, last] = response.equal_range(http::field::www_authenticate);
    for (auto it = first; it != last; ++it) reply.www_authenticate.emplace_back(it->value());
    reply.keep_alive = response.keep_alive();
    return reply;
  }

  Reply request(http::verb method, std::string target,
                std::optional<std::string> body = std::nullopt,
                std::string authorization = std::string(kBearer)) {
    tcp::socket socket = connect();
    return exchange(socket, method, std::move(target), std::move(body), std::move(authorization));
  }

  // Raw bytes in, whatever comes back until the server closes (or timeout).
  std::string raw(const std::string& bytes) {
    tcp::socket socket = connect();
    asio::write(socket, asio::buffer(bytes));
    std::string out;
    char buf[4096];
    beast::error_code ec;
    while (true) {
      const size_t n = socket.read_some(asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf, n);
    }
    return out;
  }

  // A WebSocket upgrade request (RFC 6455 §4.1) for raw().
  static std::string upgrade(const std::string& target) {
    return "GET " + target +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }

  std::vector<std::string> calls() {
    return on_io([this] { return control_.calls; });
  }
  std::vector<std::string> sources() {
    return on_io([this] { return std::exchange(control_.sources, {}); });
  }

  // GET `target` carrying one X-Forwarded-For line per `forwarded_for` entry.
  Reply forwarded(std::string target, const std::vector<std::string>& forwarded_for,
                  std::string authorization = std::string(kBearer)) {
    tcp::socket socket = connect();
    http::request<http::string_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (!authorization.empty()) request.set(http::field::authorization, authorization);
    for (const std::string& value : forwarded_for) request.insert("X-Forwarded-For", value);
    request.prepare_payload();
    http::write(socket, request);
    return read_reply(socket);
  }

  static json error_of(const Reply& reply) {
    const json body = json::parse(reply.body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.contains("error")) << reply.body;
    return body;
  }

  bool no_token_ = false;
  asio::io_context io_;
  asio::io_context client_io_;
  FakeControl control_;
  std::unique_ptr<AdminServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(AdminServerTest, ApiNeedsTheBearerToken) {
  for (const char* auth : {"", "Bearer wrong", "Bearer s3cret-toke", "Basic czNjcmV0",
                           "Bearer s3cret-token-and-more", "Bearer"}) {
    SCOPED_TRACE(auth);
    const Reply reply = request(http::verb::get, "/api/rooms", std::nullopt, auth);
    EXPECT_EQ(reply.status, 401);
    error_of(reply);
  }
  // The scheme is case-insensitive (RFC 7235 §2.1).
  EXPECT_EQ(request(http::verb::get, "/api/rooms", std::nullopt, "bearer s3cret-token").status,
            200);
  // Nothing was done on the Control's behalf by refused requests.
  EXPECT_EQ(
      request(http::verb::post, "/api/rooms/r1/members/1/kick", std::string("{}"), "Bearer nope")
          .status,
      401);
  EXPECT_TRUE(calls().empty());
}

// Accounts (HTTP Digest, RFC 7616) get what their rights allow, route by
// route: a 401 offers Digest next to Bearer, a valid account without the
// route's right gets 403, and nothing reaches the Control.
TEST_F(AdminServerTest, AnAccountGetsTheRoutesItsRightsAllow) {
  const Reply challenge = request(http::verb::get, "/api/rooms", std::nullopt, "");
  EXPECT_EQ(challenge.status, 401);
  EXPECT_EQ(challenge.www_authenticate,
            (std::vector<std::string>{"Bearer realm=\"chorus\"",
                                      "Digest realm=\"chorus\", nonce=\"n1\", qop=\"auth\""}));
  EXPECT_EQ(request(http::verb::get, "/api/rooms", std::nullopt, "Digest wrong").status, 401);
  EXPECT_EQ(request(http::verb::get, "/api/rooms", std::nullopt, "Digest acct").status, 200);
  EXPECT_EQ(
      request(http::verb::post, "/api/rooms/r1/members/1/kick", std::string("{}"), "Digest acct")
          .status,
      403);
  EXPECT_EQ(
      request(http::verb::post, "/api/rooms/r1/dial", R"({"uri":"sip:x@10.0.0.2"})", "Digest acct")
          .status,
      403);
  EXPECT_TRUE(calls().empty());
}

TEST_F(AdminServerTest, AnEmptyConfiguredTokenRefusesEveryApiRequest) {
  shutdown();
  no_token_ = true;
  start(AdminConfig{});
  EXPECT_EQ(request(http::verb::get, "/api/rooms", std::nullopt, "Bearer ").status, 401);
  EXPECT_EQ(request(http::verb::get, "/api/rooms", std::nullopt, "").status, 401);
  // The console and /metrics still answer.
  EXPECT_EQ(request(http::verb::get, "/", std::nullopt, "").status, 200);
  EXPECT_EQ(request(http::verb::get, "/metrics", std::nullopt, "").status, 200);
}

TEST_F(AdminServerTest, ListsRoomsWithTheirMembers) {
  const Reply reply = request(http::verb::get, "/api/rooms");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "application/json");
  const json rooms = json::parse(reply.body);
  ASSERT_TRUE(rooms.is_array());
  ASSERT_EQ(rooms.size(), 2u);
  EXPECT_EQ(rooms[0]["room"], "r1");
  ASSERT_EQ(rooms[0]["members"].size(), 2u);
  const json& alice = rooms[0]["members"][0];
  EXPECT_EQ(alice["id"], 1);
  EXPECT_EQ(alice["entity"], "sip:alice@127.0.0.1");
  EXPECT_EQ(alice["display"], "Alice");
  EXPECT_EQ(alice["role"], "participant");
  EXPECT_EQ(alice["muted"], false);
  EXPECT_EQ(alice["hold"], false);
  EXPECT_EQ(alice["talking"], false);
  EXPECT_EQ(alice["codec"], "PCMU");
  for (const char* key :
       {"level", "loss", "jitter", "jitter_buffer_ms", "whisper_target", "status"}) {
    EXPECT_TRUE(alice.contains(key)) << key;
  }
  // Invalid UTF-8 from a peer is replaced, not a failure.
  EXPECT_EQ(rooms[0]["members"][1]["display"], "B\xef\xbf\xbdob");
}

TEST_F(AdminServerTest, ShowsOneRoomByItsPercentEncodedName) {
  Reply reply = request(http::verb::get, "/api/rooms/r1");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(json::parse(reply.body)["members"].size(), 2u);
  reply = request(http::verb::get, "/api/rooms/a%20b");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(json::parse(reply.body)["room"], "a b");
  EXPECT_EQ(request(http::verb::get, "/api/rooms/nope").status, 404);
  EXPECT_EQ(request(http::verb::get, "/api/rooms/%zz").status, 400);
  EXPECT_EQ(request(http::verb::get, "/api/rooms/r1%").status, 400);
  EXPECT_EQ(request(http::verb::get, "/api/rooms//r1").status, 400);
}

TEST_F(AdminServerTest, MuteUnmuteKickHoldRoleAdmitAndRefuseReachTheControl) {
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/1/mute", R"({"muted":true})").status,
            200);
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/1/mute", R"({"muted":false})").status,
            200);
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/2/hold", R"({"hold":true})").status,
            200);
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/2/kick").status, 200);
  EXPECT_EQ(
      request(http::verb::post, "/api/rooms/r1/members/1/role", R"({"role":"monitor"})").status,
      200);
  EXPECT_EQ(
      request(http::verb::post, "/api/rooms/r1/members/1/role", R"({"role":"whisper","target":2})")
          .status,
      200);
  EXPECT_EQ(
      request(http::verb::post, "/api/rooms/a%20b/members/3/mute", R"({"muted":true})").status,
      200);
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/1/admit").status, 200);
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/2/refuse").status, 200);
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/9/admit").status, 404);
  EXPECT_EQ(
      request(http::verb::post, "/api/rooms/r1/members/1/pickup", R"({"uri":"sip:desk@h"})").status,
      200);
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/1/pickup", R"({"to":"x"})").status,
            400);
  const std::vector<std::string> expected = {"mute r1 1 1",
                                             "mute r1 1 0",
                                             "hold r1 2 1",
                                             "kick r1 2",
                                             "role r1 1 1 0",
                                             "role r1 1 2 2",
                                             "mute a b 3 1",
                                             "admit r1 1",
                                             "refuse r1 2",
                                             "admit r1 9",
                                             "pickup r1 1 sip:desk@h "};
  EXPECT_EQ(calls(), expected);
  // The state change shows in the next listing.
  const json room = json::parse(request(http::verb::get, "/api/rooms/a%20b").body);
  EXPECT_EQ(room["members"][0]["muted"], true);
}

TEST_F(AdminServerTest, BadBodiesAndArgumentsAre400AndNeverReachTheControl) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"/api/rooms/r1/members/1/mute", "{not json"},
      {"/api/rooms/r1/members/1/mute", ""},
      {"/api/rooms/r1/members/1/mute", "[true]"},
      {"/api/rooms/r1/members/1/mute", R"({"muted":"yes"})"},
      {"/api/rooms/r1/members/1/mute", R"({"mute":true})"},
      {"/api/rooms/r1/members/1/hold", R"({"hold":1})"},
      {"/api/rooms/r1/members/1/role", R"({"role":"king"})"},
      {"/api/rooms/r1/members/1/role", R"({"role":"whisper"})"},
      {"/api/rooms/r1/members/1/role", R"({"role":"whisper","target":-4})"},
      {"/api/rooms/r1/members/1/role", R"({"role":"whisper","target":1})"},
      {"/api/rooms/r1/members/1/role", R"({"role":7})"},
      {"/api/rooms/r1/members/abc/mute", R"({"muted":true})"},
      {"/api/rooms/r1/members/0/mute", R"({"muted":true})"},
      {"/api/rooms/r1/members/99999999999999999999999/mute", R"({"muted":true})"},
      {"/api/rooms/r1/members/-1/kick", "{}"},
      {"/api/rooms/r1/dial", R"({"uri":"http://example.com"})"},
      {"/api/rooms/r1/dial", R"({"uri":"sip:bob@h\r\nX-Evil: 1"})"},
      {"/api/rooms/r1/dial", R"({"uri":"sip:a b@h"})"},
      {"/api/rooms/r1/dial", R"({"uri":""})"},
      {"/api/rooms/r1/dial", R"({"url":"sip:a@h"})"},
      {"/api/rooms/r1/dial", "\x01\x02\x03"},
      {"/api/rooms/r1/dial", R"({"uri":"sip:)" + std::string(2000, 'a') + R"("})"},
  };
  for (const auto& [target, body] : bad) {
    SCOPED_TRACE(target + " " + body);
    const Reply reply = request(http::verb::post, target, body);
    EXPECT_EQ(reply.status, 400);
    error_of(reply);
  }
  EXPECT_TRUE(calls().empty());
}

TEST_F(AdminServerTest, UnknownRoomsMembersAndPathsAre404) {
  Reply reply = request(http::verb::post, "/api/rooms/r1/members/42/mute", R"({"muted":true})");
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(error_of(reply)["error"], "no such member");
  EXPECT_EQ(request(http::verb::post, "/api/rooms/zz/members/1/kick").status, 404);
  EXPECT_EQ(request(http::verb::post, "/api/rooms/r1/members/1/explode", "{}").status, 404);
  EXPECT_EQ(request(http::verb::get, "/api/nothing").status, 404);
  EXPECT_EQ(request(http::verb::get, "/api").status, 404);
  EXPECT_EQ(request(http::verb::get, "/nothing").status, 404);
  // A Control refusal keeps its status (409) and message.
  reply = request(http::verb::post, "/api/rooms/r1/members/1/role",
                  R"({"role":"whisper","target":77})");
  EXPECT_EQ(reply.status, 409);
  EXPECT_EQ(error_of(reply)["error"], "no such whisper target");
}

TEST_F(AdminServerTest, DialOutIsAccepted202) {
  const Reply reply =
      request(http::verb::post, "/api/rooms/r1/dial", R"({"uri":"sip:bob@10.0.0.2"})");
  EXPECT_EQ(reply.status, 202);
  EXPECT_EQ(json::parse(reply.body)["ok"], true);
  EXPECT_EQ(calls(), std::vector<std::string>{"dial r1 sip:bob@10.0.0.2"});
}

TEST_F(AdminServerTest, WrongMethodsAre405WithAllow) {
  Reply reply = request(http::verb::get, "/api/rooms/r1/members/1/mute");
  EXPECT_EQ(reply.status, 405);
  EXPECT_EQ(reply.allow, "POST");
  error_of(reply);
  reply = request(http::verb::post, "/api/rooms", "{}");
  EXPECT_EQ(reply.status, 405);
  EXPECT_EQ(reply.allow, "GET, HEAD");
  EXPECT_EQ(request(http::verb::delete_, "/api/rooms/r1").status, 405);
  EXPECT_EQ(request(http::verb::get, "/api/rooms/r1/dial").status, 405);
  EXPECT_EQ(request(http::verb::post, "/metrics", "{}").status, 405);
  EXPECT_EQ(request(http::verb::put, "/", "x").status, 405);
  // Without the upgrade, the event stream says what it needs.
  EXPECT_EQ(request(http::verb::get, "/api/events").status, 400);
  EXPECT_TRUE(calls().empty());
}

TEST_F(AdminServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  tcp::socket socket = connect();
  for (int i = 0; i < 3; ++i) {
    const Reply reply = exchange(socket, http::verb::get, "/api/rooms");
    EXPECT_EQ(reply.status, 200);
    EXPECT_TRUE(reply.keep_alive);
  }
  // An error does not end a well-framed connection either.
  EXPECT_EQ(exchange(socket, http::verb::get, "/api/rooms/none").status, 404);
  EXPECT_EQ(exchange(socket, http::verb::get, "/api/rooms").status, 200);
}

TEST_F(AdminServerTest, HeadHasTheLengthButNoBody) {
  tcp::socket socket = connect();
  http::request<http::empty_body> head{http::verb::head, "/", 11};
  http::write(socket, head);
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a HEAD response has no body whatever its length says
  http::read(socket, buffer, parser);
  EXPECT_EQ(parser.get().result_int(), 200u);
  EXPECT_GT(std::stoul(std::string(parser.get()[http::field::content_length])), 1000u);
  EXPECT_EQ(buffer.size(), 0u);
}

TEST_F(AdminServerTest, OversizedAndMalformedRequestsAreRefusedAndClosed) {
  std::string big = "POST /api/rooms/r1/dial HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    std::string(kToken) + "\r\nContent-Length: 100000\r\n\r\n";
  big += std::string(100000, 'a');
  std::string out = raw(big);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 413")) << out.substr(0, 80);

  out = raw("GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(20000, 'b') + "\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431")) << out.substr(0, 80);

  for (const std::string& garbage :
       {std::string("HELLO\r\n\r\n"), std::string("GET / HTTP/9.9.9\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nBad Header\r\n\r\n"), std::string("\0\0\0\0\r\n\r\n", 8),
        std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    out = raw(garbage);
    EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out.substr(0, 80);
  }
  EXPECT_TRUE(calls().empty());
  // Still serving.
  EXPECT_EQ(request(http::verb::get, "/api/rooms").status, 200);
}

// A client still sending a refused body reads the 413 and a clean end of
// stream, and every byte it sends afterwards is taken (not reset).
TEST_F(AdminServerTest, ARefusedBodyIsDrainedSoTheClientFinishesSendingIt) {
  tcp::socket socket = connect();
  const test::RefusedUpload upload = test::upload_refused_body(
      socket,
      "POST /api/rooms/r1/dial HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
          std::string(kToken) + "\r\nContent-Length: 524288\r\n\r\n",
      524288);
  EXPECT_TRUE(upload.answer.starts_with("HTTP/1.1 413")) << upload.answer.substr(0, 80);
  EXPECT_EQ(upload.read_end, asio::error::eof);
  EXPECT_FALSE(upload.write_error) << upload.write_error.message();
  EXPECT_EQ(upload.body_written, 524288u);
  EXPECT_TRUE(calls().empty());
}

TEST_F(AdminServerTest, IdleConnectionsAreClosed) {
  shutdown();
  AdminConfig config;
  config.idle_timeout = 200ms;
  start(config);
  tcp::socket socket = connect();
  asio::write(socket, asio::buffer(std::string("GET / HTTP/1.1\r\n")));  // and then nothing
  const auto started = std::chrono::steady_clock::now();
  char buf[64];
  beast::error_code ec;
  socket.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

// A 401 or 403 ends the connection (Connection: close, then a clean end of
// stream): a client without credentials cannot keep a slot by asking again
// just inside the idle timeout.
TEST_F(AdminServerTest, ARefusedLoginClosesTheConnection) {
  for (const std::string auth : {"", "Bearer wrong", "Digest wrong", "Digest acct"}) {
    SCOPED_TRACE(auth);
    tcp::socket socket = connect();
    const Reply reply =
        exchange(socket, http::verb::post, "/api/rooms/r1/members/1/kick", "{}", auth);
    EXPECT_EQ(reply.status, auth == "Digest acct" ? 403 : 401);
    EXPECT_FALSE(reply.keep_alive);
    char buf[64];
    beast::error_code ec;
    socket.read_some(asio::buffer(buf), ec);
    EXPECT_EQ(ec, asio::error::eof);
  }
  EXPECT_TRUE(calls().empty());
}

// Until a request on it is let in, a connection gets the short
// unauthenticated_timeout, not the idle timeout; once let in, the full one.
TEST_F(AdminServerTest, AConnectionThatNeverLogsInHasAShortDeadline) {
  shutdown();
  AdminConfig config;
  config.idle_timeout = 10s;
  config.unauthenticated_timeout = 200ms;
  start(config);
  tcp::socket anonymous = connect();
  EXPECT_EQ(exchange(anonymous, http::verb::get, "/", std::nullopt, "").status, 200);
  tcp::socket operator_ = connect();
  EXPECT_EQ(exchange(operator_, http::verb::get, "/api/rooms").status, 200);
  const auto started = std::chrono::steady_clock::now();
  char buf[64];
  beast::error_code ec;
  anonymous.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(exchange(operator_, http::verb::get, "/api/rooms").status, 200);
}

TEST_F(AdminServerTest, ConnectionsBeyondTheCapAreClosed) {
  shutdown();
  AdminConfig config;
  config.max_connections = 2;
  start(config);
  tcp::socket a = connect();
  tcp::socket b = connect();
  EXPECT_EQ(exchange(a, http::verb::get, "/api/rooms").status, 200);
  EXPECT_EQ(exchange(b, http::verb::get, "/api/rooms").status, 200);
  tcp::socket c = connect();
  EXPECT_EQ(exchange(c, http::verb::get, "/api/rooms").status, 0);  // closed unanswered
  a.close();
  b.close();
  // Once those are gone, new connections are served again.
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  int status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    status = request(http::verb::get, "/api/rooms").status;
    if (status != 200) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 200);
}

// One address holds at most max_connections_per_source: a client keeping
// connections open cannot take every slot from the operator.
TEST_F(AdminServerTest, OneAddressHoldsAtMostItsShareOfTheConnections) {
  shutdown();
  AdminConfig config;
  config.max_connections = 8;
  config.max_connections_per_source = 2;
  start(config);
  tcp::socket a = connect("127.0.0.3");
  tcp::socket b = connect("127.0.0.3");
  EXPECT_EQ(exchange(a, http::verb::get, "/api/rooms").status, 200);
  EXPECT_EQ(exchange(b, http::verb::get, "/api/rooms").status, 200);
  tcp::socket c = connect("127.0.0.3");
  EXPECT_EQ(exchange(c, http::verb::get, "/api/rooms").status, 0);  // closed unanswered
  // Another address is served.
  tcp::socket d = connect("127.0.0.4");
  EXPECT_EQ(exchange(d, http::verb::get, "/api/rooms").status, 200);
  EXPECT_EQ(on_io([this] { return server_->connections(); }), 3u);
}

TEST_F(AdminServerTest, ServesTheConsolePage) {
  const Reply reply = request(http::verb::get, "/", std::nullopt, "");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "text/html; charset=utf-8");
  EXPECT_NE(reply.body.find("<title>Chorus console</title>"), std::string::npos);
  EXPECT_NE(reply.body.find("/api/events"), std::string::npos);
  // The stream opens with a one-use ticket; the token never goes into a URL.
  EXPECT_NE(reply.body.find("/api/events?ticket="), std::string::npos);
  EXPECT_EQ(reply.body.find("?token="), std::string::npos);
  // Self-contained: nothing is fetched from another origin.
  EXPECT_EQ(reply.body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(reply.body.find("href=\"http"), std::string::npos);
}

TEST_F(AdminServerTest, MetricsAreOpenByDefaultAndParse) {
  const Reply reply = request(http::verb::get, "/metrics", std::nullopt, "");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(reply.body.find("\nchorus_rooms 2\n"), std::string::npos);
  EXPECT_NE(reply.body.find("\nchorus_members 3\n"), std::string::npos);
  EXPECT_NE(reply.body.find("\nchorus_sip_requests_received_total{method=\"INVITE\"} 3\n"),
            std::string::npos);
  EXPECT_NE(reply.body.find("\nchorus_sip_transaction_timeouts_total 2\n"), std::string::npos);
}

TEST_F(AdminServerTest, MetricsCanRequireTheToken) {
  shutdown();
  AdminConfig config;
  config.metrics_token = true;
  start(config);
  EXPECT_EQ(request(http::verb::get, "/metrics", std::nullopt, "").status, 401);
  EXPECT_EQ(request(http::verb::get, "/metrics").status, 200);
}

// Behind a trusted proxy (admin.trusted_proxies) every per-source rule sees
// the client X-Forwarded-For names: token and Digest logins on /api, the
// metrics token, the event stream's ?token= and Digest login. From any
// other peer the header is ignored and the peer is the source.
TEST_F(AdminServerTest, EveryLoginCountsUnderTheClientATrustedProxyNames) {
  const auto every_path = [&](const std::vector<std::string>& forwarded_for) {
    EXPECT_EQ(forwarded("/api/rooms", forwarded_for).status, 200);
    EXPECT_EQ(forwarded("/api/rooms", forwarded_for, "Digest acct").status, 200);
    EXPECT_EQ(forwarded("/metrics", forwarded_for).status, 200);
    std::string xff;
    for (const std::string& value : forwarded_for) xff += "X-Forwarded-For: " + value + "\r\n";
    const std::string events = upgrade("/api/events?token=wrong");
    EXPECT_TRUE(
        raw(events.substr(0, events.size() - 2) + xff + "\r\n").starts_with("HTTP/1.1 401"));
    const std::string digest = upgrade("/api/events");
    EXPECT_TRUE(
        raw(digest.substr(0, digest.size() - 2) + xff + "Authorization: Digest nope\r\n\r\n")
            .starts_with("HTTP/1.1 401"));
    return sources();
  };
  shutdown();
  AdminConfig config;
  config.metrics_token = true;
  config.trusted_proxies = {"127.0.0.0/8"};
  start(config);
  EXPECT_EQ(
      every_path({"203.0.113.5, 198.51.100.7"}),
      (std::vector<std::string>{"token 198.51.100.7", "account 198.51.100.7", "token 198.51.100.7",
                                "token 198.51.100.7", "account 198.51.100.7"}));
  // The canonical address: an IPv6 client with a port counts as the address.
  EXPECT_EQ(every_path({"[2001:DB8:0::7]:4711"}).front(), "token 2001:db8::7");
  // No header: the proxy itself.
  EXPECT_EQ(every_path({}).front(), "token 127.0.0.1");

  shutdown();
  config.trusted_proxies = {"192.0.2.1"};  // not the peer
  start(config);
  EXPECT_EQ(every_path({"198.51.100.7"}),
            (std::vector<std::string>{"token 127.0.0.1", "account 127.0.0.1", "token 127.0.0.1",
                                      "token 127.0.0.1", "account 127.0.0.1"}));
  // Nor is a malformed header read from a peer we do not trust.
  EXPECT_EQ(forwarded("/api/rooms", {"not-an-address"}).status, 200);
}

// A trusted proxy sending an X-Forwarded-For we cannot read: 400 naming the
// entry, before any credentials count (on /api and on the event stream).
TEST_F(AdminServerTest, AMalformedForwardedForFromATrustedProxyIs400NamingTheEntry) {
  shutdown();
  AdminConfig config;
  config.trusted_proxies = {"127.0.0.1"};
  start(config);
  const Reply reply = forwarded("/api/rooms", {"198.51.100.7", "unknown"});
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(error_of(reply)["error"],
            "X-Forwarded-For entry \"unknown\" is not an IP address (optionally with a port)");
  EXPECT_EQ(forwarded("/api/rooms", {"198.51.100.7:"}).status, 400);
  EXPECT_EQ(forwarded("/api/rooms", {"[2001:db8::7"}).status, 400);
  EXPECT_EQ(forwarded("/metrics", {"1.2.3"}).status, 400);
  const std::string events = upgrade("/api/events?token=s3cret-token");
  EXPECT_TRUE(raw(events.substr(0, events.size() - 2) + "X-Forwarded-For: ::1%eth0\r\n\r\n")
                  .starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(sources().empty());
  // Empty list elements are no entries (RFC 9110 §5.6.1); a port is allowed.
  EXPECT_EQ(forwarded("/api/rooms", {", 198.51.100.7:4711 ,"}).status, 200);
  EXPECT_EQ(sources(), std::vector<std::string>{"token 198.51.100.7"});
}

// A loopback listener's default leaves /metrics open to this host. Behind a
// proxy on this host that must not mean open to whomever it forwards: the
// privilege looks at the client, never at the proxy's loopback address, so
// "127.0.0.1" written by a remote client does not earn it either.
TEST_F(AdminServerTest, LoopbackMetricsAreForLoopbackClientsNotWhomAProxyForwards) {
  shutdown();
  AdminConfig config;
  config.metrics_token_unless_loopback = true;
  config.trusted_proxies = {"127.0.0.1"};
  start(config);
  EXPECT_EQ(forwarded("/metrics", {}, "").status, 200);       // this host's Prometheus
  EXPECT_EQ(forwarded("/metrics", {"::1"}, "").status, 200);  // forwarded from this host
  EXPECT_EQ(forwarded("/metrics", {"203.0.113.9"}, "").status, 401);
  EXPECT_EQ(forwarded("/metrics", {"127.0.0.1, 203.0.113.9"}, "").status, 401);
  EXPECT_EQ(forwarded("/metrics", {"203.0.113.9"}).status, 200);  // with the token
  // Without trusted proxies the header is ignored: the peer is loopback.
  shutdown();
  config.trusted_proxies = {};
  start(config);
  EXPECT_EQ(forwarded("/metrics", {"203.0.113.9"}, "").status, 200);
}

// A trusted proxy carries many clients over its connections: only the total
// caps it, not the per-address share (a connection cannot be told apart by
// client before its requests). Other addresses keep their share.
TEST_F(AdminServerTest, ATrustedProxyIsNotHeldToOneAddresssShareOfConnections) {
  shutdown();
  AdminConfig config;
  config.max_connections = 8;
  config.max_connections_per_source = 2;
  config.trusted_proxies = {"127.0.0.3"};
  start(config);
  std::vector<tcp::socket> proxy;
  for (int i = 0; i < 4; ++i) {
    proxy.push_back(connect("127.0.0.3"));
    EXPECT_EQ(exchange(proxy.back(), http::verb::get, "/api/rooms").status, 200) << i;
  }
  tcp::socket a = connect("127.0.0.4");
  tcp::socket b = connect("127.0.0.4");
  tcp::socket c = connect("127.0.0.4");
  EXPECT_EQ(exchange(a, http::verb::get, "/api/rooms").status, 200);
  EXPECT_EQ(exchange(b, http::verb::get, "/api/rooms").status, 200);
  EXPECT_EQ(exchange(c, http::verb::get, "/api/rooms").status, 0);  // closed unanswered
}

class EventStream {
 public:
  EventStream(asio::io_context& io, uint16_t port, const std::string& target,
              const std::string& authorization = {}, const std::string& origin = {})
      : ws_(io) {
    ws_.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{3, 0};
    setsockopt(ws_.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ws_.set_option(
        websocket::stream_base::decorator([authorization, origin](websocket::request_type& r) {
          if (!authorization.empty()) r.set(http::field::authorization, authorization);
          if (!origin.empty()) r.set(http::field::origin, origin);
        }));
    ws_.handshake(response_, "127.0.0.1", target, ec_);
  }
  const beast::error_code& error() const { return ec_; }
  std::optional<json> next() {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws_.read(buffer, ec);
    if (ec) return std::nullopt;
    return json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
  }
  // The next message of `type`, skipping others (e.g. periodic levels).
  std::optional<json> next_of(const std::string& type) {
    for (int i = 0; i < 50; ++i) {
      std::optional<json> message = next();
      if (!message) return std::nullopt;
      if ((*message)["type"] == type) return message;
    }
    return std::nullopt;
  }

 private:
  websocket::stream<tcp::socket> ws_;
  websocket::response_type response_;
  beast::error_code ec_;
};

// Another site's page in a browser holding the console's Digest credentials
// (or a page on a name that resolves to us) must not act through it: the
// listener refuses, 403 naming the fault, a foreign Origin on a POST or a
// WebSocket upgrade, a non-JSON Content-Type on a POST (what an HTML form
// sends) and a Host that is a name it does not know. chorusctl's and the
// console's requests pass.
TEST_F(AdminServerTest, CrossSiteRequestsAreRefusedWithTheirFault) {
  const std::string host = "127.0.0.1:" + std::to_string(port_);
  const auto post = [&](const std::string& extra, const std::string& body = {}) {
    return raw("POST /api/rooms/r1/members/1/kick HTTP/1.1\r\nHost: " + host +
               "\r\nAuthorization: Bearer " + kToken + "\r\n" + extra + "Content-Length: " +
               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  };
  std::string out = post("Origin: http://evil.example\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << out;
  EXPECT_NE(out.find("Origin http://evil.example is not this server"), std::string::npos) << out;
  out = post("Origin: null\r\n");  // an opaque origin (sandboxed frame, file:)
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << out;
  // Not an origin at all, or one with a user, a path, a bad port: refused.
  for (const char* garbage :
       {"127.0.0.1", "http://", "http://127.0.0.1/", "http://evil.example@127.0.0.1",
        "http://127.0.0.1:", "http://127.0.0.1:99999", "http://127.0.0.1:80x", "://127.0.0.1",
        "1http://127.0.0.1", "http://[::1", "http://[::g]", "http://127.0.0.1 .evil.example"}) {
    out = post(std::string("Origin: ").append(garbage).append("\r\n"));
    EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << garbage << "\n" << out;
  }
  out = post("Origin: http://127.0.0.1.evil.example\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << out;
  out = post("Content-Type: application/x-www-form-urlencoded\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << out;
  EXPECT_NE(out.find("Content-Type: application/json"), std::string::npos) << out;
  out = post("Content-Type: text/plain\r\n", "{}");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << out;
  out = post("", "{}");  // a body without Content-Type
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << out;
  // DNS rebinding: a name of the attacker's that resolves to us.
  out = raw("GET /api/rooms HTTP/1.1\r\nHost: rebind.example:" + std::to_string(port_) +
            "\r\nAuthorization: Bearer " + kToken + "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << out;
  EXPECT_NE(out.find("Host rebind.example is not this server's"), std::string::npos) << out;
  // The event stream checks Origin too.
  const std::string upgrade_from_evil =
      "GET /api/events?token=" + std::string(kToken) + " HTTP/1.1\r\nHost: " + host +
      "\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  out = raw(upgrade_from_evil);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << out;
  EXPECT_TRUE(calls().empty());

  // The console (same origin, JSON or no body) and chorusctl (no Origin).
  out = post("Origin: http://" + host + "\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
  out = post("Content-Type: application/json; charset=utf-8\r\n", "{}");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
  out = raw("GET /api/rooms HTTP/1.1\r\nHost: localhost:" + std::to_string(port_) +
            "\r\nAuthorization: Bearer " + kToken + "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
  EXPECT_EQ(calls(), (std::vector<std::string>{"kick r1 1", "kick r1 1"}));
  // (The stream's client asks for Host 127.0.0.1, without the port.)
  EventStream same_origin(client_io_, port_, "/api/events?token=" + std::string(kToken), {},
                          "http://127.0.0.1");
  EXPECT_FALSE(same_origin.error()) << same_origin.error().message();
}

// Behind a TLS proxy the page's origin is https://<public name> (port 443)
// while the request reaches us with the proxy's Host: a rewritten one
// (nginx's default $proxy_host is our own 127.0.0.1:port), or the public
// name on another port. The Origin's host passes when it is Host's, a
// loopback one for a loopback Host, or named in admin.hosts; its scheme and
// port do not matter.
TEST_F(AdminServerTest, AnOriginPassesByItsHostWhateverItsSchemeAndPort) {
  shutdown();
  AdminConfig config;
  config.hosts = {"admin.example.org"};
  start(config);
  const std::string port = std::to_string(port_);
  const std::string host = std::string("127.0.0.1:") + port;
  const auto kick = [&](const std::string& host_header, const std::string& origin) {
    std::string request("POST /api/rooms/r1/members/1/kick HTTP/1.1\r\nHost: ");
    request += host_header;
    request += "\r\nAuthorization: Bearer s3cret-token\r\nOrigin: ";
    request += origin;
    request += "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    return raw(request);
  };
  const auto accepted = [](const std::string& out) { return out.starts_with("HTTP/1.1 200"); };
  // Host's host on another port and scheme.
  EXPECT_TRUE(accepted(kick(host, "http://127.0.0.1:1")));
  EXPECT_TRUE(accepted(kick(host, "https://127.0.0.1")));
  EXPECT_TRUE(accepted(kick("admin.example.org:8443", "https://Admin.Example.ORG:443")));
  EXPECT_TRUE(accepted(kick(std::string("[::1]:") + port, "http://[0::1]:9")));
  // A name in admin.hosts while the proxy rewrote Host to our address.
  EXPECT_TRUE(accepted(kick(host, "https://admin.example.org")));
  EXPECT_TRUE(accepted(kick(host, "https://admin.example.org.:8443")));
  // A page on this host, localhost or a loopback address, for a loopback
  // Host; never for a remote server's name (a page on the operator's own
  // machine is not that server's).
  EXPECT_TRUE(accepted(kick(host, "http://localhost:3000")));
  EXPECT_TRUE(accepted(kick(host, "http://127.0.0.2")));
  EXPECT_TRUE(accepted(kick(host, "http://[::1]:8080")));
  EXPECT_TRUE(kick("admin.example.org:8443", "http://localhost:3000").starts_with("HTTP/1.1 403"));
  EXPECT_TRUE(kick("admin.example.org", "http://127.0.0.1:8080").starts_with("HTTP/1.1 403"));
  // Any other site is still refused, naming the fault.
  for (const std::string& foreign :
       {std::string("https://evil.example"), std::string("https://admin.example.org.evil.example"),
        std::string("http://192.0.2.1"), std::string("http://[2001:db8::1]")}) {
    const std::string out = kick(host, foreign);
    EXPECT_TRUE(out.starts_with("HTTP/1.1 403")) << foreign << "\n" << out;
    const std::string fault = std::string("Origin ") + foreign + " is not this server";
    EXPECT_NE(out.find(fault), std::string::npos) << out;
  }
  EXPECT_EQ(calls().size(), 9u);
  // The event stream's upgrade checks it the same way.
  EventStream proxied(client_io_, port_, "/api/events?token=s3cret-token", {},
                      "https://admin.example.org");
  EXPECT_FALSE(proxied.error()) << proxied.error().message();
}

// A name operators use (admin.hosts) passes the Host check.
TEST_F(AdminServerTest, AConfiguredHostNameIsAccepted) {
  shutdown();
  AdminConfig config;
  config.hosts = {"admin.example.org"};
  start(config);
  const std::string out =
      raw("GET /api/rooms HTTP/1.1\r\nHost: Admin.Example.org\r\nAuthorization: Bearer " +
          std::string(kToken) + "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
}

TEST_F(AdminServerTest, EventStreamRefusesAWrongToken) {
  EventStream none(client_io_, port_, "/api/events");
  EXPECT_EQ(none.error(), websocket::error::upgrade_declined);
  EventStream wrong(client_io_, port_, "/api/events?token=nope");
  EXPECT_EQ(wrong.error(), websocket::error::upgrade_declined);
  EXPECT_TRUE(raw(upgrade("/api/events?token=s3cret-tokeN")).starts_with("HTTP/1.1 401"));
  EXPECT_TRUE(raw(upgrade("/api/events?tok=s3cret-token")).starts_with("HTTP/1.1 401"));
  // The refusal says how to log in, as /api's does (RFC 7235 §3.1).
  const std::string refused = raw(upgrade("/api/events"));
  EXPECT_NE(refused.find("WWW-Authenticate: Bearer realm=\"chorus\"\r\n"), std::string::npos)
      << refused;
  EXPECT_NE(
      refused.find("WWW-Authenticate: Digest realm=\"chorus\", nonce=\"n1\", qop=\"auth\"\r\n"),
      std::string::npos)
      << refused;
  EXPECT_EQ(on_io([this] { return server_->event_streams(); }), 0u);
}

TEST_F(AdminServerTest, EventStreamSendsASnapshotThenEventsAndLevels) {
  EventStream stream(client_io_, port_, "/api/events?token=s3cret-token");
  ASSERT_FALSE(stream.error()) << stream.error().message();
  std::optional<json> snapshot = stream.next();
  ASSERT_TRUE(snapshot);
  EXPECT_EQ((*snapshot)["type"], "snapshot");
  ASSERT_EQ((*snapshot)["rooms"].size(), 2u);
  EXPECT_EQ((*snapshot)["rooms"][0]["members"].size(), 2u);
  EXPECT_EQ(on_io([this] { return server_->event_streams(); }), 1u);

  // A member changes: the event carries its new state.
  on_io([this] {
    control_.find("r1", 2)->muted = true;
    control_.emit({ControlEvent::Kind::kMemberChanged, "r1", 2});
    return 0;
  });
  std::optional<json> changed = stream.next_of("member_changed");
  ASSERT_TRUE(changed);
  EXPECT_EQ((*changed)["room"], "r1");
  EXPECT_EQ((*changed)["member"], 2);
  EXPECT_EQ((*changed)["state"]["muted"], true);

  // A member leaves: no state (it is gone), still the ids.
  on_io([this] {
    control_.rooms_[0].members.pop_back();
    control_.emit({ControlEvent::Kind::kMemberLeft, "r1", 2});
    return 0;
  });
  std::optional<json> left = stream.next_of("member_left");
  ASSERT_TRUE(left);
  EXPECT_EQ((*left)["member"], 2);
  EXPECT_FALSE(left->contains("state"));

  // Levels go out when they change.
  on_io([this] {
    MemberState* alice = control_.find("r1", 1);
    alice->level_dbov = -12;
    alice->talking = true;
    return 0;
  });
  bool seen = false;
  for (int i = 0; i < 20 && !seen; ++i) {
    std::optional<json> levels = stream.next_of("levels");
    ASSERT_TRUE(levels);
    const json& alice = (*levels)["rooms"][0]["members"][0];
    seen = alice["level"] == -12 && alice["talking"] == true;
  }
  EXPECT_TRUE(seen);
}

// The console keeps a room's sidebars from these events alone: a sidebar
// created or dissolved (member 0) and a member moved in or out both carry
// the room's whole list, the latter also the member's state.
TEST_F(AdminServerTest, SidebarEventsCarryTheRoomsListAndTheMovedMember) {
  EventStream stream(client_io_, port_, "/api/events?token=s3cret-token");
  ASSERT_FALSE(stream.error()) << stream.error().message();
  on_io([this] {
    SidebarState huddle;
    huddle.id = 1;
    huddle.name = "huddle";
    huddle.whisper_main = true;
    control_.rooms_[0].sidebars.push_back(huddle);
    control_.emit({ControlEvent::Kind::kSidebars, "r1", 0});
    return 0;
  });
  std::optional<json> created = stream.next_of("sidebars");
  ASSERT_TRUE(created);
  ASSERT_EQ((*created)["sidebars"].size(), 1u);
  EXPECT_EQ((*created)["sidebars"][0]["name"], "huddle");
  EXPECT_EQ((*created)["sidebars"][0]["whisper_main"], true);
  EXPECT_FALSE(created->contains("state"));

  on_io([this] {
    control_.rooms_[0].sidebars[0].members.push_back(2);
    control_.find("r1", 2)->sidebar = 1;
    control_.emit({ControlEvent::Kind::kSidebars, "r1", 2});
    return 0;
  });
  std::optional<json> joined = stream.next_of("sidebars");
  ASSERT_TRUE(joined);
  EXPECT_EQ((*joined)["member"], 2);
  EXPECT_EQ((*joined)["state"]["sidebar"], 1);
  ASSERT_EQ((*joined)["sidebars"].size(), 1u);
  EXPECT_EQ((*joined)["sidebars"][0]["members"], json::array({2}));
}

TEST_F(AdminServerTest, AnEventBurstArrivesWholeAndInOrder) {
  EventStream stream(client_io_, port_, "/api/events?token=s3cret-token");
  ASSERT_FALSE(stream.error()) << stream.error().message();
  ASSERT_TRUE(stream.next_of("snapshot"));
  on_io([this] {
    control_.emit({ControlEvent::Kind::kTalker, "r1", 1});
    control_.emit({ControlEvent::Kind::kMemberChanged, "r1", 2});
    control_.emit({ControlEvent::Kind::kRoomEnded, "gone", 0});
    return 0;
  });
  std::vector<std::string> types;
  while (types.size() < 3) {
    std::optional<json> message = stream.next();
    ASSERT_TRUE(message);
    if ((*message)["type"] != "levels") types.push_back((*message)["type"]);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"talker", "member_changed", "room_ended"}));
}

TEST_F(AdminServerTest, EventStreamAcceptsTheBearerHeaderAndIsClosedOnStop) {
  EventStream stream(client_io_, port_, "/api/events", std::string(kBearer));
  ASSERT_FALSE(stream.error()) << stream.error().message();
  ASSERT_TRUE(stream.next_of("snapshot"));
  on_io([this] {
    server_->stop();
    return 0;
  });
  // Reads now fail (closed), well before the receive timeout.
  const auto started = std::chrono::steady_clock::now();
  while (stream.next()) {
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(on_io([this] { return server_->event_streams(); }), 0u);
}

TEST_F(AdminServerTest, EventStreamsAreCapped) {
  shutdown();
  AdminConfig config;
  config.max_event_streams = 1;
  start(config);
  EventStream first(client_io_, port_, "/api/events?token=s3cret-token");
  ASSERT_FALSE(first.error());
  EventStream second(client_io_, port_, "/api/events?token=s3cret-token");
  EXPECT_EQ(second.error(), websocket::error::upgrade_declined);
  EXPECT_TRUE(raw(upgrade("/api/events?token=s3cret-token")).starts_with("HTTP/1.1 409"));
}

// One account (a wallboard's viewer login) holds at most its share of the
// streams; the operator's token and other accounts still get theirs, and a
// closed stream gives its account the slot back.
TEST_F(AdminServerTest, OneAccountHoldsAtMostItsShareOfTheEventStreams) {
  shutdown();
  AdminConfig config;
  config.max_event_streams_per_account = 2;
  start(config);
  EventStream first(client_io_, port_, "/api/events", "Digest acct");
  ASSERT_FALSE(first.error());
  auto second = std::make_unique<EventStream>(client_io_, port_, "/api/events", "Digest acct");
  ASSERT_FALSE(second->error());
  EventStream third(client_io_, port_, "/api/events", "Digest acct");
  EXPECT_EQ(third.error(), websocket::error::upgrade_declined);
  EventStream token(client_io_, port_, "/api/events?token=s3cret-token");
  EXPECT_FALSE(token.error());
  EXPECT_EQ(on_io([this] { return server_->event_streams(); }), 3u);
  second.reset();  // the client goes away: its slot comes back
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (on_io([this] { return server_->event_streams(); }) != 2u &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  EventStream again(client_io_, port_, "/api/events", "Digest acct");
  EXPECT_FALSE(again.error());
}

// A reload that takes the view right from an account ends the event
// streams it opened; the operator's token stream goes on, and hears no
// event about the reload itself.
// Browsers cannot set headers on a WebSocket: a ticket from POST
// /api/events/ticket (with the token or an account's credentials) opens one
// stream, once, for the one who asked, so no lasting secret is in a URL.
TEST_F(AdminServerTest, AnEventTicketOpensOneStreamOnce) {
  const auto ticket = [this](const std::string& authorization) {
    const Reply reply =
        request(http::verb::post, "/api/events/ticket", std::nullopt, authorization);
    EXPECT_EQ(reply.status, 201) << reply.body;
    const json body = json::parse(reply.body, nullptr, false);
    return body.is_object() && body.contains("ticket") ? body["ticket"].get<std::string>()
                                                       : std::string();
  };
  const std::string first = ticket(std::string(kBearer));
  EXPECT_EQ(first.size(), 64u);
  EXPECT_NE(first, ticket(std::string(kBearer)));
  {
    EventStream stream(client_io_, port_, "/api/events?ticket=" + first);
    ASSERT_FALSE(stream.error()) << stream.error().message();
    ASSERT_TRUE(stream.next_of("snapshot"));
  }
  // Used up.
  EXPECT_TRUE(raw(upgrade("/api/events?ticket=" + first)).starts_with("HTTP/1.1 401"));
  EXPECT_TRUE(
      raw(upgrade("/api/events?ticket=" + std::string(64, '0'))).starts_with("HTTP/1.1 401"));
  EXPECT_EQ(request(http::verb::post, "/api/events/ticket", std::nullopt, "").status, 401);

  // An account's ticket opens a stream held by that account; if the
  // account loses the right before using it, the ticket is refused.
  const std::string viewer = ticket("Digest acct");
  EventStream stream(client_io_, port_, "/api/events?ticket=" + viewer);
  ASSERT_FALSE(stream.error());
  const std::string late = ticket("Digest acct");
  on_io([this] { return control_.acct_may_view = false; });
  EXPECT_TRUE(raw(upgrade("/api/events?ticket=" + late)).starts_with("HTTP/1.1 403"));

  // A new token voids what the old one obtained.
  const std::string old = ticket(std::string(kBearer));
  on_io([this] {
    server_->set_token("the-new-token");
    return 0;
  });
  EXPECT_TRUE(raw(upgrade("/api/events?ticket=" + old)).starts_with("HTTP/1.1 401"));
}

// Tickets are capped per account (the token counting as one): an account
// asking for many evicts only its own oldest, never another's; the
// accounts' tickets together are bounded too, past which an account is
// refused 503 with Retry-After while the token still gets its own.
TEST_F(AdminServerTest, AnAccountsTicketsEvictOnlyItsOwnAndThePoolIsBounded) {
  FakeControl control;
  AdminApi api(control, MetricsSource{}, AdminConfig{.token = kToken});
  const auto issue = [&](const std::string& authorization) {
    return api.handle(AdminRequest{"POST", "/api/events/ticket", authorization, {}, "127.0.0.1"});
  };
  const auto ticket = [&](const std::string& authorization) {
    const AdminResponse answer = issue(authorization);
    EXPECT_EQ(answer.status, 201) << authorization << " " << answer.body;
    const json body = json::parse(answer.body, nullptr, false);
    return body.is_object() && body.contains("ticket") ? body["ticket"].get<std::string>()
                                                       : std::string();
  };
  const auto opens = [&](const std::string& ticket) {
    return api.event_stream_refusal({}, std::string("/api/events?ticket=") + ticket) == 0;
  };

  const std::string operators = ticket(std::string(kBearer));
  const std::string first = ticket("Digest viewer-1");
  // viewer-2 asks for more tickets than the whole pool once held.
  std::vector<std::string> flood;
  for (int i = 0; i < 80; ++i) flood.push_back(ticket("Digest viewer-2"));
  EXPECT_TRUE(opens(operators));
  EXPECT_TRUE(opens(first));
  // viewer-2 keeps its newest 8; its older ones are gone.
  for (size_t i = 0; i < flood.size(); ++i) {
    EXPECT_EQ(opens(flood[i]), i >= flood.size() - 8) << i;
  }

  // Eight accounts holding 8 each fill the accounts' pool.
  std::vector<std::string> held;
  for (int account = 1; account <= 8; ++account) {
    for (int i = 0; i < 8; ++i) {
      held.push_back(ticket(std::string("Digest viewer-") + std::to_string(account)));
    }
  }
  const AdminResponse busy = issue("Digest viewer-9");
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_GE(busy.retry_after_s, 1u);
  EXPECT_LE(busy.retry_after_s, 30u);
  // An account at its cap still replaces its own oldest; the token is not
  // held to the accounts' pool.
  held.push_back(ticket("Digest viewer-3"));
  EXPECT_FALSE(opens(held[2 * 8]));  // viewer-3's oldest
  EXPECT_TRUE(opens(ticket(std::string(kBearer))));
  held.erase(held.begin() + 2 * 8);
  for (const std::string& t : held) EXPECT_TRUE(opens(t));
  // Used up, the pool has room again.
  EXPECT_EQ(issue("Digest viewer-9").status, 201);
}

// The 503 reaches the wire with its Retry-After.
TEST_F(AdminServerTest, AFullTicketPoolAnswers503WithRetryAfter) {
  tcp::socket socket = connect();  // one connection: the per-source cap stays out of it
  for (int account = 1; account <= 8; ++account) {
    for (int i = 0; i < 8; ++i) {
      const Reply reply = exchange(socket, http::verb::post, "/api/events/ticket", std::nullopt,
                                   std::string("Digest viewer-") + std::to_string(account));
      ASSERT_EQ(reply.status, 201) << reply.body;
    }
  }
  const std::string out =
      raw("POST /api/events/ticket HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Digest "
          "viewer-9\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 503")) << out;
  EXPECT_NE(out.find("Retry-After: "), std::string::npos) << out;
  EXPECT_EQ(request(http::verb::post, "/api/events/ticket").status, 201);
}

TEST_F(AdminServerTest, AnUnusedEventTicketExpires) {
  shutdown();
  AdminConfig config;
  config.event_ticket_lifetime = 100ms;
  start(config);
  const Reply reply = request(http::verb::post, "/api/events/ticket");
  ASSERT_EQ(reply.status, 201);
  const std::string ticket = json::parse(reply.body)["ticket"].get<std::string>();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(raw(upgrade("/api/events?ticket=" + ticket)).starts_with("HTTP/1.1 401"));
}

// SIGHUP with a new admin.token: the old token is refused from then on and
// the streams it opened end; an account's stream stays.
TEST_F(AdminServerTest, ANewTokenRevokesTheOldOneAndItsEventStreams) {
  EventStream viewer(client_io_, port_, "/api/events", "Digest acct");
  ASSERT_FALSE(viewer.error());
  ASSERT_TRUE(viewer.next());  // the snapshot
  EventStream old_token(client_io_, port_, "/api/events?token=s3cret-token");
  ASSERT_FALSE(old_token.error());
  ASSERT_TRUE(old_token.next());
  on_io([this] {
    server_->set_token("the-new-token");
    control_.emit({ControlEvent::Kind::kMemberChanged, "r1", 2});
    return 0;
  });
  bool ended = false;
  for (int i = 0; i < 50 && !ended; ++i) {
    const std::optional<json> message = old_token.next();
    ended = !message;
    if (message) {
      EXPECT_NE((*message)["type"], "member_changed") << message->dump();
    }
  }
  EXPECT_TRUE(ended) << "the old token's stream is still open";
  ASSERT_TRUE(viewer.next_of("member_changed"));
  EXPECT_EQ(request(http::verb::get, "/api/rooms").status, 401);
  EXPECT_EQ(request(http::verb::get, "/api/rooms", std::nullopt, "Bearer the-new-token").status,
            200);
  EventStream new_token(client_io_, port_, "/api/events?token=the-new-token");
  EXPECT_FALSE(new_token.error());
}

TEST_F(AdminServerTest, AStreamEndsWhenItsAccountLosesTheRight) {
  EventStream viewer(client_io_, port_, "/api/events", "Digest acct");
  ASSERT_FALSE(viewer.error());
  ASSERT_TRUE(viewer.next());  // the snapshot
  EventStream token(client_io_, port_, "/api/events?token=s3cret-token");
  ASSERT_FALSE(token.error());
  ASSERT_TRUE(token.next());
  on_io([this] {
    control_.emit({ControlEvent::Kind::kAccountsChanged, {}, 0});  // rights unchanged
    control_.emit({ControlEvent::Kind::kMemberChanged, "r1", 1});
    return 0;
  });
  ASSERT_TRUE(viewer.next_of("member_changed"));
  ASSERT_TRUE(token.next_of("member_changed"));
  on_io([this] {
    control_.acct_may_view = false;
    control_.emit({ControlEvent::Kind::kAccountsChanged, {}, 0});
    control_.emit({ControlEvent::Kind::kMemberChanged, "r1", 2});
    return 0;
  });
  // It ends, and never carries what happened after the reload.
  bool ended = false;
  for (int i = 0; i < 50 && !ended; ++i) {
    const std::optional<json> message = viewer.next();
    ended = !message;
    if (message) {
      EXPECT_NE((*message)["type"], "member_changed") << message->dump();
    }
  }
  EXPECT_TRUE(ended) << "the revoked stream is still open";
  std::optional<json> second = token.next_of("member_changed");
  ASSERT_TRUE(second);
  EXPECT_EQ((*second)["member"], 2);
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (on_io([this] { return server_->event_streams(); }) != 1u &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(on_io([this] { return server_->event_streams(); }), 1u);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
