// Tests for the local CA that mints per-destination certificates for terminated client TLS.
#include <openssl/x509v3.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "sidecar/tls/certificate_authority.h"
#include "sidecar/tls/client_context.h"
#include "sidecar/tls/session.h"
#include "tests/sidecar/tls_test_pump.h"
#include "tests/support/pki.h"
#include "tests/support/test_support.h"

namespace tls = tollgate::sidecar::tls;
using tollgate::testing::TestPki;
using tollgate::testing::TlsPump;
using namespace std::chrono_literals;

namespace {

const TestPki& pki() {
  static tollgate::testing::TempDir dir;
  static TestPki files = tollgate::testing::writeTestPki(dir.path());
  return files;
}

tls::CertificateAuthorityPtr loadCa(tls::CertificateAuthorityOptions options = {}) {
  auto ca = tls::CertificateAuthority::load(pki().ca_cert, pki().ca_key, std::move(options));
  REQUIRE(ca.ok());
  return *ca;
}

tls::ClientContextPtr verifyFullClient() {
  tls::ClientOptions options;
  options.ca_file = pki().ca_cert;
  auto ctx = tls::ClientContext::create(options);
  REQUIRE(ctx.ok());
  return *ctx;
}

// Handshakes a verify-full client for `name` against `server`; returns the client status.
absl::Status handshake(const std::string& name, tls::ServerContextPtr server_ctx,
                       tls::Session::SniResolver resolver = nullptr,
                       std::string* sni_seen = nullptr) {
  auto client = tls::Session::client(verifyFullClient(), name);
  REQUIRE(client.ok());
  auto server = tls::Session::server(std::move(server_ctx), std::move(resolver));
  REQUIRE(server.ok());
  TlsPump pump{client->get(), server->get(), 0, {}, {}};
  pump.run();
  if (sni_seen != nullptr) *sni_seen = (*server)->requestedServerName();
  if (pump.client_status.ok() && !(*client)->handshakeDone()) {
    return absl::InternalError("handshake did not finish");
  }
  return pump.client_status;
}

X509* leafOf(const tls::ServerContextPtr& ctx) { return SSL_CTX_get0_certificate(ctx->raw()); }

}  // namespace

TEST_CASE("a minted certificate passes verify-full for DNS names and IPs") {
  auto ca = loadCa();
  auto name = GENERATE(as<std::string>{}, "payments-db.test", "orders.prod.svc", "10.1.2.3", "::1");
  CAPTURE(name);
  auto ctx = ca->serverContextFor(name);
  REQUIRE(ctx.ok());
  CHECK(handshake(name, *ctx).ok());
}

TEST_CASE("a minted certificate is refused for any other name") {
  auto ca = loadCa();
  auto ctx = ca->serverContextFor("payments-db.test");
  REQUIRE(ctx.ok());
  absl::Status status = handshake("orders-db.test", *ctx);
  CHECK(std::string(status.message()).find("hostname mismatch") != std::string::npos);
  auto ip_ctx = ca->serverContextFor("10.1.2.3");
  REQUIRE(ip_ctx.ok());
  // An IP SAN matches that address only.
  status = handshake("10.1.2.4", *ip_ctx);
  CHECK(std::string(status.message()).find("IP address mismatch") != std::string::npos);
}

TEST_CASE("minted leaf: P-256 key, CA:FALSE, serverAuth, SAN by kind, backdated validity") {
  const auto start = std::chrono::system_clock::from_time_t(
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()));
  auto clock = std::make_shared<tollgate::ManualClock>(start);
  auto ca = loadCa({.validity = 2h, .backdate = 5min, .clock = clock});
  auto ctx = ca->serverContextFor("payments-db.test");
  REQUIRE(ctx.ok());
  X509* leaf = leafOf(*ctx);
  REQUIRE(leaf != nullptr);

  EVP_PKEY* key = X509_get0_pubkey(leaf);
  CHECK(EVP_PKEY_get_base_id(key) == EVP_PKEY_EC);
  char group[32] = "";
  size_t group_len = 0;
  EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len);
  CHECK(std::string(group) == "prime256v1");

  CHECK(X509_check_ca(leaf) == 0);
  CHECK((X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) != 0);
  CHECK((X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN) == 0);
  CHECK(X509_get_extended_key_usage(leaf) == XKU_SSL_SERVER);
  CHECK(X509_check_host(leaf, "payments-db.test", 0, 0, nullptr) == 1);
  CHECK(X509_check_issued(ca->caCertificate(), leaf) == X509_V_OK);

  time_t before = std::chrono::system_clock::to_time_t(start - 5min);
  time_t after = std::chrono::system_clock::to_time_t(start + 2h);
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(leaf), before) == 0);
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(leaf), after) == 0);

  auto ip = ca->serverContextFor("10.1.2.3");
  REQUIRE(ip.ok());
  CHECK(X509_check_ip_asc(leafOf(*ip), "10.1.2.3", 0) == 1);
  CHECK(X509_check_host(leafOf(*ip), "10.1.2.3", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr) !=
        1);

  auto other = ca->serverContextFor("orders.test");
  REQUIRE(other.ok());
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf), X509_get0_serialNumber(leafOf(*other))) !=
        0);
}

TEST_CASE("minted contexts are cached per canonical name") {
  auto ca = loadCa();
  auto a = ca->serverContextFor("payments-db.test");
  auto b = ca->serverContextFor("Payments-DB.test.");
  auto c = ca->serverContextFor("orders-db.test");
  auto v6a = ca->serverContextFor("[::1]");
  auto v6b = ca->serverContextFor("0:0::1");
  REQUIRE((a.ok() && b.ok() && c.ok() && v6a.ok() && v6b.ok()));
  CHECK(a->get() == b->get());
  CHECK(a->get() != c->get());
  CHECK(v6a->get() == v6b->get());
  CHECK(ca->mintedCount() == 3);
}

TEST_CASE("the cache is bounded: the least recently used name is dropped") {
  auto ca = loadCa({.cache_capacity = 2});
  auto a = *ca->serverContextFor("a.test");
  auto b = *ca->serverContextFor("b.test");
  CHECK(ca->serverContextFor("a.test")->get() == a.get());  // a is now most recent
  auto c = *ca->serverContextFor("c.test");                 // evicts b
  CHECK(ca->mintedCount() == 3);
  CHECK(ca->serverContextFor("a.test")->get() == a.get());
  CHECK(ca->serverContextFor("b.test")->get() != b.get());
  CHECK(ca->mintedCount() == 4);
}

TEST_CASE("a cached certificate is renewed before it expires") {
  auto clock = std::make_shared<tollgate::ManualClock>(std::chrono::system_clock::now());
  auto ca = loadCa({.validity = 24h, .renew_before = 1h, .clock = clock});
  auto first = *ca->serverContextFor("payments-db.test");
  clock->advance(22h);
  CHECK(ca->serverContextFor("payments-db.test")->get() == first.get());
  clock->advance(90min);
  auto renewed = *ca->serverContextFor("payments-db.test");
  CHECK(renewed.get() != first.get());
  CHECK(renewed->notAfter() > first->notAfter());
}

TEST_CASE("names that are neither DNS names nor IPs are refused, not minted") {
  auto ca = loadCa();
  auto name = GENERATE(as<std::string>{}, "", "db,DNS:evil.test", "*.test", "a..b", "db test",
                       std::string(64, 'a') + ".test", "[10.0.0.1]");
  CAPTURE(name);
  auto ctx = ca->serverContextFor(name);
  CHECK(ctx.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ca->mintedCount() == 0);
}

TEST_CASE("a name too long for a CN still gets a certificate (SAN only)") {
  auto ca = loadCa();
  std::string name = std::string(63, 'a') + "." + std::string(20, 'b') + ".test";
  auto ctx = ca->serverContextFor(name);
  REQUIRE(ctx.ok());
  CHECK(handshake(name, *ctx).ok());
}

TEST_CASE("loading the CA fails clearly on bad input") {
  auto missing = tls::CertificateAuthority::load("/nonexistent/ca.pem", pki().ca_key);
  CHECK(std::string(missing.status().message()).find("/nonexistent/ca.pem") != std::string::npos);
  auto mismatch = tls::CertificateAuthority::load(pki().ca_cert, pki().other_ca_key);
  CHECK(std::string(mismatch.status().message()).find("does not match") != std::string::npos);
  auto not_ca = tls::CertificateAuthority::load(pki().server_cert, pki().server_key);
  CHECK(std::string(not_ca.status().message()).find("not a CA") != std::string::npos);
}

TEST_CASE("SNI picks the minted certificate for the name the client asked for") {
  auto ca = loadCa();
  auto fallback = *ca->serverContextFor("payments-db.test");
  auto resolver = [ca](const std::string& sni) { return ca->serverContextFor(sni); };
  std::string sni;
  CHECK(handshake("orders-db.test", fallback, resolver, &sni).ok());
  CHECK(sni == "orders-db.test");
  // No SNI for an IP: the fallback identity is presented (and fails for a different IP).
  CHECK_FALSE(handshake("10.9.9.9", fallback, resolver).ok());
}

TEST_CASE("SNI resolver refusal aborts with unrecognized_name and says which name") {
  auto ca = loadCa();
  auto fallback = *ca->serverContextFor("payments-db.test");
  auto client = tls::Session::client(verifyFullClient(), "unknown-db.test");
  REQUIRE(client.ok());
  auto server = tls::Session::server(fallback, [](const std::string&) {
    return absl::StatusOr<tls::ServerContextPtr>(absl::NotFoundError("no such resource"));
  });
  REQUIRE(server.ok());
  TlsPump pump{client->get(), server->get(), 0, {}, {}};
  CHECK_FALSE(pump.run());
  CHECK(std::string(pump.server_status.message()).find("\"unknown-db.test\": no such resource") !=
        std::string::npos);
  CHECK(std::string(pump.client_status.message()).find("unrecognized name") != std::string::npos);
}

TEST_CASE("concurrent requests for one name from several loops share one context") {
  auto ca = loadCa();
  constexpr int kThreads = 4;
  std::vector<const tls::ServerContext*> seen(kThreads * 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        auto ctx = ca->serverContextFor("db" + std::to_string(i) + ".test");
        seen[t * 3 + i] = ctx.ok() ? ctx->get() : nullptr;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < 3; ++i) {
      REQUIRE(seen[t * 3 + i] != nullptr);
      CHECK(seen[t * 3 + i] == ca->serverContextFor("db" + std::to_string(i) + ".test")->get());
    }
  }
}
