// Tests for sidecar/tls Session + ClientContext: verification modes, PCI refusals, framing.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <random>
#include <string>

#include "sidecar/tls/client_context.h"
#include "sidecar/tls/server_context.h"
#include "sidecar/tls/session.h"
#include "tests/sidecar/tls_test_pump.h"
#include "tests/support/pki.h"
#include "tests/support/test_support.h"

namespace tls = tollgate::sidecar::tls;
using tollgate::testing::TestPki;
using tollgate::testing::TlsPump;
using Verify = tls::ClientOptions::Verify;

namespace {

const TestPki& pki() {
  static tollgate::testing::TempDir dir;
  static TestPki files = tollgate::testing::writeTestPki(dir.path());
  return files;
}

tls::ClientContextPtr clientCtx(Verify verify, const std::string& ca = pki().ca_cert) {
  tls::ClientOptions options;
  options.verify = verify;
  options.ca_file = ca;
  auto ctx = tls::ClientContext::create(options);
  REQUIRE(ctx.ok());
  return *ctx;
}

tls::ServerContextPtr serverCtx(const std::string& cert = pki().server_cert,
                                const std::string& key = pki().server_key) {
  auto ctx = tls::ServerContext::fromFiles(cert, key);
  REQUIRE(ctx.ok());
  return *ctx;
}

struct Connection {
  tls::SessionPtr client;
  tls::SessionPtr server;
  TlsPump pump;
  bool ok = false;
};

Connection connect(tls::ClientContextPtr client_ctx, const std::string& name,
                   tls::ServerContextPtr server_ctx, size_t chunk = 0) {
  Connection c;
  auto client = tls::Session::client(std::move(client_ctx), name);
  REQUIRE(client.ok());
  auto server = tls::Session::server(std::move(server_ctx));
  REQUIRE(server.ok());
  c.client = std::move(*client);
  c.server = std::move(*server);
  c.pump = TlsPump{c.client.get(), c.server.get(), chunk, {}, {}};
  c.ok = c.pump.run();
  return c;
}

std::string randomBytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& ch : out) ch = static_cast<char>(gen() & 0xff);
  return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("handshake completes and data flows both ways") {
  auto c = connect(clientCtx(Verify::kVerifyFull), "localhost", serverCtx());
  REQUIRE(c.ok);
  CHECK(c.client->handshakeDone());
  CHECK(c.server->handshakeDone());
  CHECK(c.client->protocolVersion() == "TLSv1.3");
  CHECK(c.server->protocolVersion() == "TLSv1.3");
  CHECK(!c.client->cipherName().empty());
  CHECK(contains(c.client->peerSubject(), "CN=localhost"));
  CHECK(c.server->peerSubject().empty());  // no client certificate

  REQUIRE(c.client->writePlaintext("SELECT 1").ok());
  REQUIRE(c.pump.run());
  std::string got;
  c.server->takePlaintext(got);
  CHECK(got == "SELECT 1");

  REQUIRE(c.server->writePlaintext("one row").ok());
  REQUIRE(c.pump.run());
  got.clear();
  c.client->takePlaintext(got);
  CHECK(got == "one row");
  got.clear();
  c.client->takePlaintext(got);
  CHECK(got.empty());  // taken plaintext is forgotten
}

TEST_CASE("verify-full accepts the names in subjectAltName, DNS and IP") {
  auto name = GENERATE(as<std::string>{}, "localhost", "payments-db.test", "PAYMENTS-DB.test.",
                       "127.0.0.1");
  CAPTURE(name);
  auto c = connect(clientCtx(Verify::kVerifyFull), name, serverCtx());
  CHECK(c.pump.client_status.ok());
  CHECK(c.pump.server_status.ok());
  CHECK(c.client->handshakeDone());
}

TEST_CASE("SNI is sent for DNS names only") {
  auto dns = connect(clientCtx(Verify::kVerifyFull), "payments-db.test", serverCtx());
  REQUIRE(dns.ok);
  CHECK(dns.server->requestedServerName() == "payments-db.test");
  auto ip = connect(clientCtx(Verify::kVerifyFull), "127.0.0.1", serverCtx());
  REQUIRE(ip.ok);
  CHECK(ip.server->requestedServerName().empty());
}

TEST_CASE("verify-full refuses a certificate for another name") {
  struct Row {
    std::string name;
    std::string reason;
  };
  auto row = GENERATE(Row{"orders-db.test", "certificate verify failed: hostname mismatch"},
                      Row{"db.payments-db.test", "certificate verify failed: hostname mismatch"},
                      Row{"127.0.0.2", "certificate verify failed: IP address mismatch"});
  CAPTURE(row.name);
  auto c = connect(clientCtx(Verify::kVerifyFull), row.name, serverCtx());
  REQUIRE_FALSE(c.ok);
  CHECK(c.pump.client_status.code() == absl::StatusCode::kUnauthenticated);
  CHECK(contains(std::string(c.pump.client_status.message()), row.reason));
  CHECK(contains(std::string(c.pump.client_status.message()), "TLS handshake with " + row.name));
  CHECK_FALSE(c.client->handshakeDone());
  // The client told the server why: the alert reaches it.
  CHECK_FALSE(c.pump.server_status.ok());
  CHECK(contains(std::string(c.pump.server_status.message()), "alert"));
}

TEST_CASE("every verifying mode refuses an unknown CA and an expired certificate") {
  auto mode = GENERATE(Verify::kVerifyFull, Verify::kVerifyCa);
  SECTION("unknown CA") {
    auto c = connect(clientCtx(mode), "localhost",
                     serverCtx(pki().other_server_cert, pki().other_server_key));
    REQUIRE_FALSE(c.ok);
    CHECK(c.pump.client_status.code() == absl::StatusCode::kUnauthenticated);
    CHECK(contains(std::string(c.pump.client_status.message()),
                   "certificate verify failed: unable to get local issuer certificate"));
    CHECK(contains(std::string(c.pump.server_status.message()), "unknown ca"));
  }
  SECTION("expired") {
    auto c =
        connect(clientCtx(mode), "localhost", serverCtx(pki().expired_cert, pki().expired_key));
    REQUIRE_FALSE(c.ok);
    CHECK(contains(std::string(c.pump.client_status.message()),
                   "certificate verify failed: certificate has expired"));
    CHECK(contains(std::string(c.pump.server_status.message()), "certificate expired"));
  }
}

TEST_CASE("verify-ca checks the chain but not the name") {
  auto c = connect(clientCtx(Verify::kVerifyCa), "orders-db.test", serverCtx());
  CHECK(c.ok);
}

TEST_CASE("require mode encrypts without verifying (unknown CA, expired, wrong name)") {
  auto files = GENERATE(std::make_pair(pki().other_server_cert, pki().other_server_key),
                        std::make_pair(pki().expired_cert, pki().expired_key));
  auto c = connect(clientCtx(Verify::kRequire, ""), "orders-db.test",
                   serverCtx(files.first, files.second));
  REQUIRE(c.ok);
  REQUIRE(c.client->writePlaintext("x").ok());
  REQUIRE(c.pump.run());
  std::string got;
  c.server->takePlaintext(got);
  CHECK(got == "x");
}

TEST_CASE("a TLS 1.1 server is refused in every mode (PCI 4.2.1)") {
  auto mode = GENERATE(Verify::kRequire, Verify::kVerifyCa, Verify::kVerifyFull);
  auto legacy = tls::ServerContext::adopt(
      tollgate::testing::newTls11OnlyServerCtx(pki().server_cert, pki().server_key));
  auto c = connect(clientCtx(mode), "localhost", legacy);
  REQUIRE_FALSE(c.ok);
  CHECK(c.pump.client_status.code() == absl::StatusCode::kUnavailable);
  // OpenSSL's client lists only TLS 1.2/1.3 in supported_versions, so the legacy server
  // cannot even answer with TLS 1.1: it sends a protocol_version alert.
  CHECK(contains(std::string(c.pump.client_status.message()),
                 "tlsv1 alert protocol version (TLS 1.2 or newer is required)"));
  CHECK(contains(std::string(c.pump.server_status.message()), "unsupported protocol"));
  CHECK_FALSE(c.client->handshakeDone());
}

TEST_CASE("a TLS 1.2-only server is accepted") {
  auto tls12 = tls::ServerContext::adopt(tollgate::testing::newTestServerCtx(
      pki().server_cert, pki().server_key, TLS1_2_VERSION, TLS1_2_VERSION));
  auto c = connect(clientCtx(Verify::kVerifyFull), "localhost", tls12);
  REQUIRE(c.ok);
  CHECK(c.client->protocolVersion() == "TLSv1.2");
}

TEST_CASE("plaintext written before the handshake is sent once it completes") {
  auto client = tls::Session::client(clientCtx(Verify::kVerifyFull), "localhost");
  REQUIRE(client.ok());
  REQUIRE((*client)->writePlaintext("early ").ok());
  REQUIRE((*client)->writePlaintext("query").ok());
  auto server = tls::Session::server(serverCtx());
  REQUIRE(server.ok());
  TlsPump pump{client->get(), server->get(), 0, {}, {}};
  REQUIRE(pump.run());
  std::string got;
  (*server)->takePlaintext(got);
  CHECK(got == "early query");
}

TEST_CASE("records split across feeds at odd offsets are reassembled") {
  auto chunk = GENERATE(as<size_t>{}, 1, 3, 7, 13, 1021);
  CAPTURE(chunk);
  auto c = connect(clientCtx(Verify::kVerifyFull), "localhost", serverCtx(), chunk);
  REQUIRE(c.ok);
  const std::string message = randomBytes(40000, static_cast<unsigned>(chunk));
  REQUIRE(c.client->writePlaintext(message).ok());
  REQUIRE(c.server->writePlaintext(message).ok());
  REQUIRE(c.pump.run());
  std::string at_server, at_client;
  c.server->takePlaintext(at_server);
  c.client->takePlaintext(at_client);
  CHECK(at_server == message);
  CHECK(at_client == message);
}

TEST_CASE("1 MiB flows both ways intact") {
  auto c = connect(clientCtx(Verify::kVerifyFull), "localhost", serverCtx(), 4099);
  REQUIRE(c.ok);
  const std::string up = randomBytes(1 << 20, 1);
  const std::string down = randomBytes(1 << 20, 2);
  REQUIRE(c.client->writePlaintext(up).ok());
  REQUIRE(c.server->writePlaintext(down).ok());
  REQUIRE(c.pump.run());
  std::string at_server, at_client;
  c.server->takePlaintext(at_server);
  c.client->takePlaintext(at_client);
  CHECK(at_server.size() == up.size());
  CHECK(at_server == up);
  CHECK(at_client == down);
}

TEST_CASE("close_notify: data before it arrives, the peer sees the close, writes after fail") {
  auto c = connect(clientCtx(Verify::kVerifyFull), "localhost", serverCtx());
  REQUIRE(c.ok);
  REQUIRE(c.client->writePlaintext("last words").ok());
  c.client->shutdown();
  c.client->shutdown();  // idempotent
  CHECK(c.client->writePlaintext("more").code() == absl::StatusCode::kFailedPrecondition);
  CHECK_FALSE(c.server->peerClosed());
  REQUIRE(c.pump.run());
  std::string got;
  c.server->takePlaintext(got);
  CHECK(got == "last words");
  CHECK(c.server->peerClosed());
  CHECK_FALSE(c.client->peerClosed());
  // The server answers with its own close_notify.
  c.server->shutdown();
  REQUIRE(c.pump.run());
  CHECK(c.client->peerClosed());
}

TEST_CASE("shutdown during the handshake sends close_notify after it") {
  auto client = tls::Session::client(clientCtx(Verify::kVerifyFull), "localhost");
  REQUIRE(client.ok());
  REQUIRE((*client)->writePlaintext("bye").ok());
  (*client)->shutdown();
  auto server = tls::Session::server(serverCtx());
  REQUIRE(server.ok());
  TlsPump pump{client->get(), server->get(), 0, {}, {}};
  REQUIRE(pump.run());
  std::string got;
  (*server)->takePlaintext(got);
  CHECK(got == "bye");
  CHECK((*server)->peerClosed());
}

TEST_CASE("garbage from a client fails the server session and stays failed") {
  auto server = tls::Session::server(serverCtx());
  REQUIRE(server.ok());
  absl::Status first = (*server)->feedCiphertext("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE_FALSE(first.ok());
  CHECK(first.code() == absl::StatusCode::kUnavailable);
  CHECK(contains(std::string(first.message()), "TLS handshake with client failed"));
  CHECK((*server)->failed());
  absl::Status again = (*server)->feedCiphertext("more");
  CHECK(again == first);
  CHECK((*server)->writePlaintext("x") == first);
}

TEST_CASE("a malformed handshake record gets an alert back") {
  auto server = tls::Session::server(serverCtx());
  REQUIRE(server.ok());
  // A handshake record holding an unknown handshake message type.
  const std::string record("\x16\x03\x01\x00\x04\xfe\x00\x00\x00", 9);
  CHECK_FALSE((*server)->feedCiphertext(record).ok());
  std::string alert;
  (*server)->takeCiphertext(alert);
  REQUIRE(alert.size() >= 7);
  CHECK(alert[0] == '\x15');  // content type: alert
}

TEST_CASE("a tampered record is refused") {
  auto c = connect(clientCtx(Verify::kVerifyFull), "localhost", serverCtx());
  REQUIRE(c.ok);
  REQUIRE(c.client->writePlaintext("amount=100").ok());
  std::string record;
  c.client->takeCiphertext(record);
  record[record.size() - 3] ^= 0x01;
  absl::Status status = c.server->feedCiphertext(record);
  CHECK_FALSE(status.ok());
  CHECK(contains(std::string(status.message()), "TLS error with client"));
  std::string got;
  c.server->takePlaintext(got);
  CHECK(got.empty());
}

TEST_CASE("client options are checked up front with clear errors") {
  tls::ClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  auto missing = tls::ClientContext::create(options);
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(std::string(missing.status().message()), "/nonexistent/ca.pem"));

  options.ca_file = pki().ca_cert;
  options.client_cert_file = pki().server_cert;
  auto half = tls::ClientContext::create(options);
  REQUIRE_FALSE(half.ok());
  CHECK(contains(std::string(half.status().message()), "together"));

  options.client_key_file = pki().other_server_key;
  auto mismatch = tls::ClientContext::create(options);
  REQUIRE_FALSE(mismatch.ok());

  auto no_name = tls::Session::client(clientCtx(Verify::kVerifyFull), "");
  REQUIRE_FALSE(no_name.ok());
  CHECK(contains(std::string(no_name.status().message()), "verify-full needs a server name"));

  auto bad_name = tls::Session::client(clientCtx(Verify::kVerifyFull), "db,DNS:evil");
  CHECK_FALSE(bad_name.ok());
}

TEST_CASE("verify mode names round-trip") {
  for (auto mode : {Verify::kRequire, Verify::kVerifyCa, Verify::kVerifyFull}) {
    auto parsed = tls::parseVerifyMode(tls::verifyModeName(mode));
    REQUIRE(parsed.ok());
    CHECK(*parsed == mode);
  }
  CHECK_FALSE(tls::parseVerifyMode("prefer").ok());
}
