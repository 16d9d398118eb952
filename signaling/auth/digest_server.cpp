#include "signaling/auth/digest_server.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "signaling/auth/digest_hash.hpp"
#include "signaling/auth/digest_params.hpp"

namespace chorus::sip {
namespace {

constexpr std::size_t kTimeBytes = 8;
constexpr std::size_t kRandomBytes = 8;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kNonceBytes = kTimeBytes + kRandomBytes + kTagBytes;
// Nonces from a clock that has since stepped back this far still count.
constexpr std::uint64_t kFutureSkewSeconds = 60;

std::uint64_t system_seconds() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

void random_bytes(std::uint8_t* out, std::size_t size) {
  if (RAND_bytes(out, static_cast<int>(size)) != 1) {
    // No entropy means no safe nonces: an impossible state for a server.
    std::abort();
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool hex_decode(std::string_view text, std::uint8_t* out, std::size_t size) {
  if (text.size() != size * 2) return false;
  for (std::size_t i = 0; i < size; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return to_lower(a) == to_lower(b);
}

DigestResult fail(std::string why, std::string user = {}) {
  DigestResult r;
  r.why = std::move(why);
  r.user = std::move(user);
  return r;
}

}  // namespace

DigestServer::DigestServer(DigestConfig config, Clock clock)
    : config_(std::move(config)), clock_(std::move(clock)) {
  if (!clock_) clock_ = system_seconds;
  if (config_.secret.empty()) {
    std::array<std::uint8_t, 32> secret{};
    random_bytes(secret.data(), secret.size());
    config_.secret.assign(reinterpret_cast<const char*>(secret.data()), secret.size());
  }
  if (config_.algorithms.empty())
    config_.algorithms = {DigestAlgorithm::kSha256, DigestAlgorithm::kMd5};
  if (config_.max_tracked_nonces == 0) config_.max_tracked_nonces = 1;
}

void DigestServer::add_account(DigestAccount account) {
  std::string user = account.user;
  accounts_.insert_or_assign(std::move(user), std::move(account));
}

bool DigestServer::has_account(std::string_view user) const {
  return accounts_.find(user) != accounts_.end();
}

bool DigestServer::has_right(std::string_view user, std::string_view right) const {
  auto it = accounts_.find(user);
  if (it == accounts_.end()) return false;
  const auto& rights = it->second.rights;
  return rights.find(right) != rights.end() || rights.find(kRightAdmin) != rights.end();
}

std::string DigestServer::hmac_tag(const std::uint8_t* data, std::size_t size) const {
  std::string input(reinterpret_cast<const char*>(data), size);
  input += config_.realm;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  if (!HMAC(EVP_sha256(), config_.secret.data(), static_cast<int>(config_.secret.size()),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_size)) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(mac), kTagBytes);
}

std::string DigestServer::make_nonce() {
  std::array<std::uint8_t, kNonceBytes> raw{};
  const std::uint64_t now = clock_();
  for (std::size_t i = 0; i < kTimeBytes; ++i) {
    raw[i] = static_cast<std::uint8_t>(now >> (8 * (kTimeBytes - 1 - i)));
  }
  random_bytes(raw.data() + kTimeBytes, kRandomBytes);
  const std::string tag = hmac_tag(raw.data(), kTimeBytes + kRandomBytes);
  std::copy(tag.begin(), tag.end(), raw.begin() + kTimeBytes + kRandomBytes);
  return hex_lower(raw);
}

DigestServer::NonceCheck DigestServer::check_nonce(std::string_view nonce,
                                                   std::uint64_t& issued_at) const {
  std::array<std::uint8_t, kNonceBytes> raw{};
  if (!hex_decode(nonce, raw.data(), raw.size())) return NonceCheck::kForged;
  const std::string tag = hmac_tag(raw.data(), kTimeBytes + kRandomBytes);
  const std::string_view got(reinterpret_cast<const char*>(raw.data() + kTimeBytes + kRandomBytes),
                             kTagBytes);
  if (!constant_time_equals(tag, got)) return NonceCheck::kForged;
  issued_at = 0;
  for (std::size_t i = 0; i < kTimeBytes; ++i) issued_at = (issued_at << 8) | raw[i];
  const std::uint64_t now = clock_();
  const auto lifetime = static_cast<std::uint64_t>(config_.nonce_lifetime.count());
  if (issued_at > now + kFutureSkewSeconds) return NonceCheck::kExpired;
  if (now > issued_at && now - issued_at > lifetime) return NonceCheck::kExpired;
  return NonceCheck::kValid;
}

void DigestServer::evict_for_space(std::uint64_t now) {
  const auto lifetime = static_cast<std::uint64_t>(config_.nonce_lifetime.count());
  for (auto it = nonce_counts_.begin(); it != nonce_counts_.end();) {
    if (now > it->second.issued_at && now - it->second.issued_at > lifetime) {
      it = nonce_counts_.erase(it);
    } else {
      ++it;
    }
  }
  while (nonce_counts_.size() >= config_.max_tracked_nonces) {
    auto oldest = nonce_counts_.begin();
    for (auto it = nonce_counts_.begin(); it != nonce_counts_.end(); ++it) {
      if (it->second.issued_at < oldest->second.issued_at) oldest = it;
    }
    // Forgetting a live nonce would let its old nc values be replayed; remember
    // the cut-off so such nonces are answered "stale" instead.
    evicted_through_ = std::max(evicted_through_, oldest->second.issued_at);
    evicted_any_ = true;
    nonce_counts_.erase(oldest);
  }
}

bool DigestServer::accept_nc(const std::string& nonce, std::uint64_t issued_at, std::uint32_t nc) {
  auto it = nonce_counts_.find(nonce);
  if (it == nonce_counts_.end()) {
    if (nonce_counts_.size() >= config_.max_tracked_nonces) evict_for_space(clock_());
    nonce_counts_.emplace(nonce, NonceState{issued_at, nc, 1});
    return true;
  }
  NonceState& s = it->second;
  if (nc > s.highest_nc) {
    const std::uint32_t shift = nc - s.highest_nc;
    s.window = shift >= 64 ? 0 : s.window << shift;
    s.window |= 1;
    s.highest_nc = nc;
    return true;
  }
  // RFC 7616 §3.4.5 lets a server accept out-of-order nc values; a 64-wide
  // window covers pipelined requests over UDP.
  const std::uint32_t back = s.highest_nc - nc;
  if (back >= 64) return false;
  const std::uint64_t bit = std::uint64_t{1} << back;
  if (s.window & bit) return false;
  s.window |= bit;
  return true;
}

std::optional<std::string> DigestServer::ha1_for(const DigestAccount& account,
                                                 DigestAlgorithm a) const {
  const bool md5 = a == DigestAlgorithm::kMd5 || a == DigestAlgorithm::kMd5Sess;
  if (account.password) return digest_ha1(a, account.user, config_.realm, *account.password);
  const auto& stored = md5 ? account.ha1_md5 : account.ha1_sha256;
  if (stored) return to_lower(*stored);
  return std::nullopt;
}

std::vector<std::string> DigestServer::challenges(bool stale) {
  std::vector<std::string> out;
  out.reserve(config_.algorithms.size());
  for (DigestAlgorithm a : config_.algorithms) {
    std::string value = "Digest realm=" + quote_param(config_.realm) +
                        ", nonce=" + quote_param(make_nonce()) + ", algorithm=";
    value += digest_algorithm_name(a);
    value += ", qop=\"auth\"";
    if (stale) value += ", stale=true";
    out.push_back(std::move(value));
  }
  return out;
}

DigestResult DigestServer::verify(std::string_view authorization, std::string_view method,
                                  std::string_view request_uri, std::string_view body) {
  auto parsed = parse_digest_params(authorization);
  if (!parsed) return fail("malformed credentials");
  const DigestParams& p = *parsed;
  if (!iequals(p.scheme, "Digest")) return fail("scheme is not Digest");

  const auto username = p.get("username");
  if (!username) return fail("missing username");
  std::string user(*username);
  const auto realm = p.get("realm");
  const auto nonce = p.get("nonce");
  const auto uri = p.get("uri");
  const auto response = p.get("response");
  if (!realm) return fail("missing realm", user);
  if (!nonce) return fail("missing nonce", user);
  if (!uri) return fail("missing uri", user);
  if (!response) return fail("missing response", user);
  if (p.get("userhash") && iequals(*p.get("userhash"), "true")) {
    return fail("userhash not supported", user);
  }
  if (*realm != config_.realm) return fail("wrong realm", user);

  DigestAlgorithm algorithm = DigestAlgorithm::kMd5;  // RFC 7616 §3.3: absent means MD5
  if (auto name = p.get("algorithm")) {
    auto a = digest_algorithm_from_name(*name);
    if (!a) return fail("unsupported algorithm", user);
    algorithm = *a;
  }
  bool offered = false;
  for (auto a : config_.algorithms) offered = offered || a == algorithm;
  if (!offered) return fail("algorithm not offered", user);

  // RFC 3261 §22.4: the uri must name the request's Request-URI.
  if (*uri != request_uri) return fail("uri does not match the request", user);

  const auto qop = p.get("qop");
  if (!qop) return fail("missing qop", user);
  if (*qop != "auth" && *qop != "auth-int") return fail("unsupported qop", user);
  const auto nc_text = p.get("nc");
  const auto cnonce = p.get("cnonce");
  if (!nc_text || !cnonce || cnonce->empty()) return fail("missing nc or cnonce", user);
  std::uint8_t nc_bytes[4];
  if (!hex_decode(*nc_text, nc_bytes, 4)) return fail("bad nc", user);
  const std::uint32_t nc = (std::uint32_t{nc_bytes[0]} << 24) | (std::uint32_t{nc_bytes[1]} << 16) |
                           (std::uint32_t{nc_bytes[2]} << 8) | nc_bytes[3];
  if (nc == 0) return fail("bad nc", user);

  std::uint64_t issued_at = 0;
  const NonceCheck nonce_state = check_nonce(*nonce, issued_at);
  if (nonce_state == NonceCheck::kForged) return fail("invalid nonce", user);

  auto account = accounts_.find(user);
  std::optional<std::string> ha1;
  if (account != accounts_.end()) ha1 = ha1_for(account->second, algorithm);
  // Unknown users and accounts without a key for this algorithm go through
  // the same computation, so timing does not reveal which accounts exist.
  const std::string dummy(
      algorithm == DigestAlgorithm::kMd5 || algorithm == DigestAlgorithm::kMd5Sess ? 32 : 64, '0');
  DigestInput in;
  in.algorithm = algorithm;
  in.ha1 = ha1 ? std::string_view(*ha1) : std::string_view(dummy);
  in.nonce = *nonce;
  in.nc = *nc_text;
  in.cnonce = *cnonce;
  in.qop = *qop;
  in.method = method;
  in.uri = *uri;
  in.body = body;
  const std::string expected = digest_response(in);
  const bool match = constant_time_equals(expected, to_lower(*response));
  if (!ha1 || !match) return fail("wrong credentials", user);

  DigestResult r;
  r.user = std::move(user);
  r.algorithm = algorithm;
  if (nonce_state == NonceCheck::kExpired) {
    // RFC 7616 §3.3: right credentials on an old nonce -> stale=true.
    r.stale = true;
    r.why = "stale nonce";
    return r;
  }
  if (!nonce_counts_.count(std::string(*nonce)) && evicted_any_ && issued_at <= evicted_through_) {
    r.stale = true;
    r.why = "nonce no longer tracked";
    return r;
  }
  if (!accept_nc(std::string(*nonce), issued_at, nc)) {
    r.why = "replayed nonce count";
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace chorus::sip
