// The admission webhook's own HTTPS endpoint (OpenSSL, blocking sockets, a few threads).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "controlplane/webhook/webhook_config.h"

namespace tollgate::controlplane::webhook {

// Serves HTTP/1.1 over TLS 1.2+ on config.address:config.port:
//   POST /mutate            -> reviewAdmission(body, config, OptIn::kSelected)
//   POST /mutate-annotated  -> reviewAdmission(body, config, OptIn::kPodAnnotation)
//   GET  /healthz           -> 200 "ok"
// One request per connection ("Connection: close"). Bodies need Content-Length (411 without,
// 413 beyond config.max_body_bytes, answered as AdmissionReview denials); headers are limited
// to 16 KiB; each connection has 10 s to deliver its request. Every decision is logged with
// namespace, pod, decision and reason.
//
// The certificate and key files are re-read when their modification time changes, so a
// rotated certificate (cert-manager, Helm upgrade) is served without a restart; a rotation
// that fails to load keeps the previous pair and logs the error.
//
// Thread-safety: start()/stop() from one thread. One accept thread hands connections to
// kWorkers worker threads; connections beyond kMaxQueued waiting are closed at once.
class WebhookServer {
 public:
  static constexpr int kWorkers = 4;
  static constexpr size_t kMaxQueued = 64;

  explicit WebhookServer(WebhookConfig config);
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Loads the TLS pair (errors name the file), binds (port 0 picks a free one) and starts the
  // threads. UNAVAILABLE on bind failure, INVALID_ARGUMENT on bad TLS material.
  absl::Status start();
  // The bound port (valid after a successful start).
  int port() const { return port_; }
  // Stops accepting, finishes in-flight requests, joins the threads. Idempotent.
  void stop();

 private:
  void acceptLoop();
  void workerLoop();
  void handle(int fd);
  // The current SSL_CTX, reloading the files first when they changed.
  std::shared_ptr<SSL_CTX> context();

  WebhookConfig config_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  int port_ = 0;
  std::mutex ctx_mu_;
  std::shared_ptr<SSL_CTX> ctx_;
  std::string loaded_stamp_;  // mtimes + sizes of cert and key when ctx_ was built
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<int> queue_;
  bool stopping_ = false;
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

}  // namespace tollgate::controlplane::webhook
