// Admin HTTP server: poll()-driven accept loop with a self-pipe for shutdown.
#include "common/admin_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "prometheus/text_serializer.h"

namespace tollgate {
namespace {

constexpr size_t kMaxRequest = 8192;
constexpr int kReadTimeoutMs = 2000;  // for a whole request, and for sending the answer
constexpr size_t kMaxPending = 32;

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

void writeAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void sendResponse(int fd, const HttpResponse& r) {
  std::string out = absl::StrCat(
      "HTTP/1.1 ", r.status, " ", reasonPhrase(r.status), "\r\nContent-Type: ", r.content_type,
      "\r\nContent-Length: ", r.body.size(), "\r\nConnection: close\r\n\r\n", r.body);
  writeAll(fd, out);
}

}  // namespace

AdminServer::AdminServer(std::shared_ptr<prometheus::Registry> registry, ReadinessFn readiness)
    : registry_(std::move(registry)), readiness_(std::move(readiness)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::addHandler(const std::string& path, Handler handler) {
  handlers_[path] = std::move(handler);
}

absl::Status AdminServer::start(const std::string& address, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(port);
  if (int rc = getaddrinfo(address.c_str(), port_str.c_str(), &hints, &res); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin address '", address, "': ", gai_strerror(rc)));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
    int err = errno;
    freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("admin listen on ", address, ":", port, ": ", std::strerror(err)));
  }
  freeaddrinfo(res);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  listen_fd_ = fd;
  if (::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("admin pipe: ", std::strerror(errno)));
  }
  thread_ = std::thread([this] { serve(); });
  return absl::OkStatus();
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  char c = 'x';
  (void)!::write(wake_fds_[1], &c, 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
  listen_fd_ = -1;
}

// Requests are read concurrently, each with one deadline for the whole request: a client that
// sends slowly or nothing cannot hold up the kubelet's probes. Answers are small and written
// with a send timeout.
void AdminServer::serve() {
  struct Pending {
    int fd;
    std::chrono::steady_clock::time_point deadline;
    std::string request;
  };
  std::vector<Pending> pending;
  auto drop = [&](size_t i) {
    ::close(pending[i].fd);
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
  };
  for (;;) {
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    const auto now = std::chrono::steady_clock::now();
    int timeout = -1;
    for (const Pending& p : pending) {
      fds.push_back({p.fd, POLLIN, 0});
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now).count();
      const int ms = static_cast<int>(std::max<int64_t>(0, left));
      timeout = timeout < 0 ? ms : std::min(timeout, ms);
    }
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::error("admin server poll failed", {{"error", std::strerror(errno)}});
      break;
    }
    if (fds[1].revents) break;
    for (size_t i = pending.size(); i-- > 0;) {
      Pending& p = pending[i];
      if (fds[2 + i].revents != 0) {
        char buf[1024];
        ssize_t got = ::recv(p.fd, buf, sizeof(buf), 0);
        if (got <= 0) {
          drop(i);
          continue;
        }
        p.request.append(buf, static_cast<size_t>(got));
        if (p.request.size() > kMaxRequest) {
          sendResponse(p.fd, {431, "text/plain", "request too large\n"});
          drop(i);
          continue;
        }
        if (p.request.find("\r\n\r\n") != std::string::npos) {
          handleRequest(p.fd, p.request);
          drop(i);
          continue;
        }
      }
      if (std::chrono::steady_clock::now() >= p.deadline) drop(i);
    }
    if (fds[0].revents & POLLIN) {
      int cfd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (cfd < 0) continue;
      if (pending.size() >= kMaxPending) {  // the oldest waits longest: it goes
        drop(0);
      }
      timeval send_timeout{kReadTimeoutMs / 1000, 0};
      ::setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
      pending.push_back(
          {cfd, std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadTimeoutMs), {}});
    }
  }
  for (const Pending& p : pending) ::close(p.fd);
}

void AdminServer::handleRequest(int fd, const std::string& req) {
  size_t sp1 = req.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : req.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) {
    sendResponse(fd, {400, "text/plain", "malformed request line\n"});
    return;
  }
  std::string method = req.substr(0, sp1);
  std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  if (method != "GET" && method != "HEAD") {
    sendResponse(fd, {405, "text/plain", "only GET is supported\n"});
    return;
  }
  HttpResponse resp = route(path);
  if (method == "HEAD") resp.body.clear();
  sendResponse(fd, resp);
}

HttpResponse AdminServer::route(const std::string& path) {
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") {
    std::string reason = readiness_ ? readiness_() : std::string();
    if (reason.empty()) return {200, "text/plain; charset=utf-8", "ready\n"};
    return {503, "text/plain; charset=utf-8", reason + "\n"};
  }
  if (path == "/metrics") {
    prometheus::TextSerializer serializer;
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            serializer.Serialize(registry_->Collect())};
  }
  if (auto it = handlers_.find(path); it != handlers_.end()) return it->second();
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

}  // namespace tollgate
