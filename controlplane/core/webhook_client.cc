// A minimal HTTP/1.1 POST client (plain or TLS verify-full) for the approval webhook.
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>

#include "controlplane/core/webhook_notifier.h"

namespace tollgate::controlplane::core {
namespace {

struct Url {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string path;
};

absl::StatusOr<Url> parseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
    u.port = 80;
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
    u.port = 443;
  } else {
    return absl::InvalidArgumentError("webhook URL must start with http:// or https://");
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty()) return absl::InvalidArgumentError("webhook URL has no host");
  std::string port_text;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("webhook URL: bad IPv6");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return absl::InvalidArgumentError("webhook URL: bad port");
      port_text = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (!port_text.empty()) {
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), u.port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || u.port <= 0 ||
        u.port > 65535) {
      return absl::InvalidArgumentError("webhook URL: bad port");
    }
  }
  if (u.host.empty()) return absl::InvalidArgumentError("webhook URL has no host");
  return u;
}

using Deadline = std::chrono::steady_clock::time_point;

int msLeft(Deadline d) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(d - std::chrono::steady_clock::now())
          .count();
  return left < 0 ? 0 : static_cast<int>(left);
}

absl::StatusOr<int> connectTo(const Url& u, Deadline deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(u.port);
  if (int rc = getaddrinfo(u.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError("webhook: resolving " + u.host + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  std::string last = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, msLeft(deadline)) == 1) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err == 0 ? 0 : -1;
        if (err != 0) last = std::strerror(err);
      } else {
        last = "timeout";
        rc = -1;
      }
    } else if (rc != 0) {
      last = std::strerror(errno);
    }
    if (rc == 0) return fd;
    close(fd);
  }
  return absl::UnavailableError("webhook: connecting to " + u.host + ":" + port + ": " + last);
}

// Byte I/O over a plain socket or a TLS session, with the request deadline.
class Conn {
 public:
  Conn(int fd, SSL* ssl, Deadline deadline) : fd_(fd), ssl_(ssl), deadline_(deadline) {}
  ~Conn() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    close(fd_);
  }
  bool waitFor(short events) {
    pollfd p{fd_, events, 0};
    return poll(&p, 1, msLeft(deadline_)) == 1;
  }
  bool writeAll(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      long n = 0;
      if (ssl_ != nullptr) {
        n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
        if (n <= 0) {
          int e = SSL_get_error(ssl_, static_cast<int>(n));
          if ((e == SSL_ERROR_WANT_WRITE && waitFor(POLLOUT)) ||
              (e == SSL_ERROR_WANT_READ && waitFor(POLLIN))) {
            continue;
          }
          return false;
        }
      } else {
        n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
          if ((errno == EAGAIN || errno == EWOULDBLOCK) && waitFor(POLLOUT)) continue;
          return false;
        }
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until close or `limit` bytes.
  bool readAll(std::string& out, size_t limit) {
    char buf[4096];
    while (out.size() < limit) {
      long n = 0;
      if (ssl_ != nullptr) {
        n = SSL_read(ssl_, buf, sizeof(buf));
        if (n <= 0) {
          int e = SSL_get_error(ssl_, static_cast<int>(n));
          if (e == SSL_ERROR_ZERO_RETURN) return true;
          if ((e == SSL_ERROR_WANT_READ && waitFor(POLLIN)) ||
              (e == SSL_ERROR_WANT_WRITE && waitFor(POLLOUT))) {
            continue;
          }
          return !out.empty();  // peers that close without close_notify
        }
      } else {
        n = recv(fd_, buf, sizeof(buf), 0);
        if (n == 0) return true;
        if (n < 0) {
          if ((errno == EAGAIN || errno == EWOULDBLOCK) && waitFor(POLLIN)) continue;
          return false;
        }
      }
      out.append(buf, static_cast<size_t>(n));
      if (out.find("\r\n") != std::string::npos) return true;  // the status line is enough
    }
    return true;
  }
  bool handshake() {
    while (true) {
      int rc = SSL_connect(ssl_);
      if (rc == 1) return true;
      int e = SSL_get_error(ssl_, rc);
      if ((e == SSL_ERROR_WANT_READ && waitFor(POLLIN)) ||
          (e == SSL_ERROR_WANT_WRITE && waitFor(POLLOUT))) {
        continue;
      }
      return false;
    }
  }

 private:
  int fd_;
  SSL* ssl_;
  Deadline deadline_;
};

}  // namespace

absl::Status WebhookNotifier::validate(const WebhookOptions& options) {
  auto u = parseUrl(options.url);
  if (!u.ok()) return u.status();
  if (u->tls && options.ca_file.empty()) {
    return absl::InvalidArgumentError("an https webhook needs a CA file (approvals.webhookCa)");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> httpPostJson(const WebhookOptions& options, const std::string& body) {
  auto u = parseUrl(options.url);
  if (!u.ok()) return u.status();
  Deadline deadline = std::chrono::steady_clock::now() + options.timeout;
  auto fd = connectTo(*u, deadline);
  if (!fd.ok()) return fd.status();
  SSL* ssl = nullptr;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(nullptr, SSL_CTX_free);
  if (u->tls) {
    ctx.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
      close(*fd);
      return absl::UnavailableError("webhook: TLS context");
    }
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
      close(*fd);
      return absl::UnavailableError("webhook: cannot load CA file " + options.ca_file);
    }
    ssl = SSL_new(ctx.get());
    SSL_set_fd(ssl, *fd);
    in6_addr addr6{};
    in_addr addr4{};
    bool is_ip = inet_pton(AF_INET, u->host.c_str(), &addr4) == 1 ||
                 inet_pton(AF_INET6, u->host.c_str(), &addr6) == 1;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, u->host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, u->host.c_str());
      X509_VERIFY_PARAM_set1_host(param, u->host.c_str(), 0);
    }
  }
  Conn conn(*fd, ssl, deadline);
  if (ssl != nullptr && !conn.handshake()) {
    unsigned long err = ERR_get_error();
    char buf[256] = {0};
    ERR_error_string_n(err, buf, sizeof(buf));
    return absl::UnavailableError("webhook: TLS handshake with " + u->host + " failed: " + buf);
  }
  std::string host_header = u->host.find(':') != std::string::npos ? "[" + u->host + "]" : u->host;
  std::string request = "POST " + u->path + " HTTP/1.1\r\nHost: " + host_header + ":" +
                        std::to_string(u->port) +
                        "\r\nContent-Type: application/json\r\nUser-Agent: tollgate-controlplane"
                        "\r\nConnection: close\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  if (!conn.writeAll(request)) {
    return absl::UnavailableError("webhook: sending to " + u->host + " failed");
  }
  std::string response;
  if (!conn.readAll(response, 64 * 1024) || response.rfind("HTTP/1.", 0) != 0 ||
      response.size() < 12) {
    return absl::UnavailableError("webhook: no valid HTTP response from " + u->host);
  }
  int status = 0;
  auto [p, ec] = std::from_chars(response.data() + 9, response.data() + 12, status);
  if (ec != std::errc() || p != response.data() + 12) {
    return absl::UnavailableError("webhook: bad HTTP status line from " + u->host);
  }
  return status;
}

}  // namespace tollgate::controlplane::core
