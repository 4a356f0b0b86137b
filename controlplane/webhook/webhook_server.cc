// Webhook HTTPS server: accept thread + worker pool, blocking TLS with per-connection deadlines.
#include "controlplane/webhook/webhook_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "controlplane/webhook/admission.h"

namespace tollgate::controlplane::webhook {
namespace {

constexpr size_t kMaxHeader = 16 * 1024;
constexpr auto kRequestDeadline = std::chrono::seconds(10);

std::string sslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

std::string fileStamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_ino);
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> loadContext(const std::string& cert,
                                                     const std::string& key) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return absl::InternalError("webhook TLS: " + sslError());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    return absl::InvalidArgumentError("webhook TLS certificate " + cert + ": " + sslError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return absl::InvalidArgumentError("webhook TLS key " + key + ": " + sslError());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError("webhook TLS: key " + key + " does not match " + cert);
  }
  return ctx;
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Internal Server Error";
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Request {
  std::string method;
  std::string path;
  long long content_length = -1;
  bool chunked = false;
};

// Parses the request line and the two headers we care about. False on garbage.
bool parseHead(const std::string& head, Request* req) {
  size_t eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return false;
  req->method = line.substr(0, sp1);
  req->path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (line.compare(sp2 + 1, 5, "HTTP/") != 0) return false;
  size_t q = req->path.find('?');
  if (q != std::string::npos) req->path.resize(q);
  size_t pos = eol == std::string::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string h = head.substr(pos, end - pos);
    pos = end + 2;
    size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string name = lower(h.substr(0, colon));
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    if (name == "content-length") {
      if (value.empty() || value.size() > 12 ||
          value.find_first_not_of("0123456789") != std::string::npos) {
        return false;
      }
      long long n = std::stoll(value);
      if (req->content_length >= 0 && req->content_length != n) return false;
      req->content_length = n;
    } else if (name == "transfer-encoding") {
      req->chunked = true;
    }
  }
  return true;
}

// One TLS connection with a deadline; owns the SSL object.
class Conn {
 public:
  Conn(SSL* ssl, std::chrono::steady_clock::time_point deadline) : ssl_(ssl), deadline_(deadline) {}
  ~Conn() { SSL_free(ssl_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Appends up to `max` bytes to `out`; false on EOF, error or deadline.
  bool read(std::string* out, size_t max) {
    if (std::chrono::steady_clock::now() > deadline_) return false;
    char buf[16384];
    int want = static_cast<int>(std::min(sizeof(buf), max));
    int n = SSL_read(ssl_, buf, want);
    if (n <= 0) return false;
    out->append(buf, static_cast<size_t>(n));
    return true;
  }
  void write(const std::string& data) {
    size_t off = 0;
    while (off < data.size() && std::chrono::steady_clock::now() <= deadline_) {
      int n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  void respond(int status, const std::string& content_type, const std::string& body) {
    write("HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\nContent-Type: " +
          content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n" + body);
    SSL_shutdown(ssl_);
    lingeringClose();
  }
  // A client still sending a body we refused (413, 411, ...) would get a reset instead of our
  // answer if we closed with unread data: stop writing, then read and drop what is still
  // coming for a moment (bounded in time and bytes), as HTTP servers do.
  void lingeringClose() {
    int fd = SSL_get_fd(ssl_);
    if (fd < 0) return;
    ::shutdown(fd, SHUT_WR);
    timeval tv{0, 200 * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    char buf[16384];
    size_t total = 0;
    while (std::chrono::steady_clock::now() < until && total < (4u << 20)) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
  }
  void respondJson(int status, const std::string& body) {
    respond(status, "application/json", body);
  }

 private:
  SSL* ssl_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace

WebhookServer::WebhookServer(WebhookConfig config) : config_(std::move(config)) {}

WebhookServer::~WebhookServer() { stop(); }

std::shared_ptr<SSL_CTX> WebhookServer::context() {
  std::lock_guard<std::mutex> lock(ctx_mu_);
  std::string stamp = fileStamp(config_.tls_cert) + "|" + fileStamp(config_.tls_key);
  if (stamp != loaded_stamp_) {
    auto ctx = loadContext(config_.tls_cert, config_.tls_key);
    if (ctx.ok()) {
      ctx_ = *std::move(ctx);
      if (!loaded_stamp_.empty()) log::info("webhook TLS certificate reloaded");
    } else {
      log::error("webhook TLS reload failed, keeping the previous certificate",
                 {{"error", std::string(ctx.status().message())}});
    }
    loaded_stamp_ = stamp;  // retried once the files change again
  }
  return ctx_;
}

absl::Status WebhookServer::start() {
  if (!config_.control_plane_ca_file.empty() && config_.control_plane_ca_pem.empty()) {
    std::ifstream in(config_.control_plane_ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError("webhook controlPlaneCaFile " +
                                        config_.control_plane_ca_file +
                                        ": cannot read a PEM certificate");
    }
    config_.control_plane_ca_pem = pem.str();
  }
  {
    auto ctx = loadContext(config_.tls_cert, config_.tls_key);
    if (!ctx.ok()) return ctx.status();
    ctx_ = *std::move(ctx);
    loaded_stamp_ = fileStamp(config_.tls_cert) + "|" + fileStamp(config_.tls_key);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(config_.port);
  if (int rc = getaddrinfo(config_.address.c_str(), port_str.c_str(), &hints, &res); rc != 0) {
    return absl::InvalidArgumentError("webhook address '" + config_.address +
                                      "': " + gai_strerror(rc));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
    int err = errno;
    freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError("webhook listen on " + config_.address + ":" + port_str + ": " +
                                  std::strerror(err));
  }
  freeaddrinfo(res);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    ::close(fd);
    return absl::InternalError(std::string("webhook pipe: ") + std::strerror(errno));
  }
  listen_fd_ = fd;
  stopping_ = false;
  for (int i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { workerLoop(); });
  acceptor_ = std::thread([this] { acceptLoop(); });
  log::info("admission webhook started",
            {{"address", config_.address + ":" + std::to_string(port_)},
             {"mode", config_.mode == InjectionMode::kNative ? "native" : "classic"}});
  return absl::OkStatus();
}

void WebhookServer::stop() {
  if (!acceptor_.joinable()) return;
  char c = 'x';
  (void)!::write(wake_fds_[1], &c, 1);
  acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  for (int fd : queue_) ::close(fd);
  queue_.clear();
  ::close(listen_fd_);
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
  listen_fd_ = -1;
  wake_fds_[0] = wake_fds_[1] = -1;
}

void WebhookServer::acceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::unique_lock<std::mutex> lock(queue_mu_);
    if (queue_.size() >= kMaxQueued) {
      lock.unlock();
      ::close(fd);
      continue;
    }
    queue_.push_back(fd);
    lock.unlock();
    queue_cv_.notify_one();
  }
}

void WebhookServer::workerLoop() {
  // A peer that closes early must not kill the control plane with SIGPIPE: block it on this
  // thread (a write then fails with EPIPE) and discard the pending signal after each request.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  const timespec zero{0, 0};
  for (;;) {
    int fd = -1;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      fd = queue_.front();
      queue_.pop_front();
    }
    handle(fd);
    ::close(fd);
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
  }
}

void WebhookServer::handle(int fd) {
  auto deadline = std::chrono::steady_clock::now() + kRequestDeadline;
  timeval tv{static_cast<time_t>(kRequestDeadline.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::shared_ptr<SSL_CTX> ctx = context();
  SSL* ssl = SSL_new(ctx.get());
  if (ssl == nullptr) return;
  Conn conn(ssl, deadline);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) != 1) {
    log::debug("webhook TLS handshake failed", {{"error", sslError()}});
    return;
  }
  std::string data;
  size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (data.size() > kMaxHeader) {
      conn.respond(431, "text/plain", "request header too large\n");
      return;
    }
    if (!conn.read(&data, kMaxHeader + 4 - data.size())) return;
  }
  Request req;
  if (!parseHead(data.substr(0, head_end), &req)) {
    conn.respond(400, "text/plain", "malformed HTTP request\n");
    return;
  }
  if (req.path == "/healthz" && req.method == "GET") {
    conn.respond(200, "text/plain", "ok\n");
    return;
  }
  OptIn opt_in;
  if (req.path == "/mutate") {
    opt_in = OptIn::kSelected;
  } else if (req.path == "/mutate-annotated") {
    opt_in = OptIn::kPodAnnotation;
  } else {
    conn.respond(404, "text/plain", "not found\n");
    return;
  }
  if (req.method != "POST") {
    conn.respondJson(405, admissionError("", 405, "use POST"));
    return;
  }
  if (req.chunked || req.content_length < 0) {
    conn.respondJson(411, admissionError("", 411, "request needs a Content-Length"));
    return;
  }
  if (static_cast<unsigned long long>(req.content_length) > config_.max_body_bytes) {
    log::warn("webhook request too large", {{"bytes", std::to_string(req.content_length)}});
    conn.respondJson(413, admissionError("", 413,
                                         "request body of " + std::to_string(req.content_length) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(config_.max_body_bytes)));
    return;
  }
  std::string body = data.substr(head_end + 4);
  size_t want = static_cast<size_t>(req.content_length);
  while (body.size() < want) {
    if (!conn.read(&body, want - body.size())) return;  // client gone or too slow
  }
  body.resize(want);
  AdmissionResult r = reviewAdmission(body, config_, opt_in);
  log::Level level =
      r.decision == "denied" || r.decision == "malformed" ? log::Level::kWarn : log::Level::kInfo;
  log::write(level, "admission review",
             {{"namespace", r.ns}, {"pod", r.pod}, {"decision", r.decision}, {"reason", r.reason}});
  conn.respondJson(r.http_status, r.body);
}

}  // namespace tollgate::controlplane::webhook
