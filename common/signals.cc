// sigwait()-based shutdown signal handling.
#include "common/signals.h"

#include <csignal>

namespace tollgate {
namespace {
sigset_t shutdownSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

void blockShutdownSignals() {
  sigset_t set = shutdownSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int waitForSignal() {
  sigset_t set = shutdownSet();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

}  // namespace tollgate
