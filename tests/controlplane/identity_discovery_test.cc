// Tests for OIDC discovery over real HTTPS: an in-test TLS server on 127.0.0.1 serves the
// discovery document and the JWKS; the client verifies it against the test CA.
#include <catch2/catch_test_macros.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "controlplane/identity/key_source.h"
#include "controlplane/identity/verifier.h"
#include "tests/controlplane/jwt_test_signer.h"
#include "tests/support/pki.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::identity {
namespace {

using std::chrono::seconds;
using testing::Json;

constexpr int64_t kNow = 1'800'000'000;

// Serves fixed responses by path over TLS, one request per connection, until destroyed.
class TinyHttpsServer {
 public:
  explicit TinyHttpsServer(const testing::TestPki& pki)
      : ctx_(testing::newTestServerCtx(pki.server_cert, pki.server_key)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("listen");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~TinyHttpsServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    SSL_CTX_free(ctx_);
  }
  std::string base() const { return "https://127.0.0.1:" + std::to_string(port_); }
  void set(const std::string& path, int status, const std::string& body, bool chunked = false) {
    std::lock_guard<std::mutex> lock(mu_);
    routes_[path] = {status, body, chunked};
  }
  int hits(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_[path];
  }

 private:
  struct Route {
    int status;
    std::string body;
    bool chunked;
  };
  void loop() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) serve(ssl);
      SSL_shutdown(ssl);
      SSL_free(ssl);
      close(c);
    }
  }
  void serve(SSL* ssl) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      int n = SSL_read(ssl, buf, sizeof(buf));
      if (n <= 0) return;
      req.append(buf, static_cast<size_t>(n));
    }
    std::string path = req.substr(4, req.find(' ', 4) - 4);
    Route r{404, "not found", false};
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++hits_[path];
      if (auto it = routes_.find(path); it != routes_.end()) r = it->second;
    }
    std::string out = "HTTP/1.1 " + std::to_string(r.status) +
                      " X\r\nContent-Type: "
                      "application/json\r\nConnection: close\r\n";
    if (r.chunked) {
      size_t half = r.body.size() / 2;
      auto hex = [](size_t n) {
        char h[32];
        snprintf(h, sizeof(h), "%zx", n);
        return std::string(h);
      };
      out += "Transfer-Encoding: chunked\r\n\r\n" + hex(half) + "\r\n" + r.body.substr(0, half) +
             "\r\n" + hex(r.body.size() - half) + ";ext=1\r\n" + r.body.substr(half) +
             "\r\n0\r\n\r\n";
    } else {
      out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
    }
    SSL_write(ssl, out.data(), static_cast<int>(out.size()));
  }

  SSL_CTX* ctx_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, Route> routes_;
  std::map<std::string, int> hits_;
};

struct Fixture {
  testing::TempDir dir;
  testing::TestPki pki = testing::writeTestPki(dir.path() / "pki");
  TinyHttpsServer server{pki};
  std::string issuer = server.base() + "/realms/ops";
  EvpPkeyPtr key = testing::newRsaKey();
  std::shared_ptr<ManualClock> clock =
      std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kNow)));

  Fixture() {
    server.set("/realms/ops/.well-known/openid-configuration", 200,
               Json{{"issuer", issuer}, {"jwks_uri", server.base() + "/realms/ops/certs"}}.dump());
    server.set("/realms/ops/certs", 200, testing::jwksText({testing::publicJwk(key.get(), "k1")}),
               /*chunked=*/true);
  }
  std::shared_ptr<DiscoveryKeySource> source(const std::string& ca) {
    HttpsGetOptions o;
    o.ca_file = ca;
    o.timeout = std::chrono::milliseconds(3000);
    return std::make_shared<DiscoveryKeySource>(issuer, o, clock, seconds(3600), seconds(30));
  }
  std::string token(EVP_PKEY* k, const std::string& kid) {
    return testing::mintJwt(
        k, "RS256", kid,
        {{"iss", issuer}, {"sub", "alice"}, {"aud", "tollgate-cli"}, {"exp", kNow + 300}});
  }
};

TEST_CASE("discovery fetches the JWKS over verified HTTPS and tokens verify",
          "[identity][discovery]") {
  Fixture f;
  auto src = f.source(f.pki.ca_cert);
  JwtVerifier v({{f.issuer, "tollgate-cli", src}}, f.clock);
  auto r = v.verify(f.token(f.key.get(), "k1"));
  REQUIRE(r.ok());
  CHECK(src->jwksUri() == f.server.base() + "/realms/ops/certs");
  CHECK(v.verify(f.token(f.key.get(), "k1")).ok());
  CHECK(f.server.hits("/realms/ops/certs") == 1);  // cached
}

TEST_CASE("discovery refuses a server certificate from another CA", "[identity][discovery]") {
  Fixture f;
  auto keys = f.source(f.pki.other_ca_cert)->keys();
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(keys.status().message()).find("TLS handshake failed") != std::string::npos);
}

TEST_CASE("discovery refuses a document naming another issuer", "[identity][discovery]") {
  Fixture f;
  f.server.set(
      "/realms/ops/.well-known/openid-configuration", 200,
      Json{{"issuer", "https://evil.example"}, {"jwks_uri", f.server.base() + "/realms/ops/certs"}}
          .dump());
  auto keys = f.source(f.pki.ca_cert)->keys();
  REQUIRE_FALSE(keys.ok());
  CHECK(std::string(keys.status().message()).find("does not equal") != std::string::npos);
  CHECK(f.server.hits("/realms/ops/certs") == 0);
}

TEST_CASE("discovery reports HTTP errors", "[identity][discovery]") {
  Fixture f;
  f.server.set("/realms/ops/certs", 500, "oops");
  auto keys = f.source(f.pki.ca_cert)->keys();
  REQUIRE_FALSE(keys.ok());
  CHECK(std::string(keys.status().message()).find("HTTP 500") != std::string::npos);
}

TEST_CASE("unknown kid refetches the JWKS, rate-limited", "[identity][discovery]") {
  Fixture f;
  auto src = f.source(f.pki.ca_cert);
  JwtVerifier v({{f.issuer, "tollgate-cli", src}}, f.clock);
  REQUIRE(v.verify(f.token(f.key.get(), "k1")).ok());
  auto next = testing::newRsaKey();
  f.server.set("/realms/ops/certs", 200, testing::jwksText({testing::publicJwk(next.get(), "k2")}));
  // Within 30 s of the last fetch a new kid does not make the control plane fetch again.
  CHECK_FALSE(v.verify(f.token(next.get(), "k2")).ok());
  CHECK(f.server.hits("/realms/ops/certs") == 1);
  f.clock->advance(seconds(31));
  CHECK(v.verify(f.token(next.get(), "k2")).ok());
  CHECK(f.server.hits("/realms/ops/certs") == 2);
  CHECK_FALSE(v.verify(f.token(f.key.get(), "k1")).ok());  // the IdP retired k1
}

TEST_CASE("keys are refreshed after the refresh interval; failures keep the last set",
          "[identity][discovery]") {
  Fixture f;
  auto src = f.source(f.pki.ca_cert);
  REQUIRE(src->keys().ok());
  f.server.set("/realms/ops/certs", 503, "down");
  f.clock->advance(seconds(3601));
  auto keys = src->keys();
  REQUIRE(keys.ok());  // stale but usable
  CHECK(f.server.hits("/realms/ops/certs") == 2);
}

TEST_CASE("jwksUriFromDiscovery checks issuer and scheme", "[identity][discovery]") {
  const std::string iss = "https://idp.example";
  CHECK(*jwksUriFromDiscovery(
            R"({"issuer":"https://idp.example","jwks_uri":"https://idp.example/k"})", iss) ==
        "https://idp.example/k");
  CHECK_FALSE(
      jwksUriFromDiscovery(R"({"issuer":"https://idp.example","jwks_uri":"http://x/k"})", iss)
          .ok());
  CHECK_FALSE(jwksUriFromDiscovery(R"({"issuer":"https://idp.example/"})", iss).ok());
  CHECK_FALSE(jwksUriFromDiscovery(R"({"issuer":"https://idp.example"})", iss).ok());
  CHECK_FALSE(jwksUriFromDiscovery("[]", iss).ok());
}

TEST_CASE("httpsGet refuses bad URLs and a missing CA", "[identity][discovery]") {
  HttpsGetOptions o;
  o.ca_file = "/nonexistent.pem";
  CHECK(httpsGet("http://127.0.0.1/", o).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(httpsGet("https://user@127.0.0.1/", o).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(httpsGet("https://127.0.0.1:99999999/", o).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(httpsGet("https://127.0.0.1/", o).status().code() == absl::StatusCode::kUnavailable);
  o.ca_file.clear();
  CHECK(httpsGet("https://127.0.0.1/", o).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tollgate::controlplane::identity
