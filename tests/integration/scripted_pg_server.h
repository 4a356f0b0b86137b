// A PostgreSQL server of one connection scripted by a test: plain TCP on loopback, answering
// the startup packet and then each message with bytes the test wrote. For what a real server
// never does (skip a SCRAM step, ask for a password in clear, send login messages late).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace tollgate::testing {

// One big-endian int32.
inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

inline std::string backendMessage(char type, const std::string& body) {
  return std::string(1, type) + be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

// What a server sends once the client is authenticated: AuthenticationOk, the parameters a
// session reports, BackendKeyData, ReadyForQuery.
inline std::string loggedIn() {
  std::string out = backendMessage('R', be32(0));
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"server_version", "15.0"},
                                                        {"server_encoding", "UTF8"},
                                                        {"client_encoding", "UTF8"},
                                                        {"standard_conforming_strings", "on"},
                                                        {"integer_datetimes", "on"},
                                                        {"DateStyle", "ISO, MDY"}}) {
    out += backendMessage('S', k + '\0' + v + '\0');
  }
  out += backendMessage('K', be32(4242) + be32(77));
  out += backendMessage('Z', "I");
  return out;
}

// The answer to the sidecar's type catalog query: no rows.
inline std::string emptyResult() {
  return backendMessage('C', std::string("SELECT 0") + '\0') + backendMessage('Z', "I");
}

class ScriptedServer {
 public:
  // What the server sends after one message: fixed bytes, or bytes made from the message
  // (type byte, length and body), e.g. a SCRAM server-first that extends the client's nonce.
  struct Reply {
    // Implicit, so that a list of byte strings is a list of replies.
    Reply(std::string bytes) : make([b = std::move(bytes)](const std::string&) { return b; }) {}
    template <typename F>
    requires std::is_invocable_r_v<std::string, F, const std::string&> Reply(F fn)
        : make(std::move(fn)) {}
    std::function<std::string(const std::string& message)> make;
  };

  // Sends `on_startup` after the startup packet, then the next of `replies` after each message
  // the client sends, then reads until the client closes.
  ScriptedServer(std::string on_startup, std::vector<Reply> replies)
      : on_startup_(std::move(on_startup)), replies_(std::move(replies)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 4);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  int port() const { return port_; }
  // Whether anything connected.
  bool accepted() const { return accepted_.load(); }
  // The type bytes of the messages received after the startup packet, in order.
  std::string receivedTypes() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  // Everything received after the startup packet.
  std::string receivedBytes() const {
    std::lock_guard lock(mu_);
    return received_bytes_;
  }
  // How many of `replies` were sent.
  size_t repliesSent() const { return replies_sent_.load(); }
  // Whether the connection ended (either side closed it).
  bool ended() const { return ended_.load(); }

 private:
  static bool readExactly(int fd, size_t n, std::string* out) {
    out->resize(n);
    for (size_t got = 0; got < n;) {
      ssize_t r = ::read(fd, out->data() + got, n - got);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  static uint32_t lengthAt(const std::string& b, size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(b[at + i]);
    return v;
  }
  static bool send(int fd, const std::string& bytes) {
    return ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  }
  void serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    accepted_ = true;
    std::string head, body;
    if (readExactly(c, 4, &head) && readExactly(c, lengthAt(head, 0) - 4, &body) &&
        send(c, on_startup_)) {
      size_t next = 0;
      while (readExactly(c, 5, &head) && readExactly(c, lengthAt(head, 1) - 4, &body)) {
        {
          std::lock_guard lock(mu_);
          received_.push_back(head[0]);
          received_bytes_ += head + body;
        }
        if (next < replies_.size()) {
          if (!send(c, replies_[next++].make(head + body))) break;
          ++replies_sent_;
        }
      }
    }
    ::close(c);
    ended_ = true;
  }

  std::string on_startup_;
  std::vector<Reply> replies_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> accepted_{false};
  std::atomic<size_t> replies_sent_{0};
  std::atomic<bool> ended_{false};
  mutable std::mutex mu_;
  std::string received_;
  std::string received_bytes_;
  std::thread thread_;
};

}  // namespace tollgate::testing
