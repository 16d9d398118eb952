// Digest authentication as a server: RFC 3261 §22, RFC 7616, RFC 8760.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "signaling/auth/digest_hash.hpp"
#include "signaling/auth/digest_params.hpp"
#include "signaling/auth/digest_server.hpp"

namespace chorus::sip {
namespace {

// Independent of the code under test: hash straight through EVP.
std::string hex_hash(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), out, &size, md, nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", out[i]);
    hex += buf;
  }
  return hex;
}

// RFC 2617 §3.2.2.1 / RFC 7616 §3.4.1 with qop=auth, written out by hand.
std::string expected_response(const EVP_MD* md, const std::string& user, const std::string& realm,
                              const std::string& password, const std::string& method,
                              const std::string& uri, const std::string& nonce,
                              const std::string& nc, const std::string& cnonce) {
  const std::string ha1 = hex_hash(md, user + ":" + realm + ":" + password);
  const std::string ha2 = hex_hash(md, method + ":" + uri);
  return hex_hash(md, ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2);
}

// Designated initializers would trip -Wmissing-field-initializers (GCC 12).
DigestAccount password_account(std::string user, std::string password,
                               std::set<std::string, std::less<>> rights = {}) {
  DigestAccount a;
  a.user = std::move(user);
  a.password = std::move(password);
  a.rights = std::move(rights);
  return a;
}

DigestConfig make_config(std::vector<DigestAlgorithm> algorithms = {DigestAlgorithm::kSha256,
                                                                    DigestAlgorithm::kMd5},
                         std::string secret = "") {
  DigestConfig c;
  c.realm = "chorus.example";
  c.algorithms = std::move(algorithms);
  c.max_tracked_nonces = 8;
  c.secret = std::move(secret);
  return c;
}

std::string nonce_from(const std::string& challenge) {
  auto p = parse_digest_params(challenge);
  return p ? std::string(*p->get("nonce")) : std::string();
}

struct DigestServerTest : ::testing::Test {
  std::uint64_t now = 1'000'000;
  DigestServer server{make_config(), [this] { return now; }};
  const std::string uri = "sip:room1@chorus.example";

  void SetUp() override {
    server.add_account(password_account("alice", "s3cret", {"monitor", "whisper"}));
    server.add_account(password_account("root", "toor", {"admin"}));
  }

  std::string authorization(const std::string& user, const std::string& password,
                            const std::string& nonce, const std::string& nc,
                            const std::string& algorithm = "SHA-256",
                            const std::string& method = "INVITE",
                            const std::string& cred_uri = "sip:room1@chorus.example") {
    const EVP_MD* md = algorithm == "MD5" ? EVP_md5() : EVP_sha256();
    const std::string cnonce = "0a4f113b";
    const std::string response = expected_response(md, user, "chorus.example", password, method,
                                                   cred_uri, nonce, nc, cnonce);
    return "Digest username=\"" + user + "\", realm=\"chorus.example\", nonce=\"" + nonce +
           "\", uri=\"" + cred_uri + "\", response=\"" + response + "\", algorithm=" + algorithm +
           ", cnonce=\"" + cnonce + "\", qop=auth, nc=" + nc;
  }
};

TEST(DigestHash, Rfc2617Section3_5MufasaExample) {
  const std::string ha1 =
      digest_ha1(DigestAlgorithm::kMd5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  DigestInput in;
  in.algorithm = DigestAlgorithm::kMd5;
  in.ha1 = ha1;
  in.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
  in.nc = "00000001";
  in.cnonce = "0a4f113b";
  in.qop = "auth";
  in.method = "GET";
  in.uri = "/dir/index.html";
  EXPECT_EQ(digest_response(in), "6629fae49393a05397450978507c4ef1");
}

TEST(DigestHash, Rfc7616Section3_9_1Sha256AndMd5Examples) {
  DigestInput in;
  in.nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  in.nc = "00000001";
  in.cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  in.qop = "auth";
  in.method = "GET";
  in.uri = "/dir/index.html";
  const std::string sha =
      digest_ha1(DigestAlgorithm::kSha256, "Mufasa", "http-auth@example.org", "Circle of Life");
  in.algorithm = DigestAlgorithm::kSha256;
  in.ha1 = sha;
  EXPECT_EQ(digest_response(in),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  const std::string md5 =
      digest_ha1(DigestAlgorithm::kMd5, "Mufasa", "http-auth@example.org", "Circle of Life");
  in.algorithm = DigestAlgorithm::kMd5;
  in.ha1 = md5;
  EXPECT_EQ(digest_response(in), "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(DigestHash, SessVariantUsesSessionKey) {
  const std::string ha1 = digest_ha1(DigestAlgorithm::kMd5Sess, "u", "r", "p");
  DigestInput in{
      DigestAlgorithm::kMd5Sess, ha1, "n", "00000001", "c", "auth", "REGISTER", "sip:r", ""};
  const std::string session_key = hex_hash(EVP_md5(), hex_hash(EVP_md5(), "u:r:p") + ":n:c");
  const std::string ha2 = hex_hash(EVP_md5(), "REGISTER:sip:r");
  EXPECT_EQ(digest_response(in), hex_hash(EVP_md5(), session_key + ":n:00000001:c:auth:" + ha2));
}

TEST_F(DigestServerTest, ChallengesOfferSha256FirstThenMd5WithQopAuth) {
  auto values = server.challenges();
  ASSERT_EQ(values.size(), 2u);
  auto first = parse_digest_params(values[0]);
  auto second = parse_digest_params(values[1]);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->scheme, "Digest");
  EXPECT_EQ(first->get("realm"), "chorus.example");
  EXPECT_EQ(first->get("algorithm"), "SHA-256");
  EXPECT_EQ(first->get("qop"), "auth");
  EXPECT_EQ(second->get("algorithm"), "MD5");
  EXPECT_NE(first->get("nonce"), second->get("nonce"));
  EXPECT_FALSE(first->get("stale").has_value());
  auto stale = parse_digest_params(server.challenges(true)[0]);
  EXPECT_EQ(stale->get("stale"), "true");
}

TEST_F(DigestServerTest, AcceptsCorrectSha256AndMd5Credentials) {
  const std::string nonce = nonce_from(server.challenges()[0]);
  auto r = server.verify(authorization("alice", "s3cret", nonce, "00000001"), "INVITE", uri);
  EXPECT_TRUE(r.ok) << r.why;
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.algorithm, DigestAlgorithm::kSha256);
  auto m = server.verify(authorization("alice", "s3cret", nonce, "00000002", "MD5"), "INVITE", uri);
  EXPECT_TRUE(m.ok) << m.why;
  EXPECT_EQ(m.algorithm, DigestAlgorithm::kMd5);
}

TEST_F(DigestServerTest, AcceptsPrecomputedHa1) {
  DigestAccount bob;
  bob.user = "bob";
  bob.ha1_md5 = hex_hash(EVP_md5(), "bob:chorus.example:pw");
  bob.ha1_sha256 = hex_hash(EVP_sha256(), "bob:chorus.example:pw");
  server.add_account(bob);
  const std::string nonce = server.make_nonce();
  EXPECT_TRUE(server.verify(authorization("bob", "pw", nonce, "00000001"), "INVITE", uri).ok);
  EXPECT_TRUE(
      server.verify(authorization("bob", "pw", nonce, "00000002", "MD5"), "INVITE", uri).ok);
  DigestAccount carol;
  carol.user = "carol";
  carol.ha1_md5 = hex_hash(EVP_md5(), "carol:chorus.example:pw");
  server.add_account(carol);
  auto no_sha = server.verify(authorization("carol", "pw", nonce, "00000001"), "INVITE", uri);
  EXPECT_FALSE(no_sha.ok);  // no SHA-256 key stored for carol
}

TEST_F(DigestServerTest, RejectsWrongPasswordAndUnknownUserAlike) {
  const std::string nonce = server.make_nonce();
  auto wrong = server.verify(authorization("alice", "guess", nonce, "00000001"), "INVITE", uri);
  EXPECT_FALSE(wrong.ok);
  EXPECT_FALSE(wrong.stale);
  EXPECT_EQ(wrong.why, "wrong credentials");
  auto unknown = server.verify(authorization("mallory", "x", nonce, "00000001"), "INVITE", uri);
  EXPECT_FALSE(unknown.ok);
  EXPECT_EQ(unknown.why, wrong.why);
}

TEST_F(DigestServerTest, RejectsWrongUriAndWrongMethod) {
  const std::string nonce = server.make_nonce();
  auto other_uri = server.verify(authorization("alice", "s3cret", nonce, "00000001", "SHA-256",
                                               "INVITE", "sip:room2@chorus.example"),
                                 "INVITE", uri);
  EXPECT_FALSE(other_uri.ok);
  EXPECT_EQ(other_uri.why, "uri does not match the request");
  // Response computed for REFER replayed on an INVITE.
  auto other_method = server.verify(
      authorization("alice", "s3cret", nonce, "00000001", "SHA-256", "REFER"), "INVITE", uri);
  EXPECT_FALSE(other_method.ok);
}

TEST_F(DigestServerTest, RejectsReplayedNonceCountButAllowsOutOfOrder) {
  const std::string nonce = server.make_nonce();
  EXPECT_TRUE(server.verify(authorization("alice", "s3cret", nonce, "00000001"), "INVITE", uri).ok);
  auto replay = server.verify(authorization("alice", "s3cret", nonce, "00000001"), "INVITE", uri);
  EXPECT_FALSE(replay.ok);
  EXPECT_EQ(replay.why, "replayed nonce count");
  EXPECT_TRUE(server.verify(authorization("alice", "s3cret", nonce, "00000005"), "INVITE", uri).ok);
  EXPECT_TRUE(server.verify(authorization("alice", "s3cret", nonce, "00000003"), "INVITE", uri).ok);
  EXPECT_FALSE(
      server.verify(authorization("alice", "s3cret", nonce, "00000003"), "INVITE", uri).ok);
  EXPECT_FALSE(
      server.verify(authorization("alice", "s3cret", nonce, "00000000"), "INVITE", uri).ok);
}

TEST_F(DigestServerTest, ExpiredNonceWithRightCredentialsIsStale) {
  const std::string nonce = server.make_nonce();
  now += 301;
  auto r = server.verify(authorization("alice", "s3cret", nonce, "00000001"), "INVITE", uri);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.stale);
  auto wrong = server.verify(authorization("alice", "nope", nonce, "00000001"), "INVITE", uri);
  EXPECT_FALSE(wrong.ok);
  EXPECT_FALSE(wrong.stale);  // stale only vouches for right credentials
  const std::string fresh = server.make_nonce();
  EXPECT_TRUE(server.verify(authorization("alice", "s3cret", fresh, "00000001"), "INVITE", uri).ok);
}

TEST_F(DigestServerTest, TamperedOrForeignNonceIsInvalid) {
  std::string nonce = server.make_nonce();
  // Move the timestamp forward by flipping a bit in it: the MAC must catch it.
  nonce[14] = nonce[14] == '0' ? '1' : '0';
  auto r = server.verify(authorization("alice", "s3cret", nonce, "00000001"), "INVITE", uri);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.stale);
  EXPECT_EQ(r.why, "invalid nonce");
  DigestServer other{make_config(), [this] { return now; }};
  const std::string foreign = other.make_nonce();
  EXPECT_EQ(server.verify(authorization("alice", "s3cret", foreign, "00000001"), "INVITE", uri).why,
            "invalid nonce");
  EXPECT_EQ(server.verify(authorization("alice", "s3cret", "abc", "00000001"), "INVITE", uri).why,
            "invalid nonce");
}

TEST_F(DigestServerTest, SharedSecretLetsAnotherNodeVerify) {
  DigestConfig config = make_config({DigestAlgorithm::kSha256}, "cluster-secret");
  DigestServer a{config, [this] { return now; }};
  DigestServer b{config, [this] { return now; }};
  b.add_account(password_account("alice", "s3cret"));
  const std::string nonce = a.make_nonce();
  EXPECT_TRUE(b.verify(authorization("alice", "s3cret", nonce, "00000001"), "INVITE", uri).ok);
}

TEST_F(DigestServerTest, AlgorithmMustBeOffered) {
  DigestServer sha_only{make_config({DigestAlgorithm::kSha256}), [this] { return now; }};
  sha_only.add_account(password_account("alice", "s3cret"));
  EXPECT_EQ(sha_only.challenges().size(), 1u);
  const std::string nonce = sha_only.make_nonce();
  auto r =
      sha_only.verify(authorization("alice", "s3cret", nonce, "00000001", "MD5"), "INVITE", uri);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.why, "algorithm not offered");
}

TEST_F(DigestServerTest, ReplayTableIsBoundedAndForgottenNoncesGoStale) {
  std::vector<std::string> nonces;
  for (int i = 0; i < 20; ++i) {
    now += 1;
    nonces.push_back(server.make_nonce());
    EXPECT_TRUE(
        server.verify(authorization("alice", "s3cret", nonces.back(), "00000001"), "INVITE", uri)
            .ok);
    EXPECT_LE(server.tracked_nonces(), 8u);
  }
  // The first nonce was evicted: its nc=2 cannot be checked against history,
  // so it is refused as stale (never accepted as fresh).
  auto r = server.verify(authorization("alice", "s3cret", nonces[0], "00000002"), "INVITE", uri);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.stale);
  EXPECT_TRUE(
      server.verify(authorization("alice", "s3cret", nonces[19], "00000002"), "INVITE", uri).ok);
}

TEST_F(DigestServerTest, MissingFieldsAreNamed) {
  const std::string nonce = server.make_nonce();
  const std::string full = authorization("alice", "s3cret", nonce, "00000001");
  struct Case {
    std::string drop;
    std::string why;
  } cases[] = {{"username", "missing username"}, {"realm", "missing realm"},
               {"nonce", "missing nonce"},       {"uri", "missing uri"},
               {"response", "missing response"}, {"qop", "missing qop"},
               {"nc", "missing nc or cnonce"},   {"cnonce", "missing nc or cnonce"}};
  for (const auto& c : cases) {
    auto p = parse_digest_params(full);
    ASSERT_TRUE(p);
    std::string rebuilt = "Digest ";
    bool first = true;
    for (std::size_t i = 0; i < p->params.size(); ++i) {
      if (p->params[i].first == c.drop) continue;
      if (!first) rebuilt += ", ";
      first = false;
      rebuilt += p->params[i].first + "=" +
                 (p->quoted[i] ? quote_param(p->params[i].second) : p->params[i].second);
    }
    auto r = server.verify(rebuilt, "INVITE", uri);
    EXPECT_FALSE(r.ok) << c.drop;
    EXPECT_EQ(r.why, c.why) << c.drop;
  }
}

TEST_F(DigestServerTest, GarbageHeadersAreRefusedNotCrashed) {
  const char* garbage[] = {
      "",
      "Digest",
      "Digest ",
      "Basic dXNlcjpwYXNz",
      "Digest username",
      "Digest username=",
      "Digest username=\"unterminated",
      "Digest username=\"a\" realm=\"b\"",
      "Digest username=\"a\",,realm=\"b\"",
      "Digest username=\"a\", username=\"b\"",
      "Digest username=\"a\\",
      "Digest =x",
      "\x01\x02\x03",
      "Digest username=\"alice\", realm=\"chorus.example\", nonce=\"\", uri=\"\", "
      "response=\"\", qop=auth, nc=zzzzzzzz, cnonce=\"x\""};
  for (const char* g : garbage) {
    auto r = server.verify(g, "INVITE", uri);
    EXPECT_FALSE(r.ok) << g;
    EXPECT_FALSE(r.why.empty()) << g;
  }
  std::string huge = "Digest username=\"" + std::string(20000, 'a') + "\"";
  EXPECT_FALSE(server.verify(huge, "INVITE", uri).ok);
}

TEST_F(DigestServerTest, WrongRealmAndUnsupportedQop) {
  const std::string nonce = server.make_nonce();
  std::string creds = authorization("alice", "s3cret", nonce, "00000001");
  std::string other_realm = creds;
  other_realm.replace(other_realm.find("chorus.example"), 14, "evil.example");
  EXPECT_EQ(server.verify(other_realm, "INVITE", uri).why, "wrong realm");
  std::string auth_int = creds;
  auth_int.replace(auth_int.find("qop=auth"), 8, "qop=auth-conf");
  EXPECT_EQ(server.verify(auth_int, "INVITE", uri).why, "unsupported qop");
}

TEST_F(DigestServerTest, UpperCaseHexResponseIsAccepted) {
  const std::string nonce = server.make_nonce();
  std::string creds = authorization("alice", "s3cret", nonce, "00000001");
  auto start = creds.find("response=\"") + 10;
  for (std::size_t i = start; creds[i] != '"'; ++i)
    creds[i] = static_cast<char>(std::toupper(creds[i]));
  EXPECT_TRUE(server.verify(creds, "INVITE", uri).ok);
}

TEST_F(DigestServerTest, RightsAreNamedAndAdminImpliesAll) {
  EXPECT_TRUE(server.has_right("alice", kRightMonitor));
  EXPECT_TRUE(server.has_right("alice", kRightWhisper));
  EXPECT_FALSE(server.has_right("alice", kRightBarge));
  EXPECT_FALSE(server.has_right("alice", kRightDialOut));
  EXPECT_TRUE(server.has_right("root", kRightDialOut));
  EXPECT_TRUE(server.has_right("root", kRightDialogSubscribe));
  EXPECT_FALSE(server.has_right("nobody", kRightMonitor));
}

TEST_F(DigestServerTest, AuthIntCoversTheBody) {
  // RFC 7616 §3.4.3: HA2 = H(method:uri:H(entity-body)).
  const std::string nonce = server.make_nonce();
  const std::string body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
  const std::string ha1 = hex_hash(EVP_sha256(), "alice:chorus.example:s3cret");
  const std::string ha2 =
      hex_hash(EVP_sha256(), "INVITE:" + uri + ":" + hex_hash(EVP_sha256(), body));
  const std::string response =
      hex_hash(EVP_sha256(), ha1 + ":" + nonce + ":00000001:abc:auth-int:" + ha2);
  const std::string creds = "Digest username=\"alice\", realm=\"chorus.example\", nonce=\"" +
                            nonce + "\", uri=\"" + uri + "\", response=\"" + response +
                            "\", algorithm=SHA-256, cnonce=\"abc\", qop=auth-int, nc=00000001";
  EXPECT_FALSE(server.verify(creds, "INVITE", uri, body + "tampered").ok);
  auto r = server.verify(creds, "INVITE", uri, body);
  EXPECT_TRUE(r.ok) << r.why;
}

TEST_F(DigestServerTest, SessVariantWhenConfigured) {
  DigestServer sess{make_config({DigestAlgorithm::kSha256Sess}), [this] { return now; }};
  sess.add_account(password_account("alice", "s3cret"));
  auto challenge = parse_digest_params(sess.challenges()[0]);
  ASSERT_TRUE(challenge);
  EXPECT_EQ(challenge->get("algorithm"), "SHA-256-sess");
  const std::string nonce(*challenge->get("nonce"));
  const std::string ha1 = hex_hash(
      EVP_sha256(), hex_hash(EVP_sha256(), "alice:chorus.example:s3cret") + ":" + nonce + ":c1");
  const std::string ha2 = hex_hash(EVP_sha256(), "BYE:" + uri);
  const std::string response =
      hex_hash(EVP_sha256(), ha1 + ":" + nonce + ":00000001:c1:auth:" + ha2);
  const std::string creds = "Digest username=\"alice\", realm=\"chorus.example\", nonce=\"" +
                            nonce + "\", uri=\"" + uri + "\", response=\"" + response +
                            "\", algorithm=SHA-256-sess, cnonce=\"c1\", qop=auth, nc=00000001";
  auto r = sess.verify(creds, "BYE", uri);
  EXPECT_TRUE(r.ok) << r.why;
  EXPECT_EQ(r.algorithm, DigestAlgorithm::kSha256Sess);
}

TEST(DigestParams, ParsesQuotedEscapesAndTokens) {
  auto p = parse_digest_params(
      "Digest  username=\"a\\\"b\" ,realm=\"r\",\r\n nc=00000001, algorithm=SHA-256");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->get("USERNAME"), "a\"b");
  EXPECT_TRUE(p->was_quoted("username"));
  EXPECT_FALSE(p->was_quoted("nc"));
  EXPECT_EQ(p->get("algorithm"), "SHA-256");
  EXPECT_EQ(quote_param("a\"b\\c"), "\"a\\\"b\\\\c\"");
}

}  // namespace
}  // namespace chorus::sip

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
