// The web phone page's listener (issue #18): which URLs exist and what they
// answer (WebSite), then the listener on 127.0.0.1 over plain HTTP and over
// TLS: traversal and unknown paths 404, other methods 405, Content-Type and
// Content-Security-Policy on every answer, size limits, the per-source
// connection cap, and no admin API.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "focus/ops/web_server.hpp"
#include "focus/ops/web_site.hpp"
#include "signaling/asio.hpp"
#include "tests/focus/refused_upload.hpp"
// Beast after Asio (signaling/asio.hpp puts <utility> first).
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace chorus::focus {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::string_view kFakeJsSip = "var JsSIP = {fake: true};\n";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream out;
  out << file.rdbuf();
  return out.str();
}

// A temporary assets directory holding a stand-in jssip.min.js.
class AssetsDir {
 public:
  AssetsDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("chorus-web-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
    std::ofstream(path_ / "jssip.min.js", std::ios::binary) << kFakeJsSip;
  }
  ~AssetsDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

WebPageSettings settings() {
  WebPageSettings s;
  s.wss_port = 5443;
  s.sip_domain = "conf.example";
  return s;
}

TEST(WebSite, ServesThePageForJoinWithARoomInThePathOrTheQuery) {
  const AssetsDir assets;
  const WebSite site(assets.path(), settings());
  for (const char* target :
       {"/join", "/join/", "/join?room=r1", "/join/r1", "/join/r1?test=1", "/join/sales-2_x.y~"}) {
    SCOPED_TRACE(target);
    const WebResponse r = site.handle("GET", target);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    ASSERT_TRUE(r.body);
    EXPECT_EQ(*r.body, web_join_html());
  }
}

TEST(WebSite, ServesEachAssetWithItsContentType) {
  const AssetsDir assets;
  const WebSite site(assets.path(), settings());
  struct Case {
    const char* target;
    const char* type;
  };
  for (const Case& c : {Case{"/web/join.js", "text/javascript; charset=utf-8"},
                        Case{"/web/join.css", "text/css; charset=utf-8"},
                        Case{"/web/jssip.min.js", "text/javascript; charset=utf-8"},
                        Case{"/web/config.json", "application/json"}}) {
    SCOPED_TRACE(c.target);
    const WebResponse r = site.handle("GET", c.target);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, c.type);
  }
  EXPECT_EQ(*site.handle("GET", "/web/jssip.min.js").body, kFakeJsSip);
  EXPECT_EQ(*site.handle("HEAD", "/web/join.js").body, web_join_js());
}

TEST(WebSite, CompiledInPageIsTheSourceTreesWebFolder) {
  const std::filesystem::path web = std::filesystem::path(CHORUS_SOURCE_DIR) / "web";
  EXPECT_EQ(web_join_html(), read_file(web / "join.html"));
  EXPECT_EQ(web_join_js(), read_file(web / "join.js"));
  EXPECT_EQ(web_join_css(), read_file(web / "join.css"));
}

TEST(WebSite, ConfigJsonNamesTheWebSocketPortAndDomain) {
  const AssetsDir assets;
  WebPageSettings s = settings();
  s.wss_url = "wss://sip.example/ws\"<";  // escaped, never markup
  const WebSite site(assets.path(), s);
  EXPECT_EQ(*site.handle("GET", "/web/config.json").body,
            "{\"wss_port\":5443,\"ws_port\":0,\"wss_url\":\"wss://sip.example/ws\\\"\\u003c\","
            "\"sip_domain\":\"conf.example\"}\n");
}

TEST(WebSite, TraversalAndUnknownPathsAre404) {
  const AssetsDir assets;
  const WebSite site(assets.path(), settings());
  for (const char* target :
       {"/",
        "/web/",
        "/web",
        "/web/../web/join.js",
        "/web/./join.js",
        "/join/../web/join.js",
        "/join/..",
        "/join/.",
        "/join/%2e%2e",
        "/join/r1/x",
        "/join/a%20b",
        "/join/<script>",
        "/web/jssip.min.js/",
        "/web/JOIN.JS",
        "//web/join.js",
        "/web/join.js%00",
        "/../etc/passwd",
        "/web/../../etc/passwd",
        "/api/rooms",
        "/api/events",
        "/metrics",
        "/index.html",
        "/favicon.ico",
        "join",
        "*",
        "http://x/join",
        "/join/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    SCOPED_TRACE(target);
    const WebResponse r = site.handle("GET", target);
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(*r.body, web_join_html());
  }
}

TEST(WebSite, MethodsOtherThanGetAndHeadAre405WithAllow) {
  const AssetsDir assets;
  const WebSite site(assets.path(), settings());
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "get"}) {
    SCOPED_TRACE(method);
    const WebResponse r = site.handle(method, "/join/r1");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.allow, "GET, HEAD");
  }
}

TEST(WebSite, MissingJsSipBundleStopsTheStartNamingWhatInstallsIt) {
  try {
    const WebSite site("/nonexistent/chorus-web-assets", settings());
    FAIL() << "no exception";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("deploy/setup"), std::string::npos) << error.what();
  }
}

TEST(WebSite, RoomNamesAreSipUserPartsWithoutEscapes) {
  EXPECT_TRUE(WebSite::valid_room("r1"));
  EXPECT_TRUE(WebSite::valid_room("Sales_Q3-2.x!~*'()"));
  EXPECT_FALSE(WebSite::valid_room(""));
  EXPECT_FALSE(WebSite::valid_room(".."));
  EXPECT_FALSE(WebSite::valid_room("a/b"));
  EXPECT_FALSE(WebSite::valid_room("a%41"));
  EXPECT_FALSE(WebSite::valid_room("a@b"));
  EXPECT_FALSE(WebSite::valid_room(std::string(65, 'a')));
}

// ---- the listener ------------------------------------------------------------

// A WebServer on 127.0.0.1 with its io_context on a thread of its own.
class Listener {
 public:
  explicit Listener(WebConfig config) {
    config.address = "127.0.0.1";
    config.port = 0;
    server_ = std::make_unique<WebServer>(
        io_, std::make_shared<const WebSite>(assets_.path(), settings()), config);
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Listener() {
    asio::post(io_, [this] {
      server_->stop();
      work_.reset();
    });
    thread_.join();
  }
  uint16_t port() const { return server_->port(); }

 private:
  AssetsDir assets_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<WebServer> server_;
  std::thread thread_;
};

tcp::socket connect(asio::io_context& io, uint16_t port) {
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  // Every read in these tests is bounded.
  timeval timeout{5, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return socket;
}

http::response<http::string_body> request(uint16_t port, http::verb method, std::string target) {
  asio::io_context io;
  tcp::socket socket = connect(io, port);
  http::request<http::empty_body> req(method, target, 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.skip(method == http::verb::head);
  http::read(socket, buffer, parser);
  return parser.release();
}

// Raw bytes in, the status line's code out (0: the connection closed).
int raw_status(uint16_t port, const std::string& bytes) {
  asio::io_context io;
  tcp::socket socket = connect(io, port);
  asio::write(socket, asio::buffer(bytes));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::error_code ec;
  http::read(socket, buffer, response, ec);
  return ec ? 0 : static_cast<int>(response.result_int());
}

TEST(WebServer, ServesThePageWithSecurityHeaders) {
  const Listener listener(WebConfig{});
  const auto r = request(listener.port(), http::verb::get, "/join/r1?test=1");
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(std::string(r[http::field::content_type]), "text/html; charset=utf-8");
  EXPECT_EQ(r.body(), web_join_html());
  EXPECT_EQ(std::string(r["Content-Security-Policy"]),
            std::string(WebSite::content_security_policy()));
  EXPECT_NE(std::string(r["Content-Security-Policy"]).find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(std::string(r["X-Content-Type-Options"]), "nosniff");
  EXPECT_EQ(std::string(r["X-Frame-Options"]), "DENY");
  const auto js = request(listener.port(), http::verb::get, "/web/jssip.min.js");
  EXPECT_EQ(std::string(js[http::field::content_type]), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body(), kFakeJsSip);
}

TEST(WebServer, HeadAnswersTheLengthWithoutTheBody) {
  const Listener listener(WebConfig{});
  const auto r = request(listener.port(), http::verb::head, "/web/join.css");
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(std::string(r[http::field::content_length]), std::to_string(web_join_css().size()));
  EXPECT_TRUE(r.body().empty());
}

TEST(WebServer, TraversalUnknownPathsAndTheAdminApiAre404) {
  const Listener listener(WebConfig{});
  for (const char* target : {"/../../etc/passwd", "/web/../../../etc/passwd", "/join/..%2f..%2fetc",
                             "/api/rooms", "/api/events", "/metrics", "/", "/web/"}) {
    SCOPED_TRACE(target);
    EXPECT_EQ(request(listener.port(), http::verb::get, target).result_int(), 404u);
  }
  // A raw request line no client library would normalise.
  EXPECT_EQ(raw_status(listener.port(), "GET /web/../web/join.js HTTP/1.1\r\nHost: x\r\n\r\n"),
            404);
}

TEST(WebServer, OtherMethodsAre405) {
  const Listener listener(WebConfig{});
  for (const http::verb verb :
       {http::verb::post, http::verb::put, http::verb::delete_, http::verb::options}) {
    const auto r = request(listener.port(), verb, "/join/r1");
    EXPECT_EQ(r.result_int(), 405u);
    EXPECT_EQ(std::string(r[http::field::allow]), "GET, HEAD");
  }
}

TEST(WebServer, OversizedHeaderIs431AndBodyIs413) {
  WebConfig config;
  config.max_header_bytes = 1024;
  const Listener listener(config);
  EXPECT_EQ(raw_status(listener.port(), "GET /join HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                            std::string(4000, 'a') + "\r\n\r\n"),
            431);
  EXPECT_EQ(
      raw_status(listener.port(), "POST /join HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
                                      std::string(5000, 'b')),
      413);
  EXPECT_EQ(raw_status(listener.port(), "NOT HTTP\r\n\r\n"), 400);
}

// The 413 is read whole and the rest of the refused body is taken, not reset.
TEST(WebServer, ARefusedBodyIsDrainedSoTheClientFinishesSendingIt) {
  const Listener listener(WebConfig{});
  asio::io_context io;
  tcp::socket socket = connect(io, listener.port());
  const test::RefusedUpload upload = test::upload_refused_body(
      socket, "POST /join HTTP/1.1\r\nHost: x\r\nContent-Length: 524288\r\n\r\n", 524288);
  EXPECT_TRUE(upload.answer.starts_with("HTTP/1.1 413")) << upload.answer.substr(0, 80);
  EXPECT_EQ(upload.read_end, asio::error::eof);
  EXPECT_FALSE(upload.write_error) << upload.write_error.message();
  EXPECT_EQ(upload.body_written, 524288u);
}

TEST(WebServer, ConnectionsPerSourceAreCapped) {
  WebConfig config;
  config.max_connections_per_source = 3;
  const Listener listener(config);
  asio::io_context io;
  std::vector<tcp::socket> held;
  for (int i = 0; i < 3; ++i) held.push_back(connect(io, listener.port()));
  // Let the server register them before the fourth arrives.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(raw_status(listener.port(), "GET /join HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  held.pop_back();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(raw_status(listener.port(), "GET /join HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
}

TEST(WebServer, PlainHttpIsRefusedOffLoopback) {
  const AssetsDir assets;
  asio::io_context io;
  WebConfig config;
  config.address = "0.0.0.0";
  EXPECT_THROW(WebServer(io, std::make_shared<const WebSite>(assets.path(), settings()), config),
               std::invalid_argument);
  EXPECT_TRUE(WebServer::loopback("127.0.0.1"));
  EXPECT_TRUE(WebServer::loopback("127.8.0.1"));
  EXPECT_TRUE(WebServer::loopback("::1"));
  EXPECT_FALSE(WebServer::loopback("192.0.2.1"));
  EXPECT_FALSE(WebServer::loopback("::"));
}

TEST(WebServer, ServesOverTlsWithTheConfiguredCertificate) {
  const AssetsDir dir;
  const std::string cert = dir.path() + "/cert.pem";
  const std::string key = dir.path() + "/key.pem";
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << "openssl (deploy/setup installs it)";
  WebConfig config;
  config.certificate = cert;
  config.private_key = key;
  const Listener listener(config);

  asio::io_context io;
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_verify_mode(asio::ssl::verify_none);  // self-signed, made above
  beast::ssl_stream<tcp::socket> stream(connect(io, listener.port()), tls);
  stream.handshake(asio::ssl::stream_base::client);
  http::request<http::empty_body> req(http::verb::get, "/join/r1", 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> r;
  http::read(stream, buffer, r);
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r.body(), web_join_html());

  // Plain HTTP to the TLS port gets no page.
  EXPECT_EQ(raw_status(listener.port(), "GET /join HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
