// Waiting for SIGTERM/SIGINT without an event loop (the control plane and the CLI use this).
#pragma once

namespace tollgate {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread. Call in main() before starting
// threads so every thread inherits the mask and signals are taken only by waitForSignal().
void blockShutdownSignals();

// Waits until SIGTERM, SIGINT or SIGHUP arrives and returns its number. Requires
// blockShutdownSignals() first.
int waitForSignal();

}  // namespace tollgate
