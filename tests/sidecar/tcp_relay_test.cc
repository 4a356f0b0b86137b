// The raw TCP relay over real loopback sockets: a FIN from either side is passed on while the
// other side may still send (half-close), as a direct connection allows; the relay ends once
// both sides have finished.
#include <catch2/catch_test_macros.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "sidecar/network/address.h"
#include "sidecar/tcp/relay.h"
#include "tests/support/test_support.h"

using tollgate::sidecar::parseSocketAddress;
using tollgate::sidecar::TcpRelay;

namespace {

int listenLoopback(int* port) {
  int fd = tollgate::testing::listenLoopback(port);
  REQUIRE(fd >= 0);
  return fd;
}

// A connected pair: `relay_end` for the relay to adopt, `client` for the test.
void clientPair(int* relay_end, int* client) {
  int port = 0;
  int listener = listenLoopback(&port);
  *client = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::connect(*client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  *relay_end = ::accept(listener, nullptr, nullptr);
  REQUIRE(*relay_end >= 0);
  ::close(listener);
  ::fcntl(*client, F_SETFL, ::fcntl(*client, F_GETFL) | O_NONBLOCK);
}

// Reads a blocking socket until EOF.
std::string readToEof(int fd) {
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) got.append(buf, static_cast<size_t>(n));
  return got;
}

// Runs the loop while reading the non-blocking client until EOF (or 10 s).
std::string pumpUntilEof(uv_loop_t* loop, int client, bool* eof) {
  std::string got;
  char buf[4096];
  *eof = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!*eof && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_NOWAIT);
    ssize_t n = ::read(client, buf, sizeof(buf));
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0) *eof = true;
    if (n < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return got;
}

void runUntil(uv_loop_t* loop, const bool& flag) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!flag && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Runs `server` (given the accepted socket, blocking) behind a relay, and `client` (given the
// loop and the client's non-blocking socket) in front of it; checks the relay ends.
void throughRelay(const std::function<void(int fd)>& server,
                  const std::function<void(uv_loop_t*, int client)>& client) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int port = 0;
  int listener = listenLoopback(&port);
  std::thread server_thread([&] {
    int fd = ::accept(listener, nullptr, nullptr);
    server(fd);
    ::close(fd);
  });
  int relay_end = -1;
  int client_fd = -1;
  clientPair(&relay_end, &client_fd);
  bool done = false;
  {
    TcpRelay relay(&loop, {}, nullptr, [&] { done = true; });
    REQUIRE(relay.start(relay_end, {*parseSocketAddress("127.0.0.1", port)}).ok());
    client(&loop, client_fd);
    runUntil(&loop, done);
    CHECK(done);
  }
  server_thread.join();
  ::close(client_fd);
  ::close(listener);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_loop_close(&loop) == 0);
}

}  // namespace

TEST_CASE("a client that half-closes still gets the server's reply through the relay") {
  // The server answers only once the request ended (EOF), like a request/response protocol
  // that frames its request with the FIN.
  throughRelay(
      [](int fd) {
        std::string reply = "reply:" + readToEof(fd);
        (void)::write(fd, reply.data(), reply.size());
      },
      [](uv_loop_t* loop, int client) {
        REQUIRE(::write(client, "hello", 5) == 5);
        REQUIRE(::shutdown(client, SHUT_WR) == 0);
        bool eof = false;
        CHECK(pumpUntilEof(loop, client, &eof) == "reply:hello");
        CHECK(eof);
      });
}

TEST_CASE("a server that half-closes first still receives what the client sends after") {
  std::string server_got;
  throughRelay(
      [&](int fd) {
        (void)::write(fd, "banner", 6);
        ::shutdown(fd, SHUT_WR);
        server_got = readToEof(fd);
      },
      [](uv_loop_t* loop, int client) {
        bool eof = false;
        CHECK(pumpUntilEof(loop, client, &eof) == "banner");
        CHECK(eof);
        // The client's side is still open: what it sends now reaches the server.
        REQUIRE(::write(client, "late words", 10) == 10);
        REQUIRE(::shutdown(client, SHUT_WR) == 0);
      });
  CHECK(server_got == "late words");
}
