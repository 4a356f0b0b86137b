// tollgate-sidecar entry point: load config, start the server, run until a shutdown signal.
#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "policy/mask/masker.h"
#include "sidecar/config.h"
#include "sidecar/redirect/redirect.h"
#include "sidecar/server.h"

int main(int argc, char** argv) {
  // The pod's init step: `tollgate-sidecar redirect ...` installs the nat rules and exits.
  if (argc > 1 && std::strcmp(argv[1], "redirect") == 0) {
    return tollgate::sidecar::redirect::runRedirect(argc - 1, argv + 1);
  }
  // A sidecar is small: a couple of malloc arenas keep its resident memory close to what it
  // uses, instead of one arena per thread holding freed memory.
  mallopt(M_ARENA_MAX, 2);
  // A peer that resets while we write must fail that write, not kill every session: no thread
  // of this process (main loop, workers, admin endpoint, gRPC) may take SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  auto config = tollgate::sidecar::loadSidecarConfig(argc, argv);
  if (!config.ok()) {
    if (absl::IsCancelled(config.status())) {  // --help / --version
      std::printf("%s\n", std::string(config.status().message()).c_str());
      return 0;
    }
    std::fprintf(stderr, "tollgate-sidecar: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  tollgate::applyLogConfig(config->log);
  // No card number reaches a log line, whatever a message happens to quote.
  tollgate::log::setScrubber(
      [](std::string_view s) { return tollgate::policy::scrubPansForRecords(s); });
  tollgate::sidecar::Server server(*std::move(config));
  if (auto st = server.start(); !st.ok()) {
    tollgate::log::error("sidecar failed to start", {{"error", std::string(st.message())}});
    return absl::IsInvalidArgument(st) ? 2 : 1;  // 2: a configuration error (server.h)
  }
  return server.run();
}
