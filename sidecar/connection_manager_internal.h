// The connection manager's per-worker state, shared by its source files (connection_manager.cc:
// routing, sessions and draining; connection_manager_destinations.cc: policies and the
// destinations they claim; connection_manager_relays.cc: raw relays and refusals).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "sidecar/connection_manager.h"

namespace tollgate::sidecar {

// What the manager keeps about a live session to end it from outside.
struct ConnectionManager::Tracked {
  std::function<void(const std::string&)> terminate;
  std::string session_id;
  std::string resource;
  std::string grant_id;
  // The session as the control plane's session list shows it, counters as of now.
  std::function<SessionSummary()> summary;
  // True while it is past the startup deadline without having started (nullable).
  std::function<bool(std::chrono::steady_clock::time_point)> startup_overdue;
  // Hands the session a newer policy (nullable: relays follow none).
  std::function<void(const policy::CompiledPolicyPtr&, uint64_t)> update_policy;
  // Only tells its client why it is refused (refuseInProtocol()): a drain ends it at once.
  bool refusal_only = false;
};

// A raw relay's client held while its upstream's address is looked up (startRelay()). Touched
// only on its worker's thread.
struct ConnectionManager::PendingRelay {
  AcceptedSocket socket;
  std::string resource;
  std::string host;
  int port = 0;
  uint64_t version = 0;
  std::chrono::steady_clock::time_point accepted;
  bool overdue = false;  // found past the startup timeout by endStalledStartups()
  bool settled = false;  // relayed or refused: the descriptor is no longer this one's
};

// A worker and the sessions living on it (touched only on that worker's thread).
struct ConnectionManager::WorkerState {
  explicit WorkerState(std::string name) : worker(std::move(name)) {}
  Worker worker;
  std::unordered_map<void*, std::shared_ptr<void>> sessions;
  std::unordered_map<void*, Tracked> terminators;
};

}  // namespace tollgate::sidecar
