// SCRAM-SHA-256 client against RFC 7677's test vector; md5 passwords; base64.
#include <catch2/catch_test_macros.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <string>
#include <vector>

#include "sidecar/postgres/base64.h"
#include "sidecar/postgres/scram.h"

namespace tollgate::sidecar::postgres {
namespace {

constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

TEST_CASE("SCRAM-SHA-256 reproduces the RFC 7677 exchange") {
  ScramSha256Client client("user", "pencil", std::string(kClientNonce));
  CHECK(client.clientFirstMessage() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  absl::StatusOr<std::string> final_message = client.handleServerFirst(kServerFirst);
  REQUIRE(final_message.ok());
  CHECK(*final_message == kClientFinal);
  CHECK(client.verifyServerFinal(kServerFinal).ok());
}

TEST_CASE("SCRAM keys from the cache give the same exchange; another password or salt misses") {
  ScramKeyCache cache;
  for (int i = 0; i < 2; ++i) {  // derived, then from the cache
    ScramSha256Client client("user", "pencil", std::string(kClientNonce), &cache);
    absl::StatusOr<std::string> final_message = client.handleServerFirst(kServerFirst);
    REQUIRE(final_message.ok());
    CHECK(*final_message == kClientFinal);
    CHECK(client.verifyServerFinal(kServerFinal).ok());
    CHECK(cache.size() == 1);
  }
  // The same salt and count with another password: its own keys, which the server refuses.
  ScramSha256Client wrong("user", "pencil2", std::string(kClientNonce), &cache);
  absl::StatusOr<std::string> final_message = wrong.handleServerFirst(kServerFirst);
  REQUIRE(final_message.ok());
  CHECK(*final_message != kClientFinal);
  CHECK_FALSE(wrong.verifyServerFinal(kServerFinal).ok());
  CHECK(cache.size() == 2);
  // Another count, another salt.
  absl::StatusOr<ScramKeys> fewer = cache.keys("pencil", "salt", 4095);
  absl::StatusOr<ScramKeys> salted = cache.keys("pencil", "salt2", 4095);
  REQUIRE(fewer.ok());
  REQUIRE(salted.ok());
  CHECK(fewer->client_key != salted->client_key);
  CHECK(cache.size() == 4);
  absl::StatusOr<ScramKeys> fresh = deriveScramKeys("pencil", "salt", 4095);
  REQUIRE(fresh.ok());
  CHECK(fresh->client_key == fewer->client_key);
  CHECK(fresh->server_key == fewer->server_key);
  // Bounded: the oldest entries go.
  for (int i = 0; i < 40; ++i) REQUIRE(cache.keys("p", "s" + std::to_string(i), 1).ok());
  CHECK(cache.size() == ScramKeyCache::kMaxEntries);
  // And keys unused for a while go: only the one used now stays.
  const auto later = ScramKeyCache::Clock::now() + ScramKeyCache::kIdle;
  REQUIRE(cache.keys("p", "s39", 1, later).ok());
  CHECK(cache.size() == 1);
}

// The steps a session takes to derive the keys off its loop give the exchange of one call.
TEST_CASE("SCRAM in steps reproduces the RFC 7677 exchange, the keys derived elsewhere") {
  ScramKeyCache cache;
  ScramSha256Client client("user", "pencil", std::string(kClientNonce), &cache);
  REQUIRE(client.readServerFirst(kServerFirst).ok());
  CHECK_FALSE(client.cachedKeys().has_value());
  ScramKeyInput input = client.keyInput();
  CHECK(input.password == "pencil");
  CHECK(input.iterations == 4096);
  std::string salt;
  REQUIRE(base64Decode("W22ZaJ0SNY7soEsUEjb6gQ==", &salt));
  CHECK(input.salt == salt);
  absl::StatusOr<ScramKeys> keys = deriveScramKeys(input);
  REQUIRE(keys.ok());
  absl::StatusOr<std::string> final_message = client.clientFinal(*keys);
  REQUIRE(final_message.ok());
  CHECK(*final_message == kClientFinal);
  CHECK(client.verifyServerFinal(kServerFinal).ok());
  // The keys joined the cache: the next exchange finds them.
  CHECK(cache.size() == 1);
  ScramSha256Client next("user", "pencil", std::string(kClientNonce), &cache);
  REQUIRE(next.readServerFirst(kServerFirst).ok());
  std::optional<ScramKeys> cached = next.cachedKeys();
  REQUIRE(cached.has_value());
  final_message = next.clientFinal(*cached);
  REQUIRE(final_message.ok());
  CHECK(*final_message == kClientFinal);
  CHECK(cache.size() == 1);
  // Without a cache there is nothing to find.
  ScramSha256Client alone("user", "pencil", std::string(kClientNonce));
  REQUIRE(alone.readServerFirst(kServerFirst).ok());
  CHECK_FALSE(alone.cachedKeys().has_value());
}

TEST_CASE("SCRAM steps out of order or repeated are errors") {
  ScramSha256Client client("user", "pencil", std::string(kClientNonce));
  absl::StatusOr<ScramKeys> keys = deriveScramKeys("pencil", "salt", 1);
  REQUIRE(keys.ok());
  CHECK_FALSE(client.clientFinal(*keys).ok());  // before server-first
  CHECK(client.keyInput().password.empty());
  ScramSha256Client twice("user", "pencil", std::string(kClientNonce));
  REQUIRE(twice.readServerFirst(kServerFirst).ok());
  CHECK_FALSE(twice.readServerFirst(kServerFirst).ok());
  ScramSha256Client final_twice("user", "pencil", std::string(kClientNonce));
  REQUIRE(final_twice.readServerFirst(kServerFirst).ok());
  REQUIRE(final_twice.clientFinal(*keys).ok());
  CHECK_FALSE(final_twice.clientFinal(*keys).ok());
  CHECK_FALSE(final_twice.cachedKeys().has_value());
  // Keys that are not SCRAM keys at all.
  ScramSha256Client bad_keys("user", "pencil", std::string(kClientNonce));
  REQUIRE(bad_keys.readServerFirst(kServerFirst).ok());
  CHECK_FALSE(bad_keys.clientFinal(ScramKeys{}).ok());
}

// The derivation is written out (so that it can stop part way); OpenSSL's PKCS5_PBKDF2_HMAC is
// the reference, across the counts where it looks at the flag and keys longer than a block.
TEST_CASE("SCRAM key derivation agrees with OpenSSL's PBKDF2") {
  auto reference = [](const std::string& password, const std::string& salt, int iterations) {
    unsigned char salted[32];
    REQUIRE(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                              reinterpret_cast<const unsigned char*>(salt.data()),
                              static_cast<int>(salt.size()), iterations, EVP_sha256(),
                              sizeof(salted), salted) == 1);
    unsigned char key[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), salted, sizeof(salted), reinterpret_cast<const unsigned char*>("Client Key"),
         10, key, &len);
    return std::string(reinterpret_cast<const char*>(key), len);
  };
  const std::string long_password(100, 'x');  // longer than SHA-256's block: hashed as a key
  for (const std::string& password : {std::string("pencil"), std::string(), long_password}) {
    for (int iterations : {1, 2, 1023, 1024, 1025, 4096}) {
      INFO(password.size() << " " << iterations);
      absl::StatusOr<ScramKeys> keys = deriveScramKeys(password, "NaCl-salt", iterations);
      REQUIRE(keys.ok());
      CHECK(keys->client_key == reference(password, "NaCl-salt", iterations));
      CHECK(keys->server_key.size() == 32);
    }
  }
  CHECK_FALSE(deriveScramKeys("pencil", "salt", 0).ok());
}

TEST_CASE("SCRAM key derivation stops when cancelled") {
  std::atomic<bool> cancelled{true};
  // 10,000,000 iterations take seconds; cancelled, it stops after the first thousand.
  absl::StatusOr<ScramKeys> keys = deriveScramKeys("pencil", "salt", 10'000'000, &cancelled);
  CHECK(absl::IsCancelled(keys.status()));
  std::atomic<bool> not_cancelled{false};
  CHECK(deriveScramKeys("pencil", "salt", 4096, &not_cancelled).ok());
}

TEST_CASE("SCRAM key cache finds only what was inserted") {
  ScramKeyCache cache;
  CHECK_FALSE(cache.find("pencil", "salt", 4096).has_value());
  absl::StatusOr<ScramKeys> keys = deriveScramKeys("pencil", "salt", 4096);
  REQUIRE(keys.ok());
  cache.insert("pencil", "salt", 4096, *keys);
  cache.insert("pencil", "salt", 4096, *keys);  // again: one entry
  CHECK(cache.size() == 1);
  std::optional<ScramKeys> found = cache.find("pencil", "salt", 4096);
  REQUIRE(found.has_value());
  CHECK(found->client_key == keys->client_key);
  CHECK(found->server_key == keys->server_key);
  CHECK_FALSE(cache.find("pencil", "salt", 4097).has_value());
  CHECK_FALSE(cache.find("pencil", "salt2", 4096).has_value());
  CHECK_FALSE(cache.find("pencil2", "salt", 4096).has_value());
  // keys() takes what insert() put.
  absl::StatusOr<ScramKeys> via_keys = cache.keys("pencil", "salt", 4096);
  REQUIRE(via_keys.ok());
  CHECK(via_keys->client_key == keys->client_key);
  CHECK(cache.size() == 1);
}

TEST_CASE("SCRAM with PostgreSQL's empty user name changes the proof, not the format") {
  ScramSha256Client client("", "pencil", std::string(kClientNonce));
  CHECK(client.clientFirstMessage() == "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
  absl::StatusOr<std::string> final_message = client.handleServerFirst(kServerFirst);
  REQUIRE(final_message.ok());
  CHECK(final_message->rfind("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=", 0) ==
        0);
  // The user name is part of the signed AuthMessage.
  CHECK(*final_message != kClientFinal);
  CHECK_FALSE(client.verifyServerFinal(kServerFinal).ok());
}

TEST_CASE("SCRAM escapes '=' and ',' in the user name") {
  ScramSha256Client client("a=b,c", "pw", "nonce");
  CHECK(client.clientFirstMessage() == "n,,n=a=3Db=2Cc,r=nonce");
}

TEST_CASE("SCRAM rejects a wrong server signature") {
  ScramSha256Client client("user", "pencil", std::string(kClientNonce));
  REQUIRE(client.handleServerFirst(kServerFirst).ok());
  CHECK_FALSE(client.verifyServerFinal("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").ok());
}

TEST_CASE("SCRAM with the wrong password cannot verify the real server") {
  ScramSha256Client client("user", "pencil2", std::string(kClientNonce));
  absl::StatusOr<std::string> final_message = client.handleServerFirst(kServerFirst);
  REQUIRE(final_message.ok());
  CHECK(*final_message != kClientFinal);
  CHECK_FALSE(client.verifyServerFinal(kServerFinal).ok());
}

TEST_CASE("SCRAM reports a server error in server-final") {
  ScramSha256Client client("user", "pencil", std::string(kClientNonce));
  REQUIRE(client.handleServerFirst(kServerFirst).ok());
  absl::Status s = client.verifyServerFinal("e=invalid-proof");
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("invalid-proof") != std::string_view::npos);
}

TEST_CASE("SCRAM rejects bad server-first messages") {
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"nonce not extending ours", "r=XXXXNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"},
      {"nonce equal to ours", "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"},
      {"missing salt", "r=rOprNGfwEbeRWgbNEkqOabc,i=4096"},
      {"salt not base64", "r=rOprNGfwEbeRWgbNEkqOabc,s=@@@@,i=4096"},
      {"zero iterations", "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0"},
      {"iterations not a number", "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k"},
      {"absurd iterations", "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999"},
      {"mandatory extension", "m=ext,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1"},
      {"empty", ""},
  };
  for (const auto& [name, text] : cases) {
    INFO(name);
    ScramSha256Client client("user", "pencil", std::string(kClientNonce));
    CHECK_FALSE(client.handleServerFirst(text).ok());
    // A failed exchange cannot be continued.
    CHECK_FALSE(client.verifyServerFinal(kServerFinal).ok());
  }
}

TEST_CASE("SCRAM steps out of order are errors") {
  ScramSha256Client client("user", "pencil", std::string(kClientNonce));
  CHECK_FALSE(client.verifyServerFinal(kServerFinal).ok());
  ScramSha256Client twice("user", "pencil", std::string(kClientNonce));
  REQUIRE(twice.handleServerFirst(kServerFirst).ok());
  CHECK_FALSE(twice.handleServerFirst(kServerFirst).ok());
}

TEST_CASE("random SCRAM nonces are 24 printable characters and differ") {
  absl::StatusOr<std::string> a = ScramSha256Client::randomNonce();
  absl::StatusOr<std::string> b = ScramSha256Client::randomNonce();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->size() == 24);
  CHECK(a->find(',') == std::string::npos);
  CHECK(*a != *b);
}

TEST_CASE("md5 password response matches PostgreSQL's construction") {
  // md5(md5("postgres" + "postgres") + salt): the inner hash is the well-known pg_authid
  // value md53175bce1d3201d16594cebf9d7eb3f9d; the outer one was computed with Python's
  // hashlib, independently of OpenSSL.
  const std::string salt("\x01\x02\x03\x04", 4);
  CHECK(md5PasswordResponse("postgres", "postgres", salt) == "md568be9ed08db75f318087ab337aaea044");
  CHECK(md5PasswordResponse("postgres", "postgres", "\x01\x02\x03\x05") !=
        "md568be9ed08db75f318087ab337aaea044");
}

TEST_CASE("base64 round-trips and rejects malformed text") {
  const std::vector<std::string> inputs = {"",     "f",     "fo",     "foo",
                                           "foob", "fooba", "foobar", std::string("\0\xff", 2)};
  for (const std::string& s : inputs) {
    INFO(s);
    std::string back;
    REQUIRE(base64Decode(base64Encode(s), &back));
    CHECK(back == s);
  }
  std::string back;
  CHECK(base64Encode("foobar") == "Zm9vYmFy");
  CHECK(base64Encode("fo") == "Zm8=");
  CHECK_FALSE(base64Decode("Zm8", &back));
  CHECK_FALSE(base64Decode("Z=8=", &back));
  CHECK_FALSE(base64Decode("Zm 8", &back));
  CHECK_FALSE(base64Decode("Zm!=", &back));
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
