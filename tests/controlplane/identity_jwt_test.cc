// Tests for base64url, compact JWS parsing and JWKS parsing (no verification here).
#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

#include "controlplane/identity/base64url.h"
#include "controlplane/identity/jwks.h"
#include "controlplane/identity/jwt.h"
#include "tests/controlplane/jwt_test_signer.h"

namespace tollgate::controlplane::identity {
namespace {

using testing::Json;

std::string seg(const std::string& s) { return base64UrlEncode(s); }

TEST_CASE("base64url round-trips and refuses non-canonical input", "[identity][jwt]") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    std::string enc = base64UrlEncode(s);
    REQUIRE(enc.find('=') == std::string::npos);
    REQUIRE(base64UrlDecode(enc) == s);
  }
  CHECK(base64UrlEncode("\xfb\xff") == "-_8");
  CHECK_FALSE(base64UrlDecode("Zg==").has_value());  // padding
  CHECK_FALSE(base64UrlDecode("Z").has_value());     // impossible length
  CHECK_FALSE(base64UrlDecode("Zh").has_value());    // non-zero trailing bits
  CHECK_FALSE(base64UrlDecode("a+b/").has_value());  // standard alphabet
  CHECK_FALSE(base64UrlDecode("ab c").has_value());
}

TEST_CASE("parseJwt splits a well-formed token", "[identity][jwt]") {
  std::string token = seg(R"({"alg":"ES256","kid":"k1"})") + "." + seg(R"({"sub":"x"})") + "." +
                      seg(std::string(64, 'a'));
  auto jwt = parseJwt(token);
  REQUIRE(jwt.ok());
  CHECK(jwt->alg == JwsAlg::kEs256);
  CHECK(jwt->has_kid);
  CHECK(jwt->kid == "k1");
  CHECK(jwt->claims["sub"] == "x");
  CHECK(jwt->signature == std::string(64, 'a'));
  CHECK(jwt->signing_input == token.substr(0, token.rfind('.')));
}

struct BadToken {
  const char* name;
  std::string token;
  const char* message_part;
};

TEST_CASE("parseJwt rejects malformed tokens with a message naming the part", "[identity][jwt]") {
  const std::string h = seg(R"({"alg":"RS256"})");
  const std::string p = seg(R"({"sub":"x"})");
  const std::string s = seg("signature");
  std::string deep = R"({"sub":)" + std::string(40, '[') + std::string(40, ']') + "}";
  std::vector<BadToken> cases = {
      {"empty", "", "empty"},
      {"two segments", h + "." + p, "3 dot-separated"},
      {"four segments", h + "." + p + "." + s + "." + s, "3 dot-separated"},
      {"JWE", h + "." + p + "." + s + "." + s + "." + s, "JWE"},
      {"empty header", "." + p + "." + s, "empty header"},
      {"empty payload", h + ".." + s, "empty payload"},
      {"empty signature (alg none style)", h + "." + p + ".", "empty signature"},
      {"header not base64url", "e30=." + p + "." + s, "header segment is not base64url"},
      {"payload not base64url", h + ".a*b." + s, "payload segment is not base64url"},
      {"signature not base64url", h + "." + p + ".!!", "signature segment"},
      {"header not JSON", seg("{alg:RS256}") + "." + p + "." + s, "header: not valid JSON"},
      {"header an array", seg(R"(["RS256"])") + "." + p + "." + s, "not a JSON object"},
      {"claims not JSON", h + "." + seg("{") + "." + s, "claims: not valid JSON"},
      {"claims a string", h + "." + seg(R"("x")") + "." + s, "claims: not a JSON object"},
      {"claims too deep", h + "." + seg(deep) + "." + s, "deeper than"},
      {"duplicate claim", h + "." + seg(R"({"sub":"a","sub":"b"})") + "." + s, "duplicate key"},
      {"duplicate alg", seg(R"({"alg":"RS256","alg":"none"})") + "." + p + "." + s,
       "duplicate key"},
      {"no alg", seg(R"({"kid":"a"})") + "." + p + "." + s, "no \"alg\""},
      {"alg none", seg(R"({"alg":"none"})") + "." + p + "." + s, "alg \"none\" is not accepted"},
      {"alg HS256", seg(R"({"alg":"HS256"})") + "." + p + "." + s, "alg \"HS256\""},
      {"alg PS256", seg(R"({"alg":"PS256"})") + "." + p + "." + s, "alg \"PS256\""},
      {"alg lower case", seg(R"({"alg":"rs256"})") + "." + p + "." + s, "alg \"rs256\""},
      {"crit", seg(R"({"alg":"RS256","crit":["b64"],"b64":false})") + "." + p + "." + s, "crit"},
      {"kid number", seg(R"({"alg":"RS256","kid":7})") + "." + p + "." + s, "kid"},
      {"invalid UTF-8", h + "." + seg("{\"sub\":\"\xff\"}") + "." + s, "not valid JSON"},
      {"whitespace", h + " ." + p + "." + s, "header segment is not base64url"},
  };
  for (const BadToken& c : cases) {
    INFO(c.name);
    auto jwt = parseJwt(c.token);
    REQUIRE_FALSE(jwt.ok());
    CHECK(jwt.status().code() == absl::StatusCode::kUnauthenticated);
    CHECK(std::string(jwt.status().message()).find(c.message_part) != std::string::npos);
  }
}

TEST_CASE("parseJwt refuses oversized tokens without parsing them", "[identity][jwt]") {
  std::string big = seg(R"({"alg":"RS256"})") + "." +
                    seg(R"({"pad":")" + std::string(kMaxTokenBytes, 'a') + "\"}") + ".c2ln";
  auto jwt = parseJwt(big);
  REQUIRE_FALSE(jwt.ok());
  CHECK(std::string(jwt.status().message()).find("longer than 16384") != std::string::npos);
}

TEST_CASE("error messages never echo the token or its signature", "[identity][jwt]") {
  std::string secretish = seg(R"({"alg":"RS256"})") + "." + seg(R"({"sub":"SECRET-SUBJECT"})") +
                          ".SIGNATURE-BYTES-xyz*";
  auto jwt = parseJwt(secretish);
  REQUIRE_FALSE(jwt.ok());
  std::string msg(jwt.status().message());
  CHECK(msg.find("SECRET") == std::string::npos);
  CHECK(msg.find("SIGNATURE-BYTES") == std::string::npos);
}

TEST_CASE("sanitizeForMessage keeps messages printable and short", "[identity][jwt]") {
  CHECK(sanitizeForMessage("k1") == "k1");
  CHECK(sanitizeForMessage("a\n\"b") == "a??b");
  CHECK(sanitizeForMessage(std::string(100, 'x')) == std::string(64, 'x') + "...");
}

TEST_CASE("parseJwks builds RSA and EC keys and selects by kid and type", "[identity][jwks]") {
  auto rsa = testing::newRsaKey();
  auto ec = testing::newEcKey();
  Json oct = {{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}};
  Json enc = testing::publicJwk(rsa.get(), "enc");
  enc["use"] = "enc";
  auto jwks = parseJwks(testing::jwksText(
      {testing::publicJwk(rsa.get(), "r1"), testing::publicJwk(ec.get(), "e1"), oct, enc}));
  REQUIRE(jwks.ok());
  REQUIRE(jwks->keys().size() == 2);  // the HMAC and encryption keys are skipped
  CHECK(jwks->select("RS256", true, "r1") == &jwks->keys()[0]);
  CHECK(jwks->select("ES256", true, "e1") == &jwks->keys()[1]);
  CHECK(jwks->select("ES256", true, "r1") == nullptr);  // kid of an RSA key, EC alg
  CHECK(jwks->select("RS256", true, "e1") == nullptr);
  CHECK(jwks->select("RS256", true, "hmac") == nullptr);
  CHECK(jwks->select("HS256", true, "r1") == nullptr);
  CHECK(jwks->select("RS256", false, "") == &jwks->keys()[0]);  // the only RSA key
  CHECK(jwks->select("RS256", true, "nope") == nullptr);
}

TEST_CASE("Jwks::select without kid refuses to guess among several keys", "[identity][jwks]") {
  auto a = testing::newEcKey(), b = testing::newEcKey();
  auto jwks = parseJwks(
      testing::jwksText({testing::publicJwk(a.get(), "a"), testing::publicJwk(b.get(), "b")}));
  REQUIRE(jwks.ok());
  CHECK(jwks->select("ES256", false, "") == nullptr);
}

TEST_CASE("parseJwks rejects malformed keys with a message naming the key", "[identity][jwks]") {
  auto ec = testing::newEcKey();
  auto rsa = testing::newRsaKey();
  auto small = testing::newRsaKey(1024);
  Json good_ec = testing::publicJwk(ec.get(), "e1");
  Json off_curve = good_ec;
  off_curve["y"] = base64UrlEncode(std::string(31, '\0') + "\x01");
  Json short_x = good_ec;
  short_x["x"] = base64UrlEncode(std::string(31, 'a'));
  Json no_n = testing::publicJwk(rsa.get(), "r1");
  no_n.erase("n");
  Json even_e = testing::publicJwk(rsa.get(), "r1");
  even_e["e"] = base64UrlEncode("\x01\x00\x00");
  Json priv = good_ec;
  priv["d"] = base64UrlEncode(std::string(32, 'd'));
  Json rsa_es = testing::publicJwk(rsa.get(), "r1");
  rsa_es["alg"] = "ES256";
  struct Case {
    const char* name;
    std::string text;
    const char* part;
  };
  std::vector<Case> cases = {
      {"not JSON", "{", "not valid JSON"},
      {"no keys", "{}", "no \"keys\" array"},
      {"empty set", R"({"keys":[]})", "no usable"},
      {"only unsupported", R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA"}]})", "no usable"},
      {"key not object", R"({"keys":[1]})", "keys[0]: not an object"},
      {"point off curve", testing::jwksText({off_curve}), "not on P-256"},
      {"short x", testing::jwksText({short_x}), "x is not 32 bytes"},
      {"missing n", testing::jwksText({no_n}), "missing \"n\""},
      {"even exponent", testing::jwksText({even_e}), "exponent"},
      {"1024-bit RSA", testing::jwksText({testing::publicJwk(small.get(), "s")}), "1024 bits"},
      {"private key", testing::jwksText({priv}), "private key material"},
      {"RSA marked ES256", testing::jwksText({rsa_es}), "RSA key with alg ES256"},
      {"duplicate kid", testing::jwksText({good_ec, good_ec}), "kid used twice"},
      {"oversized", std::string(kMaxJwksBytes + 1, ' '), "larger than"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto jwks = parseJwks(c.text);
    REQUIRE_FALSE(jwks.ok());
    CHECK(std::string(jwks.status().message()).find(c.part) != std::string::npos);
  }
}

}  // namespace
}  // namespace tollgate::controlplane::identity
