// Tests for JwtVerifier: signatures, algorithm confusion, claims, key rotation via FileKeySource.
#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <string>

#include "common/clock.h"
#include "controlplane/identity/base64url.h"
#include "controlplane/identity/key_source.h"
#include "controlplane/identity/verifier.h"
#include "tests/controlplane/jwt_test_signer.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::identity {
namespace {

using std::chrono::seconds;
using testing::Json;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kIssuer[] = "https://kubernetes.default.svc";

struct Fixture {
  testing::TempDir dir;
  EvpPkeyPtr rsa = testing::newRsaKey();
  EvpPkeyPtr ec = testing::newEcKey();
  std::shared_ptr<ManualClock> clock =
      std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kNow)));
  std::string jwks_path;
  std::unique_ptr<JwtVerifier> verifier;

  Fixture() {
    jwks_path = dir.write("jwks.json", testing::jwksText({testing::publicJwk(rsa.get(), "rsa-1"),
                                                          testing::publicJwk(ec.get(), "ec-1")}));
    verifier = std::make_unique<JwtVerifier>(
        std::vector<TrustedIssuer>{
            {kIssuer, "tollgate", std::make_shared<FileKeySource>(jwks_path)},
            {"https://other.example", "tollgate", std::make_shared<FileKeySource>(jwks_path)}},
        clock, seconds(60));
  }

  static Json claims() {
    return {{"iss", kIssuer},
            {"sub", "system:serviceaccount:payments-ci:loader"},
            {"aud", Json::array({"tollgate"})},
            {"iat", kNow - 10},
            {"nbf", kNow - 10},
            {"exp", kNow + 600}};
  }
  std::string rs256(const Json& c = claims()) {
    return testing::mintJwt(rsa.get(), "RS256", "rsa-1", c);
  }
  std::string es256(const Json& c = claims()) {
    return testing::mintJwt(ec.get(), "ES256", "ec-1", c);
  }
  std::string error(const std::string& token) {
    auto r = verifier->verify(token);
    if (r.ok()) return "accepted";
    return std::string(r.status().message());
  }
};

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_CASE("valid RS256 and ES256 tokens verify", "[identity][verifier]") {
  Fixture f;
  auto r = f.verifier->verify(f.rs256());
  REQUIRE(r.ok());
  CHECK(r->issuer == kIssuer);
  CHECK(r->alg == JwsAlg::kRs256);
  CHECK(r->kid == "rsa-1");
  CHECK(r->claims["sub"] == "system:serviceaccount:payments-ci:loader");
  auto e = f.verifier->verify(f.es256());
  REQUIRE(e.ok());
  CHECK(e->alg == JwsAlg::kEs256);
  Json c = Fixture::claims();
  c["aud"] = "tollgate";  // aud as a single string
  CHECK(f.verifier->verify(f.rs256(c)).ok());
  c["iss"] = "https://other.example";
  auto o = f.verifier->verify(f.rs256(c));
  REQUIRE(o.ok());
  CHECK(o->issuer_index == 1);
}

TEST_CASE("claims checks reject with a message naming the claim", "[identity][verifier]") {
  Fixture f;
  struct Case {
    const char* name;
    std::function<void(Json&)> edit;
    const char* part;
  };
  std::vector<Case> cases = {
      {"wrong audience",
       [](Json& c) {
         c["aud"] = Json::array({"vault", "other"});
       },
       "audience"},
      {"no audience", [](Json& c) { c.erase("aud"); }, "no \"aud\""},
      {"audience number", [](Json& c) { c["aud"] = 5; }, "\"aud\" is neither"},
      {"expired", [](Json& c) { c["exp"] = kNow - 61; }, "expired"},
      {"missing exp", [](Json& c) { c.erase("exp"); }, "no \"exp\""},
      {"exp a string", [](Json& c) { c["exp"] = "tomorrow"; }, "\"exp\" is not a number"},
      {"not yet valid", [](Json& c) { c["nbf"] = kNow + 61; }, "not valid yet"},
      {"issued in the future", [](Json& c) { c["iat"] = kNow + 3600; }, "issued in the future"},
      {"other issuer", [](Json& c) { c["iss"] = "https://evil.example"; }, "is not trusted"},
      {"issuer with trailing slash", [](Json& c) { c["iss"] = std::string(kIssuer) + "/"; },
       "is not trusted"},
      {"no issuer", [](Json& c) { c.erase("iss"); }, "no \"iss\""},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Json claims = Fixture::claims();
    c.edit(claims);
    std::string err = f.error(f.rs256(claims));
    CHECK(contains(err, c.part));
    auto r = f.verifier->verify(f.rs256(claims));
    CHECK(r.status().code() == absl::StatusCode::kUnauthenticated);
  }
}

TEST_CASE("clock skew leeway applies to exp and nbf, moved by a ManualClock",
          "[identity][verifier]") {
  Fixture f;
  Json c = Fixture::claims();
  c["exp"] = kNow - 30;  // expired 30 s ago: inside the 60 s leeway
  c["nbf"] = kNow + 30;
  std::string token = f.rs256(c);
  CHECK(f.verifier->verify(token).ok());
  f.clock->advance(seconds(31));  // now exp + 61 s
  CHECK(f.error(token) == "token: expired");
}

TEST_CASE("tampered payload or signature fails verification", "[identity][verifier]") {
  Fixture f;
  for (bool ec : {false, true}) {
    INFO((ec ? "ES256" : "RS256"));
    std::string token = ec ? f.es256() : f.rs256();
    size_t d1 = token.find('.'), d2 = token.rfind('.');
    Json c = Fixture::claims();
    c["sub"] = "system:serviceaccount:payments-prod:admin";
    std::string forged = token.substr(0, d1 + 1) + base64UrlEncode(c.dump()) + token.substr(d2);
    CHECK(f.error(forged) == "token: signature does not verify");
    std::string sig = *base64UrlDecode(token.substr(d2 + 1));
    sig[sig.size() / 2] ^= 0x01;
    CHECK(f.error(token.substr(0, d2 + 1) + base64UrlEncode(sig)) ==
          "token: signature does not verify");
    CHECK(contains(f.error(token.substr(0, d2 + 1) + base64UrlEncode(sig.substr(1))),
                   ec ? "not 64 bytes" : "does not verify"));
  }
}

TEST_CASE("algorithm confusion attacks are refused", "[identity][verifier]") {
  Fixture f;
  Json c = Fixture::claims();
  // alg none with an empty signature, and with a junk signature.
  std::string none =
      base64UrlEncode(R"({"alg":"none","kid":"rsa-1"})") + "." + base64UrlEncode(c.dump());
  CHECK(contains(f.error(none + "."), "alg \"none\" is not accepted"));
  CHECK(contains(f.error(none + ".c2ln"), "alg \"none\" is not accepted"));
  // HS256 keyed with the RSA public key (PEM, as a naive verifier would use it).
  std::string hs = testing::mintHs256(testing::publicKeyPem(f.rsa.get()), "rsa-1", c);
  CHECK(contains(f.error(hs), "alg \"HS256\" is not accepted"));
  // RS256 header pointing at the EC key (signed with the EC key).
  CHECK(contains(f.error(testing::mintJwt(f.ec.get(), "RS256", "ec-1", c)),
                 "no RS256 key of issuer"));
  // ES256 header pointing at the RSA key.
  CHECK(contains(f.error(testing::mintJwt(f.rsa.get(), "ES256", "rsa-1", c)),
                 "no ES256 key of issuer"));
  // The low-level check refuses a key of the wrong type too.
  auto s = verifyJwsSignature(JwsAlg::kRs256, f.ec.get(), "x", std::string(64, 'a'));
  CHECK(contains(std::string(s.message()), "key type does not fit"));
}

TEST_CASE("kid selects the key; unknown kid is refused", "[identity][verifier]") {
  Fixture f;
  Json c = Fixture::claims();
  CHECK(contains(f.error(testing::mintJwt(f.rsa.get(), "RS256", "rsa-9", c)), "kid \"rsa-9\""));
  // A token signed by a key nobody trusts, claiming a trusted kid.
  auto stranger = testing::newRsaKey();
  CHECK(f.error(testing::mintJwt(stranger.get(), "RS256", "rsa-1", c)) ==
        "token: signature does not verify");
  // No kid: the only RSA key is used.
  CHECK(f.verifier->verify(testing::mintJwt(f.rsa.get(), "RS256", "", c)).ok());
}

TEST_CASE("key rotation: JWKS file replaced, new kid accepted, removed kid rejected",
          "[identity][verifier]") {
  Fixture f;
  std::string old_token = f.rs256();
  REQUIRE(f.verifier->verify(old_token).ok());
  auto next = testing::newRsaKey();
  std::string new_token = testing::mintJwt(next.get(), "RS256", "rsa-2", Fixture::claims());
  CHECK(contains(f.error(new_token), "kid \"rsa-2\""));
  // Overlap period: both keys published (written to a new file and renamed over the old one).
  std::string tmp =
      f.dir.write("jwks.tmp", testing::jwksText({testing::publicJwk(f.rsa.get(), "rsa-1"),
                                                 testing::publicJwk(next.get(), "rsa-2")}));
  std::filesystem::rename(tmp, f.jwks_path);
  CHECK(f.verifier->verify(new_token).ok());
  CHECK(f.verifier->verify(old_token).ok());
  // Old key retired.
  tmp = f.dir.write("jwks.tmp", testing::jwksText({testing::publicJwk(next.get(), "rsa-2")}));
  std::filesystem::rename(tmp, f.jwks_path);
  CHECK(f.verifier->verify(new_token).ok());
  CHECK(contains(f.error(old_token), "kid \"rsa-1\""));
}

TEST_CASE("a broken JWKS file keeps the previous keys", "[identity][verifier]") {
  Fixture f;
  REQUIRE(f.verifier->verify(f.rs256()).ok());
  f.dir.write("jwks.json", "{\"keys\": [");
  CHECK(f.verifier->verify(f.rs256()).ok());
}

TEST_CASE("a missing JWKS file is UNAVAILABLE, not a token error", "[identity][verifier]") {
  auto clock = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kNow)));
  JwtVerifier v({{kIssuer, "tollgate", std::make_shared<FileKeySource>("/nonexistent/jwks.json")}},
                clock);
  auto key = testing::newEcKey();
  auto r = v.verify(testing::mintJwt(key.get(), "ES256", "k", Fixture::claims()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tollgate::controlplane::identity
