// The admin HTTP endpoint both daemons expose: /healthz, /readyz, /metrics and extra handlers.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace tollgate {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// A deliberately small HTTP/1.1 server (GET only, one request per connection, requests up to
// 8 KiB, 2 s read timeout) on its own thread. It serves operators and probes, never data.
//
// Built-in routes: /healthz (200 "ok" while the process runs), /readyz (200 when the readiness
// callback says so, else 503 with the reason), /metrics (Prometheus text exposition of the
// registry). Thread-safety: start()/stop() from one thread; handlers run on the server thread.
class AdminServer {
 public:
  // Returns an empty string when ready, else a human-readable reason.
  using ReadinessFn = std::function<std::string()>;
  using Handler = std::function<HttpResponse()>;

  AdminServer(std::shared_ptr<prometheus::Registry> registry, ReadinessFn readiness);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Adds a route before start(). Paths must begin with '/'.
  void addHandler(const std::string& path, Handler handler);

  // Binds `address:port` (port 0 picks a free one) and starts serving. Fails with the
  // bind error, naming the address.
  absl::Status start(const std::string& address, int port);
  // The bound port (valid after a successful start).
  int port() const { return port_; }
  // Stops accepting and joins the thread. Idempotent.
  void stop();

 private:
  void serve();
  void handleRequest(int fd, const std::string& request);
  HttpResponse route(const std::string& path);

  std::shared_ptr<prometheus::Registry> registry_;
  ReadinessFn readiness_;
  std::map<std::string, Handler> handlers_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace tollgate
