// tollgate-controlplane entry point: load config, serve until SIGTERM/SIGINT, shut down cleanly.
#include <csignal>
#include <cstdio>

#include "common/log.h"
#include "common/signals.h"
#include "controlplane/config.h"
#include "controlplane/server.h"
#include "controlplane/stream/sidecar_service.h"
#include "policy/mask/masker.h"

int main(int argc, char** argv) {
  auto config = tollgate::controlplane::loadControlPlaneConfig(argc, argv);
  if (!config.ok()) {
    if (absl::IsCancelled(config.status())) {  // --help / --version
      std::printf("%s\n", std::string(config.status().message()).c_str());
      return 0;
    }
    std::fprintf(stderr, "tollgate-controlplane: %s\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->check_only) {
    std::printf("tollgate-controlplane: configuration ok\n");
    return 0;
  }
  tollgate::applyLogConfig(config->log);
  // No card number reaches a log line, whatever a message quotes (a pod name, an annotation).
  tollgate::log::setScrubber(
      [](std::string_view s) { return tollgate::policy::scrubPansForRecords(s); });
  // A client gone mid-write (admin, webhook, gRPC) fails that write instead of the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Before any thread starts, so only waitForSignal() receives shutdown signals.
  tollgate::blockShutdownSignals();
  tollgate::controlplane::Server server(*std::move(config));
  server.addServiceFactory([](tollgate::controlplane::core::ControlPlane& core) {
    return std::make_unique<tollgate::controlplane::stream::SidecarServiceImpl>(core);
  });
  if (auto st = server.start(); !st.ok()) {
    tollgate::log::error("control plane failed to start", {{"error", std::string(st.message())}});
    return 1;
  }
  int sig = tollgate::waitForSignal();
  tollgate::log::info("control plane shutting down", {{"signal", strsignal(sig)}});
  server.stop();
  tollgate::log::info("control plane stopped");
  return 0;
}
