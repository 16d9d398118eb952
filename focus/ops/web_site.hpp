#pragma once
// The web phone page's content (issue #18): which URLs exist, what each one
// answers, with which Content-Type and security headers. No sockets here
// (focus/ops/web_server.hpp serves it), so every answer is testable directly.
//
// The set of files is fixed when the site is built: the page itself
// (web/join.html, join.js, join.css, compiled into the binary), JsSIP from
// the assets directory (read once at start) and a generated config.json
// telling the page where the SIP WebSocket is. A request names one of them
// exactly or gets 404: nothing is looked up on disk per request, so no path
// can reach outside the set (no traversal, no directory listing).

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace chorus::focus {

// What config.json tells the page. Empty fields let the page use its own
// origin's host name (the name the browser trusts the certificate for).
struct WebPageSettings {
  uint16_t wss_port = 0;   // [sip] wss_port
  uint16_t ws_port = 0;    // [sip] ws_port: used only by a page served over http on loopback
  std::string wss_url;     // [web] wss_url: overrides wss://<page host>:<wss_port>
  std::string sip_domain;  // [web] sip_domain: overrides the page's host name
};

struct WebResponse {
  int status = 200;
  std::string content_type;
  std::shared_ptr<const std::string> body;  // shared: JsSIP is 250 KB, served as is
  std::string allow;                        // for 405
};

class WebSite {
 public:
  // Reads <assets_dir>/jssip.min.js. Throws std::runtime_error naming the
  // file and what installs it when it is missing or larger than 4 MiB.
  WebSite(const std::string& assets_dir, const WebPageSettings& settings);

  // `method` as sent; `target` the request-target (path and query).
  WebResponse handle(std::string_view method, std::string_view target) const;

  // The Content-Security-Policy every answer carries: scripts, styles and
  // connections to this origin and the SIP WebSocket only.
  static std::string_view content_security_policy();

  // A room name the page accepts in /join/<room>: RFC 3261 unreserved
  // characters (a SIP user part without escapes), 1..64 of them.
  static bool valid_room(std::string_view room);

 private:
  struct File {
    std::string content_type;
    std::shared_ptr<const std::string> body;
  };
  std::map<std::string, File, std::less<>> files_;
  File page_;
};

// The page's files compiled into the binary (focus/ops/web_page.cpp.in).
std::string_view web_join_html();
std::string_view web_join_js();
std::string_view web_join_css();
// Where deploy/setup puts the bundled JsSIP (the build tree's web/assets).
std::string_view web_default_assets_dir();

}  // namespace chorus::focus
