// The webhook's HTTPS endpoint over real TLS (test CA): review round trip, size limit, bad
// requests, certificate rotation, and a stop() that returns with clients still connected.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <catch2/catch_test_macros.hpp>

#include "controlplane/webhook/webhook_server.h"
#include "tests/controlplane/webhook_testing.h"
#include "tests/support/pki.h"
#include "tests/support/test_support.h"

using namespace tollgate::controlplane::webhook;
using namespace tollgate::controlplane::webhook::testing;
namespace tt = tollgate::testing;

namespace {

struct Reply {
  bool tls_ok = false;
  int status = 0;
  std::string body;
};

int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{15, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Sends `request` raw over TLS verified against `ca` for host "localhost"; reads to close.
Reply exchange(int port, const std::string& ca, const std::string& request) {
  // The server may answer (413) and close before a large body is sent: take EPIPE, not
  // SIGPIPE, on this thread only (the server's threads must cope on their own).
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  Reply reply;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  int fd = connectTo(port);
  REQUIRE(fd >= 0);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), "localhost", 0);
  if (SSL_connect(ssl) == 1) {
    reply.tls_ok = true;
    size_t off = 0;
    while (off < request.size()) {
      int n = SSL_write(ssl, request.data() + off, static_cast<int>(request.size() - off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    std::string raw;
    char buf[8192];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) raw.append(buf, static_cast<size_t>(n));
    if (raw.rfind("HTTP/1.1 ", 0) == 0) reply.status = std::stoi(raw.substr(9, 3));
    size_t split = raw.find("\r\n\r\n");
    if (split != std::string::npos) reply.body = raw.substr(split + 4);
  }
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  const timespec zero{0, 0};
  while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_UNBLOCK, &pipe_set, nullptr);
  return reply;
}

std::string post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: tollgate-webhook.tollgate.svc\r\n" +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

struct Fixture {
  tt::TempDir dir;
  tt::TestPki pki = tt::writeTestPki(dir.path() / "pki");
  WebhookConfig config;
  std::unique_ptr<WebhookServer> server;

  Fixture() {
    config.enabled = true;
    config.address = "127.0.0.1";
    config.port = 0;
    config.tls_cert = (dir.path() / "tls.crt").string();
    config.tls_key = (dir.path() / "tls.key").string();
    std::filesystem::copy_file(pki.server_cert, config.tls_cert);
    std::filesystem::copy_file(pki.server_key, config.tls_key);
    config.control_plane_namespace = "tollgate";
    config.max_body_bytes = 64 * 1024;
    server = std::make_unique<WebhookServer>(config);
    REQUIRE(server->start().ok());
  }
};

}  // namespace

TEST_CASE("an AdmissionReview round trip over HTTPS returns the patch for the echoed uid") {
  Fixture f;
  Json pod = jobPod();
  Reply r = exchange(f.server->port(), f.pki.ca_cert,
                     post("/mutate?timeout=10s", podReview(pod, "payments-ci", "rt-1").dump()));
  REQUIRE(r.tls_ok);
  CHECK(r.status == 200);
  Json response = Json::parse(r.body)["response"];
  CHECK(response["uid"] == "rt-1");
  CHECK(response["allowed"] == true);
  REQUIRE(response.contains("patch"));
  Json out = pod.patch(Json::parse(base64Decode(response["patch"].get<std::string>())));
  CHECK(out["spec"]["initContainers"][1]["name"] == "tollgate-sidecar");

  // The annotation opt-in path needs the annotation.
  Reply skipped = exchange(f.server->port(), f.pki.ca_cert,
                           post("/mutate-annotated", podReview(pod, "other", "rt-2").dump()));
  CHECK(skipped.status == 200);
  CHECK_FALSE(Json::parse(skipped.body)["response"].contains("patch"));
}

TEST_CASE("oversized, unframed and misrouted requests get clear errors") {
  Fixture f;
  int port = f.server->port();
  const std::string& ca = f.pki.ca_cert;
  // The limit is enforced from the header: the body is never read.
  Reply big =
      exchange(port, ca, "POST /mutate HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n{\"a\":");
  CHECK(big.status == 413);
  Json resp = Json::parse(big.body)["response"];
  CHECK(resp["allowed"] == false);
  CHECK(resp["status"]["message"].get<std::string>().find("exceeds the limit") !=
        std::string::npos);
  // A body over the limit that is actually sent.
  std::string huge = podReview(barePod(), "a").dump();
  huge.insert(huge.size() - 1, ",\"pad\":\"" + std::string(100000, 'x') + "\"");
  CHECK(exchange(port, ca, post("/mutate", huge)).status == 413);
  CHECK(
      exchange(port, ca,
               "POST /mutate HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
          .status == 411);
  CHECK(exchange(port, ca, "GET /mutate HTTP/1.1\r\n\r\n").status == 405);
  CHECK(exchange(port, ca, post("/elsewhere", "{}")).status == 404);
  CHECK(exchange(port, ca, "garbage\r\n\r\n").status == 400);
  Reply bad_json = exchange(port, ca, post("/mutate", "{not json"));
  CHECK(bad_json.status == 400);
  CHECK(Json::parse(bad_json.body)["kind"] == "AdmissionReview");
  Reply health = exchange(port, ca, "GET /healthz HTTP/1.1\r\n\r\n");
  CHECK(health.status == 200);
  CHECK(health.body == "ok\n");
}

TEST_CASE("a client that never finishes its request does not block other clients") {
  Fixture f;
  // A plain-TCP client that connects and says nothing, and one that sends half a body.
  int idle = connectTo(f.server->port());
  REQUIRE(idle >= 0);
  Reply r = exchange(f.server->port(), f.pki.ca_cert,
                     post("/mutate", podReview(barePod(), "a", "x").dump()));
  CHECK(r.status == 200);
  ::close(idle);
}

TEST_CASE("a rotated certificate is served without a restart") {
  Fixture f;
  CHECK(exchange(f.server->port(), f.pki.ca_cert, "GET /healthz HTTP/1.1\r\n\r\n").tls_ok);
  // Rotate to a certificate from another CA (replace the files, as a Secret update does).
  std::filesystem::copy_file(f.pki.other_server_cert, f.config.tls_cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(f.pki.other_server_key, f.config.tls_key,
                             std::filesystem::copy_options::overwrite_existing);
  CHECK_FALSE(exchange(f.server->port(), f.pki.ca_cert, "GET /healthz HTTP/1.1\r\n\r\n").tls_ok);
  Reply rotated = exchange(f.server->port(), f.pki.other_ca_cert, "GET /healthz HTTP/1.1\r\n\r\n");
  CHECK(rotated.tls_ok);
  CHECK(rotated.status == 200);
  // A broken rotation keeps the last good pair.
  std::filesystem::resize_file(f.config.tls_key, 10);
  CHECK(exchange(f.server->port(), f.pki.other_ca_cert, "GET /healthz HTTP/1.1\r\n\r\n").tls_ok);
}

TEST_CASE("start fails clearly on bad TLS material or a taken port") {
  tt::TempDir dir;
  tt::TestPki pki = tt::writeTestPki(dir.path() / "pki");
  WebhookConfig config;
  config.address = "127.0.0.1";
  config.port = 0;
  config.tls_cert = pki.server_cert;
  config.tls_key = pki.other_server_key;
  WebhookServer mismatched(config);
  absl::Status st = mismatched.start();
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(st.message()).find("other-server-key.pem") != std::string::npos);
  config.tls_key = (dir.path() / "missing.key").string();
  WebhookServer missing(config);
  st = missing.start();
  CHECK(std::string(st.message()).find("missing.key") != std::string::npos);

  config.tls_key = pki.server_key;
  WebhookServer first(config);
  REQUIRE(first.start().ok());
  config.port = first.port();
  WebhookServer second(config);
  CHECK(second.start().code() == absl::StatusCode::kUnavailable);
}
