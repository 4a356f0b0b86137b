// The sidecar process: main event loop, shutdown signals, admin endpoint, readiness.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "common/admin_server.h"
#include "prometheus/registry.h"
#include "sidecar/config.h"
#include "sidecar/config_checks.h"
#include "sidecar/connection_manager.h"
#include "sidecar/cp/control_plane_client.h"
#include "sidecar/network/listener.h"
#include "sidecar/pod_watch.h"
#include "sidecar/stats.h"

namespace tollgate::sidecar {

// Owns the main libuv loop. run() blocks until SIGTERM/SIGINT (or requestStop()), then drains
// and returns. Not thread-safe except requestStop(), which any thread may call.
class Server {
 public:
  explicit Server(SidecarConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the admin endpoint and everything the config names. Fails on the first bind or
  // load error, with a message naming what failed: INVALID_ARGUMENT for a configuration
  // error (the first policy does not load or cannot serve a listener's resource, a listen
  // address is not an IP), for which main() exits 2; anything else exits 1.
  absl::Status start();
  // Runs the main loop until a shutdown signal; returns the exit status.
  int run();
  void requestStop();

  int adminPort() const { return admin_ ? admin_->port() : 0; }

 private:
  static void onSignal(uv_signal_t* handle, int signum);
  static void onHangup(uv_signal_t* handle, int signum);
  // Loads (or reloads) the standalone policy file into the connection manager. `done` gets the
  // outcome once: in this call when the file is refused, else when the connection manager has
  // installed or refused it (ConnectionManager::setPolicy), possibly on a resolver thread.
  // The first policy of a standalone sidecar is refused (INVALID_ARGUMENT) when a listener
  // names a resource it lacks; a reload with such a listener is installed and logged.
  void loadPolicy(std::function<void(absl::Status)> done);
  // Logs what checkPolicyFit() found for policy `version`: errors and warnings.
  static void logPolicyFit(const PolicyFit& fit, uint64_t version);
  // Connected mode: the stream client that feeds policy, grants and credentials.
  absl::Status startControlPlaneClient();
  // Binds the listeners, admin endpoint and signal handlers (both modes).
  absl::Status startListeners();
  static void onStopAsync(uv_async_t* handle);
  void beginShutdown(const char* why);
  std::string readiness() const;

  SidecarConfig config_;
  uv_loop_t loop_{};
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_signal_t sighup_{};
  uv_async_t stop_async_{};
  uv_timer_t pod_timer_{};     // --exit-when-done
  uv_timer_t housekeeping_{};  // ends sessions stalled in their startup
  std::unique_ptr<PodWatch> pod_watch_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<SidecarStats> stats_;
  std::shared_ptr<cp::ControlPlaneClient> control_plane_;
  std::unique_ptr<ConnectionManager> connections_;
  std::vector<ListenerPtr> listeners_;
  uint64_t policy_version_ = 0;  // standalone mode, main loop
  // Standalone mode: the last policy handed to the connection manager that has not answered
  // yet (its names still resolving); a reload meanwhile is checked against it too.
  std::mutex pending_mu_;
  policy::CompiledPolicyPtr pending_policy_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> policy_loaded_{false};
  std::atomic<bool> stopping_{false};
};

}  // namespace tollgate::sidecar
