#include "focus/ops/web_site.hpp"

#include <fstream>
#include <stdexcept>
#include <utility>

namespace chorus::focus {
namespace {

constexpr std::streamsize kMaxAssetBytes = 4 << 20;

std::shared_ptr<const std::string> text(std::string_view content) {
  return std::make_shared<const std::string>(content);
}

std::string read_asset(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw std::runtime_error(path +
                             ": cannot read the web page's JsSIP bundle; deploy/setup installs it "
                             "(or set web.assets_dir)");
  }
  std::string body(static_cast<size_t>(kMaxAssetBytes) + 1, '\0');
  file.read(body.data(), kMaxAssetBytes + 1);
  if (file.gcount() > kMaxAssetBytes) throw std::runtime_error(path + ": larger than 4 MiB");
  body.resize(static_cast<size_t>(file.gcount()));
  return body;
}

// JSON string contents: the settings are operator text, checked by the
// configuration reader, but quotes and controls are escaped all the same.
std::string json_string(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == '<') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string config_json(const WebPageSettings& settings) {
  return "{\"wss_port\":" + std::to_string(settings.wss_port) +
         ",\"ws_port\":" + std::to_string(settings.ws_port) +
         ",\"wss_url\":" + json_string(settings.wss_url) +
         ",\"sip_domain\":" + json_string(settings.sip_domain) + "}\n";
}

}  // namespace

WebSite::WebSite(const std::string& assets_dir, const WebPageSettings& settings) {
  files_.emplace("/web/join.js", File{"text/javascript; charset=utf-8", text(web_join_js())});
  files_.emplace("/web/join.css", File{"text/css; charset=utf-8", text(web_join_css())});
  files_.emplace(
      "/web/jssip.min.js",
      File{"text/javascript; charset=utf-8",
           std::make_shared<const std::string>(read_asset(assets_dir + "/jssip.min.js"))});
  files_.emplace(
      "/web/config.json",
      File{"application/json", std::make_shared<const std::string>(config_json(settings))});
  page_ = File{"text/html; charset=utf-8", text(web_join_html())};
}

std::string_view WebSite::content_security_policy() {
  // wss: for the SIP WebSocket on its own port (ws: for loopback tests);
  // media-src for the remote stream's <audio>.
  return "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' wss: ws:; "
         "media-src 'self' blob: mediastream:; img-src 'self' data:; base-uri 'none'; "
         "form-action 'none'; frame-ancestors 'none'";
}

bool WebSite::valid_room(std::string_view room) {
  if (room.empty() || room.size() > 64) return false;
  for (const char c : room) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-_.!~*'()").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  // "." and ".." are unreserved characters but never a room.
  return room != "." && room != "..";
}

WebResponse WebSite::handle(std::string_view method, std::string_view target) const {
  const auto not_found = [] {
    return WebResponse{404, "text/plain; charset=utf-8", text("not found\n"), {}};
  };
  const size_t query = target.find_first_of("?#");
  const std::string_view path = target.substr(0, query);
  const File* file = nullptr;
  if (path == "/join" || path == "/join/") {
    file = &page_;  // the room comes from ?room=
  } else if (path.starts_with("/join/")) {
    if (!valid_room(path.substr(6))) return not_found();
    file = &page_;
  } else if (const auto it = files_.find(path); it != files_.end()) {
    file = &it->second;
  }
  if (file == nullptr) return not_found();
  if (method != "GET" && method != "HEAD") {
    return WebResponse{405, "text/plain; charset=utf-8", text("method not allowed\n"), "GET, HEAD"};
  }
  return WebResponse{200, file->content_type, file->body, {}};
}

}  // namespace chorus::focus
