// Interop: tls::Session against the real openssl CLI (s_server / s_client) over TCP on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "sidecar/tls/certificate_authority.h"
#include "sidecar/tls/client_context.h"
#include "sidecar/tls/session.h"
#include "tests/support/pki.h"
#include "tests/support/test_support.h"

namespace tls = tollgate::sidecar::tls;
namespace tt = tollgate::testing;

namespace {

const tt::TestPki& pki() {
  static tt::TempDir dir;
  static tt::TestPki files = tt::writeTestPki(dir.path());
  return files;
}

int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool sendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Drives `session` over `fd` until `done()` holds, the peer closes, an error, or 10 s pass.
// Returns the session status; `eof` tells whether the socket reached EOF.
template <typename Done>
absl::Status drive(int fd, tls::Session& session, Done done, bool* eof = nullptr) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string out;
  while (std::chrono::steady_clock::now() < deadline) {
    out.clear();
    session.takeCiphertext(out);
    if (!out.empty() && !sendAll(fd, out)) return absl::UnavailableError("send failed");
    if (session.failed() || done()) return session.status();
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (eof != nullptr) *eof = true;
      return session.status();
    }
    absl::Status st = session.feedCiphertext(std::string_view(buf, static_cast<size_t>(n)));
    if (!st.ok()) {
      out.clear();
      session.takeCiphertext(out);
      sendAll(fd, out);  // the alert
      return st;
    }
  }
  return absl::DeadlineExceededError("interop test timed out");
}

tls::ClientContextPtr verifyFullClient() {
  tls::ClientOptions options;
  options.ca_file = pki().ca_cert;
  auto ctx = tls::ClientContext::create(options);
  REQUIRE(ctx.ok());
  return *ctx;
}

struct SServer {
  int port = tt::freePort();
  tt::TempDir logs;
  std::unique_ptr<tt::Process> process;
  explicit SServer(std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        "openssl", "s_server",        "-accept", "127.0.0.1:" + std::to_string(port),
        "-cert",   pki().server_cert, "-key",    pki().server_key,
        "-www"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process = std::make_unique<tt::Process>(argv, (logs.path() / "s_server.log").string());
    REQUIRE(tt::waitPort(port, std::chrono::seconds(10)));
  }
};

}  // namespace

TEST_CASE("client session talks HTTP to openssl s_server with verify-full") {
  SServer server({});
  int fd = connectTo(server.port);
  REQUIRE(fd >= 0);
  auto session = tls::Session::client(verifyFullClient(), "payments-db.test");
  REQUIRE(session.ok());
  tls::Session& s = **session;
  absl::Status handshake = drive(fd, s, [&] { return s.handshakeDone(); });
  INFO(handshake.message());
  REQUIRE(handshake.ok());
  CHECK(s.protocolVersion() == "TLSv1.3");
  REQUIRE(s.writePlaintext("GET / HTTP/1.0\r\n\r\n").ok());
  std::string response;
  bool eof = false;
  absl::Status st = drive(
      fd, s,
      [&] {
        s.takePlaintext(response);
        return s.peerClosed();
      },
      &eof);
  s.takePlaintext(response);
  ::close(fd);
  CHECK(st.ok());
  CHECK(response.rfind("HTTP/1.0 200 ok", 0) == 0);
  CHECK(response.find("TLSv1.3") != std::string::npos);  // s_server's status page
}

TEST_CASE("client session refuses openssl s_server speaking TLS 1.1 (PCI 4.2.1)") {
  SServer server({"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});
  int fd = connectTo(server.port);
  REQUIRE(fd >= 0);
  tls::ClientOptions options;
  options.verify = tls::ClientOptions::Verify::kRequire;  // even the weakest mode refuses
  auto ctx = tls::ClientContext::create(options);
  REQUIRE(ctx.ok());
  auto session = tls::Session::client(*ctx, "localhost");
  REQUIRE(session.ok());
  tls::Session& s = **session;
  absl::Status st = drive(fd, s, [&] { return s.handshakeDone(); });
  ::close(fd);
  INFO(st.message());
  CHECK_FALSE(s.handshakeDone());
  CHECK(std::string(st.message()).find("protocol version") != std::string::npos);
}

TEST_CASE("openssl s_client verifies a minted certificate (verify-full, SNI)") {
  auto ca = tls::CertificateAuthority::load(pki().ca_cert, pki().ca_key);
  REQUIRE(ca.ok());
  auto fallback = (*ca)->serverContextFor("localhost");
  REQUIRE(fallback.ok());

  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);

  std::string received;
  absl::Status server_status = absl::UnknownError("server thread did not run");
  std::thread server_thread([&] {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return;
    int fd = ::accept(listener, nullptr, nullptr);
    auto session = tls::Session::server(
        *fallback, [&](const std::string& sni) { return (*ca)->serverContextFor(sni); });
    if (!session.ok()) return;
    tls::Session& s = **session;
    server_status = drive(fd, s, [&] {
      s.takePlaintext(received);
      return received.find('\n') != std::string::npos;
    });
    if (server_status.ok()) {
      (void)s.writePlaintext("hello from tollgate\n");
      s.shutdown();
      std::string out;
      s.takeCiphertext(out);
      sendAll(fd, out);
    }
    ::close(fd);
  });

  auto result = tt::run({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                         "-servername", "payments-db.test", "-verify_hostname", "payments-db.test",
                         "-CAfile", pki().ca_cert, "-verify_return_error", "-ign_eof"},
                        "hello from s_client\n", std::chrono::seconds(20));
  server_thread.join();
  ::close(listener);
  INFO(result.out << result.err);
  CHECK(server_status.ok());
  CHECK(received == "hello from s_client\n");
  CHECK(result.out.find("hello from tollgate") != std::string::npos);
  CHECK(result.out.find("Verify return code: 0 (ok)") != std::string::npos);
  CHECK(result.out.find("CN = payments-db.test") != std::string::npos);
}
