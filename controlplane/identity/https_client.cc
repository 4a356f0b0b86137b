// HTTPS GET over a blocking socket with poll()-bounded deadlines and OpenSSL verify-full.
#include "controlplane/identity/https_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <memory>

#include "absl/status/status.h"

namespace tollgate::controlplane::identity {
namespace {

using Deadline = std::chrono::steady_clock::time_point;

struct Url {
  std::string host;  // without brackets
  std::string port = "443";
  std::string path = "/";
  bool is_ip = false;
};

absl::StatusOr<Url> parseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "https://";
  if (url.rfind(kScheme, 0) != 0) return absl::InvalidArgumentError("not an https:// URL");
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  Url u;
  if (slash != std::string::npos) u.path = rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    return absl::InvalidArgumentError("URL with user info");
  }
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("bad IPv6 literal in URL");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return absl::InvalidArgumentError("bad URL authority");
      u.port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return absl::InvalidArgumentError("URL without host");
  if (u.port.empty() || u.port.size() > 5 ||
      u.port.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError("bad port in URL");
  }
  if (u.path.find_first_of(" \r\n") != std::string::npos) {
    return absl::InvalidArgumentError("URL path with whitespace");
  }
  unsigned char buf[16];
  u.is_ip =
      inet_pton(AF_INET, u.host.c_str(), buf) == 1 || inet_pton(AF_INET6, u.host.c_str(), buf) == 1;
  return u;
}

int remainingMs(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

bool waitFd(int fd, short events, Deadline deadline) {
  pollfd p{fd, events, 0};
  int ms = remainingMs(deadline);
  return ms > 0 && poll(&p, 1, ms) == 1;
}

// A non-blocking connected socket, or -1.
int connectTo(const Url& u, Deadline deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    int err = 0;
    socklen_t len = sizeof(err);
    if (rc == 0 || (errno == EINPROGRESS && waitFd(fd, POLLOUT, deadline) &&
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)) {
      break;
    }
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

std::string sslError() {
  unsigned long code = ERR_get_error();
  char buf[256] = "";
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

// Runs one SSL I/O call until it completes or the deadline passes. Returns its result (> 0
// success), 0 on clean close, -1 on error or timeout.
template <typename Fn>
int sslIo(SSL* ssl, int fd, Deadline deadline, Fn fn) {
  for (;;) {
    int rc = fn();
    if (rc > 0) return rc;
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    short events = err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0 || !waitFd(fd, events, deadline)) return -1;
  }
}

absl::StatusOr<std::string> dechunk(std::string_view body) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos) return absl::UnavailableError("truncated chunked body");
    std::string size_text(body.substr(pos, eol - pos));
    size_t semi = size_text.find(';');
    if (semi != std::string::npos) size_text.resize(semi);
    if (size_text.empty() || size_text.size() > 8 ||
        size_text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return absl::UnavailableError("bad chunk size");
    }
    size_t n = std::stoul(size_text, nullptr, 16);
    pos = eol + 2;
    if (n == 0) return out;
    if (body.size() - pos < n + 2) return absl::UnavailableError("truncated chunked body");
    out.append(body.substr(pos, n));
    pos += n + 2;
  }
}

absl::StatusOr<HttpsResponse> parseResponse(const std::string& raw, size_t max_body) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return absl::UnavailableError("no complete HTTP header");
  std::string head = raw.substr(0, end);
  std::string_view body(raw);
  body.remove_prefix(end + 4);
  HttpsResponse r;
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12 || head[8] != ' ') {
    return absl::UnavailableError("not an HTTP/1.x response");
  }
  std::string code = head.substr(9, 3);
  if (code.find_first_not_of("0123456789") != std::string::npos) {
    return absl::UnavailableError("bad HTTP status line");
  }
  r.status = std::stoi(code);
  std::string lower;
  for (char c : head)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    absl::StatusOr<std::string> d = dechunk(body);
    if (!d.ok()) return d.status();
    r.body = std::move(*d);
  } else if (size_t cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
    size_t v = cl + 17;
    while (v < lower.size() && lower[v] == ' ') ++v;
    size_t stop = lower.find("\r\n", v);
    std::string digits = lower.substr(v, stop == std::string::npos ? stop : stop - v);
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      return absl::UnavailableError("bad Content-Length");
    }
    size_t n = std::stoul(digits);
    if (body.size() < n) return absl::UnavailableError("body shorter than Content-Length");
    r.body = std::string(body.substr(0, n));
  } else {
    r.body = std::string(body);
  }
  if (r.body.size() > max_body) return absl::UnavailableError("response body too large");
  return r;
}

}  // namespace

absl::StatusOr<HttpsResponse> httpsGet(const std::string& url, const HttpsGetOptions& options) {
  absl::StatusOr<Url> u = parseUrl(url);
  if (!u.ok()) return absl::InvalidArgumentError("https GET: " + std::string(u.status().message()));
  std::string where = "https GET " + u->host + ":" + u->port + ": ";
  if (options.ca_file.empty()) return absl::InvalidArgumentError(where + "no CA file configured");
  Deadline deadline = std::chrono::steady_clock::now() + options.timeout;

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return absl::InternalError(where + "SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
    return absl::UnavailableError(where + "cannot load CA file " + options.ca_file + ": " +
                                  sslError());
  }
  int fd = connectTo(*u, deadline);
  if (fd < 0) return absl::UnavailableError(where + "connect failed or timed out");
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    close(fd);
    return absl::InternalError(where + "SSL_new failed");
  }
  if (u->is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), u->host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl.get(), u->host.c_str());
    SSL_set1_host(ssl.get(), u->host.c_str());
  }
  auto fail = [&](const std::string& step) {
    long verify = SSL_get_verify_result(ssl.get());
    std::string detail = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : sslError();
    ssl.reset();
    close(fd);
    return absl::UnavailableError(where + step + (detail.empty() ? "" : ": " + detail));
  };
  if (sslIo(ssl.get(), fd, deadline, [&] { return SSL_connect(ssl.get()); }) <= 0) {
    return fail("TLS handshake failed");
  }
  std::string request = "GET " + u->path + " HTTP/1.1\r\nHost: " + u->host +
                        (u->port == "443" ? "" : ":" + u->port) +
                        "\r\nAccept: application/json\r\nUser-Agent: tollgate-controlplane\r\n"
                        "Connection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    int n = sslIo(ssl.get(), fd, deadline, [&] {
      return SSL_write(ssl.get(), request.data() + sent, static_cast<int>(request.size() - sent));
    });
    if (n <= 0) return fail("sending the request failed");
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  const size_t limit = options.max_body_bytes + 64 * 1024;  // body plus generous headers
  char buf[16384];
  for (;;) {
    int n = sslIo(ssl.get(), fd, deadline,
                  [&] { return SSL_read(ssl.get(), buf, static_cast<int>(sizeof(buf))); });
    if (n == 0) break;
    if (n < 0) {
      // Servers that close without close_notify still delivered a whole response.
      if (remainingMs(deadline) == 0) return fail("timed out reading the response");
      ERR_clear_error();
      break;
    }
    raw.append(buf, static_cast<size_t>(n));
    if (raw.size() > limit) return fail("response too large");
  }
  ssl.reset();
  close(fd);
  absl::StatusOr<HttpsResponse> r = parseResponse(raw, options.max_body_bytes);
  if (!r.ok()) return absl::UnavailableError(where + std::string(r.status().message()));
  return r;
}

}  // namespace tollgate::controlplane::identity
